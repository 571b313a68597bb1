"""SELECT's first unseen message (RFC 3501 §6.3.1 UNSEEN): one seek in the partial index of
unseen messages (migration 11), wherever in the mailbox they are, on both engines."""

from __future__ import annotations

import pytest

from postbus.store import Store, imap_views
from postbus.store.db import Tx

COUNT = 3000
FIRST_UNSEEN = imap_views.FIRST_UNSEEN  # the query SELECT runs


async def _mailbox(store: Store, unread: range, gone: range = range(0)) -> int:
    """A mailbox of COUNT memberships of one message, all \\Seen but ``unread``, without
    the UIDs in ``gone``; statistics gathered, as the engines' own maintenance would."""
    await store.add_domain("example.org")
    account = await store.add_account("a@example.org", "hash")
    box = await store.get_mailbox(account.id, "INBOX")

    async def fill(tx: Tx) -> None:
        await tx.execute("INSERT INTO blobs (hash, size, refcount) VALUES ('h', 1, 1)")
        message = await tx.fetchval(
            "INSERT INTO messages (account_id, blob_hash, size, received, subject,"
            " base_subject, from_name, from_email, to_text, cc_text, thread_id, preview,"
            " has_attachment, envelope, body_structure, attachments) VALUES"
            " ($1, 'h', 1, 0, '', '', '', '', '', '', 0, '', 0, '', '', '') RETURNING id",
            account.id,
        )
        await tx.execute(
            "INSERT INTO memberships (mailbox_id, uid, message_id, modseq, flags, saved)"
            " WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < $2)"
            " SELECT $1, i, $3, 1, CASE WHEN i >= $4 AND i < $5 THEN 0 ELSE 1 END, 0 FROM n"
            " WHERE i < $6 OR i >= $7",
            box.id, COUNT, message, unread.start, unread.stop, gone.start or COUNT + 1,
            gone.stop or COUNT + 1,
        )
        await tx.execute(
            "UPDATE mailboxes SET uidnext = $1, message_count = $2, unseen_count = $3"
            " WHERE id = $4", COUNT + 1, COUNT - len(gone), len(unread), box.id,
        )
        await tx.execute("ANALYZE")

    await store.write(fill)
    return account.id


@pytest.mark.parametrize("unread, gone, expected", [
    (range(1500, 1510), range(0), (1500, 1500)),  # only in the middle
    (range(1, 3), range(0), (1, 1)),  # the oldest
    (range(2990, 3001), range(0), (2990, 2990)),  # the newest
    (range(2000, 2001), range(10, 20), (1990, 2000)),  # nearer the end, after a hole
    (range(100, 101), range(10, 20), (90, 100)),  # nearer the start, after a hole
    (range(0), range(0), None),  # all read
])
async def test_first_unseen_anywhere(
    store: Store, unread: range, gone: range, expected: tuple[int, int] | None
) -> None:
    account_id = await _mailbox(store, unread, gone)
    box = await store.get_mailbox(account_id, "INBOX")
    assert await store.read(lambda tx: imap_views._first_unseen(tx, box)) == expected


async def test_both_engines_seek_in_the_unseen_index(store: Store) -> None:
    account_id = await _mailbox(store, range(1500, 1510))
    box = await store.get_mailbox(account_id, "INBOX")

    async def plan(tx: Tx) -> str:
        if tx.dialect == "sqlite":
            rows = await tx.fetch("EXPLAIN QUERY PLAN " + FIRST_UNSEEN, box.id)
            return " ".join(str(tuple(row)[-1]) for row in rows)
        return " ".join(row[0] for row in await tx.fetch("EXPLAIN " + FIRST_UNSEEN, box.id))

    assert "memberships_unseen" in await store.read(plan)
