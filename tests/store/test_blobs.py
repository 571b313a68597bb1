"""Content-addressed, compressed, durable message bodies."""

from __future__ import annotations

import hashlib
import io
import os
import time
import tracemalloc
from pathlib import Path

import pytest

from postbus.store import blobs as blobs_module
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


def test_a_taken_temporary_name_is_not_overwritten(tmp_path: Path) -> None:
    blobs = BlobStore(tmp_path)
    # The next few names this process would pick, taken (a crashed run, another machine).
    upcoming = next(blobs_module._temp_counter) + 1
    taken = [Path(f"{blobs._tmp_prefix}{n}.part") for n in range(upcoming, upcoming + 5)]
    for path in taken:
        path.write_bytes(b"someone else's half message")
    ref = blobs.put_bytes(b"Subject: mine\r\n\r\nbody\r\n")
    assert blobs.read(ref.hash) == b"Subject: mine\r\n\r\nbody\r\n"
    assert all(path.read_bytes() == b"someone else's half message" for path in taken)


def test_publish_deduplicates_without_renameat2(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Systems without renameat2 (or file systems refusing RENAME_NOREPLACE) stat, then rename.
    monkeypatch.setattr(blobs_module, "_RENAMEAT2", None)
    blobs = BlobStore(tmp_path)
    first = blobs.put_bytes(b"same body")
    old = time.time() - 7200
    os.utime(blobs.path_of(first.hash), (old, old))
    assert blobs.put_bytes(b"same body") == first
    assert blobs.path_of(first.hash).stat().st_mtime > old  # refreshed for the collector
    assert list(blobs.stored_hashes()) == [first.hash]
    assert not list((tmp_path / "tmp").iterdir())


def test_publish_deduplicates_a_group_holding_one_body_twice(tmp_path: Path) -> None:
    blobs = BlobStore(tmp_path)
    pending = [blobs.write_bytes(b"twice"), blobs.write_bytes(b"twice")]
    blobs.publish(pending)
    assert list(blobs.stored_hashes()) == [pending[0].ref.hash]
    assert blobs.read(pending[0].ref.hash) == b"twice"
    assert not list((tmp_path / "tmp").iterdir())
