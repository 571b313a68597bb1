"""FETCH / UID FETCH (RFC 9051 §6.4.5, §7.5.2).

ENVELOPE and BODYSTRUCTURE come from the JSON stored at delivery: no body is read or parsed for
them. Body sections are cut from the raw message with the stored part offsets. Messages go in
batches of ``BATCH`` (one query each), and the socket is drained between batches, so a FETCH
over 500,000 messages holds one batch in memory. MODSEQ, (CHANGEDSINCE n) and the VANISHED
modifier are RFC 7162 §3.1.4 / §3.2.6; CHANGEDSINCE asks the store for the changed UIDs first
(the (mailbox_id, modseq) index), so a resync reads only what changed. BINARY is binary.py.
A FETCH of FLAGS, UID and MODSEQ only goes through fetch_flags.py, which writes the same bytes
with one narrow query and one write per chunk; as the first command after SELECT it also reads
the sequence map, piece by piece, while the lines go out.
"""

from __future__ import annotations

import json

from postbus.imap import objectid
from postbus.imap.commands import binary, fetch_flags
from postbus.imap.commands.messages import uid_ranges
from postbus.imap.mailbox_view import MailboxView
from postbus.imap.proto import commands as c
from postbus.imap.proto import response as r
from postbus.imap.proto.errors import ImapBad
from postbus.imap.proto.sequence import compress
from postbus.imap.session import Reply, Session
from postbus.mime import BodyPart, find_part
from postbus.store import flags as flagbits
from postbus.store import imap_queries

BATCH = 500
FAST_FLAGS = True  # FLAGS/UID/MODSEQ only go through fetch_flags.py (False: tests compare)
_FLAG_ONLY = frozenset({"FLAGS", "UID", "MODSEQ"})
_BODY_ITEMS = frozenset({"BODY[]", "RFC822", "RFC822.HEADER", "RFC822.TEXT", *binary.ITEMS})
_UID = c.FetchAtt("UID", label="UID")
_MODSEQ = c.FetchAtt("MODSEQ", label="MODSEQ")


def header_lines(block: bytes) -> list[tuple[bytes, bytes]]:
    """(lower-case name, raw field with its continuation lines) of a header block."""
    fields: list[tuple[bytes, bytes]] = []
    for line in block.splitlines(keepends=True):
        if line in (b"\r\n", b"\n"):
            break
        if line[:1] in (b" ", b"\t") and fields:
            name, raw = fields[-1]
            fields[-1] = (name, raw + line)
        else:
            fields.append((line.split(b":", 1)[0].strip().lower(), line))
    return fields


def filter_header(block: bytes, names: tuple[str, ...], keep: bool) -> bytes:
    """HEADER.FIELDS (keep) / HEADER.FIELDS.NOT: the chosen fields, then the blank line."""
    wanted = {n.lower().encode("utf-8", "replace") for n in names}
    out = [raw for name, raw in header_lines(block) if (name in wanted) == keep]
    return b"".join(out) + b"\r\n"


def section_bytes(raw: bytes, root: BodyPart, section: c.Section) -> bytes | None:
    """The octets of a BODY[section] (RFC 9051 §6.4.5), or None when the part is missing."""
    part = root
    if section.part:
        found = find_part(root, section.part)
        if found is None:
            return None
        part = found
    text = section.text
    if text == "MIME":
        return raw[part.header_start : part.body_start]
    if not text:
        if not section.part:
            return raw
        return raw[part.body_start : part.end]
    if section.part:  # HEADER / TEXT of an encapsulated message
        if not (part.is_message and part.parts):
            return None
        part = part.parts[0]
    header = raw[part.header_start : part.body_start]
    if text == "HEADER":
        return header
    if text == "TEXT":
        return raw[part.body_start : part.end]
    return filter_header(header, section.fields, keep=text == "HEADER.FIELDS")


def _item(
    item: c.FetchAtt, row: object, raw: bytes | None, flags: tuple[str, ...], utf8: bool
) -> bytes:
    row_ = row  # sqlite3.Row / asyncpg.Record
    name = item.name
    if name == "UID":
        return b"UID %d" % row_["uid"]  # type: ignore[index]
    if name == "FLAGS":
        return b"FLAGS " + r.flags(flags)
    if name == "INTERNALDATE":
        return b"INTERNALDATE " + r.internal_date(row_["received"])  # type: ignore[index]
    if name == "RFC822.SIZE":
        return b"RFC822.SIZE %d" % row_["size"]  # type: ignore[index]
    if name == "ENVELOPE":
        return b"ENVELOPE " + r.envelope(json.loads(row_["envelope"]), utf8)  # type: ignore[index]
    if name in objectid.FETCH_ITEMS:
        return objectid.fetch_item(name, row_)
    root = BodyPart.from_json(json.loads(row_["body_structure"]))  # type: ignore[index]
    if name == "BODYSTRUCTURE":
        return b"BODYSTRUCTURE " + r.body_structure(root, True, utf8)
    if name == "BODY":
        return b"BODY " + r.body_structure(root, False, utf8)
    assert raw is not None
    if name == "RFC822":
        return b"RFC822 " + r.literal(raw)
    if name == "RFC822.HEADER":
        return b"RFC822.HEADER " + r.literal(raw[: root.body_start])
    if name == "RFC822.TEXT":
        return b"RFC822.TEXT " + r.literal(raw[root.body_start :])
    assert item.section is not None
    data = section_bytes(raw, root, item.section)
    label = item.label.encode()
    if data is None:
        return label + b" NIL"
    if item.partial is not None:
        offset, length = item.partial
        data = data[offset : offset + length]
    return label + b" " + r.literal(data)


def _sets_seen(item: c.FetchAtt) -> bool:
    return (item.name in ("BODY[]", "BINARY") and not item.peek) or item.name in (
        "RFC822", "RFC822.TEXT"
    )


def _spans(view: MailboxView, uids: list[int]) -> list[tuple[int, int]]:
    """UIDs (ascending, all in the view) as ranges of runs that are neighbours in the view:
    one range for a plain FETCH, exact ranges for the sparse UIDs of CHANGEDSINCE."""
    spans: list[tuple[int, int]] = []
    last_seq = -2
    for uid in uids:
        seq = view.seq_of(uid) or 0
        if spans and seq == last_seq + 1:
            spans[-1] = (spans[-1][0], uid)
        else:
            spans.append((uid, uid))
        last_seq = seq
    return spans


def _condstore_items(s: Session, cmd: c.Fetch, items: list[c.FetchAtt]) -> None:
    """RFC 7162: MODSEQ and CHANGEDSINCE enable CONDSTORE (§3.1); CHANGEDSINCE adds MODSEQ
    to the items (§3.1.4.1); VANISHED needs ENABLE QRESYNC (§3.2.6)."""
    if cmd.vanished and not s.qresync:
        raise ImapBad("VANISHED needs ENABLE QRESYNC first")
    if cmd.changedsince is not None or any(item.name == "MODSEQ" for item in items):
        s.enable_condstore()
    if cmd.changedsince is not None and not any(item.name == "MODSEQ" for item in items):
        items.append(_MODSEQ)


async def _vanished(s: Session, view: MailboxView, ranges: list[tuple[int, int]],
                    modseq: int) -> None:
    """RFC 7162 §3.2.6: UID FETCH (CHANGEDSINCE n VANISHED) first reports the UIDs in the set
    expunged since n, as VANISHED (EARLIER)."""
    if not ranges:
        return
    gone = await s.store.read(
        lambda tx: imap_queries.vanished_uids(tx, s.account_id, view.mailbox_id, ranges, modseq)
    )
    gone = [uid for uid in gone if view.seq_of(uid) is None]  # still known: told later
    if gone:
        s.send(b"* VANISHED (EARLIER) " + compress(gone).encode() + b"\r\n")


_EXTRA_ITEMS = frozenset({"MODSEQ", *binary.ITEMS})


def _extra_item(item: c.FetchAtt, row: object, raw: bytes | None, modseq: int) -> bytes:
    if item.name == "MODSEQ":
        return b"MODSEQ (%d)" % modseq  # RFC 7162 §3.1.4
    assert raw is not None
    root = BodyPart.from_json(json.loads(row["body_structure"]))  # type: ignore[index]
    return binary.item(item, raw, root)


async def fetch(s: Session, cmd: c.Fetch) -> Reply:
    view = s.selected()
    items = list(cmd.items)
    _condstore_items(s, cmd, items)
    if (FAST_FLAGS and fetch_flags.applies(items) and not view.loaded
            and cmd.changedsince is None and not cmd.sequence.saved):
        # the first command after SELECT: the map is read while the lines go out
        await fetch_flags.fetch_flags_loading(s, view, cmd.uid, cmd.sequence, items)
        return Reply("FETCH completed")
    await s.load_view()  # FETCH reads the map itself (session.py _NO_MAP)
    ranges = uid_ranges(view, cmd.uid, cmd.sequence)
    if cmd.vanished and cmd.changedsince is not None:
        full = cmd.sequence.resolve(0xFFFFFFFF) if not cmd.sequence.saved else ranges
        await _vanished(s, view, full, cmd.changedsince)
    if FAST_FLAGS and fetch_flags.applies(items):
        await fetch_flags.fetch_flags(s, view, ranges, items, cmd.changedsince)
        return Reply("FETCH completed")
    uids = view.uids_in(ranges)
    if cmd.changedsince is not None and uids:
        since = cmd.changedsince
        changed = set(await s.store.read(
            lambda tx: imap_queries.changed_uids(
                tx, s.account_id, view.mailbox_id, [(uids[0], uids[-1])], since
            )
        ))
        uids = [uid for uid in uids if uid in changed]
    with_message = any(item.name not in _FLAG_ONLY for item in items)
    with_body = any(item.name in _BODY_ITEMS for item in items)
    sets_seen = not view.readonly and any(_sets_seen(item) for item in items)
    if sets_seen and not any(item.name == "FLAGS" for item in items):
        # RFC 9051 §6.4.5: a \Seen set as a side effect is reported with the data
        items.append(c.FetchAtt("FLAGS", label="FLAGS"))
    if sets_seen and s.condstore:
        # RFC 7162 §3.2.4: UID and MODSEQ in FETCH responses that set \Seen
        items += [item for item in (_UID, _MODSEQ) if item.name not in {i.name for i in items}]
    for start in range(0, len(uids), BATCH):
        batch = uids[start : start + BATCH]
        span = _spans(view, batch)
        rows = await s.store.read(
            lambda tx, span=span: imap_queries.fetch_rows(
                tx, s.account_id, view.mailbox_id, span, with_message
            )
        )
        flags = {row["uid"]: flagbits.join_flags(row["flags"], row["keywords"]) for row in rows}
        modseqs = {row["uid"]: row["modseq"] for row in rows}
        if sets_seen:
            unseen = [(u, u) for u in flags if "\\Seen" not in flags[u]]
            if unseen:
                changed = await s.store.set_flags(
                    s.account_id, view.mailbox_id, unseen, ["\\Seen"], "add"
                )
                for uid, new_flags, modseq in changed:
                    flags[uid] = new_flags
                    modseqs[uid] = modseq
                    view.own_change(modseq)
        for row in rows:
            seq = view.seq_of(row["uid"])
            if seq is None:
                continue
            raw = None
            if with_body:
                raw = await s.store.read_blob(row["blob_hash"])
            parts = [
                _extra_item(item, row, raw, modseqs[row["uid"]])
                if item.name in _EXTRA_ITEMS
                else _item(item, row, raw, flags[row["uid"]], s.utf8)
                for item in items
            ]
            s.send(s.fetch_response(seq, row["uid"], parts))
        await s.io.drain()
    return Reply("FETCH completed")
