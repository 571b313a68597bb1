"""Real IMAP clients against postbus: mbsync (isync) two-way sync, then incremental changes."""

from __future__ import annotations

import asyncio
from pathlib import Path

from postbus.store import Store
from tests.conftest import require_tool
from tests.imap.conftest import PASSWORD, ImapServer, message, start_imap

MESSAGES = 1000  # issue 4: a 1,000-message mailbox
ANN = "ann@example.org"


def mbsync_config(tmp: Path, port: int, cert: Path) -> Path:
    maildir = tmp / "Maildir"
    maildir.mkdir()
    config = tmp / "mbsyncrc"
    config.write_text(
        f"""IMAPAccount postbus
Host 127.0.0.1
Port {port}
User {ANN}
Pass "{PASSWORD}"
SSLType IMAPS
CertificateFile {cert}
SystemCertificates no
AuthMechs PLAIN

IMAPStore remote
Account postbus

MaildirStore local
Path {maildir}/
Inbox {maildir}/INBOX
SubFolders Verbatim

Channel sync
Far :remote:
Near :local:
Patterns INBOX Archive
Create Both
Expunge Both
SyncState *
"""
    )
    return config


async def mbsync(config: Path) -> str:
    process = await asyncio.create_subprocess_exec(
        require_tool("mbsync"), "-c", str(config), "-a", "-V",
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
    )
    out, _ = await asyncio.wait_for(process.communicate(), 120)
    text = out.decode(errors="replace")
    assert process.returncode == 0, text[-3000:]
    return text


def local_files(maildir: Path, folder: str = "INBOX") -> list[Path]:
    return sorted(p for sub in ("cur", "new") for p in (maildir / folder / sub).glob("*"))


async def test_mbsync_two_way_sync(store: Store, tmp_path: Path) -> None:
    require_tool("mbsync")
    imap, servers = await start_imap(store, tmp_path / "server")
    try:
        await run_sync(imap, tmp_path)
    finally:
        for server in servers:
            server.close()


async def run_sync(imap: ImapServer, tmp_path: Path) -> None:
    account = imap.users[ANN]
    inbox = await imap.store.get_mailbox(account, "INBOX")
    await asyncio.gather(*(
        imap.store.append(account, inbox.id, message(f"bulk {i}", f"Body of {i}.\r\n"),
                          ["\\Seen"] if i % 3 else [])
        for i in range(MESSAGES)
    ))
    config = mbsync_config(tmp_path, imap.implicit_port, imap.cert)
    maildir = tmp_path / "Maildir"

    # 1. the first sync brings every message down, with its flags
    await mbsync(config)
    files = local_files(maildir)
    assert len(files) == MESSAGES
    seen = [f for f in files if "S" in f.name.rsplit(":2,", 1)[-1]]
    assert len(seen) == MESSAGES - MESSAGES // 3 - (1 if MESSAGES % 3 else 0)
    # mbsync keeps Maildir files with LF line ends
    contents = {f.read_bytes().replace(b"\r\n", b"\n").split(b"\n\n", 1)[1] for f in files}
    assert b"Body of 7.\n" in contents

    # 2. changes on both sides
    for i in range(5):
        await imap.store.append(account, inbox.id, message(f"server new {i}"))
    await imap.store.set_flags(account, inbox.id, [(1, 1)], ["\\Flagged"], "add")
    await imap.store.set_flags(account, inbox.id, [(2, 2)], ["\\Deleted"], "add")
    await imap.store.expunge(account, inbox.id)
    (maildir / "INBOX" / "new" / "1.local.host").write_bytes(message("written offline"))
    victim = next(f for f in local_files(maildir) if ",U=10:" in f.name)
    victim.unlink()
    unread = next(f for f in local_files(maildir) if ",U=3:" in f.name)
    unread.rename(unread.with_name(unread.name.split(":2,")[0] + ":2,S"))

    # 3. the incremental sync carries each of them across
    await mbsync(config)
    files = local_files(maildir)
    assert len(files) == MESSAGES + 5 + 1 - 2  # new both ways; one expunged on each side
    names = " ".join(f.name for f in files)
    assert ",U=2:" not in names and ",U=10:" not in names
    flagged = next(f for f in files if ",U=1:" in f.name)
    assert "F" in flagged.name.rsplit(":2,", 1)[-1]
    rows = await imap.store.uids_and_flags(account, inbox.id)
    uids = {uid: mask for uid, mask, _, _ in rows}
    assert 10 not in uids and 2 not in uids
    assert uids[3] & 1  # \Seen came up from the Maildir
    box = await imap.store.get_mailbox(account, "INBOX")
    assert box.message_count == MESSAGES + 5 + 1 - 2
    found = await imap.store.search(account, "offline", inbox.id)
    assert len(found) == 1

    # 4. a sync with nothing new changes nothing
    await mbsync(config)
    assert len(local_files(maildir)) == MESSAGES + 4
