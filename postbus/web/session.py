"""Who is signed in: server-side sessions behind an opaque cookie, and the CSRF check.

- The cookie holds 32 random bytes (URL-safe base64); the store keeps only their SHA-256.
- Cookies are ``HttpOnly; SameSite=Lax; Path=/`` and ``Secure`` whenever the request came over
  HTTPS (on the loopback demo's plain HTTP listener a Secure cookie would never come back).
- "Stay signed in" gives a cookie with Max-Age and a 30-day server-side life; otherwise a
  browser-session cookie and 12 hours. Either slides forward while used (written at most once
  every ``TOUCH_EVERY`` seconds).
- Every POST carries the session's CSRF token (form field ``csrf`` or header
  ``X-CSRF-Token``), compared in constant time. Before sign-in the token is a random value in
  the ``pb_check`` cookie, which also tells whether the browser keeps cookies at all.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import time
from dataclasses import dataclass

from starlette.datastructures import FormData
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response

from postbus.store import Store, StoreError
from postbus.store import sessions as rows
from postbus.store import settings as settings_rows
from postbus.store.models import Account

SESSION_COOKIE = "pb_session"
CHECK_COOKIE = "pb_check"
CSRF_FIELD = "csrf"
CSRF_HEADER = "x-csrf-token"
SHORT_LIFE = 12 * 3600
LONG_LIFE = 30 * 24 * 3600
TOUCH_EVERY = 300


def new_token() -> str:
    return base64.urlsafe_b64encode(secrets.token_bytes(32)).rstrip(b"=").decode()


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def is_https(request: Request) -> bool:
    return request.url.scheme == "https"


def set_cookie(
    response: Response, request: Request, name: str, value: str, max_age: int | None = None
) -> None:
    response.set_cookie(
        name, value, max_age=max_age, path="/", secure=is_https(request), httponly=True,
        samesite="lax",
    )


def clear_cookie(response: Response, request: Request, name: str) -> None:
    response.delete_cookie(name, path="/", secure=is_https(request), httponly=True,
                           samesite="lax")


@dataclass(frozen=True, slots=True)
class SignedIn:
    account: Account
    session: rows.WebSession
    settings: dict[str, str]

    @property
    def csrf(self) -> str:
        return self.session.csrf_token


async def start(
    store: Store, response: Response, request: Request, account: Account, persistent: bool
) -> None:
    """A new session for ``account``; its cookie is set on ``response``."""
    token = new_token()
    now = int(time.time())
    life = LONG_LIFE if persistent else SHORT_LIFE
    session = rows.WebSession(
        token_hash=token_hash(token),
        account_id=account.id,
        csrf_token=new_token(),
        persistent=persistent,
        created=now,
        last_seen=now,
        expires=now + life,
        remote_ip=request.client.host if request.client else "",
        user_agent=request.headers.get("user-agent", ""),
    )
    await store.write(lambda tx: rows.create(tx, session))
    await store.write(lambda tx: rows.purge_expired(tx, now))
    set_cookie(response, request, SESSION_COOKIE, token, LONG_LIFE if persistent else None)


async def current(request: Request) -> SignedIn | None:
    """The signed-in user of this request (cached on the request), or None."""
    if hasattr(request.state, "signed_in"):
        return request.state.signed_in  # type: ignore[no-any-return]
    found = await _load(request)
    request.state.signed_in = found
    return found


async def _load(request: Request) -> SignedIn | None:
    token = request.cookies.get(SESSION_COOKIE)
    if not token or len(token) > 100:
        return None
    store: Store = request.app.state.service.store
    now = int(time.time())
    digest = token_hash(token)
    session = await store.read(lambda tx: rows.get(tx, digest, now))
    if session is None:
        return None
    try:
        account = await store.get_account(session.account_id)
    except StoreError:
        return None
    if account.disabled:
        return None
    if now - session.last_seen >= TOUCH_EVERY:
        life = LONG_LIFE if session.persistent else SHORT_LIFE
        await store.write(lambda tx: rows.touch(tx, digest, now, now + life))
    values = await store.read(lambda tx: settings_rows.all_settings(tx, account.id))
    return SignedIn(account, session, values)


async def end(request: Request, response: Response) -> None:
    token = request.cookies.get(SESSION_COOKIE)
    if token:
        store: Store = request.app.state.service.store
        await store.write(lambda tx: rows.delete(tx, token_hash(token)))
    clear_cookie(response, request, SESSION_COOKIE)


def tokens_match(given: str | None, expected: str | None) -> bool:
    if not given or not expected:
        return False
    return hmac.compare_digest(given.encode(), expected.encode())


async def checked_form(
    request: Request, expected: str, max_part_size: int = 1024 * 1024
) -> FormData:
    """The POSTed form, after its CSRF token matched ``expected``; else 403."""
    form = await request.form(max_files=50, max_fields=1000, max_part_size=max_part_size)
    given = request.headers.get(CSRF_HEADER) or form.get(CSRF_FIELD)
    if not tokens_match(given if isinstance(given, str) else None, expected):
        raise HTTPException(403, "csrf")
    return form
