"""SORT / UID SORT (RFC 5256 §3, RFC 5957 SORT=DISPLAY, RFC 5267 ESORT) and THREAD / UID THREAD
(RFC 5256 §3: REFERENCES, ORDEREDSUBJECT).

One query fetches the sort keys of every matching message (``imap_queries.search_rows``); the
ordering is done here, with the i;ascii-casemap comparator for strings (RFC 5256 §3), and the
message's UID as the final tie-break (which is mailbox order). THREAD=REFERENCES needs each
message's References field: it is read from the stored header block, once per body (messages
never change, so the answer is cached by blob hash).
"""

from __future__ import annotations

import json
from collections import OrderedDict
from typing import Any

from postbus.imap import threading
from postbus.imap.commands.search import (
    esearch,
    header_blocks,
    prepare,
    save_result,
    uses_key,
)
from postbus.imap.mailbox_view import MailboxView
from postbus.imap.proto import commands as c
from postbus.imap.session import Reply, Session
from postbus.mime import get_header
from postbus.mime.headers import decode_words, parse_msg_ids
from postbus.store import imap_queries

REFERENCES_CACHED = 100_000
_ASCII_LOWER = str.maketrans("ABCDEFGHIJKLMNOPQRSTUVWXYZ", "abcdefghijklmnopqrstuvwxyz")
_references: OrderedDict[str, tuple[str, ...]] = OrderedDict()  # blob hash -> References


def ascii_casemap(text: str) -> str:
    """i;ascii-casemap (RFC 4790 §9.2): ASCII letters folded, everything else by octet; code
    point order of a str is the octet order of its UTF-8."""
    return text.translate(_ASCII_LOWER)


def _first_address(envelope: list[Any], index: int) -> list[Any] | None:
    addresses = envelope[index]
    for address in addresses or ():
        if address[2] is not None and address[3] is not None:  # not a group marker
            return address  # type: ignore[no-any-return]
    return None


def _addr_mailbox(envelope: list[Any], index: int) -> str:
    address = _first_address(envelope, index)
    return ascii_casemap(address[2] or "") if address else ""


def _display(envelope: list[Any], index: int) -> str:
    """RFC 5957 §3: the decoded display name of the first address, else its addr-spec."""
    address = _first_address(envelope, index)
    if address is None:
        return ""
    name = decode_words(address[0]).strip() if address[0] else ""
    return ascii_casemap(name or f"{address[2]}@{address[3]}")


_ENVELOPE_INDEX = {"FROM": 2, "TO": 5, "CC": 6, "DISPLAYFROM": 2, "DISPLAYTO": 5}
_COLUMNS = {
    "ARRIVAL": ("received",), "DATE": ("sent", "received"), "SIZE": ("size",),
    "SUBJECT": ("base_subject",), **{name: ("envelope",) for name in _ENVELOPE_INDEX},
}


def _sort_key(name: str, row: Any, envelope: list[Any] | None) -> Any:
    if name == "ARRIVAL":
        return row["received"]
    if name == "DATE":  # RFC 5256 §3: the sent date, else the internal date
        return row["sent"] if row["sent"] is not None else row["received"]
    if name == "SIZE":
        return row["size"]
    if name == "SUBJECT":
        return ascii_casemap(row["base_subject"])
    assert envelope is not None
    if name.startswith("DISPLAY"):
        return _display(envelope, _ENVELOPE_INDEX[name])
    return _addr_mailbox(envelope, _ENVELOPE_INDEX[name])


async def _matching(
    s: Session, view: MailboxView, key: c.SearchKey, columns: tuple[str, ...]
) -> list[Any]:
    resolved, matches = await prepare(s, view, key)
    rows = await s.store.read(
        lambda tx: imap_queries.search_rows(
            tx, s.account_id, view.mailbox_id, resolved, matches, columns
        )
    )
    return [row for row in rows if view.seq_of(row["uid"]) is not None]


async def sort(s: Session, cmd: c.Sort) -> Reply:
    view = s.selected()
    names = {name for name, _ in cmd.criteria}
    columns = {column for name in names for column in _COLUMNS[name]}
    with_modseq = uses_key(cmd.key, "MODSEQ")
    if with_modseq:
        columns.add("modseq")
    try:
        rows = await _matching(s, view, cmd.key, tuple(sorted(columns)))
    except Exception:
        if cmd.returns is not None and "SAVE" in cmd.returns:
            view.saved = []  # RFC 5182 §2.1
        raise
    envelopes = [json.loads(row["envelope"]) if "envelope" in columns else None for row in rows]
    order = list(range(len(rows)))  # UID order: the final tie-break (RFC 5256 §3)
    for name, reverse in reversed(cmd.criteria):  # stable sorts, the last criterion first
        keys = [_sort_key(name, row, env) for row, env in zip(rows, envelopes, strict=True)]
        order.sort(key=keys.__getitem__, reverse=reverse)
    uids = [rows[i]["uid"] for i in order]
    numbers = uids if cmd.uid else [view.seq_of(uid) or 0 for uid in uids]
    modseqs = [rows[i]["modseq"] for i in order] if with_modseq else None
    if cmd.returns is not None:
        if "SAVE" in cmd.returns:
            save_result(view, cmd.returns, uids)
        esearch(s, cmd.tag, cmd.uid, cmd.returns, numbers, modseqs, ordered=True)
        return Reply("SORT completed")
    tail = b" (MODSEQ %d)" % max(modseqs) if modseqs else b""  # RFC 7162 §3.1.5
    s.untagged(b"SORT" + b"".join(b" %d" % n for n in numbers) + tail)
    return Reply("SORT completed")


async def _references_of(s: Session, rows: list[Any]) -> dict[str, tuple[str, ...]]:
    missing = sorted({row["blob_hash"] for row in rows} - _references.keys())
    if missing:
        heads = header_blocks(s, missing)
        for blob_hash in missing:
            values = get_header(await anext(heads), "references")
            _references[blob_hash] = parse_msg_ids(values[0]) if values else ()
        while len(_references) > REFERENCES_CACHED:
            _references.popitem(last=False)
    return {row["blob_hash"]: _references.get(row["blob_hash"], ()) for row in rows}


async def thread(s: Session, cmd: c.Thread) -> Reply:
    view = s.selected()
    columns = ("base_subject", "blob_hash", "envelope", "message_id_header", "received",
               "sent", "subject")
    rows = await _matching(s, view, cmd.key, columns)
    references = await _references_of(s, rows) if cmd.algorithm == "REFERENCES" else {}
    messages = []
    for row in rows:
        refs = references.get(row["blob_hash"], ())
        if not refs and cmd.algorithm == "REFERENCES":
            # RFC 5256 §2.2 step 1: no valid References: the first id of In-Reply-To
            in_reply_to = parse_msg_ids(json.loads(row["envelope"])[8])
            refs = in_reply_to[:1]
        uid = row["uid"]
        messages.append(threading.ThreadMessage(
            number=uid if cmd.uid else view.seq_of(uid) or 0,
            order=uid,
            message_id=row["message_id_header"],
            references=refs,
            sent=row["sent"] if row["sent"] is not None else row["received"],
            base_subject=row["base_subject"],
            reply=threading.is_reply_or_forward(row["subject"]),
        ))
    if cmd.algorithm == "REFERENCES":
        roots = threading.by_references(messages)
    else:
        roots = threading.by_subject(messages)
    s.untagged(b"THREAD" + (b" " + threading.format_threads(roots) if roots else b""))
    return Reply("THREAD completed")
