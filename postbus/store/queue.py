"""The outbound queue's rows: one message (its body a blob) and one row per remote recipient.

A queued message holds a reference on its blob in ``blobs`` exactly as a stored message does,
so the garbage collector never removes a body that is still waiting to go out. A message leaves
the queue (and drops its reference) in the same transaction that gives its last recipient a
final state, ``sent`` or ``failed``.

Claiming work (design.md "Scale-out"): a worker takes due rows by setting them ``delivering``
with a lease, ``next_attempt`` = the end of the lease. A worker that dies mid-delivery leaves
rows whose lease runs out; they are due again then, so nothing waits for a manual repair. On
PostgreSQL several nodes claim at once with ``FOR UPDATE SKIP LOCKED``; on SQLite the single
writer already serialises claims.

Invariants: every operation here only awaits its ``tx``; times are epoch seconds passed in.
"""

from __future__ import annotations

import enum
from collections.abc import Sequence
from dataclasses import dataclass

from postbus.store import blob_rows
from postbus.store.blobs import BlobRef
from postbus.store.db import Row, Tx


class State(enum.StrEnum):
    QUEUED = "queued"
    DELIVERING = "delivering"
    SENT = "sent"
    FAILED = "failed"


FINAL = (State.SENT, State.FAILED)

_DDL = """
CREATE TABLE queue_messages (
    id ID,
    envelope_from TEXT NOT NULL,
    blob_hash TEXT NOT NULL REFERENCES blobs(hash),
    size BIGINT NOT NULL,
    created BIGINT NOT NULL
);
CREATE TABLE queue_recipients (
    id ID,
    message_id BIGINT NOT NULL REFERENCES queue_messages(id) ON DELETE CASCADE,
    recipient TEXT NOT NULL,
    domain TEXT NOT NULL,
    state TEXT NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    next_attempt BIGINT NOT NULL,
    last_error TEXT NOT NULL DEFAULT '',
    created BIGINT NOT NULL,
    delay_notice_sent INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX queue_recipients_due ON queue_recipients(state, next_attempt);
CREATE INDEX queue_recipients_message ON queue_recipients(message_id);
"""

MIGRATION: dict[str, list[str]] = {"sqlite": [_DDL], "postgres": [_DDL]}


@dataclass(frozen=True, slots=True)
class QueuedRecipient:
    id: int
    message_id: int
    envelope_from: str
    recipient: str
    domain: str
    state: State
    attempts: int
    next_attempt: int
    last_error: str
    created: int
    delay_notice_sent: bool
    blob_hash: str
    size: int


_SELECT = (
    "SELECT r.id, r.message_id, m.envelope_from, r.recipient, r.domain, r.state, r.attempts,"
    " r.next_attempt, r.last_error, r.created, r.delay_notice_sent, m.blob_hash, m.size"
    " FROM queue_recipients r JOIN queue_messages m ON m.id = r.message_id"
)


def _recipient(row: Row) -> QueuedRecipient:
    return QueuedRecipient(
        id=row["id"],
        message_id=row["message_id"],
        envelope_from=row["envelope_from"],
        recipient=row["recipient"],
        domain=row["domain"],
        state=State(row["state"]),
        attempts=row["attempts"],
        next_attempt=row["next_attempt"],
        last_error=row["last_error"],
        created=row["created"],
        delay_notice_sent=bool(row["delay_notice_sent"]),
        blob_hash=row["blob_hash"],
        size=row["size"],
    )


async def add(
    tx: Tx,
    envelope_from: str,
    recipients: Sequence[tuple[str, str]],
    body: BlobRef,
    now: int,
) -> int:
    """Queue a stored body for (recipient, domain) pairs, due at once; returns the queue id."""
    await blob_rows.reference(tx, [body])
    message_id = await tx.fetchval(
        "INSERT INTO queue_messages (envelope_from, blob_hash, size, created)"
        " VALUES ($1, $2, $3, $4) RETURNING id",
        envelope_from,
        body.hash,
        body.size,
        now,
    )
    await tx.executemany(
        "INSERT INTO queue_recipients (message_id, recipient, domain, state, next_attempt,"
        " created) VALUES ($1, $2, $3, $4, $5, $6)",
        [(message_id, rcpt, domain, State.QUEUED.value, now, now) for rcpt, domain in recipients],
    )
    return message_id


async def claim(tx: Tx, now: int, lease_until: int, limit: int) -> list[QueuedRecipient]:
    """Take up to ``limit`` due recipients (queued, or delivering with a lapsed lease)."""
    lock = " FOR UPDATE SKIP LOCKED" if tx.dialect == "postgres" else ""
    rows = await tx.fetch(
        "UPDATE queue_recipients SET state = $1, next_attempt = $2 WHERE id IN ("
        " SELECT id FROM queue_recipients WHERE state IN ($3, $1) AND next_attempt <= $4"
        f" ORDER BY next_attempt, id LIMIT $5{lock}) RETURNING id",
        State.DELIVERING.value,
        lease_until,
        State.QUEUED.value,
        now,
        limit,
    )
    ids = sorted(row[0] for row in rows)
    return await _by_ids(tx, ids)


async def _by_ids(tx: Tx, ids: Sequence[int]) -> list[QueuedRecipient]:
    found: list[QueuedRecipient] = []
    for start in range(0, len(ids), 500):
        chunk = ids[start : start + 500]
        marks = ", ".join(f"${n}" for n in range(1, len(chunk) + 1))
        rows = await tx.fetch(f"{_SELECT} WHERE r.id IN ({marks}) ORDER BY r.id", *chunk)
        found.extend(_recipient(row) for row in rows)
    return found


async def next_due(tx: Tx) -> int | None:
    """When the earliest waiting recipient is due (a lease end counts too), or None."""
    return await tx.fetchval(
        "SELECT MIN(next_attempt) FROM queue_recipients WHERE state IN ($1, $2)",
        State.QUEUED.value,
        State.DELIVERING.value,
    )


@dataclass(frozen=True, slots=True)
class Outcome:
    """What one delivery attempt did for one recipient row."""

    recipient_id: int
    state: State  # QUEUED (try again at next_attempt), SENT or FAILED
    error: str = ""
    next_attempt: int = 0
    delay_notice_sent: bool = False


async def record(tx: Tx, outcomes: Sequence[Outcome], now: int) -> list[int]:
    """Store attempt outcomes; messages with no recipient left leave the queue.

    Returns the ids of the queue messages that were removed.
    """
    message_ids: set[int] = set()
    for outcome in outcomes:
        message_id = await tx.fetchval(
            "UPDATE queue_recipients SET state = $1, attempts = attempts + 1, last_error = $2,"
            " next_attempt = $3, delay_notice_sent = CASE WHEN $4 = 1 THEN 1"
            " ELSE delay_notice_sent END WHERE id = $5 RETURNING message_id",
            outcome.state.value,
            outcome.error[:1000],
            outcome.next_attempt or now,
            int(outcome.delay_notice_sent),
            outcome.recipient_id,
        )
        if message_id is not None:
            message_ids.add(message_id)
    return await _finish(tx, sorted(message_ids), now)


async def _finish(tx: Tx, message_ids: Sequence[int], now: int) -> list[int]:
    removed = []
    for message_id in message_ids:
        if tx.dialect == "postgres":
            # Two workers finishing two domains of one message: the second waits here and then
            # sees the first's outcomes, so one of them always removes the message.
            await tx.execute("SELECT id FROM queue_messages WHERE id = $1 FOR UPDATE", message_id)
        waiting = await tx.fetchval(
            "SELECT COUNT(*) FROM queue_recipients WHERE message_id = $1 AND state IN ($2, $3)",
            message_id,
            State.QUEUED.value,
            State.DELIVERING.value,
        )
        if waiting == 0 and await _remove(tx, message_id, now):
            removed.append(message_id)
    return removed


async def _remove(tx: Tx, message_id: int, now: int) -> bool:
    blob_hash = await tx.fetchval(
        "DELETE FROM queue_messages WHERE id = $1 RETURNING blob_hash", message_id
    )
    if blob_hash is None:
        return False
    # The recipients go by ON DELETE CASCADE; the body loses this message's reference.
    await tx.execute(
        "UPDATE blobs SET refcount = refcount - 1, unreferenced_since ="
        " CASE WHEN refcount = 1 THEN CAST($1 AS BIGINT) ELSE NULL END WHERE hash = $2",
        now,
        blob_hash,
    )
    return True


async def release(tx: Tx, recipient_ids: Sequence[int], now: int) -> None:
    """Give back claimed rows a stopping worker did not finish: due again at once."""
    await tx.executemany(
        "UPDATE queue_recipients SET state = $1, next_attempt = $2 WHERE id = $3 AND state = $4",
        [(State.QUEUED.value, now, rid, State.DELIVERING.value) for rid in recipient_ids],
    )


async def list_all(tx: Tx) -> list[QueuedRecipient]:
    rows = await tx.fetch(f"{_SELECT} ORDER BY r.message_id, r.id")
    return [_recipient(row) for row in rows]


async def get_message(tx: Tx, message_id: int) -> list[QueuedRecipient]:
    rows = await tx.fetch(f"{_SELECT} WHERE r.message_id = $1 ORDER BY r.id", message_id)
    return [_recipient(row) for row in rows]


async def retry_now(tx: Tx, message_ids: Sequence[int] | None, now: int) -> int:
    """Make waiting recipients due now (all of them, or those of ``message_ids``)."""
    if message_ids is None:
        rows = await tx.fetch(
            "UPDATE queue_recipients SET next_attempt = $1 WHERE state = $2 RETURNING id",
            now,
            State.QUEUED.value,
        )
        return len(rows)
    count = 0
    for message_id in message_ids:
        rows = await tx.fetch(
            "UPDATE queue_recipients SET next_attempt = $1 WHERE state = $2"
            " AND message_id = $3 RETURNING id",
            now,
            State.QUEUED.value,
            message_id,
        )
        count += len(rows)
    return count


async def delete(tx: Tx, message_ids: Sequence[int], now: int) -> int:
    """Drop queued messages without a bounce (``postbus queue delete``); returns how many."""
    removed = 0
    for message_id in message_ids:
        removed += await _remove(tx, message_id, now)
    return removed
