"""MX delivery into the store: postbus beside Postfix -> Dovecot LMTP, on one machine.

Run by hand, as root (it installs Postfix and Dovecot when missing, and runs them):

    .venv/bin/python -m bench.smtp_bench --messages 2000 --sessions 20 --size 2000

Each server gets the same load from Postfix's ``smtp-source`` (a new connection per message,
``--sessions`` at once), and then a latency run from our own asyncio client (``--sessions``
connections, each timing MAIL FROM to the 250 after DATA). Postfix says 250 once the message
is in its queue; we also time until Dovecot has every message in the Maildir, which is what
postbus's 250 means (the message is in the store). Everything listens on 127.0.0.1 and is
stopped at the end; nothing is left configured on the machine.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from bench.peers import free_port, install_debian, vmail_user, wait_for_port
from postbus.accounts.passwords import hash_password
from postbus.store import open_sqlite
from tests.smtp.dnsmasq import start_dnsmasq

DOMAIN = "bench.test"
USER = f"user@{DOMAIN}"
SENDER = "load@remote.test"
# What the sender's domain publishes: SPF (RFC 7208) that passes for loopback, DMARC (RFC 7489).
SENDER_RECORDS = [
    ("remote.test", "v=spf1 ip4:127.0.0.0/8 -all"),
    ("_dmarc.remote.test", "v=DMARC1; p=none"),
]


# -- postbus ---------------------------------------------------------------------------------


@contextmanager
def postbus(root: Path) -> Iterator[int]:
    root.mkdir()

    async def prepare() -> None:
        store = await open_sqlite(root / "postbus.sqlite3", root / "blobs")
        await store.add_domain(DOMAIN)
        await store.add_account(USER, hash_password("bench password 1"))
        await store.close()

    asyncio.run(prepare())
    port = free_port()
    # A local DNS server answers the SPF/DMARC lookups at once, as a caching resolver would,
    # with the records a real sending domain publishes, and a real TTL.
    dns = start_dnsmasq(root, txt=SENDER_RECORDS, ttl=300)
    config = root / "postbus.toml"
    config.write_text(
        f'[server]\ndata_dir = "{root}"\nhostname = "postbus.{DOMAIN}"\nlog_level = "warning"\n'
        f'[dns]\nnameservers = ["{dns.address}"]\n'
        # The latency clients send ~4 commands per message, as fast as replies come: past the
        # default commands_per_second on a fast run. Postfix has no such limit here either.
        f"[limits]\ncommands_per_second = 100000\n"
        f'[[listener]]\nprotocol = "smtp-mx"\nhost = "127.0.0.1"\nport = {port}\ntls = "none"\n'
    )
    log = (root / "log").open("wb")
    process = subprocess.Popen(
        [sys.executable, "-m", "postbus", "serve", "--config", str(config)], stderr=log
    )
    try:
        wait_for_port(port)
        yield port
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(30)
        dns.stop()


def postbus_count(root: Path) -> int:
    import sqlite3

    with sqlite3.connect(root / "postbus.sqlite3") as db:
        return db.execute("SELECT COUNT(*) FROM memberships").fetchone()[0]


# -- Dovecot (LMTP) and Postfix --------------------------------------------------------------


@contextmanager
def dovecot(root: Path) -> Iterator[tuple[int, Path]]:
    vmail = vmail_user()
    uid, gid = vmail.pw_uid, vmail.pw_gid
    for sub in ("run", "state", "mail"):
        (root / sub).mkdir(parents=True)
    os.chown(root / "mail", uid, gid)
    lmtp = free_port()
    (root / "passwd").write_text("user:{PLAIN}bench::::::\n")
    conf = root / "dovecot.conf"
    conf.write_text(f"""
base_dir = {root}/run
state_dir = {root}/state
log_path = {root}/log
protocols = lmtp
listen = 127.0.0.1
ssl = no
disable_plaintext_auth = no
auth_mechanisms = plain
auth_username_format = %Ln
passdb {{
  driver = passwd-file
  args = {root}/passwd
}}
userdb {{
  driver = static
  args = uid={uid} gid={gid} home={root}/mail/%n
}}
mail_location = maildir:{root}/mail/%n/Maildir
first_valid_uid = {min(uid, 100)}
mail_fsync = optimized
service lmtp {{
  inet_listener lmtp {{
    address = 127.0.0.1
    port = {lmtp}
  }}
}}
""")
    subprocess.run(["dovecot", "-c", str(conf)], check=True)
    try:
        wait_for_port(lmtp)
        yield lmtp, root / "mail" / "user" / "Maildir" / "new"
    finally:
        subprocess.run(["doveadm", "-c", str(conf), "stop"], capture_output=True)


@contextmanager
def postfix(root: Path, lmtp: int) -> Iterator[int]:
    port = free_port()
    conf = root / "etc"
    conf.mkdir(parents=True)
    (root / "vmailbox").write_text(f"{USER} user/\n")
    (conf / "main.cf").write_text(f"""
compatibility_level = 3.6
queue_directory = {root}/spool
data_directory = {root}/data
mail_owner = postfix
myhostname = postfix.{DOMAIN}
inet_interfaces = 127.0.0.1
inet_protocols = ipv4
mydestination =
mynetworks = 127.0.0.0/8
virtual_mailbox_domains = {DOMAIN}
virtual_mailbox_maps = texthash:{root}/vmailbox
virtual_transport = lmtp:inet:127.0.0.1:{lmtp}
smtpd_forbid_bare_newline = yes
smtpd_relay_restrictions = permit_mynetworks, reject_unauth_destination
maillog_file_prefixes = {root}
maillog_file = {root}/maillog
""")
    master = Path("/usr/share/postfix/master.cf.dist").read_text()
    lines = []
    for line in master.splitlines():
        fields = line.split()
        if line and not line[0].isspace() and not line.startswith("#") and len(fields) >= 8:
            if fields[0] == "smtp" and fields[1] == "inet":
                fields[0] = f"127.0.0.1:{port}"
            fields[4] = "n"  # no chroot: the spool is ours, in a temporary folder
            line = " ".join(fields)
        lines.append(line)
    (conf / "master.cf").write_text("\n".join(lines) + "\n")
    for sub in ("spool", "data"):
        (root / sub).mkdir()
    run = ["postfix", "-c", str(conf)]
    subprocess.run([*run, "set-permissions"], capture_output=True)
    started = subprocess.run(
        ["script", "-qc", " ".join([*run, "start"]), "/dev/null"], capture_output=True
    )  # a tty, or Postfix says nothing on failure
    if started.returncode:
        raise RuntimeError(f"postfix start: {started.stdout.decode().strip()}")
    try:
        wait_for_port(port)
        yield port
    finally:
        subprocess.run([*run, "stop"], capture_output=True)


# -- the load ------------------------------------------------------------------------------


def smtp_source(port: int, messages: int, sessions: int, size: int) -> float:
    started = time.monotonic()
    subprocess.run(
        ["smtp-source", "-s", str(sessions), "-l", str(size), "-m", str(messages),
         "-f", SENDER, "-t", USER, f"127.0.0.1:{port}"],
        check=True, capture_output=True, timeout=600,
    )  # fmt: skip
    return time.monotonic() - started


def machine_cpu_seconds() -> float:
    """CPU time the whole machine has spent working (not idle, not waiting, not stolen)."""
    with open("/proc/stat") as stat:
        user, nice, system, _idle, _iowait, irq, softirq, *_ = map(int, stat.readline().split()[1:])
    return (user + nice + system + irq + softirq) / os.sysconf("SC_CLK_TCK")


def wait_count(count: Callable[[], int], target: int, timeout: float = 300) -> float:
    started = time.monotonic()
    while count() < target:
        if time.monotonic() - started > timeout:
            raise RuntimeError(f"only {count()} of {target} delivered")
        time.sleep(0.02)
    return time.monotonic() - started


async def _latency_client(port: int, count: int, size: int, out: list[float]) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)

    async def reply() -> bytes:
        while True:
            line = await reader.readline()
            if not line:
                raise ConnectionError("closed")
            if line[3:4] != b"-":
                return line

    body = b"Subject: latency\r\n\r\n" + (b"x" * 76 + b"\r\n") * max(1, size // 78)
    await reply()
    writer.write(b"EHLO bench.client\r\n")
    await reply()
    for _ in range(count):
        started = time.perf_counter()
        writer.write(f"MAIL FROM:<{SENDER}>\r\nRCPT TO:<{USER}>\r\nDATA\r\n".encode())
        for _ in range(3):
            code = await reply()
        assert code.startswith(b"354"), code
        writer.write(body + b".\r\n")
        done = await reply()
        assert done.startswith(b"250"), done
        out.append(time.perf_counter() - started)
    writer.write(b"QUIT\r\n")
    await reply()
    writer.close()


def latency(port: int, messages: int, sessions: int, size: int) -> tuple[float, float, float]:
    """(p50, p99 in ms, messages per second) over ``sessions`` persistent connections."""
    samples: list[float] = []

    async def run() -> float:
        started = time.perf_counter()
        per = max(1, messages // sessions)
        await asyncio.gather(*(_latency_client(port, per, size, samples) for _ in range(sessions)))
        return time.perf_counter() - started

    elapsed = asyncio.run(run())
    samples.sort()
    pick = lambda q: samples[min(len(samples) - 1, int(q * len(samples)))] * 1000  # noqa: E731
    return pick(0.50), pick(0.99), len(samples) / elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=2000)
    parser.add_argument("--sessions", type=int, default=20)
    parser.add_argument("--size", type=int, default=2000, help="body bytes per message")
    args = parser.parse_args()
    peers = ["postfix", "dovecot-core", "dovecot-lmtpd"]
    if not install_debian(peers, ["smtp-source", "dovecot", "/usr/lib/dovecot/lmtp"]):
        sys.exit("need Postfix and Dovecot (apt-get install postfix dovecot-lmtpd): run as root")
    root = Path(tempfile.mkdtemp(prefix="smtp-bench-"))
    os.chmod(root, 0o755)
    rows = []
    try:
        with postbus(root / "postbus") as port:
            cpu = machine_cpu_seconds()
            seconds = smtp_source(port, args.messages, args.sessions, args.size)
            delivered = seconds + wait_count(lambda: postbus_count(root / "postbus"),
                                             args.messages)  # fmt: skip
            cpu = machine_cpu_seconds() - cpu
            p50, p99, rate = latency(port, args.messages, args.sessions, args.size)
            rows.append(("postbus (SQLite)", args.messages / seconds,
                         args.messages / delivered, p50, p99, rate,
                         cpu * 1000 / args.messages))  # fmt: skip
        with dovecot(root / "dovecot") as (lmtp, maildir), postfix(root / "postfix", lmtp) as port:

            def in_maildir() -> int:
                return len(os.listdir(maildir)) if maildir.exists() else 0

            cpu = machine_cpu_seconds()
            seconds = smtp_source(port, args.messages, args.sessions, args.size)
            delivered = seconds + wait_count(in_maildir, args.messages)
            cpu = machine_cpu_seconds() - cpu
            before = in_maildir()
            p50, p99, rate = latency(port, args.messages, args.sessions, args.size)
            wait_count(in_maildir, before + args.messages // args.sessions * args.sessions)
            rows.append(("Postfix -> Dovecot LMTP", args.messages / seconds,
                         args.messages / delivered, p50, p99, rate,
                         cpu * 1000 / args.messages))  # fmt: skip
    finally:
        shutil.rmtree(root, ignore_errors=True)
    print(f"\n{args.messages} messages of ~{args.size} bytes, {args.sessions} parallel sessions "
          f"({os.cpu_count()} cores)\n")  # fmt: skip
    header = ("server", "accepted/s", "in mailbox/s", "p50 ms", "p99 ms", "persistent msg/s",
              "CPU ms/msg")  # fmt: skip
    print("{:<26}{:>12}{:>14}{:>9}{:>9}{:>18}{:>12}".format(*header))
    for name, accepted, stored, p50, p99, rate, cpu in rows:
        print(f"{name:<26}{accepted:>12.0f}{stored:>14.0f}{p50:>9.1f}{p99:>9.1f}{rate:>18.0f}"
              f"{cpu:>12.2f}")  # fmt: skip
    print("\naccepted/s: smtp-source, a new connection per message, until the last 250;"
          "\nin mailbox/s: until every message is in the mailbox (postbus: at its 250);"
          "\np50/p99: MAIL FROM to the 250 after DATA, over persistent connections;"
          "\nCPU ms/msg: the whole machine's CPU time (load generator included) over the"
          "\nsmtp-source run until the last message was in the mailbox, per message.")  # fmt: skip


if __name__ == "__main__":
    main()
