"""One message: the reading pane, its sandboxed HTML frame, attachments, the original.

The HTML of a message is never part of our page. It is served by its own URL into an
``<iframe sandbox>`` without ``allow-scripts``, with a CSP of its own (``default-src 'none'``,
CSP ``sandbox`` too, so the frame is sandboxed even when opened on its own); remote images load
only after "show images", or always for the senders the reader chose ("always show images from
this sender": a per-account setting, one address a line). Attachments are served with
``Content-Disposition: attachment`` and ``nosniff``, never rendered by us.
"""

from __future__ import annotations

import re
from urllib.parse import quote

from markupsafe import Markup, escape
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from postbus.mime import find_part
from postbus.store import NotFound
from postbus.store.models import MessageSummary
from postbus.web import htmlmail, reading, session
from postbus.web.mail import int_param, list_context, mailbox_or_404
from postbus.web.pages import redirect, render, signed_in, store_of
from postbus.web.session import SignedIn

SAFE_DOWNLOAD_TYPES = {
    "application/pdf", "image/png", "image/jpeg", "image/gif", "image/webp", "text/plain",
    "text/calendar", "application/zip",
}
IMAGE_SENDERS_SETTING = "web.image_senders"
MAX_IMAGE_SENDERS = 1000
_URL = re.compile(r"\bhttps?://[^\s<>\"'()]+[^\s<>\"'().,;:!?]", re.IGNORECASE)


async def _summary(request: Request, user: SignedIn) -> tuple[int, MessageSummary]:
    mailbox_id: int = request.path_params["mailbox"]
    uid: int = request.path_params["uid"]
    try:
        found = await store_of(request).summaries(user.account.id, mailbox_id, [(uid, uid)])
    except NotFound as exc:
        raise HTTPException(404) from exc
    if not found:
        raise HTTPException(404)
    return mailbox_id, found[0]


async def _load(request: Request, user: SignedIn) -> tuple[int, MessageSummary, reading.Reading,
                                                           bytes]:
    mailbox_id, summary = await _summary(request, user)
    store = store_of(request)
    stored = await store.get_message(user.account.id, summary.message_id)
    raw = await store.read_body(user.account.id, summary.message_id)
    return mailbox_id, summary, reading.read(stored, raw), raw


def image_senders(user: SignedIn) -> list[str]:
    """The senders whose remote images always show, lower-cased, oldest first."""
    return [line for line in user.settings.get(IMAGE_SENDERS_SETTING, "").split("\n") if line]


def _sender(summary: MessageSummary) -> str:
    return (summary.from_email or "").strip().lower()


def _images(request: Request, user: SignedIn, summary: MessageSummary) -> bool:
    if request.query_params.get("images") == "1":
        return True
    sender = _sender(summary)
    return bool(sender) and sender in image_senders(user)


def linkify(text: str) -> Markup:
    """Plain text as HTML: escaped, web addresses made links (opened in a new tab)."""
    out = []
    position = 0
    for match in _URL.finditer(text):
        out.append(escape(text[position:match.start()]))
        url = match.group(0)
        out.append(Markup('<a href="{0}" target="_blank" rel="noopener noreferrer">{1}</a>')
                   .format(url, url))
        position = match.end()
    out.append(escape(text[position:]))
    return Markup("").join(out)


@signed_in
async def message_page(request: Request, user: SignedIn) -> Response:
    mailbox_id, summary, shown, raw = await _load(request, user)
    mailbox = await mailbox_or_404(request, user, mailbox_id)
    if "\\Seen" not in summary.flags:
        await store_of(request).set_flags(
            user.account.id, mailbox_id, [(summary.uid, summary.uid)], ["\\Seen"], "add"
        )
        mailbox = await mailbox_or_404(request, user, mailbox_id)
    images = _images(request, user, summary)
    blocked = 0
    plain = None
    if shown.has_html:
        for part in shown.shown:
            if part.subtype == "html":
                blocked += htmlmail.sanitise(
                    reading.part_text(raw, part), raw, shown.body, images
                ).blocked
    else:
        plain = linkify("\n\n".join(reading.part_text(raw, part) for part in shown.shown))
    before = int_param(request.query_params.get("before"))
    values = await list_context(request, user, mailbox, before)
    values.update({
        "message": shown,
        "summary": summary,
        "uid": summary.uid,
        "mailbox_id": mailbox_id,
        "plain": plain,
        "images": images,
        "blocked": blocked,
        "flagged": "\\Flagged" in summary.flags,
        "sender": _sender(summary),
        "open_uid": summary.uid,
    })
    return render(request, "message.html", values)


@signed_in
async def frame(request: Request, user: SignedIn) -> Response:
    _mailbox_id, summary, shown, raw = await _load(request, user)
    images = _images(request, user, summary)
    fragments = []
    for part in shown.shown:
        text = reading.part_text(raw, part)
        if part.subtype == "html":
            fragments.append(htmlmail.sanitise(text, raw, shown.body, images).html)
        else:
            fragments.append(htmlmail.plain_as_html(text))
    return Response(
        htmlmail.frame_document(fragments),
        media_type="text/html; charset=utf-8",
        headers={
            "Content-Security-Policy": htmlmail.frame_csp(images),
            "X-Frame-Options": "SAMEORIGIN",
            "Referrer-Policy": "no-referrer",
            "Cache-Control": "private, no-store",
        },
    )


@signed_in
async def trust_images(request: Request, user: SignedIn) -> Response:
    """Always show images from this message's sender (the address comes from the stored
    message, never from the form)."""
    await session.checked_form(request, user.csrf)
    mailbox_id, summary = await _summary(request, user)
    sender = _sender(summary)
    if sender and "\n" not in sender:
        senders = [s for s in image_senders(user) if s != sender]
        senders = [*senders, sender][-MAX_IMAGE_SENDERS:]
        await store_of(request).set_setting(user.account.id, IMAGE_SENDERS_SETTING,
                                             "\n".join(senders))
    return redirect(f"/mail/{mailbox_id}/{summary.uid}")


def content_disposition(filename: str) -> str:
    """RFC 6266 §4.3: an ASCII fallback plus the UTF-8 name (RFC 8187)."""
    ascii_name = "".join(c if 0x20 <= ord(c) < 0x7F and c not in '"\\;' else "_"
                         for c in filename) or "attachment"
    return f'attachment; filename="{ascii_name}"; filename*=UTF-8\'\'{quote(filename, safe="")}'


@signed_in
async def part(request: Request, user: SignedIn) -> Response:
    _mailbox_id, _summary_row, shown, raw = await _load(request, user)
    section = reading.section_of(request.path_params["section"])
    found = find_part(shown.body, section) if section else None
    if found is None or found.is_multipart:
        raise HTTPException(404)
    name = next((a.filename for a in shown.attachments if a.section == request.path_params[
        "section"]), "") or "attachment"
    media_type = found.content_type if found.content_type in SAFE_DOWNLOAD_TYPES else (
        "application/octet-stream")
    return Response(
        reading.part_bytes(raw, found),
        media_type=media_type,
        headers={
            "Content-Disposition": content_disposition(name),
            "X-Content-Type-Options": "nosniff",
            "Content-Security-Policy": "default-src 'none'; sandbox",
            "Cache-Control": "private, no-store",
        },
    )


@signed_in
async def original(request: Request, user: SignedIn) -> Response:
    _mailbox_id, summary = await _summary(request, user)
    raw = await store_of(request).read_body(user.account.id, summary.message_id)
    return Response(
        raw,
        media_type="text/plain; charset=utf-8",
        headers={
            "Content-Disposition": "inline",
            "X-Content-Type-Options": "nosniff",
            "Content-Security-Policy": "default-src 'none'; sandbox",
            "Cache-Control": "private, no-store",
        },
    )


routes = [
    Route("/mail/{mailbox:int}/{uid:int}", message_page, methods=["GET"]),
    Route("/mail/{mailbox:int}/{uid:int}/frame", frame, methods=["GET"]),
    Route("/mail/{mailbox:int}/{uid:int}/images", trust_images, methods=["POST"]),
    Route("/mail/{mailbox:int}/{uid:int}/part/{section}", part, methods=["GET"]),
    Route("/mail/{mailbox:int}/{uid:int}/original", original, methods=["GET"]),
]
