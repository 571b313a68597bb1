"""The "http" listener: uvicorn serving the webmail inside postbus's own event loop.

Registers protocol "http" with ``postbus.server``. Listener tls "implicit" serves HTTPS with the
installation's certificate (config cert_file / key_file); "none" plain HTTP.

Invariants:
- We bind the socket ourselves, so a port in use raises OSError here (postbus.server turns it
  into one clear start-up line) instead of uvicorn calling sys.exit.
- uvicorn never installs signal handlers: we call its public startup / main_loop / shutdown
  steps instead of ``serve()``; postbus.server owns SIGTERM and calls ``close()``.
- ``close()`` first ends the event streams (``app.state.stopping``), so open server-sent event
  connections do not hold the shutdown; uvicorn then gets ``GRACE`` seconds for the rest.
"""

from __future__ import annotations

import asyncio
import logging
import socket
from typing import Any

import uvicorn

from postbus.config import Listener
from postbus.server import Service, register
from postbus.web.app import make_app

log = logging.getLogger("postbus.web")

GRACE = 5  # seconds uvicorn waits for requests in flight at shutdown


class WebServer:
    """An ``asyncio.AbstractServer``-like handle on one running uvicorn server."""

    def __init__(self, server: uvicorn.Server, app: Any, sock: socket.socket) -> None:
        self._server = server
        self._app = app
        self._sock = sock
        self._loop_task: asyncio.Task[None] | None = None
        self._closing: asyncio.Task[None] | None = None

    @property
    def sockets(self) -> tuple[socket.socket, ...]:
        return (self._sock,)

    @property
    def port(self) -> int:
        return int(self._sock.getsockname()[1])

    async def start(self) -> None:
        await self._server.startup(sockets=[self._sock])
        self._loop_task = asyncio.create_task(self._server.main_loop())

    def is_serving(self) -> bool:
        return self._closing is None

    def close(self) -> None:
        if self._closing is None:
            self._app.state.stopping.set()
            self._server.should_exit = True
            self._closing = asyncio.get_running_loop().create_task(self._stop())

    async def _stop(self) -> None:
        if self._loop_task is not None:
            await self._loop_task
        await self._server.shutdown()

    async def wait_closed(self) -> None:
        if self._closing is not None:
            await self._closing

    async def serve_forever(self) -> None:  # AbstractServer API; postbus.server does not use it
        if self._loop_task is not None:
            await self._loop_task


def _bind(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
        sock.listen(1024)
        sock.setblocking(False)
    except OSError:
        sock.close()
        raise
    return sock


async def start(service: Service, listener: Listener) -> WebServer:
    app = make_app(service)
    tls: dict[str, Any] = {}
    if listener.tls == "implicit":
        tls = {"ssl_certfile": str(service.config.cert_file),
               "ssl_keyfile": str(service.config.key_file)}
    config = uvicorn.Config(
        app, host=listener.host, port=listener.port, log_level="warning", lifespan="off",
        ws="none", proxy_headers=False, server_header=False,
        timeout_graceful_shutdown=GRACE, **tls,
    )
    config.load()
    server = uvicorn.Server(config)
    server.lifespan = config.lifespan_class(config)
    sock = _bind(listener.host, listener.port)
    web = WebServer(server, app, sock)
    try:
        await web.start()
    except BaseException:
        sock.close()
        raise
    return web


async def factory(service: Service, listener: Listener) -> asyncio.AbstractServer:
    return await start(service, listener)  # type: ignore[return-value]


register("http", factory)
