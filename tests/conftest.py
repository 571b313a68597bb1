"""Shared fixtures: a real store on SQLite and on a real PostgreSQL, one test suite for both."""

from __future__ import annotations

import asyncio
import os
import shutil
import socket
from collections.abc import AsyncIterator, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import asyncpg
import pytest

from postbus.store import Store, open_postgres, open_sqlite

# The machines this runs on have PostgreSQL on 127.0.0.1:5432 with trust auth.
PG_ADMIN_DSN = os.environ.get("POSTBUS_TEST_PG", "postgresql://postgres@127.0.0.1:5432/test")


def _dsn_for(database: str) -> str:
    base, _, _ = PG_ADMIN_DSN.rpartition("/")
    return f"{base}/{database}"


@pytest.fixture(scope="session")
def pg_dsn() -> Iterator[str]:
    """A database of its own for this test run, dropped at the end."""
    name = f"postbus_test_{os.getpid()}"

    def admin(sql: str) -> None:
        async def run() -> None:
            conn = await asyncpg.connect(PG_ADMIN_DSN)
            try:
                await conn.execute(sql)
            finally:
                await conn.close()

        # Its own thread: the fixture may first be asked for inside a running event loop.
        with ThreadPoolExecutor(1) as pool:
            pool.submit(asyncio.run, run()).result()

    admin(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
    admin(f"CREATE DATABASE {name}")
    yield _dsn_for(name)
    admin(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


async def reset_postgres(dsn: str) -> None:
    conn = await asyncpg.connect(dsn)
    try:
        await conn.execute("DROP SCHEMA public CASCADE; CREATE SCHEMA public")
    finally:
        await conn.close()


async def open_test_store(backend: str, tmp_path: Path, dsn: str | None) -> Store:
    if backend == "postgres":
        assert dsn is not None
        await reset_postgres(dsn)
    return await reopen_test_store(backend, tmp_path, dsn)


async def reopen_test_store(backend: str, tmp_path: Path, dsn: str | None) -> Store:
    """The store ``open_test_store`` made, as it was left (a restart)."""
    if backend == "sqlite":
        return await open_sqlite(tmp_path / "postbus.sqlite3", tmp_path / "blobs")
    assert dsn is not None
    return await open_postgres(dsn, tmp_path / "blobs")


@pytest.fixture(params=["sqlite", "postgres"])
def backend(request: pytest.FixtureRequest) -> str:
    return request.param


@pytest.fixture
async def store(
    backend: str, tmp_path: Path, request: pytest.FixtureRequest
) -> AsyncIterator[Store]:
    dsn = request.getfixturevalue("pg_dsn") if backend == "postgres" else None
    opened = await open_test_store(backend, tmp_path, dsn)
    try:
        yield opened
    finally:
        await opened.close()


def require_tool(name: str) -> str:
    """Path of a Debian peer or client; in CI its absence fails, elsewhere it skips."""
    path = shutil.which(name)
    if path is None:
        if os.environ.get("CI"):
            pytest.fail(f"{name} is missing: scripts/test-setup installs it when run as root")
        pytest.skip(f"{name} is not installed (scripts/test-setup installs it as root)")
    return path


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET) as probe:
        probe.bind((host, 0))
        return probe.getsockname()[1]
