"""Writing responses: strings, literals, flags, ENVELOPE, BODYSTRUCTURE, status lines.

Every function returns bytes ready for the wire. ``utf8`` is True when the client has
ENABLEd IMAP4rev2 or UTF8=ACCEPT: quoted strings may then carry UTF-8 (RFC 9051 §4.3,
RFC 6855 §3); otherwise anything beyond ASCII goes out as a literal, which is always valid.

Grammar (RFC 9051 §9):
    string          = quoted / literal
    nstring         = string / nil
    envelope        = "(" env-date SP env-subject SP env-from SP env-sender SP env-reply-to SP
                      env-to SP env-cc SP env-bcc SP env-in-reply-to SP env-message-id ")"
    address         = "(" addr-name SP addr-adl SP addr-mailbox SP addr-host ")"
    body            = "(" (body-type-1part / body-type-mpart) ")"
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterable
from typing import Any

from postbus.mime import BodyPart

MAX_QUOTED = 1024
_ATOM_SAFE = re.compile(rb"[!#$&'+-.0-9:;<-Z^-z|~]+")  # ASTRING-CHAR minus wildcards and ]
_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
NIL = b"NIL"


def _bytes(value: str | bytes) -> bytes:
    if isinstance(value, str):
        return value.encode("utf-8", "surrogateescape")
    return bytes(value)


def literal(data: bytes) -> bytes:
    return b"{%d}\r\n" % len(data) + data


def string(value: str | bytes, utf8: bool = False) -> bytes:
    """A quoted string when that can carry the value, else a literal."""
    data = _bytes(value)
    plain = len(data) <= MAX_QUOTED and not any(c in data for c in (b"\r", b"\n", b"\0"))
    if plain and (data.isascii() or (utf8 and _valid_utf8(data))):
        return b'"' + data.replace(b"\\", b"\\\\").replace(b'"', b'\\"') + b'"'
    return literal(data)


def nstring(value: str | bytes | None, utf8: bool = False) -> bytes:
    return NIL if value is None else string(value, utf8)


def astring(value: str | bytes, utf8: bool = False) -> bytes:
    """An atom when the value is one (mailbox names, IDs), else a string."""
    data = _bytes(value)
    if _ATOM_SAFE.fullmatch(data) and data.upper() != b"NIL":
        return data
    return string(data, utf8)


def _valid_utf8(data: bytes) -> bool:
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


def number_list(numbers: Iterable[int]) -> bytes:
    return b" ".join(b"%d" % n for n in numbers)


def flags(names: Iterable[str]) -> bytes:
    return b"(" + " ".join(names).encode("utf-8", "surrogateescape") + b")"


def internal_date(epoch: int) -> bytes:
    """date-time of RFC 9051 §9, in UTC: "17-Jul-1996 09:44:25 +0000"."""
    t = time.gmtime(epoch)
    return b'"%02d-%s-%04d %02d:%02d:%02d +0000"' % (
        t.tm_mday, _MONTHS[t.tm_mon - 1].encode(), t.tm_year, t.tm_hour, t.tm_min, t.tm_sec,
    )


def _address_list(addresses: list[Any] | None, utf8: bool) -> bytes:
    if not addresses:
        return NIL
    out = []
    for name, adl, mailbox, host in addresses:
        out.append(
            b"(" + b" ".join(nstring(v, utf8) for v in (name, adl, mailbox, host)) + b")"
        )
    return b"(" + b"".join(out) + b")"


def envelope(env: list[Any], utf8: bool = False) -> bytes:
    """ENVELOPE from the stored JSON (postbus.mime.envelope): RFC 9051 §7.5.2."""
    date, subject, from_, sender, reply_to, to, cc, bcc, in_reply_to, message_id = env
    parts = [nstring(date, utf8), nstring(subject, utf8)]
    parts += [_address_list(a, utf8) for a in (from_, sender, reply_to, to, cc, bcc)]
    parts += [nstring(in_reply_to, utf8), nstring(message_id, utf8)]
    return b"(" + b" ".join(parts) + b")"


def _params(params: dict[str, str], utf8: bool) -> bytes:
    if not params:
        return NIL
    return b"(" + b" ".join(
        string(k, utf8) + b" " + string(v, utf8)
        for k, v in params.items()
    ) + b")"


def _extension(part: BodyPart, utf8: bool) -> bytes:
    """body-fld-dsp SP body-fld-lang SP body-fld-loc (shared by both kinds of part)."""
    if part.disposition:
        dsp = b"(" + string(part.disposition.upper(), utf8) + b" "
        dsp += _params(part.disposition_params, utf8) + b")"
    else:
        dsp = NIL
    if part.language is None:
        lang = NIL
    elif len(part.language) == 1:
        lang = string(part.language[0], utf8)
    else:
        lang = b"(" + b" ".join(string(t, utf8) for t in part.language) + b")"
    return dsp + b" " + lang + b" " + nstring(part.location, utf8)


def body_structure(part: BodyPart, extended: bool = True, utf8: bool = False) -> bytes:
    """BODYSTRUCTURE (extended) or BODY (not extended) of a part: RFC 9051 §7.5.2."""
    if part.is_multipart:
        # body-type-mpart = 1*body SP media-subtype [SP body-ext-mpart]
        out = b"".join(body_structure(p, extended, utf8) for p in part.parts)
        out += b" " + string(part.subtype.upper(), utf8)
        if extended:
            out += b" " + _params(part.params, utf8) + b" " + _extension(part, utf8)
        return b"(" + out + b")"
    # body-fields = body-fld-param SP body-fld-id SP body-fld-desc SP body-fld-enc SP
    #               body-fld-octets
    fields = [
        string(part.type.upper(), utf8),
        string(part.subtype.upper(), utf8),
        _params(part.params, utf8),
        nstring(part.id, utf8),
        nstring(part.description, utf8),
        string(part.encoding, utf8),
        b"%d" % part.size,
    ]
    if part.is_message and part.parts:
        # body-type-msg = media-message SP body-fields SP envelope SP body SP body-fld-lines
        fields.append(envelope(part.envelope or [None] * 10, utf8))
        fields.append(body_structure(part.parts[0], extended, utf8))
        fields.append(b"%d" % (part.lines or 0))
    elif part.type == "text":
        fields.append(b"%d" % (part.lines or 0))
    if extended:
        # body-ext-1part = body-fld-md5 [SP body-fld-dsp [SP body-fld-lang [SP body-fld-loc]]]
        fields.append(nstring(part.md5, utf8))
        fields.append(_extension(part, utf8))
    return b"(" + b" ".join(fields) + b")"


# -- status and untagged lines --------------------------------------------------------------------


def tagged(tag: str, status: str, text: str, code: str | None = None) -> bytes:
    coded = f"[{code}] " if code else ""
    return f"{tag} {status} {coded}{text}\r\n".encode("utf-8", "replace")


def untagged(text: str | bytes) -> bytes:
    return b"* " + _bytes(text) + b"\r\n"


def untagged_status(status: str, text: str, code: str | None = None) -> bytes:
    coded = f"[{code}] " if code else ""
    return f"* {status} {coded}{text}\r\n".encode("utf-8", "replace")


def continuation(text: str = "") -> bytes:
    return b"+ " + text.encode() + b"\r\n"
