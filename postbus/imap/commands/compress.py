"""COMPRESS=DEFLATE (RFC 4978): after the tagged OK both directions are raw DEFLATE (RFC 1951,
zlib with wbits -15). The asyncio glue does the work (``ImapConnection.start_compress``); this
handler only decides and answers.
"""

from __future__ import annotations

from postbus.imap.proto import codes
from postbus.imap.proto import commands as c
from postbus.imap.proto import response as r
from postbus.imap.proto.errors import ImapBad, ImapNo
from postbus.imap.session import NO_REPLY, Reply, Session


async def compress(s: Session, cmd: c.Compress) -> Reply:
    if cmd.mechanism != "DEFLATE":
        raise ImapBad("Unknown compression mechanism")  # RFC 4978 §3
    if s.compressed:
        # RFC 4978 §3: NO with COMPRESSIONACTIVE when the same layer is on already
        raise ImapNo(codes.COMPRESS_ACTIVE_TEXT, codes.COMPRESSIONACTIVE)
    await s.deliver(cmd)  # pending news go out before the switch, uncompressed
    s.send(r.tagged(cmd.tag, "OK", "DEFLATE active"))
    await s.io.drain()
    # RFC 4978 §3: "compression begins immediately following the CRLF" of the OK, both ways
    s.io.start_compress()
    s.compressed = True
    return NO_REPLY
