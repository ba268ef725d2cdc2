"""``livesight keys …``: API keys, straight in this machine's database (the server need not run)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Annotated, Any, TypeVar

import typer

from livesight.cli_common import CONTEXT_SETTINGS, err, fail, json_line, out, require_text, settings, terminal_width
from livesight.cli_format import local_time
from livesight.cli_table import Column, render
from livesight.errors import LiveSightError

if TYPE_CHECKING:
    from livesight.store import Store

T = TypeVar("T")

keys_app = typer.Typer(
    help="Manage API keys.\n\nKeys are kept in this machine's database (LIVESIGHT_DATABASE_URL, else the data "
    "directory); the server need not be running.",
    no_args_is_help=True,
    rich_markup_mode=None,
    context_settings=CONTEXT_SETTINGS,
)
JsonOpt = Annotated[bool, typer.Option("--json", help="Print one JSON object per line (JSON Lines), for scripts.")]


def _with_store(work: Callable[[Store], Awaitable[T]]) -> T:
    from livesight.store import Store

    async def run() -> T:
        store = await Store.open(settings().resolved_database_url())
        try:
            return await work(store)
        finally:
            await store.close()

    try:
        return asyncio.run(run())
    except LiveSightError as exc:
        raise fail(exc.message, exc.remediation) from None


@keys_app.command("create")
def keys_create(
    name: Annotated[
        str, typer.Option(metavar="NAME", help="A label for the key, e.g. who or what uses it.")
    ] = "default",
    json_out: Annotated[bool, typer.Option("--json", help="Print the key as one line of JSON, for scripts.")] = False,
) -> None:
    """Create an API key (its token is shown only once).

    Prints the key id, its token and the key's webhook secret; the token is stored only as a hash.
    """
    name = require_text(name, "--name", 'give the key a label, e.g. --name "backend".')

    async def create(store: Store) -> tuple[Any, str, str]:
        record, token = await store.create_api_key(name)
        return record, token, await store.get_webhook_secret(record.id)

    record, token, secret = _with_store(create)
    if json_out:
        json_line({"key_id": record.id, "name": record.name, "token": token, "webhook_secret": secret})
    else:
        out.print(f"key id:          {record.id}", markup=False)
        out.print(f"token:           {token}", markup=False)
        out.print(f"webhook secret:  {secret}", markup=False)
    err.print("Keep the token now: it is stored only as a hash and cannot be shown again.", markup=False)


_KEY_COLUMNS = [
    Column("KEY"),
    Column("TOKEN"),
    Column("STATE"),
    Column("CREATED", drop=1),
    Column("NAME", shrink=True, min_width=8),
]


@keys_app.command("list")
def keys_list(json_out: JsonOpt = False) -> None:
    """List API keys (never their tokens).

    TOKEN shows a token's first characters, to tell the keys apart.
    """

    async def fetch(store: Store) -> list[Any]:
        return list(await store.list_api_keys())

    keys = _with_store(fetch)
    if json_out:
        for key in keys:
            json_line(
                {
                    "key_id": key.id,
                    "name": key.name,
                    "token_prefix": key.token_prefix,
                    "created_at": key.created_at.isoformat(),
                    "revoked_at": key.revoked_at.isoformat() if key.revoked_at else None,
                }
            )
        return
    if not keys:
        err.print("no keys (create one with `livesight keys create --name NAME`)", markup=False)
        return
    rows = [
        [
            key.id,
            f"{key.token_prefix}…",
            "revoked" if key.revoked_at else "active",
            local_time(key.created_at),
            key.name,
        ]
        for key in keys
    ]
    for line in render(_KEY_COLUMNS, rows, terminal_width()):
        out.print(line, markup=False, soft_wrap=True)


@keys_app.command("revoke")
def keys_revoke(
    key_id: Annotated[str, typer.Argument(metavar="KEY_ID", help="The key to revoke (key_…).", show_default=False)],
) -> None:
    """Revoke a key: requests with it get 401 from now on."""

    async def revoke(store: Store) -> None:
        await store.revoke_api_key(key_id)

    _with_store(revoke)
    out.print(f"revoked {key_id}", markup=False)
