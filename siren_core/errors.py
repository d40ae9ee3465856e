"""The errors siren-core raises. Every one names what was wrong and changes nothing."""

from __future__ import annotations

from typing import Any


def shown(value: Any) -> str:
    """``repr(value)`` for a message; a value nested too deeply to print (a list of a list
    of … thousands deep, given through the API) is named by its type instead."""
    try:
        return repr(value)
    except RecursionError:
        return f"<{type(value).__name__} nested too deeply to show>"


class SirenError(Exception):
    """Base class of every error siren-core raises on purpose."""


class InvalidInput(SirenError, ValueError):
    """A value given to the engine is not acceptable.

    ``field`` is the dotted path of the offending value (``sale.amount``,
    ``distributors[0].pool.percent``), ``value`` the value as given and ``problem``
    a short phrase saying what is wrong with it.
    """

    def __init__(self, field: str, value: Any, problem: str) -> None:
        self.field = field
        self.value = value
        self.problem = problem
        super().__init__(f"{field}: {shown(value)} {problem}")


class NotFound(SirenError, LookupError):
    """A record named by the caller does not exist."""

    def __init__(self, kind: str, key: Any) -> None:
        self.kind = kind
        self.key = key
        super().__init__(f"{kind} {key!r} does not exist")


class Conflict(SirenError):
    """The request contradicts what is already recorded (e.g. a reused idempotency key)."""


class ConfigurationChanged(Conflict):
    """A distributor's units changed while an event was being recorded for it: the credits
    planned with the old configuration were not written (recording tries again)."""


class Unstorable(SirenError):
    """A result (a pool, a score, a payout total) exceeds the largest integer the store
    keeps (2**63 - 1); nothing was written."""

    def __init__(self, what: str, value: int) -> None:
        self.what = what
        self.value = value
        super().__init__(f"{what} {value} exceeds the largest storable integer (2**63 - 1); "
                         "nothing was written")


class PluginError(SirenError):
    """A plugin is broken, misregistered, or failed while the engine called it."""

    def __init__(self, message: str, *, plugin: str | None = None, hook: str | None = None):
        self.plugin = plugin
        self.hook = hook
        where = ", ".join(part for part in (
            f"plugin {plugin!r}" if plugin else "", f"hook {hook!r}" if hook else "") if part)
        super().__init__(f"{message} ({where})" if where else message)


class DistributorUnavailable(SirenError):
    """A stored distributor cannot be configured with the plugins loaded now (its
    calculator, pool resolver, credit rule or compiler is uninstalled or disabled, or
    refuses the stored configuration). Its periods fail alone; ``cause`` says why."""

    def __init__(self, distributor: str, cause: SirenError) -> None:
        self.distributor = distributor
        self.cause = cause
        super().__init__(f"distributor {distributor!r} cannot be loaded with the plugins "
                         f"installed now: {cause} (install or re-enable the plugin, or "
                         "reconfigure the distributor)")
