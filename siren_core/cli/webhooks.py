"""``siren webhooks``: subscriptions, their deliveries, re-sending, and a delivery-only
worker (``siren webhooks deliver``). ``siren worker`` delivers too, beside its heartbeats.
See docs/webhooks.md."""

from __future__ import annotations

import json
import signal
import threading

import click
from rich.table import Table

from siren_core import outbox
from siren_core.cli.common import DATABASE_OPTION, JSON_OPTION, STORE_ID, console, reading
from siren_core.kernel import Kernel
from siren_core.times import iso_utc
from siren_core.webhooks import subscriptions
from siren_core.webhooks.subscriptions import delivery_json, subscription_json
from siren_core.webhooks.worker import Deliverer

THREADS_OPTION = click.option("--threads", default=4, show_default=True,
                              type=click.IntRange(1, 64),
                              help="Deliveries in flight at once (one per subscription).")


@click.group()
def webhooks() -> None:
    """Webhook subscriptions: signed HTTP callbacks of siren-core's events."""


@webhooks.command()
@DATABASE_OPTION
@click.option("--url", "target_url", required=True, help="Where to POST (http or https).")
@click.option("--event", "events", multiple=True, required=True,
              help="An event name to deliver (repeat; * for every event).")
@click.option("--description", default=None, help="What the subscription is for.")
@JSON_OPTION
def create(database: str, target_url: str, events: tuple[str, ...], description: str | None,
           as_json: bool) -> None:
    """Subscribe URL to events and print the signing secret: it is shown this once."""
    with Kernel(database) as kernel:
        made = subscriptions.create(kernel.engine, target_url, list(events), description)
    if as_json:
        click.echo(json.dumps({**subscription_json(made.subscription),
                               "signingSecret": made.secret}))
        return
    click.echo(made.secret)
    click.echo(f"subscription {made.subscription.id} to {target_url}: "
               f"{', '.join(made.subscription.events)}; store the secret now, it is not "
               "shown again", err=True)


@webhooks.command("list")
@DATABASE_OPTION
@JSON_OPTION
def list_(database: str, as_json: bool) -> None:
    """Every subscription not deleted."""
    with reading(database) as kernel:
        rows, _total = subscriptions.page(kernel.engine, number=10**9)
    if as_json:
        click.echo(json.dumps({"subscriptions": [subscription_json(r) for r in rows]}))
        return
    table = Table("id", "target", "events", "status", "created", "description",
                  title="webhook subscriptions")
    for row in rows:
        table.add_row(str(row.id), row.target_url, ", ".join(row.events), row.status,
                      iso_utc(row.created_at) or "", row.description or "")
    console().print(table)


@webhooks.command()
@DATABASE_OPTION
@click.argument("subscription", type=STORE_ID)
def delete(database: str, subscription: int) -> None:
    """Delete subscription SUBSCRIPTION: nothing more is delivered to it."""
    with Kernel(database) as kernel:
        subscriptions.delete(kernel.engine, subscription)
    click.echo(f"subscription {subscription} deleted")


@webhooks.command()
@JSON_OPTION
def events(as_json: bool) -> None:
    """The catalog: every event name a subscription can receive."""
    if as_json:
        click.echo(json.dumps({"events": [{"name": name, "description": text}
                                          for name, text in outbox.CATALOG.items()]}))
        return
    for name, text in outbox.CATALOG.items():
        click.echo(f"{name}\t{text}")


@webhooks.command()
@DATABASE_OPTION
@click.option("--subscription", type=STORE_ID, default=None, help="Only this subscription's.")
@click.option("--status", type=click.Choice(["pending", "delivered", "failed"]), default=None,
              help="Only deliveries in this status (failed: dead, see resend).")
@JSON_OPTION
def deliveries(database: str, subscription: int | None, status: str | None,
               as_json: bool) -> None:
    """Deliveries in commit order, with their attempts and outcomes."""
    with reading(database) as kernel:
        rows = subscriptions.deliveries(kernel.engine, subscription_id=subscription,
                                        status=status, number=10**9)
    if as_json:
        click.echo(json.dumps({"deliveries": [delivery_json(*row) for row in rows]}))
        return
    table = Table("id", "subscription", "delivery id", "event", "status", "attempts",
                  "last outcome", title="webhook deliveries")
    for row, tries in rows:
        last = tries[-1] if tries else None
        outcome = "" if last is None else (str(last.status_code) if last.error is None
                                           else str(last.error))
        table.add_row(str(row.id), str(row.subscription_id), row.delivery_id, row.name,
                      row.status, str(row.attempts), outcome)
    console().print(table)


@webhooks.command()
@DATABASE_OPTION
@click.argument("delivery", type=STORE_ID)
def resend(database: str, delivery: int) -> None:
    """Send delivery DELIVERY (its id in siren webhooks deliveries) again, now, with the
    same delivery id; for a failed (dead) or delivered one."""
    with Kernel(database) as kernel:
        subscriptions.resend(kernel.engine, delivery)
    click.echo(f"delivery {delivery} is due again")


@webhooks.command()
@DATABASE_OPTION
@click.argument("subscription", type=STORE_ID)
def test(database: str, subscription: int) -> None:
    """Queue a webhook.test event for SUBSCRIPTION (a worker delivers it)."""
    with Kernel(database) as kernel:
        delivery_id = subscriptions.send_test(kernel.engine, subscription)
    click.echo(delivery_id)


@webhooks.command()
@DATABASE_OPTION
@THREADS_OPTION
@click.option("--once", is_flag=True, help="Deliver what is due now, then stop.")
def deliver(database: str, threads: int, once: bool) -> None:
    """Deliver webhooks until stopped (SIGINT/SIGTERM: the POSTs in flight finish); no
    heartbeats. Safe to run several at once, on several hosts."""
    with Kernel(database) as kernel:
        deliverer = Deliverer(kernel.engine)
        if once:
            click.echo(f"{deliverer.drain()} delivery attempt(s)", err=True)
            return
        stop = stop_on_signals()
        deliverer.run(stop, threads=threads)


def stop_on_signals() -> threading.Event:
    """An event set by SIGTERM or SIGINT."""
    stop = threading.Event()

    def handler(_signum: int, _frame: object) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, handler)
    signal.signal(signal.SIGINT, handler)
    return stop


def register(cli: click.Group) -> None:
    cli.add_command(webhooks)
