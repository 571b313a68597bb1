"""The IMAP receiver: fed bytes, returns commands (sans-IO, in the style of h11).

``Receiver.feed(data)`` then ``Receiver.next()`` until it returns ``NEED_DATA``. ``next()``
returns a typed command (``commands.py``), ``NeedLiteral(size)`` when the client waits for a
continuation request before sending a synchronising literal (the server then sends ``+``), a
``Line`` when the session asked for a raw line (AUTHENTICATE responses, IDLE's DONE), or a
``BadCommand`` when the input was refused. It never raises.

Invariants:
- Every limit is enforced while tokenising, before the memory is spent: the length of each line
  (``max_line_length``), of each literal (``max_literal_size``; ``max_message_size`` in
  APPEND), the literal octets of one command, and the nesting depth of parentheses.
- After a refusal the rest of the command is skipped: the rest of the line, and the octets of
  any non-synchronising literal (RFC 7888 §4) announced at its end.
- A synchronising literal that is too big is refused before the continuation request, so the
  client never sends it. A non-synchronising one that is too big cannot be skipped safely: the
  refusal is fatal and the server closes the connection (RFC 7888 §4).
- Large APPEND literals go to a spool given by the server; the receiver only calls ``write``.

Grammar (RFC 9051 §9):
    command         = tag SP (command-any / command-auth / command-nonauth /
                      command-select) CRLF
    tag             = 1*<any ASTRING-CHAR except "+">
    literal         = "{" number64 ["+"] "}" CRLF *CHAR8
    quoted          = DQUOTE *QUOTED-CHAR DQUOTE
    QUOTED-CHAR     = <any TEXT-CHAR except quoted-specials> / "\\" quoted-specials / UTF8-2 ...
    atom            = 1*ATOM-CHAR
    ATOM-CHAR       = <any CHAR except atom-specials>
    atom-specials   = "(" / ")" / "{" / SP / CTL / list-wildcards / quoted-specials /
                      resp-specials
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

from postbus.imap.proto import codes
from postbus.imap.proto.commands import BadCommand, Command
from postbus.imap.proto.errors import ImapError, ImapNo, ParseError
from postbus.imap.proto.grammar import parse_command
from postbus.imap.proto.tokens import Atom, Spooled, String


class _NeedData:
    __slots__ = ()

    def __repr__(self) -> str:
        return "NEED_DATA"


NEED_DATA = _NeedData()


@dataclass(frozen=True, slots=True)
class NeedLiteral:
    """The client waits for ``+`` before sending ``size`` octets (RFC 9051 §7.5)."""

    size: int


@dataclass(frozen=True, slots=True)
class Line:
    """A raw line asked for with ``expect_line`` (SASL response, IDLE's DONE), CRLF removed."""

    data: bytes


@dataclass(frozen=True, slots=True)
class Limits:
    max_line_length: int = 8192
    max_literal_size: int = 64 * 1024
    max_message_size: int = 50 * 1024 * 1024
    max_depth: int = 32
    spool_above: int = 256 * 1024  # APPEND literals larger than this go to the spool


class Sink(Protocol):
    def write(self, data: bytes) -> Any: ...
    def finish(self) -> Spooled: ...
    def discard(self) -> None: ...


Event = Command | BadCommand | NeedLiteral | Line | _NeedData

_LITERAL_AT_END = re.compile(rb"~?\{(\d{1,20})(\+?)\}$")
_TAG = re.compile(rb"[\x21-\x7e]+")
_TAG_BAD = re.compile(rb'[(){%*"\\+]')
_ATOM_STOP = b' (){"\r\n'
_BIG_COMMANDS = ("APPEND", "REPLACE")  # also UID REPLACE (RFC 8508)
BIG_COMMAND_MESSAGES = 10  # one MULTIAPPEND carries at most this many max_message_size
IN_MEMORY_TOTAL = 4  # at most this many spool_above of one command's literals in memory


class Receiver:
    def __init__(self, limits: Limits, spool: Callable[[int], Sink] | None = None) -> None:
        self.limits = limits
        self._spool = spool
        self._buf = bytearray()
        self._line_mode = False
        self._reset()
        self._skipping = False  # dropping the rest of an over-long line
        self._skip_error: BadCommand | None = None

    def _reset(self) -> None:
        self._tag: str | None = None
        self._stack: list[list[Any]] = [[]]
        self._literal_left = 0
        self._literal_data: bytearray | None = None
        self._sink: Sink | None = None
        self._literal_total = 0
        self._line_total = 0
        self._draining = False  # skipping the literals of a refused command

    # -- public --------------------------------------------------------------------------------

    def feed(self, data: bytes) -> None:
        self._buf += data

    def expect_line(self) -> None:
        """Return the next complete line as ``Line`` instead of parsing it as a command."""
        self._line_mode = True

    def discard(self) -> None:
        """Drop everything buffered: nothing read before a TLS handshake may count after it."""
        self._buf.clear()
        if self._sink is not None:
            self._sink.discard()
        self._reset()
        self._line_mode = False
        self._skipping = False

    def take_buffered(self) -> bytes:
        """Hand back the octets not yet parsed (they follow COMPRESS: compressed ones)."""
        data = bytes(self._buf)
        self._buf.clear()
        return data

    @property
    def buffered(self) -> int:
        return len(self._buf)

    def next(self) -> Event:
        try:
            return self._next()
        except Exception:  # a bug here must not reach the client as a traceback
            tag = self._tag or "*"
            self.discard()
            return BadCommand(tag, "Cannot parse command", fatal=True)

    # -- the machine ---------------------------------------------------------------------------

    def _next(self) -> Event:
        while True:
            if self._literal_left:
                if not self._take_literal():
                    return NEED_DATA
                continue
            if self._skipping:
                lf = self._buf.find(b"\n")
                if lf < 0:
                    self._buf.clear()
                    return NEED_DATA
                del self._buf[: lf + 1]
                self._skipping = False
                error, self._skip_error = self._skip_error, None
                if error is not None:
                    return error
                continue
            limit = self.limits.max_line_length
            lf = self._buf.find(b"\n", 0, limit + 2)
            if lf < 0:
                if len(self._buf) > limit:
                    return self._too_long()
                return NEED_DATA
            line = bytes(self._buf[:lf])
            del self._buf[: lf + 1]
            if line.endswith(b"\r"):
                line = line[:-1]
            if self._line_mode:
                self._line_mode = False
                return Line(line)
            if self._draining:
                self._drain_line(line)
                continue
            event = self._line(line)
            if event is not None:
                return event

    def _too_long(self) -> BadCommand:
        tag = self._tag or _peek_tag(bytes(self._buf[:64]))
        self._reset()
        self._skipping = True
        return BadCommand(tag, "Line too long", codes.TOOBIG)

    def _take_literal(self) -> bool:
        """Move buffered octets into the literal; True once it is complete."""
        n = min(self._literal_left, len(self._buf))
        if n:
            chunk = bytes(self._buf[:n])
            del self._buf[:n]
            self._literal_left -= n
            if self._draining:
                pass
            elif self._sink is not None:
                self._sink.write(chunk)
            elif self._literal_data is not None:
                self._literal_data += chunk
        if self._literal_left:
            return False
        if not self._draining:
            if self._sink is not None:
                self._stack[-1].append(self._sink.finish())
                self._sink = None
            elif self._literal_data is not None:
                self._stack[-1].append(String(bytes(self._literal_data), literal=True))
                self._literal_data = None
        return True

    def _drain_line(self, line: bytes) -> None:
        m = _LITERAL_AT_END.search(line)
        if m and m[2]:  # RFC 7888 §4: the client sends it without waiting
            self._literal_left = int(m[1])
        else:
            self._reset()

    def _line(self, line: bytes) -> Event | None:
        """One line of a command (up to CRLF, or up to a literal's announcement)."""
        first = self._tag is None
        if first and not line.strip():
            return None  # empty lines between commands are ignored
        self._line_total += len(line)
        try:
            if first:
                line = self._start(line)
            rest = self._tokenise(line)
        except ImapError as exc:
            return self._refuse(line, exc)
        if rest is None:
            return self._finish()
        size, sync = rest
        try:
            self._check_literal(size)
        except ImapError as exc:
            if not sync:  # cannot be skipped safely: close (RFC 7888 §4)
                tag = self._tag or "*"
                self.discard()
                return BadCommand(tag, exc.text, exc.code, exc.status, fatal=True)
            tag = self._tag or "*"
            self._reset()
            return BadCommand(tag, exc.text, exc.code, exc.status)
        self._literal_left = size
        self._literal_total += size
        big = self._spool is not None and self._is_big()
        if big and (
            size > self.limits.spool_above
            or self._literal_total > IN_MEMORY_TOTAL * self.limits.spool_above  # MULTIAPPEND
        ):
            self._sink = self._spool(size)
        else:
            self._literal_data = bytearray()
        if size == 0:
            self._take_literal()
        if sync:
            return NeedLiteral(size)
        return None

    def _start(self, line: bytes) -> bytes:
        m = _TAG.match(line)
        if m is None or _TAG_BAD.search(m[0]):
            raise ParseError("Missing or invalid tag")
        self._tag = m[0].decode("ascii")
        rest = line[m.end() :]
        if not rest.startswith(b" ") or len(rest) < 2:
            raise ParseError("Missing command")
        return rest[1:]

    def _is_big(self) -> bool:
        words = [str(w).upper() for w in self._stack[0][:2] if isinstance(w, Atom)]
        if words[:1] == ["UID"]:
            return words[1:] == ["REPLACE"]
        return bool(words) and words[0] in _BIG_COMMANDS

    def _check_literal(self, size: int) -> None:
        if self._is_big():
            if size > self.limits.max_message_size or (
                self._literal_total + size > BIG_COMMAND_MESSAGES * self.limits.max_message_size
            ):
                raise ImapNo("Message too big", codes.TOOBIG)  # RFC 7889 §4
            return
        if size > self.limits.max_literal_size or (
            self._literal_total + size > self.limits.max_literal_size
        ):
            raise ParseError("Literal too big", codes.TOOBIG)

    def _refuse(self, line: bytes, exc: ImapError) -> BadCommand:
        tag = self._tag or _peek_tag(line)
        self._reset()
        m = _LITERAL_AT_END.search(line)
        if m and m[2]:
            self._draining = True
            self._literal_left = int(m[1])
        return BadCommand(tag, exc.text, exc.code, exc.status)

    def _finish(self) -> Command | BadCommand:
        tag = self._tag or "*"
        stack = self._stack
        self._reset()
        if len(stack) != 1:
            return BadCommand(tag, "Unbalanced parentheses")
        try:
            return parse_command(tag, stack[0])
        except ImapError as exc:
            return BadCommand(tag, exc.text, exc.code, exc.status)

    def _tokenise(self, line: bytes) -> tuple[int, bool] | None:
        """Tokens of ``line`` onto the stack; (size, sync) when it ends announcing a literal."""
        if self._line_total > 8 * self.limits.max_line_length:
            raise ParseError("Command too long", codes.TOOBIG)
        stack = self._stack
        i, n = 0, len(line)
        max_depth = self.limits.max_depth
        while i < n:
            c = line[i]
            if c == 0x20:
                i += 1
            elif c == 0x28:  # (
                if len(stack) > max_depth:
                    raise ParseError("Nesting too deep")
                stack.append([])
                i += 1
            elif c == 0x29:  # )
                if len(stack) == 1:
                    raise ParseError("Unbalanced parentheses")
                inner = tuple(stack.pop())
                stack[-1].append(inner)
                i += 1
            elif c == 0x22:  # "
                i = self._quoted(line, i + 1)
            elif c == 0x7B or (c == 0x7E and line[i + 1 : i + 2] == b"{"):  # { or ~{
                m = _LITERAL_AT_END.match(line, i)
                if m is None:
                    raise ParseError("Invalid literal")
                return int(m[1]), not m[2]
            elif c < 0x20 or c == 0x7F:
                raise ParseError("Control character in command")
            else:
                i = self._atom(line, i)
        return None

    def _quoted(self, line: bytes, i: int) -> int:
        out = bytearray()
        n = len(line)
        while i < n:
            c = line[i]
            if c == 0x22:
                self._stack[-1].append(String(bytes(out)))
                return i + 1
            if c == 0x5C:  # backslash: only \" and \\ (RFC 9051 §4.3)
                if i + 1 >= n or line[i + 1] not in b'"\\':
                    raise ParseError("Invalid escape in quoted string")
                out.append(line[i + 1])
                i += 2
                continue
            if c in (0x0D, 0x0A, 0):
                raise ParseError("Invalid character in quoted string")
            out.append(c)
            i += 1
        raise ParseError("Unterminated quoted string")

    def _atom(self, line: bytes, i: int) -> int:
        start, n = i, len(line)
        while i < n:
            c = line[i]
            if c == 0x5B:  # [ ... ]: a section, taken whole (BODY[HEADER.FIELDS (A B)])
                close = _closing_bracket(line, i)
                if close < 0:
                    raise ParseError("Unterminated [")
                i = close + 1
                continue
            if c in _ATOM_STOP or c < 0x20 or c == 0x7F:
                break
            i += 1
        self._stack[-1].append(Atom(line[start:i].decode("utf-8", "surrogateescape")))
        return i


def _closing_bracket(line: bytes, i: int) -> int:
    depth = 0
    for j in range(i, len(line)):
        if line[j] == 0x5B:
            depth += 1
        elif line[j] == 0x5D:
            depth -= 1
            if depth == 0:
                return j
    return -1


def _peek_tag(line: bytes) -> str:
    m = _TAG.match(line)
    if m is None or _TAG_BAD.search(m[0]) or len(m[0]) > 64:
        return "*"
    return m[0].decode("ascii")
