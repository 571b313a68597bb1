"""A CONDSTORE/QRESYNC resynchronisation with imapclient (RFC 7162 §3.2.5, §3.2.6): a client
caches the mailbox, goes away, others change it, and one SELECT brings the cache up to date."""

from __future__ import annotations

import asyncio
import re
from pathlib import Path

import imapclient
from imapclient.response_parser import parse_fetch_response

from postbus.imap.proto.sequence import SequenceSet
from postbus.store import Store
from tests.imap.conftest import PASSWORD, ImapServer, message, start_imap

ANN = "ann@example.org"
COUNT = 30


def connect(imap: ImapServer) -> imapclient.IMAPClient:
    client = imapclient.IMAPClient(
        "127.0.0.1", imap.implicit_port, ssl=True, ssl_context=imap.client_tls(), timeout=10
    )
    client.login(ANN, PASSWORD)
    return client


Cache = dict[int, tuple[set[bytes], int]]  # uid -> (flags, modseq)


def full_cache(client: imapclient.IMAPClient) -> Cache:
    data = client.fetch(client.search("ALL"), ["FLAGS", "MODSEQ"])
    return {uid: (set(d[b"FLAGS"]), d[b"MODSEQ"][0]) for uid, d in data.items()}


def select_qresync(
    client: imapclient.IMAPClient, uidvalidity: int, modseq: int, known: str
) -> tuple[list[int], Cache, int]:
    """SELECT INBOX (QRESYNC (...)): (vanished UIDs, changed messages, new HIGHESTMODSEQ).
    imapclient has no QRESYNC parameter for select_folder; the SELECT goes through imaplib."""
    imap = client._imap
    imap.untagged_responses.clear()
    typ, _ = imap._simple_command("SELECT", "INBOX", f"(QRESYNC ({uidvalidity} {modseq} {known}))")
    assert typ == "OK"
    imap.state = "SELECTED"
    untagged = imap.untagged_responses
    vanished: list[int] = []
    for line in untagged.get("VANISHED", []):
        m = re.fullmatch(rb"\(EARLIER\) ([\d:,]+)", line)
        assert m is not None, line
        for a, b in SequenceSet.parse(m[1].decode()).resolve(0):
            vanished += range(a, b + 1)
    changed = parse_fetch_response(untagged.get("FETCH", []), True, True)
    highest = int(untagged["HIGHESTMODSEQ"][0])
    return sorted(vanished), {
        uid: (set(d[b"FLAGS"]), d[b"MODSEQ"][0]) for uid, d in changed.items()
    }, highest


async def test_qresync_after_changes_while_away(store: Store, tmp_path: Path) -> None:
    imap, servers = await start_imap(store, tmp_path)
    try:
        await run_resync(imap)
    finally:
        for server in servers:
            server.close()


async def run_resync(imap: ImapServer) -> None:
    account = imap.users[ANN]
    inbox = await imap.store.get_mailbox(account, "INBOX")
    for i in range(COUNT):
        flags = ["\\Seen"] if i % 2 else []
        await imap.store.append(account, inbox.id, message(f"cached {i}"), flags)

    # 1. the client caches the mailbox and its HIGHESTMODSEQ, then goes away
    def first_visit() -> tuple[int, int, Cache]:
        client = connect(imap)
        assert b"QRESYNC" in client.capabilities()
        assert client.enable("QRESYNC") == [b"QRESYNC"]
        info = client.select_folder("INBOX")
        cache = full_cache(client)
        client.logout()
        return info[b"UIDVALIDITY"], info[b"HIGHESTMODSEQ"], cache

    uidvalidity, modseq, cache = await asyncio.to_thread(first_visit)
    assert len(cache) == COUNT and max(m for _, m in cache.values()) <= modseq

    # 2. while it is away: another IMAP session (no CONDSTORE) and the server itself change it
    def other_session() -> None:
        client = connect(imap)
        client.select_folder("INBOX")
        client.add_flags([3, 4], [b"\\Flagged"])
        client.remove_flags([2], [b"\\Seen"])
        client.add_flags([7, 8, 9], [b"\\Deleted"])
        client.uid_expunge([7, 9])  # 8 stays, flagged \Deleted
        client.move([12], "Sent")
        client.logout()

    await asyncio.to_thread(other_session)
    await imap.store.set_flags(account, inbox.id, [(20, 20)], ["$Important"], "add")
    await imap.store.set_flags(account, inbox.id, [(25, 26)], ["\\Deleted"], "add")
    await imap.store.expunge(account, inbox.id, [(25, 25)])
    await imap.store.append(account, inbox.id, message("arrived while away"))
    await imap.store.set_flags(account, inbox.id, [(5, 5)], ["\\Flagged"], "add")
    await imap.store.set_flags(account, inbox.id, [(5, 5)], ["\\Flagged"], "remove")  # and back

    rows = await imap.store.uids_and_flags(account, inbox.id)
    server_uids = {uid: m for uid, _, _, m in rows}
    expected_gone = [7, 9, 12, 25]
    expected_changed = sorted(uid for uid, m in server_uids.items() if m > modseq)
    assert expected_changed == [2, 3, 4, 5, 8, 20, 26, COUNT + 1]

    # 3. the client comes back: one SELECT tells it exactly what changed
    def second_visit() -> tuple[list[int], Cache, int, Cache]:
        client = connect(imap)
        client.enable("QRESYNC")
        vanished, changed, highest = select_qresync(client, uidvalidity, modseq, f"1:{COUNT}")
        truth = full_cache(client)
        # the same question as UID FETCH ... (CHANGEDSINCE n VANISHED) (RFC 7162 §3.2.6)
        client._imap.untagged_responses.clear()
        every = list(range(1, COUNT + 2))
        again = client.fetch(every, ["FLAGS"], modifiers=[f"CHANGEDSINCE {modseq}", "VANISHED"])
        assert client._imap.untagged_responses["VANISHED"] == [b"(EARLIER) 7,9,12,25"]
        assert {uid: (set(d[b"FLAGS"]), d[b"MODSEQ"][0]) for uid, d in again.items()} == changed
        # and with the new HIGHESTMODSEQ there is nothing left to tell
        nothing = select_qresync(client, uidvalidity, highest, f"1:{COUNT + 1}")
        assert nothing[:2] == ([], {})
        # a wrong UIDVALIDITY: no resync data at all (the client must start over)
        assert select_qresync(client, uidvalidity + 1, modseq, "1:9")[:2] == ([], {})
        client.logout()
        return vanished, changed, highest, truth

    vanished, changed, highest, truth = await asyncio.to_thread(second_visit)
    assert vanished == expected_gone
    assert sorted(changed) == expected_changed
    box = await imap.store.get_mailbox(account, "INBOX")
    assert highest == box.highestmodseq
    for uid, (flags, value) in changed.items():
        assert value == server_uids[uid]
        assert (flags, value) == truth[uid]
    assert changed[3][0] == {b"\\Flagged"} and changed[4][0] == {b"\\Flagged", b"\\Seen"}
    assert b"\\Seen" not in changed[2][0] and b"$Important" in changed[20][0]
    assert b"\\Deleted" in changed[8][0] and b"\\Deleted" in changed[26][0]
    assert changed[5][0] == cache[5][0]  # flagged and unflagged: same flags, a new modseq

    # 4. the cache, brought up to date with only that answer, equals the server's mailbox
    for uid in vanished:
        cache.pop(uid, None)
    cache.update(changed)
    assert cache == truth
