"""Mail written in the webmail: the MIME message (Python's email package, policy SMTP) and
its way out, as SMTP submission would send it.

Local recipients go through the delivery pipeline (``postbus.delivery``); remote ones to the
outbound queue (``postbus.smtp.queue.enqueue``), DKIM-signed; a copy goes to Sent, marked
seen. Nothing is reported "sent" before every copy is committed (design.md "Durability").
"""

from __future__ import annotations

import logging
import re
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email import policy
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import format_datetime, formatdate, getaddresses, make_msgid
from pathlib import Path

from postbus.delivery import resolve
from postbus.smtp.sending import dkim_signed
from postbus.smtp.sending import send as send_message
from postbus.smtp.srs import SrsForwarder
from postbus.store import InvalidName, Store
from postbus.store.directory import normalise_address
from postbus.web.htmlmail import sanitise_composed
from postbus.web.plaintext import html_to_plain

log = logging.getLogger("postbus.web")
_TOKEN = re.compile(r"[a-z0-9][a-z0-9!#$&^_.+-]{0,126}")


@dataclass(frozen=True, slots=True)
class Upload:
    filename: str
    content_type: str
    data: bytes
    whole: bool = False  # a whole message forwarded as message/rfc822, kept byte for byte


@dataclass(slots=True)
class Outgoing:
    from_address: str
    from_name: str
    to: str = ""
    cc: str = ""
    bcc: str = ""
    subject: str = ""
    body: str = ""  # text/plain; made from ``html`` when that is set (``set_html``)
    html: str = ""  # sanitised fragment of the editor, or "" for a plain-text message
    in_reply_to: str = ""
    references: str = ""
    attachments: list[Upload] = field(default_factory=list)


def set_html(outgoing: Outgoing, markup: str) -> None:
    """The editor's HTML, sanitised, and the plain-text alternative made from it."""
    outgoing.html = sanitise_composed(markup)
    outgoing.body = html_to_plain(outgoing.html)
    if not outgoing.body.strip():
        outgoing.html = ""  # nothing written: a plain message, not an empty HTML part


def html_document(fragment: str) -> str:
    return (
        '<!doctype html>\n<html><head><meta charset="utf-8"></head>\n'
        f"<body>{fragment}</body></html>\n"
    )


class SendError(Exception):
    """Why a message cannot be sent; ``code`` names a translated sentence in compose.py."""

    def __init__(self, code: str, detail: str = "") -> None:
        super().__init__(code)
        self.code = code
        self.detail = detail


def addresses(text: str) -> tuple[list[tuple[str, str]], list[str]]:
    """(name, address) pairs of an address field as typed, and the items that are not
    addresses. Commas and semicolons both separate."""
    good: list[tuple[str, str]] = []
    bad: list[str] = []
    for name, address in getaddresses([text.replace(";", ",")]):
        if not address and not name:
            continue
        try:
            normalise_address(address)
        except InvalidName:
            bad.append(address or name)
            continue
        if "@" not in address or not address.rpartition("@")[2].count("."):
            bad.append(address)
            continue
        good.append((name, address))
    return good, bad


def _header_addresses(pairs: list[tuple[str, str]]) -> list[Address]:
    out = []
    for name, address in pairs:
        local, _, domain = address.rpartition("@")
        out.append(Address(display_name=name, username=local, domain=domain))
    return out


def build(outgoing: Outgoing, *, now: float | None = None, draft: bool = False) -> bytes:
    """The RFC 5322 message; Bcc is kept only in a draft (RFC 5322 §3.6.3)."""
    msg = EmailMessage(policy=policy.SMTP)
    from_local, _, from_domain = outgoing.from_address.rpartition("@")
    msg["From"] = Address(display_name=outgoing.from_name, username=from_local, domain=from_domain)
    for header, text in (("To", outgoing.to), ("Cc", outgoing.cc)) + (
        (("Bcc", outgoing.bcc),) if draft else ()
    ):
        pairs, _bad = addresses(text)
        if pairs:
            msg[header] = _header_addresses(pairs)
    msg["Subject"] = outgoing.subject
    msg["Date"] = _date(now)
    msg["Message-ID"] = make_msgid(domain=from_domain or None)
    if outgoing.in_reply_to:
        msg["In-Reply-To"] = outgoing.in_reply_to
    if outgoing.references:
        msg["References"] = outgoing.references
    msg["User-Agent"] = "postbus webmail"
    body = outgoing.body.replace("\r\n", "\n")
    if not body.endswith("\n"):
        body += "\n"
    msg.set_content(body, subtype="plain", charset="utf-8")
    if outgoing.html:
        # RFC 2046 §5.1.4: alternatives in increasing order of preference, plain text first.
        msg.add_alternative(html_document(outgoing.html), subtype="html", charset="utf-8")
    for upload in outgoing.attachments:
        if upload.whole:
            _attach_message(msg, upload)
            continue
        maintype, _, subtype = upload.content_type.lower().partition("/")
        # The browser's word for the type: only a plain RFC 2045 §5.1 token pair is used.
        if not (_TOKEN.fullmatch(maintype) and _TOKEN.fullmatch(subtype)) or maintype in (
            "multipart", "message"
        ):
            maintype, subtype = "application", "octet-stream"
        if maintype == "text":
            msg.add_attachment(upload.data, maintype="application", subtype="octet-stream",
                               filename=upload.filename)
        else:
            msg.add_attachment(upload.data, maintype=maintype, subtype=subtype,
                               filename=upload.filename)
    return msg.as_bytes(policy=policy.SMTP)


def _attach_message(msg: EmailMessage, upload: Upload) -> None:
    """A message forwarded as an attachment. RFC 2046 §5.2.1: message/rfc822 is never base64
    or quoted-printable, so the bytes go in as they are (8bit when they are not ASCII), and
    the original's DKIM signature still verifies for whoever opens it."""
    part = EmailMessage()
    part["Content-Type"] = "message/rfc822"
    part["Content-Disposition"] = "attachment"
    part.set_param("filename", upload.filename, header="Content-Disposition")
    part["Content-Transfer-Encoding"] = "7bit" if upload.data.isascii() else "8bit"
    # A str payload is written out untouched by the generator; surrogateescape keeps 8bit bytes.
    part.set_payload(upload.data.decode("ascii", "surrogateescape"))
    msg.make_mixed()
    msg.attach(part)


def _date(now: float | None) -> str:
    if now is None:
        return formatdate(localtime=True)
    return format_datetime(datetime.fromtimestamp(now, UTC))


def recipients_of(outgoing: Outgoing) -> list[str]:
    out: dict[str, None] = {}
    for text in (outgoing.to, outgoing.cc, outgoing.bcc):
        pairs, bad = addresses(text)
        if bad:
            raise SendError("bad_address", ", ".join(bad))
        for _name, address in pairs:
            out.setdefault(address, None)
    return list(out)


async def send(
    store: Store,
    account_id: int,
    outgoing: Outgoing,
    *,
    max_recipients: int,
    max_size: int,
    plus_addressing: bool,
    dkim_dir: Path | None,
) -> None:
    """Deliver, queue and file in Sent; SendError when nothing was sent."""
    recipients = recipients_of(outgoing)
    if not recipients:
        raise SendError("no_recipient")
    if len(recipients) > max_recipients:
        raise SendError("too_many", str(max_recipients))
    ours = {domain.name for domain in await store.list_domains()}
    local, remote = [], []
    for address in recipients:
        recipient = await resolve(store, address, plus_addressing=plus_addressing)
        if recipient is not None:
            local.append(recipient)
        elif address.rpartition("@")[2].lower() in ours:
            raise SendError("unknown_local", address)
        else:
            remote.append(address)
    message = build(outgoing)
    if len(message) > max_size:
        raise SendError("too_large")
    domain = outgoing.from_address.rpartition("@")[2]
    message = await dkim_signed(message, domain, dkim_dir)
    # Our own sender: no SRS needed, so no key; remote forwards go through the queue.
    results = await send_message(
        store, account_id, outgoing.from_address, local, remote, message,
        received=int(time.time()), forwarder=SrsForwarder(store, None),
    )  # fmt: skip
    failed = [r for r in results if r.error is not None]
    if failed and len(failed) == len(results) and not remote:
        raise SendError("delivery_failed", ", ".join(r.recipient.address for r in failed))
