"""Webhook delivery: signed HTTP callbacks of the events the kernel's outbox holds (see
docs/webhooks.md).

The kernel writes the outbox (:mod:`siren_core.outbox`) in the transaction of each change;
this package, which the kernel never imports, does the rest: subscriptions
(:mod:`.subscriptions`), target checks against server-side request forgery
(:mod:`.targets`), signing (:mod:`.signing`), the POST itself (:mod:`.http`) and the
delivery worker with its retries, backoff and dead letters (:mod:`.worker`).
"""
