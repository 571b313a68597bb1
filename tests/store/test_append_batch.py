"""Batched appends (the import path): order, threads, counters, quota and index, on both
backends, with bodies prepared in worker processes."""

from __future__ import annotations

import asyncio

import pytest

from postbus.store import OverQuota, Store, appending
from postbus.store.events import EventKind
from postbus.store.models import Account
from tests.store.test_messages import folder, message


def reply(subject: str, parent: str) -> bytes:
    return message(subject, In_Reply_To=parent, References=parent)


async def test_a_batch_gets_consecutive_uids_one_modseq_and_counters(
    store: Store, account: Account
) -> None:
    inbox = await folder(store, account)
    await store.append(account.id, inbox, message("before"))
    batch = [
        (message("one"), (), 1_700_000_000),
        (message("two"), ("\\Seen", "$Important"), None),
        (message("three"), ("\\Flagged",), None),
    ]
    with store.events.subscribe(account.id) as subscription:
        placed = await store.append_batch(account.id, inbox, batch)
        event = await asyncio.wait_for(subscription.get(), 2)
        if event.uids == (1,):  # PostgreSQL's NOTIFY of the earlier append, late
            event = await asyncio.wait_for(subscription.get(), 2)
    assert (event.kind, event.uids) == (EventKind.NEW, (2, 3, 4))
    assert [p.uid for p in placed] == [2, 3, 4]
    assert len({p.modseq for p in placed}) == 1
    box = await store.get_mailbox(account.id, "INBOX")
    assert (box.message_count, box.unseen_count, box.uidnext) == (4, 3, 5)
    assert box.total_bytes == sum(len(m) for m in (message("before"), *(b[0] for b in batch)))
    listed = {m.subject: m for m in await store.newest(account.id, inbox)}
    assert listed["one"].received == 1_700_000_000
    assert listed["two"].flags == ("\\Seen", "$Important")
    assert await store.read_body(account.id, placed[2].message_id) == message("three")
    # small bodies live in the database: no file, and no temporary file left behind
    assert not list(store.blobs.stored_hashes())
    assert not list(store.blobs.root.glob("tmp/*.part"))


async def test_replies_in_the_same_batch_join_their_parents_thread(
    store: Store, account: Account
) -> None:
    inbox = await folder(store, account)
    earlier = await store.append(account.id, inbox, message("old thread"))
    old_id = f"<{abs(hash('old thread'))}@example.net>"
    new_id = f"<{abs(hash('new thread'))}@example.net>"
    placed = await store.append_batch(account.id, inbox, [
        (message("new thread"), (), None),
        (reply("Re: new thread", new_id), (), None),
        (reply("Re: old thread", old_id), (), None),
        (message("alone"), (), None),
    ])
    threads = {m.subject: m.thread_id for m in await store.newest(account.id, inbox)}
    assert threads["new thread"] == placed[0].message_id
    assert threads["Re: new thread"] == placed[0].message_id
    assert threads["Re: old thread"] == threads["old thread"] == earlier.message_id
    assert threads["alone"] == placed[3].message_id


async def test_a_batch_over_quota_stores_nothing(store: Store, account: Account) -> None:
    inbox = await folder(store, account)
    await store.update_account(account.id, quota_messages=2)
    with pytest.raises(OverQuota):
        await store.append_batch(
            account.id, inbox, [(message(f"m{i}"), (), None) for i in range(3)]
        )
    box = await store.get_mailbox(account.id, "INBOX")
    assert (box.message_count, box.uidnext, box.total_bytes) == (0, 1, 0)
    placed = await store.append_batch(
        account.id, inbox, [(message(f"m{i}"), (), None) for i in range(2)]
    )
    assert [p.uid for p in placed] == [1, 2]


async def test_batched_messages_are_found_by_words(store: Store, account: Account) -> None:
    inbox = await folder(store, account)
    await store.append_batch(account.id, inbox, [
        (message("Vergadering", "De agenda voor één uur."), (), None),
        (message("Lunch", "Pizza at noon."), (), None),
    ])
    hits = await store.search(account.id, "een agenda")
    assert len(hits) == 1
    assert await store.search(account.id, "pizza")


async def test_an_empty_batch_is_nothing(store: Store, account: Account) -> None:
    assert await store.append_batch(account.id, await folder(store, account), []) == []


async def test_a_big_import_renews_the_planners_statistics(
    store: Store, account: Account, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(appending, "ANALYZE_AFTER", 3)
    inbox = await folder(store, account)

    async def batches():
        for n in range(2):
            yield [(message(f"batch {n} message {i}"), (), None) for i in range(2)]

    async for _ in store.append_batches(account.id, inbox, batches()):
        pass
    if store.dialect == "postgres":
        analyzed = await store.read(lambda tx: tx.fetchval(
            "SELECT last_analyze FROM pg_stat_user_tables WHERE relname = 'messages'"))
        assert analyzed is not None
    assert (await store.get_mailbox(account.id, "INBOX")).message_count == 4
