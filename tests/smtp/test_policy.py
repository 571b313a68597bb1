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
