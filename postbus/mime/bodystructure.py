"""IMAP BODY / BODYSTRUCTURE (RFC 9051 §7.5.2) as nested Python lists, in the RFC's order.

The IMAP response writer only has to print: a list is a parenthesised list, a str is a
string, an int a number, None is NIL. Nothing here touches the wire syntax (quoting,
literals), which belongs to the IMAP package.

    body-type-1part = (body-type-basic / body-type-msg / body-type-text) [SP body-ext-1part]
    body-type-basic = media-basic SP body-fields
    body-type-text  = media-text SP body-fields SP body-fld-lines
    body-type-msg   = media-message SP body-fields SP envelope SP body SP body-fld-lines
    body-fields     = body-fld-param SP body-fld-id SP body-fld-desc SP body-fld-enc SP
                      body-fld-octets
    body-ext-1part  = body-fld-md5 [SP body-fld-dsp [SP body-fld-lang [SP body-fld-loc ...]]]
    body-type-mpart = 1*body SP media-subtype [SP body-ext-mpart]
    body-ext-mpart  = body-fld-param [SP body-fld-dsp [SP body-fld-lang [SP body-fld-loc ...]]]
"""

from __future__ import annotations

from typing import Any

from postbus.mime.structure import BodyPart


def _params(params: dict[str, str]) -> list[str] | None:
    # body-fld-param = "(" string SP string *(SP string SP string) ")" / nil
    if not params:
        return None
    out: list[str] = []
    for name, value in params.items():
        out.extend((name, value))
    return out


def _disposition(part: BodyPart) -> list[Any] | None:
    # body-fld-dsp = "(" string SP body-fld-param ")" / nil
    if part.disposition is None:
        return None
    return [part.disposition, _params(part.disposition_params)]


def _language(part: BodyPart) -> str | list[str] | None:
    # body-fld-lang = nstring / "(" string *(SP string) ")"
    if not part.language:
        return None
    return part.language[0] if len(part.language) == 1 else list(part.language)


def imap_body(part: BodyPart, extensible: bool = True) -> list[Any]:
    """BODYSTRUCTURE (``extensible=True``) or BODY (``False``) of ``part``."""
    if part.is_multipart:
        out: list[Any] = [imap_body(child, extensible) for child in part.parts]
        out.append(part.subtype)
        if extensible:
            out.extend((_params(part.params), _disposition(part), _language(part), part.location))
        return out
    out = [
        part.type,
        part.subtype,
        _params(part.params),
        part.id,
        part.description,
        part.encoding,
        part.size,
    ]
    if part.is_message and part.parts:
        out.extend((part.envelope, imap_body(part.parts[0], extensible), part.lines or 0))
    elif part.type == "text":
        out.append(part.lines or 0)
    if extensible:
        out.extend((part.md5, _disposition(part), _language(part), part.location))
    return out
