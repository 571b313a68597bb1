"""Header fields the listeners add or read: trace fields, Message-ID, Date, From. Pure.

Times and random ids are passed in; nothing here reads the clock or the random source.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from email.parser import BytesHeaderParser
from email.policy import compat32
from email.utils import format_datetime, getaddresses

# RFC 5321 §4.1.2 Domain / address-literal: what a HELO name may put into a Received line.
_HELO_UNSAFE = re.compile(r"[^A-Za-z0-9.\-_:\[\]]")
# RFC 5322 §2.2 field-name: printable ASCII except colon.
_FIELD_NAME = re.compile(rb"^([!-9;-~]+)[ \t]*:", re.MULTILINE)
MAX_HELO = 255


def header_block(message: bytes) -> bytes:
    """The header section, up to and including the blank line (all of it if none)."""
    if message.startswith(b"\r\n"):
        return b""
    end = message.find(b"\r\n\r\n")
    return message if end < 0 else message[: end + 4]


def field_names(message: bytes) -> set[str]:
    """The lower-case names of the header fields present."""
    return {m.group(1).decode("ascii").lower() for m in _FIELD_NAME.finditer(header_block(message))}


def date_value(now: float) -> str:
    """RFC 5322 §3.3 date-time, in UTC."""
    return format_datetime(datetime.fromtimestamp(now, UTC))


def tcp_info(ip: str) -> str:
    """RFC 5321 §4.4 TCP-info address literal: ``[192.0.2.1]`` or ``[IPv6:2001:db8::1]``."""
    return f"[IPv6:{ip}]" if ":" in ip else f"[{ip}]"


def protocol_keyword(*, esmtp: bool, tls: bool, authenticated: bool, utf8: bool) -> str:
    """RFC 3848 §2 (ESMTP, ESMTPS, ESMTPA, ESMTPSA) and RFC 6531 §3.7.3 (UTF8SMTP...)."""
    if not esmtp:
        return "SMTP"
    suffix = ("S" if tls else "") + ("A" if authenticated else "")
    return ("UTF8SMTP" if utf8 else "ESMTP") + suffix


def received(
    *,
    helo: str,
    ip: str,
    hostname: str,
    protocol: str,
    queue_id: str,
    recipients: list[str],
    now: float,
) -> bytes:
    """The ``Received:`` trace field this hop adds (RFC 5321 §4.4), folded, ending in CRLF.

    ``for`` names the recipient only when there is exactly one, so a message to several
    people does not show each of them the others' Bcc addresses.
    """
    name = _HELO_UNSAFE.sub("?", helo)[:MAX_HELO] or "unknown"
    lines = [
        f"Received: from {name} ({tcp_info(ip)})",
        f"\tby {hostname} (postbus) with {protocol} id {queue_id}",
    ]
    target = f"\tfor <{recipients[0]}>;" if len(recipients) == 1 else None
    stamp = date_value(now)
    if target:
        lines += [target, f"\t{stamp}"]
    else:
        lines[-1] += ";"
        lines.append(f"\t{stamp}")
    return ("\r\n".join(lines) + "\r\n").encode("utf-8", "surrogateescape")


def return_path(mail_from: str) -> bytes:
    """RFC 5321 §4.4: the delivering server records the reverse-path as ``Return-Path:``."""
    path = "" if mail_from in ("", "<>") else mail_from
    return f"Return-Path: <{path}>\r\n".encode("utf-8", "surrogateescape")


def submission_fields(message: bytes, *, message_id: str, now: float) -> bytes:
    """Date and Message-ID for a submitted message that lacks them (RFC 6409 §8.2, §8.3)."""
    present = field_names(message)
    added = b""
    if "date" not in present:
        added += f"Date: {date_value(now)}\r\n".encode()
    if "message-id" not in present:
        added += f"Message-ID: {message_id}\r\n".encode()
    return added + message


def from_addresses(message: bytes) -> list[str]:
    """The addresses in the From fields (RFC 5322 §3.6.2), lower-case; [] when there is none."""
    headers = BytesHeaderParser(policy=compat32).parsebytes(header_block(message))
    values = [str(v) for v in headers.get_all("From", [])]
    return [addr.strip().lower() for _, addr in getaddresses(values) if addr.strip()]
