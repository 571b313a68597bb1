"""FETCH attributes (RFC 9051 §6.4.5).

    fetch-att       = "ENVELOPE" / "FLAGS" / "INTERNALDATE" / "RFC822.SIZE" /
                      "BODY" ["STRUCTURE"] / "UID" /
                      "BODY" section [partial] / "BODY.PEEK" section [partial] /
                      "BINARY" [".PEEK"] section-binary [partial] / "BINARY.SIZE" section-binary
                      ; RFC 3501 also: "RFC822" / "RFC822.HEADER" / "RFC822.TEXT"
                      ; RFC 8970: "PREVIEW" [SP "(" "LAZY" ")"]; RFC 8514: "SAVEDATE"
                      ; RFC 8474: "EMAILID" / "THREADID"
    partial         = "<" number64 "." nz-number64 ">"
    section         = "[" [section-spec] "]"
    section-spec    = section-msgtext / (section-part ["." section-text])
    section-msgtext = "HEADER" / "HEADER.FIELDS" [".NOT"] SP header-list / "TEXT"
    section-part    = nz-number *("." nz-number)
    section-text    = section-msgtext / "MIME"
    header-list     = "(" header-fld-name *(SP header-fld-name) ")"
    section-binary  = "[" [section-part] "]"                         ; RFC 3516 §4.1
    fetch-att       =/ "MODSEQ"                                      ; RFC 7162 §3.1.4
"""

from __future__ import annotations

import re
from typing import Any

from postbus.imap.proto.commands import FetchAtt, Section
from postbus.imap.proto.errors import ParseError
from postbus.imap.proto.tokens import Atom

SIMPLE = frozenset(
    {"ENVELOPE", "FLAGS", "INTERNALDATE", "RFC822.SIZE", "BODY", "BODYSTRUCTURE", "UID",
     "RFC822", "RFC822.HEADER", "RFC822.TEXT", "MODSEQ",
     "PREVIEW", "SAVEDATE", "EMAILID", "THREADID"}  # RFC 8970, RFC 8514, RFC 8474
)
MACROS = {
    "ALL": ("FLAGS", "INTERNALDATE", "RFC822.SIZE", "ENVELOPE"),
    "FAST": ("FLAGS", "INTERNALDATE", "RFC822.SIZE"),
    "FULL": ("FLAGS", "INTERNALDATE", "RFC822.SIZE", "ENVELOPE", "BODY"),
}
MAX_PART_DEPTH = 50
MAX_FIELDS = 200

_SECTIONED = re.compile(r"(BODY|BODY\.PEEK)\[(.*)\](?:<(\d{1,19})\.(\d{1,19})>)?", re.S | re.I)
_BINARY = re.compile(
    r"(BINARY|BINARY\.PEEK|BINARY\.SIZE)\[([0-9.]*)\](?:<(\d{1,19})\.(\d{1,19})>)?", re.I
)
_FIELD = re.compile(r'"?([!-9;-~]+)"?')  # header-fld-name = astring; ftext without ":"


def parse_section(spec: str) -> Section:
    spec = spec.strip()
    fields: tuple[str, ...] = ()
    m = re.fullmatch(r"([^ (]*)(?: ?\((.*)\))?", spec, re.S)
    if m is None:
        raise ParseError("Invalid section")
    head, field_text = m[1], m[2]
    words = head.split(".") if head else []
    part: list[int] = []
    while words and words[0].isdigit():
        n = int(words.pop(0))
        if n == 0 or len(part) >= MAX_PART_DEPTH:
            raise ParseError("Invalid section part")
        part.append(n)
    text = ".".join(words).upper()
    if text not in ("", "HEADER", "HEADER.FIELDS", "HEADER.FIELDS.NOT", "TEXT", "MIME"):
        raise ParseError("Invalid section text")
    if text == "MIME" and not part:
        raise ParseError("MIME needs a part number")
    if text.startswith("HEADER.FIELDS"):
        if field_text is None:
            raise ParseError("HEADER.FIELDS needs a list of fields")
        names = field_text.split()
        if not names or len(names) > MAX_FIELDS:
            raise ParseError("Invalid header list")
        parsed = []
        for name in names:
            fm = _FIELD.fullmatch(name)
            if fm is None:
                raise ParseError("Invalid header field name")
            parsed.append(fm[1].upper())
        fields = tuple(parsed)
    elif field_text is not None:
        raise ParseError("Unexpected header list")
    return Section(tuple(part), text, fields)


def section_label(section: Section) -> str:
    words = [str(n) for n in section.part]
    if section.text:
        words.append(section.text)
    label = ".".join(words)
    if section.fields:
        label += " (" + " ".join(section.fields) + ")"
    return label


def _one(token: Any) -> list[FetchAtt]:
    if not isinstance(token, Atom):
        raise ParseError("Invalid fetch attribute")
    name = token.upper()
    if name in MACROS:
        return [FetchAtt(n, label=n) for n in MACROS[name]]
    if name in SIMPLE:
        return [FetchAtt(name, label=name)]
    binary = _BINARY.fullmatch(token)
    if binary is not None:
        return [_binary(binary)]
    m = _SECTIONED.fullmatch(token)
    if m is None:
        raise ParseError(f"Unknown fetch attribute {token[:30]}")
    section = parse_section(m[2])
    partial = None
    label = f"BODY[{section_label(section)}]"
    if m[3] is not None:
        length = int(m[4])
        if length == 0:
            raise ParseError("Partial length must not be zero")
        partial = (int(m[3]), length)
        label += f"<{m[3]}>"
    return [FetchAtt("BODY[]", section, m[1].upper() == "BODY.PEEK", partial, label)]


def _binary(m: re.Match[str]) -> FetchAtt:
    """BINARY[part]<partial>, BINARY.PEEK[...], BINARY.SIZE[part] (RFC 3516 §4.1)."""
    kind = m[1].upper()
    part = parse_section(m[2]) if m[2] else Section()
    if part.text:
        raise ParseError("BINARY takes only part numbers")
    spec = ".".join(str(n) for n in part.part)
    if kind == "BINARY.SIZE":
        if m[3] is not None:
            raise ParseError("BINARY.SIZE takes no partial")
        return FetchAtt("BINARY.SIZE", part, True, None, f"BINARY.SIZE[{spec}]")
    label = f"BINARY[{spec}]"
    partial = None
    if m[3] is not None:
        if int(m[4]) == 0:
            raise ParseError("Partial length must not be zero")
        partial = (int(m[3]), int(m[4]))
        label += f"<{m[3]}>"
    return FetchAtt("BINARY", part, kind == "BINARY.PEEK", partial, label)


def parse_fetch_atts(token: Any, uid: bool) -> tuple[FetchAtt, ...]:
    items: list[FetchAtt] = []
    if isinstance(token, tuple):
        if not token:
            raise ParseError("Empty fetch attribute list")
        for i, inner in enumerate(token):
            if isinstance(inner, tuple) and i and items and items[-1].name == "PREVIEW":
                # RFC 8970 §3: "PREVIEW" [SP "(" preview-mod *(SP preview-mod) ")"]
                if not inner or any(not isinstance(m, Atom) or m.upper() != "LAZY"
                                    for m in inner):
                    raise ParseError("Unknown PREVIEW modifier")
                continue  # LAZY: the preview is always at hand, so it comes at once
            if isinstance(inner, Atom) and inner.upper() in MACROS:
                raise ParseError("Macros cannot be in a list")
            items.extend(_one(inner))
    else:
        items = _one(token)
    if uid and not any(item.name == "UID" for item in items):
        # RFC 9051 §6.4.9: UID FETCH always returns the UID
        items.insert(0, FetchAtt("UID", label="UID"))
    return tuple(items)
