"""Writing mail: new, reply, reply all, forward, drafts; rich text or plain.

The form carries both ``body`` (the textarea: plain text, all there is without JavaScript) and
``html`` (the rich-text editor's HTML) with ``format`` saying which one counts. Rich text is
sanitised here (``htmlmail.sanitise_composed``) and sent as multipart/alternative with a
text/plain part made from it (``plaintext.py``); a draft keeps the HTML, so reopening it
restores the rich text. A new message, reply or forward starts in the format of the user's
setting (``web.compose_format``, rich text unless set to plain); a draft in the format it was
saved in. The per-message switch changes it either way.

A reply keeps the thread (RFC 5322 §3.6.4: In-Reply-To is the parent's Message-ID,
References the parent's References plus it) and quotes the parent below the cursor. A forward
carries the original's attachments (the reader may untick them). Saving a draft appends it to
Drafts (\\Draft \\Seen) and removes the draft it replaces.
"""

from __future__ import annotations

import contextlib
import html
import time
from email.utils import formataddr

from starlette.datastructures import FormData, UploadFile
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from postbus.mime import find_part
from postbus.mime.addresses import Address
from postbus.smtp.sending import file_copy
from postbus.store import NotFound, StoreError
from postbus.web import reading, session, staging, suggest
from postbus.web.htmlmail import sanitise_composed
from postbus.web.mail import mailbox_or_404
from postbus.web.outgoing import Outgoing, SendError, Upload, build, send, set_html
from postbus.web.pages import gettext_for, navigation, redirect, render, signed_in, store_of
from postbus.web.plaintext import html_to_plain
from postbus.web.session import SignedIn

SIGNATURE_SETTING = "web.signature"
WHOLE_MESSAGE = "message"  # the "section" that stands for the whole forwarded message
COMPOSE_FORMAT_SETTING = "web.compose_format"
RICH = "html"
PLAIN = "plain"
COMPOSE_FORMATS = (RICH, PLAIN)
MAX_FIELD = 10_000
MAX_BODY = 2 * 1024 * 1024


def _ref(value: str | None) -> tuple[int, int] | None:
    """"12:345" -> (mailbox 12, uid 345)."""
    if not value:
        return None
    mailbox, _, uid = value.partition(":")
    if not (mailbox.isdigit() and uid.isdigit()) or len(value) > 40:
        return None
    return int(mailbox), int(uid)


def _addr(address: Address) -> str:
    return formataddr((address.name, address.email)) if address.name else address.email


def _prefixed(prefix: str, subject: str) -> str:
    return subject if subject.lower().startswith(prefix.lower()) else f"{prefix} {subject}"


async def _source(
    request: Request, user: SignedIn, ref: tuple[int, int]
) -> tuple[reading.Reading, bytes]:
    store = store_of(request)
    try:
        found = await store.summaries(user.account.id, ref[0], [(ref[1], ref[1])])
    except NotFound as exc:
        raise HTTPException(404) from exc
    if not found:
        raise HTTPException(404)
    stored = await store.get_message(user.account.id, found[0].message_id)
    raw = await store.read_body(user.account.id, found[0].message_id)
    return reading.read(stored, raw), raw


def compose_format(user: SignedIn) -> str:
    """The format the editor starts in: the ``format`` field's own values, "html" or "plain"."""
    return PLAIN if user.settings.get(COMPOSE_FORMAT_SETTING) == PLAIN else RICH


def _signature(user: SignedIn) -> str:
    text = user.settings.get(SIGNATURE_SETTING, "").strip()
    return f"\n\n-- \n{text}" if text else ""


def as_html(text: str) -> str:
    """Plain text as the editor writes it: one ``div`` per line, ``<div><br></div>`` if empty."""
    return "".join(f"<div>{html.escape(line)}</div>" if line.strip() else "<div><br></div>"
                   for line in text.split("\n"))


def _draft_html(source: reading.Reading, raw: bytes) -> str:
    """The HTML part of a draft we saved, cleaned again (a draft can come in by IMAP)."""
    for part in source.shown:
        if part.subtype == "html":
            return sanitise_composed(reading.part_text(raw, part))
    return ""


async def _own_addresses(request: Request, user: SignedIn) -> list[str]:
    found = await store_of(request).list_addresses(user.account.id)
    primary = [a.address for a in found if a.is_primary]
    others = sorted(a.address for a in found if not a.is_primary)
    return primary + others or [user.account.address]


async def _form_page(
    request: Request, user: SignedIn, values: dict[str, object], error: str = "",
    status: int = 200,
) -> Response:
    values.setdefault("keep", [])
    values.setdefault("staged", [])
    return render(request, "compose.html", {
        "max_file": staging.file_limit(request),
        "folders": await navigation(request, user), "folder": None,
        "from_addresses": await _own_addresses(request, user), "error": error, **values,
    }, status=status)


@signed_in
async def compose_page(request: Request, user: SignedIn) -> Response:
    _ = gettext_for(request)
    params = request.query_params
    own = await _own_addresses(request, user)
    values: dict[str, object] = {
        "from_address": own[0], "to": params.get("to", "")[:MAX_FIELD], "cc": "", "bcc": "",
        "subject": params.get("subject", "")[:MAX_FIELD], "body": _signature(user),
        "in_reply_to": "", "references": "", "source": "", "draft": "", "reply": "",
        "mode": "", "html": as_html(_signature(user)) if _signature(user) else "",
        "format": compose_format(user),
    }
    draft_ref = _ref(params.get("draft"))
    reply_ref = _ref(params.get("reply"))
    mode = params.get("mode", "reply")
    if draft_ref is not None:
        source, raw = await _source(request, user, draft_ref)
        rich = _draft_html(source, raw)
        values.update({
            "html": rich, "format": "html" if rich else "plain",
            "to": ", ".join(_addr(a) for a in source.to),
            "cc": ", ".join(_addr(a) for a in source.cc),
            "bcc": _draft_bcc(raw),
            "subject": source.subject,
            "body": html_to_plain(rich) if rich else reading.plain_quote(source, raw),
            "in_reply_to": " ".join(source.in_reply_to),
            "references": " ".join(source.references),
            "draft": f"{draft_ref[0]}:{draft_ref[1]}",
            "source": f"{draft_ref[0]}:{draft_ref[1]}",
            "source_attachments": source.attachments,
            "keep": [a.section for a in source.attachments],
        })
        if source.from_ and source.from_[0].email.lower() in own:
            values["from_address"] = source.from_[0].email.lower()
    elif reply_ref is not None and mode == "attach":
        source, raw = await _source(request, user, reply_ref)
        whole = reading.AttachmentView(
            _eml_name(source.subject), "message/rfc822", len(raw), WHOLE_MESSAGE, False
        )
        values.update({
            "subject": _prefixed("Fwd:", source.subject), "mode": mode,
            "reply": f"{reply_ref[0]}:{reply_ref[1]}", "source": f"{reply_ref[0]}:{reply_ref[1]}",
            "source_attachments": [whole], "keep": [WHOLE_MESSAGE],
        })
    elif reply_ref is not None and mode in ("reply", "all", "forward"):
        source, raw = await _source(request, user, reply_ref)
        values.update(_reply_values(source, raw, mode, own, _))
        values["reply"] = f"{reply_ref[0]}:{reply_ref[1]}"
        values["mode"] = mode
        values["body"] = _signature(user) + str(values["body"])
        values["html"] = as_html(_signature(user)) + str(values["html"])
        if mode == "forward":
            values["source"] = values["reply"]
            values["source_attachments"] = source.attachments
            values["keep"] = [a.section for a in source.attachments]
        for address in (*source.to, *source.cc):
            if address.email.lower() in own:
                values["from_address"] = address.email.lower()
                break
    return await _form_page(request, user, values)


def _eml_name(subject: str) -> str:
    """A file name for a forwarded message: its subject, without what file systems refuse."""
    name = "".join(" " if c in '\\/:*?"<>|' or ord(c) < 32 else c for c in subject).strip()
    return (name[:80] or "message") + ".eml"


def _draft_bcc(raw: bytes) -> str:
    from postbus.mime import get_header, header_block

    return ", ".join(get_header(header_block(raw), "bcc"))[:MAX_FIELD]


def _reply_values(
    source: reading.Reading, raw: bytes, mode: str, own: list[str], _: object
) -> dict[str, object]:
    gettext = _  # the request's translation function
    quoted = reading.plain_quote(source, raw)
    sender = source.from_[0] if source.from_ else None
    when = time.strftime("%Y-%m-%d %H:%M", time.gmtime(source.date)) if source.date else ""
    if mode == "forward":
        lines = [
            "", "", gettext("---------- Forwarded message ----------"),  # type: ignore[operator]
            f"From: {', '.join(_addr(a) for a in source.from_)}",
            f"Date: {when} UTC" if when else "",
            f"Subject: {source.subject}",
            f"To: {', '.join(_addr(a) for a in source.to)}",
            "", quoted,
        ]
        head = "\n".join(line for line in lines[:-1] if line is not None)
        return {"to": "", "cc": "", "subject": _prefixed("Fwd:", source.subject),
                "body": "\n".join(line for line in lines if line is not None),
                "html": as_html(head) + f"<blockquote>{as_html(quoted)}</blockquote>",
                "in_reply_to": "", "references": ""}
    reply_to = source.reply_to or source.from_
    to = [_addr(a) for a in reply_to]
    cc: list[str] = []
    if mode == "all":
        seen = {a.email.lower() for a in reply_to} | set(own)
        for address in source.to:
            if address.email.lower() not in seen:
                seen.add(address.email.lower())
                to.append(_addr(address))
        for address in source.cc:
            if address.email.lower() not in seen:
                seen.add(address.email.lower())
                cc.append(_addr(address))
    who = sender.name or sender.email if sender else ""
    intro = gettext("On %(date)s, %(sender)s wrote:") % {  # type: ignore[operator]
        "date": f"{when} UTC" if when else "?", "sender": who,
    }
    quote = "\n".join(f"> {line}" if line else ">" for line in quoted.split("\n"))
    references = " ".join((*source.references, source.message_id or ""))
    return {
        "to": ", ".join(to), "cc": ", ".join(cc),
        "subject": _prefixed("Re:", source.subject),
        "body": f"\n\n{intro}\n{quote}",
        "html": as_html(f"\n\n{intro}") + f"<blockquote>{as_html(quoted)}</blockquote>",
        "in_reply_to": source.message_id or "",
        "references": references.strip(),
    }


def _text(form: FormData, name: str, limit: int = MAX_FIELD) -> str:
    value = form.get(name)
    return value[:limit] if isinstance(value, str) else ""


async def _uploads(
    request: Request, user: SignedIn, form: FormData, limit: int
) -> list[Upload]:
    out: list[Upload] = []
    total = 0
    for item in form.getlist("attachment"):
        if not isinstance(item, UploadFile) or not item.filename:
            continue
        data = await item.read(limit + 1)
        total += len(data)
        if total > limit:
            raise SendError("too_large")
        out.append(Upload(item.filename[:200], item.content_type or
                          "application/octet-stream", data))
    for token in form.getlist("staged"):
        staged = await staging.read(request, user, token) if isinstance(token, str) else None
        if staged is None:
            raise SendError("staged_missing")
        total += len(staged.data)
        if total > limit:
            raise SendError("too_large")
        out.append(staged)
    source = _ref(_text(form, "source"))
    keep = {value for value in form.getlist("keep") if isinstance(value, str)}
    if source is not None and keep:
        found, raw = await _source(request, user, source)
        if WHOLE_MESSAGE in keep:  # forwarded as an attachment, byte for byte
            total += len(raw)
            if total > limit:
                raise SendError("too_large")
            out.append(Upload(_eml_name(found.subject), "message/rfc822", raw, whole=True))
        for attachment in found.attachments:
            section = reading.section_of(attachment.section)
            part = find_part(found.body, section) if section else None
            if attachment.section in keep and part is not None:
                data = reading.part_bytes(raw, part)
                total += len(data)
                if total > limit:
                    raise SendError("too_large")
                out.append(Upload(attachment.filename, attachment.content_type, data))
    return out


def _error_text(request: Request, error: SendError) -> str:
    _ = gettext_for(request)
    texts = {
        "bad_address": _("These are not valid e-mail addresses: %(detail)s"),
        "no_recipient": _("Please enter at least one recipient."),
        "too_many": _("Too many recipients (at most %(detail)s)."),
        "unknown_local": _("There is no mailbox %(detail)s here."),
        "too_large": _("The message with its attachments is too large."),
        "delivery_failed": _("The message could not be delivered to %(detail)s."),
        "bad_from": _("You cannot send from that address."),
        "staged_missing": _("An attachment is no longer there; please attach it again."),
    }
    return texts.get(error.code, error.code) % {"detail": error.detail}


def _outgoing_of(form: FormData, user: SignedIn) -> Outgoing:
    outgoing = Outgoing(
        from_address=_text(form, "from"), from_name=user.account.display_name,
        to=_text(form, "to"), cc=_text(form, "cc"), bcc=_text(form, "bcc"),
        subject=_text(form, "subject", 1000).replace("\r", " ").replace("\n", " "),
        body=_text(form, "body", MAX_BODY),
        in_reply_to=_text(form, "in_reply_to", 1000).replace("\n", " "),
        references=_text(form, "references", 8000).replace("\n", " "),
    )
    if _text(form, "format") == "html":
        set_html(outgoing, _text(form, "html", MAX_BODY))
    return outgoing


@signed_in
async def autosave(request: Request, user: SignedIn) -> Response:
    """A draft saved while the user writes (the compose page posts a few seconds after the
    last change): it replaces the previous one in Drafts, where IMAP clients see it too, and
    its place ("mailbox:uid") comes back for the next save to replace. Uploaded attachments
    stay staged: the message is still being written."""
    limit = request.app.state.service.config.limits.max_message_size
    form = await session.checked_form(request, user.csrf, max_part_size=MAX_BODY + 65536)
    outgoing = _outgoing_of(form, user)
    if outgoing.from_address.lower() not in await _own_addresses(request, user):
        return Response(_error_text(request, SendError("bad_from")), 400, media_type="text/plain")
    try:
        outgoing.attachments = await _uploads(request, user, form, limit)
    except SendError as error:
        return Response(_error_text(request, error), 400, media_type="text/plain")
    saved = await _save_draft(request, user, outgoing, _ref(_text(form, "draft")))
    return Response(f"{saved[0]}:{saved[1]}" if saved else "", media_type="text/plain")


@signed_in
async def compose_post(request: Request, user: SignedIn) -> Response:
    service = request.app.state.service
    limit = service.config.limits.max_message_size
    form = await session.checked_form(request, user.csrf, max_part_size=MAX_BODY + 65536)
    own = await _own_addresses(request, user)
    outgoing = _outgoing_of(form, user)
    rich = _text(form, "format") == "html"
    values: dict[str, object] = {
        "from_address": outgoing.from_address, "to": outgoing.to, "cc": outgoing.cc,
        "bcc": outgoing.bcc, "subject": outgoing.subject, "body": outgoing.body,
        "in_reply_to": outgoing.in_reply_to, "references": outgoing.references,
        "source": _text(form, "source"), "draft": _text(form, "draft"),
        "reply": _text(form, "reply"), "mode": _text(form, "mode"),
        "keep": [v for v in form.getlist("keep") if isinstance(v, str)],
        "html": outgoing.html, "format": "html" if rich else "plain",
        "staged": staging.listed(request, user, form.getlist("staged")),
    }
    store = store_of(request)
    try:
        if outgoing.from_address.lower() not in own:
            raise SendError("bad_from")
        outgoing.attachments = await _uploads(request, user, form, limit)
        if form.get("action") == "save":
            await _save_draft(request, user, outgoing, _ref(_text(form, "draft")))
            staging.discard(request, user, form.getlist("staged"))
            return redirect(f"/mail/{(await _drafts_id(request, user))}?notice=saved")
        await send(
            store, user.account.id, outgoing,
            max_recipients=service.config.limits.max_recipients, max_size=limit,
            plus_addressing=service.config.accounts.plus_addressing,
            dkim_dir=service.config.dkim_dir,
        )
    except SendError as error:
        return await _form_page(request, user, values, _error_text(request, error), 400)
    staging.discard(request, user, form.getlist("staged"))
    reply = _ref(values["reply"])  # type: ignore[arg-type]
    if reply is not None and values["mode"] in ("reply", "all"):
        with contextlib.suppress(StoreError):
            await store.set_flags(user.account.id, reply[0], [(reply[1], reply[1])],
                                  ["\\Answered"], "add")
    draft = _ref(_text(form, "draft"))
    if draft is not None:
        await _drop(request, user, draft)
    inbox = await store.get_mailbox(user.account.id, "INBOX")
    return redirect(f"/mail/{inbox.id}?notice=sent")


async def _drafts_id(request: Request, user: SignedIn) -> int:
    drafts = await store_of(request).special_mailbox(user.account.id, "\\Drafts")
    if drafts is None:
        drafts = await store_of(request).create_mailbox(user.account.id, "Drafts", "\\Drafts")
    return drafts.id


async def _save_draft(
    request: Request, user: SignedIn, outgoing: Outgoing, replaces: tuple[int, int] | None
) -> tuple[int, int] | None:
    """Append the draft to Drafts, then drop the one it replaces; (mailbox, uid) of the new."""
    message = build(outgoing, draft=True)
    drafts = await _drafts_id(request, user)
    uid = await file_copy(store_of(request), user.account.id, "\\Drafts", message,
                          ["\\Draft", "\\Seen"])
    if replaces is not None and replaces != (drafts, uid):
        await _drop(request, user, replaces)
    return (drafts, uid) if uid is not None else None


async def _drop(request: Request, user: SignedIn, ref: tuple[int, int]) -> None:
    """Remove a draft that was sent or saved again (only ever from Drafts)."""
    store = store_of(request)
    with contextlib.suppress(HTTPException, StoreError):
        mailbox = await mailbox_or_404(request, user, ref[0])
        if mailbox.special_use != "\\Drafts":
            return
        await store.set_flags(user.account.id, mailbox.id, [(ref[1], ref[1])], ["\\Deleted"],
                              "add")
        await store.expunge(user.account.id, mailbox.id, [(ref[1], ref[1])])


@signed_in
async def plain_version(request: Request, user: SignedIn) -> Response:
    """The editor's HTML as the plain-text part would carry it, for the "plain text" switch
    (one converter, on the server, for both)."""
    form = await session.checked_form(request, user.csrf, max_part_size=MAX_BODY + 65536)
    text = html_to_plain(sanitise_composed(_text(form, "html", MAX_BODY)))
    return Response(text, media_type="text/plain; charset=utf-8")


routes = [
    Route("/compose", compose_page, methods=["GET"]),
    Route("/compose", compose_post, methods=["POST"]),
    Route("/compose/plain", plain_version, methods=["POST"]),
    Route("/compose/autosave", autosave, methods=["POST"]),
    *staging.routes,
    *suggest.routes,
]
