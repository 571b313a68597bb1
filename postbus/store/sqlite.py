"""The SQLite backend: the embedded default (WAL, ``synchronous=FULL``).

Invariants:
- One writer connection, used only by the writer thread. Writes are queued and run in batches
  in that thread, each operation inside its own SAVEPOINT, and the batch is made durable by one
  COMMIT: group commit. An operation's future resolves, and its events are published, only
  after that COMMIT returned.
- Reads use a second connection on the event-loop thread; WAL lets them run beside the writer
  and they only ever see committed data.
- A batch of only ``on_loop`` operations (single appends; the import command's batches) runs
  its statements on the event-loop thread, between a BEGIN and a COMMIT run in the writer
  thread (both may wait: for another process's lock, for the disk). In the writer thread each
  of an append's dozen statements waits for the GIL, which the busy event loop holds: a batch
  of three appends took 6 ms there and 1 ms here (bench/RESULTS.md). Anything else stays in
  the writer thread, so a server's STORE on every message never stalls its loop. The
  connection is used by one thread at a time: batches run one after another.
"""

from __future__ import annotations

import asyncio
import re
import sqlite3
from collections.abc import Coroutine, Sequence
from concurrent.futures import ThreadPoolExecutor
from functools import lru_cache
from pathlib import Path
from typing import Any

from postbus.store.db import MAX_BATCH, Operation, Row, T
from postbus.store.events import EventBus, MailboxEvent


@lru_cache(maxsize=1024)
def _sqlite_sql(sql: str) -> str:
    return re.sub(r"\$(\d+)", r"?\1", sql)


class SqliteTx:
    dialect = "sqlite"

    def __init__(self, conn: sqlite3.Connection) -> None:
        self._conn = conn
        self.events: list[MailboxEvent] = []

    async def fetch(self, sql: str, *args: Any) -> list[Row]:
        return self._conn.execute(_sqlite_sql(sql), args).fetchall()

    async def fetchrow(self, sql: str, *args: Any) -> Row | None:
        # fetchall: a statement stepped to its end is reset at once (RETURNING included).
        rows = self._conn.execute(_sqlite_sql(sql), args).fetchall()
        return rows[0] if rows else None

    async def fetchval(self, sql: str, *args: Any) -> Any:
        rows = self._conn.execute(_sqlite_sql(sql), args).fetchall()
        return rows[0][0] if rows else None

    async def execute(self, sql: str, *args: Any) -> None:
        self._conn.execute(_sqlite_sql(sql), args)

    async def executemany(self, sql: str, rows: Sequence[Sequence[Any]]) -> None:
        self._conn.executemany(_sqlite_sql(sql), rows)

    def notify(self, event: MailboxEvent) -> None:
        self.events.append(event)


def _connect_sqlite(path: Path) -> sqlite3.Connection:
    conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    conn.row_factory = sqlite3.Row
    conn.execute("PRAGMA journal_mode=WAL")
    # Durability rule of design.md: an acknowledged message survives power loss.
    conn.execute("PRAGMA synchronous=FULL")
    conn.execute("PRAGMA foreign_keys=ON")
    conn.execute("PRAGMA busy_timeout=10000")
    conn.execute("PRAGMA cache_size=-65536")
    # Savepoint journals (one per operation in a group commit) stay in memory.
    conn.execute("PRAGMA temp_store=MEMORY")
    return conn


def _drive(coroutine: Coroutine[Any, Any, T]) -> T:
    """Run an operation's coroutine to its end without an event loop.

    SQLite operations never wait for anything (``SqliteTx`` answers at once), so one ``send``
    finishes them; this lets a whole batch run in the writer thread.
    """
    try:
        coroutine.send(None)
    except StopIteration as done:
        return done.value
    coroutine.close()
    raise RuntimeError("a store operation awaited something other than its transaction")


Outcome = tuple[bool, Any, list[MailboxEvent]]  # (succeeded, result or exception, its events)


class SqliteDatabase:
    dialect = "sqlite"

    def __init__(self, path: Path, events: EventBus) -> None:
        self.path = path
        self.events = events
        self._writer = _connect_sqlite(path)
        self._reader = _connect_sqlite(path)
        self._reader.execute("PRAGMA query_only=ON")
        self._pending: list[tuple[Operation[Any], asyncio.Future[Any], bool]] = []
        self._wakeup = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._thread = ThreadPoolExecutor(1, thread_name_prefix="postbus-sqlite-writer")
        self._closed = False

    async def write(self, op: Operation[T], *, on_loop: bool = False) -> T:
        if self._closed:
            raise RuntimeError("store is closed")
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._write_loop())
        future: asyncio.Future[T] = asyncio.get_running_loop().create_future()
        self._pending.append((op, future, on_loop))
        self._wakeup.set()
        return await future

    async def read(self, op: Operation[T]) -> T:
        tx = SqliteTx(self._reader)
        self._reader.execute("BEGIN")
        try:
            return await op(tx)
        finally:
            self._reader.execute("COMMIT")

    async def _write_loop(self) -> None:
        while True:
            await self._wakeup.wait()
            self._wakeup.clear()
            while self._pending:
                batch, self._pending = self._pending[:MAX_BATCH], self._pending[MAX_BATCH:]
                await self._run_batch(batch)
            if self._closed:
                return

    async def _run_batch(
        self, batch: list[tuple[Operation[Any], asyncio.Future[Any], bool]]
    ) -> None:
        loop = asyncio.get_running_loop()
        ops = [op for op, _, _ in batch]
        try:
            if all(on_loop for _, _, on_loop in batch):
                outcomes = await self._apply_here(ops)
            else:
                outcomes = await loop.run_in_executor(self._thread, self._apply_batch, ops)
        except Exception as exc:  # BEGIN failed (disk gone, locked by another process...)
            outcomes = [(False, exc, [])] * len(batch)
        for (_, future, _), (ok, value, events) in zip(batch, outcomes, strict=True):
            if future.done():
                continue
            if ok:
                future.set_result(value)
                for event in events:
                    self.events.publish(event)
            else:
                future.set_exception(value)

    def _apply_batch(self, ops: list[Operation[Any]]) -> list[Outcome]:
        """Run a batch in the writer thread: one SAVEPOINT per operation, one COMMIT for all."""
        self._writer.execute("BEGIN IMMEDIATE")
        return self._commit([self._apply_one(op) for op in ops])

    async def _apply_here(self, ops: list[Operation[Any]]) -> list[Outcome]:
        """``_apply_batch`` with the statements run on the event loop (``on_loop``)."""
        loop = asyncio.get_running_loop()
        await loop.run_in_executor(self._thread, self._writer.execute, "BEGIN IMMEDIATE")
        outcomes = [self._apply_one(op) for op in ops]
        return await loop.run_in_executor(self._thread, self._commit, outcomes)

    def _apply_one(self, op: Operation[Any]) -> Outcome:
        """One operation in its own SAVEPOINT: its failure is its caller's, not the batch's."""
        conn = self._writer
        tx = SqliteTx(conn)
        conn.execute("SAVEPOINT op")
        try:
            result = _drive(op(tx))
        except Exception as exc:
            conn.execute("ROLLBACK TO op")
            conn.execute("RELEASE op")
            return (False, exc, [])
        conn.execute("RELEASE op")
        return (True, result, tx.events)

    def _commit(self, outcomes: list[Outcome]) -> list[Outcome]:
        conn = self._writer
        try:
            conn.execute("COMMIT")
        except Exception as exc:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            return [(False, exc, []) for _ in outcomes]
        return outcomes

    async def close(self) -> None:
        self._closed = True
        self._wakeup.set()
        if self._task is not None:
            await self._task
        self._thread.shutdown(wait=True)
        self._writer.close()
        self._reader.close()


