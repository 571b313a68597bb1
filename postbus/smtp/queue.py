"""The outbound queue's front door: enqueue, and the ``postbus queue`` administration commands.

``enqueue`` returns only when the message is durable (design.md "Durability"): the body is
written and fsync'd to the blob store, then the queue rows are committed, and only then may the
caller say 250. Delivery is ``postbus.smtp.outbound``'s business; enqueue just wakes it.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from postbus.store import Store
from postbus.store import queue as q

__all__ = [
    "delete",
    "enqueue",
    "list_queue",
    "recipient_domain",
    "register_cli",
    "retry",
    "wake",
]

# Workers in this process waiting for new work (``outbound.run_queue`` adds its event here).
_wakeups: set[asyncio.Event] = set()


def wake() -> None:
    """Tell the delivery workers of this process that there is new work."""
    for event in list(_wakeups):
        event.set()


def recipient_domain(address: str) -> str:
    """The destination domain of an envelope address, lower-cased (RFC 5321 §2.4)."""
    local, at, domain = address.rpartition("@")
    domain = domain.strip().rstrip(".").lower()
    if not at or not local or not domain:
        raise ValueError(f"not a routable address: {address!r}")
    return domain


async def enqueue(
    store: Store,
    envelope_from: str,
    recipients: Sequence[str],
    message: bytes,
    *,
    now: int | None = None,
) -> int:
    """Queue ``message`` for remote ``recipients``; durable when it returns the queue id.

    ``envelope_from`` is the reverse-path; "" is the null sender of bounces (RFC 5321 §4.5.5),
    whose own failures are never bounced.
    """
    if not recipients:
        raise ValueError("no recipients")
    if envelope_from == "<>":  # as aiosmtpd spells the null reverse-path
        envelope_from = ""
    pairs = [(rcpt, recipient_domain(rcpt)) for rcpt in dict.fromkeys(recipients)]
    # durable with the rows naming it (a small body is in them, a file is fsync'd first)
    blob = await store.store_body(message)
    when = int(time.time()) if now is None else now
    queue_id = await store.write(lambda tx: q.add(tx, envelope_from, pairs, blob, when))
    wake()
    return queue_id


async def list_queue(store: Store) -> list[q.QueuedRecipient]:
    return await store.read(q.list_all)


async def retry(store: Store, message_ids: Sequence[int] | None, now: int | None = None) -> int:
    """Make waiting recipients due now; returns how many."""
    when = int(time.time()) if now is None else now
    ids = None if message_ids is None else list(message_ids)
    count = await store.write(lambda tx: q.retry_now(tx, ids, when))
    wake()
    return count


async def delete(store: Store, message_ids: Sequence[int], now: int | None = None) -> int:
    """Remove messages from the queue without a bounce; returns how many were there."""
    when = int(time.time()) if now is None else now
    ids = list(message_ids)
    return await store.write(lambda tx: q.delete(tx, ids, when))


# -- postbus queue list|retry|delete -----------------------------------------------------------


def _when(epoch: int) -> str:
    return datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%d %H:%M:%S")


queue_app = typer.Typer(help="Outgoing mail waiting for delivery.", no_args_is_help=True)
ConfigOption = Annotated[
    Path | None,
    typer.Option("--config", "-c", envvar="POSTBUS_CONFIG", help="Path of postbus.toml."),
]


def register_cli(app: typer.Typer) -> None:
    """Add ``postbus queue list|retry|delete`` to the CLI's typer app."""
    app.add_typer(queue_app, name="queue")


def _cli() -> Any:
    from postbus import cli  # imported late: cli.py imports this module

    return cli


@queue_app.command("list")
def queue_list(config_path: ConfigOption = None) -> None:
    """List queued messages, one line per recipient."""
    cli = _cli()
    rows = cli._run(cli._config(config_path), list_queue)
    if not rows:
        cli.out.print("the queue is empty")
        return
    table = Table(
        "id", "from", "recipient", "state", "tries", "next try (UTC)", "queued", "last error"
    )
    for row in rows:
        table.add_row(
            str(row.message_id),
            row.envelope_from or "<>",
            row.recipient,
            row.state.value,
            str(row.attempts),
            _when(row.next_attempt),
            _when(row.created),
            row.last_error,
        )
    cli.out.print(table)


@queue_app.command("retry")
def queue_retry(
    ids: Annotated[list[int] | None, typer.Argument(help="Queue ids; none: all.")] = None,
    config_path: ConfigOption = None,
) -> None:
    """Try waiting messages again now (a running server picks them up within a minute)."""
    cli = _cli()
    count = cli._run(cli._config(config_path), lambda store: retry(store, ids or None))
    cli.out.print(f"{count} recipients due now")


@queue_app.command("delete")
def queue_delete(
    ids: Annotated[list[int], typer.Argument(help="Queue ids.")],
    yes: Annotated[bool, typer.Option("--yes", help="Do not ask.")] = False,
    config_path: ConfigOption = None,
) -> None:
    """Remove messages from the queue without telling their senders."""
    cli = _cli()
    if not yes and not typer.confirm(f"Delete {len(ids)} queued message(s)?"):
        cli.fail("not deleted")
    count = cli._run(cli._config(config_path), lambda store: delete(store, ids))
    cli.out.print(f"deleted {count} queued message(s)")
