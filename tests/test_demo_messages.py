"""The demo mailbox parses cleanly and shows every case the webmail must render."""

from __future__ import annotations

import re
import struct
import zlib
from datetime import UTC, datetime, timedelta
from email import message_from_bytes, policy
from email.message import EmailMessage
from email.utils import parsedate_to_datetime

import pytest

from postbus.demo import DemoMessage, demo_messages
from postbus.demo.messages import INVOICE_FILENAME, NEWSLETTER_BANNER_URL, NEWSLETTER_LOGO_CID

NOW = datetime(2026, 5, 9, 12, 0, 0, tzinfo=UTC)
ADDRESS = "anna@example.test"
NAME = "Anna de Boer"


@pytest.fixture(scope="module")
def demo() -> list[DemoMessage]:
    return demo_messages(NOW, ADDRESS, NAME)


def parse(raw: bytes) -> EmailMessage:
    msg = message_from_bytes(raw, policy=policy.default)
    assert isinstance(msg, EmailMessage)
    return msg


def by_subject(demo: list[DemoMessage], needle: str) -> list[tuple[DemoMessage, EmailMessage]]:
    found = [(m, parse(m.raw)) for m in demo]
    return [(m, msg) for m, msg in found if needle in str(msg["Subject"])]


def test_required_headers_and_structure(demo: list[DemoMessage]) -> None:
    assert len(demo) >= 10
    for m in demo:
        msg = parse(m.raw)
        for name in ("Date", "From", "To", "Subject", "Message-ID", "MIME-Version"):
            assert len(msg.get_all(name, [])) == 1, (name, msg["Subject"])
        assert msg["MIME-Version"] == "1.0"
        assert not msg.defects
        for part in msg.walk():
            assert not part.defects, msg["Subject"]
            if part is not msg:
                assert "MIME-Version" not in part
        # Message-ID at the sender's domain (RFC 5322 §3.6.4 recommends a domain the sender owns).
        sender_domain = msg["From"].addresses[0].domain
        assert re.fullmatch(rf"<[^<>@\s]+@{re.escape(sender_domain)}>", msg["Message-ID"])
        assert msg["From"].addresses[0].domain.endswith(".test")
        assert m.internal_date.tzinfo is not None
        assert NOW - timedelta(days=7) < m.internal_date <= NOW
        date = parsedate_to_datetime(msg["Date"])
        assert abs(date - m.internal_date) < timedelta(minutes=1)


def test_crlf_everywhere(demo: list[DemoMessage]) -> None:
    for m in demo:
        assert b"\r\n" in m.raw
        assert re.search(rb"(?<!\r)\n", m.raw) is None, "bare LF"
        assert re.search(rb"\r(?!\n)", m.raw) is None, "bare CR"
        assert m.raw.endswith(b"\r\n")
        assert max(len(line) for line in m.raw.split(b"\r\n")) <= 78  # RFC 5322 §2.1.1 SHOULD


def test_addressing_and_folders(demo: list[DemoMessage]) -> None:
    folders = {m.folder for m in demo}
    assert folders == {"INBOX", "Sent", "Drafts"}
    for m in demo:
        msg = parse(m.raw)
        if m.folder == "INBOX":
            assert [a.addr_spec for a in msg["To"].addresses] == [ADDRESS]
            assert msg["To"].addresses[0].display_name == NAME
            assert msg["From"].addresses[0].domain != "example.test" or "postmaster" in str(
                msg["From"]
            )
        else:
            assert msg["From"].addresses[0].addr_spec == ADDRESS
            assert "\\Seen" in m.flags
    drafts = [m for m in demo if m.folder == "Drafts"]
    assert len(drafts) == 1 and "\\Draft" in drafts[0].flags
    assert any("\\Flagged" in m.flags for m in demo)
    inbox = [m for m in demo if m.folder == "INBOX"]
    unread = [m for m in inbox if "\\Seen" not in m.flags]
    assert 0 < len(unread) < len(inbox)
    assert [m.internal_date for m in demo] == sorted(m.internal_date for m in demo)


def test_deterministic(demo: list[DemoMessage]) -> None:
    assert demo_messages(NOW, ADDRESS, NAME) == demo
    later = demo_messages(NOW + timedelta(days=1), ADDRESS, NAME)
    assert {parse(m.raw)["Message-ID"] for m in later}.isdisjoint(
        parse(m.raw)["Message-ID"] for m in demo
    )
    naive = demo_messages(NOW.replace(tzinfo=None), ADDRESS, NAME)
    assert naive == demo


def test_welcome_is_plain_text_with_login_details(demo: list[DemoMessage]) -> None:
    [(_, msg)] = by_subject(demo, "Welcome")
    assert msg.get_content_type() == "text/plain"
    text = msg.get_content()
    for needle in ("1143", "2587", "http://127.0.0.1:8080", ADDRESS):
        assert needle in text


def test_newsletter_html_with_inline_png_and_remote_image(demo: list[DemoMessage]) -> None:
    [(m, msg)] = by_subject(demo, "Harbour")
    assert msg.get_content_type() == "multipart/alternative"
    plain, related = msg.get_payload()
    assert plain.get_content_type() == "text/plain"
    assert related.get_content_type() == "multipart/related"
    html_part, image = related.get_payload()
    html = html_part.get_content()
    assert html_part.get_content_type() == "text/html"
    assert f'src="cid:{NEWSLETTER_LOGO_CID}"' in html
    assert f'src="{NEWSLETTER_BANNER_URL}"' in html
    assert image["Content-ID"] == f"<{NEWSLETTER_LOGO_CID}>"
    assert image.get_content_disposition() == "inline"
    png = image.get_content()
    assert png.startswith(b"\x89PNG\r\n\x1a\n")
    # Walk the chunks: valid CRCs, IHDR 32x32 RGB, IDAT inflates to 32 rows of 1 + 32*3 bytes.
    pos, chunks = 8, {}
    while pos < len(png):
        (length,) = struct.unpack(">I", png[pos : pos + 4])
        kind, data = png[pos + 4 : pos + 8], png[pos + 8 : pos + 8 + length]
        (crc,) = struct.unpack(">I", png[pos + 8 + length : pos + 12 + length])
        assert crc == zlib.crc32(kind + data)
        chunks[kind] = data
        pos += 12 + length
    assert list(chunks) == [b"IHDR", b"IDAT", b"IEND"]
    assert struct.unpack(">IIBB", chunks[b"IHDR"][:10]) == (32, 32, 8, 2)
    assert len(zlib.decompress(chunks[b"IDAT"])) == 32 * (1 + 32 * 3)
    assert "\\Seen" not in m.flags


def test_invoice_pdf_attachment(demo: list[DemoMessage]) -> None:
    [(m, msg)] = by_subject(demo, "invoice")
    assert msg.get_content_type() == "multipart/mixed"
    [attachment] = list(msg.iter_attachments())
    assert attachment.get_content_type() == "application/pdf"
    assert attachment["Content-Transfer-Encoding"] == "base64"
    assert attachment.get_content_disposition() == "attachment"
    assert attachment.get_filename() == INVOICE_FILENAME
    assert f'filename="{INVOICE_FILENAME}"' in m.raw.decode("ascii")
    pdf = attachment.get_content()
    assert pdf.startswith(b"%PDF-")
    assert pdf.rstrip().endswith(b"%%EOF")
    assert b"(Invoice 2026-117) Tj" in pdf
    # The cross-reference table points at each object exactly (ISO 32000-1 §7.5.4).
    startxref = int(pdf.rsplit(b"startxref", 1)[1].split()[0])
    assert pdf[startxref:].startswith(b"xref\n0 ")
    header, *entries = pdf[startxref:].split(b"trailer")[0].split(b"\n")[1:-1]
    count = int(header.split()[1])
    assert len(entries) == count
    assert entries[0] == b"0000000000 65535 f "
    for number, entry in enumerate(entries[1:], start=1):
        assert len(entry) + 1 == 20
        offset = int(entry[:10])
        assert pdf[offset:].startswith(b"%d 0 obj\n" % number)
    length = re.search(rb"/Length (\d+) >>\nstream\n", pdf)
    assert length is not None
    stream_len = int(length.group(1))
    body = pdf.split(b"stream\n", 1)[1]
    assert body[stream_len:].startswith(b"endstream")


def test_thread_headers(demo: list[DemoMessage]) -> None:
    thread = by_subject(demo, "Booking the cabin")
    assert len(thread) == 3
    (m1, a), (m2, b), (m3, c) = thread  # demo is in date order
    assert a["Subject"] == "Booking the cabin for the long weekend"
    assert b["Subject"] == c["Subject"] == "Re: " + a["Subject"]
    assert (m1.folder, m2.folder, m3.folder) == ("INBOX", "Sent", "INBOX")
    assert "In-Reply-To" not in a and "References" not in a
    assert b["In-Reply-To"] == a["Message-ID"]
    assert b["References"] == a["Message-ID"]
    assert c["In-Reply-To"] == b["Message-ID"]
    assert c["References"].split() == [a["Message-ID"], b["Message-ID"]]
    assert a["From"] == c["From"] and b["To"] == a["From"]
    assert set(m1.flags) == {"\\Seen", "\\Answered"}
    assert "\\Seen" in m2.flags
    assert "\\Seen" not in m3.flags
    assert "> the cabin near the lake" in b.get_content()


def test_dutch_message(demo: list[DemoMessage]) -> None:
    [(m, msg)] = by_subject(demo, "Uitnodiging")
    assert msg["Subject"] == "Uitnodiging: teamoverleg op vrijdag — één uur"
    subject = re.search(rb"^Subject:(.*?)\r\n(?! )", m.raw, re.M | re.S)
    assert subject is not None
    raw_subject = subject.group(1)
    assert raw_subject.isascii() and b"=?utf-8?" in raw_subject  # RFC 2047 encoded words
    assert m.raw.isascii()
    assert msg["Content-Transfer-Encoding"] == "quoted-printable"
    assert msg.get_content_charset() == "utf-8"
    text = msg.get_content()
    for word in ("café", "één", "ideeën", "geïnteresseerd", "België"):
        assert word in text


def test_draft_replies_to_flagged(demo: list[DemoMessage]) -> None:
    [(flagged, original), (draft, reply)] = by_subject(demo, "Floor plans")
    assert "\\Flagged" in flagged.flags
    assert draft.folder == "Drafts"
    assert reply["In-Reply-To"] == original["Message-ID"]
