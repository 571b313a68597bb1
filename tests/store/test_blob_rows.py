"""Small bodies in the database, big ones in files: stored, shared, read back and collected,
on both backends."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from postbus.store import NotFound, Store
from postbus.store.blobs import INLINE_MAX
from postbus.store.models import Account
from tests.conftest import open_test_store, reopen_test_store
from tests.store.test_messages import folder, message


async def _blob_hash(store: Store, account: Account, message_id: int) -> str:
    return (await store.get_message(account.id, message_id)).blob_hash


async def _refcount(store: Store, blob_hash: str) -> int:
    return await store.read(
        lambda tx: tx.fetchval("SELECT refcount FROM blobs WHERE hash = $1", blob_hash)
    )


async def _kept(store: Store) -> int:
    return await store.read(lambda tx: tx.fetchval("SELECT COUNT(*) FROM blob_contents"))


async def test_a_small_body_is_kept_once_however_often_it_arrives(
    store: Store, account: Account
) -> None:
    inbox = await folder(store, account)
    raw = message("twice")
    first = await store.append(account.id, inbox, raw)
    second = await store.append(account.id, inbox, raw)
    blob_hash = await _blob_hash(store, account, first.message_id)
    assert await _blob_hash(store, account, second.message_id) == blob_hash
    assert (await _kept(store), await _refcount(store, blob_hash)) == (1, 2)
    assert not list(store.blobs.stored_hashes())
    assert await store.read_body(account.id, second.message_id) == raw
    assert await store.read_blob(blob_hash, 12) == raw[:12]


async def test_a_body_over_the_limit_is_a_file(store: Store, account: Account) -> None:
    inbox = await folder(store, account)
    at_limit = message("at", "")
    at_limit += b"x" * (INLINE_MAX - len(at_limit))
    over = at_limit + b"y"
    placed = [await store.append(account.id, inbox, raw) for raw in (at_limit, over)]
    hashes = [await _blob_hash(store, account, p.message_id) for p in placed]
    assert list(store.blobs.stored_hashes()) == [hashes[1]]
    assert await _kept(store) == 1
    assert [await store.read_blob(h) for h in hashes] == [at_limit, over]
    assert await store.read_blob(hashes[1], 5) == over[:5]


async def test_a_batch_writes_files_only_for_big_bodies(store: Store, account: Account) -> None:
    inbox = await folder(store, account)
    big = message("big", "z" * (2 * INLINE_MAX))
    placed = await store.append_batch(
        account.id, inbox, [(message("small"), (), None), (big, (), None)]
    )
    assert len(list(store.blobs.stored_hashes())) == 1 and await _kept(store) == 1
    assert await store.read_body(account.id, placed[1].message_id) == big
    assert not list(store.blobs.root.glob("tmp/*.part"))


async def test_a_small_body_spooled_to_a_file_goes_into_the_database(
    store: Store, account: Account, tmp_path: Path
) -> None:
    inbox = await folder(store, account)
    raw = message("spooled")
    spooled = tmp_path / "spooled.eml"
    spooled.write_bytes(raw)
    placed = await store.append(account.id, inbox, spooled)
    assert not list(store.blobs.stored_hashes()) and await _kept(store) == 1
    assert await store.read_body(account.id, placed.message_id) == raw


async def test_the_same_body_as_file_and_row_is_read_and_collected(
    store: Store, account: Account
) -> None:
    """A body stored as a file before migration 13 arrives again: both are kept, either reads."""
    inbox = await folder(store, account)
    raw = message("both ways")
    earlier = await asyncio.to_thread(store.blobs.put_bytes, raw)  # as the old code did
    first = await store.append(account.id, inbox, raw)
    second = await store.append(account.id, inbox, raw)
    blob_hash = await _blob_hash(store, account, first.message_id)
    assert await _blob_hash(store, account, second.message_id) == blob_hash == earlier.hash
    assert list(store.blobs.stored_hashes()) == [blob_hash] and await _kept(store) == 1
    assert await store.read_blob(blob_hash) == raw
    await store.set_flags(account.id, inbox, [(1, 2)], ["\\Deleted"], "add")
    await store.expunge(account.id, inbox)
    collected = await store.collect_garbage(grace=-10)
    assert (collected.rows, collected.files) == (1, 1)
    assert await _kept(store) == 0


async def test_a_body_referenced_again_is_not_collected(store: Store, account: Account) -> None:
    inbox = await folder(store, account)
    raw = message("again")
    await store.append(account.id, inbox, raw)
    await store.set_flags(account.id, inbox, [(1, 1)], ["\\Deleted"], "add")
    await store.expunge(account.id, inbox)
    again = await store.append(account.id, inbox, raw)  # before the collector runs
    collected = await store.collect_garbage(grace=-10)
    assert collected.rows == 0
    assert await store.read_body(account.id, again.message_id) == raw


async def test_the_gc_keeps_referenced_files_and_removes_strays(
    store: Store, account: Account
) -> None:
    inbox = await folder(store, account)
    raw = message("big", "x" * INLINE_MAX)
    kept = await store.append(account.id, inbox, raw)
    stray = store.blobs.write_bytes(b"a body whose transaction never committed")
    store.blobs.publish([stray])  # as a crash between the flush and the commit leaves it
    collected = await store.collect_garbage(grace=-10)
    assert (collected.rows, collected.files) == (0, 1)
    assert list(store.blobs.stored_hashes()) == [await _blob_hash(store, account, kept.message_id)]
    assert await store.read_body(account.id, kept.message_id) == raw


@pytest.mark.parametrize("body_size", [10, INLINE_MAX + 1], ids=["in-database", "file"])
async def test_a_body_is_read_by_its_own_account_only(
    store: Store, account: Account, body_size: int
) -> None:
    raw = message("mine", "x" * body_size)
    mine = await store.append(account.id, await folder(store, account), raw)
    assert await store.read_body(account.id, mine.message_id) == raw
    other = await store.add_account("b@example.org", "hash")
    with pytest.raises(NotFound):
        await store.read_body(other.id, mine.message_id)
    with pytest.raises(NotFound):
        await store.read_body(account.id, mine.message_id + 1000)


async def test_a_small_body_survives_a_reopen(
    backend: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    dsn = request.getfixturevalue("pg_dsn") if backend == "postgres" else None
    store = await open_test_store(backend, tmp_path, dsn)
    try:
        await store.add_domain("example.org")
        account = await store.add_account("a@example.org", "hash")
        inbox = await folder(store, account)
        placed = await store.append(account.id, inbox, message("durable"))
    finally:
        await store.close()
    reopened = await reopen_test_store(backend, tmp_path, dsn)
    try:
        assert await reopened.read_body(account.id, placed.message_id) == message("durable")
    finally:
        await reopened.close()


async def test_the_references_to_a_body_are_found_by_index(store: Store, backend: str) -> None:
    """What the foreign-key check runs when the GC removes a ``blobs`` row: without an index
    it read every message, 30 ms a body at 90,000 messages (SQLite's plan is fixed; a tiny
    PostgreSQL table is planned as a scan whatever the indexes, so only the index is checked
    there)."""
    if backend == "postgres":
        names = await store.read(lambda tx: tx.fetch(
            "SELECT indexname FROM pg_indexes WHERE indexname IN"
            " ('messages_blob', 'queue_messages_blob')"
        ))
        assert len(names) == 2
        return
    for table in ("messages", "queue_messages"):
        plan = await store.read(lambda tx, table=table: tx.fetch(
            f"EXPLAIN QUERY PLAN SELECT 1 FROM {table} WHERE blob_hash = $1", "x"
        ))
        assert [row["detail"] for row in plan] == [
            f"SEARCH {table} USING COVERING INDEX {table}_blob (blob_hash=?)"
        ]
