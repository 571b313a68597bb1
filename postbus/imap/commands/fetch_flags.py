"""FETCH of FLAGS, UID and MODSEQ only: the fast path (issue 4 point 7).

``UID FETCH 1:* (FLAGS)`` is what every client sends to sync a mailbox, so on 500,000
messages it must cost little more than reading the rows. This path writes byte for byte what
the general path in fetch.py writes (tests/imap/test_fetch_flags.py compares them) in chunks
of ``CHUNK`` messages of the view, each one ``bytes.join`` and one write, the socket drained
between chunks, so memory stays bounded by one chunk.

Without MODSEQ and CHANGEDSINCE, the flags are told by exception: most messages of a mailbox
have the same flags (read, or unread, and no keywords), so the store counts the messages of
the chunk's UID range and returns only the rows whose flags are not the common ones
(``imap_views.uncommon_flags``). Every line is then one ``%`` of a format with the common
flag list already in it, over the sequence numbers and UIDs of the view; the few uncommon
rows replace their lines. If the count is not the view's (messages expunged since the view
was loaded, not yet told), the chunk goes the per-row way, which leaves those out.

Per row (MODSEQ, CHANGEDSINCE, or that case): one query reads (uid, flags, keywords, modseq)
of the range (a primary-key range scan), the flag list of each (mask, keywords) pair is
formatted once per command, and each line is one ``%`` of a format built once. Sequence
numbers come from the view: rows arrive in UID order, so the position of each UID is found by
a bisection that starts where the previous one ended.

As the first command after SELECT (the view's map not read yet, mailbox_view.py), the map is
read in pieces while the lines go out (``fetch_flags_loading``), so the client is already
reading when the last piece is read. The first chunk is small for the same reason.
"""

from __future__ import annotations

from array import array
from bisect import bisect_left, bisect_right
from collections import Counter
from collections.abc import Callable
from itertools import chain
from operator import itemgetter

from postbus.imap.mailbox_view import MailboxView
from postbus.imap.proto import commands as c
from postbus.imap.proto import response as r
from postbus.imap.proto.sequence import SequenceSet, merge
from postbus.imap.session import Session
from postbus.store import flags as flagbits
from postbus.store import imap_views

CHUNK = 5000
FIRST_CHUNK = 500  # the first lines go out at once: the client reads while we make the rest
MAP_FIRST = 5000  # UIDs of the first piece of a map read during FETCH, then MAP_PIECE each
MAP_PIECE = 50000
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


class _Texts:
    """The flag list of each (mask, keywords) pair, formatted once per command."""

    __slots__ = ("texts",)

    def __init__(self) -> None:
        self.texts: dict[tuple[int, str], bytes] = {}

    def __call__(self, mask: int, keywords: str) -> bytes:
        key = (mask, keywords)
        text = self.texts.get(key)
        if text is None:
            if len(self.texts) >= TEXTS_KEPT:
                self.texts.clear()  # a mailbox of all-different keywords: stay bounded
            text = self.texts[key] = r.flags(flagbits.join_flags(mask, keywords))
        return text


def _numbers_only(items: list[c.FetchAtt], uidonly: bool) -> tuple[int, ...]:
    """Which of (seq, uid) each ``%d`` of a line takes, in order, when FLAGS is baked in."""
    picks = [1 if uidonly else 0]
    picks += [1 for item in items if item.name == "UID" and not uidonly]
    return tuple(picks)


def _segment(fmt: bytes, picks: tuple[int, ...], first_seq: int, uids: array[int]) -> bytes:
    """The lines of the view slice ``uids``, numbered from ``first_seq``, all with the flags
    baked into ``fmt``: one ``%`` of the format repeated, a third cheaper than a ``%`` and a
    bytes object per line."""
    n = len(uids)
    if n == 0:
        return b""
    seqs = range(first_seq, first_seq + n)
    if picks == (0, 1):
        return (fmt * n) % tuple(chain.from_iterable(zip(seqs, uids, strict=True)))
    if picks == (0,):
        return (fmt * n) % tuple(seqs)
    if picks == (1,):
        return (fmt * n) % tuple(uids)
    pairs = zip(seqs, uids, strict=True)
    return b"".join(fmt % tuple(pair[i] for i in picks) for pair in pairs)


class _Exceptions:
    """Telling a command's chunks by exception: the line format with each flag list written
    in, and the flags most messages have, learnt as the chunks go."""

    __slots__ = ("common", "fmt", "formats", "picks", "texts")

    def __init__(self, items: list[c.FetchAtt], uidonly: bool, texts: _Texts) -> None:
        self.fmt, _ = line_format(items, uidonly)
        self.picks = _numbers_only(items, uidonly)
        self.texts = texts
        self.formats: dict[tuple[int, str], bytes] = {}
        self.common: tuple[int, str] | None = None  # the store's guess for the first chunk

    def format(self, mask: int, keywords: str) -> bytes:
        key = (mask, keywords)
        fmt = self.formats.get(key)
        if fmt is None:
            if len(self.formats) >= TEXTS_KEPT:
                self.formats.clear()
            text = self.texts(mask, keywords).replace(b"%", b"%%")
            fmt = self.formats[key] = self.fmt.replace(b"FLAGS %s", b"FLAGS " + text)
        return fmt

    def learn(self, count: int, rows: list[tuple[int, int, str]]) -> None:
        """Over a quarter of the chunk were exceptions: the next chunk takes their most
        frequent flags as the common ones (a mailbox where every message has $NotJunk)."""
        if len(rows) * 4 > count:
            pairs = Counter((mask, keywords) for _, mask, keywords in rows)
            self.common = pairs.most_common(1)[0][0]


async def _by_exception(
    s: Session, mailbox_id: int, uids: array[int], start: int, end: int, told: _Exceptions
) -> bytes | None:
    """The chunk ``uids[start:end]`` of the map told by exception, or None when the store's
    count of its UID range is not the map's (then the caller goes row by row)."""
    first, last = uids[start], uids[end - 1]
    account_id, guess = s.account_id, told.common
    count, common, rows = await s.store.read(
        lambda tx: imap_views.uncommon_flags(tx, account_id, mailbox_id, first, last, guess)
    )
    told.common = common
    if count != end - start:
        return None
    picks = told.picks
    common_fmt = told.format(*common)
    out: list[bytes] = []
    done = start  # the lines before this index of the map are in ``out``
    for uid, mask, keywords in rows:
        pos = bisect_left(uids, uid, done, end)  # there: the count matched the map
        if pos > done:
            out.append(_segment(common_fmt, picks, done + 1, uids[done:pos]))
        numbers = (pos + 1, uid)
        out.append(told.format(mask, keywords) % tuple(numbers[i] for i in picks))
        done = pos + 1
    out.append(_segment(common_fmt, picks, done + 1, uids[done:end]))
    told.learn(count, rows)
    return b"".join(out)


async def _by_row(
    s: Session, mailbox_id: int, uids: array[int], start: int, end: int,
    items: list[c.FetchAtt], changedsince: int | None, texts: _Texts,
) -> bytes:
    fmt, values = line_format(items, s.uidonly)
    first, last = uids[start], uids[end - 1]
    account_id = s.account_id
    rows = await s.store.read(
        lambda tx: imap_views.flag_rows(
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
        add(fmt % values((pos, uid, texts(mask, keywords), modseq)))
    return b"".join(out)


class _Writer:
    """One FETCH: writes the lines of positions of the map, chunk by chunk."""

    __slots__ = ("changedsince", "items", "mailbox_id", "s", "sent", "texts", "told")

    def __init__(
        self, s: Session, mailbox_id: int, items: list[c.FetchAtt], changedsince: int | None
    ) -> None:
        self.s, self.mailbox_id, self.items, self.changedsince = s, mailbox_id, items, changedsince
        self.texts = _Texts()
        self.told = None
        if changedsince is None and not any(item.name == "MODSEQ" for item in items):
            self.told = _Exceptions(items, s.uidonly, self.texts)
        self.sent = False

    async def positions(self, uids: array[int], lo: int, hi: int) -> None:
        """The lines of ``uids[lo:hi]`` (indexes of the map: sequence numbers less one)."""
        start = lo
        while start < hi:
            size = CHUNK if self.sent else min(CHUNK, FIRST_CHUNK)
            end = min(start + size, hi)
            data = None
            if self.told is not None:
                data = await _by_exception(self.s, self.mailbox_id, uids, start, end, self.told)
            if data is None:
                data = await _by_row(self.s, self.mailbox_id, uids, start, end, self.items,
                                     self.changedsince, self.texts)
            if data:
                self.s.send(data)
            self.sent = True
            await self.s.io.drain()
            start = end


async def fetch_flags(
    s: Session, view: MailboxView, ranges: list[tuple[int, int]], items: list[c.FetchAtt],
    changedsince: int | None,
) -> None:
    writer = _Writer(s, view.mailbox_id, items, changedsince)
    uids = view.uids
    for a, b in merge(ranges):
        await writer.positions(uids, bisect_left(uids, a), bisect_right(uids, b))


async def fetch_flags_loading(
    s: Session, view: MailboxView, uid: bool, sequence: SequenceSet, items: list[c.FetchAtt]
) -> None:
    """FETCH FLAGS on a view whose sequence map is not read yet (the first command after
    SELECT, mailbox_view.py): the map is read in pieces of the SELECT snapshot, and the
    lines of each piece are written before the next is read, so the client reads while we
    read on (100,000 messages: the map costs ~15 ms, which no longer comes first). The view
    holds the whole map at the end, as if it had been read before the command."""
    snap = view.snapshot
    assert snap is not None and not sequence.saved
    account_id, mailbox_id = s.account_id, view.mailbox_id
    if uid:  # RFC 9051 §6.4.9: "*" is the largest UID of the map
        last = await s.store.read(lambda tx: imap_views.view_last_uid(
            tx, account_id, mailbox_id, snap.uidnext, snap.highestmodseq
        ))
        ranges = [(a, min(b, last)) for a, b in sequence.resolve(last) if a <= min(b, last)]
    else:  # sequence numbers beyond the last message are ignored (as uid_ranges_for_seqs)
        ranges = [(a, min(b, snap.exists)) for a, b in sequence.resolve(snap.exists)
                  if a <= min(b, snap.exists)]
    writer = _Writer(s, mailbox_id, items, None)
    loaded = array("I")
    after, size = 0, MAP_FIRST
    while True:
        piece = await s.store.read(lambda tx, after=after, size=size: imap_views.view_uids(
            tx, account_id, mailbox_id, snap.uidnext, snap.highestmodseq, after, size
        ))
        if not piece:
            break
        p0 = len(loaded)
        loaded.extend(piece)
        p1 = len(loaded)
        for a, b in ranges:
            if uid:
                lo, hi = bisect_left(loaded, a, p0, p1), bisect_right(loaded, b, p0, p1)
            else:
                lo, hi = max(a - 1, p0), min(b, p1)
            if lo < hi:
                await writer.positions(loaded, lo, hi)
        after, size = piece[-1], MAP_PIECE
    view.load(loaded)
