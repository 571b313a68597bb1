"""The asyncio glue of the IMAP server: sockets, TLS, timeouts, flow control.

``register("imap", serve_imap)`` at import: ``postbus.server`` starts one listener per
configured ``[[listener]]`` with protocol "imap"; tls "implicit" wraps the socket at once
(port 993), "starttls" offers STARTTLS (port 143).

Invariants:
- One task per connection runs the command loop; it alone writes to the socket, so responses
  never interleave. Store events reach the session through its subscription and are written
  by that task only.
- STARTTLS: reading is paused in the same tick the OK is written; whatever the client sent
  after STARTTLS and we already hold is discarded before the handshake (CVE-2011-0411 class).
- COMPRESS=DEFLATE (RFC 4978) is a layer here: from the octet after the tagged OK, what is
  written goes through one deflate stream (flushed with Z_SYNC_FLUSH before every wait for the
  client, so nothing the client needs sits in zlib) and what is read through one inflate stream.
  Inflating is bounded like reading: at most MAX_UNREAD octets wait for the session, the rest
  stays compressed and the socket is paused, so a small bomb cannot fill memory.
- The clock is read here only: the autologout timers (RFC 9051 §5.4) and the command rate.
- A connection is closed on any unexpected error after logging it; no traceback is written to
  the client.
"""

from __future__ import annotations

import asyncio
import logging
import os
import tempfile
import time
import zlib
from collections import Counter
from pathlib import Path
from typing import Any

from postbus.config import Listener
from postbus.imap import capabilities
from postbus.imap.proto import codes
from postbus.imap.proto import response as r
from postbus.imap.proto.commands import BadCommand
from postbus.imap.proto.receiver import NEED_DATA, Limits, Line, NeedLiteral, Receiver
from postbus.imap.proto.tokens import Spooled
from postbus.imap.session import Disconnect, Session, State
from postbus.server import Service, register

log = logging.getLogger("postbus.imap")

MAX_UNREAD = 4 * 1024 * 1024  # pause the socket when the client runs this far ahead
TLS_HANDSHAKE_TIMEOUT = 30.0
INFLATE_CHUNK = 256 * 1024


class FileSpool:
    """Where the receiver streams a large APPEND literal (a file in data_dir/spool)."""

    def __init__(self, directory: Path, owner: list[Path]) -> None:
        directory.mkdir(parents=True, exist_ok=True)
        fd, name = tempfile.mkstemp(prefix="append-", suffix=".eml", dir=directory)
        self.file = os.fdopen(fd, "wb")
        self.path = Path(name)
        self.size = 0
        owner.append(self.path)

    def write(self, data: bytes) -> None:
        self.file.write(data)
        self.size += len(data)

    def finish(self) -> Spooled:
        self.file.close()
        return Spooled(self.path, self.size)

    def discard(self) -> None:
        self.file.close()
        self.path.unlink(missing_ok=True)


class Counters:
    """Open connections per listener: in total and per client IP."""

    def __init__(self) -> None:
        self.total = 0
        self.per_ip: Counter[str] = Counter()


class ImapConnection(asyncio.Protocol):
    __slots__ = (  # thousands live at once, most idle: no per-instance dict
        "_closed", "_counted", "_data", "_deflate", "_deflated", "_drain_waiters", "_incoming",
        "_inflate", "_paused", "_reading_paused", "_tail", "_task", "_tls", "counters",
        "limits", "listener", "receiver", "remote_ip", "service", "spooled", "transport",
    )

    def __init__(self, service: Service, listener: Listener, counters: Counters) -> None:
        self.service = service
        self.listener = listener
        self.counters = counters
        limits = service.config.limits
        self.limits = limits
        self.spooled: list[Path] = []
        spool_dir = service.config.data_dir / "spool"
        self.receiver = Receiver(
            Limits(
                max_line_length=limits.max_line_length,
                max_literal_size=limits.max_literal_size,
                max_message_size=limits.max_message_size,
                max_depth=limits.max_nesting_depth,
            ),
            spool=lambda size: FileSpool(spool_dir, self.spooled),
        )
        self.transport: Any = None
        self._incoming = bytearray()
        self._data = asyncio.Event()
        self._closed = False
        self._paused = False
        self._reading_paused = False
        self._drain_waiters: list[asyncio.Future[None]] = []
        self._task: asyncio.Task[None] | None = None
        self.remote_ip = "?"
        self._counted = False
        self._tls = listener.tls == "implicit"
        self._deflate: Any = None  # zlib streams once COMPRESS=DEFLATE is on
        self._inflate: Any = None
        self._deflated = False  # written into the deflate stream since the last flush
        self._tail = b""  # compressed octets not inflated yet

    # -- asyncio.Protocol ----------------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport
        peer = transport.get_extra_info("peername")
        self.remote_ip = str(peer[0]) if peer else "?"
        self._task = asyncio.get_running_loop().create_task(self._run())

    def data_received(self, data: bytes) -> None:
        if self._inflate is not None:
            self._tail += data
            if not self._inflate_more():
                return
        else:
            self._incoming += data
        self._data.set()
        if (len(self._incoming) > MAX_UNREAD or self._tail) and not self._reading_paused:
            self._reading_paused = True
            self.transport.pause_reading()

    def eof_received(self) -> bool:
        self._closed = True
        self._data.set()
        return False

    def connection_lost(self, exc: Exception | None) -> None:
        self._closed = True
        self._data.set()
        self._wake_writers()

    def pause_writing(self) -> None:
        self._paused = True

    def resume_writing(self) -> None:
        self._paused = False
        self._wake_writers()

    def _wake_writers(self) -> None:
        for waiter in self._drain_waiters:
            if not waiter.done():
                waiter.set_result(None)
        self._drain_waiters.clear()

    # -- Io for the session --------------------------------------------------------------------

    def write(self, data: bytes) -> None:
        if self._closed:
            return
        if self._deflate is not None:
            data = self._deflate.compress(data)
            self._deflated = True
            if not data:
                return
        self.transport.write(data)

    def _flush(self) -> None:
        """Everything written so far out of the deflate stream (RFC 4978 §4: Z_SYNC_FLUSH)."""
        if self._deflated and not self._closed:
            self._deflated = False
            self.transport.write(self._deflate.flush(zlib.Z_SYNC_FLUSH))

    def _inflate_more(self) -> bool:
        """Inflate buffered input until MAX_UNREAD waits; False when the stream is broken."""
        try:
            while self._tail and len(self._incoming) < MAX_UNREAD:
                self._incoming += self._inflate.decompress(self._tail, INFLATE_CHUNK)
                self._tail = self._inflate.unconsumed_tail
                if self._inflate.eof:  # the client ended its stream: nothing may follow
                    self._tail = b""
                    self._closed = True
                    break
        except zlib.error:
            log.info("IMAP client %s sent broken DEFLATE data", self.remote_ip)
            self._closed = True
            self._data.set()
            self.transport.close()
            return False
        return True

    def start_compress(self) -> None:
        self._deflate = zlib.compressobj(6, zlib.DEFLATED, -15)
        self._inflate = zlib.decompressobj(-15)
        # what the client sent after COMPRESS and we hold already is compressed
        self._tail = self.receiver.take_buffered() + bytes(self._incoming)
        self._incoming.clear()
        self._inflate_more()

    async def drain(self) -> None:
        self._flush()
        if self._closed:
            raise ConnectionResetError("client went away")
        if self._paused:
            waiter = asyncio.get_running_loop().create_future()
            self._drain_waiters.append(waiter)
            await waiter
            if self._closed:
                raise ConnectionResetError("client went away")

    async def _read(self, timeout: float) -> bytes:
        """The next bytes from the client; b"" when it went away."""
        self._flush()
        if not self._incoming and self._tail and not self._inflate_more():
            return b""
        if not self._incoming and not self._closed:
            self._data.clear()
            await asyncio.wait_for(self._data.wait(), timeout)
        data = bytes(self._incoming)
        self._incoming.clear()
        if self._reading_paused and not self._closed and not self._tail:
            self._reading_paused = False
            self.transport.resume_reading()
        return data

    async def read_line(self) -> bytes | None:
        self.receiver.expect_line()
        while True:
            event = self.receiver.next()
            if isinstance(event, Line):
                return event.data
            if event is NEED_DATA:
                data = await self._read(self.limits.imap_idle_timeout)
                if not data:
                    return None
                self.receiver.feed(data)
                continue
            return None  # cannot happen in line mode; treat as a broken client

    async def start_tls(self) -> None:
        assert self.service.tls is not None
        self.transport.pause_reading()
        self._reading_paused = False
        self._incoming.clear()
        self.receiver.discard()
        loop = asyncio.get_running_loop()
        self.transport = await loop.start_tls(
            self.transport, self, self.service.tls, server_side=True,
            ssl_handshake_timeout=TLS_HANDSHAKE_TIMEOUT,
        )
        self._tls = True

    # -- the command loop ----------------------------------------------------------------------

    def _admit(self) -> bool:
        limits = self.limits
        if self.counters.total >= limits.max_connections:
            return False
        if self.counters.per_ip[self.remote_ip] >= limits.connections_per_ip:
            return False
        self.counters.total += 1
        self.counters.per_ip[self.remote_ip] += 1
        self._counted = True
        return True

    def _release(self) -> None:
        if self._counted:
            self.counters.total -= 1
            self.counters.per_ip[self.remote_ip] -= 1
            if self.counters.per_ip[self.remote_ip] <= 0:
                del self.counters.per_ip[self.remote_ip]
            self._counted = False

    async def _run(self) -> None:
        session = Session(
            self.service.store, self.service.auth, self.limits, self.listener, self.remote_ip,
            self, self._tls,
        )
        try:
            if not self._admit():
                self.write(r.untagged_status("BYE", codes.BYE_TOO_MANY, codes.UNAVAILABLE))
                return
            self.write(
                r.untagged_status(
                    "OK", codes.GREETING, "CAPABILITY " + capabilities.advertised(session)
                )
            )
            await self._loop(session)
        except (ConnectionError, Disconnect, asyncio.CancelledError):
            pass
        except Exception:
            log.exception("IMAP connection from %s failed", self.remote_ip)
            self.write(r.untagged_status("BYE", codes.SERVER_BUG, codes.SERVERBUG))
        finally:
            session.close()
            self._release()
            for path in self.spooled:
                path.unlink(missing_ok=True)
            if self.transport is not None and not self.transport.is_closing():
                self._flush()
                self.transport.close()

    async def _loop(self, session: Session) -> None:
        window_start, commands = time.monotonic(), 0
        while session.state is not State.LOGOUT:
            event = self.receiver.next()
            if event is NEED_DATA:
                await self.drain()
                timeout = (
                    self.limits.unauthenticated_timeout
                    if session.account is None
                    else self.limits.imap_idle_timeout
                )
                try:
                    data = await self._read(timeout)
                except TimeoutError:
                    self.write(r.untagged_status("BYE", codes.BYE_TIMEOUT))  # RFC 9051 §5.4
                    return
                if not data:
                    return
                self.receiver.feed(data)
                continue
            if isinstance(event, NeedLiteral):
                self.write(r.continuation(codes.LITERAL_READY))
                continue
            if isinstance(event, BadCommand):
                self.write(r.tagged(event.tag, event.status, event.text, event.code))
                if event.fatal:
                    self.write(r.untagged_status("BYE", codes.BYE_FATAL))
                    return
                continue
            if isinstance(event, Line):
                continue
            # commands_per_second: a steady pace, bursts welcome (sleep, never refuse)
            commands += 1
            now = time.monotonic()
            if now - window_start >= 1.0:
                window_start, commands = now, 0
            elif commands > self.limits.commands_per_second:
                await asyncio.sleep(1.0 - (now - window_start))
            await session.execute(event)
            self._clean_spool()
        await self.drain()

    def _clean_spool(self) -> None:
        for path in self.spooled:
            path.unlink(missing_ok=True)
        self.spooled.clear()


async def serve_imap(service: Service, listener: Listener) -> asyncio.AbstractServer:
    loop = asyncio.get_running_loop()
    counters = Counters()
    ssl = service.tls if listener.tls == "implicit" else None
    return await loop.create_server(
        lambda: ImapConnection(service, listener, counters),
        listener.host, listener.port, ssl=ssl, ssl_handshake_timeout=TLS_HANDSHAKE_TIMEOUT
        if ssl is not None else None,
    )


register("imap", serve_imap)
