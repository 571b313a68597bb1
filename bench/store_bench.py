"""Store benchmark: build a big mailbox through the real append path and time what users feel.

    .venv/bin/python -m bench.store_bench --backend sqlite --count 500000
    .venv/bin/python -m bench.store_bench --backend postgres --count 500000
    .venv/bin/python -m bench.store_bench --import --count 500000 [--mbox-file m500k.mbox]

By default each message goes through ``Store.append`` exactly as an SMTP delivery or IMAP
APPEND does: body stored and flushed, parsed once, metadata committed (group commit), event
published; ``--parallel`` appends are kept in flight, as parallel SMTP sessions would. With
``--import`` the messages are written to an mbox file first and then go through the function
``postbus import`` runs (``importing.import_messages``): read from the file, parsed in worker
processes, committed a batch at a time in order. Then it measures
opening the mailbox (its counters), listing the newest 50 with envelope fields, and full-text
word queries, and reports sizes and peak memory. Results go to stdout as a Markdown table row
block and, with ``--json``, to a file. Not a test: run it by hand, record in bench/RESULTS.md.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import resource
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable, Iterator
from itertools import islice
from pathlib import Path
from typing import Any

import asyncpg
import uvloop

from bench.synth import synthetic_messages
from postbus import importing
from postbus.mailfiles import FoundMessage, read_folder
from postbus.store import Store, open_postgres, open_sqlite

ADDRESS = "bench@example.test"
PG_ADMIN = os.environ.get("POSTBUS_BENCH_PG", "postgresql://postgres@127.0.0.1:5432/test")
PG_DATABASE = "postbus_bench"


def rss_mb() -> float:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


def peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


async def timed_ms(action: Callable[[], Awaitable[Any]], repeat: int = 21) -> tuple[float, float]:
    """(median, p95) in milliseconds over ``repeat`` runs after one warm-up."""
    await action()
    samples = []
    for _ in range(repeat):
        started = time.perf_counter()
        await action()
        samples.append((time.perf_counter() - started) * 1000)
    samples.sort()
    return statistics.median(samples), samples[int(len(samples) * 0.95) - 1]


async def open_store(backend: str, data_dir: Path) -> Store:
    if backend == "sqlite":
        return await open_sqlite(data_dir / "postbus.sqlite3", data_dir / "blobs")
    admin = await asyncpg.connect(PG_ADMIN)
    await admin.execute(f"DROP DATABASE IF EXISTS {PG_DATABASE} WITH (FORCE)")
    await admin.execute(f"CREATE DATABASE {PG_DATABASE}")
    await admin.close()
    return await open_postgres(PG_ADMIN.rpartition("/")[0] + "/" + PG_DATABASE, data_dir / "blobs")


async def database_bytes(store: Store, data_dir: Path) -> int:
    if store.dialect == "sqlite":
        return sum(p.stat().st_size for p in data_dir.glob("postbus.sqlite3*"))
    return await store.read(lambda tx: tx.fetchval("SELECT pg_database_size(current_database())"))


class Progress:
    """The running count of stored messages, with the rate and memory every ``every``."""

    def __init__(self, every: int) -> None:
        self.every = every
        self.done = 0
        self.started = time.perf_counter()
        self.checkpoints: list[dict[str, float]] = []

    def count(self, done: int) -> None:
        before, self.done = self.done, done
        if done // self.every > before // self.every:
            rate = done / (time.perf_counter() - self.started)
            self.checkpoints.append({"messages": done, "rate": rate, "rss_mb": rss_mb()})
            print(f"  {done:>8} messages  {rate:7.0f} msg/s  rss {rss_mb():6.0f} MB", flush=True)

    def result(self, raw_bytes: int) -> dict[str, Any]:
        elapsed = time.perf_counter() - self.started
        return {"seconds": elapsed, "rate": self.done / elapsed, "raw_bytes": raw_bytes,
                "checkpoints": self.checkpoints}


async def deliver_messages(
    store: Store, account_id: int, mailbox_id: int, count: int, parallel: int
) -> dict[str, Any]:
    """One message per ``Store.append``, ``parallel`` in flight, as SMTP deliveries come."""
    queue: asyncio.Queue[bytes | None] = asyncio.Queue(parallel * 2)
    progress = Progress(max(count // 10, 1))
    raw_bytes = 0

    async def producer() -> None:
        # Messages are made in another process, as SMTP clients would be: the generator's own
        # CPU time must not count against the store.
        emitter = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "bench.store_bench", "--emit", str(count),
            stdout=asyncio.subprocess.PIPE, limit=1 << 20,
        )
        assert emitter.stdout is not None
        nonlocal raw_bytes
        for _ in range(count):
            size = int.from_bytes(await emitter.stdout.readexactly(4), "big")
            raw_bytes += size
            await queue.put(await emitter.stdout.readexactly(size))
        await emitter.wait()
        for _ in range(parallel):
            await queue.put(None)

    async def deliveries() -> None:
        while (raw := await queue.get()) is not None:
            await store.append(account_id, mailbox_id, raw)
            progress.count(progress.done + 1)

    await asyncio.gather(producer(), *(deliveries() for _ in range(parallel)))
    return progress.result(raw_bytes)


async def import_mbox(
    store: Store, account_id: int, mailbox_id: int, count: int, mbox: Path
) -> dict[str, Any]:
    """The messages of ``mbox`` through ``postbus import``'s own function, as a user moving
    an old mailbox would: read from the file, prepared in worker processes, committed in
    batches on this (otherwise idle) event loop."""
    progress = Progress(max(count // 10, 1))
    raw_bytes = 0

    def found() -> Iterator[FoundMessage]:
        nonlocal raw_bytes
        for message in islice(read_folder(mbox), count):
            raw_bytes += len(message.raw)
            yield message

    await importing.import_messages(store, account_id, mailbox_id, found(), progress.count)
    return progress.result(raw_bytes)


async def expunge_oldest(
    store: Store, account_id: int, mailbox_id: int, count: int
) -> dict[str, float]:
    """Delete the oldest ``count`` messages as a client does (flag, then EXPUNGE), then collect
    their bodies: a big clean-up, measured last because it changes the mailbox."""
    started = time.perf_counter()
    await store.set_flags(account_id, mailbox_id, [(1, count)], ["\\Deleted"], "add")
    flagged = time.perf_counter()
    gone = await store.expunge(account_id, mailbox_id)
    expunged = time.perf_counter()
    collected = await store.collect_garbage(grace=-10)  # no grace: every body just freed
    done = time.perf_counter()
    return {"messages": len(gone), "flag_s": flagged - started, "expunge_s": expunged - flagged,
            "bodies": collected.rows, "gc_s": done - expunged}


async def run(
    backend: str, count: int, parallel: int, mbox: Path | None, data_dir: Path
) -> dict[str, Any]:
    store = await open_store(backend, data_dir)
    try:
        await store.add_domain("example.test")
        account = await store.add_account(ADDRESS, "not-a-real-hash")
        inbox = await store.get_mailbox(account.id, "INBOX")
        if mbox is None:
            print(f"{backend}: delivering {count} messages, {parallel} appends in flight",
                  flush=True)
            imported = await deliver_messages(store, account.id, inbox.id, count, parallel)
        else:
            print(f"{backend}: importing {count} messages from {mbox}", flush=True)
            imported = await import_mbox(store, account.id, inbox.id, count, mbox)
        results: dict[str, Any] = {
            "backend": backend, "count": count, "path": "append" if mbox is None else "import",
            "import": imported,
        }
        results["open_ms"] = await timed_ms(lambda: store.get_mailbox(account.id, "INBOX"))
        results["newest50_ms"] = await timed_ms(lambda: store.newest(account.id, inbox.id, 50))
        for word in ("zeppelin", "quarterly"):
            hits = len(await store.search(account.id, word, limit=100))
            results[f"search_{word}_ms"] = await timed_ms(
                lambda w=word: store.search(account.id, w, limit=100)
            )
            results[f"search_{word}_hits"] = hits
        results["database_mb"] = await database_bytes(store, data_dir) / 1e6
        results["blobs_mb"] = store.blobs.stored_size() / 1e6
        # small bodies are inside the database (store/blob_rows.py): their compressed size
        results["bodies_in_database_mb"] = await store.read(
            lambda tx: tx.fetchval(
                "SELECT COALESCE(SUM(LENGTH(compressed)), 0) FROM blob_contents"
            )
        ) / 1e6
        results["raw_mb"] = imported["raw_bytes"] / 1e6
        results["peak_rss_mb"] = peak_mb()
        results["expunge"] = await expunge_oldest(store, account.id, inbox.id, count // 10)
        return results
    finally:
        await store.close()


def summary(results: dict[str, Any]) -> str:
    first, last = results["import"]["checkpoints"][0], results["import"]["checkpoints"][-1]
    expunge = results["expunge"]
    return "\n".join([
        f"backend {results['backend']}, {results['count']:,} messages "
        f"({results['raw_mb']:,.0f} MB raw)",
        f"  {results['path']:<17} {results['import']['rate']:,.0f} msg/s",
        f"  database          {results['database_mb']:,.0f} MB, of which bodies"
        f" {results['bodies_in_database_mb']:,.0f} MB; blob files {results['blobs_mb']:,.0f} MB",
        f"  open mailbox      {results['open_ms'][0]:.2f} ms (p95 {results['open_ms'][1]:.2f})",
        f"  newest 50         {results['newest50_ms'][0]:.2f} ms"
        f" (p95 {results['newest50_ms'][1]:.2f})",
        f"  search zeppelin   {results['search_zeppelin_ms'][0]:.1f} ms "
        f"({results['search_zeppelin_hits']} hits shown)",
        f"  search quarterly  {results['search_quarterly_ms'][0]:.1f} ms "
        f"({results['search_quarterly_hits']} hits shown)",
        f"  delete oldest     {expunge['messages']:,}: \\Deleted in {expunge['flag_s']:.2f} s,"
        f" EXPUNGE in {expunge['expunge_s']:.2f} s; GC of {expunge['bodies']:,} bodies in"
        f" {expunge['gc_s']:.2f} s",
        f"  memory            rss {first['rss_mb']:.0f} MB at {first['messages']:,},"
        f" {last['rss_mb']:.0f} MB at {last['messages']:,}; peak {results['peak_rss_mb']:.0f} MB",
    ])


def emit(count: int) -> None:
    """Write ``count`` synthetic messages to stdout, each prefixed by its 4-byte length."""
    out = sys.stdout.buffer
    for raw in synthetic_messages(count, to=ADDRESS):
        out.write(len(raw).to_bytes(4, "big"))
        out.write(raw)
    out.flush()


def write_mbox(count: int, path: Path, to: str) -> None:
    """Write ``count`` synthetic messages as an mboxrd file (LF line ends), the input of
    ``postbus import`` runs: ``python -m bench.store_bench --mbox 100000 m.mbox anna@x.test``."""
    quoted = re.compile(rb"^(>*From )", re.M)  # RFC 4155 mboxrd: one more ">" on writing
    with path.open("wb", buffering=1 << 22) as out:
        for raw in synthetic_messages(count, to=to):
            text = quoted.sub(rb">\1", raw.replace(b"\r\n", b"\n"))
            out.write(b"From bench@example.net Thu Nov 26 07:00:00 2026\n")
            out.write(text if text.endswith(b"\n") else text + b"\n")
            out.write(b"\n")


def main() -> None:
    if len(sys.argv) == 3 and sys.argv[1] == "--emit":
        emit(int(sys.argv[2]))
        return
    if len(sys.argv) == 5 and sys.argv[1] == "--mbox":
        write_mbox(int(sys.argv[2]), Path(sys.argv[3]), sys.argv[4])
        return
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--backend", choices=["sqlite", "postgres"], default="sqlite")
    parser.add_argument("--count", type=int, default=500_000)
    parser.add_argument("--parallel", type=int, default=32,
                        help="appends in flight (without --import)")
    parser.add_argument("--import", dest="via_import", action="store_true",
                        help="through postbus import: the messages written to an mbox file"
                        " first (not timed), then imported")
    parser.add_argument("--mbox-file", type=Path,
                        help="with --import: this mbox file (as --mbox writes it), not a new one")
    parser.add_argument("--data-dir", type=Path, help="kept afterwards (default: a temp dir)")
    parser.add_argument("--json", type=Path, help="write the results here")
    args = parser.parse_args()
    data_dir = args.data_dir or Path(tempfile.mkdtemp(prefix="postbus-bench-", dir="/var/tmp"))
    data_dir.mkdir(parents=True, exist_ok=True)
    try:
        mbox = args.mbox_file if args.via_import else None
        if args.via_import and mbox is None:
            mbox = data_dir / "bench.mbox"
            started = time.perf_counter()
            write_mbox(args.count, mbox, ADDRESS)
            print(f"wrote {mbox} in {time.perf_counter() - started:.0f} s", flush=True)
        results = uvloop.run(run(args.backend, args.count, args.parallel, mbox, data_dir))
        # Report before cleaning up: removing half a million files takes a while.
        print(summary(results), flush=True)
        if args.json:
            args.json.write_text(json.dumps(results, indent=2))
    finally:
        if args.data_dir is None:
            shutil.rmtree(data_dir, ignore_errors=True)


if __name__ == "__main__":
    main()
