"""Domains, accounts and addresses, on both backends."""

from __future__ import annotations

import pytest

from postbus.store import AlreadyExists, InvalidName, LimitReached, NotFound, Store

DEFAULT_FOLDERS = [
    ("INBOX", None),
    ("Drafts", "\\Drafts"),
    ("Sent", "\\Sent"),
    ("Archive", "\\Archive"),
    ("Junk", "\\Junk"),
    ("Trash", "\\Trash"),
]


async def test_domain_lifecycle(store: Store) -> None:
    domain = await store.add_domain("Example.ORG.")
    assert domain.name == "example.org"
    assert [d.name for d in await store.list_domains()] == ["example.org"]
    with pytest.raises(AlreadyExists):
        await store.add_domain("example.org")
    await store.remove_domain("example.org")
    assert await store.list_domains() == []
    with pytest.raises(NotFound):
        await store.remove_domain("example.org")


@pytest.mark.parametrize("name", ["", "no_dots", "-bad.example", "a..b", "exa mple.org", "x.1"])
async def test_bad_domain_names_are_refused(store: Store, name: str) -> None:
    with pytest.raises(InvalidName):
        await store.add_domain(name)


async def test_new_account_gets_special_use_folders(store: Store) -> None:
    await store.add_domain("example.org")
    account = await store.add_account("Jan.Jansen@Example.org", "hash", quota_bytes=1000)
    assert account.address == "jan.jansen@example.org"
    assert account.quota_bytes == 1000
    folders = await store.list_mailboxes(account.id)
    assert [(f.name, f.special_use) for f in folders] == DEFAULT_FOLDERS
    assert all(f.uidnext == 1 and f.message_count == 0 for f in folders)
    assert len({f.uidvalidity for f in folders}) == len(folders)
    assert (await store.find_account("JAN.JANSEN@example.org")).id == account.id


async def test_account_needs_existing_domain_and_free_address(store: Store) -> None:
    with pytest.raises(NotFound):
        await store.add_account("a@nowhere.test", "hash")
    await store.add_domain("example.org")
    await store.add_account("a@example.org", "hash")
    with pytest.raises(AlreadyExists):
        await store.add_account("A@example.org", "hash")
    with pytest.raises(InvalidName):
        await store.add_account('"quoted"@example.org', "hash")


async def test_aliases_are_limited_and_unique(store: Store) -> None:
    await store.add_domain("example.org")
    await store.add_domain("example.net")
    owner = await store.add_account("owner@example.org", "hash")
    other = await store.add_account("other@example.org", "hash")
    await store.add_alias(owner.id, "info@example.org", max_addresses=3)
    await store.add_alias(owner.id, "owner@example.net", max_addresses=3)
    with pytest.raises(LimitReached):
        await store.add_alias(owner.id, "third@example.org", max_addresses=3)
    with pytest.raises(AlreadyExists):
        await store.add_alias(other.id, "info@example.org", max_addresses=3)
    addresses = await store.list_addresses(owner.id)
    assert [(a.address, a.is_primary) for a in addresses] == [
        ("owner@example.org", True),
        ("info@example.org", False),
        ("owner@example.net", False),
    ]
    assert (await store.find_account("info@example.org")).id == owner.id
    with pytest.raises(InvalidName):
        await store.remove_alias("owner@example.org")
    await store.remove_alias("info@example.org")
    with pytest.raises(NotFound):
        await store.find_account("info@example.org")


async def test_domain_with_accounts_is_not_removed(store: Store) -> None:
    await store.add_domain("example.org")
    await store.add_account("a@example.org", "hash")
    with pytest.raises(LimitReached):
        await store.remove_domain("example.org")


async def test_update_and_remove_account(store: Store) -> None:
    await store.add_domain("example.org")
    account = await store.add_account("a@example.org", "hash")
    changed = await store.update_account(account.id, disabled=1, password_hash="new")
    assert changed.disabled and changed.password_hash == "new"
    await store.remove_account(account.id)
    assert await store.list_accounts() == []
    with pytest.raises(NotFound):
        await store.find_account("a@example.org")


async def test_settings_and_audit(store: Store) -> None:
    await store.add_domain("example.org")
    account = await store.add_account("a@example.org", "hash")
    assert await store.get_setting(account.id, "language") is None
    await store.set_setting(account.id, "language", "nl")
    await store.set_setting(account.id, "language", "de")
    assert await store.get_setting(account.id, "language") == "de"
    await store.set_setting(account.id, "language", None)
    assert await store.get_setting(account.id, "language") is None
    await store.audit("cli", "account.add", account.id, "a@example.org")
