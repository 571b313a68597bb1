"""BODY / BODYSTRUCTURE lists in RFC 9051 §7.5.2 order."""

from __future__ import annotations

from typing import Any

from mime_fixtures import wire

from postbus.mime import parse_message
from postbus.mime.bodystructure import imap_body


def render(value: Any) -> str:
    """A test-only printer: lists in parentheses, strings quoted, None as NIL."""
    if value is None:
        return "NIL"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, str):
        return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
    parts = [render(v) for v in value]
    # body-type-mpart = 1*body SP media-subtype: bodies are not separated by spaces
    out, prev_list = "", False
    for v, text in zip(value, parts, strict=True):
        is_list = isinstance(v, list)
        if out and not (prev_list and is_list and text.startswith("((")):
            out += " "
        out += text
        prev_list = is_list
    return "(" + out + ")"


def rfc3501_example() -> bytes:
    text1 = b"".join(b"x" * 50 + b"\r\n" for _ in range(22)) + b"abcdefgh"
    text2 = b"".join(b"A" * 60 + b"\r\n" for _ in range(72)) + b"B" * 90
    return (
        b"Content-Type: multipart/mixed; boundary=x\r\n\r\n"
        b"--x\r\nContent-Type: text/plain; charset=US-ASCII\r\n\r\n" + text1 + b"\r\n"
        b"--x\r\nContent-Type: text/plain; charset=US-ASCII; name=cc.diff\r\n"
        b"Content-ID: <960723163407.20117h@cac.washington.edu>\r\n"
        b"Content-Description: Compiler diff\r\n"
        b"Content-Transfer-Encoding: BASE64\r\n\r\n" + text2 + b"\r\n--x--\r\n"
    )


def test_rfc3501_fetch_example() -> None:
    # RFC 3501 §7.4.2 FETCH response example (BODY form, no extension data)
    body = parse_message(rfc3501_example()).body
    expected = (
        '(("TEXT" "PLAIN" ("CHARSET" "US-ASCII") NIL NIL "7BIT" 1152 23)("TEXT" "PLAIN" '
        '("CHARSET" "US-ASCII" "NAME" "cc.diff") "<960723163407.20117h@cac.washington.edu>" '
        '"Compiler diff" "BASE64" 4554 73) "MIXED")'
    )
    got = imap_body(body, extensible=False)
    assert got[0][:8] == ["text", "plain", ["charset", "US-ASCII"], None, None, "7BIT", 1152, 23]
    assert render(got).lower() == expected.lower().replace(")(", ") (")


def test_extension_data() -> None:
    body = parse_message(wire("mixed_pdf")).body
    got = imap_body(body)
    assert got[0] == [
        "text", "plain", ["charset", "iso-8859-1"], None, None, "8BIT", 27, 1,
        None, None, None, None,
    ]  # fmt: skip
    pdf = got[1]
    assert pdf[:7] == ["application", "pdf", ["name", "report.pdf"], "<pdf1@example.com>",
                       "The report", "BASE64", body.parts[1].size]  # fmt: skip
    assert pdf[7:] == [
        "Q2hlY2sgSW50ZWdyaXR5IQ==",
        ["attachment", ["filename*", "UTF-8''Re%CC%81sume%CC%81%202023.pdf", "size", "64"]],
        ["en", "fr"],
        "http://example.com/report.pdf",
    ]
    assert got[2:] == ["mixed", ["boundary", "b1"], None, None, None]


def test_message_rfc822_carries_envelope_body_and_lines() -> None:
    body = parse_message(wire("forwarded")).body
    msg = imap_body(body)[1]
    assert msg[:2] == ["message", "rfc822"]
    envelope, inner, lines = msg[7], msg[8], msg[9]
    assert envelope[1] == "Lunch?"
    assert inner[-5:] == ["alternative", ["boundary", "inner"], None, None, None]
    assert lines == body.parts[1].lines
    assert msg[10:] == [None, ["inline", None], None, None]
