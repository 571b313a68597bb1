"""FETCH of FLAGS, UID and MODSEQ only: the fast path (issue 4 point 7).

``UID FETCH 1:* (FLAGS)`` is what every client sends to sync a mailbox, so on 500,000
messages it must cost little more than reading the rows. This path writes byte for byte what
the general path in fetch.py writes (tests/imap/test_fetch_flags.py compares them) but:

- one query per chunk of ``CHUNK`` messages reads (uid, flags, keywords, modseq) by a UID
  range of the view (a primary-key range scan), with ``CHANGEDSINCE`` as a condition of it;
- the flag list of each (mask, keywords) pair is formatted once per command;
- each line is one ``%`` of a format built once from the requested items;
- each chunk is one ``bytes.join`` and one write, and the socket is drained between chunks,
  so memory stays bounded by one chunk.

Sequence numbers come from the view: rows arrive in UID order, so the position of each UID is
found by a bisection that starts where the previous one ended.
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from collections.abc import Callable
from operator import itemgetter

from postbus.imap.mailbox_view import MailboxView
from postbus.imap.proto import commands as c
from postbus.imap.proto import response as r
from postbus.imap.proto.sequence import merge
from postbus.imap.session import Session
from postbus.store import flags as flagbits
from postbus.store import imap_queries

CHUNK = 5000
TEXTS_KEPT = 4096  # flag lists formatted and kept per command
ITEMS = frozenset({"FLAGS", "UID", "MODSEQ"})
# What each item writes, and which value of (seq, uid, flags, modseq) it takes.
_FORMATS = {"UID": (b"UID %d", 1), "FLAGS": (b"FLAGS %s", 2), "MODSEQ": (b"MODSEQ (%d)", 3)}


def applies(items: list[c.FetchAtt]) -> bool:
    return all(item.name in ITEMS for item in items)


def line_format(
    items: list[c.FetchAtt], uidonly: bool
) -> tuple[bytes, Callable[[tuple[int, int, bytes, int]], tuple[int | bytes, ...]]]:
    """The ``%`` format of one response line and the getter of its values from
    (seq, uid, flags, modseq). RFC 9586 §3.3: with UIDONLY, ``* uid UIDFETCH`` without UID."""
    parts: list[bytes] = []
    picks = [1 if uidonly else 0]
    for item in items:
        if uidonly and item.name == "UID":
            continue
        text, index = _FORMATS[item.name]
        parts.append(text)
        picks.append(index)
    head = b"* %d UIDFETCH (" if uidonly else b"* %d FETCH ("
    fmt = head + b" ".join(parts) + b")\r\n"
    if len(picks) == 1:
        only = picks[0]
        return fmt, lambda values: (values[only],)
    return fmt, itemgetter(*picks)


async def fetch_flags(
    s: Session, view: MailboxView, ranges: list[tuple[int, int]], items: list[c.FetchAtt],
    changedsince: int | None,
) -> None:
    fmt, values = line_format(items, s.uidonly)
    texts: dict[tuple[int, str], bytes] = {}
    account_id, mailbox_id = s.account_id, view.mailbox_id
    uids = view.uids
    for a, b in merge(ranges):
        lo, hi = bisect_left(uids, a), bisect_right(uids, b)
        for start in range(lo, hi, CHUNK):
            end = min(start + CHUNK, hi)
            first, last = uids[start], uids[end - 1]
            rows = await s.store.read(
                lambda tx, first=first, last=last: imap_queries.flag_rows(
                    tx, account_id, mailbox_id, first, last, changedsince
                )
            )
            out: list[bytes] = []
            add = out.append
            pos = start  # the index of the next UID expected
            for uid, mask, keywords, modseq in rows:
                if pos == end or uids[pos] != uid:  # a row missing: messages expunged since
                    pos = bisect_left(uids, uid, pos, end)
                    if pos == end or uids[pos] != uid:
                        continue  # not known to the client (cannot happen between known UIDs)
                pos += 1  # now the sequence number of this row
                key = (mask, keywords)
                text = texts.get(key)
                if text is None:
                    if len(texts) >= TEXTS_KEPT:
                        texts.clear()  # a mailbox of all-different keywords: stay bounded
                    text = texts[key] = r.flags(flagbits.join_flags(mask, keywords))
                add(fmt % values((pos, uid, text, modseq)))
            if out:
                s.send(b"".join(out))
            await s.io.drain()
