"""SAVEDATE (RFC 8514) and UIDONLY (RFC 9586) over a real socket, on both backends."""

from __future__ import annotations

import calendar
import time

from tests.imap.conftest import PASSWORD, ImapServer, message
from tests.imap.wire import Wire

ANN = "ann@example.org"
DAY = 86400


async def _client(imap: ImapServer) -> Wire:
    wire = await Wire.open(imap.plain_port)
    await wire.login(ANN, PASSWORD)
    return wire


async def _fill(imap: ImapServer, count: int, mailbox: str = "INBOX") -> int:
    account = imap.users[ANN]
    box = await imap.store.get_mailbox(account, mailbox)
    for i in range(count):
        await imap.store.append(account, box.id, message(f"message {i}"))
    return box.id


async def test_savedate_fetch_and_search(imap: ImapServer) -> None:
    inbox = await _fill(imap, 3)
    # Give the three memberships known save dates: 1, 2 and 3 March 2026, noon UTC.
    noon = calendar.timegm((2026, 3, 1, 12, 0, 0))
    for uid in (1, 2, 3):
        await imap.store.write(
            lambda tx, uid=uid: tx.execute(
                "UPDATE memberships SET saved = $1 WHERE mailbox_id = $2 AND uid = $3",
                noon + (uid - 1) * DAY, inbox, uid,
            )
        )
    wire = await _client(imap)
    assert b" SAVEDATE " in (await wire.ok("CAPABILITY"))[0]
    await wire.ok("SELECT INBOX")
    assert await wire.ok("FETCH 2 (SAVEDATE)") == [
        b'* 2 FETCH (SAVEDATE "02-Mar-2026 12:00:00 +0000")'
    ]
    assert await wire.ok("SEARCH SAVEDON 2-Mar-2026") == [b"* SEARCH 2"]
    assert await wire.ok("SEARCH SAVEDBEFORE 2-Mar-2026") == [b"* SEARCH 1"]
    assert await wire.ok("SEARCH SAVEDSINCE 2-Mar-2026") == [b"* SEARCH 2 3"]
    assert await wire.ok("SEARCH SAVEDATESUPPORTED") == [b"* SEARCH 1 2 3"]
    assert await wire.ok("SEARCH NOT SAVEDSINCE 3-Mar-2026 SAVEDATESUPPORTED") == [
        b"* SEARCH 1 2"
    ]
    _, tagged = await wire.command("SEARCH SAVEDON 31-Foo-2026")
    assert b" BAD " in tagged
    # a copy is saved now: its own save date, the original keeps its own
    await wire.ok("COPY 1 Sent")
    await wire.ok("SELECT Sent")
    line = (await wire.ok("FETCH 1 (SAVEDATE)"))[0]
    today = time.strftime("%d-%b-%Y", time.gmtime()).encode()
    assert today in line
    await wire.close()


async def test_uidonly(imap: ImapServer) -> None:
    await _fill(imap, 3)
    other = await _client(imap)
    await other.ok("SELECT INBOX")
    wire = await _client(imap)
    assert b" UIDONLY " in (await wire.ok("CAPABILITY"))[0]
    assert await wire.ok("ENABLE UIDONLY") == [b"* ENABLED UIDONLY"]
    selected = await wire.ok("SELECT INBOX")
    assert b"* 3 EXISTS" in selected and not any(b"[UNSEEN" in x for x in selected)
    # RFC 9586 §3: sequence numbers are refused with BAD [UIDREQUIRED]
    for command in ("FETCH 1 (FLAGS)", "STORE 1 +FLAGS (\\Seen)", "SEARCH ALL", "COPY 1 Sent",
                    "MOVE 1 Sent", "UID SEARCH 1:2", "UID SEARCH OR UID 1 NOT 2"):
        _, tagged = await wire.command(command)
        assert b"BAD [UIDREQUIRED]" in tagged, command
    # RFC 9586 §3.3: FETCH data as "* uid UIDFETCH (...)"
    assert await wire.ok("UID FETCH 2:* (FLAGS)") == [
        b"* 2 UIDFETCH (FLAGS ())", b"* 3 UIDFETCH (FLAGS ())",
    ]
    assert await wire.ok("UID STORE 3 +FLAGS (\\Flagged)") == [
        b"* 3 UIDFETCH (FLAGS (\\Flagged))"
    ]
    assert await wire.ok("UID SEARCH UID 1:* FLAGGED") == [b"* SEARCH 3"]
    # news from another session: flags as UIDFETCH, expunges as VANISHED, EXISTS as ever
    await other.ok("STORE 1 +FLAGS (\\Seen \\Deleted)")
    await other.ok("EXPUNGE")
    await _fill(imap, 1)
    assert await wire.news(2) == [b"* VANISHED 1", b"* 3 EXISTS"]
    assert await other.news(1) == [b"* 3 EXISTS"]
    await other.ok("STORE 1 +FLAGS.SILENT (\\Answered)")  # uid 2
    assert await wire.news(1) == [b"* 2 UIDFETCH (FLAGS (\\Answered))"]
    await wire.ok("UID STORE 2:3 +FLAGS.SILENT (\\Deleted)")
    assert await wire.ok("UID EXPUNGE 2:3") == [b"* VANISHED 2:3"]
    untagged = await wire.ok("UID MOVE 4 Sent")
    assert untagged[0].startswith(b"* OK [COPYUID ") and untagged[1:] == [b"* VANISHED 4"]
    # the other session, without UIDONLY, keeps getting sequence numbers
    # (one NOOP or several: [3, 2, 1] or [2, 1] then [1], as the events arrive)
    lines = await other.news(3)
    assert len(lines) == 3 and all(line.endswith(b" EXPUNGE") for line in lines), lines
    await wire.close()
    await other.close()


async def test_uidonly_is_enabled_before_select_only(imap: ImapServer) -> None:
    wire = await _client(imap)
    await wire.ok("SELECT INBOX")
    _, tagged = await wire.command("ENABLE UIDONLY")
    assert b" BAD " in tagged  # RFC 5161: ENABLE in the authenticated state
    await wire.close()
