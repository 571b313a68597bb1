"""FETCH FLAGS fast path and the lazy sequence map (issue 4 point 7), over real sockets on
both backends.

The fast path (postbus/imap/commands/fetch_flags.py) must write byte for byte what the
general path writes: each conversation is run twice, with the fast path on and off, on a
mailbox with keywords, \\Deleted, several mod-sequences and holes left by expunges.
"""

from __future__ import annotations

import pytest

from postbus.imap.commands import fetch, fetch_flags, mailboxes
from postbus.imap.mailbox_view import MailboxView, Snapshot
from postbus.store.events import EventKind, MailboxEvent
from tests.imap.conftest import PASSWORD, ImapServer, message
from tests.imap.wire import Wire

ANN = "ann@example.org"

COMMANDS = [
    "UID FETCH 1:* (FLAGS)",
    "FETCH 1:* (FLAGS)",
    "FETCH 2:4 (UID FLAGS MODSEQ)",
    "FETCH * (MODSEQ FLAGS UID)",
    "UID FETCH 2,5:7,40 (FLAGS UID)",
    "FETCH 1:* (UID)",
    "FETCH 1:* FLAGS",
    "UID FETCH 1:* (FLAGS) (CHANGEDSINCE 9)",
    "FETCH 3,1 (FLAGS FLAGS)",
    "UID FETCH 100:200 (FLAGS)",
]


async def _mailbox(imap: ImapServer) -> None:
    """Ten messages; 3 and 8 expunged; keywords, \\Deleted and \\Seen on some of the rest."""
    account = imap.users[ANN]
    box = await imap.store.get_mailbox(account, "INBOX")
    for i in range(10):
        await imap.store.append(account, box.id, message(f"message {i}"))
    await imap.store.set_flags(account, box.id, [(3, 3), (8, 8)], ["\\Deleted"], "add")
    await imap.store.expunge(account, box.id, [(3, 3), (8, 8)])
    await imap.store.set_flags(account, box.id, [(1, 2)], ["\\Seen", "$Work"], "add")
    await imap.store.set_flags(account, box.id, [(5, 5)], ["\\Deleted", "$Junk", "Later"], "add")
    await imap.store.set_flags(account, box.id, [(9, 10)], ["\\Answered", "\\Flagged"], "add")
    await imap.store.set_flags(account, box.id, [(10, 10)], ["\\Draft", "$Work"], "add")


async def _conversation(imap: ImapServer, enable: str | None) -> list[bytes]:
    w = await Wire.open(imap.plain_port)
    try:
        await w.login(ANN, PASSWORD)
        out: list[bytes] = []
        if enable:
            await w.ok(f"ENABLE {enable}")
        await w.ok("SELECT INBOX")
        for text in COMMANDS:
            if enable == "UIDONLY" and not text.startswith("UID "):
                continue
            untagged, tagged = await w.command(text)
            out += [*untagged, tagged]
        return out
    finally:
        await w.close()


@pytest.mark.parametrize("enable", [None, "CONDSTORE", "UIDONLY"])
async def test_fast_path_writes_what_the_general_path_writes(
    imap: ImapServer, monkeypatch: pytest.MonkeyPatch, enable: str | None
) -> None:
    await _mailbox(imap)
    fast = await _conversation(imap, enable)
    monkeypatch.setattr(fetch, "FAST_FLAGS", False)
    general = await _conversation(imap, enable)
    assert fast == general
    assert any(b"$Junk" in line and b"\\Deleted" in line for line in fast)
    if enable != "UIDONLY":
        assert b"* 3 FETCH (UID 4 FLAGS ())" in fast  # sequence numbers skip the holes


async def test_fast_path_in_chunks(
    imap: ImapServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    await _mailbox(imap)
    monkeypatch.setattr(fetch_flags, "CHUNK", 3)
    fast = await _conversation(imap, "CONDSTORE")
    monkeypatch.setattr(fetch, "FAST_FLAGS", False)
    assert fast == await _conversation(imap, "CONDSTORE")


async def test_lazy_map_is_the_select_snapshot(imap: ImapServer) -> None:
    """Changes between SELECT and the first command that needs the map: the map is still
    what SELECT told, and the news comes as EXPUNGE / EXISTS afterwards (RFC 9051 §7.5.1)."""
    await _mailbox(imap)
    account = imap.users[ANN]
    box = await imap.store.get_mailbox(account, "INBOX")
    w = await Wire.open(imap.plain_port)
    try:
        await w.login(ANN, PASSWORD)
        selected = await w.ok("SELECT INBOX")
        assert b"* 8 EXISTS" in selected
        assert b"* OK [UNSEEN 3] First unseen" in selected  # UID 4: the third message
        await imap.store.set_flags(account, box.id, [(4, 4)], ["\\Deleted"], "add")
        await imap.store.expunge(account, box.id, [(4, 4)])
        await imap.store.append(account, box.id, message("late"))
        untagged, tagged = await w.command("FETCH 3:4 (UID)")
        assert b"OK" in tagged
        # no EXPUNGE during FETCH: 3 is still UID 4 (gone, so no data), 4 is UID 5
        assert untagged[0] == b"* 4 FETCH (UID 5)"
        assert b"* 9 EXISTS" in untagged
        news = await w.ok("NOOP")
        assert news == [b"* 3 EXPUNGE"]
        assert await w.ok("FETCH 8 (UID)") == [b"* 8 FETCH (UID 11)"]
    finally:
        await w.close()


def test_lazy_view_replays_queued_news() -> None:
    view = MailboxView(7, 1, None, False, Snapshot(3, 10, 50))
    assert not view.loaded and view.exists == 3 and not view.pending
    view.on_event(MailboxEvent(EventKind.NEW, 1, 8, (11,), 51))  # another mailbox
    assert not view.pending
    view.on_event(MailboxEvent(EventKind.EXPUNGED, 1, 7, (4,), 51))
    view.on_event(MailboxEvent(EventKind.NEW, 1, 7, (10, 11), 52))
    view.on_event(MailboxEvent(EventKind.FLAGS, 1, 7, (9,), 53))
    assert view.pending
    view.load([2, 4, 9])
    updates = view.take_updates(True)
    assert updates.expunged == [2] and updates.exists == 4 and updates.flags == [9]
    assert list(view.uids) == [2, 9, 10, 11]


async def _read_mailbox(imap: ImapServer, count: int) -> int:
    """``count`` messages, all \\Seen and $NotJunk (as Thunderbird leaves them), two with
    other flags, one without $NotJunk, the last two unread; 7 expunged (a hole)."""
    account = imap.users[ANN]
    box = await imap.store.get_mailbox(account, "INBOX")
    for i in range(count):
        await imap.store.append(account, box.id, message(f"read {i}"))
    await imap.store.set_flags(account, box.id, [(1, count - 2)], ["\\Seen", "$NotJunk"], "add")
    await imap.store.set_flags(account, box.id, [(4, 4)], ["\\Flagged"], "add")
    await imap.store.set_flags(account, box.id, [(11, 11)], ["$NotJunk"], "remove")
    await imap.store.set_flags(account, box.id, [(7, 7)], ["\\Deleted"], "add")
    await imap.store.expunge(account, box.id, [(7, 7)])
    return box.id


async def test_fast_path_learns_the_common_flags(
    imap: ImapServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Most messages \\Seen with a keyword: after the first chunk the common flags are those,
    so the rest is told by exception; the bytes are still the general path's."""
    await _read_mailbox(imap, 30)
    monkeypatch.setattr(fetch_flags, "CHUNK", 4)
    monkeypatch.setattr(fetch_flags, "FIRST_CHUNK", 2)
    learnt: list[tuple[int, str] | None] = []
    learn = fetch_flags._Exceptions.learn

    def spy(self: fetch_flags._Exceptions, count: int, rows: list) -> None:
        learn(self, count, rows)
        learnt.append(self.common)

    monkeypatch.setattr(fetch_flags._Exceptions, "learn", spy)
    fast = await _conversation(imap, None)
    assert (1, "$NotJunk") in learnt  # \Seen and $NotJunk became the common flags
    monkeypatch.setattr(fetch, "FAST_FLAGS", False)
    assert fast == await _conversation(imap, None)
    assert b"* 6 FETCH (UID 6 FLAGS (\\Seen $NotJunk))" in fast
    assert b"* 7 FETCH (UID 8 FLAGS (\\Seen $NotJunk))" in fast
    assert b"* 10 FETCH (UID 11 FLAGS (\\Seen))" in fast
    assert b"* 29 FETCH (UID 30 FLAGS ())" in fast


@pytest.mark.parametrize("unread", [[], [1], [2, 29], [16], [5, 17, 30], [28, 29, 30]])
async def test_select_finds_the_first_unseen_from_either_end(
    imap: ImapServer, monkeypatch: pytest.MonkeyPatch, unread: list[int]
) -> None:
    """UNSEEN (RFC 3501 §6.3.1) is one seek in the index of unseen messages (imap_views
    ``_first_unseen``), wherever they are; its sequence number, counted from the nearer end,
    skips the hole left by UID 7, and FLAGS lists the keywords in use."""
    account = imap.users[ANN]
    box = await imap.store.get_mailbox(account, "INBOX")
    for i in range(30):
        await imap.store.append(account, box.id, message(f"m {i}"))
    await imap.store.set_flags(account, box.id, [(1, 30)], ["\\Seen"], "add")
    await imap.store.set_flags(account, box.id, [(3, 3)], ["$Work"], "add")
    await imap.store.set_flags(account, box.id, [(9, 9)], ["$Junk", "$Work"], "add")
    await imap.store.set_flags(account, box.id, [(7, 7)], ["\\Deleted"], "add")
    await imap.store.expunge(account, box.id, [(7, 7)])
    for uid in unread:
        await imap.store.set_flags(account, box.id, [(uid, uid)], ["\\Seen"], "remove")
    # the keywords of a SELECT are kept per process by (account, name, id, uidvalidity,
    # highestmodseq): an earlier test's store can have had the same
    monkeypatch.setattr(mailboxes, "_KEYWORDS", {})
    w = await Wire.open(imap.plain_port)
    try:
        await w.login(ANN, PASSWORD)
        selected = await w.ok("SELECT INBOX")
    finally:
        await w.close()
    unseen = [line for line in selected if b"[UNSEEN" in line]
    if not unread:
        assert unseen == []
    else:
        first = unread[0]
        seq = first - (1 if first > 7 else 0)
        assert unseen == [b"* OK [UNSEEN %d] First unseen" % seq]
    flags_line = next(line for line in selected if line.startswith(b"* FLAGS"))
    assert flags_line.endswith(b"\\Draft $Junk $Work)")


FIRST_COMMANDS = [
    "UID FETCH 1:* (FLAGS)", "FETCH 1:* (FLAGS)", "FETCH 2,4:6 (UID FLAGS)",
    "UID FETCH 5:7,9 (FLAGS)", "UID FETCH 11:* (FLAGS)", "FETCH 7:* (UID)",
    "UID FETCH 2:* (FLAGS MODSEQ)", "FETCH 30:40 (FLAGS)",
]


async def _first_after_select(imap: ImapServer, address: str) -> list[bytes]:
    """Each command as the first after SELECT (the map read while writing), on a mailbox of
    its own, with two messages expunged by someone else between SELECT and the command."""
    account = imap.users[address]
    box = (await imap.store.get_mailbox(account, "INBOX")).id
    out: list[bytes] = []
    for n, text in enumerate(FIRST_COMMANDS):
        new = [await imap.store.append(account, box, message(f"n {i}")) for i in range(3)]
        if n % 2 == 0:
            kept = [(new[2].uid, new[2].uid)]
            await imap.store.set_flags(account, box, kept, ["\\Seen", "$Work"], "add")
        w = await Wire.open(imap.plain_port)
        try:
            await w.login(address, PASSWORD)
            await w.ok("SELECT INBOX")
            gone = [(a.uid, a.uid) for a in new[:2]]
            await imap.store.set_flags(account, box, gone, ["\\Deleted"], "add")
            await imap.store.expunge(account, box, gone)
            untagged, tagged = await w.command(text)
            # EXPUNGE comes with the command or a NOOP later, as the events arrive (through
            # LISTEN/NOTIFY on PostgreSQL): only the FETCH lines are compared
            out += [line for line in untagged if b" FETCH " in line] + [tagged]
        finally:
            await w.close()
    return out


async def test_map_read_in_pieces_while_writing(
    imap: ImapServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """fetch_flags_loading with pieces of 2 and 3 UIDs: the same bytes as the general path
    with the map read first, including the messages expunged after SELECT (still numbered,
    no data, EXPUNGE after the command) and "n:*" beyond the last UID."""
    monkeypatch.setattr(fetch_flags, "MAP_FIRST", 2)
    monkeypatch.setattr(fetch_flags, "MAP_PIECE", 3)
    monkeypatch.setattr(fetch_flags, "CHUNK", 2)
    fast = await _first_after_select(imap, ANN)
    monkeypatch.setattr(fetch, "FAST_FLAGS", False)
    general = await _first_after_select(imap, "bob@example.org")
    assert fast == general
    # the first round: UIDs 1 and 2 expunged after SELECT, still numbered (no data)
    assert fast[:2] == [b"* 3 FETCH (UID 3 FLAGS (\\Seen $Work))", b"T3 OK FETCH completed"]
    # UID FETCH 11:*: 13 and 14 went after SELECT, so 15 is still the 7th message
    assert b"* 7 FETCH (UID 15 FLAGS (\\Seen $Work))" in fast
    assert b"* 8 FETCH (UID 18)" in fast  # FETCH 7:* (UID): the 7th (UID 17) is gone
