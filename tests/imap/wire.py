"""A small raw IMAP client for tests: real sockets, exact lines, literals both ways, and
optional COMPRESS=DEFLATE (RFC 4978) on the client side."""

from __future__ import annotations

import asyncio
import contextlib
import re
import ssl
import zlib

_LITERAL = re.compile(rb"\{(\d+)\}$")


class Wire:
    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer
        self.buffer = bytearray()
        self.n = 0
        self.deflate: zlib._Compress | None = None
        self.inflate: zlib._Decompress | None = None
        self.greeting = b""
        self.sent_octets = 0  # on the wire, after compression
        self.received_octets = 0

    @classmethod
    async def open(cls, port: int, tls: ssl.SSLContext | None = None) -> Wire:
        reader, writer = await asyncio.open_connection("127.0.0.1", port, ssl=tls)
        wire = cls(reader, writer)
        wire.greeting = await wire.line()
        return wire

    async def _fill(self) -> None:
        data = await asyncio.wait_for(self.reader.read(65536), 10)
        if not data:
            raise ConnectionError("server closed the connection")
        self.received_octets += len(data)
        if self.inflate is not None:
            data = self.inflate.decompress(data)
        self.buffer += data

    async def line(self) -> bytes:
        """One response line; a literal at its end is read and kept inline."""
        out = bytearray()
        while True:
            while (end := self.buffer.find(b"\r\n")) < 0:
                await self._fill()
            part = bytes(self.buffer[:end])
            del self.buffer[: end + 2]
            out += part
            m = _LITERAL.search(part)
            if not m:
                return bytes(out)
            size = int(m[1])
            while len(self.buffer) < size:
                await self._fill()
            out += b"\r\n" + bytes(self.buffer[:size])
            del self.buffer[:size]

    def send(self, data: bytes) -> None:
        if self.deflate is not None:
            data = self.deflate.compress(data) + self.deflate.flush(zlib.Z_SYNC_FLUSH)
        self.sent_octets += len(data)
        self.writer.write(data)

    async def command(self, text: bytes | str, *literals: bytes) -> tuple[list[bytes], bytes]:
        """Send ``text`` (``{}`` marks where each literal goes, sent as LITERAL+) and return
        (untagged lines, tagged line)."""
        self.n += 1
        tag = b"T%d" % self.n
        data = text.encode() if isinstance(text, str) else text
        pieces = data.split(b"{}")
        assert len(pieces) == len(literals) + 1
        out = tag + b" " + pieces[0]
        for literal, piece in zip(literals, pieces[1:], strict=True):
            out += b"{%d+}\r\n" % len(literal) + literal + piece
        self.send(out + b"\r\n")
        untagged = []
        while True:
            line = await self.line()
            if line.startswith(tag + b" "):
                return untagged, line
            untagged.append(line)

    async def ok(self, text: bytes | str, *literals: bytes) -> list[bytes]:
        untagged, tagged = await self.command(text, *literals)
        assert b" OK" in tagged[:12], (text, untagged, tagged)
        return untagged

    async def news(self, count: int, seconds: float = 10.0) -> list[bytes]:
        """NOOP until ``count`` untagged lines came back (events from other sessions may take
        a moment through PostgreSQL's LISTEN/NOTIFY)."""
        lines: list[bytes] = []
        deadline = asyncio.get_running_loop().time() + seconds
        while len(lines) < count and asyncio.get_running_loop().time() < deadline:
            lines += await self.ok("NOOP")
            if len(lines) < count:
                await asyncio.sleep(0.05)
        return lines

    async def login(self, user: str, password: str) -> None:
        await self.ok(f'LOGIN {user} "{password}"')

    def start_compress(self) -> None:
        self.deflate = zlib.compressobj(6, zlib.DEFLATED, -15)
        self.inflate = zlib.decompressobj(-15)
        leftover = bytes(self.buffer)  # nothing may follow the OK uncompressed
        assert not leftover, leftover

    async def close(self) -> None:
        self.writer.close()
        with contextlib.suppress(ConnectionError, ssl.SSLError):
            await self.writer.wait_closed()
