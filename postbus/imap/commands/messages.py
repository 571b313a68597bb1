"""CHECK, CLOSE, UNSELECT, EXPUNGE / UID EXPUNGE, STORE, COPY, MOVE (RFC 9051 §6.4,
RFC 3691 UNSELECT, RFC 4315 UIDPLUS, RFC 6851 MOVE)."""

from __future__ import annotations

from postbus.imap.commands import condstore
from postbus.imap.mailbox_view import MailboxView
from postbus.imap.proto import codes
from postbus.imap.proto import commands as c
from postbus.imap.proto import response as r
from postbus.imap.proto.errors import ImapNo
from postbus.imap.proto.sequence import SequenceSet, compress_ordered
from postbus.imap.session import Reply, Session, State
from postbus.store import NotFound


def uid_ranges(view: MailboxView, uid: bool, sequence: SequenceSet) -> list[tuple[int, int]]:
    if uid:
        return view.uid_ranges_for_uids(sequence)
    return view.uid_ranges_for_seqs(sequence)


def _writable(view: MailboxView) -> None:
    if view.readonly:
        raise ImapNo(codes.READ_ONLY_MAILBOX, codes.READ_ONLY)


async def check(s: Session, cmd: c.Check) -> Reply:
    return Reply("CHECK completed")  # every change is committed already


def _deselect(s: Session) -> None:
    s.view = None
    s.state = State.AUTHENTICATED


async def close(s: Session, cmd: c.Close) -> Reply:
    view = s.selected()
    _deselect(s)
    if not view.readonly:
        # RFC 9051 §6.4.1: expunge silently, no untagged EXPUNGE responses
        await s.store.expunge(s.account_id, view.mailbox_id)
    return Reply("CLOSE completed")


async def unselect(s: Session, cmd: c.Unselect) -> Reply:
    s.selected()
    _deselect(s)  # RFC 3691: like CLOSE, without the expunge
    return Reply("UNSELECT completed")


async def expunge(s: Session, cmd: c.Expunge) -> Reply:
    view = s.selected()
    _writable(view)
    ranges = None if cmd.uids is None else view.uid_ranges_for_uids(cmd.uids)
    if ranges == []:
        return Reply("EXPUNGE completed")
    gone = await s.store.expunge(s.account_id, view.mailbox_id, ranges)
    view.note_expunged(gone)  # the EXPUNGE responses go out with the other news
    return await condstore.expunge_reply(s, view)


async def store(s: Session, cmd: c.Store) -> Reply:
    view = s.selected()
    _writable(view)
    ranges = uid_ranges(view, cmd.uid, cmd.sequence)
    if cmd.unchangedsince is not None:
        return await condstore.conditional_store(s, view, cmd, ranges)
    if not ranges:
        return Reply("STORE completed")
    changed = await s.store.set_flags(s.account_id, view.mailbox_id, ranges, cmd.flags, cmd.mode)
    if changed:
        view.own_change(changed[0][2])
    # RFC 9051 §6.4.6: the new flags of each message; UID too when asked by UID
    condstore.send_store_fetches(s, view, cmd, changed)
    return Reply("STORE completed")


async def copy(s: Session, cmd: c.Copy) -> Reply:
    view = s.selected()
    verb = "MOVE" if cmd.move else "COPY"
    if cmd.move:
        _writable(view)
    name = s.mailbox_name(cmd.mailbox)
    try:
        target = await s.store.get_mailbox(s.account_id, name)
    except NotFound:
        raise ImapNo(codes.TARGET_MISSING, codes.TRYCREATE) from None
    ranges = uid_ranges(view, cmd.uid, cmd.sequence)
    known = view.uids_in(ranges)
    if not known:
        return Reply(f"{verb} completed")
    # only messages the client knows: pass exactly their UIDs
    exact = [(u, u) for u in known] if len(known) < 64 else ranges
    operation = s.store.move if cmd.move else s.store.copy
    pairs = await operation(s.account_id, view.mailbox_id, target.id, exact)
    if not pairs:
        return Reply(f"{verb} completed")
    copyuid = (
        f"COPYUID {target.uidvalidity} {compress_ordered([a for a, _ in pairs])}"
        f" {compress_ordered([b for _, b in pairs])}"
    )
    if target.id == view.mailbox_id:
        view.note_new([b for _, b in pairs])
    if cmd.move:
        # RFC 6851 §4.3: COPYUID goes in an untagged OK before the EXPUNGE responses
        s.send(r.untagged_status("OK", "Moved", copyuid))
        view.note_expunged([a for a, _ in pairs])
        return Reply("MOVE completed")
    return Reply("COPY completed", copyuid)
