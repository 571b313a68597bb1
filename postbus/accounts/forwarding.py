"""Forwarding: a user's mail goes on to other addresses, with or without a copy kept here.

The settings live with the account's other settings in the store: ``forward.to`` (the
addresses, comma-separated) and ``forward.keep_copy`` ("on"/"off"; no value means on).
``read_forwarding`` is what the delivery pipeline reads (with the recipient, at RCPT);
``set_forwarding`` is the one way the CLI and the web change it: it checks the input, writes
both values and an audit entry in one transaction. ``register_cli`` adds
``postbus user forward`` to the CLI.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated

import typer

from postbus.store import Store
from postbus.store import settings as store_settings
from postbus.store.db import Tx
from postbus.store.directory import normalise_address
from postbus.store.errors import InvalidName

TO_SETTING = "forward.to"
KEEP_COPY_SETTING = "forward.keep_copy"
MAX_TARGETS = 5
ON, OFF = "on", "off"
AUDIT_ACTION = "forwarding.set"


class ForwardingError(ValueError):
    """Input refused by ``set_forwarding``; the message is written for the person who typed it."""


@dataclass(frozen=True, slots=True)
class Forwarding:
    to: tuple[str, ...] = ()  # normalised addresses; empty: forwarding is off
    keep_copy: bool = True

    @property
    def active(self) -> bool:
        return bool(self.to)


OFF_SETTING = Forwarding()


def _parse(to: str | None, keep_copy: str | None) -> Forwarding:
    targets = tuple(a.strip() for a in (to or "").split(",") if a.strip())
    return Forwarding(targets, keep_copy != OFF)


async def read_forwarding(tx: Tx, account_id: int) -> Forwarding:
    """The account's forwarding, inside a caller's transaction (one statement)."""
    values = await store_settings.some_settings(tx, account_id, (TO_SETTING, KEEP_COPY_SETTING))
    return _parse(values.get(TO_SETTING), values.get(KEEP_COPY_SETTING))


async def get_forwarding(store: Store, account_id: int) -> Forwarding:
    """The account's forwarding (one read transaction)."""
    return await store.read(lambda tx: read_forwarding(tx, account_id))


def _own(own: set[str], address: str) -> bool:
    local, _, domain = address.partition("@")
    return address in own or f"{local.partition('+')[0]}@{domain}" in own


def check_targets(to: Sequence[str], own_addresses: Sequence[str]) -> tuple[str, ...]:
    """The targets normalised, without duplicates; or ``ForwardingError`` saying what is wrong."""
    own = {a.lower() for a in own_addresses}
    targets: list[str] = []
    for raw in to:
        for text in raw.split(","):  # "a@x, b@y" from a form field is fine too
            if not text.strip():
                continue
            try:
                address, _ = normalise_address(text)
            except InvalidName:
                raise ForwardingError(f"not an e-mail address: {text.strip()!r}") from None
            if _own(own, address):
                raise ForwardingError(f"{address} is this account's own address")
            if address not in targets:
                targets.append(address)
    if len(targets) > MAX_TARGETS:
        raise ForwardingError(f"at most {MAX_TARGETS} forwarding addresses ({len(targets)} given)")
    return tuple(targets)


async def set_forwarding(
    store: Store,
    account_id: int,
    to: Sequence[str],
    keep_copy: bool = True,
    *,
    actor: str = "cli",
) -> Forwarding:
    """Forward the account's mail to ``to`` (empty: stop forwarding); returns what was stored.

    Raises ``ForwardingError`` for bad input, and the store's ``NotFound`` for an unknown account.
    """
    account = await store.get_account(account_id)
    own = [a.address for a in await store.list_addresses(account_id)] + [account.address]
    targets = check_targets(to, own)
    wanted = Forwarding(targets, keep_copy) if targets else OFF_SETTING
    if wanted.active:
        detail = f"to={','.join(targets)} keep_copy={ON if keep_copy else OFF}"
    else:
        detail = OFF

    async def write(tx: Tx) -> None:
        value = ",".join(targets) if targets else None
        await store_settings.set_setting(tx, account_id, TO_SETTING, value)
        keep = None if not targets else (ON if keep_copy else OFF)
        await store_settings.set_setting(tx, account_id, KEEP_COPY_SETTING, keep)
        await store_settings.audit(tx, int(time.time()), actor, AUDIT_ACTION, account_id, detail)

    await store.write(write)
    return wanted


def describe(address: str, forwarding: Forwarding) -> str:
    if not forwarding.active:
        return f"{address}: no forwarding"
    kept = "a copy is kept" if forwarding.keep_copy else "no copy is kept"
    return f"{address}: forwarded to {', '.join(forwarding.to)}; {kept}"


# -- postbus user forward ---------------------------------------------------------------------

ConfigOption = Annotated[
    Path | None,
    typer.Option("--config", "-c", envvar="POSTBUS_CONFIG", help="Path of postbus.toml."),
]


def register_cli(user_app: typer.Typer) -> None:
    """Add ``postbus user forward`` to the CLI's ``user`` typer app."""
    user_app.command("forward")(user_forward)


def user_forward(
    address: Annotated[str, typer.Argument(help="The account (any of its addresses).")],
    to: Annotated[
        list[str] | None,
        typer.Option(
            "--to", metavar="ADDRESS", help="Forward to this address (repeat for more, at most 5)."
        ),
    ] = None,
    keep_copy: Annotated[
        bool | None,
        typer.Option("--keep-copy/--no-keep-copy", help="Keep a copy here too (default: keep)."),
    ] = None,
    off: Annotated[bool, typer.Option("--off", help="Stop forwarding.")] = False,
    config_path: ConfigOption = None,
) -> None:
    """Show or change where an account's mail is forwarded to."""
    from postbus import cli  # imported late: cli.py imports this module

    if off and (to or keep_copy is not None):
        cli.fail("--off cannot be combined with --to or --keep-copy")

    async def run(store: Store) -> str:
        account = await store.find_account(address)
        current = await get_forwarding(store, account.id)
        if not off and not to and keep_copy is None:
            return describe(account.address, current)
        if off:
            targets: Sequence[str] = ()
        else:
            targets = to or current.to
            if not targets:
                raise ForwardingError("no forwarding address: give one with --to")
        keep = current.keep_copy if keep_copy is None else keep_copy
        stored = await set_forwarding(store, account.id, targets, keep, actor="cli")
        return describe(account.address, stored)

    try:
        message = cli._run(cli._config(config_path), run)
    except ForwardingError as exc:
        cli.fail(str(exc))
    cli.out.print(message, markup=False, highlight=False)


__all__ = [
    "KEEP_COPY_SETTING",
    "MAX_TARGETS",
    "TO_SETTING",
    "Forwarding",
    "ForwardingError",
    "check_targets",
    "describe",
    "get_forwarding",
    "register_cli",
    "set_forwarding",
]
