"""IMAP4rev2 (RFC 9051): ENABLE IMAP4rev2 and its differences, SEARCHRES (RFC 5182) and BINARY
(RFC 3516), over real sockets on both backends."""

from __future__ import annotations

import base64
import re

import pytest

from postbus.imap.proto import commands as c
from postbus.imap.proto.sequence import SequenceSet
from tests.imap.conftest import ImapServer
from tests.imap.test_condstore import ANN, Raw, fill, run
from tests.imap.test_receiver import one

PAYLOAD = bytes(range(256)) * 3  # every octet, NUL included
BINARY_MESSAGE = (
    b"From: Anna <anna@example.net>\r\nTo: bob@example.org\r\nSubject: binary parts\r\n"
    b"Date: Wed, 25 Nov 2026 09:00:00 +0000\r\nMessage-ID: <bin@example.net>\r\n"
    b"MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=B\r\n\r\n"
    b"--B\r\nContent-Type: text/plain; charset=utf-8\r\n"
    b"Content-Transfer-Encoding: quoted-printable\r\n\r\nGr=C3=BC=C3=9Fe, caf=C3=A9=\r\n!\r\n"
    b"--B\r\nContent-Type: application/octet-stream\r\nContent-Transfer-Encoding: base64\r\n\r\n"
    + base64.encodebytes(PAYLOAD).replace(b"\n", b"\r\n")
    + b"--B\r\nContent-Type: application/x-odd\r\nContent-Transfer-Encoding: x-uuencode\r\n\r\n"
    b"begin 644 x\r\n--B--\r\n"
)


def esearch(line: bytes) -> bytes:
    """What an ESEARCH response says after its tag."""
    m = re.fullmatch(rb'\* ESEARCH \(TAG "t\d+"\)(.*)', line)
    assert m is not None, line
    return m[1]


async def test_enable_imap4rev2_changes_the_answers(imap: ImapServer) -> None:
    await fill(imap, 3)
    account = imap.users[ANN]
    await imap.store.create_mailbox(account, "Grüße")

    def talk() -> None:
        c = Raw(imap.plain_port)
        caps = c.ok("CAPABILITY")[0].split()
        assert caps[2:4] == [b"IMAP4rev1", b"IMAP4rev2"]
        for name in (b"SEARCHRES", b"BINARY", b"ESEARCH", b"LIST-EXTENDED", b"LIST-STATUS",
                     b"MOVE", b"UNSELECT", b"UIDPLUS", b"SPECIAL-USE", b"STATUS=SIZE",
                     b"NAMESPACE", b"IDLE", b"SASL-IR", b"ENABLE", b"LITERAL+"):
            assert name in caps  # RFC 9051 §7.2.2: what an IMAP4rev2 server includes
        # IMAP4rev1 answers first
        lines = c.ok("SELECT INBOX")
        assert b"* 0 RECENT" in lines and any(b"[UNSEEN 1]" in line for line in lines)
        assert c.ok("SEARCH ALL")[0] == b"* SEARCH 1 2 3"
        assert b"Gr&APwA3w-e" in b"".join(c.ok('LIST "" "Gr*"'))  # modified UTF-7
        c.ok("UNSELECT")
        assert c.ok("ENABLE IMAP4rev2")[0] == b"* ENABLED IMAP4rev2"
        lines = c.ok("SELECT INBOX")
        assert not [line for line in lines if b"RECENT" in line or b"[UNSEEN" in line]
        assert b'* LIST (\\HasNoChildren) "/" INBOX' in lines  # RFC 9051 §6.3.2
        # RFC 9051 §6.4.4: SEARCH answers with ESEARCH
        assert esearch(c.ok("SEARCH ALL")[0]) == b" ALL 1:3"
        assert esearch(c.ok("UID SEARCH 2:3")[0]) == b" UID ALL 2:3"
        assert esearch(c.ok("SEARCH DELETED")[0]) == b""
        # UTF-8 mailbox names (RFC 9051 §5.1), STATUS DELETED and SIZE
        assert b'"Gr\xc3\xbc\xc3\x9fe"' in b"".join(c.ok('LIST "" "Gr*"'))
        status = c.ok("STATUS INBOX (MESSAGES DELETED SIZE)")[0]
        assert re.fullmatch(rb"\* STATUS INBOX \(MESSAGES 3 DELETED 0 SIZE \d+\)", status)
        c.close()

    await run(talk)


async def test_searchres_saves_and_dollar_names_the_result(imap: ImapServer) -> None:
    box = await fill(imap, 6)
    account = imap.users[ANN]
    await imap.store.set_flags(account, box, [(2, 2), (4, 5)], ["\\Flagged"], "add")

    def talk() -> None:
        c = Raw(imap.plain_port)
        c.ok("SELECT INBOX")
        assert b"BAD" in c.cmd("FETCH 1,$ (UID)")  # "$" only ever alone (RFC 5182 §3)
        # SAVE alone: nothing but the tagged OK (RFC 5182 §2.4)
        assert c.ok("SEARCH RETURN (SAVE) FLAGGED")[:-1] == []
        assert c.ok("FETCH $ (UID)")[:-1] == [b"* %d FETCH (UID %d)" % (n, n) for n in (2, 4, 5)]
        assert c.ok("UID SEARCH UID $ NOT 4")[0] == b"* SEARCH 2 5"
        assert c.ok("SEARCH $")[0] == b"* SEARCH 2 4 5"
        # "$" in STORE and COPY; an expunged message leaves the saved result
        c.ok("STORE $ +FLAGS.SILENT (\\Seen)")
        assert c.ok("SEARCH SEEN")[0] == b"* SEARCH 2 4 5"
        c.ok("UID STORE 4 +FLAGS.SILENT (\\Deleted)")
        c.ok("UID EXPUNGE 4")
        assert c.ok("UID FETCH $ (UID)")[:-1] == [b"* 2 FETCH (UID 2)", b"* 4 FETCH (UID 5)"]
        assert re.search(rb"COPYUID \d+ 2,5 1:2", c.ok("COPY $ Sent")[-1])
        # SAVE with MIN and MAX only keeps those two; with other options, ESEARCH as usual
        lines = c.ok("UID SEARCH RETURN (SAVE MIN MAX) ALL")
        assert esearch(lines[0]) == b" UID MIN 1 MAX 6"
        assert c.ok("UID SEARCH $")[0] == b"* SEARCH 1 6"
        # a new SELECT empties it
        c.ok("SELECT INBOX")
        assert c.ok("SEARCH $")[0] == b"* SEARCH"
        c.close()

    await run(talk)


async def test_fetch_binary_decodes_and_append_takes_literal8(imap: ImapServer) -> None:
    account = imap.users[ANN]
    box = await imap.store.get_mailbox(account, "INBOX")
    await imap.store.append(account, box.id, BINARY_MESSAGE)

    def talk() -> None:
        c = Raw(imap.plain_port)
        c.ok("SELECT INBOX")
        answer = c.cmd("FETCH 1 (BINARY.PEEK[1] BINARY.SIZE[2] BINARY.PEEK[2]<0.4>)")
        text = "Grüße, café!".encode()
        assert b"BINARY[1] {%d}\r\n%s" % (len(text), text) in answer
        assert b"BINARY.SIZE[2] %d" % len(PAYLOAD) in answer
        assert b"BINARY[2]<0> ~{4}\r\n\x00\x01\x02\x03" in answer  # literal8: NUL inside
        whole = c.cmd("FETCH 1 (BINARY.PEEK[2])")
        assert b"BINARY[2] ~{%d}\r\n" % len(PAYLOAD) + PAYLOAD + b")\r\n" in whole
        assert b"BINARY[] {%d}\r\n" % len(BINARY_MESSAGE) in c.cmd("FETCH 1 (BINARY.PEEK[])")
        assert b"BINARY[9] NIL" in c.cmd("FETCH 1 (BINARY.PEEK[9])")
        # RFC 3516 §4.3: an encoding the server cannot undo
        assert re.search(rb"t\d+ NO \[UNKNOWN-CTE\]", c.cmd("FETCH 1 (BINARY.PEEK[3])"))
        assert b"\\Seen" not in c.cmd("FETCH 1 (FLAGS)")
        assert b"FLAGS (\\Seen)" in c.cmd("FETCH 1 (BINARY[1])")  # not PEEK: sets \Seen
        # APPEND with a literal8 (non-synchronising, LITERAL+) of a message holding NULs
        raw = b"Subject: raw\r\nContent-Transfer-Encoding: binary\r\n\r\n" + PAYLOAD
        reply = c.cmd(b"APPEND INBOX ~{%d+}\r\n" % len(raw) + raw)
        assert re.search(rb"OK \[APPENDUID \d+ 2\]", reply), reply
        assert b"BINARY[1] ~{%d}\r\n" % len(PAYLOAD) + PAYLOAD in c.cmd(
            "UID FETCH 2 (BINARY.PEEK[1])"
        )
        c.close()

    await run(talk)


SEQ = SequenceSet.parse


@pytest.mark.parametrize(("wire", "expected"), [
    (b"A282 SEARCH RETURN (SAVE) FLAGGED SINCE 1-Feb-1994 NOT FROM \"Smith\"\r\n",
     c.Search("A282", False, c.SearchKey("AND", (
         c.SearchKey("FLAGGED"), c.SearchKey("SINCE", (760060800,)),
         c.SearchKey("NOT", (c.SearchKey("FROM", ("Smith",)),)))), ("SAVE",))),
    (b"A283 FETCH $ (UID INTERNALDATE FLAGS RFC822.HEADER)\r\n",
     c.Fetch("A283", False, SEQ("$"), tuple(
         c.FetchAtt(n, label=n) for n in ("UID", "INTERNALDATE", "FLAGS", "RFC822.HEADER")))),
    (b"A301 UID SEARCH UID $ SMALLER 4096\r\n",
     c.Search("A301", True, c.SearchKey("AND", (
         c.SearchKey("UID", (SEQ("$"),)), c.SearchKey("SMALLER", (4096,)))), None)),
    (b"t FETCH 1 (BINARY[1.2]<0.100> BINARY.SIZE[1])\r\n",
     c.Fetch("t", False, SEQ("1"), (
         c.FetchAtt("BINARY", c.Section((1, 2)), False, (0, 100), "BINARY[1.2]<0>"),
         c.FetchAtt("BINARY.SIZE", c.Section((1,)), True, None, "BINARY.SIZE[1]")))),
    (b"t ENABLE IMAP4rev2\r\n", c.Enable("t", ("IMAP4REV2",))),
])
def test_rfc5182_and_rfc3516_examples_parse(wire: bytes, expected: object) -> None:
    assert one(wire) == expected


@pytest.mark.parametrize("wire", [
    b"t FETCH 1 BINARY[1.HEADER]\r\n",
    b"t FETCH 1 BINARY.SIZE[1]<0.5>\r\n",
    b"t FETCH 1 BINARY[1]<0.0>\r\n",
    b"t SEARCH $,1\r\n",
])
def test_bad_binary_and_dollar_forms(wire: bytes) -> None:
    assert isinstance(one(wire), c.BadCommand)
