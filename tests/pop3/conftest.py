"""A POP3 service on real sockets over a real store: ``pop3`` (both backends), ``pop3_sqlite``."""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import AsyncIterator
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import pytest

from postbus.accounts.auth import Authenticator, LoginThrottle
from postbus.accounts.passwords import hash_password
from postbus.config import Config, Listener, load_config
from postbus.pop3.server import serve_pop3
from postbus.server import Service
from postbus.store import Store
from postbus.store.models import Appended
from postbus.tls import client_context_trusting, ensure_self_signed, server_context
from tests.conftest import open_test_store

ADDRESS = "anna@example.org"
PASSWORD = "correct horse battery"
OTHER = "bert@example.org"


def message(n: int, body: bytes = b"") -> bytes:
    return (
        f"From: Sender {n} <sender{n}@example.net>\r\nTo: {ADDRESS}\r\n"
        f"Subject: message {n}\r\nMessage-ID: <m{n}@example.net>\r\n\r\n"
        f"This is message {n}.\r\n"
    ).encode() + body


@dataclass
class Pop3Env:
    store: Store
    config: Config
    tmp_path: Path
    account_id: int
    inbox_id: int
    servers: list[asyncio.AbstractServer] = field(default_factory=list)
    ports: dict[str, int] = field(default_factory=dict)

    @property
    def client_tls(self) -> ssl.SSLContext:
        return client_context_trusting(self.config.cert_file)

    async def deliver(self, raw: bytes) -> Appended:
        return await self.store.append(self.account_id, self.inbox_id, raw)

    async def listen(
        self, name: str, tls: str, host: str = "127.0.0.1", failures_per_ip: int = 10,
        plaintext_auth: bool | None = None, **limits: Any,
    ) -> int:
        """Another listener on the same store, with its own limits and sign-in throttle."""
        config = replace(self.config, limits=replace(self.config.limits, **limits))
        throttle = LoginThrottle(failures_per_ip, 20, 900)
        service = Service(config, self.store, server_context(config.cert_file, config.key_file),
                          Authenticator(self.store, throttle))
        listener = Listener(name, "pop3", host, 0, tls, plaintext_auth)  # type: ignore[arg-type]
        server = await serve_pop3(service, listener)
        self.servers.append(server)
        port = server.sockets[0].getsockname()[1]
        self.ports[name] = port
        return port

    async def inbox_uids(self) -> list[int]:
        return [uid for uid, *_ in await self.store.uids_and_flags(self.account_id, self.inbox_id)]


async def make_env(store: Store, tmp_path: Path) -> Pop3Env:
    config = load_config(None, {}, data_dir=tmp_path)
    ensure_self_signed(config.cert_file, config.key_file, "localhost")
    await store.add_domain("example.org")
    account = await store.add_account(ADDRESS, hash_password(PASSWORD))
    await store.add_account(OTHER, hash_password(PASSWORD))
    inbox = await store.get_mailbox(account.id, "INBOX")
    env = Pop3Env(store, config, tmp_path, account.id, inbox.id)
    await env.listen("pop3", "starttls")
    await env.listen("pop3s", "implicit")
    return env


async def _close(env: Pop3Env) -> None:
    for server in env.servers:
        server.close()


@pytest.fixture
async def pop3(store: Store, tmp_path: Path) -> AsyncIterator[Pop3Env]:
    env = await make_env(store, tmp_path)
    try:
        yield env
    finally:
        await _close(env)


@pytest.fixture
async def pop3_sqlite(tmp_path: Path) -> AsyncIterator[Pop3Env]:
    opened = await open_test_store("sqlite", tmp_path, None)
    env = await make_env(opened, tmp_path)
    try:
        yield env
    finally:
        await _close(env)
        await opened.close()
