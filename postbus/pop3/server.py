"""POP3 listeners: the asyncio glue between sockets and ``Session``.

Registers protocol "pop3" with ``postbus.server``: tls "starttls" offers STLS (RFC 2595), tls
"implicit" speaks TLS from the first byte (RFC 8314 §3.3, port 995), tls "none" neither.

Invariants:
- An ``asyncio.Protocol`` of our own, not streams: bytes go straight from ``data_received`` into
  the session's parser, so at STLS nothing can hide in a stream buffer; the discard and
  ``loop.start_tls`` (which pauses reading and swaps the protocol before its first await) run
  with no await between them.
- Reading pauses while the parser holds more than ``_HIGH_WATER`` unhandled octets; writing
  waits on the transport's flow control (``drain``), with the idle timeout.
- Connections are counted per listener (limits.max_connections, limits.connections_per_ip);
  a connection over the limit gets ``-ERR [SYS/TEMP]`` and is closed.
- ``close()`` on the returned server stops accepting and asks every session to end at its
  next command boundary; ``wait_closed()`` returns when the last one has.
- Whatever happens in a session, the transport is closed at its end and the account lock is
  released (``Session.run``'s finally); an unexpected exception is logged, never sent.
"""

from __future__ import annotations

import asyncio
import logging
import socket
from collections import Counter
from typing import cast

from postbus.config import Listener
from postbus.pop3 import codes
from postbus.pop3.session import Session, Settings
from postbus.server import Service, register

log = logging.getLogger("postbus.pop3")

HANDSHAKE_TIMEOUT = 30.0  # seconds for a TLS handshake (implicit or after STLS)


class _Limits:
    """Open connections of one listener, in total and per client IP."""

    def __init__(self, total: int, per_ip: int) -> None:
        self.total, self.per_ip = total, per_ip
        self.open: Counter[str] = Counter()
        self.count = 0

    def admit(self, ip: str) -> bool:
        if self.count >= self.total or self.open[ip] >= self.per_ip:
            return False
        self.open[ip] += 1
        self.count += 1
        return True

    def leave(self, ip: str) -> None:
        self.count -= 1
        self.open[ip] -= 1
        if self.open[ip] <= 0:
            del self.open[ip]


class _Open(set["_Connection"]):
    """The live connections of one listener, for a graceful stop."""

    def __init__(self) -> None:
        super().__init__()
        self.finished = asyncio.Event()  # set each time a session ends


class Pop3Server(asyncio.AbstractServer):
    """The listening socket plus its sessions: ``close`` also tells every session to end,
    ``wait_closed`` waits for them (``postbus.server`` bounds the wait)."""

    def __init__(self, server: asyncio.AbstractServer, live: _Open) -> None:
        self._server = server
        self._live = live

    @property
    def sockets(self) -> tuple[socket.socket, ...]:
        return tuple(getattr(self._server, "sockets", ()) or ())

    def close(self) -> None:
        self._server.close()
        for connection in list(self._live):
            connection.stop()

    async def wait_closed(self) -> None:
        await self._server.wait_closed()
        while self._live:
            self._live.finished.clear()
            await self._live.finished.wait()

    def get_loop(self) -> asyncio.AbstractEventLoop:
        return self._server.get_loop()

    def is_serving(self) -> bool:
        return self._server.is_serving()

    async def start_serving(self) -> None:
        await self._server.start_serving()

    async def serve_forever(self) -> None:
        await self._server.serve_forever()


class _Connection(asyncio.Protocol):
    """One client connection; implements ``session.Channel``."""

    _HIGH_WATER = 64 * 1024

    def __init__(self, service: Service, settings: Settings, limits: _Limits,
                 registry: _Open, tls_active: bool) -> None:
        self.service = service
        self.registry = registry
        self.settings = settings
        self.limits = limits
        self.tls_active = tls_active
        self.stopping = False
        self.transport: asyncio.Transport | None = None
        self.session: Session | None = None
        self.remote_ip = ""
        self._admitted = False
        self._readable = asyncio.Event()
        self._eof = False
        self._reading_paused = False
        self._write_paused = False
        self._drain_waiter: asyncio.Future[None] | None = None
        self._task: asyncio.Task[None] | None = None

    # -- asyncio.Protocol ------------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports are not asyncio.Transport subclasses, but have the same methods.
        self.transport = cast(asyncio.Transport, transport)
        peer = transport.get_extra_info("peername")
        self.remote_ip = str(peer[0]) if peer else ""
        if not self.limits.admit(self.remote_ip):
            transport.write(codes.TOO_MANY_CONNECTIONS.to_bytes())
            transport.close()
            return
        self._admitted = True
        limits = self.service.config.limits
        self.session = Session(self.service.store, self.service.auth, self, self.settings,
                               self.remote_ip, limits.max_line_length)
        self._task = asyncio.get_running_loop().create_task(self._run())
        self.registry.add(self)

    def data_received(self, data: bytes) -> None:
        if self.session is None:
            return
        self.session.parser.feed(data)
        self._readable.set()
        if self.session.parser.buffered > self._HIGH_WATER and not self._reading_paused:
            assert self.transport is not None
            self.transport.pause_reading()
            self._reading_paused = True

    def eof_received(self) -> bool:
        self._eof = True
        self._readable.set()
        # Half-closed: keep the transport open so the replies to what came before still go
        # out; the session closes it. (TLS transports cannot half-close.)
        return not self.tls_active

    def connection_lost(self, exc: Exception | None) -> None:
        self._eof = True
        self._readable.set()
        self._wake_writer(exc or ConnectionResetError("connection lost"))
        if self._admitted:
            self._admitted = False
            self.limits.leave(self.remote_ip)

    def pause_writing(self) -> None:
        self._write_paused = True

    def resume_writing(self) -> None:
        self._write_paused = False
        self._wake_writer(None)

    def _wake_writer(self, exc: Exception | None) -> None:
        waiter, self._drain_waiter = self._drain_waiter, None
        if waiter is not None and not waiter.done():
            if exc is None:
                waiter.set_result(None)
            else:
                waiter.set_exception(exc)

    # -- session.Channel ---------------------------------------------------------------------

    def write(self, data: bytes) -> None:
        if self.transport is not None and not self.transport.is_closing():
            self.transport.write(data)

    async def drain(self) -> None:
        if self.transport is None or self.transport.is_closing():
            raise ConnectionResetError("connection closed")
        if not self._write_paused:
            return
        self._drain_waiter = asyncio.get_running_loop().create_future()
        await self._drain_waiter

    async def read_more(self) -> bool:
        assert self.session is not None
        if self.session.parser.ready:  # arrived while the session awaited something else
            return True
        if self._eof:
            return False
        self._readable.clear()
        if self._reading_paused and self.transport is not None:
            self._reading_paused = False
            self.transport.resume_reading()
        await self._readable.wait()
        return not (self._eof and not self.session.parser.buffered)

    async def start_tls(self) -> None:
        assert self.transport is not None and self.service.tls is not None
        self._reading_paused = False  # start_tls resumes reading on the new transport
        loop = asyncio.get_running_loop()
        new = await loop.start_tls(self.transport, self, self.service.tls, server_side=True,
                                   ssl_handshake_timeout=HANDSHAKE_TIMEOUT)
        if new is None:
            raise ConnectionResetError("connection closed during the TLS handshake")
        self.transport = new
        self.tls_active = True

    def stop(self) -> None:
        """Server shutdown: the session says goodbye at its next command boundary."""
        self.stopping = True
        self._readable.set()

    # -- the session task --------------------------------------------------------------------

    async def _run(self) -> None:
        assert self.session is not None
        try:
            await self.session.run()
        except Exception:  # Session.run answers everything it expects; this is a bug
            log.exception("pop3 session from %s failed", self.remote_ip)
            self.write(codes.INTERNAL_ERROR.to_bytes())
        finally:
            if self.transport is not None:
                self.transport.close()
            self.registry.discard(self)
            self.registry.finished.set()


async def serve_pop3(service: Service, listener: Listener) -> asyncio.AbstractServer:
    """``postbus.server`` listener factory for protocol "pop3"."""
    if listener.tls != "none" and service.tls is None:
        raise ValueError(f"{listener.name}: tls {listener.tls} needs a certificate")
    limits = service.config.limits
    settings = Settings(
        stls=listener.tls == "starttls",
        plaintext_login=listener.allows_plaintext_auth,
        timeout=float(limits.pop3_timeout),
    )
    counter = _Limits(limits.max_connections, limits.connections_per_ip)
    live = _Open()
    implicit = listener.tls == "implicit"
    loop = asyncio.get_running_loop()
    server = await loop.create_server(
        lambda: _Connection(service, settings, counter, live, implicit),
        listener.host,
        listener.port,
        ssl=service.tls if implicit else None,
        ssl_handshake_timeout=HANDSHAKE_TIMEOUT if implicit else None,
    )
    return Pop3Server(server, live)


register("pop3", serve_pop3)
