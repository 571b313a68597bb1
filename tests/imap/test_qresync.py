"""QRESYNC (RFC 7162 §3.2) over real sockets on both backends."""

from __future__ import annotations

import re

from tests.imap.conftest import ImapServer
from tests.imap.test_condstore import ANN, Raw, fill, modseqs, run


async def _expunge(imap: ImapServer, box: int, uids: list[int]) -> None:
    account = imap.users[ANN]
    await imap.store.set_flags(account, box, [(u, u) for u in uids], ["\\Deleted"], "add")
    await imap.store.expunge(account, box, [(u, u) for u in uids])


async def test_select_qresync_reports_exactly_what_changed(imap: ImapServer) -> None:
    box = await fill(imap, 8)
    account = imap.users[ANN]
    mailbox = await imap.store.get_mailbox(account, "INBOX")
    known = mailbox.highestmodseq
    # while the client is away: two expunges, two flag changes, one new message
    await _expunge(imap, box, [2, 5])
    await imap.store.set_flags(account, box, [(3, 3), (8, 8)], ["\\Seen"], "add")
    await fill(imap, 1)
    now = await modseqs(imap, box)
    highest = (await imap.store.get_mailbox(account, "INBOX")).highestmodseq

    def talk() -> None:
        c = Raw(imap.plain_port)
        assert c.ok("ENABLE QRESYNC")[0] == b"* ENABLED QRESYNC"
        lines = c.ok(f"SELECT INBOX (QRESYNC ({mailbox.uidvalidity} {known}))")
        assert b"* 7 EXISTS" in lines
        assert b"* OK [HIGHESTMODSEQ %d] Highest" % highest in lines
        resync = [line for line in lines if b"VANISHED" in line or b"FETCH" in line]
        assert resync == [
            b"* VANISHED (EARLIER) 2,5",
            b"* 2 FETCH (UID 3 FLAGS (\\Seen) MODSEQ (%d))" % now[3],
            b"* 6 FETCH (UID 8 FLAGS (\\Seen) MODSEQ (%d))" % now[8],
            b"* 7 FETCH (UID 9 FLAGS () MODSEQ (%d))" % now[9],
        ]
        # known-uids limit VANISHED; a stale UIDVALIDITY gets a plain SELECT answer
        lines = c.ok(f"EXAMINE INBOX (QRESYNC ({mailbox.uidvalidity} {known} 3:8))")
        assert lines[0] == b"* OK [CLOSED] Previous mailbox closed"
        assert b"* VANISHED (EARLIER) 5" in lines and b"* VANISHED (EARLIER) 2,5" not in lines
        lines = c.ok(f"SELECT INBOX (QRESYNC ({mailbox.uidvalidity + 1} {known}))")
        assert not [line for line in lines if b"VANISHED" in line or b"FETCH" in line]
        # seq-match-data is accepted (and not needed: the expunge log is complete)
        lines = c.ok(f"SELECT INBOX (QRESYNC ({mailbox.uidvalidity} {known} 1:9 (1:3 1:4)))")
        assert b"* VANISHED (EARLIER) 2,5" in lines
        c.close()

    await run(talk)


async def test_vanished_replaces_expunge_everywhere(imap: ImapServer) -> None:
    box = await fill(imap, 6)
    account = imap.users[ANN]
    c = await run(Raw, imap.plain_port)
    await run(c.ok, "ENABLE QRESYNC")
    await run(c.ok, "SELECT INBOX")
    # our own EXPUNGE: VANISHED, and the new HIGHESTMODSEQ in the tagged OK
    await run(c.ok, "STORE 1 +FLAGS.SILENT (\\Deleted)")
    lines = await run(c.ok, "EXPUNGE")
    highest = (await imap.store.get_mailbox(account, "INBOX")).highestmodseq
    assert lines[0] == b"* VANISHED 1"
    assert re.match(rb"t\d+ OK \[HIGHESTMODSEQ %d\] EXPUNGE completed" % highest, lines[-1])
    # UID EXPUNGE and MOVE too
    await run(c.ok, "UID STORE 2 +FLAGS.SILENT (\\Deleted)")
    assert (await run(c.ok, "UID EXPUNGE 2"))[0] == b"* VANISHED 2"
    lines = await run(c.ok, "UID MOVE 3 Sent")
    assert b"* VANISHED 3" in lines and not [line for line in lines if b"EXPUNGE" in line]
    # another session's expunge, seen at NOOP
    await _expunge(imap, box, [4])
    assert await run(c.noop_until, b"VANISHED") == [b"* VANISHED 4"]
    # and during IDLE
    await run(c.sock.sendall, b"i IDLE\r\n")
    assert (await run(c._until, b"\r\n")).startswith(b"+ ")
    await _expunge(imap, box, [5])
    line = await run(c._until, b"\r\n")
    if b"FETCH" in line:  # the \\Deleted flag may be told first
        assert line.startswith(b"* 1 FETCH (UID 5 FLAGS (\\Deleted) MODSEQ ")
        line = await run(c._until, b"\r\n")
    assert line == b"* VANISHED 5\r\n"
    await run(c.sock.sendall, b"DONE\r\n")
    assert (await run(c._until, b"\r\n")).startswith(b"i OK")
    # sequence numbers stayed in step: UID 6 is now message 1
    assert (await run(c.ok, "FETCH 1 (UID)"))[0] == b"* 1 FETCH (UID 6)"
    await run(c.close)


async def test_uid_fetch_changedsince_vanished(imap: ImapServer) -> None:
    box = await fill(imap, 6)
    account = imap.users[ANN]
    c = await run(Raw, imap.plain_port)
    await run(c.ok, "ENABLE QRESYNC")
    await run(c.ok, "SELECT INBOX")
    since = (await imap.store.get_mailbox(account, "INBOX")).highestmodseq
    await _expunge(imap, box, [2, 4])
    await imap.store.set_flags(account, box, [(5, 5)], ["\\Flagged"], "add")
    now = await modseqs(imap, box)
    news = await run(c.noop_until, b"VANISHED")
    if not any(b"FETCH" in line for line in news):
        news += await run(c.noop_until, b"FETCH")
    assert sorted(news) == [
        b"* 3 FETCH (UID 5 FLAGS (\\Flagged) MODSEQ (%d))" % now[5], b"* VANISHED 2,4"
    ]
    # RFC 7162 §3.2.6: VANISHED (EARLIER) for the UIDs of the set, then the changed messages
    lines = await run(c.ok, f"UID FETCH 1:* (FLAGS) (CHANGEDSINCE {since} VANISHED)")
    assert lines[:-1] == [
        b"* VANISHED (EARLIER) 2,4",
        b"* 3 FETCH (UID 5 FLAGS (\\Flagged) MODSEQ (%d))" % now[5],
    ]
    lines = await run(c.ok, f"UID FETCH 3:4 (FLAGS) (CHANGEDSINCE {since} VANISHED)")
    assert lines[:-1] == [b"* VANISHED (EARLIER) 4"]
    lines = await run(c.ok, f"UID FETCH 1:* (FLAGS) (CHANGEDSINCE {now[5]} VANISHED)")
    assert lines[:-1] == []
    await run(c.close)


async def test_qresync_needs_enable_and_rev1_clients_keep_expunge(imap: ImapServer) -> None:
    await fill(imap, 3)

    def talk() -> None:
        c = Raw(imap.plain_port)
        c.ok("SELECT INBOX")
        c.ok("STORE 1 +FLAGS.SILENT (\\Deleted)")
        assert c.ok("EXPUNGE")[:-1] == [b"* 1 EXPUNGE"]
        assert b"BAD" in c.cmd("SELECT INBOX (QRESYNC (1 1))")
        c.close()

    await run(talk)
