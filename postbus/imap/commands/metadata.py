"""GETMETADATA, SETMETADATA (RFC 5464) and LIST RETURN (METADATA ...) (RFC 9590).

Entries live in the store (postbus/store/metadata.py), per account: the server's ("" as the
mailbox name) and each mailbox's, under /private and /shared. Nobody else sees an account's
mailboxes, so /shared entries are as private as /private ones; both are kept apart all the
same, as clients expect. Limits: a value is at most ``MAXSIZE`` octets (refused with
[METADATA MAXSIZE n]) and a mailbox, or the server, holds at most ``MAX_ENTRIES`` entries
([METADATA TOOMANY]), both enforced before anything is written.
"""

from __future__ import annotations

from postbus.imap.proto import codes
from postbus.imap.proto import commands as c
from postbus.imap.proto import response as r
from postbus.imap.proto.errors import ImapNo
from postbus.imap.session import Reply, Session
from postbus.store import LimitReached, NotFound
from postbus.store import metadata as store_metadata
from postbus.store.models import Mailbox

MAXSIZE = 16 * 1024  # octets of one value; below the receiver's max_literal_size
MAX_ENTRIES = 100  # per mailbox, and for the server
READ_ONLY_ENTRIES = frozenset({"/shared/admin"})  # RFC 5464 §6.2.1: the administrator's


async def _mailbox(s: Session, raw: str) -> int | None:
    """The mailbox row id, or None for the server ("")."""
    if raw == "":
        return None
    try:
        box = await s.store.get_mailbox(s.account_id, s.mailbox_name(raw))
    except NotFound:
        raise ImapNo(codes.NO_SUCH_MAILBOX, codes.NONEXISTENT) from None
    return box.id


def _response(s: Session, raw_name: str, entries: list[tuple[str, bytes | None]]) -> None:
    # metadata-resp = "METADATA" SP mailbox SP (entry-values / entry-list)   ; RFC 5464 §5
    name = s.wire_name(s.mailbox_name(raw_name)) if raw_name else b'""'
    values = b" ".join(
        r.astring(entry) + b" " + (r.NIL if value is None else r.string(value))
        for entry, value in entries
    )
    s.untagged(b"METADATA " + name + b" (" + values + b")")


async def getmetadata(s: Session, cmd: c.GetMetadata) -> Reply:
    mailbox_id = await _mailbox(s, cmd.mailbox)
    found = await s.store.read(
        lambda tx: store_metadata.get_entries(
            tx, s.account_id, mailbox_id, cmd.entries, cmd.depth
        )
    )
    longest = 0
    entries: list[tuple[str, bytes | None]] = []
    for name, value in found:
        if cmd.maxsize is not None and len(value) > cmd.maxsize:
            longest = max(longest, len(value))  # RFC 5464 §4.2.1: left out, and said so
            continue
        entries.append((name, value))
    have = {name for name, _ in found}
    # An entry asked for by name that has no value comes back as NIL (as Dovecot does).
    entries += [(name, None) for name in cmd.entries if name not in have]
    entries.sort()
    _response(s, cmd.mailbox, entries)
    if longest:
        return Reply("GETMETADATA completed", f"METADATA LONGENTRIES {longest}")
    return Reply("GETMETADATA completed")


async def setmetadata(s: Session, cmd: c.SetMetadata) -> Reply:
    mailbox_id = await _mailbox(s, cmd.mailbox)
    for name, value in cmd.entries:
        if value is not None and len(value) > MAXSIZE:
            # RFC 5464 §4.3: NO [METADATA MAXSIZE n] with the largest size allowed
            raise ImapNo("Value too large", f"METADATA MAXSIZE {MAXSIZE}")
        if mailbox_id is None and name in READ_ONLY_ENTRIES:
            raise ImapNo("Set by the administrator", codes.NOPERM)
    try:
        await s.store.write(
            lambda tx: store_metadata.set_entries(
                tx, s.account_id, mailbox_id, cmd.entries, MAX_ENTRIES
            )
        )
    except LimitReached:
        raise ImapNo("Too many annotations", codes.METADATA_TOOMANY) from None
    return Reply("SETMETADATA completed")


async def list_metadata(
    s: Session, box: Mailbox, names: tuple[str, ...], maxsize: int | None
) -> None:
    """RFC 9590 §3: the entries that exist (and fit ``maxsize``) after a mailbox's LIST."""
    found = await s.store.read(
        lambda tx: store_metadata.get_entries(tx, s.account_id, box.id, names, 0)
    )
    entries: list[tuple[str, bytes | None]] = [
        (name, value) for name, value in found if maxsize is None or len(value) <= maxsize
    ]
    if entries:
        name = s.wire_name(box.name)
        values = b" ".join(r.astring(e) + b" " + r.nstring(v) for e, v in entries)
        s.untagged(b"METADATA " + name + b" (" + values + b")")
