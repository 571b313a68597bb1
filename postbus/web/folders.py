"""Managing folders: create, rename, delete. Special folders and INBOX stay as they are."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from postbus.store import AlreadyExists, InvalidName, NotFound
from postbus.store.mailboxes import SEPARATOR
from postbus.web import session
from postbus.web.mail import mailbox_or_404
from postbus.web.pages import gettext_for, navigation, redirect, render, signed_in, store_of
from postbus.web.session import SignedIn

MAX_NAME = 200


async def _page(request: Request, user: SignedIn, error: str = "", status: int = 200) -> Response:
    folders = await navigation(request, user)
    return render(request, "folders.html", {
        "folders": folders, "folder": None, "error": error,
        "parents": [f for f in folders if f.special in (None, "inbox", "archive")],
    }, status=status)


@signed_in
async def folders_page(request: Request, user: SignedIn) -> Response:
    return await _page(request, user)


def _name(value: object) -> str:
    return str(value or "").strip()[:MAX_NAME]


@signed_in
async def create(request: Request, user: SignedIn) -> Response:
    form = await session.checked_form(request, user.csrf)
    _ = gettext_for(request)
    name = _name(form.get("name"))
    if SEPARATOR in name or not name:
        return await _page(request, user, _("A folder name cannot be empty or contain “/”."), 400)
    parent = _name(form.get("parent"))
    if parent:
        name = f"{parent}{SEPARATOR}{name}"
    try:
        await store_of(request).create_mailbox(user.account.id, name)
    except AlreadyExists:
        return await _page(request, user, _("A folder with that name exists already."), 400)
    except InvalidName:
        return await _page(request, user, _("That is not a valid folder name."), 400)
    return redirect("/folders?notice=folder")


@signed_in
async def rename(request: Request, user: SignedIn) -> Response:
    form = await session.checked_form(request, user.csrf)
    _ = gettext_for(request)
    mailbox = await mailbox_or_404(request, user, request.path_params["mailbox"])
    new = _name(form.get("name"))
    if mailbox.name == "INBOX" or mailbox.special_use:
        return await _page(request, user, _("This folder cannot be renamed."), 400)
    if SEPARATOR in new or not new:
        return await _page(request, user, _("A folder name cannot be empty or contain “/”."), 400)
    parent, _sep, _old = mailbox.name.rpartition(SEPARATOR)
    target = f"{parent}{SEPARATOR}{new}" if parent else new
    try:
        await store_of(request).rename_mailbox(user.account.id, mailbox.name, target)
    except AlreadyExists:
        return await _page(request, user, _("A folder with that name exists already."), 400)
    except (InvalidName, NotFound):
        return await _page(request, user, _("That is not a valid folder name."), 400)
    return redirect("/folders?notice=folder")


@signed_in
async def delete(request: Request, user: SignedIn) -> Response:
    await session.checked_form(request, user.csrf)
    _ = gettext_for(request)
    store = store_of(request)
    mailbox = await mailbox_or_404(request, user, request.path_params["mailbox"])
    if mailbox.name == "INBOX" or mailbox.special_use:
        return await _page(request, user, _("This folder cannot be deleted."), 400)
    prefix = mailbox.name + SEPARATOR
    if any(m.name.startswith(prefix) for m in await store.list_mailboxes(user.account.id)):
        return await _page(request, user, _("Delete or move the folders inside it first."), 400)
    if mailbox.message_count:
        trash = await store.special_mailbox(user.account.id, "\\Trash")
        if trash is not None:
            await store.move(user.account.id, mailbox.id, trash.id, [(1, 2**32 - 1)])
    await store.delete_mailbox(user.account.id, mailbox.id)
    # The store keeps a deleted name's subscription (RFC 9051 §6.3.7); the person deleting
    # the folder here also drops it, as an IMAP client sends UNSUBSCRIBE after DELETE, so
    # their IMAP clients do not go on listing a folder that is gone.
    await store.subscribe(user.account.id, mailbox.name, False)
    return redirect("/folders?notice=folder")


routes = [
    Route("/folders", folders_page, methods=["GET"]),
    Route("/folders/create", create, methods=["POST"]),
    Route("/folders/{mailbox:int}/rename", rename, methods=["POST"]),
    Route("/folders/{mailbox:int}/delete", delete, methods=["POST"]),
]
