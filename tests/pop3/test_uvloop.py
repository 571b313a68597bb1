"""``postbus serve`` runs on uvloop: the socket-level tests that depend on the loop, again on it.

uvloop's transports are not ``asyncio.Transport`` subclasses and it has its own ``start_tls``;
the STLS injection guarantee rests on ``start_tls`` swapping the protocol before its first await.
Each scenario of test_server.py runs here inside ``uvloop.run`` over a SQLite store.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from pathlib import Path

import pytest
import uvloop

from tests.conftest import open_test_store
from tests.pop3 import test_server as scenarios
from tests.pop3.conftest import Pop3Env, make_env

SCENARIOS: list[Callable[[Pop3Env], Awaitable[None]]] = [
    lambda env: scenarios.test_retrieve_everything(env, scenarios.poplib_stls),
    lambda env: scenarios.test_retrieve_everything(env, scenarios.poplib_implicit),
    scenarios.test_stls_injection_is_discarded,
    scenarios.test_plaintext_login_refused_off_loopback,
    scenarios.test_pipelining,
    scenarios.test_idle_timeout_closes_with_a_message,
    scenarios.test_no_commit_without_quit,
]


@pytest.mark.parametrize("scenario", SCENARIOS, ids=[
    "retrieve-stls", "retrieve-implicit", "stls-injection", "plaintext-off-loopback",
    "pipelining", "idle-timeout", "no-commit-without-quit",
])
def test_on_uvloop(tmp_path: Path, scenario: Callable[[Pop3Env], Awaitable[None]]) -> None:
    async def run() -> None:
        assert isinstance(asyncio.get_running_loop(), uvloop.Loop)
        store = await open_test_store("sqlite", tmp_path, None)
        env = await make_env(store, tmp_path)
        try:
            await scenario(env)
        finally:
            for server in env.servers:
                server.close()
            await store.close()

    uvloop.run(run())
