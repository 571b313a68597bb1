"""The IMAP ENVELOPE of a message (RFC 9051 §7.5.2), as JSON-ready nested lists.

``[date, subject, from, sender, reply-to, to, cc, bcc, in-reply-to, message-id]``

- Strings are the raw header values, unfolded and trimmed; RFC 2047 words stay encoded (the
  client decodes them). An absent field is None (NIL).
- Address lists are lists of ``[name, adl, mailbox, host]`` (see `addresses.py`), or None
  when the field is absent or holds no address.
- RFC 9051 §7.5.2: "If the Sender or Reply-To header lines are absent in the [RFC-5322]
  header, or are present but empty, the server sets the corresponding member of the envelope
  to be the same value as the from member."
"""

from __future__ import annotations

from typing import Any

from postbus.mime.addresses import parse_address_list

Envelope = list[Any]

DATE, SUBJECT, FROM, SENDER, REPLY_TO, TO, CC, BCC, IN_REPLY_TO, MESSAGE_ID = range(10)


_NIL: list[None] = [None]


def _first(fields: dict[str, list[str]], name: str) -> str | None:
    return fields.get(name, _NIL)[0]


def build_envelope(fields: dict[str, list[str]]) -> Envelope:
    """The envelope of a header parsed by `headers.parse_fields`."""
    addrs = {}
    for name in ("from", "sender", "reply-to", "to", "cc", "bcc"):
        value = fields.get(name, _NIL)[0]
        addrs[name] = parse_address_list(value) or None if value else None
    sender = addrs["sender"] or addrs["from"]
    reply_to = addrs["reply-to"] or addrs["from"]
    return [
        _first(fields, "date"),
        _first(fields, "subject"),
        addrs["from"],
        sender,
        reply_to,
        addrs["to"],
        addrs["cc"],
        addrs["bcc"],
        _first(fields, "in-reply-to"),
        _first(fields, "message-id"),
    ]
