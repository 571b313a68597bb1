"""The CPU half of appending many messages, run in worker processes.

Hashing, compressing and parsing a message take longer than storing its rows, and in one
process they would share one core with the database writer. ``prepare`` does them for a batch
in another process: small bodies come back compressed, for the batch's own transaction, big
ones land in the blob store's temporary files (made durable later, together, by the parent's
``BodyWriter.publish``), and the parse-once columns come back.

Invariant: nothing here commits or publishes; a batch the parent never stores leaves only
temporary files, which ``BlobStore.clean_partial`` removes at the next start.
"""

from __future__ import annotations

import functools
from pathlib import Path

from postbus import mime
from postbus.store.appending import NewMessage
from postbus.store.blobs import INLINE_MAX, BlobStore, PendingBlob, small_body
from postbus.store.parsed import new_message


@functools.cache
def _blob_store(root: str) -> BlobStore:
    return BlobStore(Path(root))


def prepare(blob_root: str, raws: list[bytes]) -> list[tuple[PendingBlob | None, NewMessage]]:
    """Compress each body (a big one into a temporary blob file) and parse it once (blocking).

    A small body comes back compressed inside its ``NewMessage``, for the batch's transaction;
    a big one as the ``PendingBlob`` the parent publishes.
    """
    prepared: list[tuple[PendingBlob | None, NewMessage]] = []
    for raw in raws:
        if len(raw) <= INLINE_MAX:
            pending, ref = None, small_body(raw)
        else:
            pending = _blob_store(blob_root).write_bytes(raw)
            ref = pending.ref
        prepared.append((pending, new_message(ref, mime.parse_message(raw))))
    return prepared
