"""The IMAP server over real sockets, with Python's imaplib and imapclient, on both backends."""

from __future__ import annotations

import asyncio
import base64
import imaplib
import socket
import ssl
import time
from pathlib import Path

import imapclient
import pytest

from tests.imap.conftest import PASSWORD, ImapServer, message, start_imap

ANN, BOB = "ann@example.org", "bob@example.org"

MULTIPART = (
    b"From: Anna <anna@example.net>\r\nTo: bob@example.org\r\nSubject: report\r\n"
    b"Date: Wed, 25 Nov 2026 09:00:00 +0000\r\nMessage-ID: <mp@example.net>\r\n"
    b"MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=B\r\n\r\n"
    b"--B\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nSee the report.\r\n"
    b"--B\r\nContent-Type: message/rfc822\r\n\r\n"
    b"From: carl@example.org\r\nSubject: inner\r\n\r\ninner body\r\n"
    b"--B--\r\n"
)


async def fill(imap: ImapServer, address: str, count: int, mailbox: str = "INBOX") -> int:
    account = imap.users[address]
    box = await imap.store.get_mailbox(account, mailbox)
    for i in range(count):
        await imap.store.append(account, box.id, message(f"message {i}", f"Body {i}.\r\n"))
    return box.id


def implicit_client(imap: ImapServer) -> imapclient.IMAPClient:
    client = imapclient.IMAPClient(
        "127.0.0.1", imap.implicit_port, ssl=True, ssl_context=imap.client_tls(), timeout=10
    )
    client.login(ANN, PASSWORD)
    return client


async def test_starttls_login_list_select_with_imaplib(imap: ImapServer) -> None:
    await fill(imap, ANN, 2)

    def run() -> None:
        c = imaplib.IMAP4("127.0.0.1", imap.starttls_port, timeout=10)
        # not loopback, not TLS: sign-in is refused and advertised as such (RFC 9051 §6.2.3)
        assert "LOGINDISABLED" in c.capabilities and "STARTTLS" in c.capabilities
        assert "AUTH=PLAIN" not in c.capabilities
        with pytest.raises(imaplib.IMAP4.error, match="PRIVACYREQUIRED"):
            c.login(ANN, PASSWORD)
        c.starttls(imap.client_tls())
        assert "STARTTLS" not in c.capabilities and "AUTH=PLAIN" in c.capabilities
        assert c.login(ANN, PASSWORD)[0] == "OK"
        typ, boxes = c.list()
        assert typ == "OK"
        assert b'(\\HasNoChildren \\Sent) "/" Sent' in boxes
        assert c.select("INBOX") == ("OK", [b"2"])
        typ, data = c.fetch("1:2", "(UID RFC822.SIZE INTERNALDATE)")
        assert typ == "OK" and len(data) == 2 and b"UID 1 " in data[0]
        c.logout()

    await asyncio.to_thread(run)


async def test_implicit_tls_fetch_store_search_with_imapclient(imap: ImapServer) -> None:
    inbox = await fill(imap, ANN, 3)
    await imap.store.append(imap.users[ANN], inbox, MULTIPART)

    def run() -> None:
        c = implicit_client(imap)
        assert {b"IDLE", b"UIDPLUS", b"MOVE", b"ESEARCH"} <= set(c.capabilities())
        info = c.select_folder("INBOX")
        assert info[b"EXISTS"] == 4 and info[b"UIDNEXT"] == 5
        assert b"\\Seen" in info[b"PERMANENTFLAGS"]
        data = c.fetch([1, 4], ["ENVELOPE", "BODYSTRUCTURE", "FLAGS", "RFC822.SIZE"])
        envelope = data[1][b"ENVELOPE"]
        assert envelope.subject == b"message 0"
        assert envelope.from_[0].mailbox == b"anna" and envelope.from_[0].host == b"example.net"
        structure = data[4][b"BODYSTRUCTURE"]
        assert structure.is_multipart
        assert data[4][b"RFC822.SIZE"] == len(MULTIPART)
        sections = c.fetch([4], [
            "BODY.PEEK[1]", "BODY.PEEK[2.HEADER]", "BODY.PEEK[2.TEXT]", "BODY.PEEK[1.MIME]",
            "BODY.PEEK[HEADER.FIELDS (SUBJECT)]", "BODY.PEEK[]<0.4>",
        ])[4]
        assert sections[b"BODY[1]"] == b"See the report."
        assert sections[b"BODY[2.HEADER]"].startswith(b"From: carl@example.org")
        assert sections[b"BODY[2.TEXT]"] == b"inner body"
        assert sections[b"BODY[1.MIME]"] == b"Content-Type: text/plain; charset=utf-8\r\n\r\n"
        assert sections[b"BODY[HEADER.FIELDS (SUBJECT)]"] == b"Subject: report\r\n\r\n"
        assert sections[b"BODY[]<0>"] == b"From"
        assert c.get_flags([4])[4] == ()  # PEEK leaves \Seen alone
        body = c.fetch([2], ["BODY[TEXT]"])[2]
        assert body[b"BODY[TEXT]"] == b"Body 1.\r\n" and b"\\Seen" in body[b"FLAGS"]
        c.add_flags([1, 3], [imapclient.FLAGGED, "$Important"])
        assert c.search(["FLAGGED"]) == [1, 3]
        assert c.search(["UNSEEN", "NOT", "FLAGGED"]) == [4]
        assert c.search(["OR", "SUBJECT", "report", "UID", "2"]) == [2, 4]
        assert c.search(["KEYWORD", "$Important"]) == [1, 3]
        assert c.search(["FROM", "ANNA", "SMALLER", str(len(MULTIPART))]) == [1, 2, 3]
        assert c.search(["SINCE", "24-Nov-2026"]) == [1, 2, 3, 4]  # internal date: today
        assert c.search(["SENTBEFORE", "25-Nov-2026"]) == [1, 2, 3]
        assert c.search(["HEADER", "Message-ID", "mp@example"]) == [4]
        assert c.search(["HEADER", "MIME-Version", "1.0"]) == [1, 2, 3, 4]
        assert c.search(["TEXT", "report"]) == [4]
        assert c.search(["1:2"]) == [1, 2]
        c.logout()

    await asyncio.to_thread(run)


async def test_append_copy_move_expunge(imap: ImapServer) -> None:
    await fill(imap, ANN, 3)

    def run() -> None:
        c = implicit_client(imap)
        c.select_folder("INBOX")
        result = c.append("INBOX", message("appended"), flags=[imapclient.SEEN],
                          msg_time=None)
        assert b"APPENDUID" in result
        assert c.noop()  # EXISTS 4 arrived with the APPEND already
        assert c.folder_status("INBOX", ["MESSAGES", "UNSEEN", "SIZE"])[b"MESSAGES"] == 4
        c.copy([1, 2], "Archive")
        assert c.folder_status("Archive", ["MESSAGES"])[b"MESSAGES"] == 2
        c.move([3], "Trash")  # imapclient speaks UIDs
        assert c.search(["ALL"]) == [1, 2, 4]
        assert c.folder_status("Trash", ["MESSAGES"])[b"MESSAGES"] == 1
        c.add_flags([1], [imapclient.DELETED])
        c.expunge()
        assert c.search(["ALL"]) == [2, 4]
        c.use_uid = False
        assert c.search(["ALL"]) == [1, 2]
        assert c.fetch([2], ["UID"])[2][b"UID"] == 4
        c.use_uid = True
        c.uid_expunge([99])  # nothing to do: fine
        with pytest.raises(imapclient.exceptions.IMAPClientError, match="TRYCREATE"):
            c.copy([1], "Nowhere")
        c.create_folder("Projects/2026")
        assert c.folder_exists("Projects")
        c.rename_folder("Projects/2026", "Projects/Old")
        c.subscribe_folder("Projects/Old")
        c.unsubscribe_folder("Projects/Old")
        c.delete_folder("Projects/Old")
        assert not c.folder_exists("Projects/Old")
        c.logout()

    await asyncio.to_thread(run)


async def test_idle_sees_a_new_message_within_a_second(imap: ImapServer) -> None:
    inbox = await fill(imap, ANN, 1)
    ready = asyncio.Event()
    loop = asyncio.get_running_loop()

    def run() -> list:
        c = implicit_client(imap)
        c.select_folder("INBOX")
        c.idle()
        loop.call_soon_threadsafe(ready.set)
        started = time.monotonic()
        responses = c.idle_check(timeout=5)
        elapsed = time.monotonic() - started
        c.idle_done()
        c.logout()
        assert elapsed < 2
        return responses

    task = asyncio.create_task(asyncio.to_thread(run))
    await ready.wait()
    await asyncio.sleep(0.2)
    await imap.store.append(imap.users[ANN], inbox, message("news"))
    responses = await task
    assert (2, b"EXISTS") in responses


async def test_no_expunge_during_fetch_by_sequence_number(imap: ImapServer) -> None:
    inbox = await fill(imap, ANN, 3)

    def run() -> None:
        c = implicit_client(imap)
        c.select_folder("INBOX")
        other = implicit_client(imap)
        other.select_folder("INBOX")
        other.add_flags([2], [imapclient.DELETED])
        other.expunge()
        other.logout()
        time.sleep(0.3)
        # RFC 9051 §7.5.1: FETCH must not shift the numbers; EXPUNGE waits for NOOP
        tag = c._imap._new_tag().decode()
        c._imap.send(f"{tag} FETCH 1:3 (UID)\r\n".encode())
        lines = []
        while not (line := c._imap.readline()).startswith(tag.encode()):
            lines.append(line)
        assert not any(b"EXPUNGE" in line for line in lines)
        assert sum(b"FETCH" in line for line in lines) == 2  # message 2 is gone from the store
        assert (2, b"EXPUNGE") in c.noop()[1]
        c.logout()

    assert inbox
    await asyncio.to_thread(run)


def raw_session(port: int, context: ssl.SSLContext | None = None) -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", port), timeout=10)
    if context is not None:
        sock = context.wrap_socket(sock)
    return sock


def read_until(sock: socket.socket, marker: bytes) -> bytes:
    data = b""
    while marker not in data:
        chunk = sock.recv(65536)
        if not chunk:
            break
        data += chunk
    return data


async def test_starttls_injection_is_discarded(imap: ImapServer) -> None:
    """CVE-2011-0411 class: commands pipelined after STARTTLS never run after the handshake."""

    def run() -> None:
        sock = raw_session(imap.starttls_port)
        read_until(sock, b"\r\n")
        sock.sendall(b"a STARTTLS\r\nb LOGIN ann@example.org \"" + PASSWORD.encode() + b"\"\r\n")
        assert read_until(sock, b"a OK").startswith(b"a OK")
        tls = imap.client_tls().wrap_socket(sock)
        tls.sendall(b"c NOOP\r\n")
        answer = read_until(tls, b"c OK")
        assert b"b " not in answer and answer.startswith(b"c OK")
        tls.sendall(b"d SELECT INBOX\r\n")  # not signed in: the LOGIN never ran
        assert read_until(tls, b"d ").startswith(b"d BAD")
        tls.close()

    await asyncio.to_thread(run)


async def test_failed_logins_look_the_same(imap: ImapServer) -> None:
    def attempt(user: str, password: str) -> bytes:
        sock = raw_session(imap.implicit_port, imap.client_tls())
        read_until(sock, b"\r\n")
        sock.sendall(f'a LOGIN "{user}" "{password}"\r\n'.encode())
        answer = read_until(sock, b"\r\n")
        sock.close()
        return answer

    unknown = await asyncio.to_thread(attempt, "nobody@example.org", PASSWORD)
    wrong = await asyncio.to_thread(attempt, ANN, "wrong password")
    assert unknown == wrong == b"a NO [AUTHENTICATIONFAILED] Authentication failed\r\n"


async def test_authenticate_plain_with_and_without_initial_response(imap: ImapServer) -> None:
    token = base64.b64encode(f"\0{ANN}\0{PASSWORD}".encode())

    def run() -> None:
        sock = raw_session(imap.implicit_port, imap.client_tls())
        read_until(sock, b"\r\n")
        sock.sendall(b"a AUTHENTICATE PLAIN " + token + b"\r\n")
        assert read_until(sock, b"\r\n").startswith(b"a OK [CAPABILITY")
        sock.close()
        c = imaplib.IMAP4_SSL("127.0.0.1", imap.implicit_port, ssl_context=imap.client_tls())
        typ, _ = c.authenticate("PLAIN", lambda _: f"\0{ANN}\0{PASSWORD}".encode())
        assert typ == "OK"
        c.logout()

    await asyncio.to_thread(run)


async def test_bad_input_gets_bad_and_the_session_goes_on(imap: ImapServer) -> None:
    def run() -> None:
        sock = raw_session(imap.plain_port)
        read_until(sock, b"\r\n")
        sock.sendall(b"a FROB\r\nb LOGIN\r\n\x00\xff junk\r\nc FETCH 1 FLAGS\r\nd NOOP\r\n")
        answer = read_until(sock, b"d OK")
        assert b"a BAD" in answer and b"b BAD" in answer and b"c BAD" in answer
        assert b"Traceback" not in answer
        sock.sendall(b"e LOGIN " + b"x" * 10000 + b"\r\nf NOOP\r\n")
        answer = read_until(sock, b"f OK")
        assert b"BAD [TOOBIG]" in answer
        sock.close()

    await asyncio.to_thread(run)


ISOLATION_PROBES = [
    "../bob@example.org/INBOX", "%", "*", "bob@example.org", "~bob/INBOX", "INBOX/../..",
    "/INBOX", "inbox/../Sent", "#shared/INBOX", "bob@example.org/INBOX", "BOB@EXAMPLE.ORG",
    "INBOX/", "&AC4ALg-/bob",
]


async def test_account_isolation(imap: ImapServer) -> None:
    await fill(imap, BOB, 2)

    def run() -> None:
        c = implicit_client(imap)
        for name in ISOLATION_PROBES:
            probe_one(c, name)
        assert c.select_folder("inbox")[b"EXISTS"] == 0  # ann's own, empty INBOX
        c.logout()

    def probe_one(c: imapclient.IMAPClient, name: str) -> None:
        for probe in (name, name.upper(), name.lower()):
            with pytest.raises(imapclient.exceptions.IMAPClientError):
                c.select_folder(probe)
            with pytest.raises(imapclient.exceptions.IMAPClientError):
                c.folder_status(probe, ["MESSAGES"])
        assert all(b"bob" not in f[2].encode() for f in c.list_folders("", "*"))
        assert all(b"bob" not in f[2].encode() for f in c.list_folders(name, "*"))

    await asyncio.to_thread(run)


async def test_utf8_and_modified_utf7_names(imap: ImapServer) -> None:
    def run() -> None:
        c = implicit_client(imap)
        c.create_folder("Entwürfe")  # imapclient encodes modified UTF-7 itself
        names = [f[2] for f in c.list_folders()]
        assert "Entwürfe" in names
        raw = c._imap
        _typ, data = raw.list('""', "Entw*")
        assert data == [b'(\\HasNoChildren) "/" Entw&APw-rfe']
        c.logout()
        sock = raw_session(imap.implicit_port, imap.client_tls())
        read_until(sock, b"\r\n")
        sock.sendall(f'a LOGIN {ANN} "{PASSWORD}"\r\nb ENABLE UTF8=ACCEPT\r\n'.encode())
        assert b"* ENABLED UTF8=ACCEPT" in read_until(sock, b"b OK")
        sock.sendall('c LIST "" "Entw*"\r\nd SELECT "Entwürfe"\r\n'.encode())
        answer = read_until(sock, b"d OK")
        assert '* LIST (\\HasNoChildren) "/" "Entwürfe"'.encode() in answer
        sock.close()

    await asyncio.to_thread(run)


async def test_list_extended_status_and_esearch(imap: ImapServer) -> None:
    await fill(imap, ANN, 3)

    def run() -> None:
        sock = raw_session(imap.implicit_port, imap.client_tls())
        read_until(sock, b"\r\n")
        sock.sendall(f'a LOGIN {ANN} "{PASSWORD}"\r\n'.encode())
        read_until(sock, b"a OK")
        sock.sendall(b'b LIST (SPECIAL-USE) "" "*" RETURN (STATUS (MESSAGES UNSEEN))\r\n')
        answer = read_until(sock, b"b OK")
        assert (
            b'* LIST (\\HasNoChildren \\Sent) "/" Sent\r\n* STATUS Sent (MESSAGES 0 UNSEEN 0)'
        ) in answer
        assert b"INBOX" not in answer
        sock.sendall(b'c LIST "" "%" RETURN (SUBSCRIBED)\r\n')
        assert b'(\\HasNoChildren \\Subscribed) "/" INBOX' in read_until(sock, b"c OK")
        sock.sendall(b'd LIST "" ""\r\n')
        assert b'* LIST (\\Noselect) "/" ""' in read_until(sock, b"d OK")
        sock.sendall(b"e SELECT INBOX\r\nf UID SEARCH RETURN (MIN MAX COUNT ALL) ALL\r\n")
        answer = read_until(sock, b"f OK")
        assert b'* ESEARCH (TAG "f") UID MIN 1 MAX 3 COUNT 3 ALL 1:3' in answer
        assert b"* 0 RECENT" in answer and b"[UNSEEN 1]" in answer
        sock.sendall(b"g STATUS INBOX (MESSAGES UIDNEXT UIDVALIDITY UNSEEN DELETED SIZE)\r\n")
        assert b"* STATUS INBOX (MESSAGES 3 UIDNEXT 4 UIDVALIDITY" in read_until(sock, b"g OK")
        # RFC 6154 §3 CREATE-SPECIAL-USE; RFC 6855 §4 APPEND with UTF8 (literal8)
        sock.sendall(b"k CREATE Starred (USE (\\Flagged))\r\nl LIST \"\" Starred\r\n")
        assert b'* LIST (\\HasNoChildren \\Flagged) "/" Starred' in read_until(sock, b"l OK")
        raw = message("Grüße").replace(b"Gr", "Grü".encode())
        sock.sendall(b"m ENABLE UTF8=ACCEPT\r\nn APPEND Starred UTF8 (~{%d+}\r\n" % len(raw)
                     + raw + b")\r\n")
        assert b"n OK [APPENDUID" in read_until(sock, b"n OK")
        sock.sendall(b"h NAMESPACE\r\ni ID NIL\r\nj LOGOUT\r\n")
        answer = read_until(sock, b"j OK")
        assert b'* NAMESPACE (("" "/")) NIL NIL' in answer and b'* ID ("name" "postbus"' in answer
        assert b"* BYE" in answer
        sock.close()

    await asyncio.to_thread(run)


async def test_sent_copy_is_not_stored_twice(imap: ImapServer) -> None:
    account = imap.users[ANN]
    sent = await imap.store.special_mailbox(account, "\\Sent")
    assert sent is not None
    raw = message("sent by submission")
    saved = await imap.store.append(account, sent.id, raw, ["\\Seen"])

    def run() -> None:
        c = implicit_client(imap)
        result = c.append("Sent", raw, flags=[imapclient.SEEN])
        assert f"APPENDUID {sent.uidvalidity} {saved.uid}".encode() in result
        assert c.folder_status("Sent", ["MESSAGES"])[b"MESSAGES"] == 1
        c.append("Drafts", raw)  # elsewhere a copy is a copy
        assert c.folder_status("Drafts", ["MESSAGES"])[b"MESSAGES"] == 1
        c.logout()

    await asyncio.to_thread(run)


async def test_large_append_is_spooled(imap: ImapServer, tmp_path: Path) -> None:
    body = ("x" * 76 + "\r\n") * 8000  # about 600 KB
    raw = message("big", body)

    def run() -> None:
        c = implicit_client(imap)
        c.append("INBOX", raw)
        c.select_folder("INBOX", readonly=True)
        assert c.fetch([1], ["RFC822.SIZE"])[1][b"RFC822.SIZE"] == len(raw)
        assert c.fetch([1], ["BODY.PEEK[]"])[1][b"BODY[]"] == raw
        c.logout()

    await asyncio.to_thread(run)
    assert not any((tmp_path / "spool").glob("*"))


async def test_append_limit_and_unauthenticated_timeout(store, tmp_path: Path) -> None:
    imap, servers = await start_imap(store, tmp_path, max_message_size=1000,
                                     unauthenticated_timeout=1)
    try:
        def run() -> None:
            sock = raw_session(imap.plain_port)
            read_until(sock, b"\r\n")
            sock.sendall(f'a LOGIN {ANN} "{PASSWORD}"\r\nb APPEND INBOX {{2000}}\r\n'.encode())
            assert b"b NO [TOOBIG]" in read_until(sock, b"b NO")
            sock.close()
            idle = raw_session(imap.plain_port)
            read_until(idle, b"\r\n")
            assert b"* BYE" in read_until(idle, b"BYE")  # RFC 9051 §5.4 autologout

        await asyncio.to_thread(run)
    finally:
        for srv in servers:
            srv.close()
