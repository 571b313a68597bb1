"""``Store``: the one door to mail data for every protocol, page and command.

It joins the database (``db.py``), the blob files (``blobs.py``), the parse-once step
(``postbus.mime``) and the event bus, and reads the clock so the operations need not.

Invariants: a message body is durable no later than the transaction that names it — a small
body is written by that very transaction, a file is fsync'd before it commits — and an append
returns only after that commit (design.md, "Durability"). Blocking work (blob file writes and
fsyncs, parsing big messages) runs in a thread pool, never on the event loop.
"""

from __future__ import annotations

import asyncio
import mmap
import multiprocessing
import os
import time
from collections import deque
from collections.abc import AsyncIterable, AsyncIterator, Iterable, Sequence
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor
from pathlib import Path
from typing import Any

from postbus import mime
from postbus.store import (
    appending,
    blob_rows,
    bulk,
    correspondents,
    directory,
    finder,
    gc,
    mailboxes,
    messages,
    schema,
    settings,
    subscriptions,
    threads,
)
from postbus.store.blobs import BlobRef, BlobStore, decompress
from postbus.store.bodies import BodyWriter
from postbus.store.correspondents import Correspondent
from postbus.store.db import Database, Operation, T
from postbus.store.errors import StoreError
from postbus.store.events import EventBus
from postbus.store.models import (
    Account,
    Address,
    Appended,
    Domain,
    Mailbox,
    MessageSummary,
    StoredMessage,
    ThreadMessage,
    ThreadSummary,
)
from postbus.store.parsed import new_message
from postbus.store.postgres import PostgresDatabase
from postbus.store.sqlite import SqliteDatabase

Batch = Sequence[tuple[bytes, Iterable[str], int | None]]  # (raw message, flags, received)

PARSE_IN_THREAD_ABOVE = 512 * 1024
IO_THREADS = 8


def _now() -> int:
    return int(time.time())


class Store:
    def __init__(self, db: Database, blobs: BlobStore) -> None:
        self.db = db
        self.blobs = blobs
        self.events: EventBus = db.events
        self._io = ThreadPoolExecutor(IO_THREADS, thread_name_prefix="postbus-blob")
        self._bodies = BodyWriter(blobs, self._io)
        self._workers: ProcessPoolExecutor | None = None

    @property
    def dialect(self) -> str:
        return self.db.dialect

    async def close(self) -> None:
        await self._bodies.close()
        await self.db.close()
        self._io.shutdown(wait=True)
        if self._workers is not None:
            self._workers.shutdown(wait=True)

    async def write(self, op: Operation[T], *, on_loop: bool = False) -> T:
        return await self.db.write(op, on_loop=on_loop)

    async def read(self, op: Operation[T]) -> T:
        return await self.db.read(op)

    async def _blocking(self, fn: Any, *args: Any) -> Any:
        return await asyncio.get_running_loop().run_in_executor(self._io, fn, *args)

    # -- domains, accounts, addresses ---------------------------------------------------------

    async def add_domain(self, name: str) -> Domain:
        return await self.write(lambda tx: directory.add_domain(tx, name, _now()))

    async def list_domains(self) -> list[Domain]:
        return await self.read(directory.list_domains)

    async def get_domain(self, name: str) -> Domain:
        return await self.read(lambda tx: directory.get_domain(tx, name))

    async def remove_domain(self, name: str) -> None:
        await self.write(lambda tx: directory.remove_domain(tx, name))

    async def add_account(self, address: str, password_hash: str, **options: Any) -> Account:
        return await self.write(
            lambda tx: directory.add_account(tx, address, password_hash, _now(), **options)
        )

    async def get_account(self, account_id: int) -> Account:
        return await self.read(lambda tx: directory.get_account(tx, account_id))

    async def find_account(self, address: str) -> Account:
        return await self.read(lambda tx: directory.find_account(tx, address))

    async def list_accounts(self, domain: str | None = None) -> list[Account]:
        return await self.read(lambda tx: directory.list_accounts(tx, domain))

    async def update_account(self, account_id: int, **changes: Any) -> Account:
        return await self.write(lambda tx: directory.update_account(tx, account_id, **changes))

    async def remove_account(self, account_id: int) -> None:
        await self.write(lambda tx: directory.remove_account(tx, account_id, _now()))

    async def add_alias(self, account_id: int, alias: str, max_addresses: int) -> Address:
        return await self.write(
            lambda tx: directory.add_alias(tx, account_id, alias, max_addresses)
        )

    async def list_addresses(self, account_id: int) -> list[Address]:
        return await self.read(lambda tx: directory.list_addresses(tx, account_id))

    async def remove_alias(self, alias: str) -> None:
        await self.write(lambda tx: directory.remove_alias(tx, alias))

    # -- mailboxes ----------------------------------------------------------------------------

    async def list_mailboxes(self, account_id: int) -> list[Mailbox]:
        return await self.read(lambda tx: mailboxes.list_all(tx, account_id))

    async def get_mailbox(self, account_id: int, name: str) -> Mailbox:
        return await self.read(lambda tx: mailboxes.get(tx, account_id, name))

    async def special_mailbox(self, account_id: int, special_use: str) -> Mailbox | None:
        return await self.read(lambda tx: mailboxes.get_special(tx, account_id, special_use))

    async def create_mailbox(
        self, account_id: int, name: str, special_use: str | None = None
    ) -> Mailbox:
        return await self.write(
            lambda tx: mailboxes.create(tx, account_id, name, _now(), special_use)
        )

    async def rename_mailbox(self, account_id: int, old: str, new: str) -> Mailbox:
        return await self.write(lambda tx: mailboxes.rename(tx, account_id, old, new, _now()))

    async def delete_mailbox(self, account_id: int, mailbox_id: int) -> None:
        await self.write(lambda tx: messages.delete_mailbox(tx, account_id, mailbox_id, _now()))

    async def subscribe(self, account_id: int, name: str, subscribed: bool = True) -> None:
        await self.write(lambda tx: mailboxes.set_subscribed(tx, account_id, name, subscribed))

    async def list_subscriptions(self, account_id: int) -> list[str]:
        """The subscribed names, mailbox or not (RFC 9051 §6.3.9.1 SUBSCRIBED)."""
        return await self.read(lambda tx: subscriptions.names(tx, account_id))

    # -- messages -----------------------------------------------------------------------------

    async def store_body(self, source: bytes | Path) -> BlobRef:
        """The first half of an append: a big body written to its file, durably; a small one
        compressed, for the transaction that names it to keep (``blob_rows.py``)."""
        return await self._bodies.store(source)

    async def append(
        self,
        account_id: int,
        mailbox_id: int,
        source: bytes | Path,
        flags: Iterable[str] = (),
        received: int | None = None,
    ) -> Appended:
        """Store a message: body to disk, parse once, metadata committed; then it is safe."""
        blob = await self.store_body(source)
        parsed = await self._parse(source)
        new = new_message(blob, parsed)
        flag_list = tuple(flags)
        now = _now()
        return await self.write(
            lambda tx: appending.append(
                tx, account_id, mailbox_id, new, flag_list, received or now, now
            ),
            on_loop=True,
        )

    async def append_many(
        self,
        targets: Iterable[tuple[int, str, Iterable[str]]],
        source: bytes | Path,
        received: int | None = None,
    ) -> list[Appended | StoreError]:
        """One body to several (account, folder name, flags) targets: one blob, one parse.

        Each target is its own operation, so one full mailbox refuses only its own copy; the
        refusal comes back in its place in the list. The folder is found in that operation's
        transaction (no read beforehand); one that is gone by now (a deleted Junk or +tag
        folder) means INBOX, so the message still arrives.
        """
        blob = await self.store_body(source)
        new = new_message(blob, await self._parse(source))
        now = _now()

        async def one(account_id: int, folder: str, flags: tuple[str, ...]) -> Appended:
            async def op(tx: Any) -> Appended:
                mailbox = await mailboxes.get_or_inbox(tx, account_id, folder)
                return await appending.append(
                    tx, account_id, mailbox.id, new, flags, received or now, now
                )

            return await self.write(op, on_loop=True)

        outcomes = await asyncio.gather(
            *(one(account, folder, tuple(flags)) for account, folder, flags in targets),
            return_exceptions=True,
        )
        for outcome in outcomes:
            if isinstance(outcome, BaseException) and not isinstance(outcome, StoreError):
                raise outcome
        return list(outcomes)  # type: ignore[arg-type]

    async def append_batch(self, account_id: int, mailbox_id: int, batch: Batch) -> list[Appended]:
        """Store (raw message, flags, received) in order, all or none.

        Bodies are written and parsed in a worker process (``bulk.prepare``), made durable in
        one flush, and their rows committed as one operation.
        """
        incoming = await self._prepare(batch)
        return await self._commit(account_id, mailbox_id, incoming)

    async def append_batches(
        self,
        account_id: int,
        mailbox_id: int,
        batches: AsyncIterable[Batch],
        in_flight: int = 4,
        *,
        on_loop: bool = False,
    ) -> AsyncIterator[list[Appended]]:
        """``append_batch`` for a stream of batches (``postbus import``): several are prepared
        at once, so every core has work, and committed in order, so UIDs follow the source.
        ``on_loop``: the caller's event loop serves nobody else (``Database.write``)."""
        preparing: deque[asyncio.Task[list[appending.Incoming]]] = deque()
        stored = 0
        try:
            async for batch in batches:
                preparing.append(asyncio.ensure_future(self._prepare(batch)))
                if len(preparing) >= in_flight:
                    incoming = await preparing.popleft()
                    placed = await self._commit(account_id, mailbox_id, incoming, on_loop)
                    stored += len(placed)
                    yield placed
            while preparing:
                incoming = await preparing.popleft()
                placed = await self._commit(account_id, mailbox_id, incoming, on_loop)
                stored += len(placed)
                yield placed
            if stored >= appending.ANALYZE_AFTER:
                await self.write(appending.refresh_statistics)
        finally:
            for task in preparing:
                task.cancel()
            await asyncio.gather(*preparing, return_exceptions=True)

    async def _prepare(self, batch: Batch) -> list[appending.Incoming]:
        prepared = await asyncio.get_running_loop().run_in_executor(
            self._worker_pool(), bulk.prepare, str(self.blobs.root), [raw for raw, *_ in batch]
        )
        await self._bodies.publish([pending for pending, _ in prepared if pending is not None])
        return [
            appending.Incoming(new, tuple(flags), received)
            for (_, new), (_, flags, received) in zip(prepared, batch, strict=True)
        ]

    async def _commit(
        self,
        account_id: int,
        mailbox_id: int,
        incoming: list[appending.Incoming],
        on_loop: bool = False,
    ) -> list[Appended]:
        now = _now()
        return await self.write(
            lambda tx: appending.append_batch(tx, account_id, mailbox_id, incoming, now),
            on_loop=on_loop,
        )

    def _worker_pool(self) -> ProcessPoolExecutor:
        if self._workers is None:
            # spawn, not fork: this process has threads (the writers) that a fork would copy
            # mid-flight.
            self._workers = ProcessPoolExecutor(
                os.cpu_count() or 1, mp_context=multiprocessing.get_context("spawn")
            )
        return self._workers

    async def _parse(self, source: bytes | Path) -> Any:
        if isinstance(source, Path):
            return await self._blocking(_parse_path, source)
        if len(source) > PARSE_IN_THREAD_ABOVE:
            return await self._blocking(mime.parse_message, source)
        return mime.parse_message(source)

    async def newest(
        self, account_id: int, mailbox_id: int, limit: int = 50, before_uid: int | None = None
    ) -> list[MessageSummary]:
        return await self.read(
            lambda tx: messages.newest(tx, account_id, mailbox_id, limit, before_uid)
        )

    async def summaries(
        self, account_id: int, mailbox_id: int, ranges: messages.UidRanges
    ) -> list[MessageSummary]:
        return await self.read(lambda tx: messages.summaries(tx, account_id, mailbox_id, ranges))

    async def uids_and_flags(
        self, account_id: int, mailbox_id: int
    ) -> list[tuple[int, int, str, int]]:
        return await self.read(lambda tx: messages.uids_and_flags(tx, account_id, mailbox_id))

    async def get_message(self, account_id: int, message_id: int) -> StoredMessage:
        return await self.read(lambda tx: messages.get_message(tx, account_id, message_id))

    async def read_body(self, account_id: int, message_id: int) -> bytes:
        blob_hash, compressed = await self.read(
            lambda tx: blob_rows.message_body(tx, account_id, message_id)
        )
        return await self._raw_body(blob_hash, compressed)

    async def read_blob(self, blob_hash: str, limit: int | None = None) -> bytes:
        """A body's raw bytes (the first ``limit`` of them), from the database or its file."""
        compressed = await self.read(lambda tx: blob_rows.inline_body(tx, blob_hash))
        return await self._raw_body(blob_hash, compressed, limit)

    async def _raw_body(
        self, blob_hash: str, compressed: bytes | None, limit: int | None = None
    ) -> bytes:
        if compressed is not None:
            return decompress(compressed)[:limit]
        return await self._blocking(self.blobs.read, blob_hash, limit)

    async def correspondents(
        self, account_id: int, prefix: str, limit: int = 8
    ) -> list[Correspondent]:
        """Address suggestions for the compose form (``correspondents.py``)."""
        return await self.read(lambda tx: correspondents.suggest(tx, account_id, prefix, limit))

    async def set_flags(
        self,
        account_id: int,
        mailbox_id: int,
        ranges: messages.UidRanges,
        flags: Iterable[str],
        mode: str,
    ) -> list[tuple[int, tuple[str, ...], int]]:
        flag_list = tuple(flags)
        return await self.write(
            lambda tx: messages.set_flags(tx, account_id, mailbox_id, ranges, flag_list, mode)
        )

    async def expunge(
        self, account_id: int, mailbox_id: int, ranges: messages.UidRanges | None = None
    ) -> list[int]:
        return await self.write(
            lambda tx: messages.expunge(tx, account_id, mailbox_id, ranges, _now())
        )

    async def copy(
        self, account_id: int, source_id: int, target_id: int, ranges: messages.UidRanges
    ) -> list[tuple[int, int]]:
        return await self.write(
            lambda tx: messages.copy(tx, account_id, source_id, target_id, ranges, _now())
        )

    async def move(
        self, account_id: int, source_id: int, target_id: int, ranges: messages.UidRanges
    ) -> list[tuple[int, int]]:
        return await self.write(
            lambda tx: messages.move(tx, account_id, source_id, target_id, ranges, _now())
        )

    async def expunged_since(self, account_id: int, mailbox_id: int, modseq: int) -> list[int]:
        return await self.read(
            lambda tx: messages.expunged_since(tx, account_id, mailbox_id, modseq)
        )

    async def search(
        self, account_id: int, query: str, mailbox_id: int | None = None, limit: int = 200
    ) -> list[ThreadMessage]:
        """Messages holding every word of ``query``, newest first: ``find`` with words only."""
        return await self.find(account_id, finder.Criteria(words=query, mailbox_id=mailbox_id),
                               limit)

    async def find(
        self, account_id: int, criteria: finder.Criteria, limit: int = 50, offset: int = 0
    ) -> list[ThreadMessage]:
        """Search with filters (``finder.py``): one page, newest first, with each folder."""
        return await self.read(lambda tx: finder.find(tx, account_id, criteria, limit, offset))

    # -- conversations ------------------------------------------------------------------------

    async def thread_page(
        self, account_id: int, mailbox_id: int, limit: int = 50, before_uid: int | None = None
    ) -> list[ThreadSummary]:
        return await self.read(
            lambda tx: threads.thread_page(tx, account_id, mailbox_id, limit, before_uid)
        )

    async def conversation(
        self, account_id: int, thread_id: int, opened_from: int,
        limit: int = threads.CONVERSATION_LIMIT,
    ) -> list[ThreadMessage]:
        return await self.read(
            lambda tx: threads.conversation(tx, account_id, thread_id, opened_from, limit)
        )

    async def thread_uids(
        self, account_id: int, mailbox_id: int, thread_ids: Iterable[int]
    ) -> list[int]:
        wanted = list(thread_ids)
        return await self.read(
            lambda tx: threads.thread_uids(tx, account_id, mailbox_id, wanted)
        )

    # -- settings, audit, maintenance ---------------------------------------------------------

    async def get_setting(self, account_id: int, name: str) -> str | None:
        return await self.read(lambda tx: settings.get_setting(tx, account_id, name))

    async def set_setting(self, account_id: int, name: str, value: str | None) -> None:
        await self.write(lambda tx: settings.set_setting(tx, account_id, name, value))

    async def audit(
        self, actor: str, action: str, account_id: int | None = None, detail: str = ""
    ) -> None:
        await self.write(
            lambda tx: settings.audit(tx, _now(), actor, action, account_id, detail)
        )

    async def collect_garbage(self, grace: int = gc.GRACE_SECONDS) -> gc.Collected:
        return await gc.collect(self.db, self.blobs, _now(), grace)


def _parse_path(path: Path) -> Any:
    with path.open("rb") as source:
        if path.stat().st_size == 0:
            return mime.parse_message(b"")
        with mmap.mmap(source.fileno(), 0, access=mmap.ACCESS_READ) as mapped:
            return mime.parse_message(mapped)


async def _migrate(db: Database) -> None:
    await db.write(schema.migrate)


async def open_sqlite(path: Path, blob_dir: Path) -> Store:
    path.parent.mkdir(parents=True, exist_ok=True)
    db = SqliteDatabase(path, EventBus())
    await _migrate(db)
    blobs = BlobStore(blob_dir)
    blobs.clean_partial()
    return Store(db, blobs)


async def open_postgres(dsn: str, blob_dir: Path) -> Store:
    db = await PostgresDatabase.connect(dsn, EventBus())
    await _migrate(db)
    blobs = BlobStore(blob_dir)
    blobs.clean_partial()
    return Store(db, blobs)
