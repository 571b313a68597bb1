"""A real postbus webmail on 127.0.0.1 for browser tests: its own thread and event loop,
a SQLite store seeded with the demo data plus a second user, the real "http" listener."""

from __future__ import annotations

import asyncio
import dataclasses
import threading
from collections.abc import Awaitable, Callable
from concurrent.futures import Future
from pathlib import Path
from typing import Any, TypeVar

from postbus.accounts.passwords import hash_password
from postbus.config import Listener, load_config
from postbus.demo.seed import DEMO_ADDRESS, DEMO_PASSWORD, seed_demo
from postbus.server import Service, make_authenticator
from postbus.store import Store, open_sqlite
from postbus.web.server import WebServer, start

T = TypeVar("T")
OTHER_ADDRESS = "ann@example.test"
OTHER_PASSWORD = "ann-secret-passphrase"
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
    "--no-first-run",
]

__all__ = [
    "CHROMIUM",
    "CHROMIUM_ARGS",
    "DEMO_ADDRESS",
    "DEMO_PASSWORD",
    "OTHER_ADDRESS",
    "OTHER_PASSWORD",
    "LiveServer",
]


class LiveServer:
    def __init__(self, data_dir: Path) -> None:
        self.data_dir = data_dir
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.store: Store | None = None
        self.server: WebServer | None = None
        self.base_url = ""

    def start(self) -> LiveServer:
        self.thread.start()
        self.call(self._start)
        return self

    async def _start(self) -> None:
        config = load_config(None, {}, data_dir=self.data_dir)
        listeners = (
            Listener("http", "http", "127.0.0.1", 0, "none"),
            Listener("imaps", "imap", "127.0.0.1", 993, "implicit"),
            Listener("pop3s", "pop3", "127.0.0.1", 995, "implicit"),
            Listener("submission", "submission", "127.0.0.1", 587, "starttls"),
        )
        config = dataclasses.replace(
            config, listeners=listeners,
            server=dataclasses.replace(config.server, hostname="mail.example.test"),
        )
        self.store = await open_sqlite(self.data_dir / "postbus.sqlite3", self.data_dir / "blobs")
        await seed_demo(self.store)
        await self.store.add_account(OTHER_ADDRESS, hash_password(OTHER_PASSWORD),
                                     display_name="Ann Example")
        service = Service(config, self.store, None, make_authenticator(config, self.store))
        self.service = service
        self.server = await start(service, listeners[0])
        self.base_url = f"http://127.0.0.1:{self.server.port}"

    def call(self, fn: Callable[[], Awaitable[T]]) -> T:
        """Run ``fn()`` on the server's loop and wait for its result."""
        future: Future[Any] = asyncio.run_coroutine_threadsafe(fn(), self.loop)  # type: ignore[arg-type]
        return future.result(timeout=30)

    def subjects(self, address: str, folder: str) -> list[str]:
        """Subjects in one folder of one account, newest first, as the store has them."""

        async def read() -> list[str]:
            assert self.store is not None
            account = await self.store.find_account(address)
            mailbox = await self.store.get_mailbox(account.id, folder)
            return [s.subject for s in await self.store.newest(account.id, mailbox.id, 100)]

        return self.call(read)

    def stop(self) -> None:
        async def stop() -> None:
            if self.server is not None:
                self.server.close()
                await self.server.wait_closed()
            if self.store is not None:
                await self.store.close()

        try:
            self.call(stop)
        finally:
            self.loop.call_soon_threadsafe(self.loop.stop)
            self.thread.join(timeout=10)
