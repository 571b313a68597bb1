"""Text for people and for the search index: body text, RFC 8970 preview, attachments.

Only text/plain and text/html parts that are part of the message body are decoded (at most
MAX_PART_OCTETS of each, and only until MAX_SEARCH_CHARS of text are gathered). Attachments
are measured, never decoded.

What counts as an attachment (`Attachment`, `ParsedMessage.has_attachment`):
- every leaf part other than body text: a part with Content-Disposition: attachment, a part
  with a file name, any non-text part (image, application, audio, video, message/rfc822 —
  a forwarded message is one attachment; its own parts are not listed);
- text/* parts count only with ``disposition=attachment`` or a file name;
- ``inline`` is True for parts meant to be shown inside the message rather than saved: a part
  with a Content-ID (referenced from HTML as ``cid:``) that is not marked attachment, or a
  part marked ``inline`` without a file name;
- the signature of multipart/signed and the control part of multipart/encrypted are never
  attachments (RFC 1847);
- ``has_attachment`` is True when at least one attachment is not inline. A PDF sent with
  ``Content-Disposition: inline; filename=...`` (Apple Mail does this) counts.
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass

from postbus.mime.charsets import decode_bytes, decode_transfer
from postbus.mime.headers import decode_words
from postbus.mime.html_text import html_to_text
from postbus.mime.params import param_value
from postbus.mime.structure import BodyPart, iter_sections

MAX_PART_OCTETS = 256 * 1024  # of one encoded text part
MAX_SEARCH_CHARS = 64 * 1024
PREVIEW_CHARS = 200
PREVIEW_OCTETS = 256  # RFC 8970 §2: at most 256 octets

Buffer = bytes | bytearray


@dataclass(frozen=True, slots=True)
class Attachment:
    filename: str  # decoded; "" when the part has none
    content_type: str  # "type/subtype", lower case
    size: int  # decoded octets (for base64 an estimate from the encoded size)
    section: tuple[int, ...]  # IMAP part number
    content_id: str | None
    inline: bool


def body_text_parts(body: BodyPart) -> list[BodyPart]:
    """The text/plain and text/html parts a reader sees, in reading order.

    RFC 2046 §5.1.4: of a multipart/alternative, text/plain is taken when there is one (it is
    what search and previews want); otherwise the last, richest alternative.
    """
    out: list[BodyPart] = []

    def walk(part: BodyPart) -> None:
        if part.is_multipart:
            if part.subtype == "alternative" and part.parts:
                # (an empty text/plain, as some mailers send, does not count)
                plain = [
                    p
                    for p in part.parts
                    if p.subtype == "plain" and p.size > 2 and _is_body_text(p)
                ]
                walk(plain[0] if plain else part.parts[-1])
            else:
                for child in part.parts:
                    walk(child)
        elif part.is_message:
            if part.parts:
                walk(part.parts[0])
        elif _is_body_text(part):
            out.append(part)

    walk(body)
    return out


def _is_body_text(part: BodyPart) -> bool:
    return (
        part.type == "text"
        and part.subtype in ("plain", "html")
        and part.disposition != "attachment"
        and not _filename(part)
    )


def _filename(part: BodyPart) -> str:
    """The part's file name (RFC 2183 filename, else Content-Type name), NFC-normalised."""
    name = param_value(part.disposition_params, "filename") or param_value(part.params, "name")
    if not name:
        return ""
    name = name.strip()
    return name if name.isascii() else unicodedata.normalize("NFC", name)


def part_text(buf: Buffer, part: BodyPart) -> str:
    """The decoded text of a text part (at most MAX_PART_OCTETS of it); html made plain."""
    stop = min(part.end, part.body_start + MAX_PART_OCTETS)
    data = bytes(buf[part.body_start : stop])
    data = decode_transfer(data, part.encoding)
    text = decode_bytes(data, part.params.get("charset"), truncated=stop < part.end)
    if part.subtype == "html":
        return html_to_text(text)
    # CRLF line ends stay: the word index and the preview take both as white space.
    return text


def make_preview(text: str) -> str:
    """RFC 8970 preview: whitespace collapsed, ≤ PREVIEW_CHARS characters and ≤ 256 octets."""
    window = PREVIEW_CHARS * 2
    while True:  # collapse whitespace in a window just big enough (text may be 64 KB)
        collapsed = " ".join(text[:window].split())
        if len(collapsed) > PREVIEW_CHARS or window >= len(text):
            break
        window *= 4
    text = collapsed[:PREVIEW_CHARS]
    if not text.isprintable():
        text = " ".join("".join(c if c.isprintable() else " " for c in text).split())
    data = text.encode("utf-8", "replace")
    if len(data) > PREVIEW_OCTETS:  # cut on a character boundary
        text = data[:PREVIEW_OCTETS].decode("utf-8", "ignore")
    return text


def gather_text(buf: Buffer, body: BodyPart) -> tuple[str, str]:
    """(body text for search, capped at MAX_SEARCH_CHARS; preview)."""
    parts = body_text_parts(body)
    chunks: list[str] = []
    total = 0
    preview_source: str | None = None
    html_source: str | None = None
    for part in parts:
        if total >= MAX_SEARCH_CHARS and (preview_source or html_source) is not None:
            break
        text = part_text(buf, part)
        if part.subtype == "plain":
            if preview_source is None and text.strip():
                preview_source = text
        elif html_source is None and text.strip():
            html_source = text
        if total < MAX_SEARCH_CHARS:
            chunks.append(text[: MAX_SEARCH_CHARS - total])
            total += len(chunks[-1])
    preview = make_preview(preview_source or html_source or "")
    return "\n".join(chunks), preview


def _estimate_size(part: BodyPart) -> int:
    if part.encoding == "BASE64":
        # RFC 2045 §6.8: lines of at most 76 characters; assume 76 + CRLF per line.
        raw = part.size - (part.size // 78) * 2
        return max(0, raw * 3 // 4)
    return part.size


def find_attachments(body: BodyPart) -> tuple[Attachment, ...]:
    """Attachments in document order, by the rules in the module docstring."""
    out = []
    skip = _protocol_parts(body)  # then also the insides of forwarded messages
    for section, part in iter_sections(body):
        if part.is_multipart or id(part) in skip:
            continue
        if part.is_message:
            # A forwarded message is one attachment: do not list what is inside it.
            skip |= _descendants(part)
        elif part.type == "text" and part.disposition != "attachment" and not _filename(part):
            continue
        filename = _filename(part)
        if not filename and part.is_message and part.envelope and part.envelope[1]:
            filename = decode_words(part.envelope[1]).strip() + ".eml"
        cid = part.id
        inline = part.disposition != "attachment" and (
            cid is not None or (part.disposition == "inline" and not filename)
        )
        out.append(
            Attachment(
                filename=filename,
                content_type=part.content_type,
                size=_estimate_size(part),
                section=section,
                content_id=cid,
                inline=inline,
            )
        )
    return tuple(out)


def _protocol_parts(body: BodyPart) -> set[int]:
    """Parts that carry security protocol data, not content for people (never attachments).

    RFC 1847 §2.1: the second part of multipart/signed is the signature (smime.p7s,
    signature.asc); RFC 1847 §2.2: the first part of multipart/encrypted is control data.
    """
    out: set[int] = set()
    stack = [body]
    while stack:
        part = stack.pop()
        if part.is_multipart:
            if part.subtype == "signed" and len(part.parts) == 2:
                out.add(id(part.parts[1]))
            elif part.subtype == "encrypted" and len(part.parts) == 2:
                out.add(id(part.parts[0]))
        stack.extend(part.parts)
    return out


def _descendants(part: BodyPart) -> set[int]:
    out: set[int] = set()
    stack = list(part.parts)
    while stack:
        p = stack.pop()
        out.add(id(p))
        stack.extend(p.parts)
    return out
