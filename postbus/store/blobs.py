"""Content-addressed message bodies on the file system, and the format of every stored body.

Most mail is small: a body of at most ``INLINE_MAX`` octets is not written here at all but kept
compressed in the database, in the transaction that names it (``blob_rows.py``), so storing it
costs no file and no flush of its own (``small_body``).

Bigger bodies are files. A blob is named by the sha256 of its raw bytes and stored
zstd-compressed (with a frame checksum) at ``root/ab/<sha256>.zst``. Writing streams: chunks
are hashed and compressed as they come, so a 50 MB message is never held in memory, let alone
twice.

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
import errno
import hashlib
import itertools
import os
import threading
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import BinaryIO, NamedTuple

import zstandard

CHUNK = 256 * 1024
ZSTD_LEVEL = 3  # fast, and still about 3x on mail text
# Bodies up to this size live in the database: most mail without big attachments. SQLite's
# own measurements ("Internal Versus External BLOBs") find blobs up to about 100 KB quicker
# to read from the database than from files.
INLINE_MAX = 128 * 1024

_libc = ctypes.CDLL(None, use_errno=True)
_SYNCFS = getattr(_libc, "syncfs", None)
_RENAMEAT2 = getattr(_libc, "renameat2", None)  # glibc 2.28+
if _RENAMEAT2 is not None:
    _RENAMEAT2.argtypes = [ctypes.c_int, ctypes.c_char_p] * 2 + [ctypes.c_uint]
_AT_FDCWD = -100
_RENAME_NOREPLACE = 1


_TEMP_FLAGS = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC
_temp_counter = itertools.count()  # next() is atomic under the GIL: threads share it


def _temp_prefix(directory: Path) -> str:
    return f"{directory}/{os.getpid()}-{os.urandom(4).hex()}-"


class BlobRef(NamedTuple):
    hash: str  # sha256 of the raw bytes, hex
    size: int  # raw size in octets
    # A small body's compressed bytes, for the database (``small_body``); None: it is a file.
    inline: bytes | None = None


def small_body(raw: bytes) -> BlobRef:
    """A body of at most ``INLINE_MAX`` octets, hashed and compressed for the database."""
    return BlobRef(hashlib.sha256(raw).hexdigest(), len(raw), _compressor().compress(raw))


def decompress(compressed: bytes) -> bytes:
    """The raw bytes of a body kept in the database (a frame that names its own size)."""
    return _decompressor().decompress(compressed)


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


def _rename_unless_exists(source: str, target: str) -> bool:
    """Rename ``source`` to ``target`` unless that name exists; False when it does.

    One ``renameat2(RENAME_NOREPLACE)`` where the system has it: the test and the rename in
    one step, instead of a stat and then a rename. Elsewhere (or on a file system without
    it), the stat and ``os.replace``: an existing name is a complete copy either way.
    """
    if _RENAMEAT2 is not None:
        paths = os.fsencode(source), os.fsencode(target)
        if _RENAMEAT2(_AT_FDCWD, paths[0], _AT_FDCWD, paths[1], _RENAME_NOREPLACE) == 0:
            return True
        error = ctypes.get_errno()
        if error == errno.EEXIST:
            return False
        if error not in (errno.EINVAL, errno.ENOSYS, errno.EOPNOTSUPP):
            raise OSError(error, os.strerror(error), source, None, target)
    if os.path.exists(target):
        return False
    os.replace(source, target)
    return True


class BlobStore:
    def __init__(self, root: Path) -> None:
        self.root = root
        self._tmp = root / "tmp"
        self._tmp.mkdir(parents=True, exist_ok=True)
        self._tmp_prefix = _temp_prefix(self._tmp)
        self._root = str(root)  # publish builds names as strings: no Path per body
        self._known_dirs: set[str] = set()

    def path_of(self, blob_hash: str) -> Path:
        return self.root / blob_hash[:2] / f"{blob_hash}.zst"

    def write(self, chunks: Iterable[bytes]) -> PendingBlob:
        """Hash and compress a body into a temporary file (blocking; no flush yet)."""
        digest = hashlib.sha256()
        size = 0
        fd, temp_name = self._create_temp()
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
        compressed = memoryview(_compressor().compress(raw))
        fd, temp_name = self._create_temp()
        try:
            while compressed:  # plain os.write: no buffered file object for one write
                compressed = compressed[os.write(fd, compressed) :]
        except BaseException:
            os.unlink(temp_name)
            raise
        finally:
            os.close(fd)
        return PendingBlob(temp_name, BlobRef(hashlib.sha256(raw).hexdigest(), len(raw)))

    def _create_temp(self) -> tuple[int, str]:
        """A new, empty temporary file: (descriptor, path).

        Named by this process and a counter, not by ``tempfile``'s random names (a name from
        the system's random source per body). O_EXCL keeps names unique among processes and
        machines sharing the directory, and a crashed process's leftovers: a name taken
        draws a new random prefix.
        """
        while True:
            name = f"{self._tmp_prefix}{next(_temp_counter)}.part"
            try:
                return os.open(name, _TEMP_FLAGS, 0o600), name
            except FileExistsError:
                self._tmp_prefix = _temp_prefix(self._tmp)

    def publish(self, pending: list[PendingBlob]) -> None:
        """Make written bodies durable under their names: flush, rename, flush (blocking)."""
        if not pending:
            return
        self._flush([p.temp for p in pending], [])
        directories = set()
        for blob in pending:
            directory = f"{self._root}/{blob.ref.hash[:2]}"
            if directory not in self._known_dirs:
                os.makedirs(directory, exist_ok=True)
                self._known_dirs.add(directory)
                directories.add(self._root)
            final = f"{directory}/{blob.ref.hash}.zst"
            if not _rename_unless_exists(blob.temp, final):
                # The same body is stored already (deduplicated): a fresh mtime tells the
                # garbage collector it is about to be referenced again.
                Path(blob.temp).unlink(missing_ok=True)
                os.utime(final)
            directories.add(directory)
        self._flush([], sorted(directories))

    def _flush(self, files: list[str], directories: list[str]) -> None:
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

    def read(self, blob_hash: str, limit: int | None = None) -> bytes:
        with self.open(blob_hash) as stream:
            return stream.read(-1 if limit is None else limit)

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


def _decompressor() -> zstandard.ZstdDecompressor:
    decompressor = getattr(_per_thread, "decompressor", None)
    if decompressor is None:
        decompressor = zstandard.ZstdDecompressor()
        _per_thread.decompressor = decompressor
    return decompressor
