"""Forwarding over real sockets: the MX forwards with an SRS sender, takes bounces to SRS
addresses back and relays them to the original sender; ``postbus user forward``.

The "remote" MX is aiosmtpd on 127.0.0.1; the outbound queue finds it, and our own MX, through
``StaticResolver`` (fixed MX/A records), as in test_queue_delivery.py.
"""

from __future__ import annotations

import asyncio
import smtplib
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import typer
from aiosmtpd.smtp import SMTP as SmtpServer
from typer.testing import CliRunner

from postbus.accounts.forwarding import get_forwarding, register_cli, set_forwarding
from postbus.smtp import outbound, srs
from postbus.smtp import queue as smtp_queue
from postbus.smtp.mx import MxHandler
from postbus.smtp.resolver import StaticResolver
from postbus.store import Store
from tests.conftest import free_port
from tests.smtp.conftest import ALICE, DOMAIN, SmtpEnv

SENDER = "sender@remote.test"
ELSEWHERE = "alice@remote.test"
MESSAGE = (
    b"From: Sender <sender@remote.test>\r\nTo: alice@example.test\r\nSubject: Plans\r\n"
    b"Message-ID: <plans@remote.test>\r\n\r\nSee you at 8.\r\n"
)
DAY = 86400


@dataclass
class Srs:
    """Our MX with an SRS key (the fixture's own MX has none), and that key."""

    port: int
    key_file: Path

    def secrets(self) -> tuple[bytes, ...]:
        return srs.load_secrets(self.key_file)


@pytest.fixture
async def srs_mx(smtp_env: SmtpEnv, tmp_path: Path) -> Srs:
    key_file = tmp_path / srs.KEY_FILE
    handler = MxHandler(smtp_env.context(srs_key=key_file))
    return Srs(await smtp_env.start("mx-srs", handler, "starttls"), key_file)


def _send(port: int, sender: str, recipients: list[str], message: bytes = MESSAGE) -> Any:
    with smtplib.SMTP("127.0.0.1", port, local_hostname="client.test", timeout=10) as client:
        return client.sendmail(sender, recipients, message)


def _rcpt(port: int, sender: str, recipient: str) -> tuple[int, bytes]:
    with smtplib.SMTP("127.0.0.1", port, local_hostname="client.test", timeout=10) as client:
        client.ehlo()
        client.mail(sender)
        return client.rcpt(recipient)


async def _queued(store: Store) -> list[Any]:
    return sorted(await smtp_queue.list_queue(store), key=lambda r: r.message_id)


async def test_forward_to_another_provider_is_queued_with_an_srs_sender(
    smtp_env: SmtpEnv, srs_mx: Srs
) -> None:
    store, alice = smtp_env.store, smtp_env.accounts[ALICE]
    await set_forwarding(store, alice, [ELSEWHERE], keep_copy=False)
    await smtp_env.run(_send, srs_mx.port, SENDER, [ALICE])
    assert await smtp_env.inbox(ALICE) == []  # no copy kept
    [queued] = await _queued(store)
    assert queued.recipient == ELSEWHERE
    assert queued.envelope_from.startswith("SRS0=")
    assert queued.envelope_from.endswith(f"=remote.test=sender@{DOMAIN}")
    assert srs.reverse(queued.envelope_from, srs_mx.secrets(), time.time()) == SENDER
    body = await store.read_blob(queued.blob_hash)
    assert body.startswith(b"Delivered-To: alice@example.test\r\nX-Postbus-Forwarded: ")
    assert b"Return-Path:" not in body and b"\r\nReceived: from client.test" in body
    assert body.endswith(MESSAGE)

    await set_forwarding(store, alice, [ELSEWHERE], keep_copy=True)
    await smtp_env.run(_send, srs_mx.port, "<>", [ALICE])  # a bounce to alice, forwarded too
    assert len(await smtp_env.inbox(ALICE)) == 1  # the copy kept
    assert (await _queued(store))[-1].envelope_from == ""  # the null sender stays null


async def test_a_bounce_to_an_srs_address_goes_back_to_the_sender(
    smtp_env: SmtpEnv, srs_mx: Srs
) -> None:
    store = smtp_env.store
    address = srs.forward(SENDER, DOMAIN, srs_mx.secrets()[0], time.time())
    bounce = b"From: MAILER-DAEMON@remote.test\r\nSubject: failure\r\n\r\nNo such user.\r\n"
    await smtp_env.run(_send, srs_mx.port, "<>", [address], bounce)
    [relayed] = await _queued(store)
    assert (relayed.recipient, relayed.envelope_from) == (SENDER, "")
    body = await store.read_blob(relayed.blob_hash)
    assert body.startswith(b"Received: from client.test") and body.endswith(bounce)
    # A message (not a bounce) to the address goes back too, its sender rewritten for SPF.
    await smtp_env.run(_send, srs_mx.port, "someone@other.test", [address], bounce)
    assert srs.reverse((await _queued(store))[-1].envelope_from, srs_mx.secrets(),
                       time.time()) == "someone@other.test"  # fmt: skip


async def test_a_bounce_for_a_local_sender_lands_in_the_inbox(
    smtp_env: SmtpEnv, srs_mx: Srs
) -> None:
    await smtp_env.store.add_domain("second.test")
    address = srs.forward(ALICE, "second.test", srs_mx.secrets()[0], time.time())
    await smtp_env.run(_send, srs_mx.port, "<>", [address])
    assert len(await smtp_env.inbox(ALICE)) == 1
    assert await _queued(smtp_env.store) == []


async def test_forged_expired_and_foreign_srs_addresses_are_refused(
    smtp_env: SmtpEnv, srs_mx: Srs
) -> None:
    secret, now = srs_mx.secrets()[0], time.time()
    good = srs.forward(SENDER, DOMAIN, secret, now)
    local, _, _ = good.rpartition("@")
    refused = {
        "forged": "SRS0=AAAA=" + local.split("=", 2)[2] + f"@{DOMAIN}",
        "expired": srs.forward(SENDER, DOMAIN, secret, now - 30 * DAY),
        "other key": srs.forward(SENDER, DOMAIN, b"not our secret", now),
        "malformed": f"SRS0=abcd@{DOMAIN}",
        "srs1 forged": f"SRS1=AAAA=other.test==abcd=TT=x.test=u@{DOMAIN}",
    }
    for why, address in refused.items():
        assert await smtp_env.run(_rcpt, srs_mx.port, "<>", address) == (
            550, b"5.1.1 No such user here"), why  # fmt: skip
    # Not one of our domains: no relay, SRS or not.
    assert (await smtp_env.run(_rcpt, srs_mx.port, "<>", local + "@other.test"))[0] == 550
    # An MX without an SRS key takes no SRS address at all.
    keyless = await smtp_env.start("mx-no-srs", MxHandler(smtp_env.context(srs_key=None)))
    assert (await smtp_env.run(_rcpt, keyless, "<>", good))[0] == 550
    assert await _queued(smtp_env.store) == []


# -- the whole way round, through the queue --------------------------------------------------


@dataclass
class RemoteMx:
    """The other provider: refuses the addresses in ``refuse``, records the rest."""

    refuse: set[str] = field(default_factory=set)
    received: list[dict[str, Any]] = field(default_factory=list)

    async def handle_RCPT(self, server: Any, session: Any, envelope: Any, address: str,
                          options: list[str]) -> str:  # fmt: skip
        if address in self.refuse:
            return f"550 5.1.1 <{address}>: no such user"
        envelope.rcpt_tos.append(address)
        return "250 2.1.5 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.received.append({"from": envelope.mail_from, "to": list(envelope.rcpt_tos),
                              "content": envelope.original_content})  # fmt: skip
        return "250 2.0.0 OK"


@pytest.fixture
async def remote_mx() -> AsyncIterator[tuple[RemoteMx, int]]:
    handler, port = RemoteMx(), free_port()
    loop = asyncio.get_running_loop()
    server = await loop.create_server(
        lambda: SmtpServer(handler, hostname="mx.remote.test"), "127.0.0.1", port
    )
    try:
        yield handler, port
    finally:
        server.close()
        await server.wait_closed()


def _worker(store: Store, port: int) -> outbound.QueueWorker:
    resolver = StaticResolver({
        ("remote.test", "MX"): [(10, "mx.remote.test")],
        ("mx.remote.test", "A"): ["127.0.0.1"],
        (DOMAIN, "MX"): [(10, "in.example.test")],
        ("in.example.test", "A"): ["127.0.0.1"],
    })  # fmt: skip
    settings = outbound.OutboundSettings(
        hostname="out.example.test", port=port, connect_timeout=5, command_timeout=10
    )
    return outbound.QueueWorker(store, settings, resolver)


async def test_a_refused_forward_bounces_back_to_the_original_sender(
    smtp_env: SmtpEnv, srs_mx: Srs, remote_mx: tuple[RemoteMx, int]
) -> None:
    remote, remote_port = remote_mx
    remote.refuse.add(ELSEWHERE)
    store = smtp_env.store
    await set_forwarding(store, smtp_env.accounts[ALICE], [ELSEWHERE], keep_copy=False)
    await smtp_env.run(_send, srs_mx.port, SENDER, [ALICE])
    to_remote, to_us = _worker(store, remote_port), _worker(store, srs_mx.port)
    # 1. The forward is refused there: our queue bounces it to the SRS sender, one of ours.
    assert await to_remote.deliver_due(int(time.time())) == 1
    [bounce] = await _queued(store)
    assert srs.is_srs(bounce.recipient) and bounce.envelope_from == ""
    # 2. The bounce reaches our MX, which checks the address and queues it for the sender.
    assert await to_us.deliver_due(int(time.time())) == 1
    [relayed] = await _queued(store)
    assert (relayed.recipient, relayed.envelope_from) == (SENDER, "")
    # 3. And it arrives where the message came from.
    assert await to_remote.deliver_due(int(time.time())) == 1
    [arrived] = remote.received
    assert (arrived["from"], arrived["to"]) == ("<>", [SENDER])
    assert b"multipart/report" in arrived["content"]
    assert b"alice@remote.test" in arrived["content"]
    assert await smtp_env.inbox(ALICE) == []


async def test_a_loop_through_another_provider_stops_here(
    smtp_env: SmtpEnv, srs_mx: Srs, remote_mx: tuple[RemoteMx, int]
) -> None:
    # alice forwards to remote.test, which sends it straight back (as a forwarder would).
    remote, remote_port = remote_mx
    store = smtp_env.store
    await set_forwarding(store, smtp_env.accounts[ALICE], [ELSEWHERE], keep_copy=False)
    await smtp_env.run(_send, srs_mx.port, SENDER, [ALICE])
    assert await _worker(store, remote_port).deliver_due(int(time.time())) == 1
    [there] = remote.received
    await smtp_env.run(_send, srs_mx.port, there["from"], [ALICE], there["content"])
    assert len(await smtp_env.inbox(ALICE)) == 1  # kept, not forwarded a second time
    assert await _queued(store) == []


# -- postbus user forward ------------------------------------------------------------------


def test_the_cli_command(tmp_path: Path) -> None:
    config = tmp_path / "postbus.toml"
    config.write_text(f'[server]\ndata_dir = "{tmp_path}"\nhostname = "mail.example.test"\n')
    from postbus.cli import _config, _run  # the real CLI's helpers, as the command uses them

    async def prepare(store: Store) -> int:
        await store.add_domain(DOMAIN)
        return (await store.add_account(ALICE, "hash")).id

    alice = _run(_config(config), prepare)
    app, user_app = typer.Typer(), typer.Typer()
    app.add_typer(user_app, name="user")
    register_cli(user_app)
    runner = CliRunner()

    def run(*args: str) -> Any:
        return runner.invoke(app, ["user", "forward", *args, "--config", str(config)])

    assert "no forwarding" in run(ALICE).output
    done = run(ALICE, "--to", "a@x.test", "--to", "B@Y.test", "--no-keep-copy")
    assert done.exit_code == 0, done.output
    assert "forwarded to a@x.test, b@y.test; no copy is kept" in done.output
    assert "a copy is kept" in run(ALICE, "--keep-copy").output  # the targets stay
    stored = _run(_config(config), lambda store: get_forwarding(store, alice))
    assert stored.to == ("a@x.test", "b@y.test") and stored.keep_copy
    for args, message in (
        (("--to", "alice@example.test"), "own address"),
        (("--to", "not an address"), "not an e-mail address"),
        (("--off", "--to", "a@x.test"), "cannot be combined"),
    ):
        refused = run(ALICE, *args)
        assert refused.exit_code == 2 and message in refused.output, refused.output
    assert "no account" in run("nobody@example.test", "--off").output
    assert "no forwarding" in run(ALICE, "--off").output
    assert not _run(_config(config), lambda store: get_forwarding(store, alice)).active
