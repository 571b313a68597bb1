"""Address suggestions from an account's own mail, on both backends."""

from __future__ import annotations

from postbus.store import Store
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
