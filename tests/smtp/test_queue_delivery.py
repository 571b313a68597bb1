"""The delivery worker against a real SMTP receiver (aiosmtpd) on 127.0.0.1.

DNS answers come from ``StaticResolver`` (fixed MX/A records pointing at 127.0.0.1); the clock
is passed in, so five days of retries run in a second.
"""

from __future__ import annotations

import asyncio
import email
import email.policy
import re
import ssl
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field, replace
from email.message import Message
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.smtp import SMTP as SmtpServer
from aiosmtpd.smtp import AuthResult

from postbus.smtp import outbound
from postbus.smtp import queue as smtp_queue
from postbus.smtp.resolver import StaticResolver
from postbus.store import Store
from postbus.store import queue as q
from postbus.tls import ensure_self_signed, server_context
from tests.conftest import free_port
from tests.smtp.dnsmasq import start_dnsmasq

T0 = 1_700_000_000
HOUR, DAY = 3600, 86400
MESSAGE = (
    b"From: Alice <alice@local.test>\r\nTo: bob@remote.test\r\nSubject: Plans\r\n"
    b"Message-ID: <plans@local.test>\r\n\r\nSee you at 8.\r\n.leading dot\r\n"
)


BOTH = pytest.mark.parametrize("backend", ["sqlite", "postgres"])


@pytest.fixture
def backend() -> str:
    """SQLite here; tests marked BOTH also run on PostgreSQL (the claims are the store's own
    tests in test_queue_store.py)."""
    return "sqlite"


@dataclass
class Receiver:
    """The remote MX: records transactions, answers RCPT as told."""

    port: int
    rcpt_replies: dict[str, list[str]] = field(default_factory=dict)  # address -> replies
    transactions: list[dict[str, Any]] = field(default_factory=list)
    sessions: set[int] = field(default_factory=set)

    async def handle_RCPT(
        self, server: Any, session: Any, envelope: Any, address: str, options: list[str]
    ) -> str:
        replies = self.rcpt_replies.get(address)
        if replies:
            return replies.pop(0)
        envelope.rcpt_tos.append(address)
        return "250 2.1.5 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.sessions.add(id(session))
        self.transactions.append(
            {
                "from": envelope.mail_from,
                "to": list(envelope.rcpt_tos),
                "content": envelope.original_content,
                "tls": session.ssl is not None,
                "session": id(session),
            }
        )
        return "250 2.0.0 queued as 1234"


@pytest.fixture
async def receiver(tmp_path: Path) -> AsyncIterator[Receiver]:
    cert, key = tmp_path / "mx-cert.pem", tmp_path / "mx-key.pem"
    ensure_self_signed(cert, key, "mx.remote.test")
    context = server_context(cert, key)
    handler = Receiver(free_port())
    loop = asyncio.get_running_loop()
    server = await loop.create_server(
        lambda: SmtpServer(handler, hostname="mx.remote.test", tls_context=context),
        "127.0.0.1",
        handler.port,
    )
    try:
        yield handler
    finally:
        server.close()
        await server.wait_closed()


def _resolver() -> StaticResolver:
    return StaticResolver(
        {
            ("remote.test", "MX"): [(10, "mx.remote.test")],
            ("mx.remote.test", "A"): ["127.0.0.1"],
            ("elsewhere.test", "MX"): [(10, "mx.remote.test")],
            ("nomail.test", "MX"): [(0, ".")],  # RFC 7505 null MX
            ("implicit.test", "A"): ["127.0.0.1"],  # no MX: the A record is the implicit MX
        },
        failing=["broken.test"],
    )


@pytest.fixture
async def alice(store: Store) -> int:
    await store.add_domain("local.test")
    return (await store.add_account("alice@local.test", "hash")).id


def _worker(store: Store, port: int, **changes: Any) -> outbound.QueueWorker:
    settings = replace(
        outbound.OutboundSettings(
            hostname="mx.local.test", port=port, connect_timeout=5, command_timeout=10
        ),
        **changes,
    )
    return outbound.QueueWorker(store, settings, _resolver())


async def _inbox(store: Store, account_id: int) -> list[Message]:
    inbox = await store.get_mailbox(account_id, "INBOX")
    found = []
    for summary in reversed(await store.newest(account_id, inbox.id)):
        raw = await store.read_body(account_id, summary.message_id)
        found.append(email.message_from_bytes(raw, policy=email.policy.compat32))
    return found


def _status(report: Message) -> list[dict[str, str]]:
    return [dict(block.items()) for block in report.get_payload()[1].get_payload()]


@BOTH
async def test_delivered_over_starttls_in_one_transaction(
    store: Store, alice: int, receiver: Receiver
) -> None:
    await smtp_queue.enqueue(
        store, "alice@local.test", ["bob@remote.test", "carol@remote.test"], MESSAGE, now=T0
    )
    assert await _worker(store, receiver.port).deliver_due(T0) == 2
    [sent] = receiver.transactions
    assert sent["from"] == "alice@local.test"
    assert sent["to"] == ["bob@remote.test", "carol@remote.test"]
    assert sent["tls"] is True
    assert sent["content"].rstrip(b"\r\n") == MESSAGE.rstrip(b"\r\n")  # dot-stuffing undone
    assert await smtp_queue.list_queue(store) == []
    assert await _inbox(store, alice) == []  # no notice for a success


async def test_one_connection_carries_several_messages(
    store: Store, alice: int, receiver: Receiver
) -> None:
    for rcpt in ("bob@remote.test", "dave@elsewhere.test", "carol@remote.test"):
        await smtp_queue.enqueue(store, "alice@local.test", [rcpt], MESSAGE, now=T0)
    worker = _worker(store, receiver.port, connections_per_domain=1)
    assert await worker.deliver_due(T0) == 3
    by_domain: dict[str, set[int]] = {}
    for t in receiver.transactions:
        by_domain.setdefault(t["to"][0].split("@")[1], set()).add(t["session"])
    assert len(receiver.transactions) == 3
    assert len(by_domain["remote.test"]) == 1  # two messages, one connection


@BOTH
async def test_permanent_refusal_bounces_at_once(
    store: Store, alice: int, receiver: Receiver
) -> None:
    receiver.rcpt_replies["bob@remote.test"] = ["550 5.1.1 <bob@remote.test>: no such user"]
    await smtp_queue.enqueue(
        store, "alice@local.test", ["bob@remote.test", "carol@remote.test"], MESSAGE, now=T0
    )
    await _worker(store, receiver.port).deliver_due(T0 + 5)
    assert [t["to"] for t in receiver.transactions] == [["carol@remote.test"]]
    assert await smtp_queue.list_queue(store) == []
    [bounce] = await _inbox(store, alice)
    assert bounce.get_content_type() == "multipart/report"
    _, bob = _status(bounce)
    assert bob["Final-Recipient"] == "rfc822; bob@remote.test"
    assert (bob["Action"], bob["Status"]) == ("failed", "5.1.1")
    assert "no such user" in bob["Diagnostic-Code"]
    assert bob["Remote-MTA"] == "dns; mx.remote.test"
    assert "Subject: Plans" in bounce.get_payload()[2].get_payload()


async def test_temporary_refusal_is_retried_on_schedule(
    store: Store, alice: int, receiver: Receiver
) -> None:
    receiver.rcpt_replies["bob@remote.test"] = ["451 4.7.1 greylisted, come back later"]
    await smtp_queue.enqueue(store, "alice@local.test", ["bob@remote.test"], MESSAGE, now=T0)
    worker = _worker(store, receiver.port)
    await worker.deliver_due(T0)
    [row] = await smtp_queue.list_queue(store)
    assert (row.state, row.attempts, row.next_attempt) == (q.State.QUEUED, 1, T0 + 300)
    assert "451 4.7.1 greylisted" in row.last_error
    assert await worker.deliver_due(T0 + 299) == 0
    assert await worker.deliver_due(T0 + 300) == 1
    assert [t["to"] for t in receiver.transactions] == [["bob@remote.test"]]
    assert await smtp_queue.list_queue(store) == []
    assert await _inbox(store, alice) == []


@BOTH
async def test_unreachable_destination_until_expiry(store: Store, alice: int) -> None:
    await smtp_queue.enqueue(store, "alice@local.test", ["bob@remote.test"], MESSAGE, now=T0)
    worker = _worker(store, free_port())  # nothing listens there: connection refused
    now, delays = T0, []
    while True:
        assert await worker.deliver_due(now) == 1
        rows = await smtp_queue.list_queue(store)
        if not rows:
            break
        [row] = rows
        assert row.state is q.State.QUEUED and "Errno 111" in row.last_error
        delays.append(row.next_attempt - now)
        assert await worker.deliver_due(row.next_attempt - 1) == 0
        now = row.next_attempt
    assert delays[:6] == [300, 600, 1200, 2400, 4800, 9600]
    assert max(delays) == 4 * HOUR
    assert now == T0 + 5 * DAY  # the last try is at expiry, not after it
    delay_notice, bounce = await _inbox(store, alice)
    [_, delayed] = _status(delay_notice)
    assert (delayed["Action"], delayed["Status"]) == ("delayed", "4.4.1")
    assert "Will-Retry-Until" in delayed
    [_, failed] = _status(bounce)
    assert failed["Action"] == "failed" and failed["Status"].startswith("4.4.")


async def test_null_sender_is_never_bounced(store: Store, alice: int) -> None:
    await smtp_queue.enqueue(store, "", ["bob@nomail.test"], MESSAGE, now=T0)
    await _worker(store, free_port()).deliver_due(T0)
    assert await smtp_queue.list_queue(store) == []
    assert await _inbox(store, alice) == []


@pytest.mark.parametrize(
    ("domain", "kind", "status"),
    [
        ("nomail.test", "failed", "5.1.10"),  # RFC 7505 null MX
        ("unknown.test", "failed", "5.1.2"),  # no MX, no A
        ("broken.test", "queued", ""),  # DNS does not answer: later
    ],
)
async def test_routing_failures(
    store: Store, alice: int, domain: str, kind: str, status: str
) -> None:
    await smtp_queue.enqueue(store, "alice@local.test", [f"bob@{domain}"], MESSAGE, now=T0)
    await _worker(store, free_port()).deliver_due(T0)
    rows = await smtp_queue.list_queue(store)
    if kind == "queued":
        assert [r.state for r in rows] == [q.State.QUEUED]
        assert await _inbox(store, alice) == []
        return
    assert rows == []
    [bounce] = await _inbox(store, alice)
    assert _status(bounce)[1]["Status"] == status


async def test_implicit_mx(store: Store, alice: int, receiver: Receiver) -> None:
    await smtp_queue.enqueue(store, "alice@local.test", ["bob@implicit.test"], MESSAGE, now=T0)
    await _worker(store, receiver.port).deliver_due(T0)
    assert [t["to"] for t in receiver.transactions] == [["bob@implicit.test"]]


async def test_remote_sender_gets_a_queued_bounce(store: Store, receiver: Receiver) -> None:
    receiver.rcpt_replies["bob@remote.test"] = ["554 5.7.1 rejected"]
    await smtp_queue.enqueue(store, "zed@elsewhere.test", ["bob@remote.test"], MESSAGE, now=T0)
    worker = _worker(store, receiver.port)
    await worker.deliver_due(T0)
    [row] = await smtp_queue.list_queue(store)  # the bounce, to the sender's MX, from <>
    assert (row.envelope_from, row.recipient) == ("", "zed@elsewhere.test")
    await worker.deliver_due(T0)
    [bounce] = receiver.transactions
    assert bounce["from"] == "<>" and bounce["to"] == ["zed@elsewhere.test"]
    assert b"report-type=delivery-status" in bounce["content"]


async def test_run_queue_delivers_when_woken_and_stops(
    store: Store, alice: int, receiver: Receiver
) -> None:
    settings = outbound.OutboundSettings(hostname="mx.local.test", port=receiver.port)
    stop = asyncio.Event()
    task = asyncio.create_task(outbound.run_queue(store, settings, _resolver(), stop))
    await asyncio.sleep(0.05)
    await smtp_queue.enqueue(store, "alice@local.test", ["bob@remote.test"], MESSAGE)
    for _ in range(200):
        if receiver.transactions and not await smtp_queue.list_queue(store):
            break
        await asyncio.sleep(0.02)
    assert [t["to"] for t in receiver.transactions] == [["bob@remote.test"]]
    stop.set()
    await asyncio.wait_for(task, 5)


async def test_failed_starttls_falls_back_to_plain(store: Store, alice: int) -> None:
    handler = Receiver(free_port())
    broken = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)  # no certificate: every handshake fails
    server = await asyncio.get_running_loop().create_server(
        lambda: SmtpServer(handler, hostname="mx.remote.test", tls_context=broken),
        "127.0.0.1",
        handler.port,
    )
    try:
        await smtp_queue.enqueue(store, "alice@local.test", ["bob@remote.test"], MESSAGE, now=T0)
        await _worker(store, handler.port).deliver_due(T0)
    finally:
        server.close()
        await server.wait_closed()
    [sent] = handler.transactions
    assert sent["tls"] is False and sent["to"] == ["bob@remote.test"]


async def test_smarthost_with_auth(
    store: Store, alice: int, receiver: Receiver, tmp_path: Path
) -> None:
    logins: list[tuple[str, bytes]] = []

    def authenticate(
        server: Any, session: Any, envelope: Any, mechanism: str, data: Any
    ) -> AuthResult:
        logins.append((data.login.decode(), data.password))
        return AuthResult(success=data.password == b"relay-secret")

    cert, key = tmp_path / "relay-cert.pem", tmp_path / "relay-key.pem"
    ensure_self_signed(cert, key, "relay.test")
    relay_port = free_port()
    server = await asyncio.get_running_loop().create_server(
        lambda: SmtpServer(
            receiver,
            hostname="relay.test",
            tls_context=server_context(cert, key),
            authenticator=authenticate,
            auth_required=True,
        ),
        "127.0.0.1",
        relay_port,
    )
    try:
        await smtp_queue.enqueue(store, "alice@local.test", ["bob@anywhere.test"], MESSAGE, now=T0)
        relay = outbound.Smarthost(
            "127.0.0.1", relay_port, "alice", "relay-secret", "starttls", verify=False
        )
        await _worker(store, free_port(), smarthost=relay).deliver_due(T0)
    finally:
        server.close()
        await server.wait_closed()
    assert logins == [("alice", b"relay-secret")]
    [sent] = receiver.transactions
    assert sent["tls"] is True and sent["to"] == ["bob@anywhere.test"]
    with pytest.raises(ValueError):
        outbound.Smarthost("relay.test", 25, "alice", "secret", "none")


async def test_refused_data_and_missing_smtputf8(
    store: Store, alice: int, receiver: Receiver
) -> None:
    async def refuse(server: Any, session: Any, envelope: Any) -> str:
        return "552 5.3.4 message too big"

    receiver.handle_DATA = refuse  # type: ignore[method-assign]
    await smtp_queue.enqueue(store, "alice@local.test", ["bob@remote.test"], MESSAGE, now=T0)
    # aiosmtpd does not offer SMTPUTF8 unless asked: the address cannot be carried.
    await smtp_queue.enqueue(store, "alice@local.test", ["jörg@remote.test"], MESSAGE, now=T0)
    await _worker(store, receiver.port).deliver_due(T0)
    assert await smtp_queue.list_queue(store) == []
    bounces = {str(b): b for b in await _inbox(store, alice)}
    assert len(bounces) == 2
    # The SMTPUTF8 one is message/global-delivery-status (RFC 6533), which email cannot split.
    assert sorted(re.findall(r"^Status: (\S+)", "".join(bounces), re.M)) == ["5.3.4", "5.6.7"]


def test_replies_become_results() -> None:
    cases = [
        (250, "2.0.0 ok", outbound.Kind.SENT, "2.0.0"),
        (550, "5.1.1 no such user", outbound.Kind.PERMANENT, "5.1.1"),
        (550, "no such user", outbound.Kind.PERMANENT, "5.0.0"),
        (451, "4.7.1 greylisted", outbound.Kind.TEMPORARY, "4.7.1"),
        (421, "5.0.0 confused server", outbound.Kind.TEMPORARY, "4.0.0"),  # class must agree
        (999, "odd", outbound.Kind.TEMPORARY, "4.0.0"),
    ]
    for code, text, kind, status in cases:
        result = outbound.from_reply(code, text + "\r\n second line", "mx")
        assert (result.kind, result.status) == (kind, status), (code, text)
        assert "\n" not in result.reply
    settings = outbound.OutboundSettings(hostname="h")
    assert [outbound.retry_delay(n, settings) for n in (1, 2, 3, 7, 50)] == [
        300,
        600,
        1200,
        4 * HOUR,
        4 * HOUR,
    ]


async def test_routing_through_real_dns(
    store: Store, alice: int, receiver: Receiver, tmp_path: Path
) -> None:
    server = start_dnsmasq(
        tmp_path,
        mx=[("remote.test", "mx2.remote.test", 20), ("remote.test", "mx1.remote.test", 10)],
        hosts=[
            ("mx1.remote.test", "127.0.0.1"),
            ("mx2.remote.test", "127.0.0.2"),
            ("implicit.test", "127.0.0.1"),
        ],
    )
    try:
        await _route_and_deliver(store, receiver, server.resolver())
    finally:
        server.stop()


async def _route_and_deliver(store: Store, receiver: Receiver, resolver: Any) -> None:
    assert await outbound.route(resolver, "remote.test") == [
        ("mx1.remote.test", "127.0.0.1"),
        ("mx2.remote.test", "127.0.0.2"),
    ]
    assert await outbound.route(resolver, "implicit.test") == [("implicit.test", "127.0.0.1")]
    with pytest.raises(outbound.RouteError) as refused:
        await outbound.route(resolver, "nothing-here.test")  # NXDOMAIN
    assert refused.value.result.status == "5.1.2"
    with pytest.raises(outbound.RouteError) as unknown:
        await outbound.route(resolver, "example.com")  # REFUSED: answer unknown for now
    assert unknown.value.result.kind is outbound.Kind.TEMPORARY
    await smtp_queue.enqueue(store, "alice@local.test", ["bob@remote.test"], MESSAGE, now=T0)
    worker = outbound.QueueWorker(
        store, outbound.OutboundSettings(hostname="mx.local.test", port=receiver.port), resolver
    )
    await worker.deliver_due(T0)
    assert [t["to"] for t in receiver.transactions] == [["bob@remote.test"]]


async def test_stopping_gives_back_unfinished_deliveries(
    store: Store, alice: int, receiver: Receiver
) -> None:
    in_data = asyncio.Event()

    async def hang(server: Any, session: Any, envelope: Any) -> str:
        in_data.set()
        await asyncio.sleep(60)
        return "250 too late"

    receiver.handle_DATA = hang  # type: ignore[method-assign]
    settings = outbound.OutboundSettings(hostname="mx.local.test", port=receiver.port)
    stop = asyncio.Event()
    task = asyncio.create_task(outbound.run_queue(store, settings, _resolver(), stop))
    await smtp_queue.enqueue(store, "alice@local.test", ["bob@remote.test"], MESSAGE)
    await asyncio.wait_for(in_data.wait(), 10)
    [row] = await smtp_queue.list_queue(store)
    assert row.state is q.State.DELIVERING
    stop.set()
    await asyncio.wait_for(task, 5)
    [row] = await smtp_queue.list_queue(store)
    assert row.state is q.State.QUEUED and row.attempts == 0
    assert row.next_attempt <= time.time()
