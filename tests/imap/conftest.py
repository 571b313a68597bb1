"""A real IMAP server on 127.0.0.1 over the ``store`` fixture (both backends)."""

from __future__ import annotations

import asyncio
import functools
import ssl
from collections.abc import AsyncIterator
from dataclasses import dataclass, replace
from pathlib import Path

import pytest

from postbus.accounts.passwords import hash_password
from postbus.config import Listener, load_config
from postbus.imap.server import serve_imap
from postbus.server import Service, make_authenticator
from postbus.store import Store
from postbus.tls import client_context_trusting, ensure_self_signed, server_context

PASSWORD = "correct horse battery"


@functools.cache
def password_hash() -> str:
    return hash_password(PASSWORD)  # argon2 is slow on purpose: once per test run


@dataclass
class ImapServer:
    store: Store
    service: Service
    plain_port: int  # loopback listener, tls "starttls": login allowed without TLS
    starttls_port: int  # listener on 0.0.0.0, tls "starttls": login only after STARTTLS
    implicit_port: int  # tls "implicit"
    cert: Path
    users: dict[str, int]  # address -> account id

    def client_tls(self) -> ssl.SSLContext:
        ctx = client_context_trusting(self.cert)
        ctx.check_hostname = False
        return ctx


def message(subject: str, body: str = "Hello there.\r\n", **headers: str) -> bytes:
    lines = [
        "From: Anna de Vries <anna@example.net>",
        "To: Bob <bob@example.org>",
        f"Subject: {subject}",
        "Date: Tue, 24 Nov 2026 10:00:00 +0100",
        f"Message-ID: <{abs(hash(subject))}.{len(body)}@example.net>",
    ]
    lines += [f"{name.replace('_', '-')}: {value}" for name, value in headers.items()]
    lines += ["MIME-Version: 1.0", "Content-Type: text/plain; charset=utf-8", "", ""]
    return "\r\n".join(lines).encode() + body.encode()


async def start_imap(store: Store, tmp_path: Path, **limits: int) -> tuple[ImapServer, list]:
    config = load_config(None, {}, data_dir=tmp_path)
    if limits:
        config = replace(config, limits=replace(config.limits, **limits))
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    ensure_self_signed(cert, key, "localhost")
    service = Service(config, store, server_context(cert, key), make_authenticator(config, store))
    listeners = [
        Listener("imap", "imap", "127.0.0.1", 0, "starttls"),
        Listener("imap-public", "imap", "0.0.0.0", 0, "starttls"),
        Listener("imaps", "imap", "127.0.0.1", 0, "implicit"),
    ]
    servers = [await serve_imap(service, listener) for listener in listeners]
    ports = [srv.sockets[0].getsockname()[1] for srv in servers]
    users = {}
    await store.add_domain("example.org")
    for address in ("ann@example.org", "bob@example.org"):
        account = await store.add_account(address, password_hash())
        users[address] = account.id
    return ImapServer(store, service, *ports, cert, users), servers


@pytest.fixture
async def imap(store: Store, tmp_path: Path) -> AsyncIterator[ImapServer]:
    server, servers = await start_imap(store, tmp_path)
    try:
        yield server
    finally:
        for srv in servers:
            srv.close()
        for srv in servers:
            await asyncio.wait_for(srv.wait_closed(), 10)
