"""Content-addressed, compressed, durable message bodies."""

from __future__ import annotations

import hashlib
import io
import os
import time
import tracemalloc
from pathlib import Path

from postbus.store.blobs import BlobStore


def test_round_trip_and_dedup(tmp_path: Path) -> None:
    blobs = BlobStore(tmp_path)
    raw = b"Subject: hi\r\n\r\n" + b"hello world\r\n" * 1000
    first = blobs.put_bytes(raw)
    second = blobs.put_file(io.BytesIO(raw))
    assert first == second
    assert first.hash == hashlib.sha256(raw).hexdigest()
    assert first.size == len(raw)
    assert blobs.read(first.hash) == raw
    assert list(blobs.stored_hashes()) == [first.hash]
    assert blobs.stored_size() < len(raw) / 5  # zstd on repetitive mail text
    assert not list((tmp_path / "tmp").iterdir())


def test_stream_of_50_megabytes_is_not_held_in_memory(tmp_path: Path) -> None:
    blobs = BlobStore(tmp_path)
    chunk = os.urandom(1024 * 1024)
    tracemalloc.start()
    ref = blobs.put(chunk for _ in range(50))
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert ref.size == 50 * len(chunk)
    assert peak < 16 * 1024 * 1024
    total = sum(len(part) for part in blobs.iter_chunks(ref.hash))
    assert total == ref.size


def test_partial_files_are_cleaned(tmp_path: Path) -> None:
    blobs = BlobStore(tmp_path)
    (tmp_path / "tmp" / "crashed.part").write_bytes(b"half a message")
    assert blobs.clean_partial() == 1


def test_delete_if_older_spares_fresh_and_reused_blobs(tmp_path: Path) -> None:
    blobs = BlobStore(tmp_path)
    ref = blobs.put_bytes(b"body")
    assert not blobs.delete_if_older(ref.hash, time.time() - 60)
    old = time.time() - 7200
    os.utime(blobs.path_of(ref.hash), (old, old))
    blobs.put_bytes(b"body")  # a new delivery of the same body refreshes it
    assert not blobs.delete_if_older(ref.hash, time.time() - 60)
    assert blobs.delete_if_older(ref.hash, time.time() + 1)
    assert not blobs.exists(ref.hash)
