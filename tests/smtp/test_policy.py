"""The pure parts of the SMTP listeners: replies, decisions, header fields. Tables and fuzz."""

from __future__ import annotations

import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from postbus.smtp import codes, headers, policy

ENHANCED = re.compile(r"^\d{3} [245]\.\d{1,3}\.\d{1,3} \S")


@pytest.mark.parametrize(
    ("stock", "ours"),
    [
        ("500 Command line too long", "500 5.5.2 Line too long"),
        ("500 Line too long (see RFC5321 4.5.3.1.6)", "500 5.5.2 Line too long"),
        ("552 Error: Too much mail data", str(codes.MESSAGE_TOO_BIG)),
        ("530 Must issue a STARTTLS command first", str(codes.STARTTLS_FIRST)),
        ('500 Error: command "FOO" not recognized', "500 5.5.1 Command not recognized"),
        ("503 Error: need MAIL command", "503 5.5.1 need MAIL command"),
        ("501 Syntax: RSET", "501 5.5.4 Syntax: RSET"),
        ("250 OK", "250 2.0.0 OK"),
        ("221 Bye", "221 2.0.0 Bye"),
        ("553 5.1.3 Error: malformed address", "553 5.1.3 Error: malformed address"),
        ("220 host ESMTP postbus", "220 host ESMTP postbus"),
        ("354 End data with <CR><LF>.<CR><LF>", "354 End data with <CR><LF>.<CR><LF>"),
        ("334 VXNlciBOYW1lAA==", "334 VXNlciBOYW1lAA=="),
    ],
)
def test_enhance_stock_replies(stock: str, ours: str) -> None:
    assert codes.enhance(stock) == ours


def test_every_named_reply_is_well_formed() -> None:
    replies = [v for v in vars(codes).values() if isinstance(v, codes.Reply)]
    assert len(replies) > 25
    for reply in replies:
        assert ENHANCED.match(str(reply)), reply
        assert str(reply)[0] == reply.status[0]  # RFC 3463 §2: class digits agree
        assert codes.enhance(str(reply)) == str(reply)


@given(st.text(max_size=60))
def test_enhance_never_fails(line: str) -> None:
    out = codes.enhance(line)
    assert isinstance(out, str)


@pytest.mark.parametrize(
    ("address", "refused"),
    [
        ("alice@example.test", False),
        ("alice+tag@example.test", False),
        ("o'brien@example.test", False),
        ("a%b@example.test", True),
        ("host!a@example.test", True),
        ('"a@b"@example.test', True),
        ('"a b"@example.test', True),
    ],
)
def test_routing_tricks(address: str, refused: bool) -> None:
    assert (policy.routing_trick(address) is not None) is refused


@pytest.mark.parametrize(
    ("data", "bare"),
    [
        (b"", False),
        (b"a\r\nb\r\n", False),
        (b"a\nb\r\n", True),
        (b"a\rb\r\n", True),
        (b"a\r\r\n", True),
        (b"\n", True),
        (b"\r", True),
        (b"a\r\n\n", True),
    ],
)
def test_bare_newline_table(data: bytes, bare: bool) -> None:
    assert (policy.bare_newline(data) is not None) is bare
    # and fed as it would arrive in pieces: a split never hides one (the check sees it all)
    for cut in range(len(data) + 1):
        joined = data[:cut] + data[cut:]
        assert (policy.bare_newline(joined) is not None) is bare


@given(st.binary(max_size=200))
def test_bare_newline_matches_its_definition(data: bytes) -> None:
    stripped = data.replace(b"\r\n", b"")
    assert (policy.bare_newline(data) is not None) is (b"\r" in stripped or b"\n" in stripped)


@pytest.mark.parametrize(
    ("addresses", "address", "owned"),
    [
        (["alice@example.test"], "Alice@Example.Test", True),
        (["alice@example.test"], "alice+x@example.test", True),
        (["alice@example.test"], "alicex@example.test", False),
        (["alice@example.test"], "alice@example.test.evil", False),
        (["alice@example.test"], "<>", False),
        ([], "alice@example.test", False),
    ],
)
def test_owns(addresses: list[str], address: str, owned: bool) -> None:
    assert policy.owns(addresses, address) is owned


def test_rate_limiter_window() -> None:
    limiter = policy.RateLimiter(2, window=60)
    assert limiter.allow("1.2.3.4", 0) and limiter.allow("1.2.3.4", 1)
    assert not limiter.allow("1.2.3.4", 2)
    assert limiter.allow("5.6.7.8", 2)
    assert limiter.allow("1.2.3.4", 60.5)


def test_connection_gate() -> None:
    gate = policy.ConnectionGate(per_ip=2, total=3)
    assert gate.admit("a") is None and gate.admit("a") is None
    assert gate.admit("a") == codes.TOO_MANY_CONNECTIONS
    assert gate.admit("b") is None
    assert gate.admit("c") == codes.SERVER_FULL
    gate.release("a")
    assert gate.admit("c") is None and gate.open_from("a") == 1


def test_declared_size() -> None:
    assert policy.declared_size(["BODY=8BITMIME", "SIZE=1234"]) == 1234
    assert policy.declared_size(["SIZE=x"]) == 0 and policy.declared_size([]) == 0


def test_received_field() -> None:
    field = headers.received(
        helo="client.test", ip="192.0.2.1", hostname="mx.example.test", protocol="ESMTPS",
        queue_id="abc", recipients=["a@example.test"], now=0,
    )  # fmt: skip
    assert field == (
        b"Received: from client.test ([192.0.2.1])\r\n"
        b"\tby mx.example.test (postbus) with ESMTPS id abc\r\n"
        b"\tfor <a@example.test>;\r\n"
        b"\tThu, 01 Jan 1970 00:00:00 +0000\r\n"
    )
    several = headers.received(
        helo="x\r\nBcc: evil (", ip="2001:db8::1", hostname="h", protocol="SMTP",
        queue_id="q", recipients=["a@x", "b@x"], now=0,
    )  # fmt: skip
    assert several.startswith(b"Received: from x??Bcc:?evil?? ([IPv6:2001:db8::1])\r\n")
    assert b"for <" not in several and several.count(b"\r\n") == 3


@pytest.mark.parametrize(
    ("esmtp", "tls", "auth", "utf8", "keyword"),
    [
        (False, False, False, False, "SMTP"),
        (True, False, False, False, "ESMTP"),
        (True, True, False, False, "ESMTPS"),
        (True, True, True, False, "ESMTPSA"),
        (True, False, True, False, "ESMTPA"),
        (True, True, False, True, "UTF8SMTPS"),
    ],
)
def test_protocol_keyword(esmtp: bool, tls: bool, auth: bool, utf8: bool, keyword: str) -> None:
    assert headers.protocol_keyword(esmtp=esmtp, tls=tls, authenticated=auth, utf8=utf8) == keyword


def test_submission_fields_added_only_when_missing() -> None:
    bare = b"From: a@x\r\n\r\nbody\r\n"
    added = headers.submission_fields(bare, message_id="<id@h>", now=0)
    assert added == b"Date: Thu, 01 Jan 1970 00:00:00 +0000\r\nMessage-ID: <id@h>\r\n" + bare
    full = b"date: x\r\nMESSAGE-ID: <y>\r\n\r\nbody mentions\r\nDate: z\r\n"
    assert headers.submission_fields(full, message_id="<id@h>", now=0) == full
    body_only = b"\r\nDate: in the body\r\n"
    assert headers.submission_fields(body_only, message_id="<i>", now=0).startswith(b"Date: ")


@pytest.mark.parametrize(
    ("header", "addresses"),
    [
        (b"From: Alice <Alice@Example.Test>", ["alice@example.test"]),
        (b'From: a@x, "B, b" <b@x>', ["a@x", "b@x"]),
        (b"From: =?utf-8?q?Al=C3=AFce?= <a@x>", ["a@x"]),
        (b"From: Alice\r\n <a@x>", ["a@x"]),
        (b"Subject: none", []),
    ],
)
def test_from_addresses(header: bytes, addresses: list[str]) -> None:
    assert headers.from_addresses(header + b"\r\n\r\nFrom: body@x\r\n") == addresses


@pytest.mark.parametrize(
    ("line", "reply"),
    [
        (b"NOOP\r\n", None),
        (b"\r\n", None),
        (b"MAIL FROM:<a@b.test> SIZE=10\r\n", None),
        (b"NOOP\n", codes.BARE_LF_COMMAND),
        (b"\n", codes.BARE_LF_COMMAND),
        (b"NO\nOP\r\n", codes.BARE_LF_COMMAND),
        (b"NO\rOP\r\n", codes.BARE_CR_COMMAND),
        (b"NOOP\r\r\n", codes.BARE_CR_COMMAND),
        (b"\r\r\n", codes.BARE_CR_COMMAND),
    ],
)
def test_command_line_ending(line: bytes, reply: codes.Reply | None) -> None:
    assert policy.command_line_ending(line) == reply


@given(st.binary(max_size=80))
def test_command_line_ending_matches_its_definition(body: bytes) -> None:
    line = body + b"\r\n"
    clean = b"\r" not in body and b"\n" not in body
    assert (policy.command_line_ending(line) is None) is clean
    bare_lf = body.rstrip(b"\r") + b"\n"
    assert policy.command_line_ending(bare_lf) == codes.BARE_LF_COMMAND


def test_command_pace_allows_a_burst_then_the_rate() -> None:
    pace = policy.CommandPace(rate=10)
    assert all(pace.take(0.0) is None for _ in range(10))  # one second's worth at once
    assert pace.take(0.0) == codes.TOO_MANY_COMMANDS
    assert pace.take(0.1) is None  # 0.1 s refills one command
    assert pace.take(0.1) == codes.TOO_MANY_COMMANDS
    # A steady client at the rate is never refused, for as long as it goes on.
    assert all(pace.take(1.0 + i / 10) is None for i in range(200))
    # Idle time refills the bucket, but never past one second's worth.
    assert all(pace.take(100.0) is None for _ in range(10))
    assert pace.take(100.0) == codes.TOO_MANY_COMMANDS


def test_command_pace_never_goes_back_in_time() -> None:
    pace = policy.CommandPace(rate=2)
    assert pace.take(5.0) is None and pace.take(5.0) is None
    assert pace.take(4.0) == codes.TOO_MANY_COMMANDS  # a clock step back refills nothing


@pytest.mark.parametrize(
    "line", [b"NOOP\r\n", b"NOOP\n", b"NO\rOP\r\n", b"NOOP\r\r\n", b"\r\n", b"\n", b"\r\r\n"]
)
@pytest.mark.parametrize("bytewise", [False, True], ids=["whole", "bytewise"])
def test_command_pieces_agree_with_the_whole_line(line: bytes, bytewise: bool) -> None:
    """A line read in pieces (as aiosmtpd drains one too long: pieces without the LF, then the
    rest up to it) gets the verdict of the whole line, wherever it is cut."""
    whole = policy.command_line_ending(line)
    for cut in range(len(line)):
        head, rest = line[:cut], line[cut:]
        pieces = [head[i : i + 1] for i in range(len(head))] if bytewise else [head]
        verdict, previous = None, b""
        for piece in pieces:
            verdict = verdict or policy.command_piece(previous, piece)
            previous = piece[-1:] or previous
        verdict = verdict or policy.command_line_ending(previous + rest)
        assert verdict == whole, (head, rest)


def _full_parser(arg: str) -> tuple[str, str] | None:
    from email._header_value_parser import get_angle_addr
    from email.errors import HeaderParseError

    try:
        address, rest = get_angle_addr(arg)
        return address.addr_spec, rest
    except (HeaderParseError, IndexError):
        return None


@pytest.mark.parametrize(
    ("arg", "parsed"),
    [
        ("<a@b.test>", ("a@b.test", "")),
        ("<Ann.Lee+tag@Mail.Example.ORG> SIZE=10 BODY=8BITMIME",
         ("Ann.Lee+tag@Mail.Example.ORG", "SIZE=10 BODY=8BITMIME")),
        ("<a@b.test>SIZE=1", ("a@b.test", "SIZE=1")),
        ("<o'brien@b.test>", ("o'brien@b.test", "")),
        ("<>", None),  # the null path: aiosmtpd's own handling
        ('<"a b"@b.test>', None),
        ("<a@[192.0.2.1]>", None),
        ("<a..b@b.test>", None),
        ("<.a@b.test>", None),
        ("<@relay.test:a@b.test>", None),  # a source route
        ("<a@b.test> (comment) SIZE=1", None),
        ("<jörg@b.test>", None),
        ("a@b.test", None),
        (" <a@b.test>", None),
    ],
)  # fmt: skip
def test_simple_path(arg: str, parsed: tuple[str, str] | None) -> None:
    assert policy.simple_path(arg) == parsed
    if parsed is not None:
        assert _full_parser(arg) == parsed  # the same as the parser it stands in for


@given(
    st.text(alphabet='ab.+-@<>()[]" \t=1é', max_size=30)
    | st.from_regex(r"<[a-z.+]{1,8}@[a-z.-]{1,8}>[ \t]*[A-Z=0-9 (]{0,8}", fullmatch=True)
)
def test_simple_path_agrees_with_the_full_parser(arg: str) -> None:
    parsed = policy.simple_path(arg)
    if parsed is not None:
        assert _full_parser(arg) == parsed
