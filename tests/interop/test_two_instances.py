"""Two postbus servers mail each other: ``python -m postbus serve`` on 127.0.0.1 (a.test) and
on 127.0.0.2 (b.test), with dnsmasq as their DNS (MX, SPF, DKIM and PTR records).

Mail goes in through one's submission port, out through its queue (MX lookup, STARTTLS) to the
other's MX, which checks SPF and DKIM and files it; a refused recipient comes back as a bounce.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import email
import email.policy
import os
import socket
import subprocess
import sys
from collections.abc import AsyncIterator, Iterator
from email.message import EmailMessage, Message
from pathlib import Path

import aiosmtplib
import pytest

from postbus.config import Config
from postbus.smtp.dkim import ensure_domain_keys
from postbus.store import NotFound, Store, open_sqlite
from tests.conftest import require_tool
from tests.smtp.dnsmasq import DnsServer, start_dnsmasq

ROOT = Path(__file__).resolve().parents[2]
PASSWORD = "correct-horse-battery-9"
HOSTS = {"a.test": "127.0.0.1", "b.test": "127.0.0.2"}

pytestmark = [
    pytest.mark.slow,  # two servers and a dozen CLI runs: about 20 s
    pytest.mark.skipif(
        not {"queue", "dns"} <= {f.name for f in dataclasses.fields(Config)},
        reason="needs the [queue] and [dns] config sections and serve starting the queue",
    ),
]


def _common_port() -> int:
    """A port free on both loopback addresses."""
    for _ in range(50):
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            port = probe.getsockname()[1]
        try:
            with socket.socket() as other:
                other.bind(("127.0.0.2", port))
            return port
        except OSError:
            continue
    raise RuntimeError("no port free on both 127.0.0.1 and 127.0.0.2")


@dataclasses.dataclass
class Instance:
    domain: str
    ip: str
    folder: Path
    config: Path
    process: subprocess.Popen[bytes] | None = None

    @property
    def log(self) -> Path:
        return self.folder / "serve.log"

    def postbus(self, *args: str, stdin: str | None = None) -> str:
        done = subprocess.run(
            [sys.executable, "-m", "postbus", *args, "--config", str(self.config)],
            cwd=ROOT,
            env={**os.environ, "PYTHONPATH": str(ROOT)},
            input=stdin,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert done.returncode == 0, done.stdout + done.stderr
        return done.stdout

    def start(self) -> None:
        with self.log.open("wb") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "postbus", "serve", "--config", str(self.config)],
                cwd=ROOT,
                env={**os.environ, "PYTHONPATH": str(ROOT)},
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
            )

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def _write_config(instance: Instance, dns: str, mx_port: int, submission_port: int) -> None:
    instance.config.write_text(f"""
[server]
hostname = "mx.{instance.domain}"
data_dir = "{instance.folder}"

[dns]
nameservers = ["{dns}"]

[queue]
port = {mx_port}
bind_address = "{instance.ip}"

[[listener]]
protocol = "smtp-mx"
host = "{instance.ip}"
port = {mx_port}
tls = "starttls"

[[listener]]
protocol = "submission"
host = "{instance.ip}"
port = {submission_port}
tls = "starttls"
""")


async def _wait_listening(instance: Instance, ports: list[int]) -> None:
    for _ in range(300):
        assert instance.process is not None
        if instance.process.poll() is not None:
            raise AssertionError(f"{instance.domain} exited: {instance.log.read_text()}")
        try:
            for port in ports:
                _, writer = await asyncio.open_connection(instance.ip, port)
                writer.close()
            return
        except OSError:
            await asyncio.sleep(0.1)
    raise AssertionError(f"{instance.domain} did not listen: {instance.log.read_text()}")


@dataclasses.dataclass
class Pair:
    a: Instance
    b: Instance
    submission_port: int


@pytest.fixture
def instances(tmp_path: Path) -> Iterator[tuple[Instance, Instance, int, int]]:
    require_tool("dnsmasq")
    mx_port, submission_port = _common_port(), _common_port()
    made = []
    for domain, ip in HOSTS.items():
        folder = tmp_path / domain
        folder.mkdir()
        made.append(Instance(domain, ip, folder, folder / "postbus.toml"))
    yield made[0], made[1], mx_port, submission_port
    for instance in made:
        instance.stop()


@pytest.fixture
async def pair(
    instances: tuple[Instance, Instance, int, int], tmp_path: Path
) -> AsyncIterator[Pair]:
    a, b, mx_port, submission_port = instances
    txt: list[tuple[str, str]] = []
    for instance in (a, b):
        txt.append((instance.domain, f"v=spf1 ip4:{instance.ip} -all"))
        txt.append((f"_dmarc.{instance.domain}", "v=DMARC1; p=reject"))
        txt.extend(ensure_domain_keys(instance.folder / "dkim", instance.domain).dns_records())
    dns: DnsServer = start_dnsmasq(
        tmp_path,
        txt=txt,
        mx=[(d, f"mx.{d}", 10) for d in HOSTS],
        hosts=[(f"mx.{d}", ip) for d, ip in HOSTS.items()],
        ptr=[
            (".".join(reversed(ip.split("."))) + ".in-addr.arpa", f"mx.{d}")
            for d, ip in HOSTS.items()
        ],
    )
    try:
        for instance in (a, b):
            _write_config(instance, dns.address, mx_port, submission_port)
            instance.postbus("init")
            instance.postbus("domain", "add", instance.domain)
            for user in ("alice", "bob"):
                instance.postbus(
                    "user",
                    "add",
                    f"{user}@{instance.domain}",
                    "--password-stdin",
                    stdin=PASSWORD + "\n",
                )
            instance.start()
        for instance in (a, b):
            await _wait_listening(instance, [mx_port, submission_port])
        yield Pair(a, b, submission_port)
    finally:
        for instance in (a, b):
            instance.stop()
        dns.stop()


async def _submit(pair: Pair, sender: str, recipient: str, subject: str) -> None:
    instance = pair.a if sender.endswith("@a.test") else pair.b
    message = EmailMessage()
    message["From"] = sender
    message["To"] = recipient
    message["Subject"] = subject
    message.set_content(f"{subject}: hello from {sender}\n")
    await aiosmtplib.send(
        message,
        hostname=instance.ip,
        port=pair.submission_port,
        username=sender,
        password=PASSWORD,
        start_tls=True,
        validate_certs=False,
        timeout=30,
    )


@contextlib.asynccontextmanager
async def _store(instance: Instance) -> AsyncIterator[Store]:
    store = await open_sqlite(instance.folder / "postbus.sqlite3", instance.folder / "blobs")
    try:
        yield store
    finally:
        await store.close()


async def _wait_for_mail(instance: Instance, address: str, subject: str) -> Message:
    async with _store(instance) as store:
        account = await store.find_account(address)
        inbox = await store.get_mailbox(account.id, "INBOX")
        for _ in range(300):
            for summary in await store.newest(account.id, inbox.id):
                if subject in summary.subject:
                    raw = await store.read_body(account.id, summary.message_id)
                    return email.message_from_bytes(raw, policy=email.policy.compat32)
            await asyncio.sleep(0.1)
    raise AssertionError(f"no {subject!r} for {address}; log:\n{instance.log.read_text()}")


async def test_two_servers_mail_each_other_and_bounce(pair: Pair) -> None:
    await _submit(pair, "alice@a.test", "bob@b.test", "Ping")
    ping = await _wait_for_mail(pair.b, "bob@b.test", "Ping")
    assert ping["DKIM-Signature"] is not None  # signed at submission
    results = " ".join(ping.get_all("Authentication-Results", []))
    for verdict in ("spf=pass", "dkim=pass", "dmarc=pass"):
        assert verdict in results, results
    assert "mx.a.test" in " ".join(ping.get_all("Received", []))

    await _submit(pair, "bob@b.test", "alice@a.test", "Pong")
    pong = await _wait_for_mail(pair.a, "alice@a.test", "Pong")
    results = " ".join(pong.get_all("Authentication-Results", []))
    for verdict in ("spf=pass", "dkim=pass", "dmarc=pass"):
        assert verdict in results, results

    # An unknown recipient is refused at RCPT by b's MX, and a's queue bounces it to alice.
    await _submit(pair, "alice@a.test", "nobody@b.test", "Lost")
    bounce = await _wait_for_mail(pair.a, "alice@a.test", "Undelivered")
    assert bounce.get_content_type() == "multipart/report"
    status = bounce.get_payload()[1].get_payload()[1]
    assert status["Action"] == "failed" and status["Status"].startswith("5.")
    assert status["Final-Recipient"] == "rfc822; nobody@b.test"
    assert "Subject: Lost" in bounce.get_payload()[2].get_payload()
    async with _store(pair.b) as store:
        with pytest.raises(NotFound):
            await store.find_account("nobody@b.test")
