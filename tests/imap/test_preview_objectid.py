"""PREVIEW (RFC 8970) and OBJECTID (RFC 8474) over a real socket, on both backends."""

from __future__ import annotations

import asyncio
import re

import imapclient

from tests.imap.conftest import PASSWORD, ImapServer, message
from tests.imap.wire import Wire

ANN = "ann@example.org"


async def _client(imap: ImapServer) -> Wire:
    wire = await Wire.open(imap.plain_port)
    await wire.login(ANN, PASSWORD)
    return wire


def _id(lines: list[bytes], name: bytes) -> bytes:
    m = re.search(rb"%s \(([A-Za-z0-9_-]+)\)" % name, b"\n".join(lines))
    assert m, lines
    return m[1]


async def test_preview(imap: ImapServer) -> None:
    account = imap.users[ANN]
    inbox = await imap.store.get_mailbox(account, "INBOX")
    plain = message("plain", "Hello there,\r\n  how are you?\r\n")
    await imap.store.append(account, inbox.id, plain)
    await imap.store.append(account, inbox.id, message("long", "word " * 200 + "\r\n"))
    await imap.store.append(account, inbox.id, message("accents", "Grüße aus Köln\r\n"))
    wire = await _client(imap)
    assert b" PREVIEW " in (await wire.ok("CAPABILITY"))[0]
    await wire.ok("SELECT INBOX")
    lines = await wire.ok("FETCH 1 (PREVIEW)")
    assert lines == [b'* 1 FETCH (PREVIEW "Hello there, how are you?")']
    # RFC 8970 §3: PREVIEW (LAZY) may be answered at once, as here
    assert await wire.ok("UID FETCH 1 (UID PREVIEW (LAZY) FLAGS)") == [
        b'* 1 FETCH (UID 1 PREVIEW "Hello there, how are you?" FLAGS ())'
    ]
    long = (await wire.ok("FETCH 2 PREVIEW"))[0]
    text = long.split(b'PREVIEW "', 1)[1].rsplit(b'"', 1)[0]
    assert 0 < len(text) <= 256 and text.startswith(b"word word")
    # not ASCII, and UTF-8 not enabled: a literal, which every client reads
    accents = (await wire.ok("FETCH 3 (PREVIEW)"))[0]
    assert accents.endswith("Grüße aus Köln)".encode()) and b"PREVIEW {" in accents
    for bad in ("FETCH 1 (PREVIEW (EAGER))", "FETCH 1 (PREVIEW ())", "FETCH 1 (FLAGS (LAZY))"):
        _, tagged = await wire.command(bad)
        assert b" BAD " in tagged, bad
    await wire.close()

    def run() -> None:
        c = imapclient.IMAPClient("127.0.0.1", imap.plain_port, ssl=False, timeout=10)
        c.login(ANN, PASSWORD)
        c.select_folder("INBOX")
        got = c.fetch([1, 3], ["PREVIEW"])
        assert got[1][b"PREVIEW"] == b"Hello there, how are you?"
        assert got[3][b"PREVIEW"].decode() == "Grüße aus Köln"
        c.logout()

    await asyncio.to_thread(run)


async def test_mailbox_ids(imap: ImapServer) -> None:
    wire = await _client(imap)
    assert b" OBJECTID " in (await wire.ok("CAPABILITY"))[0]
    _, tagged = await wire.command("CREATE Projects")
    created = _id([tagged], b"MAILBOXID")
    assert tagged.startswith(b"T3 OK [MAILBOXID (")
    selected = _id(await wire.ok("SELECT Projects"), b"MAILBOXID")
    assert selected == created
    inbox = _id(await wire.ok("STATUS INBOX (MAILBOXID MESSAGES)"), b"MAILBOXID")
    assert inbox != created
    await wire.ok("UNSELECT")
    # RFC 8474 §4.2: RENAME keeps the id, a new mailbox of the old name gets a new one
    await wire.ok("RENAME Projects Archive/Projects")
    status = await wire.ok("STATUS Archive/Projects (MAILBOXID)")
    assert status == [b"* STATUS \"Archive/Projects\" (MAILBOXID (%s))" % created]
    _, tagged = await wire.command("CREATE Projects")
    assert _id([tagged], b"MAILBOXID") not in (created, inbox)
    listed = await wire.ok('LIST "" "*" RETURN (STATUS (MAILBOXID))')
    assert b"* STATUS \"Archive/Projects\" (MAILBOXID (%s))" % created in listed
    await wire.ok("DELETE Projects")
    _, tagged = await wire.command("CREATE Projects")
    assert _id([tagged], b"MAILBOXID") not in (created, inbox)
    await wire.close()


async def test_email_and_thread_ids(imap: ImapServer) -> None:
    account = imap.users[ANN]
    inbox = await imap.store.get_mailbox(account, "INBOX")
    def raw(subject: str, message_id: str, parent: str = "") -> bytes:
        refs = f"In-Reply-To: {parent}\r\nReferences: {parent}\r\n" if parent else ""
        return (f"From: anna@example.net\r\nTo: ann@example.org\r\nSubject: {subject}\r\n"
                f"Message-ID: {message_id}\r\n{refs}\r\nBody.\r\n").encode()

    first = raw("plans", "<plans@example.net>")
    reply = raw("Re: plans", "<reply@example.net>", "<plans@example.net>")
    other = raw("other topic", "<other@example.net>")
    for raw in (first, reply, other):
        await imap.store.append(account, inbox.id, raw)
    wire = await _client(imap)
    await wire.ok("SELECT INBOX")
    rows = await wire.ok("FETCH 1:3 (EMAILID THREADID)")
    emails = [_id([row], b"EMAILID") for row in rows]
    threads = [_id([row], b"THREADID") for row in rows]
    assert len(set(emails)) == 3
    assert threads[0] == threads[1] != threads[2]
    # RFC 8474 §5.1: a copy is the same message, with the same EMAILID; so is a moved one
    await wire.ok("COPY 1 Sent")
    await wire.ok("SELECT Sent")
    assert _id(await wire.ok("FETCH 1 (EMAILID)"), b"EMAILID") == emails[0]
    await wire.ok("MOVE 1 Drafts")
    await wire.ok("SELECT Drafts")
    assert _id(await wire.ok("UID FETCH 1:* (EMAILID THREADID)"), b"EMAILID") == emails[0]
    await wire.ok("SELECT INBOX")
    # RFC 8474 §6: SEARCH EMAILID / THREADID
    assert await wire.ok(b"SEARCH EMAILID " + emails[2]) == [b"* SEARCH 3"]
    assert await wire.ok(b"UID SEARCH THREADID " + threads[0]) == [b"* SEARCH 1 2"]
    assert await wire.ok("SEARCH EMAILID Xnotours") == [b"* SEARCH"]
    assert await wire.ok(b"SEARCH THREADID " + emails[0]) == [b"* SEARCH"]
    _, tagged = await wire.command('SEARCH EMAILID "a b"')
    assert b" BAD " in tagged
    await wire.close()
