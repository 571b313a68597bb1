"""The folder tree: names are names, never paths."""

from __future__ import annotations

import pytest

from postbus.store import AlreadyExists, InvalidName, NotFound, Store
from postbus.store.models import Account


async def names(store: Store, account: Account) -> list[str]:
    return [m.name for m in await store.list_mailboxes(account.id)]


async def test_create_makes_parents(store: Store, account: Account) -> None:
    created = await store.create_mailbox(account.id, "Projects/2026/Budget")
    assert created.name == "Projects/2026/Budget"
    assert {"Projects", "Projects/2026", "Projects/2026/Budget"} <= set(await names(store, account))
    with pytest.raises(AlreadyExists):
        await store.create_mailbox(account.id, "Projects")


async def test_inbox_is_case_insensitive(store: Store, account: Account) -> None:
    assert (await store.get_mailbox(account.id, "inbox")).name == "INBOX"
    with pytest.raises(AlreadyExists):
        await store.create_mailbox(account.id, "Inbox")
    child = await store.create_mailbox(account.id, "inbox/Sub")
    assert child.name == "INBOX/Sub"


@pytest.mark.parametrize(
    "name", ["", "/", "a//b", "a/", "/abs", "star*", "per%cent", "tab\there", " lead", "x" * 1001]
)
async def test_bad_names_are_refused(store: Store, account: Account, name: str) -> None:
    with pytest.raises(InvalidName):
        await store.create_mailbox(account.id, name)


async def test_dot_dot_is_just_a_name(store: Store, account: Account) -> None:
    created = await store.create_mailbox(account.id, "../../etc")
    assert created.name == "../../etc"
    assert created.account_id == account.id


async def test_rename_moves_children_and_keeps_uidvalidity(store: Store, account: Account) -> None:
    parent = await store.create_mailbox(account.id, "Work/Old")
    renamed = await store.rename_mailbox(account.id, "Work", "Jobs")
    assert renamed.uidvalidity == (await store.get_mailbox(account.id, "Jobs")).uidvalidity
    assert "Jobs/Old" in await names(store, account)
    assert (await store.get_mailbox(account.id, "Jobs/Old")).id == parent.id
    with pytest.raises(InvalidName):
        await store.rename_mailbox(account.id, "Jobs", "Jobs/Inside")
    with pytest.raises(InvalidName):
        await store.rename_mailbox(account.id, "INBOX", "Elsewhere")


async def test_delete_rules(store: Store, account: Account) -> None:
    inbox = await store.get_mailbox(account.id, "INBOX")
    with pytest.raises(InvalidName):
        await store.delete_mailbox(account.id, inbox.id)
    parent = await store.create_mailbox(account.id, "A/B")
    a = await store.get_mailbox(account.id, "A")
    with pytest.raises(InvalidName):
        await store.delete_mailbox(account.id, a.id)
    await store.delete_mailbox(account.id, parent.id)
    await store.delete_mailbox(account.id, a.id)
    assert "A" not in await names(store, account)


async def test_recreated_name_gets_new_uidvalidity(store: Store, account: Account) -> None:
    first = await store.create_mailbox(account.id, "Temp")
    await store.delete_mailbox(account.id, first.id)
    second = await store.create_mailbox(account.id, "Temp")
    assert second.uidvalidity > first.uidvalidity


async def test_other_accounts_folders_are_unreachable(store: Store, account: Account) -> None:
    other = await store.add_account("b@example.org", "hash")
    theirs = await store.get_mailbox(other.id, "INBOX")
    with pytest.raises(NotFound):
        await store.newest(account.id, theirs.id)
    with pytest.raises(NotFound):
        await store.delete_mailbox(account.id, (await store.create_mailbox(other.id, "X")).id)
