"""FETCH BINARY[...] / BINARY.PEEK[...] / BINARY.SIZE[...] (RFC 3516 §4.2, RFC 9051 §6.4.5).

The part's content-transfer-encoding is undone server side (base64, quoted-printable), so the
client receives the decoded octets. A literal8 (``~{n}``) carries data holding NUL octets; other
data goes as an ordinary literal, which every client reads. An encoding we do not know is
refused with NO [UNKNOWN-CTE] (RFC 3516 §4.3).
"""

from __future__ import annotations

from postbus.imap.proto import commands as c
from postbus.imap.proto import response as r
from postbus.imap.proto.errors import ImapNo
from postbus.mime import BodyPart, find_part
from postbus.mime.charsets import decode_transfer

ITEMS = frozenset({"BINARY", "BINARY.SIZE"})
_IDENTITY = frozenset({"7bit", "8bit", "binary"})
_DECODED = frozenset({"base64", "quoted-printable"})
UNKNOWN_CTE = "UNKNOWN-CTE"  # RFC 3516 §4.3


def decoded(raw: bytes, root: BodyPart, section: c.Section) -> bytes | None:
    """The decoded octets of a part, or None when the message has no such part."""
    if not section.part:
        return raw  # BINARY[]: the whole message, which has no transfer encoding of its own
    part = find_part(root, section.part)
    if part is None:
        return None
    body = raw[part.body_start : part.end]
    if part.is_multipart or part.is_message:
        return body  # RFC 2045 §6.4: composite types are never encoded
    encoding = part.encoding.lower()
    if encoding in _IDENTITY:
        return body
    if encoding not in _DECODED:
        raise ImapNo(f"Cannot decode {part.encoding}", UNKNOWN_CTE)
    return decode_transfer(body, encoding)


def item(att: c.FetchAtt, raw: bytes, root: BodyPart) -> bytes:
    """One BINARY / BINARY.SIZE response item."""
    assert att.section is not None
    data = decoded(raw, root, att.section)
    label = att.label.encode()
    if att.name == "BINARY.SIZE":
        return label + b" %d" % (len(data) if data is not None else 0)
    if data is None:
        return label + b" NIL"
    if att.partial is not None:
        offset, length = att.partial
        data = data[offset : offset + length]
    if b"\0" in data:
        return label + b" ~" + r.literal(data)  # literal8 (RFC 3516 §4.2)
    return label + b" " + r.literal(data)
