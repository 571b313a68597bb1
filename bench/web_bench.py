"""Webmail benchmark: what a signed-in reader waits for, on a big mailbox.

    .venv/bin/python -m bench.web_bench --count 500000 --data-dir /var/tmp/pb-web-500k
    .venv/bin/python -m bench.web_bench --data-dir DIR   # reuse a store of bench.store_bench

The mailbox is the one ``python -m bench.store_bench --data-dir DIR`` builds (synthetic messages
through the real ``Store.append``); when DIR has none yet, it is built first with ``--count``
messages. The app then runs in its own process under uvicorn on 127.0.0.1 (the real "http"
listener of ``postbus.web.server``), and one httpx client, signed in through the sign-in form,
times ``--requests`` sequential requests of each kind: the inbox page, a message view (a
different message each time, so most are first views that also mark the message seen) and a
search. Times are wall-clock per request as the client sees it on loopback (p50, p95, in ms).
Then the bytes of a first visit to the inbox: the HTML page and every stylesheet, script and
icon it links (as sent on the wire, and decoded). Not a test: run it by hand, record the figures
in bench/RESULTS.md.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

from bench import store_bench

ADDRESS = store_bench.ADDRESS
PASSWORD = "bench-web-passphrase-1"
SEARCH_WORDS = ("zeppelin", "quarterly", "invoice")
FILTERED_SEARCHES = {  # the search page's filters, in the box's own syntax
    "from_person": "from:grace",
    "word_with_attachment": "quarterly+has:attachment",
    "date_range": "after:2020-01-01+before:2020-02-01",
}
SUGGEST_PREFIXES = ("gr", "e", "van")  # compose: address suggestions while typing


# -- the server process ----------------------------------------------------------------------


async def serve(data_dir: Path, port: int) -> None:
    import dataclasses

    from postbus.config import Listener, load_config
    from postbus.server import Service, make_authenticator
    from postbus.web.server import start

    listener = Listener("http", "http", "127.0.0.1", port, "none")
    config = load_config(None, {}, data_dir=data_dir)
    config = dataclasses.replace(config, listeners=(listener,))
    store = await store_bench.open_store("sqlite", data_dir)
    service = Service(config, store, None, make_authenticator(config, store))
    server = await start(service, listener)
    print("ready", flush=True)
    try:
        await asyncio.Event().wait()
    finally:
        server.close()
        await server.wait_closed()
        await store.close()


# -- preparing the mailbox -------------------------------------------------------------------


async def prepare(data_dir: Path, count: int, parallel: int) -> int:
    """Build the mailbox if DIR has none; give the bench account a real password.
    Returns the number of messages in its inbox."""
    from postbus.accounts.passwords import hash_password

    if not (data_dir / "postbus.sqlite3").exists():
        await store_bench.run("sqlite", count, parallel, data_dir)
    store = await store_bench.open_store("sqlite", data_dir)
    try:
        account = await store.find_account(ADDRESS)
        await store.update_account(account.id, password_hash=hash_password(PASSWORD))
        inbox = await store.get_mailbox(account.id, "INBOX")
        return int(inbox.message_count)
    finally:
        await store.close()


# -- the client ------------------------------------------------------------------------------


def percentiles(samples: list[float]) -> dict[str, float]:
    ordered = sorted(samples)
    return {
        "p50": statistics.median(ordered),
        "p95": ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))],
        "max": ordered[-1],
    }


def timed(client: httpx.Client, urls: list[str]) -> dict[str, float]:
    client.get(urls[0])  # warm-up
    samples = []
    for url in urls:
        started = time.perf_counter()
        response = client.get(url)
        samples.append((time.perf_counter() - started) * 1000)
        if response.status_code != 200:
            raise SystemExit(f"{url}: HTTP {response.status_code}")
    return percentiles(samples)


def sign_in(client: httpx.Client) -> str:
    page = client.get("/signin")
    token = re.search(r'name="csrf" value="([^"]+)"', page.text)
    assert token is not None, "no CSRF token on the sign-in page"
    signed = client.post("/signin", data={"csrf": token.group(1), "address": ADDRESS,
                                          "password": PASSWORD, "next": "/mail"})
    location = signed.headers.get("location", "")
    if signed.status_code != 303 or "/signin" in location:
        raise SystemExit(f"sign-in failed: {signed.status_code} {location}")
    inbox = client.get("/mail")
    return inbox.headers["location"]  # /mail/<id>


def use_conversations(client: httpx.Client, inbox: str) -> None:
    """Switch the list to conversations, as the toggle on the list does."""
    token = re.search(r'name="csrf" value="([^"]+)"', client.get(inbox).text)
    assert token is not None, "no CSRF token on the list"
    switched = client.post(f"{inbox}/mode", data={"csrf": token.group(1),
                                                  "mode": "conversations"})
    if switched.status_code != 303:
        raise SystemExit(f"list mode: HTTP {switched.status_code}")


def first_load(base: str) -> dict[str, int]:
    """A fresh browser's first visit to the inbox: the page and what it links."""
    with httpx.Client(base_url=base, headers={"Accept-Encoding": "gzip, br"}) as fresh:
        inbox = sign_in(fresh)
        page = fresh.get(inbox)
        wire = page.num_bytes_downloaded
        decoded = len(page.content)
        assets = sorted(set(re.findall(r'(?:href|src)="(/static/[^"]+)"', page.text)))
        for asset in assets:
            response = fresh.get(asset)
            wire += response.num_bytes_downloaded
            decoded += len(response.content)
        return {"html_bytes": len(page.content), "assets": len(assets), "wire_bytes": wire,
                "decoded_bytes": decoded}


def measure(base: str, messages: int, requests: int, seed: int) -> dict[str, Any]:
    rng = random.Random(seed)
    results: dict[str, Any] = {"messages": messages, "requests": requests}
    with httpx.Client(base_url=base, timeout=60) as client:
        inbox = sign_in(client)
        results["inbox_ms"] = timed(client, [inbox] * requests)
        uids = [rng.randint(1, messages) for _ in range(requests)]  # appended: uids 1..n
        results["message_ms"] = timed(client, [f"{inbox}/{uid}" for uid in uids])
        for word in SEARCH_WORDS:
            results[f"search_{word}_ms"] = timed(client, [f"/search?q={word}"] * requests)
        for name, query in FILTERED_SEARCHES.items():
            results[f"search_{name}_ms"] = timed(client, [f"/search?q={query}"] * requests)
        results["suggest_ms"] = timed(
            client, [f"/compose/suggest?q={prefix}" for prefix in SUGGEST_PREFIXES] * requests
        )
        use_conversations(client, inbox)
        results["conversations_ms"] = timed(client, [inbox] * requests)
    results["first_load"] = first_load(base)
    return results


def report(results: dict[str, Any]) -> str:
    lines = [f"webmail, {results['messages']:,} messages in the inbox, "
             f"{results['requests']} requests each (ms, client-side on loopback)",
             "| request | p50 | p95 | max |", "|---|---:|---:|---:|"]
    for key, value in results.items():
        if key.endswith("_ms"):
            lines.append(f"| {key[:-3]} | {value['p50']:.1f} | {value['p95']:.1f} | "
                         f"{value['max']:.1f} |")
    load = results["first_load"]
    lines.append(f"first load of the inbox: {load['wire_bytes']:,} bytes on the wire "
                 f"({load['decoded_bytes']:,} decoded; HTML {load['html_bytes']:,}, "
                 f"{load['assets']} linked files)")
    return "\n".join(lines)


def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--count", type=int, default=500_000,
                        help="messages to build when --data-dir holds no store yet")
    parser.add_argument("--data-dir", type=Path, help="a bench.store_bench store (kept)")
    parser.add_argument("--requests", type=int, default=200)
    parser.add_argument("--parallel", type=int, default=32)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--serve", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, default=0, help=argparse.SUPPRESS)
    args = parser.parse_args()
    try:
        import uvloop

        runner: Any = uvloop.run
    except ImportError:
        runner = asyncio.run
    if args.serve:
        runner(serve(args.serve, args.port))
        return
    data_dir = args.data_dir or Path(tempfile.mkdtemp(prefix="postbus-web-", dir="/var/tmp"))
    data_dir.mkdir(parents=True, exist_ok=True)
    server = None
    try:
        messages = runner(prepare(data_dir, args.count, args.parallel))
        port = free_port()
        server = subprocess.Popen(
            [sys.executable, "-m", "bench.web_bench", "--serve", str(data_dir),
             "--port", str(port)], stdout=subprocess.PIPE, text=True)
        assert server.stdout is not None
        if server.stdout.readline().strip() != "ready":
            raise SystemExit("the web server did not start")
        print(report(measure(f"http://127.0.0.1:{port}", messages, args.requests, args.seed)))
    finally:
        if server is not None:
            server.terminate()
            server.wait(timeout=30)
        if args.data_dir is None:
            shutil.rmtree(data_dir, ignore_errors=True)


if __name__ == "__main__":
    main()
