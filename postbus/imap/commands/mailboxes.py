"""SELECT/EXAMINE, CREATE, DELETE, RENAME, (UN)SUBSCRIBE, LIST/LSUB, STATUS (RFC 9051 §6.3,
RFC 5258 LIST-EXTENDED, RFC 5819 LIST-STATUS, RFC 6154 SPECIAL-USE, RFC 3348 CHILDREN).

The store keeps every parent of a mailbox (CREATE makes them, DELETE of a mailbox with
inferiors is refused with HASCHILDREN, RENAME makes the new parents), and a subscription
belongs to its mailbox; so a listed name always exists, and ``\\NonExistent`` is only
written for a name the server normalised away (RFC 9051 §6.3.5, OLDNAME).

Names are names, never paths: every lookup goes to the store with the session's own account,
and the store refuses names with wildcards, empty levels or control characters.
"""

from __future__ import annotations

import re

from postbus.imap import objectid
from postbus.imap.commands import qresync
from postbus.imap.commands.metadata import list_metadata
from postbus.imap.mailbox_view import MailboxView, Snapshot
from postbus.imap.proto import codes
from postbus.imap.proto import commands as c
from postbus.imap.proto import response as r
from postbus.imap.proto.errors import ImapNo
from postbus.imap.session import Reply, Session, State
from postbus.store import NotFound, imap_queries, imap_views
from postbus.store.mailboxes import SEPARATOR
from postbus.store.models import Mailbox

SYSTEM_FLAGS = ("\\Answered", "\\Flagged", "\\Deleted", "\\Seen", "\\Draft")
KEYWORDS_KEPT = 1000
# (account, mailbox name) -> (mailbox id, uidvalidity, highestmodseq, keywords in use): the
# FLAGS of the last SELECT, reused while the mailbox has not changed (no keyword scan then).
_KEYWORDS: dict[tuple[int, str], tuple[int, int, int, tuple[str, ...]]] = {}


def _remember_keywords(key: tuple[int, str], box: Mailbox, keywords: tuple[str, ...]) -> None:
    _KEYWORDS.pop(key, None)
    if len(_KEYWORDS) >= KEYWORDS_KEPT:
        del _KEYWORDS[next(iter(_KEYWORDS))]  # the oldest
    _KEYWORDS[key] = (box.id, box.uidvalidity, box.highestmodseq, keywords)


async def select(s: Session, cmd: c.Select) -> Reply:
    qresync.check(s, cmd)
    if cmd.condstore:
        s.enable_condstore()  # RFC 7162 §3.1.8
    if s.view is not None:
        # RFC 9051 §6.3.2: selecting closes the current mailbox (without expunging)
        s.view = None
        s.state = State.AUTHENTICATED
        s.send(r.untagged_status("OK", "Previous mailbox closed", codes.CLOSED))
    name = s.mailbox_name(cmd.mailbox)
    s.drop_events()
    known = _KEYWORDS.get((s.account_id, name))
    try:
        state = await s.store.read(
            lambda tx: imap_views.select_state(
                tx, s.account_id, name, known, not (s.uidonly or s.rev2)
            )
        )
    except NotFound:
        raise ImapNo(codes.NO_SUCH_MAILBOX, codes.NONEXISTENT) from None
    box = state.mailbox
    _remember_keywords((s.account_id, name), box, state.keywords)
    snapshot = Snapshot(box.message_count, box.uidnext, box.highestmodseq)
    view = MailboxView(box.id, box.uidvalidity, None, cmd.readonly, snapshot)
    flags = " ".join((*SYSTEM_FLAGS, *state.keywords))
    s.untagged(f"FLAGS ({flags})")
    permanent = "" if cmd.readonly else f"{flags} \\*"
    s.send(r.untagged_status("OK", "Flags permitted", f"PERMANENTFLAGS ({permanent})"))
    s.untagged(f"{view.exists} EXISTS")
    if not s.rev2:  # RFC 9051 Appendix E: RECENT and UNSEEN are gone from IMAP4rev2
        s.untagged("0 RECENT")  # RFC 3501 §6.3.1: required for IMAP4rev1; none is recent
    if state.first_unseen is not None and not s.uidonly and not s.rev2:
        # RFC 3501 §6.3.1 UNSEEN: the first unseen message
        s.send(r.untagged_status("OK", "First unseen", f"UNSEEN {state.first_unseen[0]}"))
    s.send(r.untagged_status("OK", "UIDs valid", f"UIDVALIDITY {box.uidvalidity}"))
    s.send(r.untagged_status("OK", "Predicted next UID", f"UIDNEXT {box.uidnext}"))
    # RFC 8474 §4.2: the mailbox's id, which RENAME keeps
    s.send(r.untagged_status("OK", "Ok", f"MAILBOXID ({objectid.mailbox_id(box.id)})"))
    # RFC 7162 §3.1.2.1: every mailbox keeps mod-sequences, so every SELECT tells the highest
    s.send(r.untagged_status("OK", "Highest", f"HIGHESTMODSEQ {box.highestmodseq}"))
    if s.rev2:
        await _select_list(s, box)
    s.view = view
    s.state = State.SELECTED
    if cmd.qresync is not None:
        await s.load_view()
        await qresync.resync(s, view, cmd.qresync)
    mode = codes.READ_ONLY if cmd.readonly else codes.READ_WRITE
    return Reply(f"{'EXAMINE' if cmd.readonly else 'SELECT'} completed", mode)


async def _select_list(s: Session, box: Mailbox) -> None:
    """RFC 9051 §6.3.2: an IMAP4rev2 SELECT answers with the mailbox's LIST response."""
    boxes = await s.store.list_mailboxes(s.account_id)
    prefix = box.name + SEPARATOR
    children = any(other.name.startswith(prefix) for other in boxes)
    attributes = ["\\HasChildren" if children else "\\HasNoChildren"]
    if box.special_use:
        attributes.append(box.special_use)
    s.send(list_line(s, "LIST", attributes, box.name))


def list_line(
    s: Session, verb: str, attributes: list[str], name: str, extended: bytes = b""
) -> bytes:
    """``* LIST (attributes) "/" name [mbox-list-extended]`` (RFC 9051 §7.3.1)."""
    head = f"{verb} ({' '.join(attributes)}) \"{SEPARATOR}\" ".encode()
    return r.untagged(head + s.wire_name(name) + (b" (" + extended + b")" if extended else b""))


def _oldname(s: Session, attributes: list[str], name: str, supplied: str) -> None:
    """RFC 9051 §6.3.4-§6.3.6: a name the server normalised (``inbox/x`` is ``INBOX/x``)
    is told to an IMAP4rev2 client as an untagged LIST of the name used, with the name it
    sent as OLDNAME (§6.3.9.7; oldname-extended-item = "OLDNAME" SP "(" mailbox ")")."""
    if s.rev2 and name != supplied:
        oldname = b'"OLDNAME" (' + s.wire_name(supplied) + b")"
        s.send(list_line(s, "LIST", attributes, name, oldname))


async def create(s: Session, cmd: c.Create) -> Reply:
    name = s.mailbox_name(cmd.mailbox)
    # RFC 9051 §6.3.4: a trailing separator only says the name will have children
    name = name.rstrip(SEPARATOR) or name
    box = await s.store.create_mailbox(s.account_id, name, cmd.special_use)
    _oldname(s, ["\\HasNoChildren", *([box.special_use] if box.special_use else [])],
             box.name, name)
    # RFC 8474 §4.1: the new mailbox's id in the tagged OK
    return Reply("CREATE completed", f"MAILBOXID ({objectid.mailbox_id(box.id)})")


async def delete(s: Session, cmd: c.Delete) -> Reply:
    name = s.mailbox_name(cmd.mailbox)
    box = await s.store.get_mailbox(s.account_id, name)
    if s.view is not None and s.view.mailbox_id == box.id:
        raise ImapNo("Cannot delete the selected mailbox; select another first", codes.CANNOT)
    boxes = await s.store.list_mailboxes(s.account_id)
    if any(other.name.startswith(box.name + SEPARATOR) for other in boxes):
        # RFC 9051 §6.3.5: a server that does not delete a name with inferiors answers NO,
        # and the NO SHOULD carry HASCHILDREN (§7.1)
        raise ImapNo(f"{box.name} has subfolders; delete those first", codes.HASCHILDREN)
    await s.store.delete_mailbox(s.account_id, box.id)
    # RFC 9051 §6.3.5: a normalised name comes back \NonExistent with the name sent as OLDNAME
    _oldname(s, ["\\NonExistent"], box.name, name)
    return Reply("DELETE completed")


async def rename(s: Session, cmd: c.Rename) -> Reply:
    new = s.mailbox_name(cmd.new)
    box = await s.store.rename_mailbox(s.account_id, s.mailbox_name(cmd.old), new)
    if s.rev2 and box.name != new:
        boxes = await s.store.list_mailboxes(s.account_id)
        children = any(other.name.startswith(box.name + SEPARATOR) for other in boxes)
        attributes = ["\\HasChildren" if children else "\\HasNoChildren"]
        _oldname(s, attributes + ([box.special_use] if box.special_use else []), box.name, new)
    return Reply("RENAME completed")


async def subscribe(s: Session, cmd: c.Subscribe) -> Reply:
    await s.store.subscribe(s.account_id, s.mailbox_name(cmd.mailbox), cmd.subscribed)
    return Reply(f"{'SUBSCRIBE' if cmd.subscribed else 'UNSUBSCRIBE'} completed")


def pattern_regex(pattern: str) -> re.Pattern[str]:
    """RFC 9051 §6.3.9: "*" matches anything, "%" anything but the hierarchy separator."""
    if pattern[:5].upper() == "INBOX" and (len(pattern) == 5 or pattern[5] in "/*%"):
        pattern = "INBOX" + pattern[5:]  # RFC 9051 §5.1: INBOX is case-insensitive
    out = []
    for ch in pattern:
        if ch == "*":
            out.append(".*")
        elif ch == "%":
            out.append(f"[^{re.escape(SEPARATOR)}]*")
        else:
            out.append(re.escape(ch))
    return re.compile("".join(out), re.S)


async def list_(s: Session, cmd: c.List) -> Reply:
    verb = "LSUB" if cmd.lsub else "LIST"
    patterns = [s.mailbox_name(cmd.reference + p) if p else "" for p in cmd.patterns]
    if patterns == [""] and not cmd.extended:
        # RFC 9051 §6.3.9: an empty pattern asks for the separator and the root
        s.untagged(f'{verb} (\\Noselect) "{SEPARATOR}" ""')
        return Reply(f"{verb} completed")
    boxes = await s.store.list_mailboxes(s.account_id)
    names = {box.name for box in boxes}
    regexes = [pattern_regex(p) for p in patterns if p]
    subscribed_only = cmd.lsub or "SUBSCRIBED" in cmd.selection
    show_subscribed = "SUBSCRIBED" in cmd.returns or "SUBSCRIBED" in cmd.selection
    special_only = "SPECIAL-USE" in cmd.selection

    def meets(box: Mailbox) -> bool:  # the selection criteria (RFC 5258 §3)
        return (box.subscribed or not subscribed_only) and (
            bool(box.special_use) or not special_only
        )

    # RFC 5258 §3, RFC 9051 §6.3.9.1 RECURSIVEMATCH: a name that matches the pattern is also
    # listed when a descendant meets the criteria, with CHILDINFO naming them (§6.3.9.6)
    recursive = "RECURSIVEMATCH" in cmd.selection and "SUBSCRIBED" in cmd.selection
    meeting = [box.name for box in boxes if meets(box)] if recursive else []
    for box in sorted(boxes, key=_order):
        if not any(rx.fullmatch(box.name) for rx in regexes):
            continue
        prefix = box.name + SEPARATOR
        childinfo = recursive and any(name.startswith(prefix) for name in meeting)
        selected = meets(box)
        if not (selected or childinfo):
            continue
        attributes = []
        if not cmd.lsub:
            children = any(n.startswith(prefix) for n in names)
            attributes.append("\\HasChildren" if children else "\\HasNoChildren")
            if box.special_use:
                attributes.append(box.special_use)
        if show_subscribed and box.subscribed:
            attributes.append("\\Subscribed")
        # RFC 5258 §6: childinfo-extended-item = "CHILDINFO" SP "(" list-select-base-opt-quoted
        extended = b'"CHILDINFO" ("SUBSCRIBED")' if childinfo else b""
        s.send(list_line(s, verb, attributes, box.name, extended))
        if not selected:
            continue  # listed for its children only: no STATUS or METADATA of its own
        if cmd.status_items:  # RFC 5819 §2: a STATUS response right after each LIST
            await _status_line(s, box, cmd.status_items)
        if cmd.metadata is not None:  # RFC 9590 §3: a METADATA response after each LIST
            await list_metadata(s, box, *cmd.metadata)
    return Reply(f"{verb} completed")


def _order(box: Mailbox) -> tuple[int, str]:
    return (0 if box.name == "INBOX" else 1, box.name)


async def _status_line(s: Session, box: Mailbox, items: tuple[str, ...]) -> None:
    values = []
    for item in items:
        if item == "MESSAGES":
            value = box.message_count
        elif item == "UIDNEXT":
            value = box.uidnext
        elif item == "UIDVALIDITY":
            value = box.uidvalidity
        elif item == "UNSEEN":
            value = box.unseen_count
        elif item == "HIGHESTMODSEQ":  # RFC 7162 §3.1.6, a CONDSTORE enabling command
            s.enable_condstore()
            value = box.highestmodseq
        elif item == "SIZE":  # RFC 8438
            value = box.total_bytes
        elif item == "MAILBOXID":  # RFC 8474 §4.2
            values.append(f"MAILBOXID ({objectid.mailbox_id(box.id)})")
            continue
        elif item == "DELETED-STORAGE":  # RFC 9208 §4.2, in KiB like STORAGE
            octets = await s.store.read(
                lambda tx: imap_queries.deleted_storage(tx, s.account_id, box.id)
            )
            value = (octets + 1023) // 1024
        elif item == "DELETED":
            value = await s.store.read(
                lambda tx: imap_queries.deleted_count(tx, s.account_id, box.id)
            )
        else:  # RECENT (RFC 3501): nothing is recent any more
            value = 0
        values.append(f"{item} {value}")
    s.untagged(b"STATUS " + s.wire_name(box.name) + f" ({' '.join(values)})".encode())


async def status(s: Session, cmd: c.Status) -> Reply:
    name = s.mailbox_name(cmd.mailbox)
    try:
        box = await s.store.get_mailbox(s.account_id, name)
    except NotFound:
        raise ImapNo(codes.NO_SUCH_MAILBOX, codes.NONEXISTENT) from None
    await _status_line(s, box, cmd.items)
    return Reply("STATUS completed")
