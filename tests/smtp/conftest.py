"""A real store and real SMTP listeners on 127.0.0.1 for the SMTP socket tests.

``smtp_env`` starts an MX (STARTTLS offered) and submission on 587-style STARTTLS and 465-style
implicit TLS, on ports the kernel picks, over a SQLite store with domain example.test and
users alice (quota unlimited) and bob (a small quota). smtplib is blocking, so tests call it
through ``env.run(fn)`` in a thread while the listeners serve on the test's event loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import smtplib
import ssl
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field, replace
from functools import cache
from pathlib import Path
from typing import Any, TypeVar

import pytest

from postbus.accounts.auth import Authenticator, LoginThrottle
from postbus.accounts.passwords import hash_password
from postbus.config import Listener, load_config
from postbus.server import Service
from postbus.smtp.handler import SmtpContext
from postbus.smtp.mx import MxHandler
from postbus.smtp.server import context_for, start_listener
from postbus.smtp.submission import SubmissionHandler
from postbus.store import Store
from postbus.tls import client_context_trusting, ensure_self_signed, server_context
from tests.conftest import open_test_store
from tests.smtp.dnsmasq import start_dnsmasq

T = TypeVar("T")
DOMAIN = "example.test"
ALICE, BOB, CAROL = f"alice@{DOMAIN}", f"bob@{DOMAIN}", f"carol@{DOMAIN}"
PASSWORD = "correct horse battery"
HOSTNAME = "mx.example.test"
MAX_SIZE = 64 * 1024
MAX_LINE = 1000
BOB_QUOTA = 4000


@cache
def password_hash() -> str:
    return hash_password(PASSWORD)


@dataclass
class SmtpEnv:
    store: Store
    service: Service
    cert: Path
    ports: dict[str, int]
    accounts: dict[str, int]
    servers: list[asyncio.AbstractServer] = field(default_factory=list)

    async def run(self, fn: Callable[..., T], *args: Any) -> T:
        return await asyncio.to_thread(fn, *args)

    def tls(self) -> ssl.SSLContext:
        return client_context_trusting(self.cert)

    def mx(self) -> smtplib.SMTP:
        client = smtplib.SMTP("127.0.0.1", self.ports["mx"], local_hostname="client.test",
                              timeout=10)  # fmt: skip
        client.ehlo()
        return client

    def submission(self, login: str | None = ALICE, password: str = PASSWORD) -> smtplib.SMTP:
        client = smtplib.SMTP("127.0.0.1", self.ports["submission"],
                              local_hostname="client.test", timeout=10)  # fmt: skip
        client.starttls(context=self.tls())
        client.ehlo()
        if login is not None:
            client.login(login, password)
        return client

    async def start(self, name: str, handler: Any, tls: str = "none", **options: Any) -> int:
        listener = Listener(name, "smtp-mx", "127.0.0.1", 0, tls)  # type: ignore[arg-type]
        server = await start_listener(self.service, listener, handler, **options)
        self.servers.append(server)
        return server.sockets[0].getsockname()[1]

    def context(self, protocol: str = "smtp-mx", **overrides: Any) -> SmtpContext:
        listener = Listener("t", protocol, "127.0.0.1", 0, "none")  # type: ignore[arg-type]
        return context_for(self.service, listener, **overrides)

    async def inbox(self, address: str, folder: str = "INBOX") -> list[bytes]:
        account = self.accounts[address]
        mailbox = await self.store.get_mailbox(account, folder)
        summaries = await self.store.newest(account, mailbox.id, 1000, None)
        return [await self.store.read_body(account, s.message_id) for s in reversed(summaries)]


@pytest.fixture
async def smtp_env(tmp_path: Path) -> AsyncIterator[SmtpEnv]:
    store = await open_test_store("sqlite", tmp_path, None)
    # A real DNS server with no records for the test domains: sender checks run for real and
    # answer "none" at once.
    dns = start_dnsmasq(tmp_path)
    config = load_config(None, {}, data_dir=tmp_path)
    config = replace(
        config,
        server=replace(config.server, hostname=HOSTNAME),
        dns=replace(config.dns, nameservers=(dns.address,)),
        limits=replace(
            config.limits,
            max_message_size=MAX_SIZE,
            smtp_max_line_length=MAX_LINE,
            connections_per_ip=5,
            failed_logins_per_ip=4,
        ),
    )
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    ensure_self_signed(cert, key, HOSTNAME)
    limits = config.limits
    throttle = LoginThrottle(limits.failed_logins_per_ip, limits.failed_logins_per_account,
                             limits.failed_login_window)  # fmt: skip
    service = Service(config, store, server_context(cert, key), Authenticator(store, throttle))
    await store.add_domain(DOMAIN)
    accounts = {
        ALICE: (await store.add_account(ALICE, password_hash())).id,
        BOB: (await store.add_account(BOB, password_hash(), quota_bytes=BOB_QUOTA)).id,
    }
    await store.add_alias(accounts[ALICE], f"a.lias@{DOMAIN}", 10)
    env = SmtpEnv(store, service, cert, {}, accounts)
    try:
        env.ports["mx"] = await env.start("mx", MxHandler(env.context()), "starttls")
        submission = SubmissionHandler(env.context("submission"))
        env.ports["submission"] = await env.start(
            "submission", submission, "starttls", loopback_exception=False
        )
        env.ports["submissions"] = await env.start(
            "submissions", SubmissionHandler(env.context("submission")), "implicit"
        )
        yield env
    finally:
        for server in env.servers:
            server.close()
        await store.close()
        dns.stop()


class Wire:
    """A raw SMTP connection for exact bytes on the wire (pipelining, smuggling, bad input)."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer

    @classmethod
    async def open(cls, port: int, ehlo: bool = True) -> Wire:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        wire = cls(reader, writer)
        greeting = await wire.reply()
        assert greeting.startswith("220 "), greeting
        if ehlo:
            assert (await wire.command("EHLO client.test")).startswith("250")
        return wire

    async def reply(self) -> str:
        """One whole reply; multi-line replies come back joined by newlines."""
        lines = []
        while True:
            line = await asyncio.wait_for(self.reader.readline(), 10)
            assert line, "connection closed: " + "\n".join(lines)
            lines.append(line.decode("utf-8", "replace").rstrip("\r\n"))
            if len(line) < 4 or line[3:4] != b"-":
                return "\n".join(lines)

    async def send(self, data: bytes) -> None:
        self.writer.write(data)
        await self.writer.drain()

    async def command(self, line: str | bytes) -> str:
        await self.send((line.encode() if isinstance(line, str) else line) + b"\r\n")
        return await self.reply()

    async def close(self) -> None:
        self.writer.close()
        with contextlib.suppress(ConnectionError, ssl.SSLError):
            await self.writer.wait_closed()
