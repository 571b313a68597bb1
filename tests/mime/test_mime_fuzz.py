"""parse_message never raises, whatever it is given, and its offsets stay inside the input."""

from __future__ import annotations

import json

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from mime_fixtures import ALL, lf, wire

from postbus.mime import BodyPart, find_part, imap_body, iter_sections, parse_message
from postbus.mime.addresses import parse_address_list
from postbus.mime.headers import decode_words, parse_date
from postbus.mime.message import _parse
from postbus.mime.params import parse_content_type
from postbus.mime.subject import base_subject

FIXTURES = [wire(name) for name in sorted(ALL)] + [lf(text) for text in ALL.values()]
SETTINGS = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def check(raw: bytes) -> None:
    # The internal entry point, which (unlike parse_message) lets a bug raise: parse_message's
    # catch-all fallback is the last line of defence, not something the fuzzer should hit.
    m = _parse(raw, len(raw))
    assert parse_message(raw) == m
    assert m.size == len(raw)
    assert len(m.preview) <= 200 and len(m.preview.encode()) <= 256
    assert len(m.search_text) <= 64 * 1024
    json.dumps([m.envelope, m.body.to_json()])
    assert BodyPart.from_json(json.loads(json.dumps(m.body.to_json()))) == m.body
    json.dumps([imap_body(m.body), imap_body(m.body, extensible=False)])
    assert m.body.header_start == 0 and m.body.end == len(raw)
    for section, part in iter_sections(m.body):
        assert 0 <= part.header_start <= part.body_start <= part.end <= len(raw)
        assert part.size == part.end - part.body_start
        assert find_part(m.body, section) is part
        if part.type == "text" or part.is_message:
            assert part.lines is not None
        if part.is_multipart:
            assert part.parts
    for text in (m.subject, m.preview, m.search_text, *(a.filename for a in m.attachments)):
        assert "\x00" not in text
        text.encode("utf-8")  # storable: no lone surrogates


@SETTINGS
@given(st.binary(max_size=2000))
def test_arbitrary_bytes(raw: bytes) -> None:
    check(raw)


# Bytes that matter to the parser, so mutations hit the interesting paths.
_INTERESTING = st.sampled_from(
    [b"\r\n", b"\n", b"\r", b"--", b":", b";", b"=?", b"?=", b"\"", b"<", b">", b"\x00", b"\xff",
     b"boundary=", b"Content-Type: multipart/mixed; boundary=b1\r\n", b"\r\n\r\n", b"(", b")",
     b"\\", b" ", b"\t", b"=", b"*0*=", b"'", b"%", b"message/rfc822", b"<script>", b"<!--"]
)  # fmt: skip


@st.composite
def mutated(draw: st.DrawFn) -> bytes:
    raw = bytearray(draw(st.sampled_from(FIXTURES)))
    for _ in range(draw(st.integers(1, 8))):
        pos = draw(st.integers(0, len(raw)))
        action = draw(st.sampled_from(["insert", "delete", "replace"]))
        chunk = draw(st.one_of(_INTERESTING, st.binary(min_size=1, max_size=8)))
        if action == "insert":
            raw[pos:pos] = chunk
        elif action == "delete":
            raw[pos : pos + draw(st.integers(1, 40))] = b""
        else:
            raw[pos : pos + len(chunk)] = chunk
    return bytes(raw)


@SETTINGS
@given(mutated())
def test_mutated_real_messages(raw: bytes) -> None:
    check(raw)


@SETTINGS
@given(st.sampled_from(FIXTURES), st.integers(0, 5000))
def test_truncated_real_messages(raw: bytes, cut: int) -> None:
    check(raw[:cut])


@SETTINGS
@given(st.text(max_size=300))
def test_header_value_helpers_never_raise(value: str) -> None:
    decode_words(value)
    parse_date(value)
    base_subject(value)
    for entry in parse_address_list(value):
        assert len(entry) == 4
        # RFC 9051 §7.5.2: a NIL host only ever marks a group
        if entry[3] is None:
            assert entry[0] is None and entry[1] is None
    t, s, p = parse_content_type(value, ("text", "plain"))
    assert t == t.lower() and s == s.lower() and isinstance(p, dict)
