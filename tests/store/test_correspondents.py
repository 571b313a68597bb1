"""Address suggestions from an account's own mail, on both backends."""

from __future__ import annotations

from hashlib import sha256

import pytest

from postbus.store import Store, correspondents
from postbus.store.db import Tx
from postbus.store.models import Account


def mail(sender: str, to: str = "me@example.org", cc: str = "", n: int = 0) -> bytes:
    lines = [f"From: {sender}", f"To: {to}"] + ([f"Cc: {cc}"] if cc else []) + [
        f"Subject: note {n}",
        "Date: Tue, 24 Nov 2026 10:00:00 +0100",
        f"Message-ID: <{abs(hash((sender, to, cc, n)))}.{n}@example.net>",
        "MIME-Version: 1.0", "Content-Type: text/plain; charset=utf-8", "", "Hi.", "",
    ]
    return "\r\n".join(lines).encode()


async def mailbox(store: Store, account: Account, special: str, name: str) -> int:
    found = await store.special_mailbox(account.id, special)
    if found is None:
        found = await store.create_mailbox(account.id, name, special)
    return found.id


async def setup(store: Store) -> tuple[Account, Account]:
    await store.add_domain("example.org")
    me = await store.add_account("me@example.org", "hash")
    other = await store.add_account("other@example.org", "hash")
    inbox = (await store.get_mailbox(me.id, "INBOX")).id
    sent = await mailbox(store, me, "\\Sent", "Sent")
    junk = await mailbox(store, me, "\\Junk", "Junk")
    # Anna wrote three times, Annet once (later); Bob once; a spammer named Anne in Junk.
    for n in range(3):
        await store.append(me.id, inbox, mail("Anna de Vries <anna@example.net>", n=n),
                           received=1000 + n)
    await store.append(me.id, inbox, mail("Annet Bakker <annet@example.com>", n=9),
                       received=5000)
    await store.append(me.id, inbox, mail("Bob Jansen <bob@example.net>"), received=2000)
    await store.append(me.id, junk, mail("Anne Spam <anne@spam.test>"), received=6000)
    # I wrote to Pieter (To) and to Annemarie (Cc), and to myself (never suggested).
    await store.append(me.id, sent, mail("Me <me@example.org>", "Pieter Anker <pieter@example.net>",
                                         "annemarie@example.com, me@example.org"), received=3000)
    # The other account knows an "Anton" that I must never see.
    other_inbox = (await store.get_mailbox(other.id, "INBOX")).id
    await store.append(other.id, other_inbox, mail("Anton <anton@example.net>",
                                                   "other@example.org"), received=7000)
    return me, other


async def test_prefix_of_address_or_name_most_frequent_first(store: Store) -> None:
    me, _other = await setup(store)
    found = await store.correspondents(me.id, "ann")
    assert [c.address for c in found] == [
        "anna@example.net", "annet@example.com", "annemarie@example.com"]
    assert found[0].name == "Anna de Vries"
    assert found[0].count == 3
    # a word of the name, any case; received and sent alike
    assert [c.address for c in await store.correspondents(me.id, "ANK")] == ["pieter@example.net"]
    assert [c.address for c in await store.correspondents(me.id, "jan")] == ["bob@example.net"]
    assert [c.address for c in await store.correspondents(me.id, "pie")] == ["pieter@example.net"]


async def test_junk_own_addresses_and_other_accounts_are_left_out(store: Store) -> None:
    me, other = await setup(store)
    assert "anne@spam.test" not in [c.address for c in await store.correspondents(me.id, "anne")]
    assert await store.correspondents(me.id, "me@") == []
    assert await store.correspondents(me.id, "anton") == []
    assert [c.address for c in await store.correspondents(other.id, "an")] == ["anton@example.net"]
    assert await store.correspondents(other.id, "bob") == []


async def test_like_wildcards_are_plain_text_and_limit_holds(store: Store) -> None:
    me, _other = await setup(store)
    assert await store.correspondents(me.id, "%") == []
    assert await store.correspondents(me.id, "_nna") == []
    assert await store.correspondents(me.id, "") == []
    assert len(await store.correspondents(me.id, "a", limit=2)) == 2


async def test_a_batch_counts_each_message_and_keeps_the_newest_name(store: Store) -> None:
    me, _other = await setup(store)
    inbox = (await store.get_mailbox(me.id, "INBOX")).id
    drafts = await mailbox(store, me, "\\Drafts", "Drafts")
    await store.append_batch(me.id, inbox, [
        (mail("Grace Hopper <GRACE@example.net>", n=1), (), 8000),
        (mail("G. Hopper <grace@example.net>", n=2), (), 7000),  # older: its name loses
        (mail("José Núñez <jose@example.es>", n=3), (), 7500),
    ])
    # a draft is not correspondence, in any field
    await store.append(me.id, drafts, mail("Gretchen <gretchen@example.net>",
                                           "Greta <greta@example.net>",
                                           "Gregor <gregor@example.net>"), received=9000)
    found = await store.correspondents(me.id, "gr")
    assert [(c.address, c.name, c.count, c.last) for c in found] == [
        ("grace@example.net", "Grace Hopper", 2, 8000)]
    # accents and case fold, in the name and in what is typed
    assert [c.address for c in await store.correspondents(me.id, "nunez")] == ["jose@example.es"]
    assert [c.address for c in await store.correspondents(me.id, "NÚÑ")] == ["jose@example.es"]
    # sent mail to Anna counts with her received mail, and names her as I wrote it
    sent = await mailbox(store, me, "\\Sent", "Sent")
    await store.append(me.id, sent, mail("Me <me@example.org>", '"Anna (work)" <ANNA@example.net>'),
                       received=9500)
    anna = (await store.correspondents(me.id, "anna"))[0]
    assert (anna.address, anna.name, anna.count, anna.last) == (
        "anna@example.net", "Anna (work)", 4, 9500)


async def test_the_migration_fills_the_table_from_stored_mail(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    me, other = await setup(store)
    inbox = (await store.get_mailbox(me.id, "INBOX")).id
    trash = await mailbox(store, me, "\\Trash", "Trash")
    sent = await mailbox(store, me, "\\Sent", "Sent")
    await store.copy(me.id, inbox, trash, [(1, 1)])  # in two folders: still one message
    await store.append(me.id, sent, mail("Me <me@example.org>", "Pieter <PIETER@example.net>",
                                         n=5), received=3500)
    monkeypatch.setattr(correspondents, "FILL_BATCH", 1)  # the sent mail in pages of one
    prefixes = ("a", "ann", "pie", "jan", "b", "me@")
    appended = {p: await store.correspondents(me.id, p) for p in prefixes}
    theirs = await store.correspondents(other.id, "an")

    async def refill(tx: Tx) -> None:
        await tx.execute("DELETE FROM correspondents")
        await correspondents.fill(tx)

    await store.write(refill)
    assert {p: await store.correspondents(me.id, p) for p in prefixes} == appended
    assert await store.correspondents(other.id, "an") == theirs
    assert appended["ann"][0].count == 3
    assert [(c.name, c.count) for c in appended["pie"]] == [("Pieter", 2)]


async def test_a_removed_account_leaves_no_correspondents(store: Store) -> None:
    me, other = await setup(store)

    async def rows(tx: Tx) -> list[tuple[int, int]]:
        found = await tx.fetch("SELECT account_id, COUNT(*) FROM correspondents"
                               " GROUP BY account_id ORDER BY account_id")
        return [(row[0], row[1]) for row in found]

    assert await store.read(rows) == [(me.id, 6), (other.id, 1)]
    await store.remove_account(other.id)
    assert await store.read(rows) == [(me.id, 6)]


async def test_overlong_names_and_addresses_never_refuse_a_message(store: Store) -> None:
    me, _other = await setup(store)
    inbox = (await store.get_mailbox(me.id, "INBOX")).id
    # 5,400 characters that do not compress: beyond what a PostgreSQL index entry holds
    long_name = "Zebedeüs " + " ".join(sha256(str(n).encode()).hexdigest()[:8] for n in range(600))
    await store.append(me.id, inbox, mail(f'"{long_name}" <zeb@example.net>', n=1))
    await store.append(me.id, inbox, mail(f"Long <{'z' * 400}@example.net>", n=2))
    found = await store.correspondents(me.id, "zebedeus")
    assert [c.address for c in found] == ["zeb@example.net"]
    assert len(found[0].name) == correspondents.MAX_NAME
    assert await store.correspondents(me.id, "zz") == []
