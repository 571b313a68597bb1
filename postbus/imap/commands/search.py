"""SEARCH / UID SEARCH (RFC 9051 §6.4.4) and ESEARCH results (RFC 4731).

The key tree is compiled to one SQL query (postbus/store/imap_queries.py). Sequence-number
keys are turned into UID ranges here, against what the client knows. TEXT and BODY use the
store's full-text index, so they match whole words (the index folds case and accents) rather
than arbitrary substrings. HEADER on a field the store does not index reads the headers.
RETURN (SAVE) keeps the result for "$" (RFC 5182); MODSEQ adds the highest mod-sequence of
the answer (RFC 7162 §3.1.5); OLDER/YOUNGER count from now (RFC 5032); a client that has
ENABLEd IMAP4rev2 gets ESEARCH answers (RFC 9051 §6.4.4). ``prepare`` and ``esearch`` serve
SORT and THREAD too (sort.py).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from typing import Any

from postbus.imap import objectid
from postbus.imap.mailbox_view import MailboxView
from postbus.imap.proto import commands as c
from postbus.imap.proto import response as r
from postbus.imap.proto.sequence import compress, compress_ordered
from postbus.imap.session import Reply, Session
from postbus.mime import get_header, header_block
from postbus.store import imap_queries

INDEXED_HEADERS = frozenset({"FROM", "TO", "CC", "SUBJECT", "BCC", "MESSAGE-ID"})
HEADER_PEEK = 64 * 1024
YIELD_EVERY = 64  # bodies read between turns of the event loop


def _resolve(view: MailboxView, key: c.SearchKey, headers: list[c.SearchKey]) -> c.SearchKey:
    if key.name == "SEQ":
        return c.SearchKey("UID", (view.uid_ranges_for_seqs(key.args[0]),))
    if key.name == "UID":
        return c.SearchKey("UID", (view.uid_ranges_for_uids(key.args[0]),))
    if key.name in ("NOT", "OR", "AND"):
        return c.SearchKey(key.name, tuple(_resolve(view, k, headers) for k in key.args))
    if key.name in ("EMAILID", "THREADID"):  # RFC 8474 §6: our ids back to row ids
        return c.SearchKey(key.name, (objectid.parse(key.args[0], key.name[0]),))
    if key.name == "HEADER" and key.args[0].upper() not in INDEXED_HEADERS:
        headers.append(key)
    return key


async def header_blocks(s: Session, blob_hashes: list[str]) -> AsyncIterator[bytes]:
    """Each body's header block, in order (SEARCH HEADER, SORT/THREAD by references)."""
    for number, blob_hash in enumerate(blob_hashes):
        if number % YIELD_EVERY == YIELD_EVERY - 1:
            await asyncio.sleep(0)  # small bodies read without a pause: let others run
        yield header_block(await s.store.read_blob(blob_hash, HEADER_PEEK))


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
    found: dict[int, list[tuple[int, int]]] = {id(key): [] for key in keys}
    heads = header_blocks(s, [row["blob_hash"] for row in rows])
    for row in rows:
        head = await anext(heads)
        for key in keys:
            values = get_header(head, key.args[0])
            wanted = key.args[1].lower()
            if values and any(wanted in v.lower() for v in values):
                found[id(key)].append((row["uid"], row["uid"]))
    return found


def uses_key(key: c.SearchKey, name: str) -> bool:
    if key.name == name:
        return True
    return key.name in ("AND", "OR", "NOT") and any(uses_key(k, name) for k in key.args)


def _within(key: c.SearchKey, now: int) -> c.SearchKey:
    """RFC 5032 §3: OLDER / YOUNGER count back from now; the store gets (interval, now)."""
    if key.name in ("OLDER", "YOUNGER"):
        return c.SearchKey(key.name, (key.args[0], now))
    if key.name in ("AND", "OR", "NOT"):
        return c.SearchKey(key.name, tuple(_within(k, now) for k in key.args))
    return key


async def prepare(
    s: Session, view: MailboxView, key: c.SearchKey
) -> tuple[c.SearchKey, dict[int, Any]]:
    """The key with numbers resolved to UID ranges, and the HEADER matches it needs: what
    ``imap_queries.search_uids`` / ``search_rows`` take (SEARCH, SORT, THREAD)."""
    if uses_key(key, "MODSEQ"):
        s.enable_condstore()  # RFC 7162 §3.1: SEARCH MODSEQ is a CONDSTORE enabling command
    headers: list[c.SearchKey] = []
    resolved = _within(_resolve(view, key, headers), int(time.time()))
    matches = await _header_matches(s, view, headers) if headers else {}
    return resolved, matches


def save_result(view: MailboxView, returns: tuple[str, ...], uids_in_order: list[int]) -> None:
    """RFC 5182 §2.4: SAVE keeps the whole result, or only the MIN / MAX message(s) when
    those are the only other options."""
    if "ALL" in returns or "COUNT" in returns or not {"MIN", "MAX"} & set(returns):
        view.saved = sorted(uids_in_order)
        return
    picked = set()
    if uids_in_order and "MIN" in returns:
        picked.add(uids_in_order[0])
    if uids_in_order and "MAX" in returns:
        picked.add(uids_in_order[-1])
    view.saved = sorted(picked)


def esearch(
    s: Session,
    tag: str,
    uid: bool,
    returns: tuple[str, ...],
    numbers: list[int],
    modseqs: list[int] | None,
    ordered: bool = False,
) -> None:
    """RFC 4731 §3.1: * ESEARCH (TAG "t") [UID] [MIN n] [MAX n] [COUNT n] [ALL set]
    [MODSEQ m] (RFC 7162 §3.1.5). ``numbers`` in result order: ascending for SEARCH, the sort
    order for SORT (RFC 5267 §3.2: MIN/MAX are then the first and last, ALL keeps the order).
    ``modseqs`` (with MODSEQ searched) are those of ``numbers``, index for index."""
    if returns == ("SAVE",):
        return  # RFC 5182 §2.4: SAVE alone answers nothing
    out = b"ESEARCH (TAG " + r.string(tag) + b")"
    if uid:
        out += b" UID"
    reported: set[int] = set()
    if numbers:
        if "MIN" in returns:
            first = numbers[0] if ordered else min(numbers)
            out += b" MIN %d" % first
            reported.add(numbers.index(first))
        if "MAX" in returns:
            last = numbers[-1] if ordered else max(numbers)
            out += b" MAX %d" % last
            reported.add(numbers.index(last))
    if "COUNT" in returns:
        out += b" COUNT %d" % len(numbers)
    if "ALL" in returns and numbers:
        text = compress_ordered(numbers) if ordered else compress(sorted(numbers))
        out += b" ALL " + text.encode()
    if "ALL" in returns or "COUNT" in returns:
        reported = set(range(len(numbers)))
    if modseqs and reported:
        out += b" MODSEQ %d" % max(modseqs[i] for i in reported)
    s.untagged(out)


async def search(s: Session, cmd: c.Search) -> Reply:
    view = s.selected()
    returns = cmd.returns
    if returns is None and s.rev2:
        returns = ("ALL",)  # RFC 9051 §6.4.4.1: an IMAP4rev2 SEARCH answers with ESEARCH
    try:
        key, matches = await prepare(s, view, cmd.key)
        with_modseq = uses_key(cmd.key, "MODSEQ")
        rows = await s.store.read(
            lambda tx: imap_queries.search_rows(
                tx, s.account_id, view.mailbox_id, key, matches,
                ("modseq",) if with_modseq else (),
            )
        )
    except Exception:
        if returns is not None and "SAVE" in returns:
            view.saved = []  # RFC 5182 §2.1: a failed SEARCH ... SAVE empties the result
        raise
    modseq_of = {row["uid"]: row["modseq"] for row in rows} if with_modseq else {}
    known = view.known(row["uid"] for row in rows)
    numbers = [uid for _, uid in known] if cmd.uid else [seq for seq, _ in known]
    modseqs = [modseq_of[uid] for _, uid in known] if with_modseq else None
    if returns is not None and "SAVE" in returns:
        save_result(view, returns, [uid for _, uid in known])
    if returns is None:
        tail = b" (MODSEQ %d)" % max(modseqs) if modseqs else b""  # RFC 7162 §3.1.5
        s.untagged(b"SEARCH" + b"".join(b" %d" % n for n in numbers) + tail)
        return Reply("SEARCH completed")
    esearch(s, cmd.tag, cmd.uid, returns, numbers, modseqs)
    return Reply("SEARCH completed")
