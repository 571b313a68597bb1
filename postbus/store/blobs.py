"""Content-addressed message bodies on the file system.

A blob is named by the sha256 of its raw bytes and stored zstd-compressed (with a frame
checksum) at ``root/ab/<sha256>.zst``. Writing streams: chunks are hashed and compressed as they
come, so a 50 MB message is never held in memory, let alone twice.

Writing is two steps so that many bodies share one flush to disk (group commit, as the database
does): ``write`` puts the compressed bytes in a temporary file; ``publish`` makes a whole group
durable at once — flush the data, rename each file to its content name, flush the names.

Invariants (design.md, "Durability"): a body is on disk under its final name, data and
directory entry flushed, before ``publish`` returns, and ``publish`` returns before any metadata
naming it is committed. A file only ever appears under its content name complete, so an existing
name is a complete copy (deduplication trusts it). A crash before the metadata commit leaves an
orphan file, never a dangling reference; the garbage collector removes orphans. Reference counts
live in the database (``blobs`` table), not here.
"""

from __future__ import annotations

import ctypes
import hashlib
import os
import tempfile
import threading
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import BinaryIO, NamedTuple

import zstandard

CHUNK = 256 * 1024
ZSTD_LEVEL = 3  # fast, and still about 3x on mail text

_libc = ctypes.CDLL(None, use_errno=True)
_SYNCFS = getattr(_libc, "syncfs", None)


class BlobRef(NamedTuple):
    hash: str  # sha256 of the raw bytes, hex
    size: int  # raw size in octets


class PendingBlob(NamedTuple):
    """A body written to a temporary file, not yet durable nor visible under its name.

    Tuples of plain values: worker processes send these back by the hundred (``bulk.py``).
    """

    temp: str  # path of the temporary file
    ref: BlobRef


def _fsync_path(path: str | Path, directory: bool = False) -> None:
    fd = os.open(path, os.O_RDONLY | (os.O_DIRECTORY if directory else 0))
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class BlobStore:
    def __init__(self, root: Path) -> None:
        self.root = root
        self._tmp = root / "tmp"
        self._tmp.mkdir(parents=True, exist_ok=True)
        self._known_dirs: set[Path] = set()

    def path_of(self, blob_hash: str) -> Path:
        return self.root / blob_hash[:2] / f"{blob_hash}.zst"

    def write(self, chunks: Iterable[bytes]) -> PendingBlob:
        """Hash and compress a body into a temporary file (blocking; no flush yet)."""
        digest = hashlib.sha256()
        size = 0
        fd, temp_name = tempfile.mkstemp(dir=self._tmp, suffix=".part")
        try:
            with os.fdopen(fd, "wb") as raw_file:
                compressor = _compressor().stream_writer(raw_file, closefd=False)
                for chunk in chunks:
                    digest.update(chunk)
                    size += len(chunk)
                    compressor.write(chunk)
                compressor.flush(zstandard.FLUSH_FRAME)
        except BaseException:
            Path(temp_name).unlink(missing_ok=True)
            raise
        return PendingBlob(temp_name, BlobRef(digest.hexdigest(), size))

    def write_bytes(self, raw: bytes) -> PendingBlob:
        """``write`` for a body already in memory: one compression call, no stream.

        Most mail is a few kilobytes, and setting up a compression context and a stream per
        message would cost more than compressing it (the context is reused per thread).
        """
        compressed = _compressor().compress(raw)
        fd, temp_name = tempfile.mkstemp(dir=self._tmp, suffix=".part")
        try:
            with os.fdopen(fd, "wb") as raw_file:
                raw_file.write(compressed)
        except BaseException:
            Path(temp_name).unlink(missing_ok=True)
            raise
        return PendingBlob(temp_name, BlobRef(hashlib.sha256(raw).hexdigest(), len(raw)))

    def publish(self, pending: list[PendingBlob]) -> None:
        """Make written bodies durable under their names: flush, rename, flush (blocking)."""
        if not pending:
            return
        self._flush([p.temp for p in pending], [])
        directories = set()
        for blob in pending:
            final = self.path_of(blob.ref.hash)
            if final.parent not in self._known_dirs:
                final.parent.mkdir(exist_ok=True)
                self._known_dirs.add(final.parent)
                directories.add(self.root)
            if final.exists():  # the same body is stored already: deduplicated
                Path(blob.temp).unlink(missing_ok=True)
                # A fresh mtime tells the garbage collector this blob is about to be referenced.
                os.utime(final)
            else:
                os.replace(blob.temp, final)
            directories.add(final.parent)
        self._flush([], sorted(directories))

    def _flush(self, files: list[str], directories: list[Path]) -> None:
        # One syncfs flushes every file and directory entry of the file system at once: the
        # cost of one fsync for a whole group. Elsewhere, fsync each file and directory.
        if _SYNCFS is not None:
            fd = os.open(self.root, os.O_RDONLY | os.O_DIRECTORY)
            try:
                if _SYNCFS(fd) == 0:
                    return
            finally:
                os.close(fd)
        for path in files:
            _fsync_path(path)
        for path in directories:
            _fsync_path(path, directory=True)

    def put(self, chunks: Iterable[bytes]) -> BlobRef:
        """Store one body durably (blocking); groups go through ``write`` + ``publish``."""
        pending = self.write(chunks)
        self.publish([pending])
        return pending.ref

    def put_bytes(self, raw: bytes) -> BlobRef:
        pending = self.write_bytes(raw)
        self.publish([pending])
        return pending.ref

    def put_file(self, source: BinaryIO) -> BlobRef:
        return self.put(iter(lambda: source.read(CHUNK), b""))

    def exists(self, blob_hash: str) -> bool:
        return self.path_of(blob_hash).exists()

    def open(self, blob_hash: str) -> BinaryIO:
        """A readable stream of the raw bytes."""
        compressed = self.path_of(blob_hash).open("rb")
        return zstandard.ZstdDecompressor().stream_reader(compressed, closefd=True)

    def read(self, blob_hash: str) -> bytes:
        with self.open(blob_hash) as stream:
            return stream.read()

    def iter_chunks(self, blob_hash: str) -> Iterator[bytes]:
        with self.open(blob_hash) as stream:
            while chunk := stream.read(CHUNK):
                yield chunk

    def delete_if_older(self, blob_hash: str, cutoff: float) -> bool:
        """Delete a blob whose file was last written or reused before ``cutoff`` (epoch)."""
        path = self.path_of(blob_hash)
        try:
            if path.stat().st_mtime >= cutoff:
                return False
            path.unlink()
        except FileNotFoundError:
            return False
        return True

    def stored_hashes(self) -> Iterator[str]:
        for path in self.root.glob("??/*.zst"):
            yield path.name.removesuffix(".zst")

    def stored_size(self) -> int:
        return sum(path.stat().st_size for path in self.root.glob("??/*.zst"))

    def clean_partial(self) -> int:
        """Remove half-written files left by a crash; returns how many."""
        removed = 0
        for path in self._tmp.glob("*.part"):
            path.unlink(missing_ok=True)
            removed += 1
        return removed


_per_thread = threading.local()


def _compressor() -> zstandard.ZstdCompressor:
    # A compressor is not safe to share between threads; one per thread is reused.
    compressor = getattr(_per_thread, "compressor", None)
    if compressor is None:
        compressor = zstandard.ZstdCompressor(level=ZSTD_LEVEL, write_checksum=True)
        _per_thread.compressor = compressor
    return compressor

