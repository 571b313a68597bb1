"""The outbound queue under MTA-STS (RFC 8461), all for real on 127.0.0.1.

dnsmasq answers ``_mta-sts.remote.test`` TXT, the MX and the A records of ``mx.remote.test``
and ``mta-sts.remote.test``; an HTTPS server with a certificate from a test CA serves the
policy; the receiving MX is aiosmtpd, with STARTTLS under a certificate from the same CA (or
for the wrong name, or none). The worker trusts only that CA (``tls_ca_file``).
"""

from __future__ import annotations

import asyncio
import email
import email.policy
import logging
import ssl
from collections.abc import AsyncIterator, Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.smtp import SMTP as SmtpServer

from postbus.config import load_config
from postbus.smtp import outbound
from postbus.smtp import queue as smtp_queue
from postbus.store import Store
from postbus.store import queue as q
from tests.conftest import free_port
from tests.smtp.certauthority import PolicyHost, TestCA, policy_response
from tests.smtp.dnsmasq import DnsServer, start_dnsmasq
from tests.smtp.test_queue_delivery import MESSAGE, Receiver

T0 = 1_700_000_000
DAY = 86400
ENFORCE = b"version: STSv1\nmode: enforce\nmx: mx.remote.test\nmax_age: 604800\n"
TESTING = ENFORCE.replace(b"enforce", b"testing")


@pytest.fixture
def backend() -> str:
    return "sqlite"  # the queue's claims are the store's own tests


@pytest.fixture
def ca(tmp_path: Path) -> TestCA:
    return TestCA(tmp_path)


@pytest.fixture
def dns(tmp_path: Path) -> Iterator[DnsServer]:
    server = start_dnsmasq(
        tmp_path,
        txt=[("_mta-sts.remote.test", "v=STSv1; id=20240101T000000;")],
        mx=[("remote.test", "mx.remote.test", 10), ("plain.test", "mx.remote.test", 10)],
        hosts=[("mx.remote.test", "127.0.0.1"), ("mta-sts.remote.test", "127.0.0.1")],
    )
    yield server
    server.stop()


@pytest.fixture
async def policy_host(ca: TestCA) -> AsyncIterator[PolicyHost]:
    host = await PolicyHost(ca.server_context("mta-sts.remote.test"), b"").start()
    yield host
    await host.stop()


@pytest.fixture
async def start_mx() -> AsyncIterator[Any]:
    """Factory: a receiving MX on a free port, with this TLS context (None: no STARTTLS)."""
    started: list[asyncio.AbstractServer] = []

    async def start(context: ssl.SSLContext | None) -> Receiver:
        receiver = Receiver(free_port())
        server = await asyncio.get_running_loop().create_server(
            lambda: SmtpServer(receiver, hostname="mx.remote.test", tls_context=context),
            "127.0.0.1",
            receiver.port,
        )
        started.append(server)
        return receiver

    yield start
    for server in started:
        server.close()
        await server.wait_closed()


@pytest.fixture
async def alice(store: Store) -> int:
    await store.add_domain("local.test")
    return (await store.add_account("alice@local.test", "hash")).id


def _worker(
    store: Store, dns: DnsServer, ca: TestCA, mx: Receiver, host: PolicyHost
) -> outbound.QueueWorker:
    settings = outbound.OutboundSettings(
        hostname="mx.local.test",
        port=mx.port,
        connect_timeout=5,
        command_timeout=10,
        tls_ca_file=ca.cert_file,
        mta_sts_port=host.port,
    )
    return outbound.QueueWorker(store, settings, dns.resolver())


async def _bounces(store: Store, account_id: int) -> list[dict[str, str]]:
    """The per-recipient status blocks of every notice in the INBOX."""
    inbox = await store.get_mailbox(account_id, "INBOX")
    blocks = []
    for summary in await store.newest(account_id, inbox.id):
        raw = await store.read_body(account_id, summary.message_id)
        report = email.message_from_bytes(raw, policy=email.policy.compat32)
        blocks += [dict(b.items()) for b in report.get_payload()[1].get_payload()[1:]]
    return blocks


async def test_enforce_delivers_over_verified_tls(
    store: Store, alice: int, dns: DnsServer, ca: TestCA, policy_host: PolicyHost, start_mx: Any
) -> None:
    policy_host.response = policy_response(ENFORCE)
    mx = await start_mx(ca.server_context("mx.remote.test"))
    worker = _worker(store, dns, ca, mx, policy_host)
    for rcpt in ("bob@remote.test", "carol@remote.test"):
        await smtp_queue.enqueue(store, "alice@local.test", [rcpt], MESSAGE, now=T0)
        await worker.deliver_due(T0)
    assert [(t["to"], t["tls"]) for t in mx.transactions] == [
        (["bob@remote.test"], True),
        (["carol@remote.test"], True),
    ]
    assert await smtp_queue.list_queue(store) == []
    assert len(policy_host.requests) == 1  # the second message used the cached policy


@pytest.mark.parametrize(
    ("mx_context", "why"),
    [
        (None, "STARTTLS is not offered"),
        ("wrong-name", "certificate verify failed"),
        ("untrusted", "certificate verify failed"),
    ],
)
async def test_enforce_never_falls_back_to_clear_text(
    store: Store,
    alice: int,
    dns: DnsServer,
    ca: TestCA,
    policy_host: PolicyHost,
    start_mx: Any,
    tmp_path: Path,
    mx_context: str | None,
    why: str,
) -> None:
    """RFC 8461 §5: no STARTTLS, or a certificate that does not name the MX or does not chain
    to a trusted CA: not delivered, retried, and at the end a bounce that says why."""
    policy_host.response = policy_response(ENFORCE)
    if mx_context == "wrong-name":
        context = ca.server_context("www.remote.test")
    elif mx_context == "untrusted":
        (tmp_path / "stranger").mkdir()
        context = TestCA(tmp_path / "stranger").server_context("mx.remote.test")
    else:
        context = None
    mx = await start_mx(context)
    worker = _worker(store, dns, ca, mx, policy_host)
    await smtp_queue.enqueue(store, "alice@local.test", ["bob@remote.test"], MESSAGE, now=T0)
    await worker.deliver_due(T0)
    [row] = await smtp_queue.list_queue(store)
    assert row.state is q.State.QUEUED and row.attempts == 1
    assert why in row.last_error and "MTA-STS" in row.last_error
    await worker.deliver_due(T0 + 5 * DAY)  # the last try, at expiry
    assert mx.transactions == []  # never in the clear, never unverified
    assert await smtp_queue.list_queue(store) == []
    [bob] = await _bounces(store, alice)
    assert (bob["Action"], bob["Status"]) == ("failed", "4.7.5")
    assert why in bob["Diagnostic-Code"]


async def test_enforce_refuses_an_mx_the_policy_does_not_name(
    store: Store, alice: int, dns: DnsServer, ca: TestCA, policy_host: PolicyHost, start_mx: Any
) -> None:
    """RFC 8461 §4.1: mx.remote.test is not in the policy, even with a good certificate."""
    policy_host.response = policy_response(ENFORCE.replace(b"mx.remote.test", b"*.mail.test"))
    mx = await start_mx(ca.server_context("mx.remote.test"))
    worker = _worker(store, dns, ca, mx, policy_host)
    await smtp_queue.enqueue(store, "alice@local.test", ["bob@remote.test"], MESSAGE, now=T0)
    await worker.deliver_due(T0)
    [row] = await smtp_queue.list_queue(store)
    assert row.state is q.State.QUEUED
    assert "MX mx.remote.test not in the MTA-STS policy of remote.test" in row.last_error
    await worker.deliver_due(row.next_attempt)
    await worker.deliver_due(T0 + 5 * DAY)
    assert mx.transactions == []
    [bob] = await _bounces(store, alice)
    assert bob["Action"] == "failed" and "not in the MTA-STS policy" in bob["Diagnostic-Code"]


async def test_testing_mode_delivers_and_logs(
    store: Store,
    alice: int,
    dns: DnsServer,
    ca: TestCA,
    policy_host: PolicyHost,
    start_mx: Any,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """RFC 8461 §5 testing: a listed-nowhere MX with a wrong certificate still gets the mail,
    over (unverified) TLS, and the log says what enforce would have refused."""
    policy_host.response = policy_response(TESTING.replace(b"mx.remote.test", b"mx.other.test"))
    mx = await start_mx(ca.server_context("www.remote.test"))
    await smtp_queue.enqueue(store, "alice@local.test", ["bob@remote.test"], MESSAGE, now=T0)
    with caplog.at_level(logging.WARNING, logger="postbus.outbound"):
        await _worker(store, dns, ca, mx, policy_host).deliver_due(T0)
    [sent] = mx.transactions
    assert sent["to"] == ["bob@remote.test"] and sent["tls"] is True
    assert await smtp_queue.list_queue(store) == []
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert any("not in the MTA-STS policy" in w for w in warnings), warnings
    assert any("certificate verify failed" in w for w in warnings), warnings


async def test_testing_mode_without_starttls_delivers_in_the_clear(
    store: Store, alice: int, dns: DnsServer, ca: TestCA, policy_host: PolicyHost, start_mx: Any
) -> None:
    policy_host.response = policy_response(TESTING)
    mx = await start_mx(None)
    await smtp_queue.enqueue(store, "alice@local.test", ["bob@remote.test"], MESSAGE, now=T0)
    await _worker(store, dns, ca, mx, policy_host).deliver_due(T0)
    assert [t["tls"] for t in mx.transactions] == [False]


@pytest.mark.parametrize(
    "response",
    [
        policy_response(ENFORCE, status="404 Not Found"),
        policy_response(ENFORCE, content_type="text/html"),
        policy_response(b"version: STSv1\nmode: enforce\n"),  # no max_age, no mx
        policy_response(ENFORCE.replace(b"enforce", b"none")),  # §8.3: switched off
    ],
)
async def test_no_usable_policy_is_opportunistic(
    store: Store,
    alice: int,
    dns: DnsServer,
    ca: TestCA,
    policy_host: PolicyHost,
    start_mx: Any,
    response: bytes,
) -> None:
    """RFC 8461 §3.3: a record without a policy we can fetch and parse is no policy: STARTTLS
    without checking the certificate, and clear text when STARTTLS fails, as before."""
    policy_host.response = response
    mx = await start_mx(ca.server_context("www.remote.test"))  # a name that would not do
    await smtp_queue.enqueue(store, "alice@local.test", ["bob@remote.test"], MESSAGE, now=T0)
    await _worker(store, dns, ca, mx, policy_host).deliver_due(T0)
    assert [(t["to"], t["tls"]) for t in mx.transactions] == [(["bob@remote.test"], True)]
    assert len(policy_host.requests) == 1


async def test_no_record_is_opportunistic(
    store: Store, alice: int, dns: DnsServer, ca: TestCA, policy_host: PolicyHost, start_mx: Any
) -> None:
    """plain.test has no _mta-sts record: today's behaviour, and no HTTPS request at all."""
    policy_host.response = policy_response(ENFORCE)
    mx = await start_mx(None)
    await smtp_queue.enqueue(store, "alice@local.test", ["bob@plain.test"], MESSAGE, now=T0)
    await _worker(store, dns, ca, mx, policy_host).deliver_due(T0)
    assert [(t["to"], t["tls"]) for t in mx.transactions] == [(["bob@plain.test"], False)]
    assert policy_host.requests == []


def test_ca_file_from_config(tmp_path: Path) -> None:
    """``[queue] tls_ca_file`` reaches the worker; without it the system's trust store."""
    path = tmp_path / "postbus.toml"
    path.write_text('[server]\nhostname = "mx.local.test"\n[queue]\ntls_ca_file = "ca.pem"\n')
    settings = outbound.settings_from_config(load_config(path, {}))
    assert settings.tls_ca_file == tmp_path / "ca.pem"
    assert settings.mta_sts_port == 443  # RFC 8461 §3.3; not a setting
    assert outbound.settings_from_config(load_config(None, {})).tls_ca_file is None


async def test_smarthost_is_not_subject_to_the_recipients_policy(
    store: Store, alice: int, dns: DnsServer, ca: TestCA, policy_host: PolicyHost, start_mx: Any
) -> None:
    """Through a relay the relay's own settings decide (RFC 8461 §3.4): no policy lookup."""
    policy_host.response = policy_response(ENFORCE)
    relay = await start_mx(ca.server_context("relay.local.test"))
    worker = _worker(store, dns, ca, relay, policy_host)
    worker.settings = replace(
        worker.settings, smarthost=outbound.Smarthost("127.0.0.1", relay.port, verify=False)
    )
    await smtp_queue.enqueue(store, "alice@local.test", ["bob@remote.test"], MESSAGE, now=T0)
    await worker.deliver_due(T0)
    assert [(t["to"], t["tls"]) for t in relay.transactions] == [(["bob@remote.test"], True)]
    assert policy_host.requests == []
