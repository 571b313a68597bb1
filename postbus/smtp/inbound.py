"""The one door from the MX listener to sender authentication (SPF, DKIM, DMARC).

``postbus.smtp.authresults.check_inbound`` gives the verdict; this module turns it into the
header to add and the action to take. When the checker fails, the message is accepted without
an Authentication-Results field: the MX never refuses mail because its own checker is broken.
"""

from __future__ import annotations

import enum
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

log = logging.getLogger("postbus.smtp")

HEADER = "Authentication-Results"  # RFC 8601 §2.2


class Action(enum.Enum):
    ACCEPT = "accept"
    JUNK = "junk"
    REJECT = "reject"


@dataclass(frozen=True, slots=True)
class InboundResult:
    extra_headers: bytes  # prepended to the message, each field ending in CRLF
    action: Action
    reason: str


ACCEPT = InboundResult(b"", Action.ACCEPT, "")
Checker = Callable[..., Awaitable[Any]]


def _header(value: str) -> bytes:
    text = value.strip()
    if not text.lower().startswith(HEADER.lower() + ":"):
        text = f"{HEADER}: {text}"
    return text.replace("\r\n", "\n").replace("\n", "\r\n").encode("utf-8") + b"\r\n"


async def inbound_checks(
    message: bytes,
    mail_from: str,
    helo: str,
    client_ip: str,
    *,
    checker: Checker | None,
    resolver: object,
    hostname: str,
) -> InboundResult:
    """Authentication-Results and the action for one received message (design.md, Mail flow).

    ``message`` is the message as the client sent it, before our own trace fields.
    """
    if checker is None:
        return ACCEPT
    sender = "" if mail_from == "<>" else mail_from
    try:
        verdict = await checker(message, sender, helo, client_ip, resolver, hostname)
        action = Action(str(getattr(verdict.action, "value", verdict.action)))
    except Exception:  # a checker bug must not lose mail: accept, and log it
        log.exception("sender authentication failed; accepting without a verdict")
        return ACCEPT
    extra = _header(verdict.authentication_results) if verdict.authentication_results else b""
    return InboundResult(extra, action, str(getattr(verdict, "reason", "") or ""))
