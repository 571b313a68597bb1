"""Group commit for message bodies: many appends in flight share one flush to disk.

Only bodies too big for the database come here as files (``blobs.INLINE_MAX``); a small one
is compressed on the spot and made durable by the transaction that names it.

Each body is hashed, compressed and written to a temporary file in the I/O thread pool; a
single publisher task then makes every body written meanwhile durable in one ``publish`` (one
flush, renames, one flush) and wakes their callers. Under load the groups grow, and the cost of
a flush is spread over all of them, as the SQLite writer does for commits.

Invariants: ``store`` returns only after ``publish`` has returned for that body; the publisher
runs one group at a time, in its own thread.
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Iterable
from concurrent.futures import Executor, ThreadPoolExecutor
from pathlib import Path

from postbus.store.blobs import CHUNK, INLINE_MAX, BlobRef, BlobStore, PendingBlob, small_body

MAX_GROUP = 512


def _file_chunks(path: Path) -> Iterable[bytes]:
    with path.open("rb") as source:
        while chunk := source.read(CHUNK):
            yield chunk


class BodyWriter:
    def __init__(self, blobs: BlobStore, io: Executor) -> None:
        self.blobs = blobs
        self._io = io
        self._publisher = ThreadPoolExecutor(1, thread_name_prefix="postbus-blob-publish")
        self._waiting: list[tuple[PendingBlob, asyncio.Future[None]]] = []
        self._wakeup = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    async def store(self, source: bytes | Path) -> BlobRef:
        """A body ready to be named by a transaction: a file made durable, or a small body's
        compressed bytes, which the transaction itself keeps (``blob_rows.py``). The size
        decides, not the form: a small body spooled to a file (one literal of a big IMAP
        MULTIAPPEND) goes into the database too."""
        if isinstance(source, Path) and source.stat().st_size <= INLINE_MAX:
            source = source.read_bytes()
        if isinstance(source, bytes) and len(source) <= INLINE_MAX:
            return small_body(source)  # a few kilobytes: quicker here than a thread hand-off
        loop = asyncio.get_running_loop()
        if isinstance(source, Path):
            write = functools.partial(self.blobs.write, _file_chunks(source))
        else:
            write = functools.partial(self.blobs.write_bytes, source)
        pending = await loop.run_in_executor(self._io, write)
        await self.publish([pending])
        return pending.ref

    async def publish(self, written: list[PendingBlob]) -> None:
        """Make bodies written elsewhere (``BlobStore.write``) durable, in the next group."""
        loop = asyncio.get_running_loop()
        published = [loop.create_future() for _ in written]
        self._waiting.extend(zip(written, published, strict=True))
        if self._task is None:
            self._task = loop.create_task(self._publish_loop())
        self._wakeup.set()
        await asyncio.gather(*published)

    async def _publish_loop(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            await self._wakeup.wait()
            self._wakeup.clear()
            while self._waiting:
                group, self._waiting = self._waiting[:MAX_GROUP], self._waiting[MAX_GROUP:]
                try:
                    await loop.run_in_executor(
                        self._publisher, self.blobs.publish, [blob for blob, _ in group]
                    )
                except Exception as exc:
                    for _, published in group:
                        if not published.done():
                            published.set_exception(exc)
                    continue
                for _, published in group:
                    if not published.done():
                        published.set_result(None)

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
        self._publisher.shutdown(wait=True)
