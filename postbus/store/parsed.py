"""From the parse-once result of ``postbus.mime`` to the columns of a message row."""

from __future__ import annotations

import json
from typing import Any

from postbus.store import search
from postbus.store.appending import NewMessage
from postbus.store.blobs import BlobRef

COMPACT = (",", ":")
# One encoder for every message: ``json.dumps`` with options builds a new one per call.
_to_json = json.JSONEncoder(separators=COMPACT).encode


def _address_text(addresses: Any) -> str:
    return ", ".join(
        f"{address.name} <{address.email}>" if address.name else address.email
        for address in addresses
    )


def new_message(blob: BlobRef, parsed: Any) -> NewMessage:
    sender = parsed.from_[0] if parsed.from_ else None
    # Threading looks up the nearest ancestors first (RFC 5256 §2.2).
    refs = tuple(dict.fromkeys((*parsed.in_reply_to, *reversed(parsed.references))))
    attachments = [
        {
            "filename": item.filename,
            "type": item.content_type,
            "size": item.size,
            "section": list(item.section),
            "inline": item.inline,
        }
        for item in parsed.attachments
    ]
    return NewMessage(
        blob_hash=blob.hash,
        size=blob.size,
        sent=parsed.date,
        subject=parsed.subject,
        base_subject=parsed.base_subject,
        from_name=sender.name if sender else "",
        from_email=sender.email if sender else "",
        to_text=_address_text(parsed.to),
        cc_text=_address_text(parsed.cc),
        message_id_header=parsed.message_id,
        thread_refs=refs,
        preview=parsed.preview,
        has_attachment=parsed.has_attachment,
        envelope=_to_json(parsed.envelope),
        body_structure=_to_json(parsed.body.to_json()),
        attachments=_to_json(attachments),
        search_words=search.index_words(parsed.search_text),
        inline_body=blob.inline,
    )
