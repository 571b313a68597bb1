"""New messages into a mailbox: one SMTP delivery, one IMAP APPEND, or a batch of an import.

A batch is the unit: one mailbox check, one quota check, one counter update and a handful of
multi-row statements for the whole group, so importing a big mailbox costs a few statements
per hundred messages instead of ten per message. A single append is a batch of one.

Invariants:
- Message ids are reserved before the insert, so a message that starts a thread can name
  itself as the thread without a second statement.
- The batch is all or nothing: one refusal (over quota, disabled account) refuses every
  message of it (RFC 3502 §6.3.11 asks that of MULTIAPPEND; an import retries smaller).
- Lock order and counters as in ``messages.py``: the mailbox row is updated once, after the
  message rows, in the same transaction.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import NamedTuple

from postbus.store import blob_rows, correspondents, search
from postbus.store import flags as flagbits
from postbus.store.blobs import BlobRef
from postbus.store.db import Tx
from postbus.store.events import EventKind, MailboxEvent
from postbus.store.mailboxes import get_by_id
from postbus.store.messages import bump, enforce_quota
from postbus.store.models import Appended

THREAD_LOOKUPS = 3  # the nearest ancestors are enough to find the thread
ANALYZE_AFTER = 10_000  # messages in one import; then the planner's statistics are renewed


class NewMessage(NamedTuple):
    """The columns of a message row, as the parse-once step produced them.

    A tuple, not a dataclass: batches of these come back from worker processes, and a tuple
    pickles several times faster.
    """

    blob_hash: str
    size: int
    sent: int | None
    subject: str
    base_subject: str
    from_name: str
    from_email: str
    to_text: str
    cc_text: str
    message_id_header: str | None
    thread_refs: tuple[str, ...]  # In-Reply-To first, then References newest first
    preview: str
    has_attachment: bool
    envelope: str
    body_structure: str
    attachments: str
    search_words: str  # each folded word once (search.index_words)
    inline_body: bytes | None = None  # a small body, compressed, kept with the row (blob_rows)


@dataclass(frozen=True, slots=True)
class Incoming:
    """One message of a batch, with the flags and arrival time it is to be stored with."""

    message: NewMessage
    flags: tuple[str, ...] = ()
    received: int | None = None


async def append(
    tx: Tx,
    account_id: int,
    mailbox_id: int,
    new: NewMessage,
    flags: Iterable[str],
    received: int,
    now: int,
) -> Appended:
    """Add a new message to a mailbox (SMTP delivery, IMAP APPEND)."""
    placed = await append_batch(
        tx, account_id, mailbox_id, [Incoming(new, tuple(flags), received)], now
    )
    return placed[0]


async def append_batch(
    tx: Tx, account_id: int, mailbox_id: int, batch: Sequence[Incoming], now: int
) -> list[Appended]:
    """Add messages to a mailbox in the given order: consecutive UIDs, one modseq."""
    if not batch:
        return []
    mailbox = await get_by_id(tx, account_id, mailbox_id)
    total = sum(item.message.size for item in batch)
    await enforce_quota(tx, account_id, total, len(batch))
    message_ids = await _insert_messages(tx, account_id, batch, now)
    # address suggestions, in the same transaction (``correspondents.py``)
    received = [item.received or now for item in batch]
    await correspondents.note(tx, account_id, mailbox.special_use, batch, received)
    uidvalidity, first_uid, modseq = await _place(tx, mailbox_id, batch, message_ids, now)
    uids = tuple(range(first_uid, first_uid + len(batch)))
    tx.notify(MailboxEvent(EventKind.NEW, account_id, mailbox_id, uids, modseq))
    return [
        Appended(mailbox_id, uidvalidity, uid, message_id, modseq)
        for uid, message_id in zip(uids, message_ids, strict=True)
    ]


async def _reserve_ids(tx: Tx, count: int) -> list[int]:
    if tx.dialect == "sqlite":
        # One writer at a time on SQLite; AUTOINCREMENT keeps its high-water mark here and
        # moves it past the ids we insert.
        last = await tx.fetchval("SELECT seq FROM sqlite_sequence WHERE name = 'messages'")
        first = (last or 0) + 1
        return list(range(first, first + count))
    rows = await tx.fetch(
        "SELECT nextval(pg_get_serial_sequence('messages', 'id')) FROM generate_series(1, $1)",
        count,
    )
    return [row[0] for row in rows]


async def _thread_ids(
    tx: Tx, account_id: int, batch: Sequence[Incoming], message_ids: list[int]
) -> list[int]:
    """Each message's thread: its nearest known ancestor's, else its own id (RFC 5256 §2.2
    REFERENCES, simplified to lookups). Ancestors earlier in the same batch count."""
    known = await _known_threads(tx, account_id, batch)
    threads = []
    for item, message_id in zip(batch, message_ids, strict=True):
        refs = item.message.thread_refs[:THREAD_LOOKUPS]
        thread_id = next((known[ref] for ref in refs if ref in known), message_id)
        threads.append(thread_id)
        if item.message.message_id_header:
            known.setdefault(item.message.message_id_header, thread_id)
    return threads


async def _known_threads(tx: Tx, account_id: int, batch: Sequence[Incoming]) -> dict[str, int]:
    """Thread ids of the stored messages the batch refers to, in one query."""
    refs = list({ref for item in batch for ref in item.message.thread_refs[:THREAD_LOOKUPS]})
    if not refs:
        return {}
    placeholders = ", ".join(f"${n}" for n in range(2, len(refs) + 2))
    rows = await tx.fetch(
        "SELECT message_id_header, MIN(thread_id) FROM messages WHERE account_id = $1"
        f" AND message_id_header IN ({placeholders}) GROUP BY message_id_header",
        account_id, *refs,
    )
    return {row[0]: row[1] for row in rows}


async def _insert_messages(
    tx: Tx, account_id: int, batch: Sequence[Incoming], now: int
) -> list[int]:
    bodies = [item.message for item in batch]
    await blob_rows.reference(
        tx, [BlobRef(new.blob_hash, new.size, new.inline_body) for new in bodies]
    )
    message_ids = await _reserve_ids(tx, len(batch))
    threads = await _thread_ids(tx, account_id, batch, message_ids)
    await tx.executemany(
        "INSERT INTO messages (id, account_id, blob_hash, size, received, sent, subject,"
        " base_subject, from_name, from_email, to_text, cc_text, message_id_header, thread_id,"
        " preview, has_attachment, envelope, body_structure, attachments) VALUES ($1, $2, $3,"
        " $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19)",
        [
            (
                message_id, account_id, new.blob_hash, new.size, item.received or now, new.sent,
                new.subject, new.base_subject, new.from_name, new.from_email, new.to_text,
                new.cc_text, new.message_id_header, thread_id, new.preview,
                int(new.has_attachment), new.envelope, new.body_structure, new.attachments,
            )
            for item, message_id, thread_id in zip(batch, message_ids, threads, strict=True)
            for new in (item.message,)
        ],
    )
    await search.index_messages(
        tx, account_id, [(message_id, item.message.search_words)
                         for item, message_id in zip(batch, message_ids, strict=True)],
    )
    return message_ids


async def _place(
    tx: Tx, mailbox_id: int, batch: Sequence[Incoming], message_ids: list[int], now: int
) -> tuple[int, int, int]:
    """Give the messages the mailbox's next UIDs: (uidvalidity, first uid, modseq)."""
    masks = [flagbits.split_flags(item.flags) for item in batch]
    unseen = sum(1 for mask, _ in masks if not mask & flagbits.SEEN)
    size = sum(item.message.size for item in batch)
    state = await bump(tx, mailbox_id, len(batch), unseen, size, len(batch))
    first_uid, modseq = state["uidnext"] - len(batch), state["highestmodseq"]
    await tx.executemany(
        "INSERT INTO memberships (mailbox_id, uid, message_id, modseq, flags, keywords, saved)"
        " VALUES ($1, $2, $3, $4, $5, $6, $7)",
        [
            (mailbox_id, first_uid + i, message_id, modseq, mask, keywords, now)
            for i, (message_id, (mask, keywords)) in enumerate(zip(message_ids, masks, strict=True))
        ],
    )
    return state["uidvalidity"], first_uid, modseq


async def refresh_statistics(tx: Tx) -> None:
    """After a big import: PostgreSQL plans from table statistics, and until autovacuum gets
    round to it, a mailbox that grew by half a million looks empty (a word query took 3.6 s
    instead of 27 ms). SQLite's queries pin their plans and need none."""
    if tx.dialect == "postgres":
        await tx.execute("ANALYZE messages, memberships, message_text")
