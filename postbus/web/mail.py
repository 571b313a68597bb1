"""The mail pages: a folder's list (of messages, or of conversations: a per-user setting),
and the actions on selected messages or conversations.

URLs name folders by id and messages by UID (``/mail/12/345``), conversations by thread id
(``/mail/12/thread/678``); the store checks that the folder and the thread belong to the
signed-in account on every call, so one account never reaches another's data by changing a
number.
"""

from __future__ import annotations

from dataclasses import dataclass

from starlette.datastructures import FormData
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from postbus.store import NotFound
from postbus.store.models import Mailbox, MessageSummary, ThreadSummary
from postbus.web import formats, session
from postbus.web.pages import gettext_for, navigation, redirect, render, safe_next, signed_in
from postbus.web.pages import store_of as store_for
from postbus.web.session import SignedIn

PAGE_SIZE_SETTING = "web.page_size"
DEFAULT_PAGE_SIZE = 50
PAGE_SIZES = (25, 50, 100)
LIST_MODE_SETTING = "web.list_mode"
CONVERSATIONS = "conversations"
MESSAGES = "messages"


def conversation_mode(user: SignedIn) -> bool:
    return user.settings.get(LIST_MODE_SETTING) == CONVERSATIONS


def page_size(user: SignedIn) -> int:
    try:
        value = int(user.settings.get(PAGE_SIZE_SETTING, DEFAULT_PAGE_SIZE))
    except ValueError:
        return DEFAULT_PAGE_SIZE
    return value if value in PAGE_SIZES else DEFAULT_PAGE_SIZE


def notices(request: Request) -> str:
    _ = gettext_for(request)
    texts = {
        "sent": _("Your message has been sent."),
        "saved": _("Draft saved."),
        "moved": _("Moved."),
        "deleted": _("Deleted."),
        "archived": _("Archived."),
        "spam": _("Marked as spam."),
        "notspam": _("Moved to the inbox."),
        "settings": _("Settings saved."),
        "password": _("Your password has been changed."),
        "folder": _("Folders updated."),
    }
    return texts.get(request.query_params.get("notice", ""), "")


@dataclass(frozen=True, slots=True)
class Row:
    """A message list row."""

    summary: MessageSummary
    mailbox_id: int
    folder_label: str = ""

    @property
    def unread(self) -> bool:
        return "\\Seen" not in self.summary.flags

    @property
    def flagged(self) -> bool:
        return "\\Flagged" in self.summary.flags

    @property
    def answered(self) -> bool:
        return "\\Answered" in self.summary.flags

    @property
    def draft(self) -> bool:
        return "\\Draft" in self.summary.flags

    @property
    def href(self) -> str:
        if self.draft:
            return f"/compose?draft={self.mailbox_id}:{self.summary.uid}"
        return f"/mail/{self.mailbox_id}/{self.summary.uid}"


@dataclass(frozen=True, slots=True)
class ThreadRow:
    """A conversation list row: one thread as far as it lies in this folder."""

    thread: ThreadSummary
    mailbox_id: int

    @property
    def unread(self) -> bool:
        return self.thread.unread > 0

    @property
    def flagged(self) -> bool:
        return self.thread.flagged

    @property
    def href(self) -> str:
        return f"/mail/{self.mailbox_id}/thread/{self.thread.thread_id}"


async def mailbox_or_404(request: Request, user: SignedIn, mailbox_id: int) -> Mailbox:
    for mailbox in await store_for(request).list_mailboxes(user.account.id):
        if mailbox.id == mailbox_id:
            return mailbox
    raise HTTPException(404)


def int_param(value: str | None) -> int | None:
    if value is None or not value.isdigit() or len(value) > 18:
        return None
    return int(value)


async def list_context(
    request: Request, user: SignedIn, mailbox: Mailbox, before: int | None
) -> dict[str, object]:
    """What the list needs: the folder tree, this folder, one page of rows (messages, or
    conversations in that mode; ``before`` pages by UID either way)."""
    folders = await navigation(request, user)
    current = next(f for f in folders if f.id == mailbox.id)
    size = page_size(user)
    store = store_for(request)
    conversations = conversation_mode(user)
    rows: list[Row] | list[ThreadRow]
    if conversations:
        threads = await store.thread_page(user.account.id, mailbox.id, size + 1, before)
        rows = [ThreadRow(t, mailbox.id) for t in threads[:size]]
        more = len(threads) > size
        older = rows[-1].thread.newest_uid if more and rows else None
    else:
        summaries = await store.newest(user.account.id, mailbox.id, size + 1, before)
        rows = [Row(s, mailbox.id) for s in summaries[:size]]
        older = rows[-1].summary.uid if len(summaries) > size else None
    return {
        "folders": folders,
        "folder": current,
        "rows": rows,
        "conversations": conversations,
        "before": before,
        "older": older,
        "show_to": current.special in ("sent", "drafts"),
        "targets": [f for f in folders if f.id != mailbox.id],
        "notice": notices(request),
    }


@signed_in
async def inbox(request: Request, user: SignedIn) -> Response:
    mailbox = await store_for(request).get_mailbox(user.account.id, "INBOX")
    return redirect(f"/mail/{mailbox.id}")


@signed_in
async def folder_page(request: Request, user: SignedIn) -> Response:
    mailbox = await mailbox_or_404(request, user, request.path_params["mailbox"])
    before = int_param(request.query_params.get("before"))
    values = await list_context(request, user, mailbox, before)
    return render(request, "mail.html", values)


# -- actions on selected messages -------------------------------------------------------------

ACTIONS = {"read", "unread", "flag", "unflag", "delete", "archive", "spam", "notspam", "move"}


def selected_uids(form: FormData, name: str = "uid") -> list[int]:
    uids = []
    for value in form.getlist(name)[:10000]:
        if isinstance(value, str) and value.isdigit() and len(value) < 19:
            uids.append(int(value))
    return uids


async def selected(request: Request, user: SignedIn, mailbox: Mailbox, form: FormData
                   ) -> list[int]:
    """The UIDs a form selects: messages by UID, and conversations (``thread``) as all their
    messages in this folder."""
    uids = selected_uids(form)
    threads = selected_uids(form, "thread")
    if threads:
        uids += await store_for(request).thread_uids(user.account.id, mailbox.id, threads)
    return sorted(set(uids))


async def apply_action(
    request: Request, user: SignedIn, mailbox: Mailbox, action: str, uids: list[int],
    target: int | None,
) -> str:
    """Do ``action`` on ``uids`` of ``mailbox``; returns the notice code for the page."""
    store = store_for(request)
    account = user.account.id
    ranges = formats.uid_ranges(uids)
    flag_changes = {
        "read": ("\\Seen", "add"), "unread": ("\\Seen", "remove"),
        "flag": ("\\Flagged", "add"), "unflag": ("\\Flagged", "remove"),
    }
    if action in flag_changes:
        flag, mode = flag_changes[action]
        await store.set_flags(account, mailbox.id, ranges, [flag], mode)
        return ""
    if action == "delete":
        trash = await store.special_mailbox(account, "\\Trash")
        if trash is None or trash.id == mailbox.id:
            # Deleting in Trash (or without one) deletes for good (RFC 9051 §6.4.3 EXPUNGE).
            await store.set_flags(account, mailbox.id, ranges, ["\\Deleted"], "add")
            await store.expunge(account, mailbox.id, ranges)
        else:
            await store.move(account, mailbox.id, trash.id, ranges)
        return "deleted"
    special = {"archive": "\\Archive", "spam": "\\Junk"}
    if action in special:
        destination = await store.special_mailbox(account, special[action])
        if destination is None:
            destination = await store.create_mailbox(
                account, "Archive" if action == "archive" else "Junk", special[action]
            )
        if destination.id != mailbox.id:
            await store.move(account, mailbox.id, destination.id, ranges)
        return "archived" if action == "archive" else "spam"
    if action == "notspam":
        destination = await store.get_mailbox(account, "INBOX")
        if destination.id != mailbox.id:
            await store.move(account, mailbox.id, destination.id, ranges)
        return "notspam"
    if action == "move" and target is not None:
        destination = await mailbox_or_404(request, user, target)
        if destination.id != mailbox.id:
            await store.move(account, mailbox.id, destination.id, ranges)
        return "moved"
    raise HTTPException(400)


@signed_in
async def act(request: Request, user: SignedIn) -> Response:
    form = await session.checked_form(request, user.csrf)
    mailbox = await mailbox_or_404(request, user, request.path_params["mailbox"])
    action = str(form.get("action") or "")
    if action not in ACTIONS:
        raise HTTPException(400)
    uids = await selected(request, user, mailbox, form)
    back = safe_next(str(form.get("back") or f"/mail/{mailbox.id}"))
    if not uids:
        return redirect(back)
    target = int_param(str(form.get("target") or ""))
    try:
        notice = await apply_action(request, user, mailbox, action, uids, target)
    except NotFound as exc:
        raise HTTPException(404) from exc
    if notice and action not in ("read", "unread", "flag", "unflag"):
        # the message that was open is gone from this folder: back to the list (a
        # conversation stays open: its other messages are still there)
        if back.startswith(f"/mail/{mailbox.id}/") and "/thread/" not in back:
            back = f"/mail/{mailbox.id}"
        separator = "&" if "?" in back else "?"
        back = f"{back}{separator}notice={notice}"
    return redirect(back)


@signed_in
async def list_mode(request: Request, user: SignedIn) -> Response:
    """The toggle on the list: messages or conversations, kept as the user's setting."""
    form = await session.checked_form(request, user.csrf)
    mailbox = await mailbox_or_404(request, user, request.path_params["mailbox"])
    mode = str(form.get("mode") or "")
    if mode not in (MESSAGES, CONVERSATIONS):
        raise HTTPException(400)
    await store_for(request).set_setting(user.account.id, LIST_MODE_SETTING, mode)
    return redirect(f"/mail/{mailbox.id}")


routes = [
    Route("/mail", inbox, methods=["GET"]),
    Route("/mail/{mailbox:int}", folder_page, methods=["GET"]),
    Route("/mail/{mailbox:int}/act", act, methods=["POST"]),
    Route("/mail/{mailbox:int}/mode", list_mode, methods=["POST"]),
]
