"""Header fields: find the header block, unfold, decode RFC 2047 words, dates, message ids.

Everything here works on small slices (a header block, one field value); nothing here looks at
a body. Address lists live in `addresses.py`, MIME parameters in `params.py`.

Header bytes are decoded as UTF-8 (RFC 6532) and, line by line where that fails, as Latin-1,
so 8-bit garbage never raises. NUL characters are dropped: they cannot be stored in
PostgreSQL text and never carry meaning in a header.
"""

from __future__ import annotations

import binascii
import mmap
import re
from email.utils import parsedate_tz

from postbus.mime.charsets import decode_bytes

Buffer = bytes | bytearray

# RFC 5322 §2.2: field-name = 1*ftext; ftext = %d33-57 / %d59-126 (printable US-ASCII except ":").
# RFC 5322 §4.5.3 (obs-optional): WSP is allowed between the name and the colon.
# A field is its first line plus every following line that starts with WSP (RFC 5322 §2.2.3).
_FIELD_SPLIT = re.compile(r"\n(?![ \t])")  # a line break not followed by WSP ends a field
_FIELD_NAME = re.compile(r"[!-9;-~]+")
# The fields parse_message reads; the rest (Received, DKIM-Signature, ARC-*...) are skipped.
MESSAGE_FIELDS = frozenset(
    ("date", "subject", "from", "sender", "reply-to", "to", "cc", "bcc", "in-reply-to",
     "message-id", "references", "content-type", "content-transfer-encoding", "content-id",
     "content-description", "content-disposition", "content-language", "content-location",
     "content-md5")
)  # fmt: skip
_FIELD_START = re.compile(rb"[!-9;-~]+[ \t]*:")

# Never look at more than this many octets of one header block (a message without a blank line
# is all header, and may be 50 MB).
MAX_HEADER_OCTETS = 1 << 20


def find_body_start(buf: Buffer, start: int, end: int) -> int:
    """Return the offset of the first body octet of the entity in ``buf[start:end]``.

    RFC 5322 §2.1: the header is separated from the body by an empty line. Both CRLF and bare
    LF line endings are accepted. When the entity does not start with a header field, it has an
    empty header and the body starts at ``start``; when there is no empty line, it is all header.
    """
    if start >= end:
        return end
    first = buf[start]
    if first == 0x0A:  # "\n": empty header
        return start + 1
    if first == 0x0D and start + 1 < end and buf[start + 1] == 0x0A:
        return start + 2
    if _FIELD_START.match(buf, start, min(end, start + 1000)) is None:
        return start
    # Search in growing windows: a CRLF message must not scan 50 MB looking for "\n\n".
    pos, window = start, 8192
    while True:
        stop = min(end, pos + window)
        crlf = buf.find(b"\n\r\n", pos, stop)
        lf = buf.find(b"\n\n", pos, stop if crlf < 0 else crlf + 1)
        if lf >= 0:
            return lf + 2
        if crlf >= 0:
            return crlf + 3
        if stop >= end:
            return end
        pos, window = stop - 2, window * 4


def as_buffer(raw: bytes | bytearray | memoryview | mmap.mmap) -> bytes | bytearray | mmap.mmap:
    """Something with find() and slicing, without copying when that can be avoided.

    A C-contiguous memoryview that covers all of a bytes/bytearray/mmap is replaced by that
    object; any other memoryview is copied once.
    """
    if isinstance(raw, memoryview):
        obj = raw.obj
        if isinstance(obj, bytes | bytearray | mmap.mmap) and raw.c_contiguous:
            try:
                if raw.nbytes == len(obj):
                    return obj
            except (ValueError, TypeError):  # a closed mmap
                pass
        return raw.tobytes()
    return raw


def header_block(raw: bytes | bytearray | memoryview | mmap.mmap) -> bytes:
    """The header of a message, including the empty line that ends it (IMAP BODY[HEADER])."""
    buf = as_buffer(raw)
    return bytes(buf[: find_body_start(buf, 0, len(buf))])


def decode_header_bytes(data: Buffer) -> str:
    """Decode a raw header block: UTF-8 (RFC 6532), else Latin-1 line by line; NULs dropped."""
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        lines = []
        for line in data.split(b"\n"):
            try:
                lines.append(line.decode("utf-8"))
            except UnicodeDecodeError:
                lines.append(line.decode("latin-1"))
        text = "\n".join(lines)
    if "\x00" in text:
        text = text.replace("\x00", "")
    return text


def parse_fields(text: str, *, only_message_fields: bool = False) -> dict[str, list[str]]:
    """Split a decoded header block into ``{lower-case name: [unfolded value, ...]}``.

    Values are unfolded (RFC 5322 §2.2.3: CRLF before WSP removed) and stripped of surrounding
    whitespace, but otherwise raw: RFC 2047 words stay encoded. Lines that are not fields
    are ignored. ``only_message_fields`` keeps only MESSAGE_FIELDS (faster).
    """
    fields: dict[str, list[str]] = {}
    for chunk in _FIELD_SPLIT.split(text):
        colon = chunk.find(":")
        if colon <= 0:
            continue
        # RFC 5322 §4.5.3 (obs-optional): WSP is allowed between the name and the colon.
        name = chunk[:colon].rstrip(" \t").lower()
        if only_message_fields:
            if name not in MESSAGE_FIELDS:
                continue
        elif not _FIELD_NAME.fullmatch(name):
            continue
        value = chunk[colon + 1 :]
        if "\n" in value:
            value = value.replace("\r\n", "").replace("\n", "")
        value = value.strip(" \t\r")
        got = fields.get(name)
        if got is None:
            fields[name] = [value]
        else:
            got.append(value)
    return fields


def get_header(raw_header_block: bytes | bytearray | str, name: str) -> list[str]:
    """All values of field ``name`` (case-insensitive), unfolded and raw, in header order."""
    text = raw_header_block
    if not isinstance(text, str):
        text = decode_header_bytes(text[:MAX_HEADER_OCTETS])
    return parse_fields(text).get(name.lower(), [])


# --- RFC 2047 encoded words --------------------------------------------------------------------

# RFC 2047 §2: encoded-word = "=?" charset "?" encoding "?" encoded-text "?="
# (RFC 2231 §5 allows "charset*language"). Spaces inside encoded-text are tolerated: some
# mailers produce them.
_ENCODED_WORD = re.compile(r"=\?([^?\s]+)\?([bBqQ])\?([^?]*)\?=")
_B64_WORD = re.compile(r"[A-Za-z0-9+/]*")


def _word_bytes(encoding: str, text: str) -> bytes | None:
    if encoding in "bB":
        # RFC 2047 §4.1: "B" is base64; tolerate missing padding.
        text = text.strip().rstrip("=")
        if not _B64_WORD.fullmatch(text):
            return None
        text += "=" * (-len(text) % 4)
        try:
            return binascii.a2b_base64(text.encode("ascii", "ignore"))
        except (binascii.Error, ValueError):
            return None
    # RFC 2047 §4.2: "Q" is quoted-printable with "_" for space.
    return binascii.a2b_qp(text.encode("utf-8"), header=True)


def decode_words(value: str) -> str:
    """Decode RFC 2047 encoded words in an (unfolded) header value; never raises.

    RFC 2047 §6.2: whitespace between two adjacent encoded words is dropped. Adjacent words in
    the same charset are joined before decoding, so a character split across words survives.
    """
    if "=?" not in value:
        return value
    out: list[str] = []
    pending: list[bytes] = []  # decoded octets of adjacent words in one charset
    pending_charset = ""
    pos = 0
    after_word = False
    for m in _ENCODED_WORD.finditer(value):
        gap = value[pos : m.start()]
        adjacent = after_word and not gap.strip(" \t")
        charset = m.group(1).split("*", 1)[0].lower()
        data = _word_bytes(m.group(2), m.group(3))
        if data is None:  # undecodable word: keep it as it is
            if pending:
                out.append(decode_bytes(b"".join(pending), pending_charset))
                pending = []
            out.append(value[pos : m.end()])
            pos, after_word = m.end(), False
            continue
        if pending and (not adjacent or charset != pending_charset):
            out.append(decode_bytes(b"".join(pending), pending_charset))
            pending = []
        if not adjacent:
            out.append(gap)
        pending.append(data)
        pending_charset = charset
        pos, after_word = m.end(), True
    if pending:
        out.append(decode_bytes(b"".join(pending), pending_charset))
    out.append(value[pos:])
    return "".join(out)


def decode_unstructured(value: str) -> str:
    """An unstructured field (Subject) for people: RFC 2047 decoded, no control characters."""
    text = decode_words(value)
    if not text.isprintable():
        text = "".join(c if c.isprintable() else " " for c in text)
    return text


# --- Dates: RFC 5322 §3.3 -----------------------------------------------------------------------

# date-time = [ day-of-week "," ] date time [CFWS]; date = day month year;
# time = hour ":" minute [ ":" second ] FWS zone. Names are matched loosely (RFC 5322 §4.3).
_DATE = re.compile(
    r"(?<!\d)(\d{1,2})\s*[-\s]\s*([A-Za-z]{3})[A-Za-z]*\.?\s*[-\s]\s*(\d{2,4})\s+"
    r"(\d{1,2}):(\d{1,2})(?::(\d{1,2}))?(?:\.\d+)?\s*([+-]\d{4}|[A-Za-z]{1,5})?"
)
_MONTHS = {
    m: i
    for i, m in enumerate(
        ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"), 1
    )
}
# RFC 5322 §4.3 obs-zone; military and unknown zones mean "-0000" (no information), taken as 0.
_ZONES = {"ut": 0, "utc": 0, "gmt": 0, "z": 0, "est": -5, "edt": -4, "cst": -6, "cdt": -5,
          "mst": -7, "mdt": -6, "pst": -8, "pdt": -7}  # fmt: skip


def _days_from_civil(y: int, m: int, d: int) -> int:
    """Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's algorithm)."""
    y -= m <= 2
    era = (y if y >= 0 else y - 399) // 400
    yoe = y - era * 400
    doy = (153 * (m + (-3 if m > 2 else 9)) + 2) // 5 + d - 1
    doe = yoe * 365 + yoe // 4 - yoe // 100 + doy
    return era * 146097 + doe - 719468


def parse_date(value: str | None) -> int | None:
    """Epoch seconds of an RFC 5322 date-time, or None when it cannot be understood."""
    if not value:
        return None
    m = _DATE.search(value)
    if m is not None:
        day, mon, year = int(m.group(1)), _MONTHS.get(m.group(2).lower()), int(m.group(3))
        hour, minute, sec = int(m.group(4)), int(m.group(5)), int(m.group(6) or 0)
        # RFC 5322 §4.3: two-digit years < 50 are 20xx, others 19xx; three digits add 1900.
        if len(m.group(3)) == 2:
            year += 2000 if year < 50 else 1900
        elif len(m.group(3)) == 3:
            year += 1900
        if mon and 1 <= day <= 31 and hour <= 23 and minute <= 59 and sec <= 60 and year >= 1:
            zone = m.group(7)
            if zone is None:
                offset = 0
            elif zone[0] in "+-":
                offset = int(zone[1:3]) * 3600 + int(zone[3:5]) * 60
                if zone[0] == "-":
                    offset = -offset
            else:
                offset = _ZONES.get(zone.lower(), 0) * 3600
            days = _days_from_civil(year, mon, day)
            return days * 86400 + hour * 3600 + minute * 60 + sec - offset
    try:
        t = parsedate_tz(value)
    except Exception:
        return None
    if t is None or not (1 <= t[1] <= 12 and 1 <= t[2] <= 31 and t[3] <= 23 and t[4] <= 59):
        return None
    try:
        days = _days_from_civil(t[0], t[1], t[2])
        return days * 86400 + t[3] * 3600 + t[4] * 60 + t[5] - (t[9] or 0)
    except Exception:
        return None


# --- Message identifiers: RFC 5322 §3.6.4 -------------------------------------------------------

_MSG_ID = re.compile(r"<([^<>]*)>")
_COMMENT = re.compile(r"\([^()]*\)")


def parse_msg_ids(value: str | None) -> tuple[str, ...]:
    """All ``<id>`` in a References / In-Reply-To value, normalised (no whitespace inside)."""
    if not value:
        return ()
    out = []
    for m in _MSG_ID.finditer(value):
        inner = "".join(m.group(1).split())
        if inner:
            out.append(f"<{inner}>")
    return tuple(out)


def parse_message_id(value: str | None) -> str | None:
    """The normalised ``<id>`` of a Message-ID value; a bare id without brackets is wrapped."""
    if not value:
        return None
    ids = parse_msg_ids(value)
    if ids:
        return ids[0]
    bare = "".join(_COMMENT.sub("", value).split())
    return f"<{bare}>" if bare else None
