"""One conversation: every message of a thread, oldest first, across the folders (Trash and
Junk left out unless it was opened from there); the newest open, the others one line each.

Each message keeps its own actions (reply, forward, archive, delete, ...), which act on that
message in its own folder and come back here. Bodies are the same sandboxed frames as the
single-message page (``message.py``), loaded lazily so a long thread costs only what is
opened.
"""

from __future__ import annotations

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from postbus.store import NotFound
from postbus.store.threads import CONVERSATION_LIMIT
from postbus.web.mail import int_param, list_context, mailbox_or_404
from postbus.web.pages import redirect, render, signed_in, store_of
from postbus.web.session import SignedIn


@signed_in
async def conversation_page(request: Request, user: SignedIn) -> Response:
    mailbox = await mailbox_or_404(request, user, request.path_params["mailbox"])
    thread_id: int = request.path_params["thread"]
    store = store_of(request)
    try:
        messages = await store.conversation(user.account.id, thread_id, mailbox.id)
    except NotFound as exc:
        raise HTTPException(404) from exc
    if not messages:
        raise HTTPException(404)
    if not any(m.mailbox_id == mailbox.id for m in messages):
        # its last message here was moved away: the list of this folder, not an orphan page
        return redirect(f"/mail/{mailbox.id}")
    unread: dict[int, list[tuple[int, int]]] = {}
    for shown in messages:
        if "\\Seen" not in shown.summary.flags:
            unread.setdefault(shown.mailbox_id, []).append((shown.summary.uid,
                                                            shown.summary.uid))
    for mailbox_id, ranges in unread.items():
        await store.set_flags(user.account.id, mailbox_id, ranges, ["\\Seen"], "add")
    before = int_param(request.query_params.get("before"))
    values = await list_context(request, user, mailbox, before)
    labels = {f.id: f.label for f in values["folders"]}  # type: ignore[attr-defined]
    folders = {f.id: f for f in values["folders"]}  # type: ignore[attr-defined]
    newest = messages[-1]
    values.update({
        "messages": [(m, folders.get(m.mailbox_id), labels.get(m.mailbox_id, ""),
                      "\\Seen" not in m.summary.flags) for m in messages],
        "newest": newest,
        "subject": newest.summary.subject,
        "thread_id": thread_id,
        "open_thread": thread_id,
        "here": f"/mail/{mailbox.id}/thread/{thread_id}",
        "cut": CONVERSATION_LIMIT if len(messages) >= CONVERSATION_LIMIT else 0,
    })
    return render(request, "conversation.html", values)


routes = [
    Route("/mail/{mailbox:int}/thread/{thread:int}", conversation_page, methods=["GET"]),
]
