"""Conversations: a folder's messages grouped by thread, and one whole thread across folders.

A message's ``thread_id`` is fixed at delivery (``appending._thread_ids``): the id of the first
message of the thread. Thread ids are message ids, so two accounts never share one; every
query names the account all the same.

Invariant: the conversation list of a folder never reads the whole folder. It walks the
folder newest first along the memberships primary key, a batch at a time, keeps the threads in
the order it first meets them (that is newest arrival first) until it has a page, and only then
sums up those threads, each through ``messages_thread``: the cost follows the page and the
threads on it, not the folder.

Query plans: a thread's rows are reached from ``messages_thread`` and then
``memberships_message``, never by scanning the folder. SQLite has no statistics here and,
left alone, takes an index on ``mailbox_id`` for the memberships side (one scan of the whole
folder per thread), so the joins are written ``CROSS JOIN`` (SQLite keeps that order;
PostgreSQL plans as usual) and a unary ``+`` keeps a column out of index choice.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from postbus.store import flags as flagbits
from postbus.store.db import Row, Tx
from postbus.store.mailboxes import get_by_id
from postbus.store.messages import SUMMARY_SQL
from postbus.store.messages import _summary as summary_of
from postbus.store.models import ThreadMessage, ThreadSummary

WALK_BATCH = 400
MAX_SENDERS = 5
CONVERSATION_LIMIT = 200  # the newest messages of a thread that one page shows
# Folders a conversation leaves out unless it is opened from there: what the user threw away.
LEFT_OUT = ("\\Trash", "\\Junk")


def _placeholders(first: int, count: int) -> str:
    return ", ".join(f"${first + i}" for i in range(count))


def _in_folder(count: int) -> str:
    """FROM and WHERE for the messages of ``count`` threads ($3...) in folder $2 of account
    $1, reached thread first (see the module's note on query plans)."""
    return (" FROM messages m CROSS JOIN memberships b WHERE b.message_id = m.id"
            f" AND m.thread_id IN ({_placeholders(3, count)})"
            " AND +m.account_id = $1 AND +b.mailbox_id = $2")


async def _threads_in(
    tx: Tx, account_id: int, mailbox_id: int, thread_ids: Sequence[int]
) -> list[ThreadSummary]:
    """Summaries of these threads in one folder. Counting is done by the engine, so a thread
    of a hundred thousand notifications costs one aggregate, not a hundred thousand rows."""
    joined = _in_folder(len(thread_ids))
    totals = await tx.fetch(
        "SELECT m.thread_id, COUNT(*) AS count, MAX(b.uid) AS newest_uid,"
        " MAX(m.received) AS newest_received,"
        f" SUM(CASE WHEN (b.flags & {flagbits.SEEN}) = 0 THEN 1 ELSE 0 END) AS unread,"
        f" MAX(b.flags & {flagbits.FLAGGED}) AS flagged, MAX(m.has_attachment) AS attachment"
        + joined + " GROUP BY m.thread_id",
        account_id, mailbox_id, *thread_ids,
    )
    if not totals:
        return []
    newest_uids = [row["newest_uid"] for row in totals]
    newest = {
        row["uid"]: row for row in await tx.fetch(
            "SELECT b.uid, m.subject, m.preview FROM memberships b"
            " JOIN messages m ON m.id = b.message_id"
            f" WHERE b.mailbox_id = $1 AND b.uid IN ({_placeholders(2, len(newest_uids))})",
            mailbox_id, *newest_uids,
        )
    }
    senders: dict[int, list[tuple[int, str]]] = {}
    for row in await tx.fetch(
        "SELECT m.thread_id, m.from_name, m.from_email, MIN(b.uid) AS first_uid" + joined
        + " GROUP BY m.thread_id, m.from_name, m.from_email",
        account_id, mailbox_id, *thread_ids,
    ):
        name = (row["from_name"] or row["from_email"] or "").strip()
        if name:
            senders.setdefault(row["thread_id"], []).append((row["first_uid"], name))
    found = []
    for row in totals:
        head = newest[row["newest_uid"]]
        names = dict.fromkeys(name for _, name in sorted(senders.get(row["thread_id"], [])))
        found.append(ThreadSummary(
            thread_id=row["thread_id"],
            newest_uid=row["newest_uid"],
            newest_received=row["newest_received"],
            subject=head["subject"],
            preview=head["preview"],
            senders=tuple(names)[:MAX_SENDERS],
            count=row["count"],
            unread=row["unread"],
            flagged=bool(row["flagged"]),
            has_attachment=bool(row["attachment"]),
        ))
    return found


async def thread_page(
    tx: Tx, account_id: int, mailbox_id: int, limit: int = 50, before_uid: int | None = None
) -> list[ThreadSummary]:
    """A page of a folder's conversations, the one with the newest arrival first.

    ``before_uid`` is the ``newest_uid`` of the last conversation of the previous page; a
    thread whose newest message lies above it was on an earlier page and is skipped.
    """
    await get_by_id(tx, account_id, mailbox_id)
    ceiling = before_uid or (1 << 62)
    cursor = ceiling
    met: set[int] = set()
    chosen: list[int] = []  # newest arrival first: the order the walk meets them
    while len(chosen) < limit:
        rows = await tx.fetch(
            "SELECT b.uid, m.thread_id FROM memberships b JOIN messages m ON m.id = b.message_id"
            " WHERE b.mailbox_id = $1 AND b.uid < $2 ORDER BY b.uid DESC LIMIT $3",
            mailbox_id, cursor, WALK_BATCH,
        )
        if not rows:
            break
        cursor = rows[-1]["uid"]
        fresh = [t for t in dict.fromkeys(row["thread_id"] for row in rows) if t not in met]
        met.update(fresh)
        while fresh and len(chosen) < limit:
            wanted, fresh = fresh[:limit - len(chosen)], fresh[limit - len(chosen):]
            if before_uid is not None:
                earlier = await _reaching(tx, account_id, mailbox_id, wanted, ceiling)
                wanted = [t for t in wanted if t not in earlier]
            chosen.extend(wanted)
    if not chosen:
        return []
    found = await _threads_in(tx, account_id, mailbox_id, chosen)
    # a reply that arrived since the walk lifts its thread to an earlier page
    found = [thread for thread in found if thread.newest_uid < ceiling]
    found.sort(key=lambda thread: thread.newest_uid, reverse=True)
    return found


async def _reaching(
    tx: Tx, account_id: int, mailbox_id: int, thread_ids: Sequence[int], uid: int
) -> set[int]:
    """Those of the threads with a message at or above ``uid`` in the folder: their newest
    message was on an earlier page, and so were they."""
    rows = await tx.fetch(
        "SELECT DISTINCT m.thread_id" + _in_folder(len(thread_ids))
        + f" AND b.uid >= ${3 + len(thread_ids)}",
        account_id, mailbox_id, *thread_ids, uid,
    )
    return {row[0] for row in rows}


async def conversation(
    tx: Tx, account_id: int, thread_id: int, opened_from: int,
    limit: int = CONVERSATION_LIMIT,
) -> list[ThreadMessage]:
    """The messages of a thread (the newest ``limit``), oldest first, in any folder but Trash
    and Junk (those count only when the thread is opened from there). A message in two
    folders is shown once, from the folder it was opened from when it is there."""
    await get_by_id(tx, account_id, opened_from)
    rows = await tx.fetch(
        SUMMARY_SQL.replace(" FROM memberships b", ", b.mailbox_id FROM memberships b")
        + " JOIN mailboxes x ON x.id = b.mailbox_id"
        " WHERE m.thread_id = $1 AND +m.account_id = $2 AND x.account_id = $2"
        " AND (b.mailbox_id = $3 OR x.special_use IS NULL OR x.special_use NOT IN ($4, $5))"
        " ORDER BY m.received DESC, m.id DESC LIMIT $6",
        thread_id, account_id, opened_from, *LEFT_OUT, limit,
    )
    chosen: dict[int, Row] = {}
    for row in rows:
        held = chosen.get(row["message_id"])
        if held is None or (row["mailbox_id"] == opened_from != held["mailbox_id"]):
            chosen[row["message_id"]] = row
    ordered = sorted(chosen.values(), key=lambda row: (row["received"], row["message_id"]))
    return [ThreadMessage(row["mailbox_id"], summary_of(row)) for row in ordered]


async def thread_uids(
    tx: Tx, account_id: int, mailbox_id: int, thread_ids: Iterable[int]
) -> list[int]:
    """The UIDs in one folder of the messages of these threads: what an action on a
    conversation row acts on."""
    await get_by_id(tx, account_id, mailbox_id)
    wanted = list(dict.fromkeys(thread_ids))[:WALK_BATCH]
    if not wanted:
        return []
    rows = await tx.fetch(
        "SELECT b.uid" + _in_folder(len(wanted)) + " ORDER BY b.uid",
        account_id, mailbox_id, *wanted,
    )
    return [row[0] for row in rows]
