"""FETCH FLAGS fast path and the lazy sequence map (issue 4 point 7), over real sockets on
both backends.

The fast path (postbus/imap/commands/fetch_flags.py) must write byte for byte what the
general path writes: each conversation is run twice, with the fast path on and off, on a
mailbox with keywords, \\Deleted, several mod-sequences and holes left by expunges.
"""

from __future__ import annotations

import pytest

from postbus.imap.commands import fetch, fetch_flags
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
