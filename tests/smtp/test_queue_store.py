"""The queue's rows on both backends: durable enqueue, claims, outcomes, blob references."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from postbus.smtp import queue as smtp_queue
from postbus.store import Store
from postbus.store import queue as q

MESSAGE = b"From: alice@local.test\r\nTo: bob@remote.test\r\nSubject: hi\r\n\r\nHello\r\n"
T0 = 1_700_000_000


async def test_enqueue_claim_and_finish(store: Store) -> None:
    queue_id = await smtp_queue.enqueue(
        store,
        "alice@local.test",
        ["bob@Remote.TEST", "carol@other.test", "bob@Remote.TEST"],
        MESSAGE,
        now=T0,
    )
    rows = await store.read(lambda tx: q.get_message(tx, queue_id))
    assert [(r.recipient, r.domain, r.state) for r in rows] == [
        ("bob@Remote.TEST", "remote.test", q.State.QUEUED),
        ("carol@other.test", "other.test", q.State.QUEUED),
    ]
    assert await store.read_blob(rows[0].blob_hash) == MESSAGE
    assert rows[0].size == len(MESSAGE) and rows[0].created == T0

    assert await store.write(lambda tx: q.claim(tx, T0 - 1, T0 + 600, 10)) == []
    claimed = await store.write(lambda tx: q.claim(tx, T0, T0 + 600, 10))
    assert {c.state for c in claimed} == {q.State.DELIVERING}
    # Claimed rows are leased: nobody else gets them until the lease ends.
    assert await store.write(lambda tx: q.claim(tx, T0 + 599, T0 + 1200, 10)) == []
    assert await store.read(q.next_due) == T0 + 600

    bob, carol = claimed
    outcomes = [
        q.Outcome(bob.id, q.State.SENT, "250 ok"),
        q.Outcome(carol.id, q.State.QUEUED, "451 later", T0 + 300),
    ]
    assert await store.write(lambda tx: q.record(tx, outcomes, T0)) == []
    rows = await store.read(lambda tx: q.get_message(tx, queue_id))
    assert [(r.state, r.attempts, r.next_attempt) for r in rows] == [
        (q.State.SENT, 1, T0),
        (q.State.QUEUED, 1, T0 + 300),
    ]
    assert rows[1].last_error == "451 later"

    again = await store.write(lambda tx: q.claim(tx, T0 + 300, T0 + 900, 10))
    assert [c.id for c in again] == [carol.id]
    removed = await store.write(
        lambda tx: q.record(tx, [q.Outcome(carol.id, q.State.FAILED, "550 no")], T0 + 300)
    )
    assert removed == [queue_id]
    assert await store.read(q.list_all) == []
    assert await store.read(q.next_due) is None


async def test_lapsed_lease_is_claimed_again(store: Store) -> None:
    await smtp_queue.enqueue(store, "a@local.test", ["b@remote.test"], MESSAGE, now=T0)
    first = await store.write(lambda tx: q.claim(tx, T0, T0 + 60, 10))
    # The worker died: after the lease, another claims it.
    second = await store.write(lambda tx: q.claim(tx, T0 + 60, T0 + 120, 10))
    assert [r.id for r in first] == [r.id for r in second]


async def test_claim_limit_and_order(store: Store) -> None:
    for n in range(5):
        await smtp_queue.enqueue(
            store, "a@local.test", [f"r{n}@remote.test"], MESSAGE, now=T0 + 10 - n
        )
    claimed = await store.write(lambda tx: q.claim(tx, T0 + 10, T0 + 100, 3))
    # The longest-waiting first (returned in id order).
    assert {c.recipient for c in claimed} == {"r4@remote.test", "r3@remote.test", "r2@remote.test"}


async def test_concurrent_claims_never_share_a_row(store: Store) -> None:
    for n in range(20):
        await smtp_queue.enqueue(store, "a@local.test", [f"r{n}@remote.test"], MESSAGE, now=T0)
    batches = await asyncio.gather(
        *(store.write(lambda tx: q.claim(tx, T0, T0 + 100, 3)) for _ in range(10))
    )
    ids = [row.id for batch in batches for row in batch]
    assert len(ids) == len(set(ids)) == 20


async def test_queued_body_survives_garbage_collection(store: Store) -> None:
    queue_id = await smtp_queue.enqueue(store, "a@local.test", ["b@remote.test"], MESSAGE)
    [row] = await store.read(lambda tx: q.get_message(tx, queue_id))
    collected = await store.collect_garbage(grace=-10)  # everything unreferenced is old
    assert collected.rows == 0 and await store.read_blob(row.blob_hash) == MESSAGE
    assert await smtp_queue.delete(store, [queue_id]) == 1
    await store.collect_garbage(grace=-10)
    with pytest.raises(FileNotFoundError):
        await store.read_blob(row.blob_hash)


async def test_retry_and_delete(store: Store) -> None:
    one = await smtp_queue.enqueue(store, "a@local.test", ["b@remote.test"], MESSAGE, now=T0)
    two = await smtp_queue.enqueue(store, "a@local.test", ["c@remote.test"], MESSAGE, now=T0)
    claimed = await store.write(lambda tx: q.claim(tx, T0, T0 + 60, 10))
    await store.write(
        lambda tx: q.record(
            tx, [q.Outcome(c.id, q.State.QUEUED, "451", T0 + 3600) for c in claimed], T0
        )
    )
    assert await smtp_queue.retry(store, [one], now=T0 + 5) == 1
    due = await store.write(lambda tx: q.claim(tx, T0 + 5, T0 + 65, 10))
    assert [d.message_id for d in due] == [one]
    assert await smtp_queue.retry(store, None, now=T0 + 6) == 1  # two; one is delivering
    assert await smtp_queue.delete(store, [one, two, 999]) == 2
    assert await smtp_queue.list_queue(store) == []


async def test_enqueue_refuses_what_cannot_be_routed(store: Store) -> None:
    for bad in ([], ["nobody"], ["@remote.test"], ["bob@"]):
        with pytest.raises(ValueError):
            await smtp_queue.enqueue(store, "a@local.test", bad, MESSAGE)
    assert await smtp_queue.list_queue(store) == []


async def test_queue_survives_a_restart(
    backend: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    from tests.conftest import open_test_store, reopen_test_store

    dsn = request.getfixturevalue("pg_dsn") if backend == "postgres" else None
    first = await open_test_store(backend, tmp_path, dsn)
    queue_id = await smtp_queue.enqueue(first, "a@local.test", ["b@remote.test"], MESSAGE, now=T0)
    await first.write(lambda tx: q.claim(tx, T0, T0 + 60, 10))  # in flight when it "crashed"
    await first.close()
    second = await reopen_test_store(backend, tmp_path, dsn)
    try:
        [row] = await second.read(lambda tx: q.get_message(tx, queue_id))
        assert row.state is q.State.DELIVERING
        assert await second.read_blob(row.blob_hash) == MESSAGE
        [again] = await second.write(lambda tx: q.claim(tx, T0 + 60, T0 + 120, 10))
        assert again.id == row.id
    finally:
        await second.close()
