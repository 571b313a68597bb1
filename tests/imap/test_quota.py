"""QUOTA (RFC 9208) over a real socket, on both backends: GETQUOTAROOT, GETQUOTA, STATUS
DELETED-STORAGE, [OVERQUOTA] on APPEND and COPY, SETQUOTA refused; and imapclient's view."""

from __future__ import annotations

import asyncio

import imapclient

from tests.imap.conftest import PASSWORD, ImapServer, message
from tests.imap.wire import Wire

ANN = "ann@example.org"


async def _client(imap: ImapServer) -> Wire:
    wire = await Wire.open(imap.plain_port)
    await wire.login(ANN, PASSWORD)
    return wire


async def test_quota_root_and_usage(imap: ImapServer) -> None:
    account = imap.users[ANN]
    inbox = await imap.store.get_mailbox(account, "INBOX")
    body = message("quota", "x" * 3000 + "\r\n")
    await imap.store.append(account, inbox.id, body)
    await imap.store.update_account(account, quota_bytes=100 * 1024, quota_messages=10)
    wire = await _client(imap)
    caps = (await wire.ok("CAPABILITY"))[0]
    assert b" QUOTA " in caps and b"QUOTA=RES-STORAGE" in caps and b"QUOTA=RES-MESSAGE" in caps
    assert b"QUOTASET" not in caps
    kib = (len(body) + 1023) // 1024
    untagged = await wire.ok("GETQUOTAROOT INBOX")
    assert untagged == [
        b'* QUOTAROOT INBOX ""',
        b'* QUOTA "" (STORAGE %d 100 MESSAGE 1 10)' % kib,
    ]
    assert await wire.ok('GETQUOTA ""') == [b'* QUOTA "" (STORAGE %d 100 MESSAGE 1 10)' % kib]
    _, tagged = await wire.command('GETQUOTA "other"')
    assert b"NO [NONEXISTENT]" in tagged
    _, tagged = await wire.command("GETQUOTAROOT Nowhere")
    assert b"NO [NONEXISTENT]" in tagged
    # RFC 9208 §4.1: only the administrator sets quotas
    _, tagged = await wire.command('SETQUOTA "" (STORAGE 512)')
    assert b"NO [NOPERM]" in tagged
    _, tagged = await wire.command('SETQUOTA "" (STORAGE')
    assert b" BAD " in tagged
    # RFC 9208 §4.2: DELETED-STORAGE, what an EXPUNGE would free (KiB)
    await wire.ok("SELECT INBOX")
    await wire.ok("STORE 1 +FLAGS.SILENT (\\Deleted)")
    status = await wire.ok("STATUS INBOX (DELETED DELETED-STORAGE MESSAGES)")
    assert status == [b"* STATUS INBOX (DELETED 1 DELETED-STORAGE %d MESSAGES 1)" % kib]
    await wire.close()


async def test_no_limits_no_root(imap: ImapServer) -> None:
    wire = await _client(imap)
    assert await wire.ok("GETQUOTAROOT INBOX") == [b"* QUOTAROOT INBOX"]
    _, tagged = await wire.command('GETQUOTA ""')
    assert b"NO [NONEXISTENT]" in tagged
    await wire.close()


async def test_overquota_on_append_and_copy(imap: ImapServer) -> None:
    account = imap.users[ANN]
    inbox = await imap.store.get_mailbox(account, "INBOX")
    await imap.store.append(account, inbox.id, message("one"))
    await imap.store.update_account(account, quota_messages=1)
    wire = await _client(imap)
    _, tagged = await wire.command("APPEND INBOX {}", message("two"))
    assert b"NO [OVERQUOTA]" in tagged
    await wire.ok("SELECT INBOX")
    _, tagged = await wire.command("COPY 1 Sent")
    assert b"NO [OVERQUOTA]" in tagged
    # a MOVE adds nothing to the usage: allowed
    await wire.ok("MOVE 1 Sent")
    await wire.ok("NOOP")  # the session goes on
    await wire.close()
    assert (await imap.store.get_account(account)).used_messages == 1


async def test_imapclient_reads_the_quota(imap: ImapServer) -> None:
    account = imap.users[ANN]
    await imap.store.update_account(account, quota_bytes=2048 * 1024)

    def run() -> None:
        c = imapclient.IMAPClient("127.0.0.1", imap.plain_port, ssl=False, timeout=10)
        c.login(ANN, PASSWORD)
        roots, quotas = c.get_quota_root("INBOX")
        assert roots.mailbox == "INBOX" and roots.quota_roots == [""]
        assert [(q.resource, q.usage, q.limit) for q in quotas] == [("STORAGE", 0, 2048)]
        c.logout()

    await asyncio.to_thread(run)
