"""NeoMutt against postbus over IMAPS, driven like a person would in tmux: read a message,
flag one, move one to another folder; the store is checked afterwards."""

from __future__ import annotations

import asyncio
import os
import subprocess
import time
from pathlib import Path

from postbus.store import Store
from postbus.store import flags as flagbits
from tests.conftest import require_tool
from tests.imap.conftest import PASSWORD, ImapServer, message, start_imap

ANN = "ann@example.org"
SUBJECTS = ("Lunch on Friday", "Quarterly report", "Holiday photos")
WAIT = 20.0


def muttrc(tmp: Path, imap: ImapServer) -> Path:
    rc = tmp / "muttrc"
    rc.write_text(
        f"""set folder="imaps://ann%40example.org@127.0.0.1:{imap.implicit_port}/"
set spoolfile="+INBOX"
set imap_user="{ANN}"
set imap_pass="{PASSWORD}"
set certificate_file="{imap.cert}"
set ssl_verify_host=no
set ssl_verify_dates=yes
set header_cache="{tmp / 'cache'}/"
set message_cachedir=""
set imap_condstore=yes
set imap_qresync=yes
set record=""
set postponed=""
set sort=mailbox-order
set mark_old=no
set move=no
set delete=yes
set quit=yes
set confirmappend=no
set confirmcreate=no
set wait_key=no
set sleep_time=0
set beep=no
set help=no
set timeout=1
set mail_check=1
set imap_keepalive=30
set imap_check_subscribed=no
set pager_stop=yes
set index_format="%4C %Z %s"
"""
    )
    return rc


class Terminal:
    """NeoMutt in a detached tmux session on its own socket."""

    def __init__(self, tmp: Path, rc: Path, log: Path) -> None:
        self.tmux = require_tool("tmux")
        self.socket = str(tmp / "tmux.sock")
        env = {
            "HOME": str(tmp), "TERM": "xterm-256color", "LANG": "C.UTF-8",
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        }
        self.run("new-session", "-d", "-x", "160", "-y", "40", "-s", "mutt",
                 f"{require_tool('neomutt')} -n -F {rc} -d 2 -l {log}", env=env)

    def run(self, *args: str, env: dict[str, str] | None = None) -> str:
        done = subprocess.run(
            [self.tmux, "-S", self.socket, *args], capture_output=True, text=True, timeout=10,
            env=env, check=False,
        )
        return done.stdout

    def screen(self) -> str:
        return self.run("capture-pane", "-p", "-t", "mutt")

    def keys(self, *keys: str) -> None:
        self.run("send-keys", "-t", "mutt", *keys)

    async def wait_for(self, text: str, gone: bool = False) -> str:
        deadline = time.monotonic() + WAIT
        while True:
            screen = await asyncio.to_thread(self.screen)
            if (text in screen) != gone:
                return screen
            if time.monotonic() > deadline:
                raise AssertionError(f"waited for {text!r} ({gone=}); the screen:\n{screen}")
            await asyncio.sleep(0.1)

    def close(self) -> None:
        self.run("kill-server")


async def test_neomutt_reads_flags_and_moves(store: Store, tmp_path: Path) -> None:
    require_tool("neomutt")
    require_tool("tmux")
    imap, servers = await start_imap(store, tmp_path / "server")
    terminal = None
    try:
        account = imap.users[ANN]
        inbox = await imap.store.get_mailbox(account, "INBOX")
        for subject in SUBJECTS:
            await imap.store.append(
                account, inbox.id, message(subject, f"This is about {subject.lower()}.\r\n")
            )
        await imap.store.create_mailbox(account, "Travel")
        (tmp_path / "cache").mkdir()
        rc = muttrc(tmp_path, imap)
        terminal = Terminal(tmp_path, rc, tmp_path / "first.log")
        await drive(terminal)
        await check_store(imap, account, inbox.id)
        terminal.close()
        # while NeoMutt is away, message 2 is flagged elsewhere: on its return it brings its
        # header cache up to date with UID FETCH (CHANGEDSINCE n VANISHED) (RFC 7162 §3.2.6)
        await imap.store.set_flags(account, inbox.id, [(2, 2)], ["\\Flagged"], "add")
        terminal = Terminal(tmp_path, rc, tmp_path / "second.log")
        screen = await terminal.wait_for(SUBJECTS[1])
        flags = next(row for row in screen.splitlines() if SUBJECTS[1] in row)
        assert "!" in flags, screen  # %Z shows the flag
        terminal.keys("q")
        await terminal.wait_for(SUBJECTS[1], gone=True)
        terminal.close()
        log = (tmp_path / "second.log0").read_text(errors="replace")
        assert "CHANGEDSINCE" in log and "QRESYNC failed" not in log
        # message 1 expunged while it is away: NeoMutt 20220429 numbers its cached messages
        # without the vanished ones and then reloads the mailbox (its "QRESYNC failed"
        # path); the server's answer is RFC 7162's, and what the person sees is right
        await imap.store.set_flags(account, inbox.id, [(1, 1)], ["\\Deleted"], "add")
        await imap.store.expunge(account, inbox.id, [(1, 1)])
        terminal = Terminal(tmp_path, rc, tmp_path / "third.log")
        screen = await terminal.wait_for(SUBJECTS[1])
        assert SUBJECTS[0] not in screen
        assert "!" in next(row for row in screen.splitlines() if SUBJECTS[1] in row)
        terminal.keys("q")
    finally:
        if terminal is not None:
            terminal.close()
        for server in servers:
            server.close()


async def drive(t: Terminal) -> None:
    await t.wait_for(SUBJECTS[2])
    # read the second message: the pager shows its body
    t.keys("2", "Enter")  # jump to message 2
    t.keys("Enter")  # open it
    await t.wait_for("This is about quarterly report.")
    t.keys("q")
    await t.wait_for("This is about quarterly report.", gone=True)
    # flag the first
    t.keys("1", "Enter")
    t.keys("F")
    # move the third to Travel: save, then the original is deleted and purged on sync
    t.keys("3", "Enter")
    t.keys("s")
    await t.wait_for("Save to mailbox")
    t.keys("C-u", "=Travel", "Enter")
    await t.wait_for("Holiday photos")
    t.keys("$")  # sync: flags up, the moved message expunged
    await t.wait_for(SUBJECTS[2], gone=True)
    t.keys("q")


async def check_store(imap: ImapServer, account: int, inbox_id: int) -> None:
    deadline = time.monotonic() + WAIT
    while True:
        rows = await imap.store.uids_and_flags(account, inbox_id)
        masks = {uid: mask for uid, mask, _, _ in rows}
        archive = await imap.store.get_mailbox(account, "Travel")
        done = (
            sorted(masks) == [1, 2]
            and masks[1] & flagbits.FLAGGED
            and masks[2] & flagbits.SEEN
            and archive.message_count == 1
        )
        if done or time.monotonic() > deadline:
            break
        await asyncio.sleep(0.1)
    assert sorted(masks) == [1, 2], masks  # message 3 left INBOX
    assert masks[1] & flagbits.FLAGGED and not masks[1] & flagbits.SEEN
    assert masks[2] & flagbits.SEEN and not masks[2] & flagbits.FLAGGED
    assert archive.message_count == 1
    found = await imap.store.summaries(account, archive.id, [(1, 2**31)])
    assert [summary.subject for summary in found] == [SUBJECTS[2]]
