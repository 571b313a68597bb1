"""The "http" listener inside ``postbus serve``: starts in the running loop, serves over a real
socket, and stops cleanly on request even with an event stream open."""

from __future__ import annotations

import asyncio
import dataclasses
import time
from pathlib import Path

import httpx

import postbus.web.server  # noqa: F401  (registers "http")
from postbus.config import Listener, load_config
from postbus.demo.seed import seed_demo
from postbus.server import PROTOCOLS, serve
from tests.conftest import free_port


async def test_serve_starts_and_stops_the_webmail(tmp_path: Path) -> None:
    assert "http" in PROTOCOLS
    port = free_port()
    config = load_config(None, {}, data_dir=tmp_path)
    config = dataclasses.replace(
        config, listeners=(Listener("http", "http", "127.0.0.1", port, "none"),)
    )
    stop = asyncio.Event()

    async def prepare(store: object) -> None:
        await seed_demo(store)  # type: ignore[arg-type]

    running = asyncio.create_task(serve(config, prepare, stop))
    base = f"http://127.0.0.1:{port}"
    async with httpx.AsyncClient(base_url=base) as client:
        for _ in range(100):
            try:
                page = await client.get("/signin")
                break
            except httpx.ConnectError:
                await asyncio.sleep(0.05)
        assert page.status_code == 200 and "Sign in" in page.text
        check = page.cookies["pb_check"]
        signed = await client.post("/signin", data={
            "csrf": check, "address": "demo@example.test", "password": "demo-password"})
        assert signed.status_code == 303
        async with client.stream("GET", "/events") as events:
            assert events.headers["content-type"].startswith("text/event-stream")
            started = time.monotonic()
            stop.set()
            await asyncio.wait_for(running, 8)
            assert time.monotonic() - started < 4


async def test_https_listener(tmp_path: Path) -> None:
    port = free_port()
    config = load_config(None, {}, data_dir=tmp_path)
    config = dataclasses.replace(
        config, listeners=(Listener("https", "http", "127.0.0.1", port, "implicit"),),
        server=dataclasses.replace(config.server, hostname="localhost"),
    )
    stop = asyncio.Event()
    running = asyncio.create_task(serve(config, None, stop))
    try:
        async with httpx.AsyncClient(base_url=f"https://127.0.0.1:{port}", verify=False) as c:
            for _ in range(100):
                try:
                    page = await c.get("/signin")
                    break
                except httpx.ConnectError:
                    await asyncio.sleep(0.05)
            assert page.status_code == 200
            assert "secure" in page.headers["set-cookie"].lower()
    finally:
        stop.set()
        await asyncio.wait_for(running, 8)
