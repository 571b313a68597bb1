"""The delivery pipeline: resolution at RCPT time, then one body for every recipient."""

from __future__ import annotations

import pytest

from postbus.delivery import deliver, resolve
from postbus.store import OverQuota, Store

MESSAGE = b"From: x@example.net\r\nTo: info@example.org\r\nSubject: hi\r\n\r\nHello\r\n"


@pytest.fixture
async def domain(store: Store) -> None:
    await store.add_domain("example.org")


async def test_aliases_plus_tags_and_unknowns(store: Store, domain: None) -> None:
    anna = await store.add_account("anna@example.org", "hash")
    await store.add_alias(anna.id, "info@example.org", 10)
    await store.create_mailbox(anna.id, "Receipts")
    assert (await resolve(store, "Info@Example.ORG")).account_id == anna.id
    tagged = await resolve(store, "anna+receipts@example.org")
    assert (tagged.account_id, tagged.folder) == (anna.id, "Receipts")
    assert (await resolve(store, "anna+unknown@example.org")).folder == "INBOX"
    assert await resolve(store, "anna+receipts@example.org", plus_addressing=False) is None
    for refused in ("nobody@example.org", "anna@other.test", "anna%other.test@example.org",
                    '"anna"@example.org', "@example.org", "anna"):
        assert await resolve(store, refused) is None, refused


async def test_disabled_accounts_receive_nothing(store: Store, domain: None) -> None:
    anna = await store.add_account("anna@example.org", "hash")
    await store.update_account(anna.id, disabled=1)
    assert await resolve(store, "anna@example.org") is None


async def test_one_body_many_recipients_and_quota_per_recipient(store: Store, domain: None) -> None:
    anna = await store.add_account("anna@example.org", "hash")
    full = await store.add_account("full@example.org", "hash", quota_bytes=10)
    await store.add_alias(anna.id, "info@example.org", 10)
    recipients = [await resolve(store, a) for a in
                  ("anna@example.org", "info@example.org", "full@example.org")]
    results = await deliver(store, recipients, MESSAGE)
    assert len(results) == 2  # anna once, although named twice
    by_account = {r.recipient.account_id: r for r in results}
    assert by_account[anna.id].appended is not None
    assert isinstance(by_account[full.id].error, OverQuota)
    assert list(store.blobs.stored_hashes()) != []
    assert (await store.get_mailbox(anna.id, "INBOX")).message_count == 1


async def test_junk_verdict_files_into_junk(store: Store, domain: None) -> None:
    anna = await store.add_account("anna@example.org", "hash")
    await deliver(store, [await resolve(store, "anna@example.org")], MESSAGE, junk=True)
    assert (await store.get_mailbox(anna.id, "Junk")).message_count == 1
