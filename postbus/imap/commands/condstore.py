"""STORE under CONDSTORE (RFC 7162 §3.1.3, §3.2.4) and the HIGHESTMODSEQ answers.

Once CONDSTORE is enabled every FETCH response a STORE causes carries UID and MODSEQ, also
with .SILENT (then without FLAGS), so the client always learns the new mod-sequences.
STORE (UNCHANGEDSINCE n) changes only messages whose modseq is still at most n, in one store
transaction, and names the others in [MODIFIED set] (sequence numbers, or UIDs for UID STORE).
"""

from __future__ import annotations

from postbus.imap.mailbox_view import MailboxView
from postbus.imap.proto import commands as c
from postbus.imap.proto import response as r
from postbus.imap.proto.sequence import compress
from postbus.imap.session import Reply, Session
from postbus.store import imap_queries

MODIFIED = "MODIFIED"  # RFC 7162 §3.1.3 response code
HIGHESTMODSEQ = "HIGHESTMODSEQ"  # RFC 7162 §3.1.2.1


def send_store_fetches(
    s: Session, view: MailboxView, cmd: c.Store, changed: list[tuple[int, tuple[str, ...], int]]
) -> None:
    """The untagged FETCH responses of a STORE (RFC 9051 §6.4.6, RFC 7162 §3.1.3)."""
    if cmd.silent and not s.condstore:
        return
    for uid, flags, modseq in changed:
        seq = view.seq_of(uid)
        if seq is None:
            continue
        items = [b"UID %d" % uid] if cmd.uid or s.condstore else []
        if not cmd.silent:
            items.append(b"FLAGS " + r.flags(flags))
        if s.condstore:
            items.append(b"MODSEQ (%d)" % modseq)
        s.send(s.fetch_response(seq, uid, items))


async def conditional_store(
    s: Session, view: MailboxView, cmd: c.Store, ranges: list[tuple[int, int]]
) -> Reply:
    """RFC 7162 §3.1.3: STORE (UNCHANGEDSINCE n); a CONDSTORE enabling command (§3.1)."""
    s.enable_condstore()
    assert cmd.unchangedsince is not None
    since = cmd.unchangedsince
    known = view.uids_in(ranges)
    exact = [(uid, uid) for uid in known] if len(known) < 64 else ranges
    changed, modified, _same = await s.store.write(
        lambda tx: imap_queries.store_unchanged_since(
            tx, s.account_id, view.mailbox_id, exact, cmd.flags, cmd.mode, since
        )
    ) if known else ([], [], [])
    if changed:
        view.own_change(changed[0][2])
    send_store_fetches(s, view, cmd, changed)
    failed = [uid for uid in modified if view.seq_of(uid) is not None]
    if not failed:
        return Reply("STORE completed")
    numbers = failed if cmd.uid else [view.seq_of(uid) or 0 for uid in failed]
    return Reply("Conditional STORE failed for some messages",
                 f"{MODIFIED} {compress(sorted(numbers))}")


async def expunge_reply(s: Session, view: MailboxView) -> Reply:
    """With QRESYNC the tagged OK of EXPUNGE carries the mailbox's HIGHESTMODSEQ, which the
    client stores as its new resynchronisation point (RFC 7162 §3.2.10)."""
    if not s.qresync:
        return Reply("EXPUNGE completed")
    value = await s.store.read(
        lambda tx: imap_queries.highest_modseq(tx, s.account_id, view.mailbox_id)
    )
    return Reply("EXPUNGE completed", f"{HIGHESTMODSEQ} {value}")
