"""Body structure: types, extension data, offsets, part numbering, JSON storage."""

from __future__ import annotations

import json
import mmap
import tempfile

import pytest
from mime_fixtures import ALL, crlf, lf, wire

from postbus.mime import BodyPart, find_part, iter_sections, parse_message
from postbus.mime.structure import MAX_DEPTH


def shape(part: BodyPart) -> object:
    """A compact view of the tree: "type/subtype" or (type, [children])."""
    if part.parts:
        return (part.content_type, [shape(p) for p in part.parts])
    return part.content_type


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("simple", "text/plain"),
        ("alternative", ("multipart/alternative", ["text/plain", "text/html"])),
        ("mixed_pdf", ("multipart/mixed", ["text/plain", "application/pdf"])),
        (
            "forwarded",
            (
                "multipart/mixed",
                [
                    "text/plain",
                    (
                        "message/rfc822",
                        [("multipart/alternative", ["text/plain", "text/html"])],
                    ),
                ],
            ),
        ),
        ("related", ("multipart/related", ["text/html", "image/png"])),
        ("no_boundary", "text/plain"),  # multipart without boundary: read as text
        ("boundary_not_found", "text/plain"),
        ("unterminated", ("multipart/mixed", ["text/plain", "text/plain"])),
        (
            "digest",  # RFC 2046 §5.1.5: default type message/rfc822
            ("multipart/digest", [("message/rfc822", ["text/plain"])] * 2),
        ),
        ("html_only", "text/html"),
    ],
)
def test_shapes(name: str, expected: object) -> None:
    assert shape(parse_message(wire(name)).body) == expected


def test_extension_data_of_a_leaf() -> None:
    pdf = parse_message(wire("mixed_pdf")).body.parts[1]
    assert (pdf.type, pdf.subtype) == ("application", "pdf")
    assert pdf.params == {"name": "report.pdf"}
    assert pdf.id == "<pdf1@example.com>"
    assert pdf.description == "The report"
    assert pdf.encoding == "BASE64"
    assert pdf.md5 == "Q2hlY2sgSW50ZWdyaXR5IQ=="
    assert pdf.disposition == "attachment"
    # RFC 2231 §3: continuations joined for BODYSTRUCTURE, still encoded
    assert pdf.disposition_params == {
        "filename*": "UTF-8''Re%CC%81sume%CC%81%202023.pdf",
        "size": "64",
    }
    assert pdf.language == ("en", "fr")
    assert pdf.location == "http://example.com/report.pdf"
    assert pdf.lines is None
    assert pdf.size == pdf.end - pdf.body_start


def test_text_part_fields_and_defaults() -> None:
    body = parse_message(wire("simple")).body
    assert body.params == {"charset": "us-ascii"}  # RFC 2045 §5.2 default
    assert body.encoding == "7BIT"
    assert body.lines == 2
    assert body.size == len(b'This is a message just to say hello.\r\nSo, "Hello".\r\n')
    assert (body.id, body.description, body.md5, body.disposition) == (None,) * 4


def test_multipart_params_and_message_envelope() -> None:
    body = parse_message(wire("forwarded")).body
    assert body.params == {"boundary": "outer"}
    msg = body.parts[1]
    assert msg.is_message
    assert msg.envelope[1] == "Lunch?"
    assert msg.envelope[2] == [["Erin", None, "erin", "example.org"]]
    assert msg.envelope[9] == "<lunch@example.org>"
    assert msg.lines == wire("forwarded")[msg.body_start : msg.end].count(b"\n")


@pytest.mark.parametrize("name", sorted(ALL))
def test_offsets_slice_exactly(name: str) -> None:
    raw = wire(name)
    body = parse_message(raw).body
    assert (body.header_start, body.end) == (0, len(raw))
    for _, part in iter_sections(body):
        header = raw[part.header_start : part.body_start]
        assert header == b"" or header.endswith(b"\r\n\r\n") or header == b"\r\n"
        assert part.size == part.end - part.body_start
        if part.is_message:
            inner = part.parts[0]
            assert inner.header_start == part.body_start
            assert inner.end == part.end
        if part.is_multipart:
            for child in part.parts:
                # the part body ends right before CRLF "--" boundary (RFC 2046 §5.1.1)
                boundary = b"--" + part.params["boundary"].encode()
                after = raw[child.end : child.end + 2 + len(boundary)]
                assert after == b"\r\n" + boundary or child.end == part.end


def test_offsets_serve_imap_sections() -> None:
    raw = wire("forwarded")
    body = parse_message(raw).body
    part1 = find_part(body, (1,))
    assert raw[part1.body_start : part1.end] == b"See below."
    assert raw[part1.header_start : part1.body_start] == b"Content-Type: text/plain\r\n\r\n"
    msg = find_part(body, (2,))
    inner = msg.parts[0]
    # BODY[2.HEADER] and BODY[2.TEXT]
    assert raw[inner.header_start : inner.body_start].startswith(b"From: Erin")
    assert raw[inner.header_start : inner.body_start].endswith(b"inner\r\n\r\n")
    assert raw[inner.body_start : inner.end].startswith(b"--inner\r\n")
    assert raw[inner.body_start : inner.end].endswith(b"--inner--\r\n")
    leaf = find_part(body, (2, 1))
    assert raw[leaf.body_start : leaf.end] == b"Pizza at noon?"
    html = find_part(body, (2, 2))
    assert raw[html.body_start : html.end] == b"<p>Pizza at noon?</p>"


@pytest.mark.parametrize(
    ("name", "section", "expected"),
    [
        ("simple", (), "text/plain"),
        ("simple", (1,), "text/plain"),  # RFC 9051 §6.4.5: a non-multipart's only part is 1
        ("simple", (2,), None),
        ("simple", (1, 1), None),
        ("mixed_pdf", (1,), "text/plain"),
        ("mixed_pdf", (2,), "application/pdf"),
        ("mixed_pdf", (3,), None),
        ("mixed_pdf", (0,), None),
        ("forwarded", (2,), "message/rfc822"),
        ("forwarded", (2, 1), "text/plain"),  # message/rfc822 parts nest
        ("forwarded", (2, 2), "text/html"),
        ("forwarded", (2, 3), None),
        ("forwarded", (2, 1, 1), None),
        ("digest", (1, 1), "text/plain"),  # encapsulated non-multipart body is N.1
        ("digest", (2, 1), "text/plain"),
        ("digest", (2, 2), None),
    ],
)
def test_find_part(name: str, section: tuple[int, ...], expected: str | None) -> None:
    part = find_part(parse_message(wire(name)).body, section)
    assert (part.content_type if part else None) == expected


def test_iter_sections_numbers() -> None:
    body = parse_message(wire("forwarded")).body
    assert [(s, p.content_type) for s, p in iter_sections(body)] == [
        ((1,), "text/plain"),
        ((2,), "message/rfc822"),
        ((2, 1), "text/plain"),
        ((2, 2), "text/html"),
    ]
    for section, part in iter_sections(body):
        assert find_part(body, section) is part


@pytest.mark.parametrize("name", sorted(ALL))
def test_json_round_trip(name: str) -> None:
    body = parse_message(wire(name)).body
    stored = json.dumps(body.to_json(), separators=(",", ":"))
    assert BodyPart.from_json(json.loads(stored)) == body


def test_json_is_compact() -> None:
    body = parse_message(wire("simple")).body
    assert body.to_json() == ["text", "plain", 0, 180, 232, {"charset": "us-ascii"}, {"lines": 2}]


def test_bare_lf_offsets_are_exact() -> None:
    for name in ("alternative", "forwarded", "simple"):
        raw_lf, raw_crlf = lf(ALL[name]), crlf(ALL[name])
        a, b = parse_message(raw_lf), parse_message(raw_crlf)
        assert shape(a.body) == shape(b.body)
        assert a.envelope == b.envelope
        for (_, pa), (_, pb) in zip(iter_sections(a.body), iter_sections(b.body), strict=True):
            assert (
                raw_lf[pa.body_start : pa.end].replace(b"\n", b"\r\n")
                == raw_crlf[pb.body_start : pb.end]
            )
            assert pa.lines == pb.lines


def test_nesting_is_capped() -> None:
    depth = 1000
    head = "".join(
        f"Content-Type: multipart/mixed; boundary=b{i}\n\n--b{i}\n" for i in range(depth)
    )
    raw = (head + "Content-Type: text/plain\n\ndeep\n").encode()
    body = parse_message(raw).body
    levels = 0
    part = body
    while part.parts:
        part = part.parts[0]
        levels += 1
    assert levels == MAX_DEPTH
    assert part.content_type == "text/plain"


def test_message_rfc822_nesting_is_capped() -> None:
    raw = b"Content-Type: message/rfc822\r\n\r\n" * 500 + b"Subject: deep\r\n\r\nhi"
    body = parse_message(raw).body
    assert body.is_message


def test_boundary_prefix_lines_are_not_delimiters() -> None:
    raw = crlf("Content-Type: multipart/mixed; boundary=abc\n\n--abc\n\nx\n--abcdef\ny\n--abc--\n")
    body = parse_message(raw).body
    assert len(body.parts) == 1
    part = body.parts[0]
    assert raw[part.body_start : part.end] == b"x\r\n--abcdef\r\ny"


def test_transport_padding_after_boundary() -> None:
    raw = crlf("Content-Type: multipart/mixed; boundary=p\n\n--p  \t\n\nx\n--p-- \n")
    body = parse_message(raw).body
    assert [raw[p.body_start : p.end] for p in body.parts] == [b"x"]


def test_mmap_and_memoryview_inputs() -> None:
    raw = wire("mixed_pdf")
    expected = parse_message(raw)
    assert parse_message(memoryview(raw)) == expected
    assert parse_message(bytearray(raw)) == expected
    sliced = parse_message(memoryview(b"XX" + raw)[2:])
    assert sliced.body == expected.body
    with tempfile.TemporaryFile() as f:
        f.write(raw)
        f.flush()
        with mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ) as mm:
            assert parse_message(mm) == expected
            assert parse_message(memoryview(mm)) == expected


def test_adjacent_delimiters_make_an_empty_part() -> None:
    raw = b"Content-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\n--b\r\n\r\nx\r\n--b--\r\n"
    body = parse_message(raw).body
    assert [raw[p.body_start : p.end] for p in body.parts] == [b"", b"x"]


def test_many_false_delimiters_stay_linear() -> None:
    raw = b"Content-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\n\r\n" + b"--bX\n" * 200_000
    m = parse_message(raw + b"--b--\r\n")
    assert m.size == len(raw) + 7
    assert len(m.body.parts) == 1


def test_many_parts_are_capped() -> None:
    raw = b"Content-Type: multipart/mixed; boundary=b\r\n\r\n" + b"--b\r\n\r\nx\r\n" * 20_000
    m = parse_message(raw)
    assert 0 < len(m.body.parts) < 5000 + 1
