"""One POP3 session: the command loop and what each command does.

Invariants:
- One command at a time, in the order received; replies go out in the same order
  (RFC 2449 §6.6 PIPELINING needs nothing more).
- Every ``Pop3Error`` becomes its ``-ERR`` reply in ``_dispatch``, the one place that turns
  errors into replies; an unexpected exception is logged and answered with the generic
  ``-ERR [SYS/TEMP]``, and the session goes on. No traceback reaches the client.
- Sign-in goes through ``Authenticator.login`` only (one throttle for every protocol), and only
  over TLS or on a loopback listener (design.md "Sign-in").
- On server shutdown a session ends at its next command boundary with -ERR [SYS/TEMP] and
  without an UPDATE; a command in progress (a RETR) finishes first.
- The maildrop lock is taken after a successful sign-in and released when the session ends,
  however it ends; only QUIT in TRANSACTION commits (RFC 1939 §6).
- STLS: the plaintext buffered after the STLS line is discarded (CVE-2011-0411) with no await
  between the discard and the switch of the transport to TLS.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Protocol

from postbus.accounts.auth import Authenticator, AuthFailed, Refusal
from postbus.pop3 import codes, maildrop
from postbus.pop3.codes import Reply
from postbus.pop3.proto import (
    ALLOWED,
    NEED_DATA,
    Apop,
    Auth,
    Capa,
    Command,
    Dele,
    List,
    Noop,
    Parser,
    Pass,
    Pop3Error,
    Quit,
    Retr,
    Rset,
    SaslResponse,
    Stat,
    State,
    Stls,
    Top,
    Uidl,
    User,
    capabilities,
    decode_plain,
    multiline,
    wire_message,
)
from postbus.store import NotFound, Store, StoreError

log = logging.getLogger("postbus.pop3")

_REFUSALS = {
    Refusal.INVALID: codes.LOGIN_FAILED,
    Refusal.BLOCKED: codes.LOGIN_BLOCKED,
    Refusal.DISABLED: codes.ACCOUNT_DISABLED,
}


class Channel(Protocol):
    """What the asyncio glue gives a session: a byte pipe that can switch to TLS."""

    tls_active: bool
    stopping: bool  # the server is shutting down: end the session at the next command

    def write(self, data: bytes) -> None: ...

    async def drain(self) -> None: ...

    async def read_more(self) -> bool:
        """Wait for more bytes (fed to the session's parser); False at end of stream."""
        ...

    async def start_tls(self) -> None: ...


@dataclass(frozen=True, slots=True)
class Settings:
    """Per listener: what this connection may do."""

    stls: bool  # the listener offers STLS (and a TLS context exists)
    plaintext_login: bool  # sign-in allowed without TLS (a loopback listener)
    timeout: float  # seconds of silence before autologout (limits.pop3_timeout)


class Closed(Exception):
    """The connection is over (end of stream, idle timeout, failed TLS handshake)."""


class Session:
    def __init__(
        self,
        store: Store,
        auth: Authenticator,
        channel: Channel,
        settings: Settings,
        remote_ip: str,
        max_line: int,
    ) -> None:
        self.store = store
        self.auth = auth
        self.channel = channel
        self.settings = settings
        self.remote_ip = remote_ip
        self.parser = Parser(max_line)
        self.state = State.AUTHORIZATION
        self.pending_user: str | None = None
        self.account_id: int | None = None
        self.mailbox_id = 0
        self.maildrop = maildrop.Maildrop([])
        self._handlers: dict[type, Callable[[Any], Awaitable[None]]] = {
            Capa: self._capa, Stls: self._stls, User: self._user, Pass: self._pass,
            Apop: self._apop, Auth: self._auth, Quit: self._quit, Stat: self._stat,
            List: self._list, Retr: self._retr, Dele: self._dele, Noop: self._noop,
            Rset: self._rset, Top: self._top, Uidl: self._uidl,
        }  # fmt: skip

    # -- the loop ------------------------------------------------------------------------------

    def send(self, reply: Reply) -> None:
        self.channel.write(reply.to_bytes())

    async def run(self) -> None:
        self.send(codes.GREETING)
        try:
            while self.state is not State.UPDATE:
                try:
                    event = await self._next_event()
                    if isinstance(event, SaslResponse):  # only asked for inside AUTH
                        raise Pop3Error(codes.UNKNOWN_COMMAND)
                    await self._dispatch(event)
                except Pop3Error as error:
                    self.send(error.reply)
            await self.channel.drain()
        except Closed:
            pass
        finally:
            if self.account_id is not None:
                maildrop.unlock(self.store, self.account_id)

    async def _next_event(self) -> Command | SaslResponse:
        while True:
            if self.channel.stopping:
                # No UPDATE: marked messages stay, as after a lost connection (RFC 1939 §6).
                self.send(codes.SHUTTING_DOWN)
                raise Closed
            event = self.parser.next_event()  # Pop3Error for a bad line: the line is consumed
            if event is not NEED_DATA:
                return event
            try:
                async with asyncio.timeout(self.settings.timeout):
                    await self.channel.drain()
                    more = await self.channel.read_more()
            except TimeoutError:
                # RFC 1939 §3 autologout: no UPDATE state; we say why before closing.
                self.send(codes.IDLE_TIMEOUT)
                raise Closed from None
            except OSError:
                raise Closed from None
            if not more:
                raise Closed

    async def _dispatch(self, command: Command) -> None:
        if type(command) not in ALLOWED[self.state]:
            raise Pop3Error(codes.NOT_NOW)
        try:
            await self._handlers[type(command)](command)
        except (Pop3Error, Closed):
            raise
        except (StoreError, OSError):
            log.exception("pop3 %s from %s failed", type(command).__name__, self.remote_ip)
            self.send(codes.INTERNAL_ERROR)
        except Exception:
            log.exception("pop3 %s from %s: unexpected error", type(command).__name__,
                          self.remote_ip)
            self.send(codes.INTERNAL_ERROR)

    # -- AUTHORIZATION (RFC 1939 §4, §7; RFC 2449; RFC 2595; RFC 5034) ----------------------

    @property
    def _login_allowed(self) -> bool:
        return self.channel.tls_active or self.settings.plaintext_login

    async def _capa(self, command: Capa) -> None:
        caps = capabilities(
            self.state,
            stls=self.settings.stls and not self.channel.tls_active,
            login=self._login_allowed,
        )
        self.channel.write(multiline(codes.CAPA_FOLLOWS, caps))

    async def _stls(self, command: Stls) -> None:
        if self.channel.tls_active:
            raise Pop3Error(codes.ALREADY_TLS)
        if not self.settings.stls:
            raise Pop3Error(codes.STLS_UNAVAILABLE)
        self.send(codes.STLS_GO)
        try:
            await self.channel.drain()
        except OSError:
            raise Closed from None
        # RFC 2595 §4, CVE-2011-0411: nothing sent in the clear after STLS is a command.
        dropped = self.parser.discard_buffered()
        if dropped:
            log.info("pop3 %s: discarded %d octets sent after STLS", self.remote_ip, dropped)
        self.pending_user = None
        try:
            await self.channel.start_tls()  # no await between the discard and the switch
        except (OSError, TimeoutError, ValueError) as exc:
            log.info("pop3 %s: TLS handshake failed: %s", self.remote_ip, exc)
            raise Closed from None

    def _require_tls(self) -> None:
        if not self._login_allowed:
            raise Pop3Error(codes.PLAINTEXT_REFUSED)

    async def _user(self, command: User) -> None:
        self._require_tls()
        # RFC 1939 §7: the server may refuse an unknown name here; we never tell.
        self.pending_user = command.name
        self.send(codes.USER_OK)

    async def _pass(self, command: Pass) -> None:
        user, self.pending_user = self.pending_user, None
        self._require_tls()
        if user is None:
            raise Pop3Error(codes.PASS_WITHOUT_USER)  # RFC 1939 §7: PASS right after USER
        await self._login(user, command.password)

    async def _apop(self, command: Apop) -> None:
        raise Pop3Error(codes.APOP_UNSUPPORTED)

    async def _auth(self, command: Auth) -> None:
        self.pending_user = None
        self._require_tls()
        if command.mechanism is None:
            self.channel.write(multiline(codes.AUTH_MECHANISMS, ["PLAIN"]))
            return
        if command.mechanism != "PLAIN":
            raise Pop3Error(codes.UNKNOWN_MECHANISM)
        if command.initial is not None:
            response = command.initial.encode()
        else:
            # RFC 5034 §4: an empty challenge, then the client's base64 line.
            self.channel.write(codes.SASL_CONTINUE)
            self.parser.expect_sasl_response()
            event = await self._next_event()
            if not isinstance(event, SaslResponse):  # cannot happen: the parser was told
                raise Pop3Error(codes.BAD_SASL)
            response = event.data.strip()
        if response == b"*":
            raise Pop3Error(codes.AUTH_CANCELLED)  # RFC 5034 §4
        credentials = decode_plain(response)
        if credentials.authzid and credentials.authzid != credentials.authcid:
            raise Pop3Error(codes.LOGIN_FAILED)  # no acting for another user
        await self._login(credentials.authcid, credentials.password)

    async def _login(self, address: str, password: str) -> None:
        try:
            account = await self.auth.login(address, password, self.remote_ip, "pop3")
        except AuthFailed as failed:
            raise Pop3Error(_REFUSALS[failed.refusal]) from None
        if not maildrop.try_lock(self.store, account.id):
            raise Pop3Error(codes.MAILDROP_IN_USE)  # RFC 2449 §8.1.2
        try:
            self.mailbox_id, self.maildrop = await maildrop.load(self.store, account.id)
        except StoreError:
            maildrop.unlock(self.store, account.id)
            log.exception("pop3: cannot open the maildrop of account %d", account.id)
            raise Pop3Error(codes.MAILDROP_UNAVAILABLE) from None
        self.account_id = account.id
        self.state = State.TRANSACTION
        self.send(codes.logged_in(*self.maildrop.stat()))

    # -- TRANSACTION (RFC 1939 §5, §7) ------------------------------------------------------

    async def _stat(self, command: Stat) -> None:
        self.send(codes.stat(*self.maildrop.stat()))

    async def _list(self, command: List) -> None:
        if command.msg is not None:
            self.send(codes.scan_listing(command.msg, self.maildrop.get(command.msg).size))
            return
        lines = [f"{number} {entry.size}" for number, entry in self.maildrop.listing()]
        self.channel.write(multiline(codes.listing_follows(*self.maildrop.stat()), lines))

    async def _uidl(self, command: Uidl) -> None:
        if command.msg is not None:
            entry = self.maildrop.get(command.msg)
            self.send(codes.unique_id(command.msg, entry.unique_id))
            return
        lines = [f"{number} {entry.unique_id}" for number, entry in self.maildrop.listing()]
        self.channel.write(multiline(codes.UIDL_FOLLOWS, lines))

    async def _send_message(self, number: int, top: int | None) -> None:
        entry = self.maildrop.get(number)
        assert self.account_id is not None
        try:
            raw = await self.store.read_body(self.account_id, entry.message_id)
        except NotFound:
            raise Pop3Error(codes.MESSAGE_GONE) from None
        # Built whole before the first byte goes out, so a failure cannot cut a reply short;
        # status line and body in one write (one system call).
        self.channel.write(codes.message_follows(entry.size).to_bytes() + wire_message(raw, top))
        try:
            async with asyncio.timeout(self.settings.timeout):
                await self.channel.drain()
        except (OSError, TimeoutError):
            raise Closed from None

    async def _retr(self, command: Retr) -> None:
        await self._send_message(command.msg, None)
        self.maildrop.retrieved.add(command.msg)

    async def _top(self, command: Top) -> None:
        await self._send_message(command.msg, command.lines)

    async def _dele(self, command: Dele) -> None:
        self.maildrop.delete(command.msg)
        self.send(codes.deleted(command.msg))

    async def _noop(self, command: Noop) -> None:
        self.send(codes.NOOP_OK)

    async def _rset(self, command: Rset) -> None:
        self.maildrop.reset()
        self.send(codes.reset(*self.maildrop.stat()))

    async def _quit(self, command: Quit) -> None:
        if self.state is State.AUTHORIZATION:
            self.state = State.UPDATE  # RFC 1939 §4: QUIT here ends without an UPDATE
            self.send(codes.BYE)
            return
        self.state = State.UPDATE  # RFC 1939 §6
        assert self.account_id is not None
        try:
            await maildrop.commit(self.store, self.account_id, self.mailbox_id, self.maildrop)
        except StoreError:
            log.exception("pop3: commit failed for account %d", self.account_id)
            self.send(codes.COMMIT_FAILED)
            return
        self.send(codes.signing_off(self.maildrop.stat()[0]))
