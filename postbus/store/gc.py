"""Garbage collection of message bodies no message refers to any more.

A blob row whose refcount fell to zero is removed once it has been unreferenced for the grace
period, with the body itself when it is small (``blob_rows.py``); a file is removed only if it
was not written or reused within that period either (``BlobStore.delete_if_older``), so a
delivery that is about to reference the same body again never loses it. Files with no row at
all (a crash between fsync and commit) go the same way.
"""

from __future__ import annotations

from dataclasses import dataclass

from postbus.store import blob_rows
from postbus.store.blobs import BlobStore
from postbus.store.db import Database, Tx, any_of

GRACE_SECONDS = 3600


@dataclass(frozen=True, slots=True)
class Collected:
    rows: int
    files: int


async def _known(tx: Tx, hashes: list[str]) -> set[str]:
    if not hashes:
        return set()
    condition, listed = any_of("hash", 1, tx.dialect, hashes, "TEXT")
    return {row[0] for row in await tx.fetch(f"SELECT hash FROM blobs WHERE {condition}", listed)}


async def collect(
    db: Database, blobs: BlobStore, now: int, grace: int = GRACE_SECONDS
) -> Collected:
    cutoff = now - grace
    dropped = await db.write(lambda tx: blob_rows.drop_unreferenced(tx, cutoff))
    stored = list(blobs.stored_hashes())
    known = await db.read(lambda tx: _known(tx, stored))
    files = sum(
        blobs.delete_if_older(blob_hash, cutoff) for blob_hash in stored if blob_hash not in known
    )
    return Collected(len(dropped), files)
