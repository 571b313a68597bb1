"""The POP3 wire format: RFC examples replayed whole and byte by byte, replies, and a fuzz."""

from __future__ import annotations

import base64
import contextlib

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from postbus.pop3 import codes
from postbus.pop3.proto import (
    NEED_DATA,
    Apop,
    Auth,
    Capa,
    Dele,
    List,
    Noop,
    Parser,
    Pass,
    Pop3Error,
    Quit,
    Retr,
    Rset,
    SaslResponse,
    Stat,
    State,
    Stls,
    Top,
    Uidl,
    User,
    capabilities,
    decode_plain,
    multiline,
    wire_message,
    wire_size,
)

MAX = 512

# (line as the client sends it, the command it means). Examples from RFC 1939 §4-§7,
# RFC 2449 §5, RFC 2595 §4 and RFC 5034 §6.
COMMANDS = [
    (b"USER mrose\r\n", User("mrose")),
    (b"user anna@example.org\r\n", User("anna@example.org")),
    (b"PASS secret\r\n", Pass("secret")),
    (b"PASS  two  spaces \r\n", Pass(" two  spaces ")),  # RFC 1939 §7: the rest of the line
    (b"PASS \r\n", Pass("")),
    (b"APOP mrose c4c9334bac560ecc979e58001b3e22fb\r\n",
     Apop("mrose", "c4c9334bac560ecc979e58001b3e22fb")),
    (b"STAT\r\n", Stat()),
    (b"LIST\r\n", List(None)),
    (b"LIST 2\r\n", List(2)),
    (b"RETR 1\r\n", Retr(1)),
    (b"DELE 1\r\n", Dele(1)),
    (b"NOOP\r\n", Noop()),
    (b"RSET\r\n", Rset()),
    (b"QUIT\r\n", Quit()),
    (b"TOP 1 10\r\n", Top(1, 10)),
    (b"TOP 100 3\r\n", Top(100, 3)),
    (b"UIDL\r\n", Uidl(None)),
    (b"UIDL 2\r\n", Uidl(2)),
    (b"CAPA\r\n", Capa()),
    (b"STLS\r\n", Stls()),
    (b"AUTH\r\n", Auth(None, None)),
    (b"AUTH plain\r\n", Auth("PLAIN", None)),
    (b"AUTH PLAIN dGVzdAB0ZXN0AHRlc3Q=\r\n", Auth("PLAIN", "dGVzdAB0ZXN0AHRlc3Q=")),
    (b"AUTH PLAIN =\r\n", Auth("PLAIN", "=")),
    (b"stat\n", Stat()),  # a bare LF is taken as a line end
    (b"LIST 1  \r\n", List(1)),  # trailing blanks are forgiven
]

ERRORS = [
    (b"XYZZY\r\n", codes.UNKNOWN_COMMAND),
    (b"\r\n", codes.UNKNOWN_COMMAND),
    (b"RETR\r\n", codes.BAD_SYNTAX),
    (b"RETR 1 2\r\n", codes.BAD_SYNTAX),
    (b"RETR x\r\n", codes.BAD_MESSAGE_NUMBER),
    (b"RETR -1\r\n", codes.BAD_MESSAGE_NUMBER),
    (b"DELE 99999999999999999999999\r\n", codes.BAD_MESSAGE_NUMBER),
    (b"TOP 1\r\n", codes.BAD_SYNTAX),
    (b"TOP 1 x\r\n", codes.BAD_SYNTAX),
    (b"STAT now\r\n", codes.BAD_SYNTAX),
    (b"PASS\r\n", codes.BAD_SYNTAX),
    (b"USER\r\n", codes.BAD_SYNTAX),
    (b"LIST \xff\r\n", codes.BAD_MESSAGE_NUMBER),
    (b"\xff\xfe\r\n", codes.UNKNOWN_COMMAND),
]


def events(parser: Parser) -> list[object]:
    out: list[object] = []
    while True:
        try:
            event = parser.next_event()
        except Pop3Error as error:
            out.append(error.reply)
            continue
        if event is NEED_DATA:
            return out
        out.append(event)


def feed_whole(data: bytes) -> list[object]:
    parser = Parser(MAX)
    parser.feed(data)
    return events(parser)


def feed_bytewise(data: bytes) -> list[object]:
    parser = Parser(MAX)
    out: list[object] = []
    for i in range(len(data)):
        parser.feed(data[i : i + 1])
        out += events(parser)
    return out


@pytest.mark.parametrize(("line", "command"), COMMANDS)
@pytest.mark.parametrize("feed", [feed_whole, feed_bytewise])
def test_commands(line: bytes, command: object, feed) -> None:
    assert feed(line) == [command]


@pytest.mark.parametrize(("line", "reply"), ERRORS)
@pytest.mark.parametrize("feed", [feed_whole, feed_bytewise])
def test_errors_consume_the_line(line: bytes, reply: codes.Reply, feed) -> None:
    assert feed(line + b"NOOP\r\n") == [reply, Noop()]


@pytest.mark.parametrize("feed", [feed_whole, feed_bytewise])
def test_pipelined_session(feed) -> None:
    """RFC 2449 §6.6: many commands in one packet come out one by one, in order."""
    data = b"".join(line for line, _ in COMMANDS)
    assert feed(data) == [command for _, command in COMMANDS]


def test_partial_line_needs_data() -> None:
    parser = Parser(MAX)
    parser.feed(b"RETR 1")
    assert parser.next_event() is NEED_DATA
    parser.feed(b"\r\n")
    assert parser.next_event() == Retr(1)


@pytest.mark.parametrize("feed", [feed_whole, feed_bytewise])
def test_line_limit_counts_crlf(feed) -> None:
    fits = b"PASS " + b"x" * (MAX - 7) + b"\r\n"
    too_long = b"PASS " + b"x" * (MAX - 6) + b"\r\n"
    assert len(fits) == MAX
    assert feed(fits) == [Pass("x" * (MAX - 7))]
    assert feed(too_long + b"QUIT\r\n") == [codes.LINE_TOO_LONG, Quit()]


def test_overlong_line_is_never_held() -> None:
    """The limit is enforced as bytes arrive, not after the line is complete."""
    parser = Parser(MAX)
    for _ in range(1000):
        parser.feed(b"x" * 1000)
        assert parser.buffered < MAX
    parser.feed(b"\r\nNOOP\r\n")
    assert events(parser) == [codes.LINE_TOO_LONG, Noop()]


def test_discard_buffered_drops_everything() -> None:
    """RFC 2595 §4: what follows STLS in the same packet is thrown away."""
    parser = Parser(MAX)
    parser.feed(b"STLS\r\nUSER evil\r\nPASS x\r\nQU")
    assert parser.next_event() == Stls()
    assert parser.discard_buffered() == len(b"USER evil\r\nPASS x\r\nQU")
    assert parser.next_event() is NEED_DATA
    parser.feed(b"QUIT\r\n")
    assert parser.next_event() == Quit()


def test_sasl_response_is_a_line_not_a_command() -> None:
    parser = Parser(MAX)
    parser.feed(b"QUIT\r\nSTAT\r\n")
    parser.expect_sasl_response()
    assert parser.next_event() == SaslResponse(b"QUIT")
    assert parser.next_event() == Stat()


@pytest.mark.parametrize(
    ("response", "expected"),
    [
        # RFC 5034 §6 example: authzid empty, "tim" / "tanstaaftanstaaf"
        (b"AHRpbQB0YW5zdGFhZnRhbnN0YWFm", ("", "tim", "tanstaaftanstaaf")),
        (base64.b64encode(b"anna\0anna\0p\xc3\xa4ss"), ("anna", "anna", "päss")),
    ],
)
def test_decode_plain(response: bytes, expected: tuple[str, str, str]) -> None:
    credentials = decode_plain(response)
    assert (credentials.authzid, credentials.authcid, credentials.password) == expected


@pytest.mark.parametrize(
    "response", [b"=", b"!!!", b"dGVzdA==", base64.b64encode(b"\0\0pw"), b"AHRpbQB0YW5zd"]
)
def test_decode_plain_refuses(response: bytes) -> None:
    with pytest.raises(Pop3Error) as error:
        decode_plain(response)
    assert error.value.reply == codes.BAD_SASL


# -- replies -----------------------------------------------------------------------------------


def test_reply_bytes() -> None:
    assert codes.stat(2, 320).to_bytes() == b"+OK 2 320\r\n"  # RFC 1939 §5 STAT example
    assert codes.MAILDROP_IN_USE.to_bytes().startswith(b"-ERR [IN-USE] ")
    assert codes.LOGIN_FAILED.to_bytes() == b"-ERR [AUTH] Authentication failed\r\n"


def test_multiline_stuffs_and_terminates() -> None:
    assert multiline(codes.UIDL_FOLLOWS, ["1 whqtswO00WBw418f9t5JxYwZ", ".odd"]) == (
        b"+OK Unique-ID listing follows\r\n1 whqtswO00WBw418f9t5JxYwZ\r\n..odd\r\n.\r\n"
    )


def test_capabilities_never_offer_a_refused_login() -> None:
    before = capabilities(State.AUTHORIZATION, stls=True, login=False)
    assert "STLS" in before and "USER" not in before and "SASL PLAIN" not in before
    after = capabilities(State.AUTHORIZATION, stls=False, login=True)
    assert "USER" in after and "SASL PLAIN" in after and "STLS" not in after
    for name in ("TOP", "UIDL", "RESP-CODES", "AUTH-RESP-CODE", "PIPELINING"):
        assert name in after
    assert "USER" not in capabilities(State.TRANSACTION, stls=False, login=True)


MESSAGE = (
    b"From: a@example.org\r\nSubject: dots\r\n\r\n"
    b".leading dot\r\n.\r\nmiddle\r\n..two\r\nlast line"
)


@pytest.mark.parametrize(
    ("raw", "wire"),
    [
        (MESSAGE, b"From: a@example.org\r\nSubject: dots\r\n\r\n"
                  b"..leading dot\r\n..\r\nmiddle\r\n...two\r\nlast line\r\n.\r\n"),
        (b"", b".\r\n"),
        (b".starts\r\n\r\nbody\r\n", b"..starts\r\n\r\nbody\r\n.\r\n"),
        (b"A: b\n\n.x\nend\n", b"A: b\r\n\r\n..x\r\nend\r\n.\r\n"),  # bare LF -> CRLF
        (b"A: b\r\n\r\nlone\rCR\r\n", b"A: b\r\n\r\nlone\rCR\r\n.\r\n"),
    ],
)
def test_wire_message(raw: bytes, wire: bytes) -> None:
    assert wire_message(raw) == wire
    unstuffed = wire[:-3].replace(b"\r\n..", b"\r\n.")
    unstuffed = unstuffed[1:] if unstuffed.startswith(b"..") else unstuffed
    assert wire_size(raw) == len(unstuffed)


@pytest.mark.parametrize(
    ("lines", "wire"),
    [
        (0, b"From: a@example.org\r\nSubject: dots\r\n\r\n.\r\n"),
        (1, b"From: a@example.org\r\nSubject: dots\r\n\r\n..leading dot\r\n.\r\n"),
        (2, b"From: a@example.org\r\nSubject: dots\r\n\r\n..leading dot\r\n..\r\n.\r\n"),
        (99, wire_message(MESSAGE)),
    ],
)
def test_top(lines: int, wire: bytes) -> None:
    """RFC 1939 §7 TOP: header, blank line, then that many body lines."""
    assert wire_message(MESSAGE, lines) == wire


def test_top_of_a_message_without_body() -> None:
    assert wire_message(b"Subject: x\r\n", 3) == b"Subject: x\r\n.\r\n"


# -- fuzz --------------------------------------------------------------------------------------

_WORDS = st.sampled_from(
    [b"USER", b"PASS", b"AUTH", b"PLAIN", b"LIST", b"RETR", b"TOP", b"UIDL", b"STLS", b"CAPA",
     b" ", b"\r\n", b"\n", b"\r", b"1", b"0", b"-", b"=", b"*", b"\x00", b"\xff", b"x" * 600]
)


@settings(max_examples=300, deadline=None)
@given(
    st.lists(st.one_of(_WORDS, st.binary(max_size=40)), max_size=40),
    st.lists(st.integers(1, 50), max_size=10),
)
def test_fuzz_only_pop3_errors(pieces: list[bytes], cuts: list[int]) -> None:
    data = b"".join(pieces)
    parser = Parser(MAX)
    position = 0
    sizes = cuts or [len(data) or 1]
    i = 0
    while position < len(data):
        size = sizes[i % len(sizes)]
        parser.feed(data[position : position + size])
        position += size
        i += 1
        if i % 3 == 0:
            parser.expect_sasl_response()
        while True:
            try:
                event = parser.next_event()
            except Pop3Error:
                continue
            if event is NEED_DATA:
                break
            if isinstance(event, SaslResponse):
                with contextlib.suppress(Pop3Error):
                    decode_plain(event.data)
        assert parser.buffered <= len(data)
        assert len(parser._tail) < MAX
