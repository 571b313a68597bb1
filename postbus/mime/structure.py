"""The MIME tree of a message: one walk over the raw octets, offsets instead of copies.

Invariants:
- Every offset is exact into the buffer that was parsed, whatever its line endings (CRLF or
  bare LF): ``raw[part.header_start:part.body_start]`` is the part's MIME header including the
  empty line (IMAP BODY[n.MIME]); ``raw[part.body_start:part.end]`` is its encoded body
  (IMAP BODY[n]). For the root, header_start is 0 and ``raw[body_start:end]`` is BODY[TEXT].
- The CRLF before a boundary delimiter belongs to the delimiter (RFC 2046 §5.1.1), so it is
  not part of the preceding body.
- A message/rfc822 (or message/global) part has exactly one child in ``parts``: the body of
  the encapsulated message, whose header_start is the part's body_start, so its
  ``raw[header_start:body_start]`` is BODY[n.HEADER] and ``raw[body_start:end]`` BODY[n.TEXT].
- Bodies are never copied or decoded here; only header blocks are sliced (at most 1 MiB each).
- Nesting deeper than MAX_DEPTH, or more than MAX_PARTS parts, is treated as text/plain.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from postbus.mime.envelope import build_envelope
from postbus.mime.headers import (
    MAX_HEADER_OCTETS,
    decode_header_bytes,
    find_body_start,
    parse_fields,
)
from postbus.mime.params import parse_content_type, parse_disposition

MAX_DEPTH = 50
MAX_PARTS = 5000
MAX_BOUNDARY = 200  # RFC 2046 §5.1.1 allows 70; be lenient, but not unbounded
MAX_FALSE_DELIMITERS = 10_000  # "--boundary<junk>" lines tolerated per multipart

Buffer = bytes | bytearray  # or mmap.mmap: anything with find() and item access

# RFC 2045 §6.1: the standard encodings, given in upper case; others are kept as written.
_ENCODINGS = {"7bit", "8bit", "binary", "base64", "quoted-printable"}
_LF, _CR = 0x0A, 0x0D
_NIL: list[None] = [None]  # fields.get(name, _NIL)[0]: the first value or None


@dataclass(slots=True)
class BodyPart:
    """One node of RFC 9051 §7.5.2 BODYSTRUCTURE, plus where it lies in the raw message.

    Treat it as immutable. (It is not a frozen dataclass only because frozen construction
    costs three times as much, and a message may have hundreds of parts.)

    For multipart nodes only type, subtype, params (boundary...), disposition,
    disposition_params, language, location and parts are meaningful (the multipart extension
    data); encoding is "7BIT", lines/id/description/md5 are None.
    """

    type: str  # lower case, e.g. "text"
    subtype: str  # lower case, e.g. "plain"
    params: dict[str, str]  # lower-case names; RFC 2231 continuations joined
    id: str | None  # Content-ID, raw
    description: str | None  # Content-Description, raw (RFC 2047 words undecoded)
    encoding: str  # Content-Transfer-Encoding, "7BIT" by default
    size: int  # octets of the encoded body, == end - body_start
    lines: int | None  # text/* and message/rfc822|global only
    md5: str | None  # Content-MD5
    disposition: str | None  # lower case, e.g. "attachment"
    disposition_params: dict[str, str]
    language: tuple[str, ...] | None  # Content-Language tags
    location: str | None  # Content-Location
    header_start: int
    body_start: int
    end: int
    parts: tuple[BodyPart, ...] = ()  # multipart children, or the one encapsulated body
    envelope: list[Any] | None = None  # message/rfc822|global: the encapsulated envelope

    @property
    def content_type(self) -> str:
        return f"{self.type}/{self.subtype}"

    @property
    def is_multipart(self) -> bool:
        return self.type == "multipart"

    @property
    def is_message(self) -> bool:
        return self.envelope is not None

    # --- storage ------------------------------------------------------------------------------
    # JSON form, compact because it is stored per message:
    #   [type, subtype, header_start, body_start, end, params, extras]
    # size is end - body_start. params ({} when none) and extras are left out when empty.
    # extras holds only the members that differ from their default (encoding "7BIT", else None):
    #   "enc" encoding, "lines", "id", "desc" description, "md5", "disp" disposition,
    #   "dparams" disposition params, "lang" [tag, ...], "loc" location,
    #   "parts" [child, ...], "env" envelope.

    def to_json(self) -> list[Any]:
        extras: dict[str, Any] = {}
        if self.encoding != "7BIT":
            extras["enc"] = self.encoding
        for key, value in (
            ("lines", self.lines),
            ("id", self.id),
            ("desc", self.description),
            ("md5", self.md5),
            ("disp", self.disposition),
            ("dparams", self.disposition_params or None),
            ("lang", list(self.language) if self.language is not None else None),
            ("loc", self.location),
            ("parts", [p.to_json() for p in self.parts] or None),
            ("env", self.envelope),
        ):
            if value is not None:
                extras[key] = value
        out: list[Any] = [self.type, self.subtype, self.header_start, self.body_start, self.end]
        if extras:
            out.extend((self.params, extras))
        elif self.params:
            out.append(self.params)
        return out

    @classmethod
    def from_json(cls, data: list[Any]) -> BodyPart:
        params = data[5] if len(data) > 5 else {}
        x = data[6] if len(data) > 6 else {}
        lang = x.get("lang")
        return cls(
            type=data[0],
            subtype=data[1],
            params=params,
            id=x.get("id"),
            description=x.get("desc"),
            encoding=x.get("enc", "7BIT"),
            size=data[4] - data[3],
            lines=x.get("lines"),
            md5=x.get("md5"),
            disposition=x.get("disp"),
            disposition_params=x.get("dparams") or {},
            language=tuple(lang) if lang is not None else None,
            location=x.get("loc"),
            header_start=data[2],
            body_start=data[3],
            end=data[4],
            parts=tuple(cls.from_json(p) for p in x.get("parts", ())),
            envelope=x.get("env"),
        )


def find_part(body: BodyPart, section: tuple[int, ...]) -> BodyPart | None:
    """The part named by an IMAP section number (RFC 9051 §6.4.5), or None.

    Every message has at least part 1: the only part of a non-multipart message is 1. The
    parts of a multipart are 1, 2, ...; a message/rfc822 part's number continues into the
    encapsulated message (N.1 is its only part, or the first part of its multipart body).
    An empty section is the whole message (its root part).
    """
    cur = body
    last = len(section) - 1
    for i, n in enumerate(section):
        if cur.is_multipart:
            if not 1 <= n <= len(cur.parts):
                return None
            cur = cur.parts[n - 1]
        elif n != 1:
            return None
        if i < last and not cur.is_multipart:
            if not (cur.is_message and cur.parts):
                return None
            cur = cur.parts[0]
    return cur


def iter_sections(body: BodyPart) -> list[tuple[tuple[int, ...], BodyPart]]:
    """Every part that has an IMAP section number, with that number, in document order."""
    out: list[tuple[tuple[int, ...], BodyPart]] = []

    def walk(container: BodyPart, prefix: tuple[int, ...]) -> None:
        children = container.parts if container.is_multipart else (container,)
        for n, part in enumerate(children, 1):
            section = (*prefix, n)
            out.append((section, part))
            if part.is_multipart:
                walk(part, section)
            elif part.is_message and part.parts:
                walk(part.parts[0], section)

    walk(body, ())
    return out


def _count_lines(buf: Buffer, start: int, end: int) -> int:
    """Lines of a body: LFs, plus one for a last line without a line break."""
    if end <= start:
        return 0
    count = getattr(buf, "count", None)
    if count is not None:
        n = count(b"\n", start, end)
    else:  # mmap has no count(): count in slices
        n = 0
        for pos in range(start, end, 1 << 20):
            n += buf[pos : min(end, pos + (1 << 20))].count(b"\n")
    return n + (buf[end - 1] != _LF)


class Walker:
    """One walk over one message; keeps the part count (MAX_PARTS) across the tree."""

    def __init__(self, buf: Buffer) -> None:
        self.buf = buf
        self.count = 0

    def entity(
        self, start: int, end: int, depth: int, default: tuple[str, str] = ("text", "plain")
    ) -> tuple[BodyPart, dict[str, list[str]]]:
        """Parse the entity (header + body) in ``buf[start:end]``; also return its fields."""
        buf = self.buf
        self.count += 1
        body_start = find_body_start(buf, start, end)
        header_end = min(body_start, start + MAX_HEADER_OCTETS)
        fields = {}
        if header_end > start:
            text = decode_header_bytes(buf[start:header_end])
            fields = parse_fields(text, only_message_fields=True)
        get = fields.get
        ctype, subtype, params = parse_content_type(get("content-type", _NIL)[0], default)
        too_deep = depth >= MAX_DEPTH or self.count >= MAX_PARTS
        parts: tuple[BodyPart, ...] = ()
        envelope = None
        if ctype == "multipart" and not too_deep:
            parts = self.multipart(body_start, end, params.get("boundary"), depth, subtype)
            if not parts:  # no boundary, or none found: RFC 2046 gives no reading; take text
                ctype, subtype, params = "text", "plain", {"charset": "us-ascii"}
        elif ctype == "message" and subtype in ("rfc822", "global") and not too_deep:
            # RFC 2046 §5.2.1; RFC 6532 §3.7 (message/global)
            inner, inner_fields = self.entity(body_start, end, depth + 1)
            parts = (inner,)
            envelope = build_envelope(inner_fields)
        elif ctype in ("multipart", "message") and too_deep:
            ctype, subtype, params = "text", "plain", {"charset": "us-ascii"}

        encoding = get("content-transfer-encoding", _NIL)[0]
        if encoding:
            encoding = encoding.split(";", 1)[0].strip() or "7BIT"
            if encoding.lower() in _ENCODINGS:
                encoding = encoding.upper()
        else:
            encoding = "7BIT"  # RFC 2045 §6.1 default
        disposition, disposition_params = parse_disposition(get("content-disposition", _NIL)[0])
        language = location = None
        if "content-language" in fields:  # RFC 3282 §2: a comma-separated list of tags
            tags = fields["content-language"][0].split(",")
            language = tuple(t.strip() for t in tags if t.strip()) or None
        if "content-location" in fields:  # RFC 2557 §4.4: whitespace in a folded URI is dropped
            location = "".join(fields["content-location"][0].split()) or None
        lines = None
        if ctype == "text" or envelope is not None:
            lines = _count_lines(buf, body_start, end)
        part = BodyPart(
            type=ctype,
            subtype=subtype,
            params=params,
            id=get("content-id", _NIL)[0],
            description=get("content-description", _NIL)[0],
            encoding=encoding,
            size=end - body_start,
            lines=lines,
            md5=get("content-md5", _NIL)[0],
            disposition=disposition,
            disposition_params=disposition_params,
            language=language,
            location=location,
            header_start=start,
            body_start=body_start,
            end=end,
            parts=parts,
            envelope=envelope,
        )
        return part, fields

    def multipart(
        self, start: int, end: int, boundary: str | None, depth: int, subtype: str
    ) -> tuple[BodyPart, ...]:
        """Children of a multipart body in ``buf[start:end]`` (RFC 2046 §5.1.1)."""
        if not boundary or len(boundary) > MAX_BOUNDARY:
            return ()
        buf = self.buf
        delim = b"--" + boundary.encode("utf-8", "replace")
        # RFC 2046 §5.1.5: in multipart/digest the default part type is message/rfc822.
        default = ("message", "rfc822") if subtype == "digest" else ("text", "plain")
        bounds: list[tuple[int, int]] = []  # (part start, part end)
        part_start = -1
        # A delimiter starts a line: at the body's start, else right after an LF.
        needle = b"\n" + delim
        at_start = buf[start : start + len(delim)] == delim
        pos = start
        misses = 0
        while True:
            if at_start:
                i, at_start = start, False
            else:
                k = buf.find(needle, pos, end)
                if k < 0:
                    break
                i = k + 1
            j = i + len(delim)
            close = buf[j : j + 2] == b"--"
            if close:
                j += 2
            line_end = end
            if not close:
                # transport-padding: only LWSP may follow the boundary on its line.
                nl = buf.find(b"\n", j, min(end, j + 256))
                line_end = nl + 1 if nl >= 0 else end
                if (nl < 0 and end - j > 256) or buf[j:line_end].strip():
                    misses += 1
                    if misses > MAX_FALSE_DELIMITERS:  # hostile input: stop looking
                        break
                    pos = j
                    continue
            if part_start >= 0:
                # The CRLF (or LF) before the delimiter belongs to the delimiter.
                part_end = i
                if part_end > part_start and buf[part_end - 1] == _LF:
                    part_end -= 1
                    if part_end > part_start and buf[part_end - 1] == _CR:
                        part_end -= 1
                bounds.append((part_start, max(part_start, part_end)))
            if close:
                part_start = -1
                break
            part_start = line_end
            pos = max(j, line_end - 1)  # the LF ending this line may start the next delimiter
        if part_start >= 0:  # unterminated multipart: the last part runs to the end
            bounds.append((part_start, end))
        children = []
        for s, e in bounds:
            if self.count >= MAX_PARTS:
                break
            children.append(self.entity(s, e, depth + 1, default)[0])
        return tuple(children)
