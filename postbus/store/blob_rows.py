"""The database's side of message bodies: reference counts, and the small bodies themselves.

Every stored or queued message holds one reference on its body's row in ``blobs``; the garbage
collector removes a row nobody has referenced for a while (``gc.py``). A body of at most
``blobs.INLINE_MAX`` octets lives in ``blob_contents``, zstd-compressed as a file would be,
written in the same transaction as the reference that names it: one commit makes the message
and its body durable together, with no file and no flush of its own.

Invariants: a ``blob_contents`` row always has its ``blobs`` row; both go in one transaction.
A small body may exist both here and as a file (the file written before bodies moved into
the database, migration 13); readers take this copy first.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from postbus.store.blobs import BlobRef
from postbus.store.db import Tx, any_of
from postbus.store.errors import NotFound

_DDL = "CREATE TABLE blob_contents (hash TEXT PRIMARY KEY, compressed {} NOT NULL)"

MIGRATION: dict[str, list[str]] = {
    "sqlite": [_DDL.format("BLOB")],
    # Already compressed: PostgreSQL should store it out of line as it is, not try pglz on it.
    "postgres": [
        _DDL.format("BYTEA"),
        "ALTER TABLE blob_contents ALTER COLUMN compressed SET STORAGE EXTERNAL",
    ],
}


# Migration 14. Removing a ``blobs`` row (the GC) makes both engines look for rows that still
# name it, as the foreign keys ask; without these indexes that read every message: 30 ms a
# row at 90,000 messages, so collecting 10,000 bodies held the writer for minutes.
REFERENCE_INDEXES: dict[str, list[str]] = {
    dialect: [
        "CREATE INDEX messages_blob ON messages(blob_hash)",
        "CREATE INDEX queue_messages_blob ON queue_messages(blob_hash)",
    ]
    for dialect in ("sqlite", "postgres")
}


async def reference(tx: Tx, refs: Sequence[BlobRef]) -> None:
    """One more reference on each body; a small body's bytes kept if not kept already."""
    await tx.executemany(
        "INSERT INTO blobs (hash, size, refcount) VALUES ($1, $2, 1) ON CONFLICT (hash)"
        " DO UPDATE SET refcount = blobs.refcount + 1, unreferenced_since = NULL",
        [(ref.hash, ref.size) for ref in refs],
    )
    inline = [(ref.hash, ref.inline) for ref in refs if ref.inline is not None]
    if inline:
        await tx.executemany(
            "INSERT INTO blob_contents (hash, compressed) VALUES ($1, $2)"
            " ON CONFLICT (hash) DO NOTHING",
            inline,
        )


async def release(tx: Tx, references: Mapping[str, int], now: int) -> None:
    """Drop references (hash -> how many); a body left with none is marked for the GC."""
    await tx.executemany(
        "UPDATE blobs SET refcount = refcount - $1, unreferenced_since ="
        " CASE WHEN refcount = $1 THEN CAST($2 AS BIGINT) ELSE NULL END WHERE hash = $3",
        [(count, now, blob_hash) for blob_hash, count in references.items()],
    )


async def inline_body(tx: Tx, blob_hash: str) -> bytes | None:
    """A small body's compressed bytes; None when the body is a file."""
    compressed = await tx.fetchval(
        "SELECT compressed FROM blob_contents WHERE hash = $1", blob_hash
    )
    return bytes(compressed) if compressed is not None else None


async def message_body(tx: Tx, account_id: int, message_id: int) -> tuple[str, bytes | None]:
    """A message's body hash and, when it is small, its compressed bytes, in one read."""
    row = await tx.fetchrow(
        "SELECT m.blob_hash, c.compressed FROM messages m"
        " LEFT JOIN blob_contents c ON c.hash = m.blob_hash"
        " WHERE m.id = $1 AND m.account_id = $2",
        message_id, account_id,
    )
    if row is None:
        raise NotFound(f"no message {message_id}")
    return row[0], bytes(row[1]) if row[1] is not None else None


async def drop_unreferenced(tx: Tx, cutoff: int) -> list[str]:
    """Remove the rows (and small bodies) unreferenced since before ``cutoff``.

    One statement for the rows, so a row referenced again meanwhile (another node's
    delivery) is tested and kept in the same step; a statement a row took 0.7 ms each late
    in a big transaction on SQLite (50,000 bodies: 33 s).
    """
    rows = await tx.fetch(
        "DELETE FROM blobs WHERE refcount <= 0 AND unreferenced_since < $1 RETURNING hash",
        cutoff,
    )
    dropped = [row[0] for row in rows]
    if dropped:
        condition, listed = any_of("hash", 1, tx.dialect, dropped, "TEXT")
        await tx.execute(f"DELETE FROM blob_contents WHERE {condition}", listed)
    return dropped
