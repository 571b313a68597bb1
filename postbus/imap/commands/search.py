"""SEARCH / UID SEARCH (RFC 9051 §6.4.4) and ESEARCH results (RFC 4731).

The key tree is compiled to one SQL query (postbus/store/imap_queries.py). Sequence-number
keys are turned into UID ranges here, against what the client knows. TEXT and BODY use the
store's full-text index, so they match whole words (the index folds case and accents) rather
than arbitrary substrings. HEADER on a field the store does not index reads the headers.
"""

from __future__ import annotations

import asyncio
from typing import Any

from postbus.imap.mailbox_view import MailboxView
from postbus.imap.proto import commands as c
from postbus.imap.proto import response as r
from postbus.imap.proto.sequence import compress
from postbus.imap.session import Reply, Session
from postbus.mime import get_header, header_block
from postbus.store import imap_queries
from postbus.store.blobs import BlobStore

INDEXED_HEADERS = frozenset({"FROM", "TO", "CC", "SUBJECT", "BCC", "MESSAGE-ID"})
HEADER_PEEK = 64 * 1024


def _resolve(view: MailboxView, key: c.SearchKey, headers: list[c.SearchKey]) -> c.SearchKey:
    if key.name == "SEQ":
        return c.SearchKey("UID", (view.uid_ranges_for_seqs(key.args[0]),))
    if key.name == "UID":
        return c.SearchKey("UID", (view.uid_ranges_for_uids(key.args[0]),))
    if key.name in ("NOT", "OR", "AND"):
        return c.SearchKey(key.name, tuple(_resolve(view, k, headers) for k in key.args))
    if key.name == "HEADER" and key.args[0].upper() not in INDEXED_HEADERS:
        headers.append(key)
    return key


def _read_header(blobs: BlobStore, blob_hash: str) -> bytes:
    with blobs.open(blob_hash) as stream:
        return header_block(stream.read(HEADER_PEEK))


async def _header_matches(
    s: Session, view: MailboxView, keys: list[c.SearchKey]
) -> dict[int, Any]:
    """UIDs of the messages whose named header field holds the value (substring, any case)."""
    if not keys or not view.uids:
        return {key_id: [] for key_id in map(id, keys)}
    rows = await s.store.read(
        lambda tx: imap_queries.fetch_rows(
            tx, s.account_id, view.mailbox_id, [(1, view.last_uid())], True
        )
    )
    blobs = s.store.blobs
    found: dict[int, list[tuple[int, int]]] = {id(key): [] for key in keys}
    for row in rows:
        head = await asyncio.to_thread(_read_header, blobs, row["blob_hash"])
        for key in keys:
            values = get_header(head, key.args[0])
            wanted = key.args[1].lower()
            if values and any(wanted in v.lower() for v in values):
                found[id(key)].append((row["uid"], row["uid"]))
    return found


async def search(s: Session, cmd: c.Search) -> Reply:
    view = s.selected()
    headers: list[c.SearchKey] = []
    key = _resolve(view, cmd.key, headers)
    matches = await _header_matches(s, view, headers) if headers else {}
    uids = await s.store.read(
        lambda tx: imap_queries.search_uids(tx, s.account_id, view.mailbox_id, key, matches)
    )
    known = view.known(uids)
    numbers = [uid for _, uid in known] if cmd.uid else [seq for seq, _ in known]
    if cmd.returns is None:
        s.untagged(b"SEARCH" + b"".join(b" %d" % n for n in numbers))
        return Reply("SEARCH completed")
    # RFC 4731 §3.1: * ESEARCH (TAG "t") [UID] [MIN n] [MAX n] [COUNT n] [ALL set]
    out = b"ESEARCH (TAG " + r.string(cmd.tag) + b")"
    if cmd.uid:
        out += b" UID"
    if numbers:
        if "MIN" in cmd.returns:
            out += b" MIN %d" % min(numbers)
        if "MAX" in cmd.returns:
            out += b" MAX %d" % max(numbers)
    if "COUNT" in cmd.returns:
        out += b" COUNT %d" % len(numbers)
    if "ALL" in cmd.returns and numbers:
        out += b" ALL " + compress(sorted(numbers)).encode()
    s.untagged(out)
    return Reply("SEARCH completed")
