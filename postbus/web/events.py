"""New mail without a reload: server-sent events from the store's change events.

``GET /events`` keeps one stream per open page. Each change to the account (new, expunged or
flagged messages, folders) becomes ``event: mail`` with the folder id; the page then fetches
its list again. A comment every ``KEEPALIVE`` seconds keeps proxies from closing the stream
and tells us when the browser has gone. The stream ends when the server stops (``stopping``).
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator

from starlette.requests import Request
from starlette.responses import Response, StreamingResponse
from starlette.routing import Route

from postbus.store.events import MailboxEvent
from postbus.web.pages import signed_in, store_of
from postbus.web.session import SignedIn

KEEPALIVE = 20.0


@signed_in
async def events(request: Request, user: SignedIn) -> Response:
    store = store_of(request)
    stopping: asyncio.Event = request.app.state.stopping

    async def stream() -> AsyncIterator[bytes]:
        yield b"retry: 5000\n\n"
        stop = asyncio.ensure_future(stopping.wait())
        getter: asyncio.Future[MailboxEvent] | None = None
        try:
            with store.events.subscribe(user.account.id) as subscription:
                while not stopping.is_set():
                    if getter is None:
                        getter = asyncio.ensure_future(subscription.get())
                    done, _pending = await asyncio.wait(
                        {getter, stop}, timeout=KEEPALIVE, return_when=asyncio.FIRST_COMPLETED
                    )
                    if getter in done:
                        event, getter = getter.result(), None
                        data = json.dumps({"kind": event.kind.value, "mailbox": event.mailbox_id})
                        yield f"event: mail\ndata: {data}\n\n".encode()
                    elif stopping.is_set() or await request.is_disconnected():
                        return
                    else:
                        yield b": keepalive\n\n"
        finally:
            stop.cancel()
            if getter is not None:
                getter.cancel()

    return StreamingResponse(
        stream(),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"},
    )


routes = [Route("/events", events, methods=["GET"])]
