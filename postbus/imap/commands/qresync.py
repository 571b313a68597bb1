"""SELECT/EXAMINE (QRESYNC (...)): the quick resynchronisation of RFC 7162 §3.2.5.

After the usual SELECT responses, when the client's UIDVALIDITY still holds:
- ``* VANISHED (EARLIER) uids``: every UID expunged after the client's modseq (limited to its
  known-uids when given), straight from the store's expunge log, which is never pruned, so the
  answer is exact and the seq-match-data hint is not needed (§3.2.5.2);
- ``* n FETCH (UID u FLAGS (...) MODSEQ (m))`` for every message changed after that modseq.

Invariants:
- Only what agrees with the SELECT snapshot is sent: a UID the view still holds is never
  reported vanished (its expunge reaches the client later as a plain VANISHED), and a message
  the view does not hold gets no FETCH, so sequence numbers stay in step.
"""

from __future__ import annotations

from postbus.imap.mailbox_view import MailboxView
from postbus.imap.proto import commands as c
from postbus.imap.proto import response as r
from postbus.imap.proto.errors import ImapBad
from postbus.imap.proto.sequence import compress
from postbus.imap.session import Session
from postbus.store import imap_queries
from postbus.store.flags import join_flags

BATCH = 500


def check(s: Session, cmd: c.Select) -> None:
    """RFC 7162 §3.2.5: QRESYNC in SELECT without ENABLE QRESYNC first is a BAD command."""
    if cmd.qresync is not None and not s.qresync:
        raise ImapBad("QRESYNC needs ENABLE QRESYNC first")


async def resync(s: Session, view: MailboxView, params: c.Qresync) -> None:
    if params.uidvalidity != view.uidvalidity:
        return  # §3.2.5.1: the client's cache is gone; a plain SELECT answer is all it gets
    since = params.modseq
    known = None
    if params.known_uids is not None:
        known = params.known_uids.resolve(0xFFFFFFFF)
    gone = await s.store.read(
        lambda tx: imap_queries.vanished_uids(tx, s.account_id, view.mailbox_id, known, since)
    )
    gone = [uid for uid in gone if view.seq_of(uid) is None]
    if gone:
        s.send(b"* VANISHED (EARLIER) " + compress(gone).encode() + b"\r\n")
    if not view.uids:
        return
    last = view.last_uid()
    changed = await s.store.read(
        lambda tx: imap_queries.changed_uids(tx, s.account_id, view.mailbox_id, [(1, last)],
                                             since)
    )
    changed = [uid for uid in changed if view.seq_of(uid) is not None]
    for start in range(0, len(changed), BATCH):
        batch = [(uid, uid) for uid in changed[start : start + BATCH]]
        rows = await s.store.read(
            lambda tx, batch=batch: imap_queries.fetch_rows(
                tx, s.account_id, view.mailbox_id, batch, False
            )
        )
        for row in rows:
            seq = view.seq_of(row["uid"])
            if seq is None:
                continue
            items = [
                b"UID %d" % row["uid"],
                b"FLAGS " + r.flags(join_flags(row["flags"], row["keywords"])),
                b"MODSEQ (%d)" % row["modseq"],
            ]
            s.send(s.fetch_response(seq, row["uid"], items))
        await s.io.drain()
