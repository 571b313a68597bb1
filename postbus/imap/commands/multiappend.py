"""MULTIAPPEND (RFC 3502) and REPLACE / UID REPLACE (RFC 8508).

Each message's body is written (fsync'd) and parsed first; then one transaction stores them all
(MULTIAPPEND) or swaps the old message for the new one (REPLACE), so a refusal — over quota, a
missing mailbox — leaves everything as it was, and an OK means every message is on disk.
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

from postbus import mime
from postbus.imap.commands.messages import uid_ranges
from postbus.imap.proto import codes
from postbus.imap.proto import commands as c
from postbus.imap.proto import response as r
from postbus.imap.proto.errors import ImapNo
from postbus.imap.proto.sequence import compress_ordered
from postbus.imap.proto.tokens import Spooled
from postbus.imap.session import Reply, Session
from postbus.store import NotFound, imap_queries
from postbus.store.models import Mailbox
from postbus.store.parsed import NewMessage, new_message


def _source(part: c.AppendPart) -> bytes | Path:
    return Path(part.message.path) if isinstance(part.message, Spooled) else part.message


def _parse(source: bytes | Path) -> object:
    return mime.parse_message(source.read_bytes() if isinstance(source, Path) else source)


async def _prepare(s: Session, part: c.AppendPart) -> NewMessage:
    """The body on disk and parsed: the first half of an append (Store.append's steps)."""
    if part.size > s.limits.max_message_size:
        raise ImapNo("Message too big", codes.TOOBIG)
    if part.size == 0:
        raise ImapNo("Empty message", codes.CANNOT)
    source = _source(part)
    blob = await s.store.store_body(source)
    parsed = await asyncio.to_thread(_parse, source)
    return new_message(blob, parsed)


async def _target(s: Session, raw: str) -> Mailbox:
    try:
        return await s.store.get_mailbox(s.account_id, s.mailbox_name(raw))
    except NotFound:
        # RFC 9051 §6.3.12: TRYCREATE tells the client it may create it and retry
        raise ImapNo(codes.TARGET_MISSING, codes.TRYCREATE) from None


def _cleanup(parts: tuple[c.AppendPart, ...]) -> None:
    for part in parts:
        if isinstance(part.message, Spooled):
            Path(part.message.path).unlink(missing_ok=True)


async def multiappend(s: Session, cmd: c.MultiAppend) -> Reply:
    try:
        box = await _target(s, cmd.mailbox)
        items = [(await _prepare(s, part), part.flags, part.date) for part in cmd.parts]
        now = int(time.time())
        appended = await s.store.write(
            lambda tx: imap_queries.append_all(tx, s.account_id, box.id, items, now)
        )
    finally:
        _cleanup(cmd.parts)
    uids = [a.uid for a in appended]
    if s.view is not None and s.view.mailbox_id == box.id:
        s.view.note_new(uids)
    # RFC 4315 §3 / RFC 3502: APPENDUID with the set of new UIDs, in order
    return Reply("APPEND completed", f"APPENDUID {box.uidvalidity} {compress_ordered(uids)}")


async def replace(s: Session, cmd: c.Replace) -> Reply:
    view = s.selected()
    try:
        if view.readonly:
            raise ImapNo(codes.READ_ONLY_MAILBOX, codes.READ_ONLY)
        known = view.uids_in(uid_ranges(view, cmd.uid, cmd.sequence))
        if len(known) != 1:
            raise ImapNo("No such message", codes.NONEXISTENT)
        old_uid = known[0]
        box = await _target(s, cmd.mailbox)
        new = await _prepare(s, cmd.part)
        now = int(time.time())
        part = cmd.part
        appended = await s.store.write(
            lambda tx: imap_queries.replace_message(
                tx, s.account_id, view.mailbox_id, old_uid, box.id, new, part.flags, part.date,
                now,
            )
        )
    finally:
        _cleanup((cmd.part,))
    # RFC 8508 §3.3: APPENDUID in an untagged OK, then the EXPUNGE (and EXISTS) responses
    s.send(r.untagged_status(
        "OK", "Replacement Message ID assigned",
        f"APPENDUID {appended.uidvalidity} {appended.uid}",
    ))
    view.note_expunged([old_uid])
    if box.id == view.mailbox_id:
        view.note_new([appended.uid])
    return Reply("REPLACE completed")
