"""``siren serve`` (the HTTP API, siren_core.service) and ``siren keys`` (its API keys).

The web framework is imported inside ``serve`` only, so that every other command starts
without loading it."""

from __future__ import annotations

import json

import click
from rich.table import Table

from siren_core.cli.common import (
    DATABASE_OPTION,
    JSON_OPTION,
    STORE_ID,
    console,
    instant,
    reading,
)
from siren_core.kernel import Kernel
from siren_core.service import keys as api_keys
from siren_core.store.service_queries import ApiKeyRow
from siren_core.times import iso_utc


@click.command()
@DATABASE_OPTION
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", default=8080, show_default=True, type=click.IntRange(0, 65535),
              help="Port to listen on.")
@click.option("--workers", default=1, show_default=True, type=click.IntRange(1, 64),
              help="Server processes (each with its own connections to the store).")
@click.option("--rate-limit", default=600, show_default=True, type=click.IntRange(1),
              help="Requests per API key and minute, across every process.")
@click.option("--currency", default="USD", show_default=True,
              help="The currency of a sale that names none.")
def serve(database: str, host: str, port: int, workers: int, rate_limit: int,
          currency: str) -> None:
    """Serve Siren's HTTP API (the one siren-sdk speaks) at /siren/v1.

    The store must exist (siren db upgrade); mint keys with siren keys create. SIGTERM
    finishes the requests in flight, then stops.
    """
    from siren_core.service.server import serve as run  # loads uvicorn and FastAPI

    run(database, host=host, port=port, workers=workers, rate_limit=rate_limit,
        currency=currency)


@click.group()
def keys() -> None:
    """API keys of siren serve: create (the key is shown once), list, revoke."""


def _key_json(key: ApiKeyRow, kernel: Kernel) -> dict[str, object]:
    return {"id": key.id, "keyPrefix": key.prefix, "label": key.label,
            "scopes": list(key.scopes), "status": api_keys.key_status(key, kernel.clock()),
            "dateCreated": iso_utc(key.created_at), "expiresAt": iso_utc(key.expires_at),
            "revokedAt": iso_utc(key.revoked_at), "lastUsedAt": iso_utc(key.last_used_at)}


@keys.command()
@DATABASE_OPTION
@click.option("--scope", "scopes", multiple=True, required=True,
              help="A scope (repeat): event:*, event:<slug>, *, ledger:obligations:read, "
                   "ledger:payouts:read, ledger:transactions:read, ledger:conversions:read, "
                   "webhook-subscriptions:read, webhook-subscriptions:manage.")
@click.option("--label", default=None, help="What the key is for.")
@click.option("--expires", default=None, metavar="INSTANT",
              help="When the key stops working (ISO 8601 with a timezone).")
@JSON_OPTION
def create(database: str, scopes: tuple[str, ...], label: str | None, expires: str | None,
           as_json: bool) -> None:
    """Create an API key and print it: it is shown this once, only its hash is kept."""
    expires_at = None if expires is None else instant("--expires", expires)
    with Kernel(database) as kernel:
        minted = api_keys.create_key(kernel, scopes, label=label, expires_at=expires_at)
        row = _key_json(minted.key, kernel)
    if as_json:
        click.echo(json.dumps({**row, "rawKey": minted.raw}))
        return
    click.echo(minted.raw)
    click.echo(f"key {minted.key.id} ({minted.key.prefix}…): scopes "
               f"{', '.join(minted.key.scopes)}; store it now, it is not shown again",
               err=True)


@keys.command("list")
@DATABASE_OPTION
@JSON_OPTION
def list_(database: str, as_json: bool) -> None:
    """Every key (revoked and expired ones too): prefix, label, scopes, status, last use."""
    with reading(database) as kernel:
        rows = [_key_json(key, kernel) for key in api_keys.list_keys(kernel)]
    if as_json:
        click.echo(json.dumps({"keys": rows}))
        return
    table = Table("id", "prefix", "label", "scopes", "status", "created", "expires",
                  "last used", title="API keys")
    for row in rows:
        table.add_row(str(row["id"]), f"{row['keyPrefix']}…", str(row["label"] or ""),
                      ", ".join(row["scopes"]), str(row["status"]),  # type: ignore[arg-type]
                      str(row["dateCreated"]), str(row["expiresAt"] or ""),
                      str(row["lastUsedAt"] or ""))
    console().print(table)


@keys.command()
@DATABASE_OPTION
@click.argument("key", type=STORE_ID)
def revoke(database: str, key: int) -> None:
    """Revoke key KEY (its id in siren keys list): it is refused from now on."""
    with Kernel(database) as kernel:
        api_keys.revoke_key(kernel, key)
    click.echo(f"key {key} revoked")


def register(cli: click.Group) -> None:
    cli.add_command(serve)
    cli.add_command(keys)
