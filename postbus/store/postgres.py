"""The PostgreSQL backend: the same code on a database several postbus nodes share.

Invariants:
- Writes: one writer connection per process, driven by a thread with an event loop of its own,
  so its round trips never wait behind the work of the main loop. It takes the operations
  queued meanwhile, runs each inside a SAVEPOINT of one transaction and commits once (group
  commit, as on SQLite). Callers' futures resolve only after that COMMIT.
- Events are sent with ``pg_notify`` inside the operation's savepoint, so PostgreSQL delivers
  them only if and when the batch commits; every process, the sender included, publishes what
  it hears on its LISTEN connection — one path for local and remote changes.
- A batch that meets a deadlock or serialization failure (rows locked by another node) is run
  again whole; operations are pure functions of their transaction, so that is safe.
- Reads use a pool on the main loop.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Sequence
from typing import Any

import asyncpg

from postbus.store.db import MAX_BATCH, Operation, Row, T
from postbus.store.events import EventBus, MailboxEvent

PG_CHANNEL = "postbus_events"
RETRYABLE = (asyncpg.exceptions.DeadlockDetectedError, asyncpg.exceptions.SerializationError)
ATTEMPTS = 5


class PostgresTx:
    dialect = "postgres"

    def __init__(self, conn: asyncpg.Connection) -> None:
        self._conn = conn
        self.events: list[MailboxEvent] = []

    async def fetch(self, sql: str, *args: Any) -> list[Row]:
        return await self._conn.fetch(sql, *args)

    async def fetchrow(self, sql: str, *args: Any) -> Row | None:
        return await self._conn.fetchrow(sql, *args)

    async def fetchval(self, sql: str, *args: Any) -> Any:
        return await self._conn.fetchval(sql, *args)

    async def execute(self, sql: str, *args: Any) -> None:
        await self._conn.execute(sql, *args)

    async def executemany(self, sql: str, rows: Sequence[Sequence[Any]]) -> None:
        await self._conn.executemany(sql, rows)

    def notify(self, event: MailboxEvent) -> None:
        self.events.append(event)


Waiting = tuple[Operation[Any], asyncio.Future[Any]]


def _settle(future: asyncio.Future[Any], ok: bool, value: Any) -> None:
    if future.done():
        return
    if ok:
        future.set_result(value)
    else:
        future.set_exception(value)


class _Writer:
    """The writer thread: its own event loop, its own connection, batches in order."""

    def __init__(self, dsn: str) -> None:
        self._dsn = dsn
        self._loop = asyncio.new_event_loop()
        self._queue: asyncio.Queue[Waiting | None] | None = None
        self._started = threading.Event()
        self._failure: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name="postbus-pg-writer", daemon=True)

    def start(self) -> None:
        self._thread.start()
        self._started.wait()
        if self._failure is not None:
            raise self._failure

    def submit(self, op: Operation[Any], future: asyncio.Future[Any]) -> None:
        assert self._queue is not None
        self._loop.call_soon_threadsafe(self._queue.put_nowait, (op, future))

    def stop(self) -> None:
        if self._queue is not None and self._thread.is_alive():
            self._loop.call_soon_threadsafe(self._queue.put_nowait, None)
            self._thread.join()

    def _run(self) -> None:
        asyncio.set_event_loop(self._loop)
        try:
            self._loop.run_until_complete(self._main())
        finally:
            self._loop.close()

    async def _main(self) -> None:
        try:
            conn = await asyncpg.connect(self._dsn)
        except BaseException as exc:  # reported to start() in the caller's thread
            self._failure = exc
            self._started.set()
            return
        self._queue = asyncio.Queue()
        self._started.set()
        try:
            while (first := await self._queue.get()) is not None:
                batch = [first]
                while len(batch) < MAX_BATCH and not self._queue.empty():
                    item = self._queue.get_nowait()
                    if item is None:
                        await self._run_batch(conn, batch)
                        return
                    batch.append(item)
                await self._run_batch(conn, batch)
        finally:
            await conn.close()

    async def _run_batch(self, conn: asyncpg.Connection, batch: list[Waiting]) -> None:
        for attempt in range(ATTEMPTS):
            try:
                outcomes = await self._apply(conn, [op for op, _ in batch])
                break
            except RETRYABLE as exc:
                if attempt == ATTEMPTS - 1:
                    outcomes = [(False, exc)] * len(batch)
                    break
                await asyncio.sleep(0.01 * (attempt + 1))
            except Exception as exc:  # the connection broke: these operations fail, not the writer
                outcomes = [(False, exc)] * len(batch)
                break
        for (_, future), (ok, value) in zip(batch, outcomes, strict=True):
            future.get_loop().call_soon_threadsafe(_settle, future, ok, value)

    async def _apply(self, conn: asyncpg.Connection, ops: list[Operation[Any]]) -> list[Any]:
        outcomes: list[tuple[bool, Any]] = []
        async with conn.transaction():
            for op in ops:
                tx = PostgresTx(conn)
                try:
                    # A SAVEPOINT: one operation's failure is its own.
                    async with conn.transaction():
                        result = await op(tx)
                        for event in tx.events:
                            for payload in event.payloads():
                                await conn.execute(
                                    "SELECT pg_notify($1, $2)", PG_CHANNEL, payload
                                )
                except RETRYABLE:
                    raise
                except (asyncpg.exceptions.ConnectionDoesNotExistError, OSError):
                    raise
                except Exception as exc:  # the operation's failure is its caller's
                    outcomes.append((False, exc))
                    continue
                outcomes.append((True, result))
        return outcomes


class PostgresDatabase:
    dialect = "postgres"

    def __init__(
        self, pool: asyncpg.Pool, listener: asyncpg.Connection, writer: _Writer, events: EventBus
    ) -> None:
        self._pool = pool
        self._listener = listener
        self._writer = writer
        self.events = events

    @classmethod
    async def connect(cls, dsn: str, events: EventBus) -> PostgresDatabase:
        pool = await asyncpg.create_pool(dsn, min_size=2, max_size=16)
        listener = await asyncpg.connect(dsn)
        writer = _Writer(dsn)
        await asyncio.to_thread(writer.start)
        db = cls(pool, listener, writer, events)
        await listener.add_listener(PG_CHANNEL, db._on_notify)
        return db

    def _on_notify(self, _conn: object, _pid: int, _channel: str, payload: str) -> None:
        self.events.publish(MailboxEvent.from_payload(payload))

    async def write(self, op: Operation[T], *, on_loop: bool = False) -> T:
        future: asyncio.Future[T] = asyncio.get_running_loop().create_future()
        self._writer.submit(op, future)
        return await future

    async def read(self, op: Operation[T]) -> T:
        async with self._pool.acquire() as conn, conn.transaction(readonly=True):
            return await op(PostgresTx(conn))

    async def close(self) -> None:
        await asyncio.to_thread(self._writer.stop)
        await self._listener.close()
        await self._pool.close()
