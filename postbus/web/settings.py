"""Settings: language, name, signature, messages per page, list mode, compose format, password;
mail client setup.

A choice from a fixed set (list mode, compose format) that arrives with a value outside the set
is refused with 400 and nothing is saved: only a forged or broken form sends one. A choice that
is absent leaves the setting as it was, so an older form (or a test) that lacks it changes
nothing.
"""

from __future__ import annotations

import asyncio

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from postbus.accounts import passwords, scram
from postbus.accounts.auth import AuthFailed
from postbus.config import Listener
from postbus.store import sessions as session_rows
from postbus.web import i18n, session
from postbus.web.compose import (
    COMPOSE_FORMAT_SETTING,
    COMPOSE_FORMATS,
    SIGNATURE_SETTING,
    compose_format,
)
from postbus.web.mail import (
    CONVERSATIONS,
    DEFAULT_PAGE_SIZE,
    LIST_MODE_SETTING,
    MESSAGES,
    PAGE_SIZE_SETTING,
    PAGE_SIZES,
    conversation_mode,
    notices,
)
from postbus.web.pages import (
    LANGUAGE_SETTING,
    gettext_for,
    navigation,
    redirect,
    render,
    signed_in,
    store_of,
)
from postbus.web.session import SignedIn

MAX_SIGNATURE = 2000
MAX_NAME = 100


def _password_texts(request: Request) -> dict[str, str]:
    _ = gettext_for(request)
    return {
        passwords.TOO_SHORT: _("The new password is too short (at least %(n)d characters).")
        % {"n": passwords.MIN_LENGTH},
        passwords.CONTAINS_ADDRESS: _("The new password contains your e-mail address."),
        passwords.COMMON: _("The new password is one of the most common passwords."),
        passwords.ONE_KIND: _("The new password is only digits or only letters; make it "
                              "longer or mix kinds of characters."),
    }


async def _page(
    request: Request, user: SignedIn, *, error: str = "", password_error: str = "",
    status: int = 200,
) -> Response:
    return render(request, "settings.html", {
        "folders": await navigation(request, user), "folder": None,
        "page_sizes": PAGE_SIZES,
        "page_size": user.settings.get(PAGE_SIZE_SETTING, str(DEFAULT_PAGE_SIZE)),
        "signature": user.settings.get(SIGNATURE_SETTING, ""),
        "language": user.settings.get(LANGUAGE_SETTING, ""),
        "list_mode": CONVERSATIONS if conversation_mode(user) else MESSAGES,
        "compose_format": compose_format(user),
        "error": error, "password_error": password_error, "notice": notices(request),
    }, status=status)


@signed_in
async def settings_page(request: Request, user: SignedIn) -> Response:
    return await _page(request, user)


@signed_in
async def save(request: Request, user: SignedIn) -> Response:
    form = await session.checked_form(request, user.csrf)
    store = store_of(request)
    account = user.account.id
    choices = {LIST_MODE_SETTING: (str(form.get("list_mode") or ""), (MESSAGES, CONVERSATIONS)),
               COMPOSE_FORMAT_SETTING: (str(form.get("compose_format") or ""), COMPOSE_FORMATS)}
    if any(value and value not in allowed for value, allowed in choices.values()):
        _ = gettext_for(request)
        return await _page(request, user, status=400, error=_(
            "That choice does not exist; the settings were not saved."))
    for key, (value, _allowed) in choices.items():
        if value:
            await store.set_setting(account, key, value)
    language = str(form.get("language") or "")
    await store.set_setting(account, LANGUAGE_SETTING,
                            language if language in i18n.LANGUAGES else None)
    size = str(form.get("page_size") or "")
    if size.isdigit() and int(size) in PAGE_SIZES:
        await store.set_setting(account, PAGE_SIZE_SETTING, size)
    signature = str(form.get("signature") or "").replace("\r\n", "\n")[:MAX_SIGNATURE]
    await store.set_setting(account, SIGNATURE_SETTING, signature.strip() or None)
    name = " ".join(str(form.get("display_name") or "").split())[:MAX_NAME]
    if name != user.account.display_name:
        await store.update_account(account, display_name=name)
    return redirect("/settings?notice=settings")


@signed_in
async def change_password(request: Request, user: SignedIn) -> Response:
    form = await session.checked_form(request, user.csrf)
    _ = gettext_for(request)
    current = str(form.get("current") or "")[:1024]
    new = str(form.get("new") or "")[:1024]
    again = str(form.get("again") or "")[:1024]
    service = request.app.state.service
    ip = request.client.host if request.client else ""
    try:
        await service.auth.login(user.account.address, current, ip, "web")
    except AuthFailed:
        return await _page(request, user, password_error=_("The current password is wrong."),
                           status=400)
    if new != again:
        return await _page(request, user, password_error=_("The two new passwords differ."),
                           status=400)
    problem = passwords.password_problem(new, user.account.address)
    if problem:
        text = _password_texts(request).get(problem, problem)
        return await _page(request, user, password_error=text, status=400)
    hashed = await asyncio.to_thread(passwords.hash_password, new)
    store = store_of(request)
    await store.update_account(user.account.id, password_hash=hashed)
    await scram.save_secret(store, user.account.id, new, hashed)
    keep = user.session.token_hash
    await store.write(lambda tx: session_rows.delete_for_account(tx, user.account.id, keep))
    await store.audit("web", "password-changed", user.account.id, ip)
    return redirect("/settings?notice=password")


def _security(listener: Listener) -> str:
    return {"implicit": "SSL/TLS", "starttls": "STARTTLS", "none": "—"}[listener.tls]


@signed_in
async def client_setup(request: Request, user: SignedIn) -> Response:
    config = request.app.state.service.config
    host = config.server.hostname
    kinds = (("imap", "IMAP"), ("pop3", "POP3"), ("submission", "SMTP"))
    rows = []
    for protocol, label in kinds:
        for listener in config.listeners:
            if listener.protocol == protocol:
                rows.append({"kind": label, "host": host, "port": listener.port,
                             "security": _security(listener), "plain": listener.tls == "none"})
    return render(request, "setup.html", {
        "folders": await navigation(request, user), "folder": None, "rows": rows,
        "address": user.account.address, "host": host,
    })


routes = [
    Route("/settings", settings_page, methods=["GET"]),
    Route("/settings", save, methods=["POST"]),
    Route("/settings/password", change_password, methods=["POST"]),
    Route("/settings/setup", client_setup, methods=["GET"]),
]
