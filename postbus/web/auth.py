"""Sign in and sign out.

Every attempt goes through ``Authenticator.login`` (protocol "web"), which throttles failures
per client IP and per account across all protocols and answers an unknown address exactly like
a wrong password; the page says the same for both. The sign-in form is protected by a
double-submit token in the ``pb_check`` cookie; when that cookie does not come back, the
browser refuses cookies and the page says so instead of failing silently.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from postbus.accounts.auth import AuthFailed, Refusal
from postbus.web import i18n, session
from postbus.web.pages import gettext_for, redirect, render, safe_next, signed_in, store_of
from postbus.web.session import CHECK_COOKIE, SignedIn

MAX_ADDRESS = 320
MAX_PASSWORD = 1024


async def sign_in_page(request: Request) -> Response:
    lang = request.query_params.get("lang")
    next_path = safe_next(request.query_params.get("next"))
    if lang in i18n.LANGUAGES:
        response = redirect("/signin?next=" + _quoted(next_path))
        session.set_cookie(response, request, i18n.LANG_COOKIE, lang, 365 * 24 * 3600)
        return response
    if await session.current(request) is not None:
        return redirect(next_path)
    _ = gettext_for(request)
    notice = ""
    if request.query_params.get("expired"):
        notice = _("Your session has ended. Please sign in again.")
    elif request.query_params.get("signed_out"):
        notice = _("You are signed out.")
    return _form(request, next_path, notice=notice)


def _quoted(path: str) -> str:
    from urllib.parse import quote

    return quote(path, safe="")


def _form(
    request: Request, next_path: str, *, error: str = "", notice: str = "", address: str = "",
    status: int = 200,
) -> Response:
    check = request.cookies.get(CHECK_COOKIE) or session.new_token()
    response = render(
        request,
        "signin.html",
        {"check": check, "next": next_path, "error": error, "notice": notice,
         "address": address},
        status=status,
    )
    session.set_cookie(response, request, CHECK_COOKIE, check)
    return response


async def sign_in(request: Request) -> Response:
    form = await request.form(max_files=0, max_fields=20)
    next_path = safe_next(str(form.get("next") or ""))
    cookie = request.cookies.get(CHECK_COOKIE)
    if not cookie:
        return render(request, "nocookies.html", status=400)
    if not session.tokens_match(str(form.get(session.CSRF_FIELD) or ""), cookie):
        return _form(request, next_path, status=403,
                     error=gettext_for(request)("The form had expired. Please try again."))
    address = str(form.get("address") or "").strip()[:MAX_ADDRESS]
    password = str(form.get("password") or "")[:MAX_PASSWORD]
    _ = gettext_for(request)
    service = request.app.state.service
    ip = request.client.host if request.client else ""
    try:
        account = await service.auth.login(address, password, ip, "web")
    except AuthFailed as failed:
        error = {
            Refusal.INVALID: _("Wrong e-mail address or password."),
            Refusal.BLOCKED: _("Too many failed attempts. Please wait a few minutes and "
                               "try again."),
            Refusal.DISABLED: _("This account is disabled. Please contact your "
                                "administrator."),
        }[failed.refusal]
        return _form(request, next_path, error=error, address=address, status=401)
    response = redirect(next_path)
    await session.start(store_of(request), response, request, account,
                        persistent=form.get("remember") == "on")
    session.clear_cookie(response, request, CHECK_COOKIE)
    await store_of(request).audit("web", "sign-in", account.id, ip)
    return response


@signed_in
async def sign_out(request: Request, user: SignedIn) -> Response:
    await session.checked_form(request, user.csrf)
    response = redirect("/signin?signed_out=1")
    await session.end(request, response)
    return response


async def home(request: Request) -> Response:
    return redirect("/mail")


routes = [
    Route("/", home),
    Route("/signin", sign_in_page, methods=["GET"]),
    Route("/signin", sign_in, methods=["POST"]),
    Route("/signout", sign_out, methods=["POST"]),
]
