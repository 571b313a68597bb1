"""The subscription list: names that outlive their mailboxes (RFC 9051 §6.3.7, §6.3.8)."""

from __future__ import annotations

import pytest

from postbus.store import InvalidName, Store, schema, subscriptions
from postbus.store.db import Tx
from postbus.store.models import Account

DEFAULTS = ["Archive", "Drafts", "INBOX", "Junk", "Sent", "Trash"]


async def flags(store: Store, account: Account) -> dict[str, bool]:
    return {box.name: box.subscribed for box in await store.list_mailboxes(account.id)}


async def test_created_mailboxes_are_subscribed(store: Store, account: Account) -> None:
    assert await store.list_subscriptions(account.id) == DEFAULTS
    await store.create_mailbox(account.id, "Projects/Alpha")  # and its parent
    assert await store.list_subscriptions(account.id) == sorted(
        [*DEFAULTS, "Projects", "Projects/Alpha"])
    assert all((await flags(store, account)).values())


async def test_subscriptions_survive_delete(store: Store, account: Account) -> None:
    """RFC 3501 §6.3.6: the server MUST NOT unilaterally remove a name from the list."""
    box = await store.create_mailbox(account.id, "system-alerts")
    await store.delete_mailbox(account.id, box.id)
    assert "system-alerts" in await store.list_subscriptions(account.id)
    again = await store.create_mailbox(account.id, "system-alerts")
    assert again.subscribed


async def test_subscribe_a_name_without_mailbox(store: Store, account: Account) -> None:
    await store.subscribe(account.id, "Later/Maybe")
    await store.subscribe(account.id, "Later/Maybe")  # twice: no error (RFC 9051 §6.3.7)
    await store.subscribe(account.id, "inbox/Sub")  # INBOX is case-insensitive
    assert {"Later/Maybe", "INBOX/Sub"} <= set(await store.list_subscriptions(account.id))
    assert "Later/Maybe" not in await flags(store, account)  # no mailbox made
    await store.subscribe(account.id, "Later/Maybe", False)
    await store.subscribe(account.id, "Never", False)  # not subscribed: no error (§6.3.8)
    assert "Later/Maybe" not in await store.list_subscriptions(account.id)
    await store.subscribe(account.id, "Junk", False)
    assert (await flags(store, account))["Junk"] is False
    for bad in ("a//b", "star*", "tab\there"):
        with pytest.raises(InvalidName):
            await store.subscribe(account.id, bad)


async def test_rename_moves_the_subscriptions_of_the_children(
    store: Store, account: Account
) -> None:
    for name in ("Work/Alpha/Notes", "Work/Beta", "Workshop"):
        await store.create_mailbox(account.id, name)
    await store.subscribe(account.id, "Work/Beta", False)
    await store.subscribe(account.id, "Work/Gone")  # a name without a mailbox moves too
    await store.subscribe(account.id, "Jobs/Beta")  # already there: kept, no error
    await store.rename_mailbox(account.id, "Work", "Jobs")
    subscribed = set(await store.list_subscriptions(account.id))
    assert {"Jobs", "Jobs/Alpha", "Jobs/Alpha/Notes", "Jobs/Gone", "Jobs/Beta"} <= subscribed
    assert not {name for name in subscribed if name.startswith("Work/") or name == "Work"}
    assert "Workshop" in subscribed  # a sibling with the same start is not a child
    # RENAME into new parents: those are created, and subscribed like any CREATE
    await store.rename_mailbox(account.id, "Workshop", "Old/Shop")
    assert {"Old", "Old/Shop"} <= set(await store.list_subscriptions(account.id))


async def test_one_account_never_sees_another_s(store: Store, account: Account) -> None:
    other = await store.add_account("b@example.org", "hash")
    await store.subscribe(other.id, "Secret")
    assert "Secret" not in await store.list_subscriptions(account.id)
    await store.remove_account(other.id)

    async def left(tx: Tx) -> int:
        return await tx.fetchval(
            "SELECT COUNT(*) FROM subscriptions WHERE account_id = $1", other.id)

    assert await store.read(left) == 0


async def test_the_migration_fills_the_list_from_the_old_flags(
    store: Store, account: Account
) -> None:
    """Migration 10 as it runs on a database of schema 9: the subscribed column is the list."""
    await store.create_mailbox(account.id, "Projects/Alpha")

    async def back_to_schema_9(tx: Tx) -> None:
        await tx.execute("DROP TABLE subscriptions")
        await tx.execute(
            "UPDATE mailboxes SET subscribed = 0 WHERE account_id = $1"
            " AND name IN ('Junk', 'Projects')", account.id)

    async def migrate_10(tx: Tx) -> None:
        (number, steps), = [m for m in schema.MIGRATIONS if m[1] is subscriptions.MIGRATION]
        assert number == 10
        for step in steps[tx.dialect]:
            assert isinstance(step, str)
            for part in schema._ddl(step, tx.dialect):
                await tx.execute(part)

    await store.write(back_to_schema_9)
    await store.write(migrate_10)
    assert await store.list_subscriptions(account.id) == [
        "Archive", "Drafts", "INBOX", "Projects/Alpha", "Sent", "Trash"]
    assert (await flags(store, account))["Junk"] is False
