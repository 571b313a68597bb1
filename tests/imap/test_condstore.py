"""CONDSTORE (RFC 7162 §3.1) over real sockets on both backends, and its grammar."""

from __future__ import annotations

import asyncio
import re
import socket
import time

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from postbus.imap.proto import commands as c
from postbus.imap.proto.sequence import SequenceSet
from postbus.store import flags as flagbits
from tests.imap.conftest import PASSWORD, ImapServer, message
from tests.imap.test_receiver import events, one

ANN = "ann@example.org"
SEQ = SequenceSet.parse


class Raw:
    """A plain-text IMAP conversation on the loopback listener: commands in, raw answers out."""

    def __init__(self, port: int, user: str = ANN) -> None:
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=10)
        self.buffer = b""
        self.n = 0
        self._until(b"\r\n")
        assert b" OK " in self.cmd(f'LOGIN {user} "{PASSWORD}"').splitlines()[-1]

    def _until(self, marker: bytes) -> bytes:
        while marker not in self.buffer:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise ConnectionError("server closed")
            self.buffer += chunk
        end = self.buffer.index(marker) + len(marker)
        data, self.buffer = self.buffer[:end], self.buffer[end:]
        return data

    def cmd(self, text: str | bytes) -> bytes:
        """Send one command; everything up to and including its tagged line."""
        self.n += 1
        tag = b"t%d" % self.n
        line = text.encode() if isinstance(text, str) else text
        self.sock.sendall(tag + b" " + line + b"\r\n")
        data = b""
        while True:
            data += self._until(b"\r\n")
            last = data[: -2].rsplit(b"\r\n", 1)[-1]
            if last.startswith(tag + b" ") and re.search(rb"\{\d+\}$", last) is None:
                return data

    def ok(self, text: str | bytes) -> list[bytes]:
        """The untagged lines of a command that must succeed, and its tagged line last."""
        lines = self.cmd(text).split(b"\r\n")[:-1]
        assert b" OK" in lines[-1], lines
        return lines

    def noop_until(self, needle: bytes, tries: int = 100) -> list[bytes]:
        """NOOP until an untagged line holds ``needle`` (PostgreSQL's events arrive through
        NOTIFY, a little after the commit); every line seen on the way."""
        seen: list[bytes] = []
        for _ in range(tries):
            lines = self.ok("NOOP")[:-1]
            seen += lines
            if any(needle in line for line in lines):
                return seen
            time.sleep(0.05)
        raise AssertionError(f"never saw {needle!r}: {seen}")

    def close(self) -> None:
        self.sock.close()


async def fill(imap: ImapServer, count: int, mailbox: str = "INBOX") -> int:
    account = imap.users[ANN]
    box = await imap.store.get_mailbox(account, mailbox)
    for i in range(count):
        await imap.store.append(account, box.id, message(f"message {i}", f"Body {i}.\r\n"))
    return box.id


async def modseqs(imap: ImapServer, mailbox_id: int) -> dict[int, int]:
    rows = await imap.store.uids_and_flags(imap.users[ANN], mailbox_id)
    return {uid: modseq for uid, _, _, modseq in rows}


def run(fn, *args):  # type: ignore[no-untyped-def]
    return asyncio.to_thread(fn, *args)


async def test_highestmodseq_in_select_status_and_fetch_modseq(imap: ImapServer) -> None:
    box = await fill(imap, 3)
    highest = (await imap.store.get_mailbox(imap.users[ANN], "INBOX")).highestmodseq
    expected = await modseqs(imap, box)

    def talk() -> None:
        c = Raw(imap.plain_port)
        caps = c.ok("CAPABILITY")[0]
        assert b" CONDSTORE" in caps and b" QRESYNC" in caps
        status = c.ok("STATUS INBOX (MESSAGES HIGHESTMODSEQ)")[0]
        assert status == b"* STATUS INBOX (MESSAGES 3 HIGHESTMODSEQ %d)" % highest
        lines = c.ok("SELECT INBOX (CONDSTORE)")
        assert b"* OK [HIGHESTMODSEQ %d] Highest" % highest in lines
        fetched = c.ok("FETCH 1:* (MODSEQ)")[:-1]
        assert fetched == [b"* %d FETCH (MODSEQ (%d))" % (uid, expected[uid]) for uid in (1, 2, 3)]
        c.close()

    await run(talk)


async def test_changedsince_and_unsolicited_modseq(imap: ImapServer) -> None:
    box = await fill(imap, 4)
    account = imap.users[ANN]
    before = (await imap.store.get_mailbox(account, "INBOX")).highestmodseq
    c = await run(Raw, imap.plain_port)
    await run(c.ok, "SELECT INBOX")
    # nothing enabled yet: another agent's change comes without MODSEQ
    await imap.store.set_flags(account, box, [(3, 3)], ["\\Flagged"], "add")
    seen = await run(c.noop_until, b"* 3 FETCH")
    assert seen == [b"* 3 FETCH (UID 3 FLAGS (\\Flagged))"]
    lines = await run(c.ok, f"FETCH 1:* (FLAGS) (CHANGEDSINCE {before})")
    now = await modseqs(imap, box)
    assert lines[:-1] == [b"* 3 FETCH (FLAGS (\\Flagged) MODSEQ (%d))" % now[3]]
    # CHANGEDSINCE enabled CONDSTORE (§3.1): unsolicited FETCH now carry UID and MODSEQ
    await imap.store.set_flags(account, box, [(2, 2)], ["$Label"], "add")
    noop = await run(c.noop_until, b"* 2 FETCH")
    now = await modseqs(imap, box)
    assert noop == [b"* 2 FETCH (UID 2 FLAGS ($Label) MODSEQ (%d))" % now[2]]
    # UID FETCH ... CHANGEDSINCE: only the changed ones in the set
    lines = await run(c.ok, f"UID FETCH 2:4 (FLAGS) (CHANGEDSINCE {now[3]})")
    assert lines[:-1] == [b"* 2 FETCH (UID 2 FLAGS ($Label) MODSEQ (%d))" % now[2]]
    assert (await run(c.ok, f"FETCH 1:* (UID) (CHANGEDSINCE {now[2]})"))[:-1] == []
    await run(c.close)


async def test_store_unchangedsince_reports_modified(imap: ImapServer) -> None:
    box = await fill(imap, 3)
    account = imap.users[ANN]
    c = await run(Raw, imap.plain_port)
    await run(c.ok, "SELECT INBOX")
    start = await modseqs(imap, box)
    await imap.store.set_flags(account, box, [(2, 2)], ["\\Answered"], "add")  # someone else
    await run(c.noop_until, b"* 2 FETCH")
    # RFC 7162 §3.1.3 example: the message changed since is left alone and named
    lines = await run(c.ok, f"STORE 1:3 (UNCHANGEDSINCE {start[3]}) +FLAGS (\\Seen)")
    after = await modseqs(imap, box)
    assert b" OK [MODIFIED 2] " in lines[-1]
    assert lines[:-1] == [
        b"* 1 FETCH (UID 1 FLAGS (\\Seen) MODSEQ (%d))" % after[1],
        b"* 3 FETCH (UID 3 FLAGS (\\Seen) MODSEQ (%d))" % after[3],
    ]
    flags = {uid: f for uid, f, _, _ in await imap.store.uids_and_flags(account, box)}
    assert flags[2] & flagbits.SEEN == 0 and flags[1] & flagbits.SEEN  # 2 was left alone
    await imap.store.set_flags(account, box, [(3, 3)], ["\\Draft"], "add")  # someone else
    await run(c.noop_until, b"* 3 FETCH")
    # .SILENT under CONDSTORE still tells the new modseq (no FLAGS); UID STORE names UIDs
    lines = await run(c.ok, f"UID STORE 1:3 (UNCHANGEDSINCE {after[1]}) +FLAGS.SILENT ($X)")
    final = await modseqs(imap, box)
    assert b" OK [MODIFIED 3] " in lines[-1]
    assert lines[:-1] == [
        b"* 1 FETCH (UID 1 MODSEQ (%d))" % final[1],
        b"* 2 FETCH (UID 2 MODSEQ (%d))" % final[2],
    ]
    # UNCHANGEDSINCE 0 always fails (every modseq is at least 1)
    assert b" OK [MODIFIED 1:3] " in (await run(c.ok, "STORE 1:3 (UNCHANGEDSINCE 0) FLAGS ()"))[-1]
    await run(c.close)


async def test_search_modseq_plain_and_esearch(imap: ImapServer) -> None:
    box = await fill(imap, 3)
    account = imap.users[ANN]
    start = (await imap.store.get_mailbox(account, "INBOX")).highestmodseq
    await imap.store.set_flags(account, box, [(1, 1), (3, 3)], ["\\Flagged"], "add")
    now = await modseqs(imap, box)

    def talk() -> None:
        c = Raw(imap.plain_port)
        c.ok("SELECT INBOX")
        top = max(now[1], now[3])
        assert c.ok(f"SEARCH MODSEQ {start + 1}")[0] == b"* SEARCH 1 3 (MODSEQ %d)" % top
        assert c.ok(f'SEARCH MODSEQ "/flags/\\\\draft" all {start + 1}')[0].startswith(
            b"* SEARCH 1 3 (MODSEQ"
        )
        lines = c.ok(f"UID SEARCH RETURN (COUNT MIN) MODSEQ {start + 1}")
        assert lines[0] == b'* ESEARCH (TAG "t5") UID MIN 1 COUNT 2 MODSEQ %d' % top
        assert c.ok(f"SEARCH MODSEQ {top + 1}")[0] == b"* SEARCH"
        c.close()

    await run(talk)


async def test_store_and_seen_fetch_carry_modseq_once_enabled(imap: ImapServer) -> None:
    box = await fill(imap, 2)

    def talk() -> None:
        c = Raw(imap.plain_port)
        c.ok("ENABLE CONDSTORE")
        c.ok("SELECT INBOX")
        stored = c.ok("STORE 1 +FLAGS (\\Flagged)")[0]
        assert re.fullmatch(rb"\* 1 FETCH \(UID 1 FLAGS \(\\Flagged\) MODSEQ \(\d+\)\)", stored)
        body = c.cmd("FETCH 2 (BODY[TEXT])")
        assert re.search(rb"BODY\[TEXT\] \{9\}\r\nBody 1\.\r\n FLAGS \(\\Seen\) UID 2 "
                         rb"MODSEQ \(\d+\)\)", body), body
        c.close()

    await run(talk)
    assert box


async def test_store_modifiers_need_a_selected_mailbox_and_good_values(imap: ImapServer) -> None:
    await fill(imap, 1)

    def talk() -> None:
        c = Raw(imap.plain_port)
        c.ok("SELECT INBOX")
        assert b"BAD" in c.cmd("STORE 1 (UNCHANGEDSINCE x) +FLAGS (\\Seen)")
        assert b"BAD" in c.cmd("FETCH 1 (FLAGS) (CHANGEDSINCE 0)")  # a mod-sequence-value
        assert b"BAD" in c.cmd("FETCH 1 (FLAGS) (CHANGEDSINCE 9223372036854775808)")
        assert b"BAD" in c.cmd("FETCH 1 (FLAGS) (CHANGEDSINCE 5 VANISHED)")  # not UID FETCH
        assert b"BAD" in c.cmd("UID FETCH 1 (FLAGS) (CHANGEDSINCE 5 VANISHED)")  # no QRESYNC
        assert b"BAD" in c.cmd("SELECT INBOX (QRESYNC (1 1))")  # no ENABLE QRESYNC
        assert b"BAD" in c.cmd("SELECT INBOX (FOO)")
        c.ok("NOOP")
        c.close()

    await run(talk)


# -- grammar: RFC 7162 examples, whole and byte by byte -------------------------------------

GRAMMAR = [
    (b"a103 SELECT INBOX (CONDSTORE)\r\n", c.Select("a103", "INBOX", False, True)),
    (b"A02 SELECT INBOX (QRESYNC (67890007 20050715194045000 41,43:211,214:541))\r\n",
     c.Select("A02", "INBOX", False, False,
              c.Qresync(67890007, 20050715194045000, SEQ("41,43:211,214:541")))),
    (b"B04 SELECT INBOX (QRESYNC (67890007 90060115194045000 1:29997 "
     b"(5000,7500,9000,9990:9999 15000,22500,27000,29970,29973,29976,29979,29982,29985,"
     b"29988,29991,29994,29997)))\r\n",
     c.Select("B04", "INBOX", False, False, c.Qresync(
         67890007, 90060115194045000, SEQ("1:29997"),
         (SEQ("5000,7500,9000,9990:9999"),
          SEQ("15000,22500,27000,29970,29973,29976,29979,29982,29985,29988,29991,29994,29997")),
     ))),
    (b"s100 UID FETCH 1:* (FLAGS) (CHANGEDSINCE 12345)\r\n",
     c.Fetch("s100", True, SEQ("1:*"),
             (c.FetchAtt("UID", label="UID"), c.FetchAtt("FLAGS", label="FLAGS")), 12345)),
    (b"s100 UID FETCH 300:500 (FLAGS) (CHANGEDSINCE 12345 VANISHED)\r\n",
     c.Fetch("s100", True, SEQ("300:500"),
             (c.FetchAtt("UID", label="UID"), c.FetchAtt("FLAGS", label="FLAGS")), 12345, True)),
    (b"a FETCH 1:3 (MODSEQ)\r\n",
     c.Fetch("a", False, SEQ("1:3"), (c.FetchAtt("MODSEQ", label="MODSEQ"),))),
    (b"d105 STORE 7,5,9 (UNCHANGEDSINCE 320162338) +FLAGS.SILENT (\\Deleted)\r\n",
     c.Store("d105", False, SEQ("7,5,9"), "add", True, ("\\Deleted",), 320162338)),
    (b"c101 STORE 50 (UNCHANGEDSINCE 0) FLAGS (\\Seen)\r\n",
     c.Store("c101", False, SEQ("50"), "set", False, ("\\Seen",), 0)),
    (b"a SEARCH MODSEQ \"/flags/\\\\draft\" all 620162338\r\n",
     c.Search("a", False, c.SearchKey("MODSEQ", (620162338,)), None)),
    (b"C STATUS blurdybloop (UIDNEXT MESSAGES HIGHESTMODSEQ)\r\n",
     c.Status("C", "blurdybloop", ("UIDNEXT", "MESSAGES", "HIGHESTMODSEQ"))),
    (b"A01 ENABLE QRESYNC CONDSTORE\r\n", c.Enable("A01", ("QRESYNC", "CONDSTORE"))),
]


@pytest.mark.parametrize(("wire", "expected"), GRAMMAR)
def test_rfc7162_examples_parse_whole_and_byte_by_byte(wire: bytes, expected: object) -> None:
    assert one(wire) == expected


@pytest.mark.parametrize("wire", [
    b"a SELECT INBOX (QRESYNC (1))\r\n",
    b"a SELECT INBOX (QRESYNC (1 0))\r\n",  # a mod-sequence-value is at least 1
    b"a SELECT INBOX (QRESYNC (1 5 1:*))\r\n",  # no "*" in known-uids
    b"a SELECT INBOX (QRESYNC (1 5 1:9 (1:2)))\r\n",
    b"a SELECT INBOX (CONDSTORE QRESYNC)\r\n",
    b"a STORE 1 (UNCHANGEDSINCE) FLAGS ()\r\n",
    b"a STORE 1 (FOO 1) FLAGS ()\r\n",
    b"a FETCH 1 FLAGS (CHANGEDSINCE)\r\n",
    b"a FETCH 1 FLAGS (CHANGEDSINCE 1 CHANGEDSINCE 2)\r\n",
    b"a SEARCH MODSEQ \"/flags/x\" nope 5\r\n",
    b"a SEARCH MODSEQ 99999999999999999999\r\n",
])
def test_bad_modifiers_are_refused(wire: bytes) -> None:
    assert isinstance(one(wire), c.BadCommand)


@settings(max_examples=200, deadline=None)
@given(st.sampled_from([g[0] for g in GRAMMAR]), st.integers(0, 200), st.binary(max_size=4))
def test_fuzz_mutated_modifiers(wire: bytes, at: int, junk: bytes) -> None:
    at = at % (len(wire) + 1)
    mutated = wire[:at] + junk + wire[at + len(junk) :]
    for event in events(mutated + b"\r\nz NOOP\r\n"):
        assert isinstance(event, c.Command | c.BadCommand) or event.__class__.__name__ in (
            "NeedLiteral", "Line"
        )
