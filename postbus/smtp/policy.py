"""The SMTP listeners' decisions, as pure functions and small counters: no sockets, no clock.

Each function takes what it decides on (an address, the DATA bytes, ``now``) and returns a
``Reply`` to refuse with, or None to go on. The asyncio glue (``mx.py``, ``submission.py``)
calls them from aiosmtpd's hooks.
"""

from __future__ import annotations

import re
from collections import defaultdict, deque
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from postbus.delivery import Delivered
from postbus.smtp import codes
from postbus.smtp.codes import Reply
from postbus.store import AccountDisabled, OverQuota, StoreError
from postbus.store.models import Account

RATE_WINDOW = 60.0  # seconds: the message rate limit counts per minute

# -- addresses ---------------------------------------------------------------------------------


def routing_trick(address: str) -> Reply | None:
    """Refuse the addresses that route onwards at some other MTA (open-relay tricks).

    RFC 2505 §2.6.1: ``%`` (the percent hack) and ``!`` (UUCP bang paths) must not relay.
    A quoted local part (RFC 5321 §4.1.2) can hide either, or an ``@``; none of our
    mailboxes needs quoting, so we refuse them all. Source routes (``<@a,@b:user@c>``) are
    already reduced to ``user@c`` by aiosmtpd, as RFC 5321 §4.1.1.3 and §C ask.
    """
    local, _, _ = address.rpartition("@")
    if local.startswith('"') or "%" in local or "!" in local:
        return codes.ROUTING_DENIED
    return None


# RFC 5321 §4.1.2: Path = "<" Mailbox ">", Mailbox = Local-part "@" Domain; here only the
# common shape, a Dot-string local part and a domain of LDH labels: atext (RFC 5322 §3.2.3).
_ATEXT = r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+"
_SIMPLE_PATH = re.compile(rf"<({_ATEXT}(?:\.{_ATEXT})*@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*)>")


def simple_path(arg: str) -> tuple[str, str] | None:
    """(mailbox, parameters) for the everyday ``<user@example.org> SIZE=123`` at MAIL/RCPT,
    without the full RFC 5322 address parser that aiosmtpd runs (a CPU cost on every message);
    None for anything else (quoted parts, comments, address literals, UTF-8, "<>"), which
    goes to that parser. Gives what it would give (tests/smtp/test_policy.py)."""
    match = _SIMPLE_PATH.match(arg)
    if match is None:
        return None
    rest = arg[match.end() :].lstrip(" \t")
    if rest.startswith("("):  # a comment: RFC 5322 CFWS, the full parser's business
        return None
    return match[1], rest


def domain_of(address: str) -> str:
    return address.rpartition("@")[2].lower().rstrip(".")


def owns(addresses: Iterable[str], address: str) -> bool:
    """Is ``address`` one of the user's addresses, or a +tag form of one (RFC 5233)?"""
    wanted = address.strip().lower()
    local, at, domain = wanted.rpartition("@")
    base = f"{local.partition('+')[0]}{at}{domain}"
    return any(a.lower() in (wanted, base) for a in addresses)


# -- message data --------------------------------------------------------------------------

def bare_newline(data: bytes) -> Reply | None:
    """SMTP smuggling (CVE-2023-51764 class): a bare CR or LF anywhere in DATA is refused."""
    # RFC 5321 §2.3.8: in SMTP, CR and LF appear only together as CRLF. Three counts (each a
    # memchr-speed pass) tell it, several times faster than a regular expression's scan.
    pairs = data.count(b"\r\n")
    return codes.BARE_NEWLINE if data.count(b"\r") != pairs or data.count(b"\n") != pairs else None


def command_line_ending(line: bytes) -> Reply | None:
    """A command (or AUTH response) line as read up to its LF: CRLF at the end and nowhere else.

    RFC 5321 §2.3.8 and §4.1.1: commands end in CRLF; a bare LF or CR is how smuggled commands
    get past a server that reads lines differently (Postfix's smtpd_forbid_bare_newline).
    """
    body, end = line[:-2], line[-2:]
    if end != b"\r\n" or b"\n" in body:
        return codes.BARE_LF_COMMAND
    if b"\r" in body:
        return codes.BARE_CR_COMMAND
    return None


def command_piece(previous: bytes, piece: bytes) -> Reply | None:
    """A piece of a command line too long to read at once, before its LF; ``previous`` is the
    byte just before it (b"" at the start). A CR is bare unless it is the last byte so far."""
    text = previous + piece
    if b"\n" in text:
        return codes.BARE_LF_COMMAND
    if b"\r" in text[:-1]:
        return codes.BARE_CR_COMMAND
    return None


def declared_size(mail_options: Sequence[str]) -> int:
    """The SIZE= the client declared at MAIL FROM (RFC 1870 §3), 0 when none."""
    for option in mail_options:
        name, _, value = option.partition("=")
        if name.upper() == "SIZE" and value.isdigit():
            return int(value)
    return 0


def recipient_limit(current: int, limit: int) -> Reply | None:
    """RFC 5321 §4.5.3.1.10: past the limit, 452 (the client sends the rest later)."""
    return codes.TOO_MANY_RECIPIENTS if current >= limit else None


def over_quota(account: Account, size: int = 0) -> Reply | None:
    """Refuse at RCPT a mailbox that is already full, or would be by the declared size."""
    if account.quota_bytes and (
        account.used_bytes >= account.quota_bytes or account.used_bytes + size > account.quota_bytes
    ):
        return codes.OVER_QUOTA
    if account.quota_messages and account.used_messages >= account.quota_messages:
        return codes.OVER_QUOTA
    return None


def refusal(error: StoreError) -> Reply:
    """The reply for one recipient whose copy the store refused after DATA."""
    if isinstance(error, OverQuota):
        return codes.OVER_QUOTA
    if isinstance(error, AccountDisabled):
        return codes.MAILBOX_DISABLED
    return codes.TEMP_FAILURE


def delivery_reply(results: Sequence[Delivered]) -> Reply:
    """One reply for a message after DATA, when copies to some recipients may have failed.

    SMTP has one reply per message after DATA (only LMTP, RFC 2033 §4.2, has one per
    recipient). When at least one copy is stored we say 250: the copies that were stored must
    not be sent again, and the others are reported to the sender in a DSN (``bounce.py``).
    When none is, the reply is the first refusal's, the most lasting first.
    """
    errors = [r.error for r in results if r.error is not None]
    if len(errors) < len(results):
        return codes.MESSAGE_ACCEPTED
    for kind in (OverQuota, AccountDisabled):
        for error in errors:
            if isinstance(error, kind):
                return refusal(error)
    return codes.TEMP_FAILURE


# -- EHLO ------------------------------------------------------------------------------------


def ehlo_lines(responses: list[str], *, auth: bool) -> list[str]:
    """aiosmtpd's EHLO lines plus PIPELINING (RFC 2920) and ENHANCEDSTATUSCODES (RFC 2034).

    Without ``auth`` the AUTH line goes (port 25 offers no AUTH). The last line is ``250 ``.
    """
    lines = [r for r in responses if auth or not r.startswith("250-AUTH")]
    last = lines.pop()  # "250 HELP"
    lines += ["250-PIPELINING", "250-ENHANCEDSTATUSCODES", last]
    return lines


# -- counters ------------------------------------------------------------------------------


@dataclass
class ConnectionGate:
    """Connections at once, per client address and in all (checked at connect, RFC 5321 §3.8)."""

    per_ip: int
    total: int
    _by_ip: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    _open: int = 0

    def admit(self, ip: str) -> Reply | None:
        if self._open >= self.total:
            return codes.SERVER_FULL
        if self._by_ip[ip] >= self.per_ip:
            return codes.TOO_MANY_CONNECTIONS
        self._by_ip[ip] += 1
        self._open += 1
        return None

    def release(self, ip: str) -> None:
        self._open -= 1
        self._by_ip[ip] -= 1
        if self._by_ip[ip] <= 0:
            del self._by_ip[ip]

    def open_from(self, ip: str) -> int:
        return self._by_ip.get(ip, 0)


@dataclass
class RateLimiter:
    """Messages per client address in a sliding window; ``now`` is passed in."""

    limit: int
    window: float = RATE_WINDOW
    _seen: dict[str, deque[float]] = field(default_factory=dict)

    def allow(self, ip: str, now: float) -> bool:
        seen = self._seen.setdefault(ip, deque())
        while seen and seen[0] <= now - self.window:
            seen.popleft()
        if len(seen) >= self.limit:
            return False
        seen.append(now)
        if len(self._seen) > 4 * self.limit + 1024:  # keep memory bounded under address floods
            for key in [k for k, v in self._seen.items() if not v or v[-1] <= now - self.window]:
                del self._seen[key]
        return True


@dataclass
class CommandPace:
    """Commands per second on one connection (limits.commands_per_second): a token bucket.

    The bucket holds one second's worth of commands, so a pipelined burst (RFC 2920) up to
    ``rate`` commands passes at once and the bucket refills at ``rate`` per second; a client
    that keeps sending faster empties it and is refused. ``now`` is passed in (seconds).
    """

    rate: float
    _tokens: float | None = None
    _last: float = 0.0

    def take(self, now: float) -> Reply | None:
        if self._tokens is None:
            self._tokens = self.rate
        else:
            elapsed = max(0.0, now - self._last)
            self._tokens = min(self.rate, self._tokens + elapsed * self.rate)
        self._last = now
        if self._tokens < 1:
            return codes.TOO_MANY_COMMANDS
        self._tokens -= 1
        return None


def client_ip(peer: object) -> str:
    """The address from a transport's peername (IPv4 tuple, IPv6 tuple, or unix socket)."""
    if isinstance(peer, tuple) and peer:
        return str(peer[0])
    return "unknown"
