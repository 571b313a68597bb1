"""What the side-by-side benchmarks share: ports, the Debian peers they run beside postbus, and
loading the same messages into postbus.

Each benchmark starts its own peer instances (Dovecot, Postfix) on loopback ports, as
/work/shared/peers.md describes, and stops them afterwards; nothing here touches a system
instance.
"""

from __future__ import annotations

import os
import pwd
import shutil
import socket
import subprocess
import time
from collections.abc import AsyncIterator, Sequence
from pathlib import Path

LOAD_BATCH = 250


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def wait_for_port(port: int, seconds: float = 30.0) -> None:
    deadline = time.monotonic() + seconds
    while True:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)


def install_debian(packages: Sequence[str], present: Sequence[str]) -> bool:
    """Install ``packages`` with apt-get unless every path in ``present`` exists; as root only."""
    if all(shutil.which(p) or Path(p).exists() for p in present):
        return True
    if os.geteuid() != 0:
        print(f"{' '.join(packages)} missing and we are not root: that peer is skipped")
        return False
    print(f"installing {' '.join(packages)} with apt-get", flush=True)
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    # Postfix asks how to configure itself: "No configuration", ours is written per run.
    subprocess.run(
        ["debconf-set-selections"],
        check=True,
        input=b"postfix postfix/main_mailer_type select No configuration\n",
    )
    subprocess.run(["apt-get", "update", "-q"], check=True, env=env)
    subprocess.run(["apt-get", "install", "-y", "-q", *packages], check=True, env=env)
    # The packages may start system instances on the standard ports; ours use their own.
    for stop in (["service", "dovecot", "stop"], ["postfix", "stop"]):
        if shutil.which(stop[0]):  # only what this install brought
            subprocess.run(stop, capture_output=True)
    return all(shutil.which(p) or Path(p).exists() for p in present)


def vmail_user() -> pwd.struct_passwd:
    """The unprivileged user Dovecot delivers as (created once)."""
    try:
        return pwd.getpwnam("vmail")
    except KeyError:
        subprocess.run(["useradd", "-r", "-M", "-s", "/usr/sbin/nologin", "vmail"], check=True)
        return pwd.getpwnam("vmail")


def write_maildir(maildir: Path, messages: Sequence[bytes]) -> None:
    """One file per message, LF line endings (Dovecot's own format); S= and W= as Dovecot
    names them (file size, and the CRLF size), so it need not read a file to count it."""
    cur = maildir / "cur"
    for sub in ("cur", "new", "tmp"):
        (maildir / sub).mkdir(parents=True)
    base = int(time.time()) - len(messages)
    for index, raw in enumerate(messages):
        stored = raw.replace(b"\r\n", b"\n")
        name = f"{base + index}.M{index}P{os.getpid()}.bench,S={len(stored)},W={len(raw)}:2,"
        (cur / name).write_bytes(stored)


async def load_postbus(
    data_dir: Path, address: str, password: str, messages: Sequence[bytes]
) -> None:
    """An account with ``messages`` in its INBOX, through the import path (``postbus import``):
    the benchmarks time the servers, not how fast their mailboxes were filled."""
    from postbus.accounts.passwords import hash_password
    from postbus.config import load_config
    from postbus.server import open_store

    async def batches() -> AsyncIterator[list[tuple[bytes, tuple[str, ...], None]]]:
        for start in range(0, len(messages), LOAD_BATCH):
            yield [(raw, (), None) for raw in messages[start : start + LOAD_BATCH]]

    store = await open_store(load_config(None, {}, data_dir=data_dir))
    try:
        await store.add_domain(address.partition("@")[2])
        account = await store.add_account(address, hash_password(password))
        inbox = await store.get_mailbox(account.id, "INBOX")
        async for _ in store.append_batches(account.id, inbox.id, batches()):
            pass
    finally:
        await store.close()
