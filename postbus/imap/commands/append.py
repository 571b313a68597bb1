"""APPEND (RFC 9051 §6.3.12) with APPENDUID (RFC 4315 §3) and APPENDLIMIT (RFC 7889).

Large literals arrive in a spool file (the receiver streams them there) and go to the store
as a Path. An APPEND to the Sent folder of a message the submission path already saved there
within the last hour answers with that message's UID instead of storing a double: clients
that save their own Sent copy and our server-side copy would otherwise both land (issue 3).
"""

from __future__ import annotations

import time
from pathlib import Path

from postbus.imap.proto import codes
from postbus.imap.proto import commands as c
from postbus.imap.proto.errors import ImapNo
from postbus.imap.proto.tokens import Spooled
from postbus.imap.session import Reply, Session
from postbus.mime import get_header, header_block
from postbus.mime.headers import parse_message_id
from postbus.store import NotFound, imap_queries

SENT_DOUBLE_WINDOW = 3600
HEADER_PEEK = 64 * 1024


def _message_id(source: bytes | Path) -> str | None:
    if isinstance(source, Path):
        with source.open("rb") as f:
            head = f.read(HEADER_PEEK)
    else:
        head = bytes(source[:HEADER_PEEK])
    values = get_header(header_block(head), "message-id")
    return parse_message_id(values[0]) if values else None


async def append(s: Session, cmd: c.Append) -> Reply:
    source: bytes | Path = Path(cmd.message.path) if isinstance(cmd.message, Spooled) else (
        cmd.message
    )
    try:
        if cmd.size > s.limits.max_message_size:
            raise ImapNo("Message too big", codes.TOOBIG)
        if cmd.size == 0:
            raise ImapNo("Empty message", codes.CANNOT)
        name = s.mailbox_name(cmd.mailbox)
        try:
            box = await s.store.get_mailbox(s.account_id, name)
        except NotFound:
            # RFC 9051 §6.3.12: TRYCREATE tells the client it may create it and retry
            raise ImapNo(codes.TARGET_MISSING, codes.TRYCREATE) from None
        if box.special_use == "\\Sent":
            message_id = _message_id(source)
            if message_id:
                since = int(time.time()) - SENT_DOUBLE_WINDOW
                found = await s.store.read(
                    lambda tx: imap_queries.recent_sent_copy(
                        tx, s.account_id, box.id, message_id, since
                    )
                )
                if found is not None:
                    return Reply("APPEND completed (kept the copy saved at sending)",
                                 f"APPENDUID {found[0]} {found[1]}")
        appended = await s.store.append(s.account_id, box.id, source, cmd.flags, cmd.date)
    finally:
        if isinstance(source, Path):
            source.unlink(missing_ok=True)
    if s.view is not None and s.view.mailbox_id == box.id:
        s.view.note_new([appended.uid])  # RFC 9051 §6.3.12: EXISTS follows at once
    return Reply("APPEND completed", f"APPENDUID {appended.uidvalidity} {appended.uid}")
