"""IMAP benchmark: postbus and Dovecot side by side on the same messages.

    .venv/bin/python -m bench.imap_bench --messages 5000 --clients 8 --seconds 20 \
        --big 20000 --idle 2000

Three parts, each run against both servers (Dovecot from Debian's dovecot-imapd, installed
with apt-get when missing and we are root; its own instance on loopback ports, per
shared/peers.md, stopped after). Both serve plain IMAP on 127.0.0.1 (no TLS), so the numbers
compare the servers, not the ciphers. Both get the same ``bench.synth`` messages: postbus
through ``Store.append`` (SQLite, a fresh install), Dovecot as a Maildir.

1. Mixed workload: ``--clients`` connections on one account for ``--seconds`` each; every
   round is SELECT, the newest 50 with UID FLAGS ENVELOPE, 5 full bodies, a flag set and
   cleared, an APPEND, that message deleted with UID EXPUNGE, and a UID SEARCH. Reported:
   rounds/s and the median and 95th percentile per command.
2. Big mailbox (``--big`` messages, default 500,000): SELECT time, ``UID FETCH 1:* (FLAGS)``
   (``--rounds n``: n times on a fresh SELECT, medians; ``--read``: first mark all but the
   newest 100 messages \\Seen and $NotJunk on both servers, as mail clients leave a mailbox),
   ``UID SEARCH TEXT zeppelin``, and a QRESYNC resync (RFC 7162) after 100 flag changes made
   by another connection.
3. Idle memory: ``--idle`` connections signed in and in IDLE; the server's resident memory
   (its process, or for Dovecot every process under its master) after a warm-up tenth of them
   and after all, per connection added (the first sign-ins grow fixed costs; the figure that
   counts them too is printed beside it).

Not a test: run it by hand and record the figures in bench/RESULTS.md.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import random
import re
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from dataclasses import dataclass, field, replace
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
SEARCH_WORD = "zeppelin"  # bench.synth: once in every 1,000 messages
_LITERAL = re.compile(rb"\{(\d+)\}$")


def raise_fd_limit() -> None:
    _soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


# -- the client ---------------------------------------------------------------------------------


class Client:
    """A minimal asyncio IMAP client: exact commands, literals inline, LITERAL+ to send."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer
        self.n = 0

    @classmethod
    async def connect(cls, port: int) -> Client:
        reader, writer = await asyncio.open_connection("127.0.0.1", port, limit=1 << 24)
        client = cls(reader, writer)
        await client._line()  # greeting
        return client

    async def _line(self) -> bytes:
        line = await self.reader.readuntil(b"\r\n")
        while m := _LITERAL.search(line[:-2]):
            line = line[:-2] + await self.reader.readexactly(int(m[1]))
            line += await self.reader.readuntil(b"\r\n")
        return line[:-2]

    async def command(self, text: str, literal: bytes | None = None) -> list[bytes]:
        """Untagged lines of a command that must end OK."""
        self.n += 1
        tag = b"B%d" % self.n
        data = tag + b" " + text.encode()
        if literal is not None:
            data += b" {%d+}\r\n" % len(literal) + literal
        self.writer.write(data + b"\r\n")
        lines = []
        while True:
            line = await self._line()
            if line.startswith(tag + b" "):
                if not line.startswith(tag + b" OK"):
                    raise RuntimeError(f"{text[:60]!r}: {line[:200]!r}")
                return lines
            lines.append(line)

    async def login(self) -> None:
        await self.command(f'LOGIN {ADDRESS} "{PASSWORD}"')

    async def idle(self) -> None:
        self.n += 1
        self.writer.write(b"B%d IDLE\r\n" % self.n)
        line = await self._line()
        if not line.startswith(b"+"):
            raise RuntimeError(f"IDLE: {line!r}")

    async def close(self) -> None:
        self.writer.close()
        with contextlib.suppress(ConnectionError):
            await self.writer.wait_closed()


def _search_result(lines: list[bytes]) -> list[int]:
    return [int(x) for line in lines if line.startswith(b"* SEARCH") for x in line.split()[2:]]


def _number(lines: list[bytes], pattern: bytes) -> int:
    for line in lines:
        m = re.search(pattern, line)
        if m:
            return int(m[1])
    raise RuntimeError(f"{pattern!r} not in {lines[:5]!r}")


# -- part 1: the mixed workload ------------------------------------------------------------------


@dataclass
class Mixed:
    server: str
    rounds: int = 0
    seconds: float = 0.0
    latencies: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))


async def _round(c: Client, extra: bytes, rng: random.Random, out: Mixed) -> None:
    async def timed(name: str, text: str, literal: bytes | None = None) -> list[bytes]:
        started = time.perf_counter()
        lines = await c.command(text, literal)
        out.latencies[name].append(time.perf_counter() - started)
        return lines

    selected = await timed("SELECT", "SELECT INBOX")
    exists = _number(selected, rb"^\* (\d+) EXISTS")
    newest = await timed("FETCH newest 50", f"FETCH {max(1, exists - 49)}:* (UID FLAGS ENVELOPE)")
    uids = [int(m[1]) for line in newest if (m := re.search(rb"UID (\d+)", line))]
    for uid in rng.sample(uids, min(5, len(uids))):
        await timed("FETCH body", f"UID FETCH {uid} BODY.PEEK[]")
    uid = rng.choice(uids)
    await timed("STORE", f"UID STORE {uid} +FLAGS.SILENT (\\Flagged)")
    await timed("STORE", f"UID STORE {uid} -FLAGS.SILENT (\\Flagged)")
    await timed("APPEND", "APPEND INBOX", extra)
    await c.command("NOOP")  # the new message's EXISTS
    found = await timed("SEARCH SUBJECT", "UID SEARCH SUBJECT bench-appended")
    new = _search_result(found)
    if new:
        ranges = ",".join(str(u) for u in new)
        await c.command(f"UID STORE {ranges} +FLAGS.SILENT (\\Deleted)")
        await timed("EXPUNGE", f"UID EXPUNGE {ranges}")
    await timed("SEARCH TEXT", f"UID SEARCH TEXT {SEARCH_WORD}")
    out.rounds += 1


async def mixed(server: str, port: int, clients: int, seconds: float) -> Mixed:
    out = Mixed(server)
    extra = (
        b"From: bench@example.test\r\nTo: bench@example.test\r\n"
        b"Subject: bench-appended\r\nMessage-ID: <x@bench>\r\n\r\n" + b"a short note\r\n" * 20
    )
    warm = await Client.connect(port)
    await warm.login()
    await _round(warm, extra, random.Random(0), Mixed(server))  # indexes, page cache
    await warm.close()
    deadline = time.monotonic() + seconds

    async def worker(i: int) -> None:
        c = await Client.connect(port)
        await c.login()
        rng = random.Random(i)
        while time.monotonic() < deadline:
            await _round(c, extra, rng, out)
        await c.close()

    started = time.perf_counter()
    await asyncio.gather(*(worker(i) for i in range(clients)))
    out.seconds = time.perf_counter() - started
    return out


# -- part 2: the big mailbox ---------------------------------------------------------------------


async def big(server: str, port: int, rounds: int = 1, read: bool = False
              ) -> dict[str, float | int]:
    c = await Client.connect(port)
    await c.login()
    figures: dict[str, float | int] = {}
    if read:  # most messages read and $NotJunk, a hundred new ones unread: as clients leave it
        exists = _number(await c.command("SELECT INBOX"), rb"^\* (\d+) EXISTS")
        started = time.perf_counter()
        await c.command(f"UID STORE 1:{max(1, exists - 100)} +FLAGS.SILENT (\\Seen $NotJunk)")
        figures["STORE read s"] = time.perf_counter() - started
        await c.command("UNSELECT")
    started = time.perf_counter()
    selected = await c.command("SELECT INBOX")
    figures["SELECT s"] = time.perf_counter() - started
    figures["messages"] = _number(selected, rb"^\* (\d+) EXISTS")
    started = time.perf_counter()
    flags = await c.command("UID FETCH 1:* (FLAGS)")
    figures["UID FETCH 1:* (FLAGS) s"] = time.perf_counter() - started
    figures["FETCH lines"] = len(flags)
    if rounds > 1:  # again on a fresh SELECT each time: the median of all the rounds
        selects, fetches = [figures["SELECT s"]], [figures["UID FETCH 1:* (FLAGS) s"]]
        for _ in range(rounds - 1):
            await c.command("UNSELECT")
            started = time.perf_counter()
            await c.command("SELECT INBOX")
            selects.append(time.perf_counter() - started)
            started = time.perf_counter()
            await c.command("UID FETCH 1:* (FLAGS)")
            fetches.append(time.perf_counter() - started)
        figures[f"SELECT median of {rounds} s"] = statistics.median(selects)
        figures[f"UID FETCH median of {rounds} s"] = statistics.median(fetches)
    started = time.perf_counter()
    found = await c.command(f"UID SEARCH TEXT {SEARCH_WORD}")
    figures["UID SEARCH TEXT s"] = time.perf_counter() - started
    figures["found"] = len(_search_result(found))
    await c.command("UNSELECT")
    # QRESYNC (RFC 7162 §3.2.5): resync after 100 changes made elsewhere
    await c.command("ENABLE QRESYNC")
    selected = await c.command("SELECT INBOX")
    validity = _number(selected, rb"UIDVALIDITY (\d+)")
    modseq = _number(selected, rb"HIGHESTMODSEQ (\d+)")
    await c.command("UNSELECT")
    other = await Client.connect(port)
    await other.login()
    await other.command("SELECT INBOX")
    rng = random.Random(7)
    uids = [int(m[1]) for line in flags if (m := re.search(rb"UID (\d+)", line))]
    for uid in rng.sample(uids, min(100, len(uids))):
        await other.command(f"UID STORE {uid} +FLAGS.SILENT (\\Flagged)")
    await other.close()
    started = time.perf_counter()
    resync = await c.command(f"SELECT INBOX (QRESYNC ({validity} {modseq}))")
    figures["QRESYNC SELECT s"] = time.perf_counter() - started
    figures["QRESYNC FETCH lines"] = sum(1 for line in resync if b" FETCH " in line)
    await c.close()
    return figures


# -- part 3: idle connections --------------------------------------------------------------------


def rss_kib(pids: list[int]) -> int:
    total = 0
    for pid in pids:
        try:
            for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1])
        except OSError:
            pass
    return total


def process_tree(root: int) -> list[int]:
    children: dict[int, list[int]] = defaultdict(list)
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            children[ppid].append(int(entry.name))
    out, todo = [], [root]
    while todo:
        pid = todo.pop()
        out.append(pid)
        todo.extend(children.get(pid, []))
    return out


async def idle_memory(port: int, root_pid: int, count: int) -> tuple[int, int, int, int, int]:
    """(RSS KiB at rest, after a warm-up tenth, after all, connections in IDLE, warm-up).

    The first sign-ins grow fixed costs that do not scale with connections (argon2's 19 MiB
    per hashing thread stays in that thread's malloc arena), so the figure per connection is
    the growth from the warm-up tenth to the whole, per connection added."""
    await asyncio.sleep(1)
    rest = rss_kib(process_tree(root_pid))
    clients: list[Client] = []
    semaphore = asyncio.Semaphore(50)

    async def one() -> None:
        async with semaphore:
            c = await Client.connect(port)
            await c.login()
            await c.command("SELECT INBOX")
            await c.idle()
            clients.append(c)

    warm = max(1, count // 10)
    await asyncio.gather(*(one() for _ in range(warm)))
    await asyncio.sleep(2)
    before = rss_kib(process_tree(root_pid))
    await asyncio.gather(*(one() for _ in range(count - warm)))
    await asyncio.sleep(2)
    after = rss_kib(process_tree(root_pid))
    n = len(clients)
    for c in clients:
        await c.close()
    return rest, before, after, n, warm


# -- postbus -------------------------------------------------------------------------------------


async def serve_postbus(data_dir: Path, port: int) -> None:
    """The server process: one IMAP listener, as ``postbus serve`` would run it."""
    from postbus.config import Listener, load_config
    from postbus.imap.server import serve_imap
    from postbus.server import Service, make_authenticator, open_store

    config = load_config(None, {}, data_dir=data_dir)
    config = replace(config, limits=replace(
        config.limits, connections_per_ip=100_000, max_connections=100_000,
        commands_per_second=100_000,
    ))
    store = await open_store(config)
    service = Service(config, store, None, make_authenticator(config, store))
    server = await serve_imap(service, Listener("imap", "imap", "127.0.0.1", port, "none"))
    async with server:
        await server.serve_forever()


class Postbus:
    name = "postbus"

    def __init__(self, work: Path, messages: list[bytes]) -> None:
        self.data_dir = work / "postbus"
        self.data_dir.mkdir()
        started = time.perf_counter()
        asyncio.run(load_postbus(self.data_dir, ADDRESS, PASSWORD, messages))
        print(f"postbus: {len(messages):,} messages appended in"
              f" {time.perf_counter() - started:.1f} s", flush=True)
        self.port = free_port()
        self.process = subprocess.Popen(
            [sys.executable, "-m", "bench.imap_bench", "--serve", str(self.data_dir),
             str(self.port)],
            cwd=Path(__file__).resolve().parent.parent,
        )
        wait_for_port(self.port, 60.0)
        self.pid = self.process.pid

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(30)


# -- Dovecot (see /work/shared/peers.md) ---------------------------------------------------------

DOVECOT_CONF = """\
base_dir = {work}/run
state_dir = {work}/state
log_path = {work}/dovecot.log
info_log_path = {work}/dovecot.log
listen = 127.0.0.1
protocols = imap
ssl = no
disable_plaintext_auth = no
auth_mechanisms = plain login
mail_location = maildir:{work}/mail/%u/Maildir
mail_uid = {uid}
mail_gid = {gid}
first_valid_uid = {uid}
mail_max_userip_connections = 100000
default_vsz_limit = 2G
default_process_limit = 3000
default_client_limit = 3000
mail_plugins = $mail_plugins
passdb {{
  driver = passwd-file
  args = {work}/users
}}
userdb {{
  driver = passwd-file
  args = {work}/users
}}
service imap-login {{
  inet_listener imap {{
    port = {port}
  }}
  inet_listener imaps {{
    port = 0
  }}
  process_min_avail = 2
}}
service imap {{
  process_limit = 3000
}}
service anvil {{
  client_limit = 10000
}}
service auth {{
  client_limit = 10000
}}
"""


class Dovecot:
    name = "dovecot"

    def __init__(self, work: Path, messages: list[bytes]) -> None:
        self.folder = work / "dovecot"
        (self.folder / "run").mkdir(parents=True)
        (self.folder / "state").mkdir()
        vmail = vmail_user()
        write_maildir(self.folder / "mail" / ADDRESS / "Maildir", messages)
        subprocess.run(["chown", "-R", f"{vmail.pw_uid}:{vmail.pw_gid}",
                        str(self.folder / "mail")], check=True)
        (self.folder / "users").write_text(f"{ADDRESS}:{{PLAIN}}{PASSWORD}::::::\n")
        self.port = free_port()
        self.conf = self.folder / "dovecot.conf"
        self.conf.write_text(DOVECOT_CONF.format(
            work=self.folder, uid=vmail.pw_uid, gid=vmail.pw_gid, port=self.port))
        subprocess.run(["dovecot", "-c", str(self.conf)], check=True)
        try:
            wait_for_port(self.port, 60.0)
            pid_file = self.folder / "run" / "master.pid"
            deadline = time.monotonic() + 30
            while not pid_file.exists() and time.monotonic() < deadline:
                time.sleep(0.1)
            self.pid = int(pid_file.read_text())
        except BaseException:
            self.stop()  # never leave an instance running
            raise

    def stop(self) -> None:
        subprocess.run(["doveadm", "-c", str(self.conf), "stop"], check=False)


# -- main ----------------------------------------------------------------------------------------


def _ms(values: list[float], q: float) -> str:
    if not values:
        return "-"
    ordered = sorted(values)
    return f"{ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000:.1f}"


def report_mixed(results: list[Mixed], clients: int) -> str:
    lines = [f"Mixed workload, {clients} clients, one account, loopback, no TLS"]
    for m in results:
        lines.append(f"  {m.server}: {m.rounds / m.seconds:,.1f} rounds/s"
                     f" ({m.rounds} rounds in {m.seconds:.1f} s)")
        for name in sorted(m.latencies):
            v = m.latencies[name]
            lines.append(f"    {name:<16} median {statistics.median(v) * 1000:8.1f} ms"
                         f"   p95 {_ms(v, 0.95):>8} ms   n={len(v)}")
    return "\n".join(lines)


def run(server_class: type, work: Path, messages: list[bytes], args: argparse.Namespace,
        part: str) -> str:
    server = server_class(work, messages)
    try:
        if part == "mixed":
            return report_mixed(
                [asyncio.run(mixed(server.name, server.port, args.clients, args.seconds))],
                args.clients,
            )
        if part == "big":
            figures = asyncio.run(big(server.name, server.port, args.rounds, args.read))
            return f"Big mailbox, {server.name}: " + ", ".join(
                f"{k} {v:.3f}" if isinstance(v, float) else f"{k} {v:,}"
                for k, v in figures.items()
            )
        rest, before, after, n, warm = asyncio.run(
            idle_memory(server.port, server.pid, args.idle)
        )
        return (f"Idle, {server.name}: {n:,} connections in IDLE, RSS {rest / 1024:.1f} MiB"
                f" -> {before / 1024:.1f} MiB ({warm:,}) -> {after / 1024:.1f} MiB,"
                f" {(after - before) / max(n - warm, 1):.1f} KiB each"
                f" ({(after - rest) / max(n, 1):.1f} KiB each counting the fixed growth)")
    finally:
        server.stop()


def main() -> None:
    if len(sys.argv) == 4 and sys.argv[1] == "--serve":
        import uvloop

        raise_fd_limit()
        uvloop.run(serve_postbus(Path(sys.argv[2]), int(sys.argv[3])))
        return
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--messages", type=int, default=5_000, help="mixed workload mailbox")
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--big", type=int, default=500_000, help="big mailbox (0: skip)")
    parser.add_argument("--rounds", type=int, default=1,
                        help="big mailbox: SELECT and FETCH FLAGS this often, medians")
    parser.add_argument("--read", action="store_true",
                        help="big mailbox: all but the newest 100 \\Seen and $NotJunk first")
    parser.add_argument("--idle", type=int, default=2_000, help="idle connections (0: skip)")
    parser.add_argument("--parts", default="mixed,big,idle", help="which parts to run")
    parser.add_argument("--no-dovecot", action="store_true")
    parser.add_argument("--keep", action="store_true", help="keep the temp folder")
    args = parser.parse_args()
    raise_fd_limit()
    servers: list[type] = [Postbus]
    dovecot_there = ["dovecot", "/usr/lib/dovecot/imap"]
    if not args.no_dovecot and install_debian(["dovecot-imapd"], dovecot_there):
        servers.append(Dovecot)
    out = []
    wanted = set(args.parts.split(","))
    parts = [("mixed", args.messages)] if "mixed" in wanted else []
    if args.big and "big" in wanted:
        parts.append(("big", args.big))
    if args.idle and "idle" in wanted:
        parts.append(("idle", min(args.messages, 1000)))
    for part, count in parts:
        messages = list(synthetic_messages(count, to=ADDRESS))
        for server_class in servers:
            work = Path(tempfile.mkdtemp(prefix="postbus-imap-bench-", dir="/var/tmp"))
            work.chmod(0o755)  # Dovecot's mail processes run as vmail
            try:
                line = run(server_class, work, messages, args, part)
            finally:
                if not args.keep:
                    shutil.rmtree(work, ignore_errors=True)
            print(line, flush=True)
            out.append(line)
    print("\n".join(out))


if __name__ == "__main__":
    main()
