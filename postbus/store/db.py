"""The two database backends behind one small interface.

Store operations are written once, as ``async def op(tx: Tx, ...)``, in PostgreSQL's ``$1``
placeholder style; the SQLite backend rewrites placeholders to ``?1``. Backend differences
that SQL cannot hide (DDL types, full-text search) are asked of ``tx.dialect``.

Both backends write the same way — group commit: a writer of its own (a thread) takes the
operations queued meanwhile, runs each inside a SAVEPOINT of one transaction, commits once,
and only then resolves each caller's future and publishes its events. Reads run beside it.
``sqlite.py`` and ``postgres.py`` hold the two implementations.

Invariant for every operation: it awaits nothing but its ``tx`` and does no I/O of its own.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, Protocol, TypeVar

from postbus.store.events import EventBus, MailboxEvent

T = TypeVar("T")
Row = Any  # sqlite3.Row or asyncpg.Record: both index by name and by position

MAX_BATCH = 256


class Tx(Protocol):
    dialect: str

    async def fetch(self, sql: str, *args: Any) -> list[Row]: ...
    async def fetchrow(self, sql: str, *args: Any) -> Row | None: ...
    async def fetchval(self, sql: str, *args: Any) -> Any: ...
    async def execute(self, sql: str, *args: Any) -> None: ...
    async def executemany(self, sql: str, rows: Sequence[Sequence[Any]]) -> None: ...
    def notify(self, event: MailboxEvent) -> None: ...


Operation = Callable[[Tx], Awaitable[T]]


def any_of(
    column: str, arg: int, dialect: str, values: Sequence[int | str], sql_type: str = "BIGINT"
) -> tuple[str, Any]:
    """(condition, bound value): ``column`` is one of ``values``, all in parameter ``$arg``
    (a JSON array on SQLite, an array of ``sql_type`` on PostgreSQL), however many there
    are: a parameter each would pass PostgreSQL's 32,767 a statement."""
    if dialect == "sqlite":
        return f"{column} IN (SELECT value FROM json_each(${arg}))", json.dumps(list(values))
    return f"{column} = ANY(${arg}::{sql_type}[])", list(values)


class Database(Protocol):
    dialect: str
    events: EventBus

    async def write(self, op: Operation[T], *, on_loop: bool = False) -> T:
        """Run ``op`` in a write transaction, committed (durably) before this returns.

        ``on_loop``: the statements may run on the event loop, because the operation is a
        handful of statements on a few rows (one message's append) or because the loop serves
        nobody else (``postbus import``); a backend may then skip handing them to another
        thread, which can cost more than the work (``sqlite.py``)."""
        ...

    async def read(self, op: Operation[T]) -> T: ...
    async def close(self) -> None: ...
