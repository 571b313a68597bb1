"""SELECT/EXAMINE, CREATE, DELETE, RENAME, (UN)SUBSCRIBE, LIST/LSUB, STATUS (RFC 9051 §6.3,
RFC 5258 LIST-EXTENDED, RFC 5819 LIST-STATUS, RFC 6154 SPECIAL-USE, RFC 3348 CHILDREN).

The store keeps every parent of a mailbox (CREATE makes them, DELETE of a mailbox with
inferiors is refused with HASCHILDREN, RENAME makes the new parents), so a plain LIST names
only mailboxes that exist. A subscription is a name of its own (store/subscriptions.py): it
outlives its mailbox, so LIST (SUBSCRIBED) can name one that does not exist, as
``\\NonExistent`` (LSUB: ``\\Noselect``), and so can the OLDNAME LIST of a DELETE whose name
the server normalised (RFC 9051 §6.3.5).

Names are names, never paths: every lookup goes to the store with the session's own account,
and the store refuses names with wildcards, empty levels or control characters.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

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
    # RFC 9051 §6.3.4: a mailbox subscribed on creation is listed with \Subscribed
    _oldname(s, ["\\HasNoChildren", *([box.special_use] if box.special_use else []),
                 *(["\\Subscribed"] if box.subscribed else [])], box.name, name)
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
        attributes += [box.special_use] if box.special_use else []
        # RFC 9051 §6.3.6: the subscription moved with it, so the LIST says \Subscribed
        attributes += ["\\Subscribed"] if box.subscribed else []
        _oldname(s, attributes, box.name, new)
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
    boxes = {box.name: box for box in await s.store.list_mailboxes(s.account_id)}
    regexes = [pattern_regex(p) for p in patterns if p]
    subscribed_only = cmd.lsub or "SUBSCRIBED" in cmd.selection
    show_subscribed = "SUBSCRIBED" in cmd.returns or "SUBSCRIBED" in cmd.selection
    special_only = "SPECIAL-USE" in cmd.selection
    subscribed: set[str] = set()
    if subscribed_only or show_subscribed:
        subscribed = set(await s.store.list_subscriptions(s.account_id))

    def matches(name: str) -> bool:
        return any(rx.fullmatch(name) for rx in regexes)

    def meets(name: str) -> bool:  # the selection criteria (RFC 5258 §3)
        box = boxes.get(name)
        return (name in subscribed or not subscribed_only) and (
            (box is not None and bool(box.special_use)) or not special_only
        )

    # RFC 5258 §3, RFC 9051 §6.3.9.1 RECURSIVEMATCH: a name that matches the pattern is also
    # listed when a descendant meets the criteria, with CHILDINFO naming them (§6.3.9.6)
    recursive = "RECURSIVEMATCH" in cmd.selection and "SUBSCRIBED" in cmd.selection
    if subscribed_only:
        # RFC 9051 §6.3.9.1 SUBSCRIBED: "subscribed names rather than the existing mailboxes";
        # a subscription outlives its mailbox, and its parents may not exist either
        meeting = [name for name in subscribed if meets(name)]
        names = set(meeting)
        if recursive or cmd.lsub:
            names.update(_parents(subscribed if cmd.lsub else meeting))
    else:
        meeting, names = [], set(boxes)
    for name in sorted(names, key=_order):
        if not matches(name):
            continue
        box = boxes.get(name)
        prefix = name + SEPARATOR
        selected = meets(name)
        childinfo = recursive and any(other.startswith(prefix) for other in meeting)
        # RFC 3501 §6.3.9: LSUB "%" names "foo" with \Noselect when "foo/bar" is subscribed
        # and "foo" is not; the subscribed name below it does not match the pattern itself
        level = cmd.lsub and not selected and any(
            other.startswith(prefix) and not matches(other) for other in subscribed
        )
        if not (selected or childinfo or level):
            continue
        attributes = []
        if cmd.lsub:
            if box is None or level:
                # a name without a mailbox: RFC 3501 has no \NonExistent, which implies
                # \Noselect (RFC 9051 §6.3.9.4); Dovecot answers LSUB the same way
                attributes.append("\\Noselect")
        else:
            children = any(other.startswith(prefix) for other in boxes)
            attributes.append("\\HasChildren" if children else "\\HasNoChildren")
            if box is not None and box.special_use:
                attributes.append(box.special_use)
        if show_subscribed and name in subscribed:
            attributes.append("\\Subscribed")
        if box is None and not cmd.lsub:
            # RFC 9051 §6.3.9.3: * LIST (\Subscribed \NonExistent) "/" "Fruit/Peach"
            attributes.append("\\NonExistent")
        # RFC 5258 §6: childinfo-extended-item = "CHILDINFO" SP "(" list-select-base-opt-quoted
        extended = b'"CHILDINFO" ("SUBSCRIBED")' if childinfo else b""
        s.send(list_line(s, verb, attributes, name, extended))
        if not selected or box is None:
            continue  # listed for its children only, or no mailbox: no STATUS or METADATA
        if cmd.status_items:  # RFC 5819 §2: a STATUS response right after each LIST
            await _status_line(s, box, cmd.status_items)
        if cmd.metadata is not None:  # RFC 9590 §3: a METADATA response after each LIST
            await list_metadata(s, box, *cmd.metadata)
    return Reply(f"{verb} completed")


def _parents(names: Iterable[str]) -> set[str]:
    """Every proper parent of the names: ``a/b/c`` gives ``a`` and ``a/b``."""
    out = set()
    for name in names:
        levels = name.split(SEPARATOR)
        out.update(SEPARATOR.join(levels[:depth]) for depth in range(1, len(levels)))
    return out


def _order(name: str) -> tuple[int, str]:
    return (0 if name == "INBOX" else 1, name)


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
