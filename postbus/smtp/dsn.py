"""Delivery status notifications: the bounce and the delay notice (RFC 3464, RFC 6522).

A pure function of its arguments: no clock, no randomness (the boundary and Message-ID are
derived from the content and ``now``), so the same inputs give the same bytes.

The report is ``multipart/report; report-type=delivery-status`` (RFC 6522 §3) with three parts:
a text for people, the ``message/delivery-status`` fields for programs (RFC 3464 §2), and the
original message's header as ``text/rfc822-headers`` (RFC 6522 §4). The body of the original is
not returned: it may be large, and the sender has it.

It is sent with the null reverse-path (RFC 5321 §4.5.5) and ``Auto-Submitted: auto-replied``
(RFC 3834 §5), so it is never bounced or answered by a vacation responder in turn.
"""

from __future__ import annotations

import enum
import hashlib
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import format_datetime

MAX_RETURNED_HEADER = 64 * 1024
MAX_DIAGNOSTIC = 900
CRLF = "\r\n"


class Action(enum.StrEnum):
    """RFC 3464 §2.3.3."""

    FAILED = "failed"
    DELAYED = "delayed"
    DELIVERED = "delivered"
    RELAYED = "relayed"
    EXPANDED = "expanded"


@dataclass(frozen=True, slots=True)
class RecipientStatus:
    """One recipient's per-recipient fields (RFC 3464 §2.3)."""

    recipient: str
    action: Action
    status: str  # RFC 3463 enhanced code, e.g. "5.1.1"
    diagnostic: str = ""  # the remote reply, e.g. "550 5.1.1 no such user"
    remote_mta: str = ""  # host name of the server that answered
    last_attempt: int | None = None
    will_retry_until: int | None = None  # delayed only


def _date(epoch: int) -> str:
    # RFC 5322 §3.3 date-time.
    return format_datetime(datetime.fromtimestamp(epoch, UTC))


def _clean(text: str, limit: int = MAX_DIAGNOSTIC) -> str:
    """One line of printable text: CR, LF and other controls never reach a header."""
    text = re.sub(r"[\x00-\x1f\x7f-\x9f]+", " ", text).strip()
    return text[:limit]


def _ascii(text: str) -> str:
    """RFC 6533 §3 embedded-unicode-char: non-ASCII as \\x{HEX}, so the field stays ASCII."""
    return "".join(c if c.isascii() else f"\\x{{{ord(c):X}}}" for c in text)


def _address_type(address: str) -> str:
    # RFC 3464 §2.3.2 "rfc822"; RFC 6533 §3 "utf-8" for internationalised addresses.
    return "rfc822" if address.isascii() else "utf-8"


def _fold(name: str, value: str) -> str:
    """A header field folded at spaces to stay under 78 octets where it can (RFC 5322 §2.2.3)."""
    line, out = f"{name}: ", []
    for word in value.split(" "):
        if len(line) + len(word) + 1 > 78 and line.strip() != f"{name}:":
            out.append(line.rstrip())
            line = " "
        line += word + " "
    out.append(line.rstrip())
    return CRLF.join(out)


def original_header(message: bytes) -> bytes:
    """The header section of ``message`` (up to the empty line), at most 64 KiB, CRLF lines."""
    end = len(message)
    for separator in (b"\r\n\r\n", b"\n\n"):
        at = message.find(separator)
        if at != -1:
            end = min(end, at)
    header = message[: min(end, MAX_RETURNED_HEADER)]
    if end > MAX_RETURNED_HEADER:
        # Cut at the last whole line so no half-field is returned.
        header = header[: header.rfind(b"\n") + 1]
    lines = re.split(rb"\r?\n", header.rstrip(b"\r\n"))
    return b"\r\n".join(lines) + b"\r\n"


def _delivery_status(
    reporting_mta: str, arrival: int, recipients: Sequence[RecipientStatus]
) -> str:
    # RFC 3464 §2.2 per-message fields, then one block per recipient (§2.3), blank-line apart.
    blocks = [
        CRLF.join([f"Reporting-MTA: dns; {reporting_mta}", f"Arrival-Date: {_date(arrival)}"])
    ]
    for r in recipients:
        fields = [
            f"Final-Recipient: {_address_type(r.recipient)}; {_clean(r.recipient, 512)}",
            f"Action: {r.action.value}",
            f"Status: {r.status}",
        ]
        if r.remote_mta:
            fields.append(f"Remote-MTA: dns; {_clean(r.remote_mta, 255)}")
        if r.diagnostic:
            fields.append(_fold("Diagnostic-Code", f"smtp; {_ascii(_clean(r.diagnostic))}"))
        if r.last_attempt is not None:
            fields.append(f"Last-Attempt-Date: {_date(r.last_attempt)}")
        if r.will_retry_until is not None:
            fields.append(f"Will-Retry-Until: {_date(r.will_retry_until)}")
        blocks.append(CRLF.join(fields))
    return (CRLF + CRLF).join(blocks) + CRLF


def _human_text(reporting_mta: str, recipients: Sequence[RecipientStatus], delayed: bool) -> str:
    if delayed:
        lines = [
            f"This is the mail system at {reporting_mta}.",
            "",
            "Your message has not been delivered yet to the recipients below.",
            "It is still in the queue and will be tried again; you need not send it again.",
        ]
    else:
        lines = [
            f"This is the mail system at {reporting_mta}.",
            "",
            "Your message could not be delivered to the recipients below.",
            "It will not be tried again.",
        ]
    lines.append("")
    for r in recipients:
        reason = _clean(r.diagnostic) or f"status {r.status}"
        lines.append(f"<{_clean(r.recipient, 512)}>: {reason}")
        if r.will_retry_until is not None:
            lines.append(f"    will be tried until {_date(r.will_retry_until)}")
    lines.append("")
    return CRLF.join(lines) + CRLF


def build_report(
    *,
    reporting_mta: str,
    sender: str,
    recipients: Sequence[RecipientStatus],
    original: bytes,
    arrival: int,
    now: int,
) -> bytes:
    """The DSN message for ``sender`` (who sent ``original``) about ``recipients``.

    A bounce when any recipient failed; a delay notice when all are ``delayed``.
    """
    if not recipients:
        raise ValueError("a delivery status notification needs at least one recipient")
    delayed = all(r.action is Action.DELAYED for r in recipients)
    header = original_header(original)
    status = _delivery_status(reporting_mta, arrival, recipients)
    text = _human_text(reporting_mta, recipients, delayed)
    seed = hashlib.sha256(
        b"|".join(
            [reporting_mta.encode(), sender.encode(), str(now).encode(), header, status.encode()]
        )
    ).hexdigest()
    boundary = f"=_postbus_{seed[:24]}"
    utf8 = not status.isascii()  # only a non-ASCII address makes the fields non-ASCII
    # RFC 6533 §6: internationalised reports use message/global-delivery-status.
    status_type = "message/global-delivery-status" if utf8 else "message/delivery-status"
    subject = (
        "Delivery delayed: message not yet delivered"
        if delayed
        else "Undelivered mail returned to sender"
    )
    postmaster = f"MAILER-DAEMON@{reporting_mta}"
    head = [
        f"From: Mail Delivery System <{postmaster}>",
        f"To: <{_clean(sender, 512)}>",
        f"Subject: {subject}",
        f"Date: {_date(now)}",
        f"Message-ID: <{seed[24:48]}.{now}@{reporting_mta}>",
        "Auto-Submitted: auto-replied",  # RFC 3834 §5
        "MIME-Version: 1.0",
        f'Content-Type: multipart/report; report-type=delivery-status;{CRLF} boundary="{boundary}"',
    ]
    charset = "utf-8" if not text.isascii() else "us-ascii"
    encoding = "8bit" if not (text.isascii() and status.isascii()) else "7bit"
    parts = [
        CRLF.join(head) + CRLF * 2 + "This is a MIME-encapsulated delivery status report." + CRLF,
        f"--{boundary}{CRLF}Content-Type: text/plain; charset={charset}{CRLF}"
        f"Content-Transfer-Encoding: {encoding}{CRLF}Content-Description: Notification"
        f"{CRLF}{CRLF}{text}",
        f"--{boundary}{CRLF}Content-Type: {status_type}{CRLF}"
        f"Content-Description: Delivery report{CRLF}{CRLF}{status}",
        f"--{boundary}{CRLF}Content-Type: text/rfc822-headers{CRLF}"
        f"Content-Description: Undelivered message headers{CRLF}{CRLF}",
    ]
    body = CRLF.join(parts).encode("utf-8")
    return body + header + f"{CRLF}--{boundary}--{CRLF}".encode()
