"""parse_message: everything the store keeps about a message, from one pass over its octets.

Invariants:
- Pure: no I/O, no clock; the only shared state is a memo of parsed Content-Type values
  (params.py). Never raises: on any internal failure the message
  is described as one text/plain part spanning the whole input.
- The input is not copied as a whole (an mmap of a 50 MB file is fine); only header blocks and
  the first MAX_PART_OCTETS of each body text part are sliced out. A memoryview is used
  through the object it views when that is bytes/bytearray/mmap and it covers all of it;
  otherwise it is copied once.
- ``size == len(input)``, always.
"""

from __future__ import annotations

import mmap
from dataclasses import dataclass

from postbus.mime.addresses import Address, parse_address_list, to_addresses
from postbus.mime.envelope import BCC, CC, FROM, TO, Envelope, build_envelope
from postbus.mime.headers import (
    as_buffer,
    decode_unstructured,
    parse_date,
    parse_message_id,
    parse_msg_ids,
)
from postbus.mime.structure import BodyPart, Walker
from postbus.mime.subject import base_subject
from postbus.mime.text import MAX_SEARCH_CHARS, Attachment, find_attachments, gather_text

RawMessage = bytes | bytearray | memoryview | mmap.mmap


@dataclass(frozen=True, slots=True)
class ParsedMessage:
    size: int  # octets (RFC 9051 RFC822.SIZE)
    date: int | None  # epoch seconds of the Date field
    subject: str  # RFC 2047 decoded, unfolded
    base_subject: str  # RFC 5256 §2.1
    from_: tuple[Address, ...]
    sender: tuple[Address, ...]  # the Sender field itself; empty when absent
    reply_to: tuple[Address, ...]  # the Reply-To field itself; empty when absent
    to: tuple[Address, ...]
    cc: tuple[Address, ...]
    bcc: tuple[Address, ...]
    message_id: str | None  # "<id>"
    in_reply_to: tuple[str, ...]
    references: tuple[str, ...]
    envelope: Envelope  # RFC 9051 §7.5.2, JSON-ready (see envelope.py)
    body: BodyPart  # the root of the MIME tree (BODYSTRUCTURE, offsets)
    preview: str  # RFC 8970
    search_text: str  # words to index, any line ends (white space to the index)
    attachments: tuple[Attachment, ...]
    has_attachment: bool


def parse_message(raw: RawMessage) -> ParsedMessage:
    """Parse a message once (at delivery or APPEND); never raises. See ParsedMessage."""
    try:
        size = raw.nbytes if isinstance(raw, memoryview) else len(raw)
    except Exception:  # e.g. a closed mmap
        return _fallback(0)
    try:
        return _parse(as_buffer(raw), size)
    except Exception:  # a bug; never the reason to refuse a message
        return _fallback(size)


def _parse(buf: bytes | bytearray | mmap.mmap, size: int) -> ParsedMessage:
    body, fields = Walker(buf).entity(0, size, 0)
    envelope = build_envelope(fields)
    subject = decode_unstructured(envelope[1] or "")
    from_, to, cc, bcc = (to_addresses(envelope[i] or []) for i in (FROM, TO, CC, BCC))
    sender = _field_addresses(fields, "sender")
    reply_to = _field_addresses(fields, "reply-to")
    attachments = find_attachments(body)
    text, preview = gather_text(buf, body)
    return ParsedMessage(
        size=size,
        date=parse_date(envelope[0]),
        subject=subject,
        base_subject=base_subject(subject),
        from_=from_,
        sender=sender,
        reply_to=reply_to,
        to=to,
        cc=cc,
        bcc=bcc,
        message_id=parse_message_id(envelope[9]),
        in_reply_to=parse_msg_ids(envelope[8]),
        references=parse_msg_ids(_first(fields, "references")),
        envelope=envelope,
        body=body,
        preview=preview,
        search_text=_search_text(
            subject, (from_, sender, reply_to, to, cc, bcc), attachments, text
        ),
        attachments=attachments,
        has_attachment=any(not a.inline for a in attachments),
    )


def _first(fields: dict[str, list[str]], name: str) -> str | None:
    values = fields.get(name)
    return values[0] if values else None


def _field_addresses(fields: dict[str, list[str]], name: str) -> tuple[Address, ...]:
    value = _first(fields, name)
    return to_addresses(parse_address_list(value)) if value else ()


def _search_text(
    subject: str,
    address_lists: tuple[tuple[Address, ...], ...],
    attachments: tuple[Attachment, ...],
    text: str,
) -> str:
    """Subject, addresses, attachment names, then body text; at most MAX_SEARCH_CHARS."""
    seen = set()
    head = [subject]
    for addresses in address_lists:
        for a in addresses:
            if a not in seen:
                seen.add(a)
                head.append(f"{a.name} {a.email}".strip())
    head.extend(a.filename for a in attachments if a.filename)
    head.append(text)
    return "\n".join(head)[:MAX_SEARCH_CHARS]


def _fallback(size: int) -> ParsedMessage:
    body = BodyPart(
        type="text",
        subtype="plain",
        params={"charset": "us-ascii"},
        id=None,
        description=None,
        encoding="7BIT",
        size=size,
        lines=0,
        md5=None,
        disposition=None,
        disposition_params={},
        language=None,
        location=None,
        header_start=0,
        body_start=0,
        end=size,
    )
    return ParsedMessage(
        size=size,
        date=None,
        subject="",
        base_subject="",
        from_=(),
        sender=(),
        reply_to=(),
        to=(),
        cc=(),
        bcc=(),
        message_id=None,
        in_reply_to=(),
        references=(),
        envelope=[None] * 10,
        body=body,
        preview="",
        search_text="",
        attachments=(),
        has_attachment=False,
    )
