"""The receiver: RFC 9051 examples whole and byte by byte, literals, limits, and a fuzz test."""

from __future__ import annotations

import calendar

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from postbus.imap.proto import commands as c
from postbus.imap.proto.receiver import NEED_DATA, Limits, Line, NeedLiteral, Receiver
from postbus.imap.proto.sequence import SequenceSet
from postbus.imap.proto.tokens import Spooled


def events(data: bytes, limits: Limits | None = None, chunk: int | None = None) -> list:
    receiver = Receiver(limits or Limits())
    out = []
    pieces = [data] if chunk is None else [data[i : i + chunk] for i in range(len(data))]
    for piece in pieces:
        receiver.feed(piece)
        while (event := receiver.next()) is not NEED_DATA:
            out.append(event)
    return out


def one(data: bytes) -> object:
    whole = events(data)
    assert events(data, chunk=1) == whole, "byte-by-byte feeding must give the same events"
    assert len(whole) >= 1
    return whole[-1]


SEQ = SequenceSet.parse
EXAMPLES = [
    # RFC 9051 §6.1.1 - §6.1.3
    (b"abcd CAPABILITY\r\n", c.Capability("abcd")),
    (b"a002 NOOP\r\n", c.Noop("a002")),
    (b"A023 LOGOUT\r\n", c.Logout("A023")),
    (b"a002 STARTTLS\r\n", c.StartTls("a002")),
    # §6.2.3
    (b"a001 LOGIN SMITH SESAME\r\n", c.Login("a001", "SMITH", "SESAME")),
    (b'a001 LOGIN "smith@x.org" "p\\"w\\\\d"\r\n', c.Login("a001", "smith@x.org", 'p"w\\d')),
    # §6.2.2 with RFC 4959 SASL-IR
    (b"a01 AUTHENTICATE PLAIN AGFubgBwdw==\r\n", c.Authenticate("a01", "PLAIN", b"AGFubgBwdw==")),
    (b"a01 authenticate plain\r\n", c.Authenticate("a01", "PLAIN", None)),
    # §6.3.1, §6.3.2, §6.3.3
    (b"t ENABLE UTF8=ACCEPT\r\n", c.Enable("t", ("UTF8=ACCEPT",))),
    (b"A142 SELECT INBOX\r\n", c.Select("A142", "INBOX", False)),
    (b"A932 EXAMINE blurdybloop\r\n", c.Select("A932", "blurdybloop", True)),
    # §6.3.4 - §6.3.8
    (b"A003 CREATE owatagusiam/\r\n", c.Create("A003", "owatagusiam/")),
    (b"t CREATE MySpecial (USE (\\Drafts))\r\n", c.Create("t", "MySpecial", "\\Drafts")),
    (b"A683 DELETE blurdybloop\r\n", c.Delete("A683", "blurdybloop")),
    (b"A682 RENAME blurdybloop sarasoop\r\n", c.Rename("A682", "blurdybloop", "sarasoop")),
    (b"A002 SUBSCRIBE #news.comp.mail.mime\r\n", c.Subscribe("A002", "#news.comp.mail.mime", True)),
    (b"A002 UNSUBSCRIBE foo\r\n", c.Subscribe("A002", "foo", False)),
    # §6.3.9
    (b'A101 LIST "" ""\r\n', c.List("A101", "", ("",))),
    (b"A102 LIST #news.comp.mail.misc \"\"\r\n", c.List("A102", "#news.comp.mail.misc", ("",))),
    (b'A202 LIST ~/Mail/ %\r\n', c.List("A202", "~/Mail/", ("%",))),
    (
        b'A01 LIST (SUBSCRIBED RECURSIVEMATCH) "" "%" RETURN (CHILDREN)\r\n',
        c.List("A01", "", ("%",), frozenset({"SUBSCRIBED", "RECURSIVEMATCH"}),
               frozenset({"CHILDREN"}), extended=True),
    ),
    (
        b'A02 LIST "" ("INBOX" "Drafts") RETURN (STATUS (MESSAGES UNSEEN))\r\n',
        c.List("A02", "", ("INBOX", "Drafts"), status_items=("MESSAGES", "UNSEEN"),
               extended=True),
    ),
    (b'A03 LSUB "#news." "comp.mail.*"\r\n', c.List("A03", "#news.", ("comp.mail.*",), lsub=True)),
    # §6.3.10, §6.3.11
    (b"A042 STATUS blurdybloop (UIDNEXT MESSAGES)\r\n",
     c.Status("A042", "blurdybloop", ("UIDNEXT", "MESSAGES"))),
    # §6.3.12
    (
        b"A003 APPEND saved-messages (\\Seen) {11}\r\nFrom: x\r\n\r\n\r\n",
        c.Append("A003", "saved-messages", ("\\Seen",), None, b"From: x\r\n\r\n", 11),
    ),
    (
        b'A004 APPEND INBOX " 7-Feb-1994 21:52:25 -0800" {3+}\r\nabc\r\n',
        c.Append("A004", "INBOX", (), 760686745, b"abc", 3),
    ),
    # §6.3.13, §6.4
    (b"a IDLE\r\n", c.Idle("a")),
    (b"FXXZ CHECK\r\n", c.Check("FXXZ")),
    (b"A341 CLOSE\r\n", c.Close("A341")),
    (b"A342 UNSELECT\r\n", c.Unselect("A342")),
    (b"A202 EXPUNGE\r\n", c.Expunge("A202")),
    (b"A003 UID EXPUNGE 3000:3002\r\n", c.Expunge("A003", SEQ("3000:3002"))),
    # §6.4.4
    (
        b"A282 SEARCH RETURN (MIN COUNT) FLAGGED SINCE 1-Feb-1994 NOT FROM \"Smith\"\r\n",
        c.Search("A282", False, c.SearchKey("AND", (
            c.SearchKey("FLAGGED"), c.SearchKey("SINCE", (calendar.timegm((1994, 2, 1, 0, 0, 0)),)),
            c.SearchKey("NOT", (c.SearchKey("FROM", ("Smith",)),)),
        )), ("MIN", "COUNT")),
    ),
    (
        b"A283 SEARCH TEXT \"string not in mailbox\"\r\n",
        c.Search("A283", False, c.SearchKey("TEXT", ("string not in mailbox",)), None),
    ),
    (
        b"A284 SEARCH CHARSET UTF-8 TEXT {11}\r\n\xd0\xbd\xd0\xb5\xd1\x82 test\r\n",
        c.Search("A284", False, c.SearchKey("TEXT", ("нет test",)), None, "UTF-8"),
    ),
    (
        b"a UID SEARCH OR (1:3 UNSEEN) UID 5:*\r\n",
        c.Search("a", True, c.SearchKey("OR", (
            c.SearchKey("AND", (c.SearchKey("SEQ", (SEQ("1:3"),)), c.SearchKey("UNSEEN"))),
            c.SearchKey("UID", (SEQ("5:*"),)),
        )), None),
    ),
    # §6.4.5
    (
        b"A654 FETCH 2:4 (FLAGS BODY[HEADER.FIELDS (DATE FROM)])\r\n",
        c.Fetch("A654", False, SEQ("2:4"), (
            c.FetchAtt("FLAGS", label="FLAGS"),
            c.FetchAtt("BODY[]", c.Section((), "HEADER.FIELDS", ("DATE", "FROM")),
                       label="BODY[HEADER.FIELDS (DATE FROM)]"),
        )),
    ),
    (
        b"A1 UID FETCH 1:* (BODY.PEEK[1.2.MIME] BODY[]<0.2048>)\r\n",
        c.Fetch("A1", True, SEQ("1:*"), (
            c.FetchAtt("UID", label="UID"),
            c.FetchAtt("BODY[]", c.Section((1, 2), "MIME"), True, None, "BODY[1.2.MIME]"),
            c.FetchAtt("BODY[]", c.Section(), False, (0, 2048), "BODY[]<0>"),
        )),
    ),
    (
        b"A2 FETCH 1 FAST\r\n",
        c.Fetch("A2", False, SEQ("1"), tuple(
            c.FetchAtt(n, label=n) for n in ("FLAGS", "INTERNALDATE", "RFC822.SIZE"))),
    ),
    # §6.4.6 - §6.4.8
    (b"A003 STORE 2:4 +FLAGS (\\Deleted)\r\n",
     c.Store("A003", False, SEQ("2:4"), "add", False, ("\\Deleted",))),
    (b"A4 UID STORE 7 -FLAGS.SILENT \\Seen $Junk\r\n",
     c.Store("A4", True, SEQ("7"), "remove", True, ("\\Seen", "$Junk"))),
    (b"A003 COPY 2:4 MEETING\r\n", c.Copy("A003", False, SEQ("2:4"), "MEETING", False)),
    (b"a UID MOVE 42:69 foo\r\n", c.Copy("a", True, SEQ("42:69"), "foo", True)),
    # RFC 2971, RFC 2342
    (b'a023 ID ("name" "sodr" "version" NIL)\r\n',
     c.Id("a023", (("name", "sodr"), ("version", None)))),
    (b"a024 ID NIL\r\n", c.Id("a024", None)),
    (b"A001 NAMESPACE\r\n", c.Namespace("A001")),
]


@pytest.mark.parametrize(("wire", "expected"), EXAMPLES, ids=[e[0][:30].decode("latin-1")
                                                                for e in EXAMPLES])
def test_rfc_examples(wire: bytes, expected: object) -> None:
    assert one(wire) == expected


def test_synchronising_literal_asks_for_continuation() -> None:
    got = events(b"a1 LOGIN {5}\r\nsmith {6}\r\nsesame\r\n")
    assert got == [NeedLiteral(5), NeedLiteral(6), c.Login("a1", "smith", "sesame")]


def test_non_synchronising_literal_does_not() -> None:
    assert events(b"a1 LOGIN {5+}\r\nsmith {6+}\r\nsesame\r\n") == [
        c.Login("a1", "smith", "sesame")
    ]


def test_pipelined_commands_in_one_read() -> None:
    got = events(b"a NOOP\r\nb CAPABILITY\r\n\r\nc LOGOUT\r\n")
    assert got == [c.Noop("a"), c.Capability("b"), c.Logout("c")]


def test_bare_lf_line_ends_are_taken() -> None:
    assert events(b"a NOOP\n") == [c.Noop("a")]


BAD_INPUT = [
    b"a1 FROB\r\n",
    b"a1\r\n",
    b"+x NOOP\r\n",
    b"a1 LOGIN onlyuser\r\n",
    b'a1 LOGIN "unterminated\r\n',
    b"a1 FETCH 0 FLAGS\r\n",
    b"a1 FETCH 1:x FLAGS\r\n",
    b"a1 FETCH 1 (FLAGS\r\n",
    b"a1 FETCH 1 FLAGS)\r\n",
    b"a1 FETCH 1 BODY[HEADER.FIELDS]\r\n",
    b"a1 FETCH 1 BODY[0]\r\n",
    b"a1 FETCH 1 BODY[]<0.0>\r\n",
    b"a1 STORE 1 +FLAGS (\\Recent)\r\n",
    b"a1 SEARCH\r\n",
    b"a1 SEARCH NOT\r\n",
    b"a1 SEARCH SINCE 31-Foo-2020\r\n",
    b"a1 SELECT\r\n",
    b"a1 SELECT INBOX extra\r\n",
    b'a1 APPEND INBOX "not a literal"\r\n',
    b"a1 NOOP \x01\r\n",
    b"a1 UID FROB 1\r\n",
]


@pytest.mark.parametrize("wire", BAD_INPUT)
def test_bad_input_is_refused_and_the_session_goes_on(wire: bytes) -> None:
    got = events(wire + b"z NOOP\r\n")
    assert events(wire + b"z NOOP\r\n", chunk=1) == got
    assert isinstance(got[0], c.BadCommand) and got[0].status == "BAD"
    assert not got[0].fatal
    assert got[-1] == c.Noop("z")


def test_bad_charset_is_no() -> None:
    bad = one(b"a SEARCH CHARSET KOI8-R ALL\r\n")
    assert isinstance(bad, c.BadCommand) and bad.status == "NO" and "BADCHARSET" in bad.code


def test_line_length_limit() -> None:
    limits = Limits(max_line_length=512)
    got = events(b"a1 LOGIN " + b"x" * 600 + b" y\r\nb NOOP\r\n", limits)
    assert isinstance(got[0], c.BadCommand) and got[0].code == "TOOBIG"
    assert got[-1] == c.Noop("b")


def test_literal_size_limit_refuses_before_the_continuation() -> None:
    limits = Limits(max_literal_size=100)
    got = events(b"a1 LOGIN {101}\r\nb NOOP\r\n", limits)
    assert isinstance(got[0], c.BadCommand) and got[0].code == "TOOBIG"
    assert not any(isinstance(e, NeedLiteral) for e in got)
    assert got[-1] == c.Noop("b")


def test_append_uses_the_message_size_limit() -> None:
    limits = Limits(max_literal_size=10, max_message_size=50)
    assert isinstance(events(b"a APPEND INBOX {40}\r\n", limits)[0], NeedLiteral)
    bad = events(b"a APPEND INBOX {51}\r\n", limits)[0]
    assert isinstance(bad, c.BadCommand) and bad.status == "NO" and bad.code == "TOOBIG"


def test_too_big_non_synchronising_literal_is_fatal() -> None:
    got = events(b"a1 LOGIN {70000+}\r\n", Limits(max_literal_size=1000))
    assert isinstance(got[0], c.BadCommand) and got[0].fatal


def test_refused_command_skips_its_non_synchronising_literal() -> None:
    got = events(b"a1 FROB {7+}\r\nb NOOP\r\nc NOOP\r\n")
    assert isinstance(got[0], c.BadCommand)
    assert got[1:] == [c.Noop("c")]  # "b NOOP\r\n" was the literal's content


def test_nesting_depth_limit() -> None:
    deep = b"a SEARCH " + b"(" * 40 + b"ALL" + b")" * 40 + b"\r\n"
    bad = events(deep, Limits(max_depth=32))[0]
    assert isinstance(bad, c.BadCommand)
    assert events(b"a SEARCH ((ALL))\r\n", Limits(max_depth=32)) == [
        c.Search("a", False, c.SearchKey("ALL"), None)
    ]


def test_line_mode_for_sasl_and_idle() -> None:
    receiver = Receiver(Limits())
    receiver.feed(b"DONE\r\nb NOOP\r\n")
    receiver.expect_line()
    assert receiver.next() == Line(b"DONE")
    assert receiver.next() == c.Noop("b")


def test_discard_drops_pipelined_input() -> None:
    receiver = Receiver(Limits())
    receiver.feed(b"a STARTTLS\r\nb LOGIN evil evil\r\n")
    assert receiver.next() == c.StartTls("a")
    receiver.discard()
    assert receiver.next() is NEED_DATA


class MemorySpool:
    def __init__(self) -> None:
        self.data = bytearray()

    def write(self, data: bytes) -> None:
        self.data += data

    def finish(self) -> Spooled:
        return Spooled(bytes(self.data), len(self.data))

    def discard(self) -> None:
        self.data.clear()


def test_large_append_literal_goes_to_the_spool() -> None:
    spools: list[MemorySpool] = []

    def spool(size: int) -> MemorySpool:
        spools.append(MemorySpool())
        return spools[-1]

    receiver = Receiver(Limits(spool_above=10), spool)
    body = b"x" * 100
    receiver.feed(b"a APPEND INBOX {100}\r\n")
    assert receiver.next() == NeedLiteral(100)
    for i in range(0, 100, 7):
        receiver.feed(body[i : i + 7])
        assert receiver.next() is NEED_DATA
    receiver.feed(b"\r\n")
    command = receiver.next()
    assert isinstance(command, c.Append) and command.size == 100
    assert spools[0].data == body


# -- fuzz: the receiver answers anything with commands or its own refusals, never raises ---------

_WORDS = [b"a1", b"NOOP", b"FETCH", b"UID", b"1:*", b"(", b")", b"{3}", b"{2+}", b'"x"', b"[",
          b"]", b"BODY[HEADER.FIELDS (A)]", b"SEARCH", b"OR", b"NOT", b"\r\n", b" ", b"\\Seen",
          b"APPEND", b"INBOX", b"LIST", b"%", b"*", b"~{1}", b"\x00", b"\xff", b"<0.5>", b"LOGIN"]


@settings(max_examples=300, deadline=None)
@given(st.lists(st.sampled_from(_WORDS) | st.binary(max_size=8), max_size=40))
def test_fuzz_generated_commands(parts: list[bytes]) -> None:
    data = b"".join(parts)
    limits = Limits(max_line_length=512, max_literal_size=64, max_depth=5)
    for chunk in (None, 1):
        for event in events(data, limits, chunk):
            assert isinstance(event, c.Command | c.BadCommand | NeedLiteral | Line)


@settings(max_examples=300, deadline=None)
@given(st.sampled_from([e[0] for e in EXAMPLES]), st.integers(0, 200), st.binary(max_size=4))
def test_fuzz_mutated_examples(wire: bytes, at: int, junk: bytes) -> None:
    at = at % (len(wire) + 1)
    mutated = wire[:at] + junk + wire[at + len(junk) :]
    for event in events(mutated + b"\r\nz NOOP\r\n"):
        assert isinstance(event, c.Command | c.BadCommand | NeedLiteral | Line)
