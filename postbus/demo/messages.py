"""The demo mailbox: ten realistic messages that show what postbus can display.

`demo_messages(now)` returns them oldest first, ready to be appended to the demo account (INBOX,
Sent, Drafts). Each one is a well-formed RFC 5322 / MIME message with CRLF line endings, dated a
few minutes to a few days before `now`. The set covers what the webmail must render: plain text,
an HTML newsletter with an inline (cid:) image and a blocked remote image, a PDF attachment, a
three-message thread across INBOX and Sent, a Dutch message in quoted-printable with RFC 2047
subject, a draft, a flagged message, and a mix of read and unread.

Nothing here reads the clock or uses randomness: the same `now` gives the same bytes (boundaries
and Message-IDs are derived from `now`), so the demo and its tests are reproducible. The PNG
logo and the PDF invoice are generated in code, so the package carries no binary files.
"""

from __future__ import annotations

import hashlib
import struct
import zlib
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone
from email import policy
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import format_datetime

__all__ = ["DemoMessage", "demo_messages", "invoice_pdf", "logo_png"]

# RFC 5322 §2.1: lines end in CRLF; policy.SMTP also folds at 78 and RFC 2047-encodes
# non-ASCII header text (RFC 6532 is not assumed of the reader).
_POLICY = policy.SMTP

SEEN = "\\Seen"
ANSWERED = "\\Answered"
FLAGGED = "\\Flagged"
DRAFT = "\\Draft"

INBOX = "INBOX"
SENT = "Sent"
DRAFTS = "Drafts"

_CET = timezone(timedelta(hours=1))
_IST = timezone(timedelta(hours=5, minutes=30))
_EST = timezone(timedelta(hours=-5))

INVOICE_NUMBER = "2026-117"
INVOICE_FILENAME = f"invoice-{INVOICE_NUMBER}.pdf"
NEWSLETTER_LOGO_CID = "logo.7f3a@harbourcoffee.test"
NEWSLETTER_BANNER_URL = "https://images.example.test/banner.png"


@dataclass(frozen=True, slots=True)
class DemoMessage:
    folder: str
    raw: bytes
    flags: tuple[str, ...]
    internal_date: datetime


# --- generated attachments ----------------------------------------------------------------


def _png_chunk(kind: bytes, data: bytes) -> bytes:
    # PNG spec §5.3: length, type, data, CRC-32 over type and data.
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def logo_png(size: int = 32) -> bytes:
    """A small RGB PNG: a white envelope on a teal-to-blue gradient."""
    left, right, top, bottom = size * 3 // 16, size * 13 // 16, size * 9 // 32, size * 23 // 32
    half = (right - left) // 2
    rows = bytearray()
    for y in range(size):
        rows.append(0)  # filter type 0 (None) for every scanline
        for x in range(size):
            shade = (x + y) * 255 // (2 * size - 2)
            pixel = (20, 140 - shade // 4, 160 + shade // 3)
            if left <= x <= right and top <= y <= bottom:
                # the flap: two lines from the top corners meeting below the middle
                flap_y = top + (bottom - top) * 3 * min(x - left, right - x) // (5 * half)
                edge = x in (left, right) or y in (top, bottom) or y == flap_y
                pixel = (255, 255, 255) if edge else (225, 240, 245)
            rows.extend(pixel)
    header = struct.pack(">IIBBBBB", size, size, 8, 2, 0, 0, 0)  # 8-bit RGB, no interlace
    return (
        b"\x89PNG\r\n\x1a\n"
        + _png_chunk(b"IHDR", header)
        + _png_chunk(b"IDAT", zlib.compress(bytes(rows), 9))
        + _png_chunk(b"IEND", b"")
    )


def _pdf_text(text: str) -> str:
    escaped = text.replace("\\", "\\\\").replace("(", "\\(").replace(")", "\\)")
    return f"({escaped})"


def invoice_pdf(customer: str, issued: datetime) -> bytes:
    """A one-page PDF invoice, hand-written objects and an exact cross-reference table."""
    due = issued + timedelta(days=14)
    lines: list[tuple[str, int, int, str]] = [  # font, size, line advance, text
        ("F2", 20, 0, f"Invoice {INVOICE_NUMBER}"),
        ("F1", 10, 28, "Northwind Hosting B.V., Havenstraat 12, 1011 AB Amsterdam"),
        ("F1", 10, 14, "VAT NL001234567B01  -  billing@northwind-hosting.test"),
        ("F1", 11, 32, f"Bill to: {customer}"),
        ("F1", 11, 16, f"Invoice date: {issued:%d %B %Y}"),
        ("F1", 11, 16, f"Due date: {due:%d %B %Y}"),
        ("F2", 11, 32, "Description                                   Qty      Amount"),
        ("F1", 11, 18, "Mail hosting, family plan (5 mailboxes)         1   EUR 12.00"),
        ("F1", 11, 16, "Extra storage, 50 GB                            1    EUR 3.50"),
        ("F1", 11, 16, "VAT 21%                                              EUR 3.26"),
        ("F2", 12, 24, "Total                                              EUR 18.76"),
        ("F1", 10, 40, "Paid by direct debit. Thank you for your business."),
    ]
    ops = ["BT", "72 770 Td"]
    for font, size, advance, text in lines:
        ops.append(f"/{font} {size} Tf 0 {-advance} Td {_pdf_text(text)} Tj")
    ops.append("ET")
    stream = ("\n".join(ops) + "\n").encode("cp1252", "replace")

    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] "
        b"/Resources << /Font << /F1 5 0 R /F2 6 0 R >> >> /Contents 4 0 R >>",
        b"<< /Length %d >>\nstream\n" % len(stream) + stream + b"endstream",
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica /Encoding /WinAnsiEncoding >>",
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica-Bold /Encoding /WinAnsiEncoding >>",
        b"<< /Title "
        + _pdf_text(f"Invoice {INVOICE_NUMBER}").encode("ascii")
        + b" /Producer (postbus demo) /CreationDate (D:"
        + issued.strftime("%Y%m%d%H%M%S").encode("ascii")
        + b"Z) >>",
    ]
    out = bytearray(b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n")  # binary comment: ISO 32000-1 §7.5.2
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % number + body + b"\nendobj\n"
    xref_at = len(out)
    # ISO 32000-1 §7.5.4: every entry is exactly 20 bytes, ending in a two-byte EOL.
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    for offset in offsets:
        out += b"%010d 00000 n \n" % offset
    out += b"trailer\n<< /Size %d /Root 1 0 R /Info %d 0 R >>\n" % (
        len(objects) + 1,
        len(objects),
    )
    out += b"startxref\n%d\n%%%%EOF\n" % xref_at
    return bytes(out)


# --- message assembly ---------------------------------------------------------------------


def _msgid(now: datetime, key: str, domain: str, date: datetime) -> str:
    digest = hashlib.sha256(f"{now.isoformat()}|{key}".encode()).hexdigest()[:16]
    return f"<{date:%Y%m%d%H%M%S}.{digest}@{domain}>"


def _finish(msg: EmailMessage, key: str) -> bytes:
    """Fix every multipart boundary (reproducible bytes) and serialise with CRLF."""
    for number, part in enumerate(msg.walk()):
        if part is not msg:
            del part["MIME-Version"]  # RFC 2045 §4: top level only; EmailMessage adds it to parts
        if part.is_multipart():
            part.set_boundary(f"=_pb_{key}_{number}")
    return msg.as_bytes(policy=_POLICY)


def _message(
    *,
    sender: Address,
    to: Address,
    subject: str,
    date: datetime,
    msgid: str,
    in_reply_to: list[str] | None = None,
    extra: dict[str, str] | None = None,
) -> EmailMessage:
    msg = EmailMessage(policy=_POLICY)
    msg["Date"] = format_datetime(date)
    msg["From"] = sender
    msg["To"] = to
    msg["Subject"] = subject
    msg["Message-ID"] = msgid
    if in_reply_to:
        # RFC 5322 §3.6.4: In-Reply-To is the parent, References the whole chain to it.
        msg["In-Reply-To"] = in_reply_to[-1]
        msg["References"] = " ".join(in_reply_to)
    msg["MIME-Version"] = "1.0"
    for name, value in (extra or {}).items():
        msg[name] = value
    return msg


def _address(display: str, addr: str) -> Address:
    local, _, domain = addr.rpartition("@")
    return Address(display, local, domain)


def demo_messages(
    now: datetime, address: str = "demo@example.test", name: str = "Demo User"
) -> list[DemoMessage]:
    """The demo mailbox for `address`, oldest first. A naive `now` is taken as UTC."""
    if now.tzinfo is None:
        now = now.replace(tzinfo=UTC)
    now = now.replace(microsecond=0)
    user = _address(name, address)
    user_domain = user.domain
    out: list[DemoMessage] = []

    def add(
        folder: str,
        key: str,
        msg: EmailMessage,
        flags: tuple[str, ...],
        at: datetime,
        delay: timedelta = timedelta(seconds=3),
    ) -> None:
        # Inbound mail arrives a few seconds after its Date; own mail is stored at once.
        arrived = at + delay if folder == INBOX else at
        out.append(DemoMessage(folder, _finish(msg, key), flags, arrived.astimezone(UTC)))

    # 1. Welcome from the service itself: plain text, unread.
    at = now - timedelta(days=4, hours=2, minutes=13)
    postmaster = Address("postbus", "postmaster", user_domain)
    msg = _message(
        sender=postmaster,
        to=user,
        subject="Welcome to your new mailbox",
        date=at,
        msgid=_msgid(now, "welcome", user_domain, at),
    )
    msg.set_content(
        f"Hello {name},\n"
        "\n"
        f"your mailbox {address} is ready. You can read and send mail in two ways.\n"
        "\n"
        "In the browser (webmail):\n"
        "    http://127.0.0.1:8080\n"
        "\n"
        "In a mail app (Thunderbird, Apple Mail, K-9, Outlook, ...):\n"
        "    Incoming mail (IMAP):  server 127.0.0.1, port 1143, STARTTLS\n"
        "    Outgoing mail (SMTP):  server 127.0.0.1, port 2587, STARTTLS\n"
        f"    User name:             {address}\n"
        "    Password:              the one you were given\n"
        "\n"
        "These are the ports of the demo installation. On a real server your\n"
        "administrator will tell you the server name; most mail apps find the\n"
        "settings by themselves when you enter your address and password.\n"
        "\n"
        "In the webmail you can also set up filters and an out-of-office reply,\n"
        "add addresses to your contacts, and change your password.\n"
        "\n"
        "Enjoy your mail,\n"
        "postbus\n"
    )
    add(INBOX, "welcome", msg, (), at)

    # 2. Three-message thread: Priya -> user (Sent) -> Priya.
    priya = _address("Priya Raman", "priya.raman@fernwood.test")
    subject = "Booking the cabin for the long weekend"
    at1 = now - timedelta(days=3, hours=5, minutes=41)
    at2 = now - timedelta(days=2, hours=22, minutes=7)
    at3 = now - timedelta(hours=5, minutes=18)
    id1 = _msgid(now, "thread-1", "fernwood.test", at1)
    id2 = _msgid(now, "thread-2", user_domain, at2)
    id3 = _msgid(now, "thread-3", "fernwood.test", at3)
    first_name = name.split()[0] if name.split() else name

    first_body = (
        f"Hi {first_name},\n"
        "\n"
        "the cabin near the lake is free for the long weekend, Friday to Monday.\n"
        "It sleeps six, has a wood stove and the canoe is included. They want a\n"
        "deposit of 150 by the end of the week to hold it.\n"
        "\n"
        "Shall I book it? If you are in, could you ask Tom whether he can drive?\n"
        "\n"
        "Priya\n"
    )
    msg = _message(sender=priya, to=user, subject=subject, date=at1.astimezone(_IST), msgid=id1)
    msg.set_content(first_body)
    add(INBOX, "thread-1", msg, (SEEN, ANSWERED), at1)

    quoted = "".join(f"> {line}".rstrip() + "\n" for line in first_body.splitlines())
    msg = _message(
        sender=user,
        to=priya,
        subject=f"Re: {subject}",
        date=at2.astimezone(_CET),
        msgid=id2,
        in_reply_to=[id1],
    )
    msg.set_content(
        "Yes, please book it! I will transfer my half of the deposit tonight.\n"
        "Tom says he can drive if we leave after 4 on Friday.\n"
        "\n"
        f"{first_name}\n"
        "\n"
        f"On {at1.astimezone(_IST):%a, %d %b %Y at %H:%M}, Priya Raman wrote:\n"
        f"{quoted}"
    )
    add(SENT, "thread-2", msg, (SEEN,), at2)

    msg = _message(
        sender=priya,
        to=user,
        subject=f"Re: {subject}",
        date=at3.astimezone(_IST),
        msgid=id3,
        in_reply_to=[id1, id2],
    )
    msg.set_content(
        "Booked! Confirmation number LK-4471. Check-in is from 3 pm, the key is\n"
        "in the box by the door (code 2719).\n"
        "\n"
        "I will bring food for Friday night; can you do breakfast?\n"
        "\n"
        "Priya\n"
    )
    add(INBOX, "thread-3", msg, (), at3)

    # 3. Invoice with a PDF attachment, read.
    at = now - timedelta(days=2, hours=3, minutes=2)
    northwind = _address("Northwind Hosting", "billing@northwind-hosting.test")
    msg = _message(
        sender=northwind,
        to=user,
        subject=f"Your invoice {INVOICE_NUMBER}",
        date=at.astimezone(_CET),
        msgid=_msgid(now, "invoice", "northwind-hosting.test", at),
    )
    msg.set_content(
        f"Dear {name},\n"
        "\n"
        f"please find attached invoice {INVOICE_NUMBER} for your mail hosting.\n"
        "The amount of EUR 18.76 will be collected by direct debit; you do not\n"
        "need to do anything.\n"
        "\n"
        "Kind regards,\n"
        "Northwind Hosting - Customer Accounts\n"
    )
    msg.add_attachment(
        invoice_pdf(f"{name} <{address}>", at),
        maintype="application",
        subtype="pdf",
        filename=INVOICE_FILENAME,
    )
    add(INBOX, "invoice", msg, (SEEN,), at)

    # 4. Flagged message (read) and a draft reply to it.
    at = now - timedelta(days=1, hours=7, minutes=30)
    lena = _address("Lena Hoffmann", "lena@hoffmann-architekten.test")
    lena_id = _msgid(now, "flagged", "hoffmann-architekten.test", at)
    msg = _message(
        sender=lena,
        to=user,
        subject="Floor plans for the extension: please review by Thursday",
        date=at.astimezone(_CET),
        msgid=lena_id,
    )
    msg.set_content(
        f"Dear {name},\n"
        "\n"
        "the revised floor plans are ready. The main changes since our meeting:\n"
        "\n"
        "  - the kitchen window moves 40 cm to the left;\n"
        "  - the skylight over the stairs is now a fixed pane;\n"
        "  - the utility room gets its own door to the garden.\n"
        "\n"
        "The building permit application has to go out on Friday, so I need your\n"
        "comments by Thursday at the latest. A short call works too.\n"
        "\n"
        "Best regards,\n"
        "Lena Hoffmann\n"
        "Hoffmann Architekten\n"
    )
    add(INBOX, "flagged", msg, (SEEN, FLAGGED), at)

    at = now - timedelta(hours=1, minutes=4)
    msg = _message(
        sender=user,
        to=lena,
        subject="Re: Floor plans for the extension: please review by Thursday",
        date=at.astimezone(_CET),
        msgid=_msgid(now, "draft", user_domain, at),
        in_reply_to=[lena_id],
    )
    msg.set_content(
        "Dear Lena,\n"
        "\n"
        "thank you for the plans. The kitchen window is fine. About the utility\n"
        "room door:\n"
    )
    add(DRAFTS, "draft", msg, (SEEN, DRAFT), at)

    # 5. Something the user sent on their own.
    at = now - timedelta(days=1, hours=2, minutes=55)
    tom = _address("Tom Okafor", "tom@okafor.test")
    msg = _message(
        sender=user,
        to=tom,
        subject="Photos from Saturday",
        date=at.astimezone(_CET),
        msgid=_msgid(now, "sent", user_domain, at),
    )
    msg.set_content(
        "Hi Tom,\n"
        "\n"
        "the photos from Saturday are in the shared album now; the one of the\n"
        "bonfire came out really well. Thanks again for driving!\n"
        "\n"
        f"{first_name}\n"
    )
    add(SENT, "sent", msg, (SEEN,), at)

    # 6. Dutch invitation: UTF-8, quoted-printable, RFC 2047 subject; unread.
    at = now - timedelta(hours=9, minutes=47)
    maarten = _address("Maarten van Dijk", "maarten@hoogland.test")
    msg = _message(
        sender=maarten,
        to=user,
        subject="Uitnodiging: teamoverleg op vrijdag — één uur",
        date=at.astimezone(_CET),
        msgid=_msgid(now, "dutch", "hoogland.test", at),
    )
    msg.set_content(
        "Hallo allemaal,\n"
        "\n"
        "vrijdag om 10.00 uur houden we ons teamoverleg in het café op de hoek\n"
        "(de vergaderzaal wordt geschilderd). Het duurt één uur, niet langer.\n"
        "\n"
        "Agenda:\n"
        "  1. Terugblik op het kwartaal en de ideeën uit de enquête\n"
        "  2. Planning van de coördinatie met het nieuwe team\n"
        "  3. Wie is geïnteresseerd in de cursus in België?\n"
        "\n"
        "Koffie en croissants zijn van de zaak. Laat even weten of je erbij bent.\n"
        "\n"
        "Groet,\n"
        "Maarten\n",
        charset="utf-8",
        cte="quoted-printable",
    )
    add(INBOX, "dutch", msg, (), at)

    # 7. HTML newsletter: text/plain alternative, related inline PNG, a remote image; unread.
    at = now - timedelta(minutes=38)
    harbour = _address("Harbour Coffee Roasters", "news@harbourcoffee.test")
    msg = _message(
        sender=harbour,
        to=user,
        subject="This month at Harbour: autumn blends and a tasting evening",
        date=at.astimezone(_EST),
        msgid=_msgid(now, "news", "harbourcoffee.test", at),
        extra={
            "List-Id": "Harbour Coffee news <news.harbourcoffee.test>",
            "List-Unsubscribe": "<https://harbourcoffee.test/unsubscribe?u=demo>",
            "List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
        },
    )
    msg.set_content(
        "HARBOUR COFFEE ROASTERS - news for October\n"
        "\n"
        "Autumn blends are here\n"
        "Our Ember blend is back: dark chocolate, fig and a hint of smoke.\n"
        "Shop: https://harbourcoffee.test/shop/ember\n"
        "\n"
        "Tasting evening, Thursday 7 pm\n"
        "Join our roasters for a free cupping of five single origins.\n"
        "Reserve a seat: https://harbourcoffee.test/events\n"
        "\n"
        "You receive this because you subscribed at harbourcoffee.test.\n"
        "Unsubscribe: https://harbourcoffee.test/unsubscribe?u=demo\n"
    )
    msg.add_alternative(
        "<!DOCTYPE html>\n"
        '<html><head><meta charset="utf-8"><title>Harbour Coffee news</title></head>\n'
        '<body style="margin:0;background:#f4efe9;font-family:Georgia,serif;color:#2b2118">\n'
        '<table role="presentation" width="100%" cellpadding="0" cellspacing="0">\n'
        '<tr><td align="center" style="padding:24px">\n'
        '<table role="presentation" width="600" style="background:#fff;border-radius:8px">\n'
        '<tr><td style="padding:20px">\n'
        f'<img src="cid:{NEWSLETTER_LOGO_CID}" width="32" height="32" alt="Harbour logo"'
        ' style="vertical-align:middle">\n'
        ' <strong style="font-size:20px">Harbour Coffee Roasters</strong></td></tr>\n'
        f'<tr><td><img src="{NEWSLETTER_BANNER_URL}" width="600" height="200"'
        ' alt="Autumn blends" style="display:block"></td></tr>\n'
        '<tr><td style="padding:20px">\n'
        '<h1 style="font-size:24px">Autumn blends are here</h1>\n'
        "<p>Our <b>Ember</b> blend is back: dark chocolate, fig and a hint of smoke.</p>\n"
        '<p><a href="https://harbourcoffee.test/shop/ember">Shop Ember</a></p>\n'
        '<h2 style="font-size:18px">Tasting evening, Thursday 7 pm</h2>\n'
        "<p>Join our roasters for a free cupping of five single origins.</p>\n"
        '<p><a href="https://harbourcoffee.test/events">Reserve a seat</a></p>\n'
        "</td></tr>\n"
        '<tr><td style="padding:20px;font-size:12px;color:#7a6a5c">You receive this because '
        "you subscribed at harbourcoffee.test.\n"
        '<a href="https://harbourcoffee.test/unsubscribe?u=demo">Unsubscribe</a></td></tr>\n'
        "</table></td></tr></table>\n"
        "</body></html>\n",
        subtype="html",
    )
    html_part = msg.get_payload()[1]
    html_part.add_related(
        logo_png(),
        "image",
        "png",
        cid=f"<{NEWSLETTER_LOGO_CID}>",
        disposition="inline",
        filename="logo.png",
    )
    add(INBOX, "news", msg, (), at)

    out.sort(key=lambda m: m.internal_date)
    return out
