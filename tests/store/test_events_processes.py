"""Two processes on one PostgreSQL database see each other's changes (LISTEN/NOTIFY)."""

from __future__ import annotations

import asyncio
import sys
import time
from pathlib import Path

import pytest

from postbus.store import Store
from tests.conftest import open_test_store

LISTENER = """
import asyncio, sys
from pathlib import Path
from postbus.store import open_postgres

async def main(dsn, blob_dir, account_id):
    store = await open_postgres(dsn, Path(blob_dir))
    with store.events.subscribe(account_id) as subscription:
        print("ready", flush=True)
        event = await asyncio.wait_for(subscription.get(), 10)
        print(event.kind.value, event.mailbox_id, list(event.uids), flush=True)
    await store.close()

asyncio.run(main(sys.argv[1], sys.argv[2], int(sys.argv[3])))
"""


@pytest.fixture
async def pg_store(tmp_path: Path, pg_dsn: str) -> Store:
    store = await open_test_store("postgres", tmp_path, pg_dsn)
    yield store
    await store.close()


async def test_change_in_one_process_reaches_another(
    pg_store: Store, pg_dsn: str, tmp_path: Path
) -> None:
    await pg_store.add_domain("example.org")
    account = await pg_store.add_account("a@example.org", "hash")
    inbox = await pg_store.get_mailbox(account.id, "INBOX")
    other = await asyncio.create_subprocess_exec(
        sys.executable, "-c", LISTENER, pg_dsn, str(tmp_path / "blobs"), str(account.id),
        stdout=asyncio.subprocess.PIPE,
        cwd=Path(__file__).parents[2],
    )
    try:
        assert other.stdout is not None
        ready = await asyncio.wait_for(other.stdout.readline(), 20)
        assert ready == b"ready\n"
        started = time.monotonic()
        await pg_store.append(account.id, inbox.id, b"Subject: across\r\n\r\nhi\r\n")
        line = await asyncio.wait_for(other.stdout.readline(), 5)
        elapsed = time.monotonic() - started
        assert line.split() == [b"new", str(inbox.id).encode(), b"[1]"]
        assert elapsed < 1.0
        assert await asyncio.wait_for(other.wait(), 10) == 0
    finally:
        if other.returncode is None:
            other.kill()
            await other.wait()
