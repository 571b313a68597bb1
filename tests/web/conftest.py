"""Fixtures for the webmail tests: a live server with a real browser, and a TestClient."""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from starlette.testclient import TestClient

from postbus.accounts.passwords import hash_password
from postbus.config import Listener, load_config
from postbus.demo.seed import DEMO_ADDRESS, DEMO_PASSWORD, seed_demo
from postbus.server import Service, make_authenticator
from postbus.store import open_sqlite
from postbus.web.app import make_app
from tests.conftest import require_tool
from tests.web.live import CHROMIUM_ARGS, OTHER_ADDRESS, OTHER_PASSWORD, LiveServer


@pytest.fixture
def live(tmp_path: Path) -> Iterator[LiveServer]:
    server = LiveServer(tmp_path).start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    chromium = require_tool("chromium")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS)
        try:
            yield launched
        finally:
            launched.close()


@pytest.fixture
def page(browser: Any) -> Iterator[Any]:
    context = browser.new_context(viewport={"width": 1280, "height": 800}, locale="en-GB")
    context.set_default_timeout(10_000)
    opened = context.new_page()
    try:
        yield opened
    finally:
        context.close()


def sign_in_browser(page: Any, base: str, address: str = DEMO_ADDRESS,
                    password: str = DEMO_PASSWORD) -> None:
    page.goto(base + "/signin")
    page.fill("#address", address)
    page.fill("#password", password)
    page.click("form.signin-form button[type=submit]")
    page.wait_for_url(re.compile(r".*/mail/\d+(\?.*)?$"))


# -- TestClient: the app in Starlette's test transport, the store on the same loop ------------


class Client:
    """A TestClient with its store and helpers for signing in."""

    def __init__(self, test_client: TestClient, service: Service) -> None:
        self.http = test_client
        self.service = service

    @property
    def store(self) -> Any:
        return self.service.store

    def run(self, fn: Any, *args: Any) -> Any:
        return self.http.portal.call(fn, *args)  # type: ignore[union-attr]

    def sign_in(self, address: str = DEMO_ADDRESS, password: str = DEMO_PASSWORD,
                remember: bool = False) -> Any:
        page = self.http.get("/signin")
        check = re.search(r'name="csrf" value="([^"]+)"', page.text)
        assert check is not None
        data = {"csrf": check.group(1), "address": address, "password": password,
                "next": "/mail"}
        if remember:
            data["remember"] = "on"
        return self.http.post("/signin", data=data, follow_redirects=False)

    def csrf(self) -> str:
        page = self.http.get("/settings")
        found = re.search(r'name="csrf" value="([^"]+)"', page.text)
        assert found is not None
        return found.group(1)

    def inbox_id(self) -> int:
        response = self.http.get("/mail", follow_redirects=False)
        return int(response.headers["location"].rsplit("/", 1)[1])


def make_client(tmp_path: Path, base_url: str = "http://testserver") -> Iterator[Client]:
    config = load_config(None, {}, data_dir=tmp_path)
    config = dataclasses.replace(
        config, listeners=(Listener("http", "http", "127.0.0.1", 0, "none"),
                           Listener("imaps", "imap", "0.0.0.0", 993, "implicit")),
        server=dataclasses.replace(config.server, hostname="mail.example.test"),
    )
    service = Service(config, None, None, None)  # type: ignore[arg-type]
    app = make_app(service)
    with TestClient(app, base_url=base_url, follow_redirects=False) as http:

        async def open_store() -> None:
            store = await open_sqlite(tmp_path / "postbus.sqlite3", tmp_path / "blobs")
            await seed_demo(store)
            await store.add_account(OTHER_ADDRESS, hash_password(OTHER_PASSWORD))
            service.store = store
            service.auth = make_authenticator(config, store)

        http.portal.call(open_store)  # type: ignore[union-attr]
        try:
            yield Client(http, service)
        finally:
            http.portal.call(service.store.close)  # type: ignore[union-attr]


@pytest.fixture
def client(tmp_path: Path) -> Iterator[Client]:
    yield from make_client(tmp_path)


@pytest.fixture
def https_client(tmp_path: Path) -> Iterator[Client]:
    yield from make_client(tmp_path, "https://testserver")
