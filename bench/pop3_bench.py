"""POP3 benchmark: RETR throughput of postbus and of Dovecot, side by side, on the same messages.

    .venv/bin/python -m bench.pop3_bench --messages 10000

Both servers get the same ``bench.synth`` messages in one account's INBOX: postbus through
``Store.append`` (SQLite, as a fresh install), Dovecot (Debian's dovecot-pop3d, installed with
apt-get when missing and we are root) in a Maildir, one file per message with LF line endings
as its own delivery would write them. Each server runs in its own processes on loopback ports,
plain POP3 (no TLS) on both, so the numbers compare the servers, not the ciphers.

For each server: one warm-up session (sign-in, UIDL, LIST: Dovecot builds its index, both fill
the page cache), then ``--runs`` timed sessions that RETR every message, ``--window`` commands
in flight (RFC 2449 PIPELINING, which both advertise). Reported: msgs/s and MB/s (octets of the
RETR replies) of the best run, and postbus / Dovecot. Not a test: run it by hand and record the
figures in bench/RESULTS.md.
"""

from __future__ import annotations

import argparse
import asyncio
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from bench.peers import (
    free_port,
    install_debian,
    load_postbus,
    vmail_user,
    wait_for_port,
    write_maildir,
)
from bench.synth import synthetic_messages

ADDRESS = "bench@example.test"
PASSWORD = "bench-password-1"


@dataclass(frozen=True, slots=True)
class Result:
    server: str
    messages: int
    octets: int
    seconds: float

    @property
    def msgs_per_s(self) -> float:
        return self.messages / self.seconds

    @property
    def mb_per_s(self) -> float:
        return self.octets / self.seconds / 1e6


# -- the client --------------------------------------------------------------------------------


class Client:
    """A minimal, fast POP3 client: blocking socket, one buffer, pipelined RETRs."""

    def __init__(self, port: int) -> None:
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=60)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.buffer = bytearray()
        self.position = 0
        self.status()

    def _fill(self) -> None:
        chunk = self.sock.recv(1 << 20)
        if not chunk:
            raise ConnectionError("server closed the connection")
        self.buffer += chunk

    def status(self) -> bytes:
        if self.position > 1 << 20:  # between replies only: multiline() holds offsets
            del self.buffer[: self.position]
            self.position = 0
        while (end := self.buffer.find(b"\r\n", self.position)) < 0:
            self._fill()
        line = bytes(self.buffer[self.position : end])
        self.position = end + 2
        if not line.startswith(b"+OK"):
            raise RuntimeError(f"server said {line!r}")
        return line

    def multiline(self) -> int:
        """Skip one multi-line body; returns its octets (terminator included)."""
        start = self.position - 2  # the status line's CRLF: an empty body is "\r\n.\r\n"
        while (end := self.buffer.find(b"\r\n.\r\n", start)) < 0:
            start = max(self.position - 2, len(self.buffer) - 4)
            self._fill()
        octets = end + 5 - self.position
        self.position = end + 5
        return octets

    def command(self, line: str) -> bytes:
        self.sock.sendall(line.encode() + b"\r\n")
        return self.status()

    def login(self) -> int:
        self.command(f"USER {ADDRESS}")
        self.command(f"PASS {PASSWORD}")
        return int(self.command("STAT").split()[1])

    def retrieve_all(self, count: int, window: int) -> int:
        octets = sent = 0
        for number in range(1, count + 1):
            while sent < min(number + window - 1, count):
                sent += 1
                self.sock.sendall(f"RETR {sent}\r\n".encode())
            octets += len(self.status()) + 2 + self.multiline()
        return octets

    def quit(self) -> None:
        self.command("QUIT")
        self.sock.close()


def measure(name: str, port: int, expected: int, runs: int, window: int) -> Result:
    warm = Client(port)
    count = warm.login()
    if count != expected:
        raise RuntimeError(f"{name}: {count} messages in the maildrop, expected {expected}")
    warm.sock.sendall(b"UIDL\r\n")
    warm.status()
    warm.multiline()
    warm.sock.sendall(b"LIST\r\n")
    warm.status()
    warm.multiline()
    warm.quit()
    best: Result | None = None
    for _ in range(runs):
        client = Client(port)
        client.login()
        started = time.perf_counter()
        octets = client.retrieve_all(count, window)
        elapsed = time.perf_counter() - started
        client.quit()
        result = Result(name, count, octets, elapsed)
        print(f"  {name}: {result.msgs_per_s:8.0f} msgs/s  {result.mb_per_s:7.1f} MB/s", flush=True)
        if best is None or result.seconds < best.seconds:
            best = result
    assert best is not None
    return best


# -- postbus -----------------------------------------------------------------------------------


async def serve_postbus(data_dir: Path, port: int) -> None:
    """The server process: one POP3 listener, as ``postbus serve`` would run it."""
    from postbus.config import Listener, load_config
    from postbus.pop3.server import serve_pop3
    from postbus.server import Service, make_authenticator, open_store

    config = load_config(None, {}, data_dir=data_dir)
    store = await open_store(config)
    service = Service(config, store, None, make_authenticator(config, store))
    server = await serve_pop3(service, Listener("pop3", "pop3", "127.0.0.1", port, "none"))
    async with server:
        await server.serve_forever()


def run_postbus(work: Path, messages: list[bytes], runs: int, window: int) -> Result:
    data_dir = work / "postbus"
    data_dir.mkdir()
    started = time.perf_counter()
    asyncio.run(load_postbus(data_dir, ADDRESS, PASSWORD, messages))
    print(f"postbus: {len(messages)} messages appended in {time.perf_counter() - started:.1f} s",
          flush=True)
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "bench.pop3_bench", "--serve", str(data_dir), str(port)],
        cwd=Path(__file__).resolve().parent.parent,
    )
    try:
        wait_for_port(port)
        return measure("postbus", port, len(messages), runs, window)
    finally:
        process.terminate()
        process.wait(10)


# -- Dovecot (see /work/shared/peers.md) -------------------------------------------------------

DOVECOT_CONF = """\
base_dir = {work}/run
state_dir = {work}/state
log_path = {work}/dovecot.log
info_log_path = {work}/dovecot.log
listen = 127.0.0.1
protocols = pop3
ssl = no
disable_plaintext_auth = no
auth_mechanisms = plain login
mail_location = maildir:{work}/mail/%u/Maildir
mail_uid = {uid}
mail_gid = {gid}
first_valid_uid = {uid}
mail_max_userip_connections = 100
default_vsz_limit = 2G
pop3_uidl_format = %08Xu%08Xv
passdb {{
  driver = passwd-file
  args = {work}/users
}}
userdb {{
  driver = passwd-file
  args = {work}/users
}}
service pop3-login {{
  inet_listener pop3 {{
    port = {port}
  }}
  inet_listener pop3s {{
    port = 0
  }}
}}
"""


def run_dovecot(work: Path, messages: list[bytes], runs: int, window: int) -> Result | None:
    if not install_debian(["dovecot-pop3d"], ["dovecot", "/usr/lib/dovecot/pop3"]):
        return None
    folder = work / "dovecot"
    (folder / "run").mkdir(parents=True)
    (folder / "state").mkdir()
    vmail = vmail_user()
    write_maildir(folder / "mail" / ADDRESS / "Maildir", messages)
    subprocess.run(["chown", "-R", f"{vmail.pw_uid}:{vmail.pw_gid}", str(folder / "mail")],
                   check=True)
    (folder / "users").write_text(f"{ADDRESS}:{{PLAIN}}{PASSWORD}::::::\n")
    port = free_port()
    conf = folder / "dovecot.conf"
    conf.write_text(DOVECOT_CONF.format(work=folder, uid=vmail.pw_uid, gid=vmail.pw_gid,
                                        port=port))
    subprocess.run(["dovecot", "-c", str(conf)], check=True)
    try:
        wait_for_port(port)
        return measure("dovecot", port, len(messages), runs, window)
    finally:
        subprocess.run(["doveadm", "-c", str(conf), "stop"], check=False)


# -- main --------------------------------------------------------------------------------------


def report(ours: Result, theirs: Result | None, total_octets: int) -> str:
    lines = [
        f"POP3 RETR, {ours.messages:,} messages ({total_octets / 1e6:,.1f} MB as stored),"
        " best run, loopback, no TLS",
        f"  {'server':<10}{'msgs/s':>10}{'MB/s':>10}",
    ]
    for r in (ours, theirs):
        if r is not None:
            lines.append(f"  {r.server:<10}{r.msgs_per_s:>10,.0f}{r.mb_per_s:>10.1f}")
    if theirs is not None:
        lines.append(f"  postbus / dovecot: {ours.msgs_per_s / theirs.msgs_per_s:.2f}")
    return "\n".join(lines)


def main() -> None:
    if len(sys.argv) == 4 and sys.argv[1] == "--serve":
        import uvloop

        uvloop.run(serve_postbus(Path(sys.argv[2]), int(sys.argv[3])))
        return
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--messages", type=int, default=10_000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--window", type=int, default=16, help="RETRs in flight")
    parser.add_argument("--no-dovecot", action="store_true")
    parser.add_argument("--keep", action="store_true", help="keep the temp folder")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="postbus-pop3-bench-", dir="/var/tmp"))
    work.chmod(0o755)  # Dovecot's mail processes run as vmail
    try:
        messages = list(synthetic_messages(args.messages, to=ADDRESS))
        ours = run_postbus(work, messages, args.runs, args.window)
        theirs = None if args.no_dovecot else run_dovecot(work, messages, args.runs, args.window)
    finally:
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)
    print(report(ours, theirs, sum(len(raw) for raw in messages)))


if __name__ == "__main__":
    main()
