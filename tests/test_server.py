"""``postbus serve``: listeners start, and SIGTERM stops the service cleanly."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from dataclasses import replace
from pathlib import Path

from postbus import server
from postbus.config import Listener, load_config
from tests.conftest import free_port


def config_for(tmp_path: Path, listeners: tuple[Listener, ...]):
    config = load_config(None, {}, data_dir=tmp_path)
    return replace(config, listeners=listeners)


async def test_listener_finishes_in_flight_work_on_stop(tmp_path: Path) -> None:
    """A registered protocol gets its listener; stopping waits for the open connection."""
    finished = asyncio.Event()

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        line = await reader.readline()
        await asyncio.sleep(0.3)  # work in flight while the stop arrives
        writer.write(line.upper())
        await writer.drain()
        writer.close()
        finished.set()

    async def factory(service: server.Service, listener: Listener) -> asyncio.AbstractServer:
        return await asyncio.start_server(handle, listener.host, listener.port)

    server.register("test-upper", factory)
    try:
        port = 20000 + os.getpid() % 20000
        listener = Listener("upper", "test-upper", "127.0.0.1", port, "none")  # type: ignore[arg-type]
        stop = asyncio.Event()
        task = asyncio.create_task(server.serve(config_for(tmp_path, (listener,)), stop=stop))
        for _ in range(100):
            try:
                reader, writer = await asyncio.open_connection("127.0.0.1", port)
                break
            except OSError:
                await asyncio.sleep(0.05)
        writer.write(b"hello\n")
        await writer.drain()
        await asyncio.sleep(0.05)
        stop.set()
        assert await asyncio.wait_for(reader.readline(), 5) == b"HELLO\n"
        await asyncio.wait_for(task, 15)
        assert finished.is_set()
        try:
            await asyncio.open_connection("127.0.0.1", port)
            raise AssertionError("the listener still accepts after the stop")
        except OSError:
            pass
    finally:
        server.PROTOCOLS.pop("test-upper", None)


async def test_sigterm_exits_zero(tmp_path: Path) -> None:
    config = tmp_path / "postbus.toml"
    port = free_port()
    config.write_text(
        f'[server]\ndata_dir = "{tmp_path}"\nhostname = "mail.example.test"\n'
        f'[[listener]]\nprotocol = "imap"\nhost = "127.0.0.1"\nport = {port}\n'
    )
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "postbus", "serve", "--config", str(config),
        stderr=asyncio.subprocess.PIPE,
    )
    assert process.stderr is not None
    log = b""
    while b"postbus is ready" not in log:
        line = await asyncio.wait_for(process.stderr.readline(), 30)
        assert line, log.decode()
        log += line
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    assert (await reader.readline()).startswith(b"* OK")
    process.send_signal(signal.SIGTERM)
    rest = await asyncio.wait_for(process.stderr.read(), 30)
    assert await process.wait() == 0
    assert b"stopped" in rest
    assert b"Traceback" not in log + rest
    writer.close()


def test_every_finished_protocol_is_registered() -> None:
    server.load_protocols()
    assert {"smtp-mx", "submission", "imap", "pop3", "http"} <= set(server.PROTOCOLS)


async def test_a_missing_mta_sts_ca_file_stops_the_start(tmp_path: Path) -> None:
    config = config_for(tmp_path, ())
    config = replace(config, queue=replace(config.queue, tls_ca_file=tmp_path / "no-such.pem"))
    try:
        await asyncio.wait_for(server.serve(config), 15)
    except server.StartupError as exc:
        assert "queue.tls_ca_file" in str(exc) and "no-such.pem" in str(exc)
    else:
        raise AssertionError("serve started without its CA file")
