"""A server killed with SIGKILL mid-stream loses no message it acknowledged with 250.

``postbus serve`` runs as a real process with an smtp-mx listener over SQLite. Twenty
smtplib clients send messages (most small enough to live in the database, some in files),
each with a unique token in its Subject; a token counts
as acknowledged only when its DATA got 250. Halfway the server is SIGKILLed, restarted, and
the clients finish. Then every acknowledged message must be in the store byte for byte, the
counters must agree with the rows, and every body a message names must be stored.
"""

from __future__ import annotations

import asyncio
import os
import signal
import smtplib
import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from postbus.accounts.passwords import hash_password
from postbus.store import open_sqlite
from tests.conftest import free_port
from tests.smtp.dnsmasq import start_dnsmasq

CLIENTS = 20
TOTAL = 3000
KILL_AFTER = TOTAL // 2  # acknowledged messages before the SIGKILL
DEADLINE = 60.0  # seconds for the whole run
ADDRESS = "inbox@example.test"


def _message(token: str) -> bytes:
    # Every 25th body is too big for the database: files and rows both cross the kill.
    filler = "x" * 76 + "\r\n"
    body = filler * (2000 if int(token[1:]) % 25 == 0 else 0) + f"body of {token}\r\n"
    return (
        f"From: load@remote.test\r\nTo: {ADDRESS}\r\nSubject: token {token}\r\n"
        f"Message-ID: <{token}@remote.test>\r\n\r\n{body}"
    ).encode()


def _start(config: Path) -> subprocess.Popen[bytes]:
    process = subprocess.Popen(
        [sys.executable, "-m", "postbus", "serve", "--config", str(config)],
        stderr=subprocess.PIPE,
    )
    assert process.stderr is not None
    log = b""
    deadline = time.monotonic() + 30
    while b"postbus is ready" not in log:
        line = process.stderr.readline()
        assert line and time.monotonic() < deadline, log.decode()
        log += line
    # Keep draining stderr so the server never blocks on a full pipe.
    threading.Thread(target=process.stderr.read, daemon=True).start()
    return process


class Load:
    """Client threads that send until TOTAL are acknowledged, across a server restart.

    A message that got no 250 is not retried under its token: the next one gets a new token,
    so a token found in the store without an acknowledgement is simply a message the server
    stored before it died (at-least-once, as SMTP is).
    """

    def __init__(self, port: int) -> None:
        self.port = port
        self.lock = threading.Lock()
        self.next = 0
        self.acked: list[str] = []
        self.failures = 0
        self.stop = threading.Event()

    def _take(self) -> str | None:
        with self.lock:
            if len(self.acked) >= TOTAL or self.stop.is_set():
                return None
            self.next += 1
            return f"t{self.next:05d}"

    def client(self) -> None:
        token = self._take()
        while token is not None:
            try:
                with smtplib.SMTP("127.0.0.1", self.port, timeout=10) as smtp:
                    while token is not None:
                        smtp.sendmail("load@remote.test", [ADDRESS], _message(token))
                        with self.lock:
                            self.acked.append(token)
                        token = self._take()
            except (OSError, smtplib.SMTPException):
                with self.lock:
                    self.failures += 1
                token = self._take()
                time.sleep(0.05)


@pytest.mark.slow
async def test_sigkill_loses_no_acknowledged_message(tmp_path: Path) -> None:
    store = await open_sqlite(tmp_path / "postbus.sqlite3", tmp_path / "blobs")
    await store.add_domain("example.test")
    account = await store.add_account(ADDRESS, hash_password("unused password 1"))
    await store.close()
    port = free_port()
    dns = start_dnsmasq(tmp_path)  # SPF and DMARC lookups get quick answers (none), not timeouts
    config = tmp_path / "postbus.toml"
    config.write_text(
        f'[server]\ndata_dir = "{tmp_path}"\nhostname = "mx.example.test"\n'
        f'[dns]\nnameservers = ["{dns.address}"]\n'
        f'[[listener]]\nprotocol = "smtp-mx"\nhost = "127.0.0.1"\nport = {port}\ntls = "none"\n'
    )
    try:
        await asyncio.to_thread(_run_load, config, port, tmp_path)
    finally:
        dns.stop()
    await _verify(tmp_path, account.id)


def _run_load(config: Path, port: int, tmp_path: Path) -> None:
    server = _start(config)
    load = Load(port)
    threads = [threading.Thread(target=load.client) for _ in range(CLIENTS)]
    started = time.monotonic()
    for thread in threads:
        thread.start()
    try:
        while len(load.acked) < KILL_AFTER and time.monotonic() - started < DEADLINE / 2:
            time.sleep(0.01)
        os.kill(server.pid, signal.SIGKILL)
        server.wait()
        killed_at = len(load.acked)
        server = _start(config)
        for thread in threads:
            thread.join(max(1.0, DEADLINE - (time.monotonic() - started)))
        load.stop.set()
        for thread in threads:
            thread.join(15)
    finally:
        server.send_signal(signal.SIGTERM)
        assert server.wait(30) == 0
    elapsed = time.monotonic() - started
    rate = len(load.acked) / elapsed
    print(f"\n{len(load.acked)} acknowledged ({killed_at} before the kill), "
          f"{load.failures} connection failures, {elapsed:.1f} s, {rate:.0f} msg/s")  # fmt: skip
    assert killed_at >= KILL_AFTER // 2, "too few messages before the kill"
    assert len(load.acked) >= TOTAL or elapsed >= DEADLINE * 0.9
    assert rate > 20, f"throughput collapsed: {rate:.1f} msg/s"
    (tmp_path / "acked.txt").write_text("\n".join(load.acked))


async def _verify(tmp_path: Path, account_id: int) -> None:
    acked = (tmp_path / "acked.txt").read_text().split()
    assert len(set(acked)) == len(acked)
    store = await open_sqlite(tmp_path / "postbus.sqlite3", tmp_path / "blobs")
    try:
        inbox = await store.get_mailbox(account_id, "INBOX")
        summaries = await store.newest(account_id, inbox.id, 10 * TOTAL, None)
        found: dict[str, bytes] = {}
        for summary in summaries:
            token = summary.subject.removeprefix("token ")
            found[token] = await store.read_body(account_id, summary.message_id)
        missing = [t for t in acked if t not in found]
        assert not missing, f"{len(missing)} acknowledged messages lost: {missing[:5]}"
        for token in acked:
            body = found[token]
            # Our own trace fields come first; the client's bytes follow unchanged.
            assert body.startswith(b"Return-Path: <load@remote.test>\r\nAuthentication-Results: ")
            assert b"\r\nReceived: from " in body
            assert body.endswith(_message(token)), token
        account = await store.get_account(account_id)
        blobs = store.blobs
    finally:
        await store.close()
    with sqlite3.connect(tmp_path / "postbus.sqlite3") as db:
        for mailbox_id, count, total in db.execute(
            "SELECT id, message_count, total_bytes FROM mailboxes WHERE account_id = ?",
            (account_id,),
        ):
            members, size = db.execute(
                "SELECT COUNT(*), COALESCE(SUM(m.size), 0) FROM memberships b"
                " JOIN messages m ON m.id = b.message_id WHERE b.mailbox_id = ?",
                (mailbox_id,),
            ).fetchone()
            assert (count, total) == (members, size), f"mailbox {mailbox_id} counters drifted"
        used = db.execute(
            "SELECT COALESCE(SUM(m.size), 0) FROM memberships b JOIN messages m"
            " ON m.id = b.message_id WHERE m.account_id = ?",
            (account_id,),
        ).fetchone()[0]
        assert account.used_bytes == used
        hashes = [row[0] for row in db.execute("SELECT DISTINCT blob_hash FROM messages")]
        kept = {row[0] for row in db.execute("SELECT hash FROM blob_contents")}
    files = [h for h in hashes if h not in kept]
    assert kept and files, "both kinds of body are stored"
    assert all(blobs.exists(h) for h in files), "a body is missing"
