"""Modified UTF-7 mailbox names (RFC 3501 §5.1.3), for IMAP4rev1 clients.

IMAP4rev2 (RFC 9051 §5.1) and UTF8=ACCEPT (RFC 6855 §3) sessions use UTF-8 instead.

    - printable US-ASCII except "&" stands for itself; "&" is written "&-";
    - other characters are UTF-16, base64 with "," for "/", between "&" and "-".
"""

from __future__ import annotations

import base64
import re

_RUN = re.compile(r"[^\x20-\x7e]+|&")
_SHIFT = re.compile(r"&([^-]*)-")
_B64 = re.compile(r"[A-Za-z0-9+,]*")


class MUTF7Error(ValueError):
    pass


def _encode_run(match: re.Match[str]) -> str:
    if match[0] == "&":
        return "&-"
    data = match[0].encode("utf-16-be", "surrogatepass")
    return "&" + base64.b64encode(data).decode("ascii").rstrip("=").replace("/", ",") + "-"


def encode(name: str) -> str:
    """A Unicode name in modified UTF-7."""
    return _RUN.sub(_encode_run, name)


def decode(text: str) -> str:
    """Modified UTF-7 -> Unicode. Refuses what no conforming client sends."""
    if any(not 0x20 <= ord(ch) <= 0x7E for ch in text):
        raise MUTF7Error("8-bit characters in a modified UTF-7 name")
    out = []
    pos = 0
    for m in _SHIFT.finditer(text):
        out.append(text[pos : m.start()])
        pos = m.end()
        body = m[1]
        if not body:
            out.append("&")
            continue
        if not _B64.fullmatch(body) or len(body) % 4 == 1:
            raise MUTF7Error("invalid modified base64")
        raw = base64.b64decode(body.replace(",", "/") + "=" * (-len(body) % 4))
        if len(raw) % 2:
            raise MUTF7Error("odd number of UTF-16 octets")
        try:
            decoded = raw.decode("utf-16-be")
        except UnicodeDecodeError as exc:
            raise MUTF7Error("invalid UTF-16") from exc
        if any(0x20 <= ord(ch) <= 0x7E for ch in decoded):
            raise MUTF7Error("printable ASCII must not be encoded")
        out.append(decoded)
    rest = text[pos:]
    if "&" in rest:
        raise MUTF7Error("unterminated shift")
    out.append(rest)
    return "".join(out)
