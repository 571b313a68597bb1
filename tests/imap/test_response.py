"""The response writer: strings, literals, ENVELOPE and BODYSTRUCTURE from stored JSON."""

from __future__ import annotations

import json

from postbus.imap.proto import response as r
from postbus.mime import BodyPart, parse_message
from postbus.store.parsed import COMPACT


def test_strings() -> None:
    assert r.string("plain") == b'"plain"'
    assert r.string('say "hi" \\') == b'"say \\"hi\\" \\\\"'
    assert r.string("line\r\nbreak") == b"{11}\r\nline\r\nbreak"
    assert r.string("Grüße") == b"{7}\r\nGr\xc3\xbc\xc3\x9fe"  # 8-bit: a literal for IMAP4rev1
    assert r.string("Grüße", utf8=True) == '"Grüße"'.encode()  # RFC 6855 §3
    assert r.nstring(None) == b"NIL"
    assert r.astring("INBOX") == b"INBOX"
    assert r.astring("NIL") == b'"NIL"'
    assert r.astring("with space") == b'"with space"'
    assert r.astring("a%b") == b'"a%b"'


def test_internal_date_and_flags() -> None:
    assert r.internal_date(0) == b'"01-Jan-1970 00:00:00 +0000"'
    assert r.flags(("\\Seen", "$Junk")) == b"(\\Seen $Junk)"


def test_status_lines() -> None:
    assert r.tagged("a1", "OK", "done", "READ-WRITE") == b"a1 OK [READ-WRITE] done\r\n"
    assert r.untagged_status("BYE", "bye") == b"* BYE bye\r\n"
    assert r.continuation("Ready") == b"+ Ready\r\n"


RAW = (
    b"From: \"Anna, de Vries\" <anna@example.net>\r\n"
    b"To: friends: bob@example.org, carl@example.org;\r\n"
    b"Subject: =?utf-8?q?Gr=C3=BC=C3=9Fe?=\r\n"
    b"Date: Tue, 24 Nov 2026 10:00:00 +0100\r\n"
    b"Message-ID: <1@example.net>\r\n"
    b"MIME-Version: 1.0\r\n"
    b"Content-Type: multipart/mixed; boundary=XX\r\n"
    b"\r\n"
    b"--XX\r\n"
    b"Content-Type: text/plain; charset=utf-8\r\n"
    b"\r\n"
    b"Hello\r\n"
    b"--XX\r\n"
    b"Content-Type: application/pdf; name=a.pdf\r\n"
    b"Content-Disposition: attachment; filename=a.pdf\r\n"
    b"Content-Transfer-Encoding: base64\r\n"
    b"\r\n"
    b"JVBERi0=\r\n"
    b"--XX--\r\n"
)


def stored(raw: bytes) -> tuple[list, BodyPart]:
    parsed = parse_message(raw)
    # the same round trip the store does: JSON at delivery, back at FETCH
    env = json.loads(json.dumps(parsed.envelope, separators=COMPACT))
    body = BodyPart.from_json(json.loads(json.dumps(parsed.body.to_json(), separators=COMPACT)))
    return env, body


def test_envelope_with_group_syntax() -> None:
    env, _ = stored(RAW)
    assert r.envelope(env) == (
        b'("Tue, 24 Nov 2026 10:00:00 +0100" "=?utf-8?q?Gr=C3=BC=C3=9Fe?="'
        b' (("Anna, de Vries" NIL "anna" "example.net"))'
        b' (("Anna, de Vries" NIL "anna" "example.net"))'
        b' (("Anna, de Vries" NIL "anna" "example.net"))'
        b' ((NIL NIL "friends" NIL)(NIL NIL "bob" "example.org")(NIL NIL "carl" "example.org")'
        b"(NIL NIL NIL NIL)) NIL NIL NIL \"<1@example.net>\")"
    )


def test_bodystructure_and_body() -> None:
    _, body = stored(RAW)
    assert r.body_structure(body, extended=True) == (
        b'(("TEXT" "PLAIN" ("charset" "utf-8") NIL NIL "7BIT" 5 1 NIL NIL NIL NIL)'
        b'("APPLICATION" "PDF" ("name" "a.pdf") NIL NIL "BASE64" 8 NIL'
        b' ("ATTACHMENT" ("filename" "a.pdf")) NIL NIL)'
        b' "MIXED" ("boundary" "XX") NIL NIL NIL)'
    )
    assert r.body_structure(body, extended=False) == (
        b'(("TEXT" "PLAIN" ("charset" "utf-8") NIL NIL "7BIT" 5 1)'
        b'("APPLICATION" "PDF" ("name" "a.pdf") NIL NIL "BASE64" 8) "MIXED")'
    )


def test_bodystructure_of_an_attached_message() -> None:
    inner = b"From: x@example.org\r\nSubject: inner\r\n\r\nbody\r\n"
    raw = (
        b"Content-Type: message/rfc822\r\n\r\n" + inner
    )
    _, body = stored(raw)
    out = r.body_structure(body, extended=False)
    assert out.startswith(b'("MESSAGE" "RFC822" NIL NIL NIL "7BIT" %d (' % len(inner))
    assert b'"inner"' in out
    assert out.endswith(b'("TEXT" "PLAIN" ("charset" "us-ascii") NIL NIL "7BIT" 6 1) 4)')
