"""A stored message as the reading pane shows it: headers, the parts to display, attachments.

Works from the parse-once data (envelope and body structure JSON) plus the raw octets; nothing
is re-parsed but the header block (for References) and the text parts that are shown.
Choice of parts (RFC 2046 §5.1.4, RFC 2387): of a multipart/alternative the richest part we can
show (HTML over plain text), of a multipart/related its root, of a multipart/mixed every body
text part in order; everything else is an attachment.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from postbus.mime import BodyPart, find_part, get_header, header_block
from postbus.mime.addresses import Address, to_addresses
from postbus.mime.charsets import decode_bytes, decode_transfer
from postbus.mime.envelope import CC, DATE, FROM, IN_REPLY_TO, MESSAGE_ID, REPLY_TO, SUBJECT, TO
from postbus.mime.headers import decode_unstructured, parse_date, parse_msg_ids
from postbus.mime.params import param_value
from postbus.store.models import StoredMessage

MAX_SHOWN_TEXT = 4 * 1024 * 1024  # octets of one displayed text part


@dataclass(frozen=True, slots=True)
class AttachmentView:
    filename: str
    content_type: str
    size: int
    section: str  # "2.1"
    inline: bool


@dataclass(slots=True)
class Reading:
    subject: str
    from_: tuple[Address, ...]
    to: tuple[Address, ...]
    cc: tuple[Address, ...]
    reply_to: tuple[Address, ...]
    date: int | None
    message_id: str | None
    in_reply_to: tuple[str, ...]
    references: tuple[str, ...]
    body: BodyPart
    shown: list[BodyPart] = field(default_factory=list)
    attachments: list[AttachmentView] = field(default_factory=list)

    @property
    def has_html(self) -> bool:
        return any(part.subtype == "html" for part in self.shown)


def _addresses(envelope: list[Any], index: int) -> tuple[Address, ...]:
    return to_addresses(envelope[index] or [])


def read(stored: StoredMessage, raw: bytes) -> Reading:
    envelope = json.loads(stored.envelope)
    body = BodyPart.from_json(json.loads(stored.body_structure))
    header = header_block(raw)
    references = parse_msg_ids((get_header(header, "references") or [None])[0])
    reading = Reading(
        subject=decode_unstructured(envelope[SUBJECT] or ""),
        from_=_addresses(envelope, FROM),
        to=_addresses(envelope, TO),
        cc=_addresses(envelope, CC),
        reply_to=_addresses(envelope, REPLY_TO),
        date=parse_date(envelope[DATE]),
        message_id=envelope[MESSAGE_ID],
        in_reply_to=parse_msg_ids(envelope[IN_REPLY_TO]),
        references=references,
        body=body,
    )
    reading.shown = shown_parts(body)
    shown_ids = {id(part) for part in reading.shown}
    for item in json.loads(stored.attachments):
        section = tuple(item["section"])
        part = find_part(body, section)
        if part is None or id(part) in shown_ids:
            continue
        reading.attachments.append(
            AttachmentView(
                filename=item["filename"] or _fallback_name(item["type"]),
                content_type=item["type"],
                size=item["size"],
                section=".".join(str(n) for n in section),
                inline=item["inline"],
            )
        )
    return reading


def _fallback_name(content_type: str) -> str:
    return "attachment." + (content_type.rpartition("/")[2] or "bin")[:10]


def _is_body_text(part: BodyPart) -> bool:
    has_name = param_value(part.disposition_params, "filename") or param_value(
        part.params, "name"
    )
    return (
        part.type == "text"
        and part.subtype in ("plain", "html")
        and part.disposition != "attachment"
        and not has_name
    )


def shown_parts(body: BodyPart) -> list[BodyPart]:
    out: list[BodyPart] = []

    def walk(part: BodyPart) -> None:
        if part.is_multipart:
            if not part.parts:
                return
            if part.subtype == "alternative":
                walk(_richest(part.parts))
            elif part.subtype in ("related", "signed"):
                walk(part.parts[0])  # RFC 2387 root; RFC 1847 signed content
            else:
                for child in part.parts:
                    walk(child)
        elif _is_body_text(part):
            out.append(part)

    walk(body)
    return out


def _richest(parts: tuple[BodyPart, ...]) -> BodyPart:
    def shows_html(part: BodyPart) -> bool:
        return any(p.subtype == "html" for p in shown_parts(part))

    for part in reversed(parts):
        if shows_html(part):
            return part
    for part in reversed(parts):
        if shown_parts(part):
            return part
    return parts[-1]


def part_text(raw: bytes, part: BodyPart) -> str:
    """The decoded text of a text part, line ends made plain."""
    stop = min(part.end, part.body_start + MAX_SHOWN_TEXT)
    data = decode_transfer(bytes(raw[part.body_start:stop]), part.encoding)
    text = decode_bytes(data, part.params.get("charset"), truncated=stop < part.end)
    return text.replace("\r\n", "\n")


def part_bytes(raw: bytes, part: BodyPart) -> bytes:
    return decode_transfer(bytes(raw[part.body_start:part.end]), part.encoding)


def content_ids(body: BodyPart) -> dict[str, BodyPart]:
    """Parts by Content-ID (without the angle brackets), for ``cid:`` URLs (RFC 2392)."""
    out: dict[str, BodyPart] = {}
    stack = [body]
    while stack:
        part = stack.pop()
        if part.id:
            out.setdefault(part.id.strip().strip("<>").strip(), part)
        stack.extend(part.parts)
    return out


def section_of(text: str) -> tuple[int, ...] | None:
    try:
        numbers = tuple(int(n) for n in text.split("."))
    except ValueError:
        return None
    if not numbers or len(numbers) > 20 or any(n < 1 or n > 10000 for n in numbers):
        return None
    return numbers


def plain_quote(reading: Reading, raw: bytes) -> str:
    """The message's text, for quoting in a reply or a forward."""
    from postbus.mime import html_to_text

    chunks = []
    for part in reading.shown:
        text = part_text(raw, part)
        chunks.append(html_to_text(text) if part.subtype == "html" else text)
    return "\n".join(chunks).strip("\n")
