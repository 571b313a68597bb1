"""Annotations on the server and on mailboxes (RFC 5464 METADATA), one account at a time.

An entry belongs to an account and either to one of its mailboxes or, with ``mailbox_id``
NULL, to the server as that account sees it. Names are kept lower-case ("/private/comment"):
entry names compare without regard to case (RFC 5464 §3.2). A mailbox's entries go with it
(ON DELETE CASCADE) and follow it through RENAME, which keeps the row id.

Invariants: every operation here only awaits its ``tx`` and names the account, so no request
of one account reaches another's entries; the caller enforces the value size (MAXSIZE), the
store the number of entries (``max_entries`` per mailbox, or for the server).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from postbus.store.db import Tx
from postbus.store.errors import LimitReached
from postbus.store.mailboxes import get_by_id

_DDL = """
CREATE TABLE metadata (
    account_id BIGINT NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
    mailbox_id BIGINT REFERENCES mailboxes(id) ON DELETE CASCADE,
    name TEXT NOT NULL,
    value BYTES
);
CREATE UNIQUE INDEX metadata_entry ON metadata(account_id, COALESCE(mailbox_id, 0), name);
"""

MIGRATION: dict[str, list[str]] = {"sqlite": [_DDL], "postgres": [_DDL]}

_WHERE_BOX = "account_id = $1 AND COALESCE(mailbox_id, 0) = $2"


async def _box_key(tx: Tx, account_id: int, mailbox_id: int | None) -> int:
    if mailbox_id is None:
        return 0
    await get_by_id(tx, account_id, mailbox_id)  # NotFound for another account's mailbox
    return mailbox_id


async def get_entries(
    tx: Tx, account_id: int, mailbox_id: int | None, names: Iterable[str], depth: int = 0
) -> list[tuple[str, bytes]]:
    """(name, value) of the entries asked for, in name order; ``depth`` 0 the entries
    themselves, 1 also their children, -1 all their descendants (RFC 5464 §4.2.2)."""
    key = await _box_key(tx, account_id, mailbox_id)
    wanted = sorted({name.lower() for name in names})
    if not wanted:
        return []
    rows = await tx.fetch(
        f"SELECT name, value FROM metadata WHERE {_WHERE_BOX} ORDER BY name", account_id, key
    )
    out = []
    for row in rows:
        name = row["name"]
        for asked in wanted:
            if name == asked:
                break
            if depth and name.startswith(asked + "/"):
                rest = name[len(asked) + 1 :]
                if depth < 0 or "/" not in rest:
                    break
        else:
            continue
        out.append((name, bytes(row["value"])))
    return out


async def count_entries(tx: Tx, account_id: int, mailbox_id: int | None) -> int:
    key = await _box_key(tx, account_id, mailbox_id)
    return await tx.fetchval(
        f"SELECT COUNT(*) FROM metadata WHERE {_WHERE_BOX}", account_id, key
    )


async def set_entries(
    tx: Tx,
    account_id: int,
    mailbox_id: int | None,
    entries: Sequence[tuple[str, bytes | None]],
    max_entries: int,
) -> None:
    """Set (value) or remove (None) each entry, all or none: LimitReached when the
    mailbox (or the server) would hold more than ``max_entries`` entries."""
    key = await _box_key(tx, account_id, mailbox_id)
    for name, value in entries:
        name = name.lower()
        await tx.execute(f"DELETE FROM metadata WHERE {_WHERE_BOX} AND name = $3",
                         account_id, key, name)
        if value is not None:
            await tx.execute(
                "INSERT INTO metadata (account_id, mailbox_id, name, value)"
                " VALUES ($1, $2, $3, $4)",
                account_id, mailbox_id, name, value,
            )
    count = await tx.fetchval(
        f"SELECT COUNT(*) FROM metadata WHERE {_WHERE_BOX}", account_id, key
    )
    if count > max_entries:
        raise LimitReached(f"at most {max_entries} annotations here")  # the tx rolls back
