"""The delivery pipeline: resolution at RCPT time, one body for every recipient, forwarding."""

from __future__ import annotations

import email
import time
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from postbus.accounts.forwarding import (
    MAX_TARGETS,
    Forwarding,
    ForwardingError,
    get_forwarding,
    set_forwarding,
)
from postbus.delivery import MAX_FORWARD_HOPS, deliver, forward_trace, forwarded_copy, resolve
from postbus.smtp import queue as smtp_queue
from postbus.smtp import srs
from postbus.store import OverQuota, Store
from postbus.store import settings as store_settings

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
    for refused in (
        "nobody@example.org",
        "anna@other.test",
        "anna%other.test@example.org",
        '"anna"@example.org',
        "@example.org",
        "anna",
    ):
        assert await resolve(store, refused) is None, refused


async def test_disabled_accounts_receive_nothing(store: Store, domain: None) -> None:
    anna = await store.add_account("anna@example.org", "hash")
    await store.update_account(anna.id, disabled=1)
    assert await resolve(store, "anna@example.org") is None


async def test_one_body_many_recipients_and_quota_per_recipient(store: Store, domain: None) -> None:
    anna = await store.add_account("anna@example.org", "hash")
    full = await store.add_account("full@example.org", "hash", quota_bytes=10)
    await store.add_alias(anna.id, "info@example.org", 10)
    recipients = [
        await resolve(store, a)
        for a in ("anna@example.org", "info@example.org", "full@example.org")
    ]
    results = await deliver(store, recipients, MESSAGE)
    assert len(results) == 2  # anna once, although named twice
    by_account = {r.recipient.account_id: r for r in results}
    assert by_account[anna.id].appended is not None
    assert isinstance(by_account[full.id].error, OverQuota)
    stored = await store.read_body(anna.id, by_account[anna.id].appended.message_id)
    assert stored.endswith(MESSAGE)
    assert (await store.get_mailbox(anna.id, "INBOX")).message_count == 1


async def test_junk_verdict_files_into_junk(store: Store, domain: None) -> None:
    anna = await store.add_account("anna@example.org", "hash")
    await deliver(store, [await resolve(store, "anna@example.org")], MESSAGE, junk=True)
    assert (await store.get_mailbox(anna.id, "Junk")).message_count == 1


async def test_a_folder_gone_since_rcpt_means_inbox(store: Store, domain: None) -> None:
    anna = await store.add_account("anna@example.org", "hash")
    receipts = await store.create_mailbox(anna.id, "Receipts")
    tagged = await resolve(store, "anna+receipts@example.org")  # at RCPT: Receipts
    junk = await store.get_mailbox(anna.id, "Junk")
    await store.delete_mailbox(anna.id, receipts.id)  # and gone before DATA ends
    await store.delete_mailbox(anna.id, junk.id)
    await deliver(store, [tagged], MESSAGE)
    await deliver(store, [tagged], MESSAGE, junk=True)
    assert (await store.get_mailbox(anna.id, "INBOX")).message_count == 2


# -- forwarding (postbus.accounts.forwarding; issue 3, point 4) ---------------------------------

FROM_OUTSIDE = (
    b"Return-Path: <x@example.net>\r\n"
    b"Received: from mx.example.net by mx.example.org; Mon, 1 Jan 2024 10:00:00 +0000\r\n"
    b"From: x@example.net\r\nTo: anna@example.org\r\nSubject: hi\r\n\r\nHello\r\n"
)


async def _bodies(store: Store, account_id: int, folder: str = "INBOX") -> list[bytes]:
    mailbox = await store.get_mailbox(account_id, folder)
    found = await store.newest(account_id, mailbox.id, 100, None)
    return [await store.read_body(account_id, s.message_id) for s in reversed(found)]


async def _deliver_to(store: Store, address: str, message: bytes = MESSAGE, **options):
    return await deliver(store, [await resolve(store, address)], message, **options)


async def test_forwarding_settings_are_checked_stored_and_audited(
    store: Store, domain: None
) -> None:
    anna = await store.add_account("anna@example.org", "hash")
    await store.add_alias(anna.id, "info@example.org", 10)
    assert await get_forwarding(store, anna.id) == Forwarding((), True)
    stored = await set_forwarding(
        store, anna.id, [" Bert@Example.NET", "cleo@example.org, bert@example.net"], False
    )
    assert stored == Forwarding(("bert@example.net", "cleo@example.org"), False)
    assert await get_forwarding(store, anna.id) == stored
    assert await store.get_setting(anna.id, "forward.to") == "bert@example.net,cleo@example.org"
    assert await store.get_setting(anna.id, "forward.keep_copy") == "off"
    refusals = [
        (["not an address"], "not an e-mail address"),
        (["anna@example.org"], "own address"),
        (["Info@example.org"], "own address"),
        (["anna+tag@example.org"], "own address"),
        ([f"u{i}@example.net" for i in range(MAX_TARGETS + 1)], f"at most {MAX_TARGETS}"),
    ]
    for to, message in refusals:
        with pytest.raises(ForwardingError, match=message):
            await set_forwarding(store, anna.id, to, True)
    assert await get_forwarding(store, anna.id) == stored  # nothing changed by a refusal
    assert await set_forwarding(store, anna.id, [], True) == Forwarding()
    assert await store.get_setting(anna.id, "forward.to") is None
    entries = await store.read(lambda tx: store_settings.audit_entries(tx, anna.id))
    assert [(e[2], e[3], e[4]) for e in entries] == [
        ("cli", "forwarding.set", "off"),
        ("cli", "forwarding.set", "to=bert@example.net,cleo@example.org keep_copy=off"),
    ]


async def test_local_forward_with_and_without_a_copy(store: Store, domain: None) -> None:
    anna = await store.add_account("anna@example.org", "hash")
    bert = await store.add_account("bert@example.org", "hash")
    await set_forwarding(store, anna.id, ["bert@example.org"], keep_copy=True)
    [done] = await _deliver_to(store, "anna@example.org", FROM_OUTSIDE)
    assert done.appended is not None and done.forwarded == ("bert@example.org",)
    assert await _bodies(store, anna.id) == [FROM_OUTSIDE]  # the copy here is untouched
    [copy] = await _bodies(store, bert.id)
    assert copy.startswith(b"Delivered-To: anna@example.org\r\n"
                           b"X-Postbus-Forwarded: anna@example.org\r\n")  # fmt: skip
    assert copy.endswith(FROM_OUTSIDE.partition(b"\r\n")[2])  # only our Return-Path is gone
    await set_forwarding(store, anna.id, ["bert@example.org"], keep_copy=False)
    [done] = await _deliver_to(store, "anna@example.org")
    assert (done.appended, done.error, done.forwarded) == (None, None, ("bert@example.org",))
    assert len(await _bodies(store, anna.id)) == 1
    assert len(await _bodies(store, bert.id)) == 2


async def test_a_loop_between_two_accounts_stops_and_keeps_the_message(
    store: Store, domain: None
) -> None:
    anna = await store.add_account("anna@example.org", "hash")
    bert = await store.add_account("bert@example.org", "hash")
    await set_forwarding(store, anna.id, ["bert@example.org"], keep_copy=False)
    await set_forwarding(store, bert.id, ["anna@example.org"], keep_copy=False)
    [done] = await _deliver_to(store, "anna@example.org")
    assert done.forwarded == ("bert@example.org",)
    assert await _bodies(store, bert.id) == []
    [kept] = await _bodies(store, anna.id)  # back at anna, who forwarded it already: kept
    trace = forward_trace(kept)
    assert trace.addresses == {"anna@example.org", "bert@example.org"} and trace.hops == 2
    # Both at once: each message ends in one mailbox, none lost, no endless copies.
    await deliver(store, [await resolve(store, a) for a in
                          ("anna@example.org", "bert@example.org")], MESSAGE)  # fmt: skip
    assert len(await _bodies(store, anna.id)) + len(await _bodies(store, bert.id)) == 3


async def test_a_chain_stops_at_the_hop_limit(store: Store, domain: None) -> None:
    names = [f"u{i}@example.org" for i in range(MAX_FORWARD_HOPS + 2)]
    ids = [(await store.add_account(n, "hash")).id for n in names]
    for account_id, target in zip(ids, names[1:], strict=False):
        await set_forwarding(store, account_id, [target], keep_copy=False)
    await _deliver_to(store, names[0])
    holding = [n for n, i in zip(names, ids, strict=True) if await _bodies(store, i)]
    assert holding == [names[MAX_FORWARD_HOPS]]


async def test_our_trace_in_a_message_from_outside_stops_a_forward(
    store: Store, domain: None
) -> None:
    anna = await store.add_account("anna@example.org", "hash")
    bert = await store.add_account("bert@example.org", "hash")
    await set_forwarding(store, anna.id, ["bert@example.org"], keep_copy=False)
    for field in (
        b"Delivered-To: anna@example.org\r\n",
        b"X-Postbus-Forwarded: <ANNA@example.org>\r\n",
    ):
        [done] = await _deliver_to(store, "anna@example.org", field + MESSAGE)
        assert done.forwarded == () and done.appended is not None
    assert await _bodies(store, bert.id) == []


async def test_junk_and_forwards_that_reach_no_one_stay_here(store: Store, domain: None) -> None:
    anna = await store.add_account("anna@example.org", "hash")
    await set_forwarding(store, anna.id, ["nobody@example.org", "far@example.net"], False)
    # No forwarder for remote mail and an unknown local target: the copy stays here.
    [done] = await _deliver_to(store, "anna@example.org")
    assert done.forwarded == () and done.appended is not None
    [done] = await _deliver_to(store, "anna@example.org", junk=True)
    assert done.forwarded == ()
    assert len(await _bodies(store, anna.id, "Junk")) == 1


async def test_remote_forward_is_queued_with_an_srs_sender(
    store: Store, domain: None, tmp_path: Path
) -> None:
    anna = await store.add_account("anna@example.org", "hash")
    await set_forwarding(store, anna.id, ["anna.elsewhere@example.net"], keep_copy=False)
    forwarder = srs.SrsForwarder(store, tmp_path / srs.KEY_FILE)
    [done] = await _deliver_to(store, "anna@example.org", FROM_OUTSIDE, sender="x@example.net",
                               forwarder=forwarder)  # fmt: skip
    assert done.forwarded == ("anna.elsewhere@example.net",)
    assert await _bodies(store, anna.id) == []
    [queued] = await smtp_queue.list_queue(store)
    assert queued.recipient == "anna.elsewhere@example.net"
    assert queued.envelope_from.startswith("SRS0=")
    assert queued.envelope_from.endswith("=example.net=x@example.org")
    secret = srs.load_secrets(tmp_path / srs.KEY_FILE)
    assert srs.reverse(queued.envelope_from, secret, time.time()) == "x@example.net"
    body = await store.read_blob(queued.blob_hash)
    parsed = email.message_from_bytes(body)
    assert parsed["Delivered-To"] == "anna@example.org" and parsed["Return-Path"] is None
    # The null sender stays null; a sender of our own domains is not rewritten.
    for sender, expected in (("<>", ""), ("", ""), ("cleo@example.org", "cleo@example.org")):
        await _deliver_to(store, "anna@example.org", sender=sender, forwarder=forwarder)
        newest = max(await smtp_queue.list_queue(store), key=lambda r: r.message_id)
        assert newest.envelope_from == expected, sender


@given(st.binary(max_size=300))
def test_trace_reading_takes_any_bytes(data: bytes) -> None:
    trace = forward_trace(data)
    assert trace.hops <= data.count(b":")
    assert forward_trace(b"Delivered-To: a@b.example\r\n" + data).hops >= 1


def test_the_forwarded_copy_drops_our_return_path_only() -> None:
    message = (
        b"Return-Path: <x@example.net>\r\nReturn-Path: \r\n <folded@x>\r\nSubject: s\r\n\r\nb\r\n"
    )
    copy = forwarded_copy(message, "anna@example.org")
    assert copy == (b"Delivered-To: anna@example.org\r\nX-Postbus-Forwarded: anna@example.org\r\n"
                    b"Subject: s\r\n\r\nb\r\n")  # fmt: skip
