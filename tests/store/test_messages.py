"""Appending, listing, flagging, copying, moving, expunging and searching, on both backends."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pytest

from postbus.store import NotFound, OverQuota, Store
from postbus.store.blobs import INLINE_MAX
from postbus.store.events import EventKind
from postbus.store.messages import uid_condition
from postbus.store.models import Account


def message(subject: str, body: str = "Hello.", **headers: str) -> bytes:
    lines = [
        "From: Anna de Vries <anna@example.net>",
        "To: a@example.org",
        f"Subject: {subject}",
        "Date: Tue, 24 Nov 2026 10:00:00 +0100",
        f"Message-ID: <{abs(hash(subject))}@example.net>",
    ]
    lines += [f"{name.replace('_', '-')}: {value}" for name, value in headers.items()]
    lines += ["MIME-Version: 1.0", "Content-Type: text/plain; charset=utf-8", "", body, ""]
    return "\r\n".join(lines).encode()


async def folder(store: Store, account: Account, name: str = "INBOX") -> int:
    return (await store.get_mailbox(account.id, name)).id


async def test_append_assigns_uids_and_keeps_counters(store: Store, account: Account) -> None:
    inbox = await folder(store, account)
    first = await store.append(account.id, inbox, message("one"))
    second = await store.append(account.id, inbox, message("two"), flags=["\\Seen"])
    assert (first.uid, second.uid) == (1, 2)
    assert second.modseq > first.modseq
    box = await store.get_mailbox(account.id, "INBOX")
    assert (box.message_count, box.unseen_count, box.uidnext) == (2, 1, 3)
    assert box.total_bytes == len(message("one")) + len(message("two"))
    listed = await store.newest(account.id, inbox)
    assert [m.subject for m in listed] == ["two", "one"]
    assert listed[0].from_email == "anna@example.net"
    assert listed[0].from_name == "Anna de Vries"
    assert listed[0].flags == ("\\Seen",)
    assert await store.read_body(account.id, first.message_id) == message("one")
    refreshed = await store.get_account(account.id)
    assert refreshed.used_messages == 2 and refreshed.used_bytes == box.total_bytes


async def test_append_from_a_spool_file(store: Store, account: Account, tmp_path: Path) -> None:
    spool = tmp_path / "spool.eml"
    spool.write_bytes(message("spooled"))
    appended = await store.append(account.id, await folder(store, account), spool)
    assert await store.read_body(account.id, appended.message_id) == message("spooled")


async def test_flags_change_counters_and_modseq(store: Store, account: Account) -> None:
    inbox = await folder(store, account)
    for n in range(3):
        await store.append(account.id, inbox, message(f"m{n}"))
    changed = await store.set_flags(account.id, inbox, [(1, 2)], ["\\Seen", "$Important"], "add")
    assert [(uid, flags) for uid, flags, _ in changed] == [
        (1, ("\\Seen", "$Important")),
        (2, ("\\Seen", "$Important")),
    ]
    assert (await store.get_mailbox(account.id, "INBOX")).unseen_count == 1
    again = await store.set_flags(account.id, inbox, [(1, 2)], ["\\Seen"], "add")
    assert again == []  # nothing changed, no new modseq
    removed = await store.set_flags(account.id, inbox, [(2, 2)], ["\\seen", "$important"], "remove")
    assert removed[0][1] == ()
    assert (await store.get_mailbox(account.id, "INBOX")).unseen_count == 2


@pytest.mark.parametrize("body_size", [10, INLINE_MAX + 1], ids=["in-database", "file"])
async def test_copy_shares_the_body_and_expunge_frees_it(
    store: Store, account: Account, body_size: int
) -> None:
    inbox = await folder(store, account)
    archive = await folder(store, account, "Archive")
    raw = message("keep me", "x" * body_size)
    appended = await store.append(account.id, inbox, raw)
    blob_hash = (await store.get_message(account.id, appended.message_id)).blob_hash
    assert len(list(store.blobs.stored_hashes())) == (body_size > INLINE_MAX)
    pairs = await store.copy(account.id, inbox, archive, [(1, 1)])
    assert pairs == [(1, 1)]
    await store.set_flags(account.id, inbox, [(1, 1)], ["\\Deleted"], "add")
    assert await store.expunge(account.id, inbox) == [1]
    archived = await store.newest(account.id, archive)
    assert archived[0].message_id == appended.message_id
    inbox_state = await store.get_mailbox(account.id, "INBOX")
    assert await store.expunged_since(account.id, inbox, inbox_state.highestmodseq - 1) == [1]
    await store.set_flags(account.id, archive, [(1, 1)], ["\\Deleted"], "add")
    await store.expunge(account.id, archive)
    with pytest.raises(NotFound):
        await store.get_message(account.id, appended.message_id)
    assert await store.read_blob(blob_hash) == raw  # kept until the grace period is over
    collected = await store.collect_garbage(grace=-10)
    assert (collected.rows, collected.files) == (1, body_size > INLINE_MAX)
    assert list(store.blobs.stored_hashes()) == []
    with pytest.raises(FileNotFoundError):
        await store.read_blob(blob_hash)
    assert (await store.get_account(account.id)).used_bytes == 0


async def test_expunging_many_at_once_releases_each_reference(
    store: Store, account: Account
) -> None:
    inbox = await folder(store, account)
    twice = message("the same body", "zeppelin")
    for raw in (twice, twice, message("another body", "zeppelin")):  # two rows, one body
        await store.append(account.id, inbox, raw)
    await store.set_flags(account.id, inbox, [(1, 3)], ["\\Deleted"], "add")
    assert await store.expunge(account.id, inbox) == [1, 2, 3]
    assert await store.search(account.id, "zeppelin") == []
    collected = await store.collect_garbage(grace=-10)
    assert collected.rows == 2  # the shared body lost both references
    assert (await store.get_account(account.id)).used_bytes == 0


async def test_move_is_copy_plus_expunge(store: Store, account: Account) -> None:
    inbox = await folder(store, account)
    trash = await folder(store, account, "Trash")
    for n in range(3):
        await store.append(account.id, inbox, message(f"m{n}"))
    assert await store.move(account.id, inbox, trash, [(2, 3)]) == [(2, 1), (3, 2)]
    assert [m.uid for m in await store.newest(account.id, inbox)] == [1]
    box = await store.get_mailbox(account.id, "Trash")
    assert (box.message_count, box.uidnext) == (2, 3)


async def test_uid_expunge_only_touches_given_uids(store: Store, account: Account) -> None:
    inbox = await folder(store, account)
    for n in range(3):
        await store.append(account.id, inbox, message(f"m{n}"))
    await store.set_flags(account.id, inbox, [(1, 3)], ["\\Deleted"], "add")
    assert await store.expunge(account.id, inbox, [(2, 2)]) == [2]
    assert [m.uid for m in await store.newest(account.id, inbox)] == [3, 1]


async def test_quota_is_enforced(store: Store, account: Account) -> None:
    small = await store.add_account("small@example.org", "hash", quota_messages=1)
    inbox = await folder(store, small)
    await store.append(small.id, inbox, message("first"))
    with pytest.raises(OverQuota):
        await store.append(small.id, inbox, message("second"))
    box = await store.get_mailbox(small.id, "INBOX")
    assert box.message_count == 1  # the refused append left nothing behind


async def test_threads_follow_references(store: Store, account: Account) -> None:
    inbox = await folder(store, account)
    root = message("Plan")
    await store.append(account.id, inbox, root)
    reply = message("Re: Plan", In_Reply_To=f"<{abs(hash('Plan'))}@example.net>")
    await store.append(account.id, inbox, reply)
    other = message("Unrelated")
    await store.append(account.id, inbox, other)
    listed = {m.subject: m.thread_id for m in await store.newest(account.id, inbox)}
    assert listed["Plan"] == listed["Re: Plan"] != listed["Unrelated"]


async def test_full_text_search_folds_case_and_accents(store: Store, account: Account) -> None:
    inbox = await folder(store, account)
    await store.append(account.id, inbox, message("Vergadering", "Het duurt één uur."))
    await store.append(account.id, inbox, message("Lunch", "Broodjes om twaalf."))
    await store.append(account.id, await folder(store, account, "Archive"),
                       message("Oud", "Nog een uur over."))
    hits = await store.search(account.id, "EEN uur")
    assert len(hits) == 2
    in_inbox = await store.search(account.id, "een", mailbox_id=inbox)
    assert [(hit.mailbox_id, hit.summary.uid) for hit in in_inbox] == [(inbox, 1)]
    assert await store.search(account.id, "vergadering") != []  # the subject is indexed too
    assert await store.search(account.id, 'broodjes" (*^') != []  # query syntax stays text
    assert await store.search(account.id, "   ") == []


async def test_search_never_crosses_accounts(store: Store, account: Account) -> None:
    other = await store.add_account("b@example.org", "hash")
    await store.append(other.id, await folder(store, other), message("Geheim", "zeppelin"))
    assert await store.search(account.id, "zeppelin") == []
    assert len(await store.search(other.id, "zeppelin")) == 1


async def test_events_arrive_after_commit(store: Store, account: Account) -> None:
    inbox = await folder(store, account)
    with store.events.subscribe(account.id) as subscription:
        await store.append(account.id, inbox, message("ping"))
        event = await asyncio.wait_for(subscription.get(), 2)
        assert (event.kind, event.mailbox_id, event.uids) == (EventKind.NEW, inbox, (1,))
        await store.set_flags(account.id, inbox, [(1, 1)], ["\\Flagged"], "add")
        event = await asyncio.wait_for(subscription.get(), 2)
        assert event.kind is EventKind.FLAGS


async def test_a_change_to_thousands_of_messages_reaches_subscribers(
    store: Store, account: Account
) -> None:
    # On PostgreSQL the events travel as NOTIFY payloads, at most 8,000 octets each.
    inbox = await folder(store, account)
    batch = [(message(f"bulk {n}"), (), None) for n in range(2000)]
    with store.events.subscribe(account.id) as subscription:
        await store.append_batch(account.id, inbox, batch)
        event = await asyncio.wait_for(subscription.get(), 5)
        assert (event.kind, event.uids) == (EventKind.NEW, tuple(range(1, 2001)))
        every_other = [(uid, uid) for uid in range(1, 2001, 2)]
        await store.set_flags(account.id, inbox, every_other, ["\\Seen"], "add")
        flagged: set[int] = set()
        while len(flagged) < 1000:
            event = await asyncio.wait_for(subscription.get(), 5)
            assert event.kind is EventKind.FLAGS
            flagged.update(event.uids)
        assert flagged == set(range(1, 2001, 2))


async def test_a_whole_big_folder_moves(store: Store, account: Account) -> None:
    # More messages than a statement may have parameters (32,767 in PostgreSQL's protocol).
    inbox = await folder(store, account)
    target = (await store.create_mailbox(account.id, "Kept")).id
    await store.append(account.id, inbox, message("many copies"))
    for _ in range(16):  # 2 ** 16 copies of one message
        await store.copy(account.id, inbox, inbox, [(1, 2**32 - 1)])
    moved = await store.move(account.id, inbox, target, [(1, 2**32 - 1)])
    assert len(moved) == 2**16
    boxes = [await store.get_mailbox(account.id, name) for name in ("INBOX", "Kept")]
    assert [box.message_count for box in boxes] == [0, 2**16]


async def test_parallel_appends_get_distinct_uids(store: Store, account: Account) -> None:
    inbox = await folder(store, account)
    results = await asyncio.gather(
        *(store.append(account.id, inbox, message(f"p{n}")) for n in range(40))
    )
    assert sorted(r.uid for r in results) == list(range(1, 41))
    box = await store.get_mailbox(account.id, "INBOX")
    assert (box.message_count, box.uidnext) == (40, 41)


async def test_remove_account_releases_bodies(store: Store, account: Account) -> None:
    inbox = await folder(store, account)
    small = await store.append(account.id, inbox, message("bye"))
    big = await store.append(account.id, inbox, message("bye", "x" * INLINE_MAX))
    hashes = [(await store.get_message(account.id, m.message_id)).blob_hash for m in (small, big)]
    await store.remove_account(account.id)
    collected = await store.collect_garbage(grace=-10)
    assert (collected.rows, collected.files) == (2, 1)
    for blob_hash in hashes:
        with pytest.raises(FileNotFoundError):
            await store.read_blob(blob_hash)


async def test_move_needs_no_quota_headroom(store: Store, account: Account) -> None:
    full = await store.add_account("full@example.org", "hash", quota_messages=2)
    inbox, archive = await folder(store, full), await folder(store, full, "Archive")
    await store.append(full.id, inbox, message("one"))
    await store.append(full.id, inbox, message("two"))
    with pytest.raises(OverQuota):
        await store.copy(full.id, inbox, archive, [(1, 1)])
    assert await store.move(full.id, inbox, archive, [(1, 1)]) == [(1, 1)]
    assert (await store.get_account(full.id)).used_messages == 2


ATTACHED = (
    b"From: a@example.net\r\nTo: a@example.org\r\nSubject: Stukken\r\nMIME-Version: 1.0\r\n"
    b'Content-Type: multipart/mixed; boundary="b"\r\n\r\n--b\r\nContent-Type: text/plain\r\n\r\n'
    b"Zie bijlage.\r\n--b\r\nContent-Type: application/pdf\r\n"
    b'Content-Disposition: attachment; filename="Jaarverslag-2026.pdf"\r\n'
    b"Content-Transfer-Encoding: base64\r\n\r\nJVBERi0xLjQK\r\n--b--\r\n"
)


async def test_attachment_file_names_are_found(store: Store, account: Account) -> None:
    inbox = await folder(store, account)
    await store.append(account.id, inbox, ATTACHED)
    assert len(await store.search(account.id, "jaarverslag")) == 1
    listed = await store.newest(account.id, inbox)
    assert listed[0].has_attachment


async def test_a_failed_batch_does_not_stop_later_writes(tmp_path: Path) -> None:
    """Another process holding the write lock past the timeout fails a batch, not the store."""
    import sqlite3

    from postbus.store import open_sqlite

    store = await open_sqlite(tmp_path / "db.sqlite3", tmp_path / "blobs")
    try:
        store.db._writer.execute("PRAGMA busy_timeout=50")  # type: ignore[attr-defined]
        blocker = sqlite3.connect(tmp_path / "db.sqlite3", isolation_level=None)
        blocker.execute("BEGIN IMMEDIATE")
        with pytest.raises(sqlite3.OperationalError):
            await store.add_domain("example.org")
        blocker.execute("ROLLBACK")
        blocker.close()
        assert (await store.add_domain("example.org")).name == "example.org"
    finally:
        await store.close()


async def test_an_append_waits_for_the_lock_off_the_event_loop(tmp_path: Path) -> None:
    """Single appends run their statements on the event loop (sqlite.py), but the BEGIN that
    may wait for another process's lock does not: the loop goes on meanwhile."""
    import sqlite3

    from postbus.store import open_sqlite

    store = await open_sqlite(tmp_path / "db.sqlite3", tmp_path / "blobs")
    try:
        await store.add_domain("example.org")
        account = await store.add_account("anna@example.org", "hash")
        inbox = await folder(store, account)
        blocker = sqlite3.connect(tmp_path / "db.sqlite3", isolation_level=None)
        blocker.execute("BEGIN IMMEDIATE")
        waiting = asyncio.ensure_future(store.append(account.id, inbox, message("waits")))
        started = time.monotonic()
        for _ in range(20):
            await asyncio.sleep(0.01)
        assert time.monotonic() - started < 2  # the loop was not held for the busy timeout
        assert not waiting.done()
        blocker.execute("ROLLBACK")
        blocker.close()
        assert (await waiting).uid == 1
        assert (await store.get_mailbox(account.id, "INBOX")).message_count == 1
    finally:
        await store.close()


def test_runs_of_single_uids_become_spans() -> None:
    condition, args = uid_condition([(5, 5), (1, 1), (2, 2), (3, 3), (9, 9), (10, 10),
                                     (20, 30)], 2, "sqlite")
    assert condition == "(uid IN ($2, $3, $4) OR uid BETWEEN $5 AND $6 OR uid BETWEEN $7 AND $8)"
    assert args == [5, 9, 10, 20, 30, 1, 3]
    _, args = uid_condition([(uid, uid) for uid in range(1, 100_001)], 2, "postgres")
    assert args == [1, 100_000]


async def test_thousands_of_scattered_uids_in_one_change(store: Store, account: Account) -> None:
    # As one parameter (MANY_SINGLES): one each would pass PostgreSQL's 32,767 in a big folder.
    inbox = await folder(store, account)
    await store.append(account.id, inbox, message("many copies"))
    for _ in range(11):  # 2 ** 11 copies of one message
        await store.copy(account.id, inbox, inbox, [(1, 2**32 - 1)])
    every_other = [(uid, uid) for uid in range(1, 2**11 + 1, 2)]
    changed = await store.set_flags(account.id, inbox, every_other, ["\\Deleted"], "add")
    assert sorted(uid for uid, _, _ in changed) == list(range(1, 2**11 + 1, 2))
    assert await store.expunge(account.id, inbox, every_other) == list(range(1, 2**11 + 1, 2))
    assert (await store.get_mailbox(account.id, "INBOX")).message_count == 2**10
