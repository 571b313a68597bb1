"""COMPRESS=DEFLATE (RFC 4978) with a real client socket that deflates and inflates: commands,
big FETCHes, IDLE news, pipelining right after the command, TLS underneath, bad streams."""

from __future__ import annotations

import asyncio
import zlib

from tests.imap.conftest import PASSWORD, ImapServer, message
from tests.imap.wire import Wire

ANN = "ann@example.org"


async def _fill(imap: ImapServer, count: int) -> None:
    account = imap.users[ANN]
    inbox = await imap.store.get_mailbox(account, "INBOX")
    for i in range(count):
        text = f"Line {i} of a fairly repetitive body.\r\n" * 40
        await imap.store.append(account, inbox.id, message(f"compressed {i}", text))


async def test_deflate_both_ways(imap: ImapServer) -> None:
    await _fill(imap, 20)
    plain = await Wire.open(imap.plain_port)
    await plain.login(ANN, PASSWORD)
    await plain.ok("SELECT INBOX")
    expected = await plain.ok("FETCH 1:* (UID BODY.PEEK[])")
    await plain.close()

    wire = await Wire.open(imap.plain_port)
    _, tagged = await wire.command("COMPRESS DEFLATE")
    assert b"BAD" in tagged  # RFC 4978 §3: after authentication only
    await wire.login(ANN, PASSWORD)
    assert b"COMPRESS=DEFLATE" in (await wire.ok("CAPABILITY"))[0]
    _, tagged = await wire.command("COMPRESS LZW")
    assert b" BAD " in tagged
    assert (await wire.ok("COMPRESS DEFLATE")) == []
    wire.start_compress()
    await wire.ok("SELECT INBOX")
    before = wire.received_octets
    fetched = await wire.ok("FETCH 1:* (UID BODY.PEEK[])")
    assert fetched == expected and len(fetched) == 20
    raw = sum(len(line) + 2 for line in fetched)
    assert wire.received_octets - before < raw / 4  # the bodies repeat: deflate shines
    # RFC 4978 §3: a second COMPRESS is refused with COMPRESSIONACTIVE
    _, tagged = await wire.command("COMPRESS DEFLATE")
    assert b"NO [COMPRESSIONACTIVE]" in tagged
    assert b"COMPRESS=DEFLATE" not in (await wire.ok("CAPABILITY"))[0]
    untagged, tagged = await wire.command("LOGOUT")
    assert untagged[0].startswith(b"* BYE") and b"OK" in tagged
    await wire.close()


async def test_pipelined_after_compress_and_idle_news(imap: ImapServer) -> None:
    wire = await Wire.open(imap.plain_port)
    await wire.login(ANN, PASSWORD)
    # the client may send compressed commands in the same packet, right after COMPRESS
    deflate = zlib.compressobj(6, zlib.DEFLATED, -15)
    packet = b"C1 COMPRESS DEFLATE\r\n" + deflate.compress(b"C2 SELECT INBOX\r\n")
    packet += deflate.flush(zlib.Z_SYNC_FLUSH)
    wire.writer.write(packet)
    assert (await wire.line()).startswith(b"C1 OK")
    wire.deflate = deflate
    wire.inflate = zlib.decompressobj(-15)
    leftover = bytes(wire.buffer)  # read with the OK, but already compressed
    wire.buffer[:] = wire.inflate.decompress(leftover)
    while not (line := await wire.line()).startswith(b"C2 "):
        pass
    assert line.startswith(b"C2 OK")
    # IDLE: news must leave the deflate stream at once (flushed), not wait in zlib
    wire.send(b"I1 IDLE\r\n")
    assert (await wire.line()).startswith(b"+ ")
    await _fill(imap, 1)
    assert await asyncio.wait_for(wire.line(), 10) == b"* 1 EXISTS"
    wire.send(b"DONE\r\n")
    assert (await wire.line()).startswith(b"I1 OK")
    await wire.close()


async def test_over_tls(imap: ImapServer) -> None:
    await _fill(imap, 3)
    wire = await Wire.open(imap.implicit_port, imap.client_tls())
    await wire.login(ANN, PASSWORD)
    await wire.ok("COMPRESS DEFLATE")
    wire.start_compress()
    await wire.ok("SELECT INBOX")
    assert len(await wire.ok("UID FETCH 1:* (FLAGS ENVELOPE)")) == 3
    await wire.close()


async def test_broken_stream_closes_only_that_connection(imap: ImapServer) -> None:
    wire = await Wire.open(imap.plain_port)
    await wire.login(ANN, PASSWORD)
    await wire.ok("COMPRESS DEFLATE")
    wire.writer.write(b"\xff\xff\xff\xff not deflate at all \r\n")
    data = await asyncio.wait_for(wire.reader.read(), 10)
    assert data == b""  # closed: nothing readable could be said
    await wire.close()
    other = await Wire.open(imap.plain_port)
    await other.login(ANN, PASSWORD)
    await other.ok("NOOP")
    await other.close()


async def test_a_small_bomb_does_not_fill_memory(imap: ImapServer) -> None:
    """64 MiB of one repeated line arrive as ~64 KiB: the server reads it bit by bit, refuses
    each over-long line, and the session goes on."""
    wire = await Wire.open(imap.plain_port)
    await wire.login(ANN, PASSWORD)
    await wire.ok("COMPRESS DEFLATE")
    wire.start_compress()
    chunk = b"A" * (1 << 20)
    data = b"".join(wire.deflate.compress(chunk) for _ in range(64))  # type: ignore[union-attr]
    data += wire.deflate.compress(b"\r\nT9 NOOP\r\n")  # type: ignore[union-attr]
    data += wire.deflate.flush(zlib.Z_SYNC_FLUSH)  # type: ignore[union-attr]
    assert len(data) < 1 << 18
    wire.writer.write(data)
    lines = []
    while not (line := await asyncio.wait_for(wire.line(), 30)).startswith(b"T9 "):
        lines.append(line)
    assert line.startswith(b"T9 OK") and any(b"[TOOBIG]" in x for x in lines)
    await wire.close()
