"""The POP3 wire format, sans-IO: bytes in, commands out; replies and message bodies to bytes.

``Parser.feed(data)`` takes whatever the socket gave; ``Parser.next_event()`` returns the next
``Command``, a ``SaslResponse`` (the line after a ``+`` continuation), or ``NEED_DATA``. A line
that breaks the rules raises ``Pop3Error`` carrying the ``-ERR`` reply; the line is consumed, so
the caller answers it and goes on with the next one. Nothing here touches a socket or a clock.

Grammar (RFC 1939 §3, RFC 2449 §3-4)::

    command = keyword *(SP argument) CRLF   ; keywords are case-insensitive
    keyword = 3*4 ALPHA
    msg     = 1*DIGIT                        ; a message number, 1-based

The line limit (``max_line``, octets including CRLF) is enforced as bytes arrive: an overlong
line is dropped while it is still coming in and reported once, when its end arrives, so pipelined
replies stay in step with the commands (RFC 2449 §6.6).
"""

from __future__ import annotations

import binascii
import enum
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Final

from postbus.pop3 import codes
from postbus.pop3.codes import Reply


class Pop3Error(Exception):
    """A client mistake; the command loop sends ``reply`` and the session goes on."""

    def __init__(self, reply: Reply) -> None:
        super().__init__(reply.text)
        self.reply = reply


class State(enum.Enum):
    AUTHORIZATION = "authorization"  # RFC 1939 §4
    TRANSACTION = "transaction"  # RFC 1939 §5
    UPDATE = "update"  # RFC 1939 §6: after QUIT in TRANSACTION; the session ends


# -- commands ----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Capa:  # RFC 2449 §5
    pass


@dataclass(frozen=True, slots=True)
class Stls:  # RFC 2595 §4
    pass


@dataclass(frozen=True, slots=True)
class User:  # RFC 1939 §7
    name: str


@dataclass(frozen=True, slots=True)
class Pass:  # RFC 1939 §7
    password: str


@dataclass(frozen=True, slots=True)
class Apop:  # RFC 1939 §7 (refused: it needs the password in clear on the server)
    name: str
    digest: str


@dataclass(frozen=True, slots=True)
class Auth:  # RFC 5034 §4; no mechanism lists them (the RFC 1734 habit some clients keep)
    mechanism: str | None
    initial: str | None


@dataclass(frozen=True, slots=True)
class Quit:  # RFC 1939 §4, §6
    pass


@dataclass(frozen=True, slots=True)
class Stat:  # RFC 1939 §5
    pass


@dataclass(frozen=True, slots=True)
class List:  # RFC 1939 §5
    msg: int | None


@dataclass(frozen=True, slots=True)
class Retr:  # RFC 1939 §5
    msg: int


@dataclass(frozen=True, slots=True)
class Dele:  # RFC 1939 §5
    msg: int


@dataclass(frozen=True, slots=True)
class Noop:  # RFC 1939 §5
    pass


@dataclass(frozen=True, slots=True)
class Rset:  # RFC 1939 §5
    pass


@dataclass(frozen=True, slots=True)
class Top:  # RFC 1939 §7
    msg: int
    lines: int


@dataclass(frozen=True, slots=True)
class Uidl:  # RFC 1939 §7
    msg: int | None


@dataclass(frozen=True, slots=True)
class SaslResponse:
    """The client's line after a ``+`` continuation (RFC 5034 §4)."""

    data: bytes


Command = (
    Capa | Stls | User | Pass | Apop | Auth | Quit | Stat | List | Retr | Dele | Noop | Rset
    | Top | Uidl
)


class _NeedData(enum.Enum):
    NEED_DATA = "need-data"


NEED_DATA: Final = _NeedData.NEED_DATA
Event = Command | SaslResponse | _NeedData

# RFC 1939 §4-5: the commands legal in each state. RFC 2449 §5: CAPA in both.
ALLOWED: dict[State, frozenset[type]] = {
    State.AUTHORIZATION: frozenset({Capa, Stls, User, Pass, Apop, Auth, Quit}),
    State.TRANSACTION: frozenset({Capa, Stat, List, Retr, Dele, Noop, Rset, Top, Uidl, Quit}),
    State.UPDATE: frozenset(),
}

# -- arguments ---------------------------------------------------------------------------------

_MAX_NUMBER_DIGITS = 10  # 4,294,967,295 messages is plenty; never feed int() a huge string


def _number(text: str, error: Reply) -> int:
    if not (text.isascii() and text.isdigit()) or len(text) > _MAX_NUMBER_DIGITS:
        raise Pop3Error(error)
    return int(text)


def _msg(text: str) -> int:
    return _number(text, codes.BAD_MESSAGE_NUMBER)


def _optional_msg(args: list[str]) -> int | None:
    return _msg(args[0]) if args else None


# keyword -> (fewest arguments, most arguments, builder)
_SPECS: dict[str, tuple[int, int, Callable[[list[str]], Command]]] = {
    "CAPA": (0, 0, lambda a: Capa()),
    "STLS": (0, 0, lambda a: Stls()),
    "USER": (1, 1, lambda a: User(a[0])),
    "APOP": (2, 2, lambda a: Apop(a[0], a[1])),
    "AUTH": (0, 2, lambda a: Auth(a[0].upper() if a else None, a[1] if len(a) > 1 else None)),
    "QUIT": (0, 0, lambda a: Quit()),
    "STAT": (0, 0, lambda a: Stat()),
    "LIST": (0, 1, lambda a: List(_optional_msg(a))),
    "RETR": (1, 1, lambda a: Retr(_msg(a[0]))),
    "DELE": (1, 1, lambda a: Dele(_msg(a[0]))),
    "NOOP": (0, 0, lambda a: Noop()),
    "RSET": (0, 0, lambda a: Rset()),
    "TOP": (2, 2, lambda a: Top(_msg(a[0]), _number(a[1], codes.BAD_SYNTAX))),
    "UIDL": (0, 1, lambda a: Uidl(_optional_msg(a))),
}


def parse_command(line: bytes) -> Command:
    """One command line without its CRLF -> Command, or Pop3Error."""
    keyword, sep, rest = line.partition(b" ")
    name = keyword.decode("ascii", "replace").upper()
    if name == "PASS":
        # RFC 1939 §7: the password is the rest of the line, spaces and all.
        if not sep:
            raise Pop3Error(codes.BAD_SYNTAX)
        return Pass(rest.decode("utf-8", "replace"))
    spec = _SPECS.get(name)
    if spec is None:
        raise Pop3Error(codes.UNKNOWN_COMMAND)
    fewest, most, build = spec
    # Arguments are printable ASCII, except USER's, which may be an internationalised address.
    args = rest.decode("utf-8", "replace").split()
    if not fewest <= len(args) <= most:
        raise Pop3Error(codes.BAD_SYNTAX)
    return build(args)


# -- the receiver ------------------------------------------------------------------------------


class _Overlong(enum.Enum):
    LINE = "overlong"


class Parser:
    """Lines in, events out; at most ``max_line`` octets of any one line are ever held."""

    def __init__(self, max_line: int) -> None:
        self.max_line = max_line
        self._lines: deque[bytes | _Overlong] = deque()
        self._tail = bytearray()
        self._discarding = False
        self._buffered = 0
        self._sasl = False

    @property
    def buffered(self) -> int:
        """Octets received and not yet returned as events (for read back-pressure)."""
        return self._buffered + len(self._tail)

    @property
    def ready(self) -> bool:
        """True when ``next_event`` has something other than NEED_DATA to return."""
        return bool(self._lines)

    def feed(self, data: bytes) -> None:
        start = 0
        while True:
            end = data.find(b"\n", start)
            if end < 0:
                self._add_tail(data, start, len(data))
                return
            self._add_tail(data, start, end)
            self._end_line()
            start = end + 1

    def _add_tail(self, data: bytes, start: int, end: int) -> None:
        if self._discarding or start == end:
            return
        # The limit counts the CRLF (RFC 2449 §4): content + CR must fit in max_line - 1.
        if len(self._tail) + (end - start) > self.max_line - 1:
            self._tail.clear()
            self._discarding = True
            return
        self._tail += data[start:end]

    def _end_line(self) -> None:
        if self._discarding:
            self._lines.append(_Overlong.LINE)
            self._discarding = False
            return
        line = bytes(self._tail)
        self._tail.clear()
        self._lines.append(line)
        self._buffered += len(line) + 1

    def discard_buffered(self) -> int:
        """Forget everything received but not yet handled; returns how many octets.

        RFC 2595 §4 / CVE-2011-0411: what came after STLS in the clear is never a command.
        """
        dropped = self.buffered
        self._lines.clear()
        self._tail.clear()
        self._discarding = False
        self._buffered = 0
        self._sasl = False
        return dropped

    def expect_sasl_response(self) -> None:
        """The next line answers a ``+`` continuation (RFC 5034 §4), not a command."""
        self._sasl = True

    def next_event(self) -> Event:
        if not self._lines:
            return NEED_DATA
        item = self._lines.popleft()
        sasl, self._sasl = self._sasl, False
        if item is _Overlong.LINE:
            raise Pop3Error(codes.LINE_TOO_LONG)
        assert isinstance(item, bytes)
        self._buffered -= len(item) + 1
        line = item[:-1] if item.endswith(b"\r") else item  # a bare LF is taken as CRLF
        if sasl:
            return SaslResponse(line)
        return parse_command(line)


# -- SASL PLAIN (RFC 4616) ---------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class PlainCredentials:
    authzid: str
    authcid: str
    password: str


def decode_plain(data: bytes) -> PlainCredentials:
    """base64(authzid NUL authcid NUL passwd) -> credentials, or Pop3Error(BAD_SASL)."""
    if data == b"=":  # RFC 5034 §4: "=" is an empty initial response
        data = b""
    try:
        raw = binascii.a2b_base64(data, strict_mode=True)
    except (binascii.Error, ValueError):
        raise Pop3Error(codes.BAD_SASL) from None
    parts = raw.split(b"\0")
    if len(parts) != 3 or not parts[1]:
        raise Pop3Error(codes.BAD_SASL)
    authzid, authcid, password = (p.decode("utf-8", "replace") for p in parts)
    return PlainCredentials(authzid, authcid, password)


# -- replies -----------------------------------------------------------------------------------

TERMINATOR = b".\r\n"


def multiline(first: Reply, lines: Iterable[str]) -> bytes:
    """A multi-line reply: first line, the lines (dot-stuffed), then "." (RFC 1939 §3)."""
    out = [first.to_bytes()]
    for line in lines:
        encoded = line.encode()
        out.append(b"." + encoded + b"\r\n" if encoded.startswith(b".") else encoded + b"\r\n")
    out.append(TERMINATOR)
    return b"".join(out)


def capabilities(state: State, *, stls: bool, login: bool) -> list[str]:
    """RFC 2449 §6: what this session can do now.

    ``stls``: the listener offers STLS and TLS is not yet on. ``login``: USER/PASS and AUTH are
    allowed on this connection (TLS, or a loopback listener). The list never advertises a
    sign-in the server would then refuse.
    """
    caps = ["TOP", "UIDL", "RESP-CODES", "AUTH-RESP-CODE", "PIPELINING"]
    if state is State.AUTHORIZATION:
        if login:
            caps += ["USER", "SASL PLAIN"]
        if stls:
            caps.append("STLS")
    caps.append("IMPLEMENTATION postbus")
    return caps


def _canonical(raw: bytes) -> bytes:
    """Every line ending as CRLF (a bare LF becomes CRLF; a lone CR is left alone)."""
    if raw.count(b"\n") == raw.count(b"\r\n"):
        return raw
    return raw.replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")


def _top(raw: bytes, lines: int) -> bytes:
    """RFC 1939 §7 TOP: the header, the blank line, then ``lines`` lines of the body."""
    if raw.startswith(b"\r\n"):
        end = 2  # no header fields at all
    else:
        blank = raw.find(b"\r\n\r\n")
        if blank < 0:
            return raw  # no body: the whole message is header
        end = blank + 4
    position = end
    for _ in range(lines):
        found = raw.find(b"\r\n", position)
        if found < 0:
            return raw
        position = found + 2
    return raw[:position]


def wire_message(raw: bytes, top: int | None = None) -> bytes:
    """A stored message as RETR (or ``TOP msg top``) sends it, terminator included.

    RFC 1939 §3: CRLF line endings; a line that starts with "." gets one more "."; the
    multi-line reply ends with ".CRLF" on a line of its own.
    """
    body = _canonical(raw)
    if top is not None:
        body = _top(body, top)
    if body and not body.endswith(b"\r\n"):
        body += b"\r\n"
    stuffed = body.replace(b"\r\n.", b"\r\n..")
    if stuffed.startswith(b"."):
        stuffed = b"." + stuffed
    return stuffed + TERMINATOR


def wire_size(raw: bytes) -> int:
    """The octets RFC 1939 counts for a message: CRLF line endings, before dot-stuffing."""
    body = _canonical(raw)
    return len(body) if not body or body.endswith(b"\r\n") else len(body) + 2
