"""parse_message on real-shaped messages: envelope, addresses, preview, attachments, text."""

from __future__ import annotations

import calendar
import json

import pytest
from mime_fixtures import ALL, wire

from postbus.mime import Address, Attachment, ParsedMessage, parse_message

N = None


def test_simple() -> None:
    raw = wire("simple")
    m = parse_message(raw)
    assert isinstance(m, ParsedMessage)
    assert m.size == len(raw)
    assert m.date == calendar.timegm((1997, 11, 21, 15, 55, 6))
    assert m.subject == m.base_subject == "Saying Hello"
    assert m.from_ == (Address("John Doe", "jdoe", "machine.example"),)
    assert m.from_[0].email == "jdoe@machine.example"
    assert m.sender == m.reply_to == ()  # the fields themselves; the envelope defaults them
    assert m.message_id == "<1234@local.machine.example>"
    assert m.envelope == [
        "Fri, 21 Nov 1997 09:55:06 -0600",
        "Saying Hello",
        [["John Doe", N, "jdoe", "machine.example"]],
        [["John Doe", N, "jdoe", "machine.example"]],  # RFC 9051 §7.5.2: sender := from
        [["John Doe", N, "jdoe", "machine.example"]],  # reply-to := from
        [["Mary Smith", N, "mary", "example.net"]],
        N,
        N,
        N,
        "<1234@local.machine.example>",
    ]
    assert m.preview == 'This is a message just to say hello. So, "Hello".'
    assert m.attachments == () and not m.has_attachment
    assert "Saying Hello" in m.search_text and "mary@example.net" in m.search_text
    assert "just to say hello" in m.search_text


def test_alternative_utf8_subject_and_threading_fields() -> None:
    m = parse_message(wire("alternative"))
    assert m.subject == "Grüße aus Köln"
    assert m.envelope[1] == "=?UTF-8?B?R3LDvMOfZSBhdXMgS8O2bG4=?="  # raw in the envelope
    assert m.from_ == (Address("Jörg Müller", "joerg", "example.de"),)
    assert m.envelope[2] == [["=?utf-8?q?J=C3=B6rg_M=C3=BCller?=", N, "joerg", "example.de"]]
    assert m.to == (
        Address("Smith, Mary", "mary", "example.net"),
        Address("", "bob", "example.org"),
    )
    assert m.envelope[6] == [[N, N, "undisclosed-recipients", N], [N, N, N, N]]
    assert m.cc == ()
    assert m.in_reply_to == ("<orig.1@example.net>",)
    assert m.references == ("<root.0@example.net>", "<orig.1@example.net>")
    assert m.envelope[8] == "<orig.1@example.net>"
    # text/plain wins over text/html for preview and search (RFC 2046 §5.1.4)
    assert m.preview == "Grüße aus Köln, bis bald!"
    assert "Grüße aus Köln,\r\nbis bald!" in m.search_text  # line ends as sent
    assert "<p>" not in m.search_text


def test_mixed_with_pdf_attachment() -> None:
    m = parse_message(wire("mixed_pdf"))
    assert m.base_subject == "the report"
    assert m.preview == "Hi Bob, here is the résumé."  # ISO-8859-1 body
    assert m.attachments == (
        Attachment(
            filename="Résumé 2023.pdf",  # RFC 2231 continuations, UTF-8, decoded
            content_type="application/pdf",
            size=124,  # estimated from base64 (126 actual)
            section=(2,),
            content_id="<pdf1@example.com>",
            inline=False,
        ),
    )
    assert m.has_attachment
    assert "Résumé 2023.pdf" in m.search_text
    assert "JVBERi0" not in m.search_text  # attachments are never decoded into text


def test_forwarded_message_is_one_attachment_and_its_text_is_searchable() -> None:
    m = parse_message(wire("forwarded"))
    assert m.base_subject == "Lunch?"
    assert [(a.filename, a.content_type, a.section) for a in m.attachments] == [
        ("Lunch?.eml", "message/rfc822", (2,))
    ]
    assert m.has_attachment
    assert m.preview == "See below."
    assert "Pizza at noon?" in m.search_text


def test_related_inline_image_is_not_an_attachment() -> None:
    m = parse_message(wire("related"))
    assert m.base_subject == "Weekly letter"
    (logo,) = m.attachments
    assert (logo.filename, logo.content_id, logo.inline) == ("logo.png", "<logo@example.com>", True)
    assert not m.has_attachment
    # html -> text: script dropped, entities decoded, windows-1252 decoded
    assert m.preview == "Caf€ news Read more & more"
    assert "alert" not in m.search_text


def test_latin1_words_and_two_digit_year() -> None:
    m = parse_message(wire("latin1_subject"))
    # RFC 2047 §8: adjacent words in different charsets are joined without the space
    assert m.subject == "If you can read this you understand the example."
    assert m.from_[0].name == "André Pirard"
    assert m.to[0].name == "Keld Jørn Simonsen"
    assert m.date == calendar.timegm((1997, 11, 21, 9, 55, 6))


def test_group_syntax_and_comments() -> None:
    m = parse_message(wire("groups"))
    assert m.envelope[2] == [["Pete", N, "pete", "silly.test"]]
    assert m.envelope[5] == [
        [N, N, "A Group", N],
        ["Chris Jones", N, "c", "public.example"],
        [N, N, "joe", "example.org"],
        ["John", N, "jdoe", "one.test"],
        [N, N, N, N],
    ]
    assert m.envelope[6] == [[N, N, "Hidden recipients", N], [N, N, N, N]]
    assert [a.email for a in m.to] == ["c@public.example", "joe@example.org", "jdoe@one.test"]
    assert m.date == calendar.timegm((1969, 2, 14, 3, 2, 0))
    assert m.subject == "" and m.envelope[1] is None


def test_html_only_preview() -> None:
    m = parse_message(wire("html_only"))
    assert m.preview == "Thanks for your order! Item Price"
    assert "Order" not in m.search_text.split("\n", 2)[2]  # <title> dropped


def test_digest_messages_are_attachments() -> None:
    m = parse_message(wire("digest"))
    assert [a.filename for a in m.attachments] == ["one.eml", "two.eml"]
    assert m.preview == "One."


@pytest.mark.parametrize("name", ["no_boundary", "boundary_not_found"])
def test_missing_boundary_reads_as_text(name: str) -> None:
    m = parse_message(wire(name))
    assert m.body.content_type == "text/plain"
    assert "hello" in m.search_text


def test_preview_limits() -> None:
    body = "ä" * 500
    m = parse_message(f"Subject: x\nContent-Type: text/plain; charset=utf-8\n\n{body}".encode())
    assert len(m.preview) <= 200
    assert len(m.preview.encode()) <= 256  # RFC 8970 §2
    assert m.preview == "ä" * 128


def test_search_text_is_capped() -> None:
    m = parse_message(b"Subject: big\r\n\r\n" + b"word " * 100_000)
    assert len(m.search_text) <= 64 * 1024
    assert m.search_text.startswith("big\n")


def test_bad_charset_and_transfer_encoding() -> None:
    raw = (
        b"Content-Type: text/plain; charset=x-no-such-charset\r\n"
        b"Content-Transfer-Encoding: base64\r\n\r\n"
        b"SGVsbG8gd29ybGQ*!!=\r\nnot base64 at all\r\n"
    )
    m = parse_message(raw)
    assert m.preview.startswith("Hello world")
    raw = (
        b"Content-Type: text/plain; charset=utf-8\r\n"
        b"Content-Transfer-Encoding: quoted-printable\r\n\r\n=C3=A4=ZZ=\r\nx"
    )
    assert parse_message(raw).preview == "ä=ZZx"


def test_eight_bit_and_nul_in_headers() -> None:
    raw = b"Subject: caf\xe9 \x00ok\r\nFrom: J\xc3\xb6rg <j@x>\r\n\r\nbody\x00text"
    m = parse_message(raw)
    assert m.subject == "café ok"
    assert m.from_[0].name == "Jörg"
    assert "\x00" not in m.search_text
    json.dumps(m.envelope)


def test_no_header_body_separator() -> None:
    m = parse_message(b"Subject: only a header\r\nFrom: a@b")
    assert m.subject == "only a header"
    assert m.body.body_start == m.body.end == m.size
    assert m.preview == ""


def test_headerless_message_is_all_body() -> None:
    m = parse_message(b"just some text\r\nand more\r\n")
    assert m.body.body_start == 0
    assert m.preview == "just some text and more"
    assert m.envelope == [None] * 10


@pytest.mark.parametrize("raw", [b"", b"\r\n", b"\n\n", b"\x00" * 10, b"--", b":"])
def test_degenerate_inputs(raw: bytes) -> None:
    m = parse_message(raw)
    assert m.size == len(raw)
    assert m.body.end == len(raw)


@pytest.mark.parametrize("name", sorted(ALL))
def test_envelope_and_structure_are_json(name: str) -> None:
    m = parse_message(wire(name))
    json.dumps([m.envelope, m.body.to_json()])


def test_signature_of_signed_message_is_not_an_attachment() -> None:
    raw = (
        b'Content-Type: multipart/signed; protocol="application/pkcs7-signature";'
        b' micalg=sha-256; boundary="s"\r\n\r\n'
        b"--s\r\nContent-Type: text/plain\r\n\r\nsigned text\r\n"
        b"--s\r\nContent-Type: application/pkcs7-signature; name=smime.p7s\r\n"
        b"Content-Disposition: attachment; filename=smime.p7s\r\n"
        b"Content-Transfer-Encoding: base64\r\n\r\nMIIB\r\n--s--\r\n"
    )
    m = parse_message(raw)
    assert m.attachments == () and not m.has_attachment
    assert m.preview == "signed text"


def test_attachment_named_with_rfc2047_in_content_type_name() -> None:
    raw = (
        b"Content-Type: multipart/mixed; boundary=x\r\n\r\n--x\r\n\r\nhi\r\n--x\r\n"
        b'Content-Type: application/octet-stream; name="=?utf-8?q?D=C3=A4ten.zip?="\r\n\r\n'
        b"PK\r\n--x--\r\n"
    )
    (a,) = parse_message(raw).attachments
    assert (a.filename, a.section, a.inline, a.size) == ("Däten.zip", (2,), False, 2)


def test_internal_failure_falls_back_to_one_text_part(monkeypatch: pytest.MonkeyPatch) -> None:
    import postbus.mime.message as message

    def boom(*_args: object) -> None:
        raise RuntimeError("bug")

    monkeypatch.setattr(message, "gather_text", boom)
    m = parse_message(b"Subject: x\r\n\r\nbody")
    assert m.size == m.body.end == 18 and m.body.content_type == "text/plain"
