"""Conversations: a folder's threads page by page, and a whole thread across folders."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pytest

from postbus.store import NotFound, Store, threads
from postbus.store.db import Tx
from postbus.store.events import MailboxEvent
from postbus.store.models import Account


def mail(subject: str, msgid: str, sender: str = "Anna de Vries <anna@example.net>",
         refs: tuple[str, ...] = ()) -> bytes:
    lines = [
        f"From: {sender}",
        "To: a@example.org",
        f"Subject: {subject}",
        "Date: Tue, 24 Nov 2026 10:00:00 +0100",
        f"Message-ID: <{msgid}>",
    ]
    if refs:
        lines += [f"In-Reply-To: <{refs[-1]}>", "References: " + " ".join(f"<{r}>" for r in refs)]
    lines += ["Content-Type: text/plain; charset=utf-8", "", f"About {subject}.", ""]
    return "\r\n".join(lines).encode()


async def box(store: Store, account: Account, name: str) -> int:
    return (await store.get_mailbox(account.id, name)).id


async def test_one_row_per_thread_newest_arrival_first(store: Store, account: Account) -> None:
    inbox = await box(store, account, "INBOX")
    await store.append(account.id, inbox, mail("Cabin", "c1@x"), ["\\Seen"], received=100)
    await store.append(account.id, inbox, mail("Invoice", "i1@x"), received=200)
    await store.append(account.id, inbox, mail("Re: Cabin", "c2@x", "Priya <priya@example.net>",
                                               ("c1@x",)), received=300)
    threads = await store.thread_page(account.id, inbox)
    assert [t.subject for t in threads] == ["Re: Cabin", "Invoice"]
    cabin = threads[0]
    assert (cabin.count, cabin.unread, cabin.newest_received) == (2, 1, 300)
    assert cabin.senders == ("Anna de Vries", "Priya")
    await store.set_flags(account.id, inbox, [(1, 3)], ["\\Seen"], "add")
    assert [t.unread for t in await store.thread_page(account.id, inbox)] == [0, 0]


async def test_thread_pages_never_repeat_a_thread(store: Store, account: Account) -> None:
    inbox = await box(store, account, "INBOX")
    for n in range(30):
        await store.append(account.id, inbox, mail(f"Topic {n}", f"t{n}@x"), received=n)
    # replies to every third topic arrive later, so those threads move up
    for n in range(0, 30, 3):
        await store.append(account.id, inbox, mail(f"Re: Topic {n}", f"r{n}@x",
                                                   refs=(f"t{n}@x",)), received=100 + n)
    seen: list[int] = []
    before = None
    while True:
        page = await store.thread_page(account.id, inbox, 7, before)
        if not page:
            break
        seen += [t.thread_id for t in page]
        before = page[-1].newest_uid
    assert len(seen) == len(set(seen)) == 30
    first = await store.thread_page(account.id, inbox, 10)
    assert [t.subject for t in first] == [f"Re: Topic {n}" for n in range(27, -1, -3)]


async def test_conversation_spans_folders_but_not_trash(store: Store, account: Account) -> None:
    inbox, sent = await box(store, account, "INBOX"), await box(store, account, "Sent")
    trash = await box(store, account, "Trash")
    first = await store.append(account.id, inbox, mail("Cabin", "c1@x"), received=100)
    await store.append(account.id, sent, mail("Re: Cabin", "c2@x", "Me <a@example.org>",
                                              ("c1@x",)), ["\\Seen"], received=200)
    await store.append(account.id, inbox, mail("Re: Cabin", "c3@x", refs=("c1@x", "c2@x")),
                       received=300)
    await store.append(account.id, trash, mail("Re: Cabin", "c4@x", refs=("c1@x",)),
                       received=400)
    await store.copy(account.id, inbox, sent, [(1, 1)])  # one message in two folders
    whole = await store.conversation(account.id, first.message_id, inbox)
    assert [(m.summary.received, m.mailbox_id) for m in whole] == [
        (100, inbox), (200, sent), (300, inbox)]
    from_trash = await store.conversation(account.id, first.message_id, trash)
    assert [m.summary.received for m in from_trash] == [100, 200, 300, 400]
    assert await store.thread_uids(account.id, inbox, [first.message_id]) == [1, 2]
    newest_two = await store.conversation(account.id, first.message_id, inbox, limit=2)
    assert [m.summary.received for m in newest_two] == [200, 300]


async def test_threads_of_another_account_stay_out(store: Store, account: Account) -> None:
    inbox = await box(store, account, "INBOX")
    other = await store.add_account("b@example.org", "hash")
    other_inbox = await box(store, other, "INBOX")
    mine = await store.append(account.id, inbox, mail("Cabin", "c1@x"))
    theirs = await store.append(other.id, other_inbox, mail("Re: Cabin", "c2@x", refs=("c1@x",)))
    assert [m.summary.message_id for m in
            await store.conversation(account.id, mine.message_id, inbox)] == [mine.message_id]
    assert await store.conversation(account.id, theirs.message_id, inbox) == []
    assert await store.thread_uids(account.id, inbox, [theirs.message_id]) == []
    with pytest.raises(NotFound):
        await store.thread_page(account.id, other_inbox)
    with pytest.raises(NotFound):
        await store.conversation(account.id, theirs.message_id, other_inbox)


class Recording:
    """The real transaction, keeping each statement it was given."""

    def __init__(self, tx: Tx) -> None:
        self.tx, self.dialect = tx, tx.dialect
        self.statements: list[tuple[str, tuple[Any, ...]]] = []

    async def fetch(self, sql: str, *args: Any) -> list[Any]:
        self.statements.append((sql, args))
        return await self.tx.fetch(sql, *args)

    async def fetchrow(self, sql: str, *args: Any) -> Any:
        self.statements.append((sql, args))
        return await self.tx.fetchrow(sql, *args)

    async def fetchval(self, sql: str, *args: Any) -> Any:
        self.statements.append((sql, args))
        return await self.tx.fetchval(sql, *args)

    async def execute(self, sql: str, *args: Any) -> None:
        raise AssertionError("a read wrote")

    async def executemany(self, sql: str, rows: Sequence[Sequence[Any]]) -> None:
        raise AssertionError("a read wrote")

    def notify(self, event: MailboxEvent) -> None:
        raise AssertionError("a read notified")


async def test_thread_queries_follow_the_thread_not_the_folder(
    store: Store, account: Account, backend: str
) -> None:
    """SQLite plans without statistics, the same for ten rows as for 500,000: no statement
    may read a folder or an account whole (that made a page of a big inbox take a second)."""
    if backend != "sqlite":
        pytest.skip("PostgreSQL plans from statistics; this pins SQLite's own plans")
    inbox, sent = await box(store, account, "INBOX"), await box(store, account, "Sent")
    first = await store.append(account.id, inbox, mail("Cabin", "c1@x"), received=100)
    await store.append(account.id, sent, mail("Re: Cabin", "c2@x", refs=("c1@x",)), received=200)
    await store.append(account.id, inbox, mail("Invoice", "i1@x"), received=300)

    async def run(tx: Tx) -> list[str]:
        recording = Recording(tx)
        await threads.thread_page(recording, account.id, inbox, 50)
        await threads.thread_page(recording, account.id, inbox, 50, 2)
        await threads.conversation(recording, account.id, first.message_id, inbox)
        await threads.thread_uids(recording, account.id, inbox, [first.message_id])
        plans = []
        for sql, args in recording.statements:
            for row in await tx.fetch("EXPLAIN QUERY PLAN " + sql, *args):
                plans.append(f"{row['detail']}  <- {sql}")
        return plans

    plans = await store.read(run)
    assert not [p for p in plans if p.startswith("SCAN ") and "CONSTANT ROW" not in p]
    assert not [p for p in plans if "memberships_modseq" in p or "messages_account_" in p]
    assert any("messages_thread" in p for p in plans)
