"""Rendering pages: the Jinja2 environment, the per-request context, the sign-in guard and
the error pages.

Templates are autoescaped; translated strings come from the request's language (``i18n``).
Every page a signed-in user sees gets the folder list for the navigation and the session's
CSRF token for its forms.
"""

from __future__ import annotations

import functools
import logging
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit

from jinja2 import Environment, FileSystemLoader, select_autoescape
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response

from postbus.store import Store
from postbus.web import formats, i18n, session
from postbus.web.session import SignedIn

log = logging.getLogger("postbus.web")

TEMPLATES = Path(__file__).parent / "templates"
ENV = Environment(
    loader=FileSystemLoader(TEMPLATES),
    autoescape=select_autoescape(default=True, default_for_string=True),
    trim_blocks=True,
    lstrip_blocks=True,
)
LANGUAGE_SETTING = "web.language"
HOME = "/mail"


def safe_next(value: str | None) -> str:
    """A local path to return to after sign-in; anything else (other sites, schemes,
    protocol-relative ``//host`` or ``/\\host``) becomes the inbox. No open redirects."""
    if not value or len(value) > 2000 or not value.startswith("/"):
        return HOME
    if value.startswith(("//", "/\\")) or any(ord(c) < 0x21 or c == "\\" for c in value):
        return HOME
    parts = urlsplit(value)
    if parts.scheme or parts.netloc:
        return HOME
    return value


def language(request: Request, user: SignedIn | None) -> str:
    setting = user.settings.get(LANGUAGE_SETTING) if user else None
    return i18n.pick(
        setting, request.cookies.get(i18n.LANG_COOKIE), request.headers.get("accept-language")
    )


def gettext_for(request: Request) -> i18n.Gettext:
    user = getattr(request.state, "signed_in", None)
    return i18n.translations(language(request, user)).gettext


def context(request: Request, user: SignedIn | None, values: dict[str, Any]) -> dict[str, Any]:
    lang = language(request, user)
    catalog = i18n.translations(lang)
    loc = i18n.locale(lang)
    zone = formats.time_zone(request.cookies.get(formats.TZ_COOKIE))
    now = int(time.time())
    return {
        "request": request,
        "user": user,
        "csrf": user.csrf if user else "",
        "lang": lang,
        "languages": i18n.LANGUAGES,
        "_": catalog.gettext,
        "ngettext": catalog.ngettext,
        "short_date": lambda when: formats.short_date(when, now, zone, loc),
        "long_date": lambda when: formats.long_date(when, zone, loc),
        "size": formats.size,
        **values,
    }


def render(
    request: Request,
    template: str,
    values: dict[str, Any] | None = None,
    status: int = 200,
    headers: dict[str, str] | None = None,
) -> HTMLResponse:
    user = getattr(request.state, "signed_in", None)
    page = ENV.get_template(template).render(context(request, user, values or {}))
    return HTMLResponse(page, status_code=status, headers=headers)


def store_of(request: Request) -> Store:
    return request.app.state.service.store  # type: ignore[no-any-return]


async def navigation(request: Request, user: SignedIn) -> list[formats.Folder]:
    mailboxes = await store_of(request).list_mailboxes(user.account.id)
    return formats.folder_tree(mailboxes, gettext_for(request))


def to_sign_in(request: Request) -> Response:
    """Back to the sign-in page, and afterwards to where the user was going."""
    expired = session.SESSION_COOKIE in request.cookies
    target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    if request.method != "GET" or request.url.path.startswith("/events"):
        target = HOME
    location = "/signin?next=" + quote(safe_next(target), safe="")
    if expired:
        location += "&expired=1"
    if request.headers.get("hx-request"):
        return Response(status_code=204, headers={"HX-Redirect": location})
    if request.url.path.startswith("/events"):
        return Response(status_code=401)
    response = RedirectResponse(location, status_code=303)
    if expired:
        session.clear_cookie(response, request, session.SESSION_COOKIE)
    return response


Endpoint = Callable[[Request, SignedIn], Awaitable[Response]]


def signed_in(endpoint: Endpoint) -> Callable[[Request], Awaitable[Response]]:
    """Route decorator: the endpoint runs only for a signed-in user, who is passed in."""

    @functools.wraps(endpoint)
    async def guarded(request: Request) -> Response:
        user = await session.current(request)
        if user is None:
            return to_sign_in(request)
        return await endpoint(request, user)

    guarded.requires_sign_in = True  # type: ignore[attr-defined]
    return guarded


def redirect(location: str) -> RedirectResponse:
    return RedirectResponse(location, status_code=303)


# -- error pages ------------------------------------------------------------------------------


def _error_texts(_: i18n.Gettext) -> dict[int, tuple[str, str]]:
    return {
        400: (_("Something in that request was wrong"), _("Go back and try again.")),
        403: (
            _("This form has expired"),
            _("For your safety, forms stop working after you sign out or after a while. "
              "Go back, reload the page and try again."),
        ),
        404: (_("Not found"), _("This page or message does not exist (any more).")),
        405: (_("Not allowed"), _("That is not something this page can do.")),
        413: (_("Too large"), _("That upload is larger than this server accepts.")),
        500: (
            _("Something went wrong on our side"),
            _("The error has been logged. Please try again in a moment."),
        ),
    }


def error_page(request: Request, status: int) -> Response:
    _ = gettext_for(request)
    title, text = _error_texts(_).get(status, _error_texts(_)[400])
    try:
        return render(request, "error.html", {"title": title, "text": text, "status": status},
                      status=status)
    except Exception:  # the error page itself must never fail
        log.exception("error page failed")
        return Response(title, status_code=status, media_type="text/plain")


async def http_error(request: Request, exc: Exception) -> Response:
    status = exc.status_code if isinstance(exc, HTTPException) else 500
    return error_page(request, status)


async def server_error(request: Request, exc: Exception) -> Response:
    log.error("web request %s %s failed", request.method, request.url.path, exc_info=exc)
    return error_page(request, 500)
