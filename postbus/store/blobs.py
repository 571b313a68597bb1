"""Content-addressed message bodies on the file system.

A blob is named by the sha256 of its raw bytes and stored zstd-compressed at
``root/ab/cd/<sha256>.zst``. Writing streams: chunks are hashed and compressed as they come,
so a 50 MB message is never held in memory, let alone twice.

Invariants (design.md, "Durability"): a blob is complete and fsync'd, file and then directory,
before ``put`` returns, and ``put`` returns before any metadata naming it is committed. A crash
between the two leaves an orphan file, never a dangling reference; ``orphans()`` finds those for
the garbage collector. Reference counts live in the database (``blobs`` table), not here.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

import zstandard

CHUNK = 256 * 1024
ZSTD_LEVEL = 3  # fast, and still about 3x on mail text


@dataclass(frozen=True, slots=True)
class BlobRef:
    hash: str  # sha256 of the raw bytes, hex
    size: int  # raw size in octets


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
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
        return self.root / blob_hash[:2] / blob_hash[2:4] / f"{blob_hash}.zst"

    def put(self, chunks: Iterable[bytes]) -> BlobRef:
        """Store a message body given as chunks; blocking (run it in a thread for big ones)."""
        digest = hashlib.sha256()
        size = 0
        fd, tmp_name = tempfile.mkstemp(dir=self._tmp, suffix=".part")
        try:
            with os.fdopen(fd, "wb") as raw_file:
                compressor = zstandard.ZstdCompressor(level=ZSTD_LEVEL).stream_writer(
                    raw_file, closefd=False
                )
                for chunk in chunks:
                    digest.update(chunk)
                    size += len(chunk)
                    compressor.write(chunk)
                compressor.flush(zstandard.FLUSH_FRAME)
                raw_file.flush()
                os.fsync(raw_file.fileno())
            ref = BlobRef(digest.hexdigest(), size)
            self._install(Path(tmp_name), ref)
            return ref
        except BaseException:
            Path(tmp_name).unlink(missing_ok=True)
            raise

    def put_bytes(self, raw: bytes) -> BlobRef:
        view = memoryview(raw)
        return self.put(view[i : i + CHUNK] for i in range(0, len(view), CHUNK))

    def put_file(self, source: BinaryIO) -> BlobRef:
        return self.put(iter(lambda: source.read(CHUNK), b""))

    def _install(self, tmp: Path, ref: BlobRef) -> None:
        final = self.path_of(ref.hash)
        directory = final.parent
        if directory not in self._known_dirs:
            self._make_dirs(directory)
        if final.exists():  # the same body is already stored: deduplicated
            tmp.unlink()
            # A fresh mtime tells the garbage collector this blob is about to be referenced.
            os.utime(final)
            return
        os.replace(tmp, final)
        _fsync_dir(directory)

    def _make_dirs(self, directory: Path) -> None:
        if not directory.exists():
            directory.mkdir(parents=True, exist_ok=True)
            _fsync_dir(directory.parent)
            _fsync_dir(self.root)
        self._known_dirs.add(directory)

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
        for path in self.root.glob("??/??/*.zst"):
            yield path.name.removesuffix(".zst")

    def stored_size(self) -> int:
        return sum(path.stat().st_size for path in self.root.glob("??/??/*.zst"))

    def clean_partial(self) -> int:
        """Remove half-written files left by a crash; returns how many."""
        removed = 0
        for path in self._tmp.glob("*.part"):
            path.unlink(missing_ok=True)
            removed += 1
        return removed
