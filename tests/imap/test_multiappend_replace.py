"""MULTIAPPEND (RFC 3502) and REPLACE / UID REPLACE (RFC 8508) over a real socket, on both
backends: all-or-nothing, APPENDUID sets, the untagged responses in RFC order, spooled literals."""

from __future__ import annotations

from tests.imap.conftest import PASSWORD, ImapServer, message
from tests.imap.wire import Wire

ANN = "ann@example.org"


async def _client(imap: ImapServer) -> Wire:
    wire = await Wire.open(imap.plain_port)
    await wire.login(ANN, PASSWORD)
    return wire


async def _subjects(imap: ImapServer, mailbox: str) -> list[str]:
    account = imap.users[ANN]
    box = await imap.store.get_mailbox(account, mailbox)
    return [m.subject for m in reversed(await imap.store.newest(account, box.id, 100))]


async def test_multiappend(imap: ImapServer) -> None:
    wire = await _client(imap)
    caps = (await wire.ok("CAPABILITY"))[0]
    assert b" MULTIAPPEND " in caps and b" REPLACE " in caps
    await wire.ok("SELECT INBOX")
    big = message("big one", "y" * 80 + "\r\n") + b"z" * 400_000 + b"\r\n"  # spooled
    untagged, tagged = await wire.command(
        'APPEND INBOX (\\Seen) {} (\\Flagged) "05-Jan-2026 10:00:00 +0000" {} {}',
        message("first"), message("second"), big,
    )
    # RFC 3502 §6.3.11 with RFC 4315: one APPENDUID, the new UIDs as a set
    assert tagged.endswith(b"OK [APPENDUID %s 1:3] APPEND completed" % tagged.split()[3])
    assert untagged == [b"* 3 EXISTS"]
    assert await _subjects(imap, "INBOX") == ["first", "second", "big one"]
    rows = await wire.ok("FETCH 1:3 (FLAGS INTERNALDATE RFC822.SIZE)")
    assert b"\\Seen" in rows[0] and b"\\Flagged" in rows[1]
    assert b'"05-Jan-2026 10:00:00 +0000"' in rows[1] and b"RFC822.SIZE %d" % len(big) in rows[2]
    await wire.close()


async def test_multiappend_is_all_or_nothing(imap: ImapServer) -> None:
    await imap.store.update_account(imap.users[ANN], quota_messages=2)
    wire = await _client(imap)
    _, tagged = await wire.command("APPEND Sent {} {} {}", *(message(f"m{i}") for i in range(3)))
    assert b"NO [OVERQUOTA]" in tagged
    _, tagged = await wire.command("APPEND Sent {} {}", message("fine"), b"")
    assert b"NO [CANNOT]" in tagged  # RFC 3502: an empty second message refuses both
    _, tagged = await wire.command("APPEND Nowhere {} {}", message("a"), message("b"))
    assert b"NO [TRYCREATE]" in tagged
    _, tagged = await wire.command("APPEND Sent {} (\\Seen)", message("a"))
    assert b" BAD " in tagged
    assert await _subjects(imap, "Sent") == []
    await wire.ok("APPEND Sent {} {}", message("a"), message("b"))
    assert await _subjects(imap, "Sent") == ["a", "b"]
    await wire.close()


async def test_replace_in_the_selected_mailbox(imap: ImapServer) -> None:
    account = imap.users[ANN]
    drafts = await imap.store.get_mailbox(account, "Drafts")
    for name in ("draft 1", "draft 2"):
        await imap.store.append(account, drafts.id, message(name), ["\\Draft"])
    await imap.store.update_account(account, quota_messages=2)  # full: replacing still fits
    other = await _client(imap)
    await other.ok("SELECT Drafts")
    wire = await _client(imap)
    await wire.ok("SELECT Drafts")
    untagged, tagged = await wire.command("REPLACE 1 Drafts (\\Draft) {}", message("draft 1b"))
    uidvalidity = drafts.uidvalidity
    # RFC 8508 §3.3: APPENDUID in an untagged OK, then EXPUNGE, then EXISTS
    assert untagged == [
        b"* OK [APPENDUID %d 3] Replacement Message ID assigned" % uidvalidity,
        b"* 1 EXPUNGE",
        b"* 2 EXISTS",
    ]
    assert tagged.endswith(b"OK REPLACE completed")
    assert await _subjects(imap, "Drafts") == ["draft 2", "draft 1b"]
    # another session learns it as an expunge and a new message
    assert await other.news(2) == [b"* 1 EXPUNGE", b"* 2 EXISTS"]
    # UID REPLACE into another mailbox: the old one leaves Drafts, Sent gets the new one
    untagged, tagged = await wire.command("UID REPLACE 3 Sent {}", message("sent now"))
    assert untagged[0].startswith(b"* OK [APPENDUID ") and untagged[1:] == [b"* 2 EXPUNGE"]
    assert await _subjects(imap, "Sent") == ["sent now"]
    assert await _subjects(imap, "Drafts") == ["draft 2"]
    await wire.close()
    await other.close()


async def test_replace_refusals_keep_the_old_message(imap: ImapServer) -> None:
    account = imap.users[ANN]
    drafts = await imap.store.get_mailbox(account, "Drafts")
    await imap.store.append(account, drafts.id, message("keep me"))
    wire = await _client(imap)
    await wire.ok("SELECT Drafts")
    for text, code in (("REPLACE 5 Drafts {}", b"NONEXISTENT"), ("UID REPLACE 9 Drafts {}",
                       b"NONEXISTENT"), ("REPLACE 1 Nowhere {}", b"TRYCREATE")):
        _, tagged = await wire.command(text, message("new"))
        assert b"NO [%s]" % code in tagged, (text, tagged)
    _, tagged = await wire.command("REPLACE 1:2 Drafts {}", message("new"))
    assert b" BAD " in tagged
    await wire.ok("EXAMINE Drafts")
    _, tagged = await wire.command("REPLACE 1 Drafts {}", message("new"))
    assert b"NO [READ-ONLY]" in tagged
    assert await _subjects(imap, "Drafts") == ["keep me"]
    _, tagged = await wire.command("UNSELECT")
    _, tagged = await wire.command("REPLACE 1 Drafts {}", message("new"))
    assert b" BAD " in tagged  # selected state only
    await wire.close()


# -- the grammar of the second increment's commands: RFC examples, whole and byte by byte -------

import pytest  # noqa: E402
from hypothesis import given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from postbus.imap.proto import commands as c  # noqa: E402
from postbus.imap.proto.receiver import NEED_DATA, Limits, Receiver  # noqa: E402
from postbus.imap.proto.sequence import SequenceSet  # noqa: E402


def _events(data: bytes, chunk: int | None = None) -> list[object]:
    receiver = Receiver(Limits())
    out = []
    for piece in [data] if chunk is None else [data[i : i + 1] for i in range(len(data))]:
        receiver.feed(piece)
        while (event := receiver.next()) is not NEED_DATA:
            out.append(event)
    return out


def _one(data: bytes) -> object:
    whole = _events(data)
    assert _events(data, 1) == whole
    return whole[-1]


MSG = b"From: a@b\r\n\r\nhi\r\n"
GRAMMAR_EXAMPLES = [
    # RFC 3502 §6.3.11 (literals shortened)
    (b"A003 APPEND saved-messages (\\Seen) {17+}\r\n" + MSG
     + b' (\\Seen) " 1-Jul-2002 22:35:53 -0700" {17+}\r\n' + MSG + b"\r\n",
     c.MultiAppend("A003", "saved-messages", (
         c.AppendPart(("\\Seen",), None, MSG, 17),
         c.AppendPart(("\\Seen",), 1025588153, MSG, 17)))),
    (b"A1 APPEND x {17+}\r\n" + MSG + b"\r\n", c.Append("A1", "x", (), None, MSG, 17)),
    # RFC 8508 §3.4
    (b"A003 REPLACE 4 Drafts (\\Seen \\Draft) {17+}\r\n" + MSG + b"\r\n",
     c.Replace("A003", False, SequenceSet.parse("4"), "Drafts",
               c.AppendPart(("\\Seen", "\\Draft"), None, MSG, 17))),
    (b"A004 UID REPLACE 2000 Drafts {17+}\r\n" + MSG + b"\r\n",
     c.Replace("A004", True, SequenceSet.parse("2000"), "Drafts",
               c.AppendPart((), None, MSG, 17))),
    # RFC 4978 §3
    (b"a COMPRESS DEFLATE\r\n", c.Compress("a", "DEFLATE")),
    # RFC 9208 §4.1 - §4.3
    (b'A003 GETQUOTA ""\r\n', c.GetQuota("A003", "")),
    (b"A003 GETQUOTAROOT INBOX\r\n", c.GetQuotaRoot("A003", "INBOX")),
    (b'A001 SETQUOTA "" (STORAGE 512)\r\n', c.SetQuota("A001", "", (("STORAGE", 512),))),
    # RFC 5464 §4.2, §4.3
    (b'a GETMETADATA "" /shared/comment\r\n', c.GetMetadata("a", "", ("/shared/comment",))),
    (b'a GETMETADATA "INBOX" (MAXSIZE 1024) ("/shared/comment" "/private/comment")\r\n',
     c.GetMetadata("a", "INBOX", ("/shared/comment", "/private/comment"), 1024)),
    (b'a GETMETADATA (DEPTH infinity) "INBOX" "/private/filters/values"\r\n',
     c.GetMetadata("a", "INBOX", ("/private/filters/values",), None, -1)),
    (b"a SETMETADATA INBOX (/private/comment {35+}\r\nMy new comment across\r\n"
     b"two lines.\r\n)\r\n",
     c.SetMetadata("a", "INBOX",
                   (("/private/comment", b"My new comment across\r\ntwo lines.\r\n"),))),
    (b'a SETMETADATA INBOX (/private/comment NIL /shared/comment "x")\r\n',
     c.SetMetadata("a", "INBOX", (("/private/comment", None), ("/shared/comment", b"x")))),
    # RFC 9590 §3
    (b'A01 LIST "" % RETURN (METADATA ("/shared/comment" "/private/comment"))\r\n',
     c.List("A01", "", ("%",), extended=True,
            metadata=(("/shared/comment", "/private/comment"), None))),
    # RFC 8970 §3, RFC 8474 §5, RFC 8514 §3
    (b"a FETCH 1:3 (PREVIEW (LAZY) EMAILID THREADID SAVEDATE)\r\n",
     c.Fetch("a", False, SequenceSet.parse("1:3"), (
         c.FetchAtt("PREVIEW", label="PREVIEW"), c.FetchAtt("EMAILID", label="EMAILID"),
         c.FetchAtt("THREADID", label="THREADID"), c.FetchAtt("SAVEDATE", label="SAVEDATE")))),
    # RFC 8474 §6, RFC 8514 §4
    (b"a UID SEARCH EMAILID M6d99ac3275bb4e SAVEDBEFORE 1-Feb-2020\r\n",
     c.Search("a", True, c.SearchKey("AND", (
         c.SearchKey("EMAILID", ("M6d99ac3275bb4e",)),
         c.SearchKey("SAVEDBEFORE", (1580515200,)))), None)),
]


@pytest.mark.parametrize(("wire", "expected"), GRAMMAR_EXAMPLES)
def test_grammar_examples(wire: bytes, expected: object) -> None:
    assert _one(wire) == expected


@pytest.mark.parametrize("wire", [
    b"a REPLACE 0 Drafts {1+}\r\nx\r\n", b"a REPLACE 1:2 Drafts {1+}\r\nx\r\n",
    b"a REPLACE 1 Drafts\r\n", b"a COMPRESS\r\n", b"a SETQUOTA \"\" (STORAGE x)\r\n",
    b"a GETMETADATA INBOX /other\r\n", b"a GETMETADATA INBOX (DEPTH 5) /private/x\r\n",
    b"a SETMETADATA INBOX (/private/x (y))\r\n", b"a FETCH 1 (PREVIEW (LAZY FAST))\r\n",
    b"a SEARCH THREADID \"\"\r\n", b"a APPEND x {1+}\r\nx (\\Seen)\r\n",
])
def test_grammar_refusals(wire: bytes) -> None:
    assert isinstance(_one(wire), c.BadCommand)


@settings(max_examples=300, deadline=None)
@given(st.sampled_from([e[0] for e in GRAMMAR_EXAMPLES]), st.integers(0, 300),
       st.binary(max_size=4))
def test_fuzz_mutated_grammar_examples(wire: bytes, at: int, junk: bytes) -> None:
    at = at % (len(wire) + 1)
    for event in _events(wire[:at] + junk + wire[at + len(junk) :] + b"\r\nz NOOP\r\n"):
        assert isinstance(event, c.Command | c.BadCommand) or type(event).__name__ in (
            "NeedLiteral", "Line")
