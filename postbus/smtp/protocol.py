"""aiosmtpd's SMTP protocol, fitted to postbus: limits at connect, our replies, our line limit.

aiosmtpd (>= 1.4.6) does the wire work: command lines, DATA with dot-unstuffing that ends only
at CRLF.CRLF, STARTTLS (discarding whatever was pipelined after it, RFC 3207 §4.2), AUTH
challenges. This subclass adds only what aiosmtpd has no hook for:

- the connection limits, checked before the greeting (421, RFC 5321 §3.8);
- one line-length limit for command and text lines (limits.smtp_max_line_length);
- command lines that end in a bare LF or hold a bare CR are refused, and so is a client that
  keeps sending more than limits.commands_per_second: one reply, then the connection closes;
- enhanced status codes on aiosmtpd's own stock replies (``codes.enhance``);
- no AUTH at all where the listener takes none (port 25);
- a malformed address is always "553 5.1.3", never an exception.

Invariants: a refused connection gets one 421 line and is closed before any command is read;
every admitted connection is released exactly once, when its transport is lost; a command line
is checked (``policy.command_line_ending``, ``policy.CommandPace``) before aiosmtpd parses it,
and aiosmtpd reads a line only once the previous command is answered, so a refusal never
undoes a message already answered 250.
"""

from __future__ import annotations

import asyncio
import collections
import functools
import logging
import warnings
from typing import Any

from aiosmtpd.smtp import SMTP
from aiosmtpd.smtp import Envelope as _Envelope
from aiosmtpd.smtp import Session as _Session

from postbus.delivery import Recipient
from postbus.smtp import codes
from postbus.smtp.codes import Reply
from postbus.smtp.policy import (
    CommandPace,
    ConnectionGate,
    client_ip,
    command_line_ending,
    command_piece,
    simple_path,
)
from postbus.store.models import Account

# aiosmtpd warns, per connection, about settings that are right here: AUTH without its own TLS
# check on an implicit-TLS or loopback listener, and its own use of a deprecated attribute.
_NOISE = ("auth_required == True but auth_require_tls == False", "Session.login_data is deprecated")


def _quiet(record: logging.LogRecord) -> bool:
    return not str(record.msg).startswith(_NOISE)


_AIOSMTPD_LOG = logging.getLogger("mail.log")
_AIOSMTPD_LOG.addFilter(_quiet)
# aiosmtpd logs every command line (addresses included) at INFO: too much for a mail log.
_AIOSMTPD_LOG.setLevel(logging.WARNING)


@functools.cache
def hook_names(cls: type) -> list[str]:
    """The names aiosmtpd looks for on its protocol and handler objects: commands, hooks, AUTH
    mechanisms. It looks them up with dir() and inspect.getmembers() for every connection;
    answering dir() with these alone halves the cost of setting one up (140 -> 70 µs, about a
    tenth of the MX's CPU per message when each has its own connection, bench/RESULTS.md)."""
    return sorted(n for n in dir(cls) if n.startswith(("smtp_", "auth_", "handle_")))


class Session(_Session):
    """Per connection: who is connected and who signed in (aiosmtpd's fields, plus ours)."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        super().__init__(loop)
        self.account: Account | None = None
        self.addresses: tuple[str, ...] = ()  # the signed-in account's own addresses
        self.implicit_tls = False


class Envelope(_Envelope):
    """Per transaction (MAIL to end of DATA, or RSET): the recipients as resolved at RCPT."""

    def __init__(self) -> None:
        super().__init__()
        self.local: list[Recipient] = []  # resolved by postbus.delivery.resolve
        self.remote: list[str] = []  # submission only: for the outbound queue


class LineRefused(Exception):
    """A command line refused before aiosmtpd reads it; the reply is sent, then we close."""

    def __init__(self, reply: Reply) -> None:
        super().__init__(str(reply))
        self.reply = reply


class PostbusSMTP(SMTP):
    def __init__(
        self,
        handler: Any,
        *,
        gate: ConnectionGate,
        max_line: int,
        allow_auth: bool,
        implicit_tls: bool = False,
        commands_per_second: int = 200,
        **options: Any,
    ) -> None:
        self.line_length_limit = max_line  # read by SMTP.__init__ for the stream's limit
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)  # the AUTH-without-TLS one, see _NOISE
            super().__init__(handler, ident=codes.IDENT, **options)
        self.command_size_limit = max_line
        # aiosmtpd keeps this dict on the class (shared by every connection); ours is our own.
        self.command_size_limits = collections.defaultdict(lambda: max_line)
        self._gate = gate
        self._admitted_ip: str | None = None
        self._refused = False
        self._allow_auth = allow_auth
        self._implicit_tls = implicit_tls
        self._plain_replies = False
        self._pace = CommandPace(commands_per_second)
        self._closing = False

    def __dir__(self) -> list[str]:
        return hook_names(type(self))

    def _create_session(self) -> Session:
        session = Session(self.loop)
        session.implicit_tls = self._implicit_tls
        return session

    def _create_envelope(self) -> Envelope:
        return Envelope()

    # -- connection limits -------------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        first = self.transport is None and self._original_transport is None
        if first:
            ip = client_ip(transport.get_extra_info("peername"))
            refusal = self._gate.admit(ip)
            if refusal is not None:
                self._refused = True
                transport.write(f"{refusal}\r\n".encode())  # type: ignore[attr-defined]
                transport.close()
                return
            self._admitted_ip = ip
        super().connection_made(transport)

    def connection_lost(self, error: Exception | None) -> None:
        if self._refused:
            return
        if self._admitted_ip is not None:
            self._gate.release(self._admitted_ip)
            self._admitted_ip = None
        super().connection_lost(error)

    def eof_received(self) -> bool | None:
        if self._refused:
            return False
        return super().eof_received()

    def data_received(self, data: bytes) -> None:
        if not self._refused:
            super().data_received(data)

    # -- command lines -----------------------------------------------------------------------

    def _cb_client_connected(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        super()._cb_client_connected(reader, writer)
        read_until, read = reader.readuntil, reader.read
        tail = False  # the next line is the rest of one too long, which aiosmtpd refuses
        last = b""  # the last byte aiosmtpd read() of a too long line before its rest

        async def read_tracked(n: int = -1) -> bytes:
            nonlocal last
            data = await read(n)
            if tail:  # a piece of a too long command line: aiosmtpd drains it, we check it
                refusal = command_piece(last, data)
                if refusal is not None:
                    raise LineRefused(refusal)
                last = data[-1:] or last
            return data

        async def checked(separator: bytes = b"\n") -> bytes:
            nonlocal tail, last
            if self._closing:  # refused: read nothing more; connection_lost ends the task
                await self.loop.create_future()
            if separator != b"\n":
                tail = False  # DATA lines now (readline() may have dropped a long AUTH line)
            try:
                line = await read_until(separator)
            except asyncio.LimitOverrunError:
                if separator == b"\n" and not tail:
                    tail, last = True, b""
                raise
            # aiosmtpd reads commands and AUTH responses up to LF, DATA lines up to CRLF (whose
            # bare CR/LF the handlers refuse with the whole message, policy.bare_newline).
            if separator == b"\n":
                # The rest of a too long line may be just its LF: aiosmtpd read() the CR.
                ending = command_line_ending(last + line if tail else line)
                tail = False
                refusal = ending or self._pace.take(self.loop.time())
                if refusal is not None:
                    raise LineRefused(refusal)
            return line

        reader.readuntil = checked  # type: ignore[method-assign]
        reader.read = read_tracked  # type: ignore[method-assign]

    async def handle_exception(self, error: Exception) -> str:
        if isinstance(error, LineRefused):
            self._closing = True  # push() closes once the reply is written
            return str(error.reply)
        return str(await super().handle_exception(error))

    # -- replies -----------------------------------------------------------------------------

    async def push(self, status: Any) -> None:
        if isinstance(status, str) and not self._plain_replies:
            status = codes.enhance(status)
        await super().push(status)
        if self._closing and self.transport is not None:
            self.transport.close()

    async def smtp_EHLO(self, hostname: str) -> None:
        # RFC 2034 §3: EHLO replies carry no enhanced status codes.
        self._plain_replies = True
        try:
            await super().smtp_EHLO(hostname)
        finally:
            self._plain_replies = False

    async def smtp_HELO(self, hostname: str) -> None:
        self._plain_replies = True
        try:
            await super().smtp_HELO(hostname)
        finally:
            self._plain_replies = False

    def _getaddr(self, arg: str) -> tuple[str | None, str | None]:
        simple = simple_path(arg)
        if simple is not None and not (
            self.local_part_limit and len(simple[0].rpartition("@")[0]) > self.local_part_limit
        ):
            return simple
        # aiosmtpd lets the email parser's IndexError out on "a@" (no domain): malformed.
        try:
            return super()._getaddr(arg)
        except Exception:
            return None, None

    async def smtp_AUTH(self, arg: str) -> None:
        if not self._allow_auth:
            await self.push(str(codes.AUTH_NOT_HERE))
            return
        await super().smtp_AUTH(arg)
