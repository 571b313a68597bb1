"""The webmail as one Starlette application: ``make_app(service)``.

Routes live one noun per module (auth, mail, message, folders, compose, settings, events);
static files (CSS, our script, the vendored htmx) come from ``static/``. Every response passes
``SecurityHeaders`` (CSP, nosniff, no framing, body-size limit); every error becomes a page a
person can read, never a traceback.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.middleware.gzip import GZipMiddleware
from starlette.routing import Mount
from starlette.staticfiles import StaticFiles

from postbus.web import (
    auth,
    compose,
    conversation,
    events,
    folders,
    mail,
    message,
    mta_sts,
    pages,
    search,
    settings,
)
from postbus.web.security import SMALL_BODY, SecurityHeaders

STATIC = Path(__file__).parent / "static"


def make_app(service: Any) -> Starlette:
    """The ASGI app over ``service`` (a ``postbus.server.Service``: config, store, auth)."""
    upload_limit = service.config.limits.max_message_size * 4 // 3 + 1024 * 1024

    big_bodies = {"/compose", "/compose/upload", "/compose/plain", "/compose/autosave"}

    def body_limit(path: str) -> int:
        return upload_limit if path in big_bodies else SMALL_BODY

    app = Starlette(
        routes=[
            *auth.routes,
            *mail.routes,
            *message.routes,
            *conversation.routes,
            *search.routes,
            *folders.routes,
            *compose.routes,
            *settings.routes,
            *events.routes,
            *mta_sts.routes,
            # Scripts and styles compressed; pages are not, since they carry a CSRF token
            # beside text an attacker can choose (BREACH).
            Mount("/static", GZipMiddleware(StaticFiles(directory=STATIC)), name="static"),
        ],
        middleware=[Middleware(SecurityHeaders, body_limit=body_limit)],
        exception_handlers={HTTPException: pages.http_error, Exception: pages.server_error},
    )
    app.state.service = service
    app.state.stopping = asyncio.Event()
    return app
