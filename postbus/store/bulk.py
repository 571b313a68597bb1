"""The CPU half of appending many messages, run in worker processes.

Hashing, compressing and parsing a message take longer than storing its rows, and in one
process they would share one core with the database writer. ``prepare`` does them for a batch
in another process: the bodies land in the blob store's temporary files (made durable later,
together, by the parent's ``BodyWriter.publish``) and the parse-once columns come back.

Invariant: nothing here commits or publishes; a batch the parent never stores leaves only
temporary files, which ``BlobStore.clean_partial`` removes at the next start.
"""

from __future__ import annotations

import functools
from pathlib import Path

from postbus import mime
from postbus.store.appending import NewMessage
from postbus.store.blobs import BlobStore, PendingBlob
from postbus.store.parsed import new_message


@functools.cache
def _blob_store(root: str) -> BlobStore:
    return BlobStore(Path(root))


def prepare(blob_root: str, raws: list[bytes]) -> list[tuple[PendingBlob, NewMessage]]:
    """Write each body to a temporary blob file and parse it once (blocking)."""
    blobs = _blob_store(blob_root)
    prepared = []
    for raw in raws:
        pending = blobs.write_bytes(raw)
        prepared.append((pending, new_message(pending.ref, mime.parse_message(raw))))
    return prepared
