"""The selected mailbox as this session's client knows it: sequence numbers, UIDs, pending news.

Invariants:
- ``uids`` is what the client has been told: sorted, one entry per sequence number. It changes
  only when an EXISTS or EXPUNGE response is written, so sequence numbers in the client's
  commands always mean what the client thinks (RFC 9051 §2.3.1.2, §7.5.1).
- Store events (NEW, EXPUNGED, FLAGS) are only recorded here; the session delivers them when
  RFC 9051 allows: expunges never while answering FETCH, STORE or SEARCH by sequence number
  (§7.5.1, §5.5), new messages and flag changes after any command.
- Our own changes come back as events too: the new UIDs and expunges are recognised as already
  known, and the FLAGS events of our own STOREs are skipped by their modseq.
- Events committed before the SELECT snapshot are harmless: a NEW uid already known or an
  EXPUNGED uid not known is ignored.
- The sequence map is lazy (issue 4 point 7): SELECT reads only the mailbox's counters, and
  the map is read by the first command that needs it (``Session.load_view``) as the UIDs of
  the SELECT snapshot: those below its UIDNEXT still present, plus those expunged after its
  HIGHESTMODSEQ (the expunge log). Until then news is only queued (``_queued``) and replayed
  on the loaded map in order, so the result is the one an eager map would have given. An idle
  connection on a big mailbox holds no per-message structure at all.
- UIDs are 32-bit (RFC 9051 §2.3.1.1): the map is an ``array("I")``, 4 octets a message.
"""

from __future__ import annotations

from array import array
from bisect import bisect_left, bisect_right
from collections.abc import Iterable
from dataclasses import dataclass, field

from postbus.imap.proto.sequence import SequenceSet, merge
from postbus.store.events import EventKind, MailboxEvent

OWN_MODSEQS_KEPT = 1000
QUEUED_KEPT = 1000  # news queued on an unloaded map; beyond it, resync after loading


@dataclass(frozen=True, slots=True)
class Snapshot:
    """What SELECT told the client, enough to read the same map later."""

    exists: int
    uidnext: int
    highestmodseq: int


@dataclass(frozen=True, slots=True)
class Updates:
    expunged: list[int]  # sequence numbers, in the order to send them
    exists: int | None  # the new message count, when it grew
    flags: list[int]  # UIDs whose flags changed (still in the view)
    expunged_uids: list[int] = field(default_factory=list)  # the UIDs of ``expunged``


class MailboxView:
    __slots__ = (
        "_expunged", "_flags", "_new", "_own_modseqs", "_queued", "_uids", "mailbox_id",
        "readonly", "resync", "saved", "snapshot", "uidvalidity",
    )

    def __init__(
        self,
        mailbox_id: int,
        uidvalidity: int,
        uids: Iterable[int] | None,
        readonly: bool,
        snapshot: Snapshot | None = None,
    ) -> None:
        """``uids`` the map, or None with the ``snapshot`` to load it from later."""
        self.mailbox_id = mailbox_id
        self.uidvalidity = uidvalidity
        self.readonly = readonly
        self._uids: array[int] | None = None if uids is None else array("I", uids)
        self.snapshot = snapshot
        self._queued: list[tuple[EventKind, tuple[int, ...]]] = []
        self._new: set[int] = set()
        self._expunged: set[int] = set()
        self._flags: set[int] = set()
        self._own_modseqs: list[int] = []
        self.resync = False  # events were lost: re-read the mailbox
        self.saved: list[int] = []  # RFC 5182 SEARCHRES "$": UIDs of the saved result

    @property
    def loaded(self) -> bool:
        return self._uids is not None

    @property
    def uids(self) -> array[int]:
        if self._uids is None:
            raise RuntimeError("the mailbox view is not loaded")
        return self._uids

    @uids.setter
    def uids(self, value: array[int]) -> None:
        self._uids = value

    def load(self, uids: Iterable[int]) -> None:
        """The map of the SELECT snapshot; the news queued since is replayed on it."""
        self._uids = array("I", uids)
        self.snapshot = None
        queued, self._queued = self._queued, []
        for kind, numbers in queued:
            if kind is EventKind.NEW:
                self.note_new(numbers)
            elif kind is EventKind.EXPUNGED:
                self.note_expunged(numbers)
            else:
                self._flags.update(numbers)

    def _queue(self, kind: EventKind, uids: Iterable[int]) -> None:
        if len(self._queued) >= QUEUED_KEPT:
            self.resync = True  # the loaded map is compared with the store then
            return
        self._queued.append((kind, tuple(uids)))

    @property
    def pending(self) -> bool:
        """News waits to be told (a lazy view must be loaded to tell it)."""
        return bool(self._queued or self._new or self._expunged or self._flags or self.resync)

    @property
    def exists(self) -> int:
        if self._uids is None:
            assert self.snapshot is not None
            return self.snapshot.exists
        return len(self._uids)

    def last_uid(self) -> int:
        return self.uids[-1] if self.uids else 0

    def seq_of(self, uid: int) -> int | None:
        i = bisect_left(self.uids, uid)
        if i < len(self.uids) and self.uids[i] == uid:
            return i + 1
        return None

    # -- numbers in commands -------------------------------------------------------------------

    def uid_ranges_for_seqs(self, seqs: SequenceSet) -> list[tuple[int, int]]:
        """Sequence numbers -> UID ranges. Between two known UIDs the store holds no message
        the client does not know (UIDs only grow), so each sequence range is one UID range.
        Numbers beyond the last message are ignored."""
        if seqs.saved:
            return self.saved_ranges()
        n = len(self.uids)
        if n == 0:
            return []
        out = []
        for a, b in seqs.resolve(n):
            b = min(b, n)
            if a > b:
                continue
            out.append((self.uids[a - 1], self.uids[b - 1]))
        return out

    def uid_ranges_for_uids(self, uids: SequenceSet) -> list[tuple[int, int]]:
        """UID set -> ranges limited to what the client knows (RFC 9051 §6.4.9: "*" is the
        largest UID in use; a range ending beyond it stops there)."""
        if uids.saved:
            return self.saved_ranges()
        last = self.last_uid()
        if last == 0:
            return []
        out = []
        for a, b in uids.resolve(last):
            b = min(b, last)
            if a <= b:
                out.append((a, b))
        return out

    def saved_ranges(self) -> list[tuple[int, int]]:
        """RFC 5182 §2.1: "$" is the saved result less the messages expunged since; the
        same messages whether the command uses sequence numbers or UIDs."""
        return merge([(uid, uid) for uid in self.saved if self.seq_of(uid) is not None])

    def known(self, uids: Iterable[int]) -> list[tuple[int, int]]:
        """(seq, uid) for the UIDs the client knows, in UID order."""
        out = []
        for uid in sorted(uids):
            seq = self.seq_of(uid)
            if seq is not None:
                out.append((seq, uid))
        return out

    # -- news ----------------------------------------------------------------------------------

    def own_change(self, modseq: int) -> None:
        self._own_modseqs.append(modseq)
        del self._own_modseqs[:-OWN_MODSEQS_KEPT]

    def on_event(self, event: MailboxEvent) -> None:
        if event.kind is EventKind.OVERFLOW:
            self.resync = True
            return
        if event.mailbox_id != self.mailbox_id:
            return
        if self._uids is None:
            if event.kind is not EventKind.FLAGS or event.modseq not in self._own_modseqs:
                self._queue(event.kind, event.uids)
            return
        if event.kind is EventKind.NEW:
            self.note_new(event.uids)
        elif event.kind is EventKind.EXPUNGED:
            self.note_expunged(event.uids)
        elif event.kind is EventKind.FLAGS and event.modseq not in self._own_modseqs:
            self._flags.update(event.uids)

    def note_new(self, uids: Iterable[int]) -> None:
        if self._uids is None:
            self._queue(EventKind.NEW, uids)
            return
        last = self.last_uid()
        self._new.update(uid for uid in uids if uid > last)

    def note_expunged(self, uids: Iterable[int]) -> None:
        if self._uids is None:
            self._queue(EventKind.EXPUNGED, uids)
            return
        for uid in uids:
            if uid in self._new:
                self._new.discard(uid)
            elif self.seq_of(uid) is not None:
                self._expunged.add(uid)

    def take_updates(self, allow_expunge: bool) -> Updates:
        if self._uids is None:  # nothing queued (else the session loads the map first)
            return Updates([], None, [])
        expunged: list[int] = []
        gone: list[int] = []
        if allow_expunge and self._expunged:
            gone = sorted(self._expunged)
            self._expunged.clear()
            indexes = [bisect_left(self.uids, uid) for uid in gone]
            # Highest first: each number is then still valid when the client reads it.
            expunged = [i + 1 for i in reversed(indexes)]
            gone_set = set(gone)
            self.uids = array("I", (uid for uid in self.uids if uid not in gone_set))
            self._flags.difference_update(gone_set)
        exists = None
        if self._new:
            self.uids.extend(sorted(self._new))
            self._new.clear()
            exists = len(self.uids)
        flags = sorted(uid for uid in self._flags if uid not in self._expunged)
        self._flags.clear()
        flags = [uid for uid in flags if self.seq_of(uid) is not None]
        return Updates(expunged, exists, flags, gone)

    def reset(self, uids: Iterable[int]) -> None:
        """After an OVERFLOW: the store's current UIDs; differences become pending news."""
        current = set(uids)
        known = set(self.uids)
        self._expunged |= known - current
        self._new |= {uid for uid in current - known if uid > self.last_uid()}
        self.resync = False

    def uids_in(self, ranges: list[tuple[int, int]]) -> list[int]:
        out: list[int] = []
        for a, b in merge(ranges):
            out.extend(self.uids[bisect_left(self.uids, a) : bisect_right(self.uids, b)])
        return out
