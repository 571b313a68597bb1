"""Charset and content-transfer-encoding decoding that never raises.

Charset labels are mapped the way mail readers do in practice (WHATWG Encoding Standard
aliases for the common mislabels: ISO-8859-1 and US-ASCII are read as windows-1252 when the
octets are not valid UTF-8, GB2312 as GB18030, KS_C_5601-1987 as CP949). Unknown or unusable
labels fall back to UTF-8 and, when that finds invalid octets, to Latin-1. Codecs that are not
character sets (unicode_escape, base64_codec, ...) are refused.
"""

from __future__ import annotations

import binascii
import codecs
import re
from functools import lru_cache

_ALIASES = {
    "iso-8859-1": "cp1252",
    "iso8859-1": "cp1252",
    "latin1": "cp1252",
    "latin-1": "cp1252",
    # "guess": UTF-8 if valid, else Latin-1/windows-1252 (mislabelled 8-bit text)
    "us-ascii": "guess",
    "ascii": "guess",
    "ansi_x3.4-1968": "guess",
    "gb2312": "gb18030",
    "gbk": "gb18030",
    "x-gbk": "gb18030",
    "ks_c_5601-1987": "cp949",
    "euc-kr": "cp949",
    "x-sjis": "shift_jis",
    "x-user-defined": "latin-1",
    "unknown-8bit": "guess",
    "x-unknown": "guess",
    "unknown": "guess",
    "utf8": "utf-8",
    "tis-620": "cp874",
    "windows-874": "cp874",
}
# Codecs that accept bytes but are not character sets, or that can produce lone surrogates.
_REFUSED = {
    "unicode_escape",
    "raw_unicode_escape",
    "undefined",
    "idna",
    "punycode",
    "mbcs",
    "oem",
}
_GUESS = "guess"


@lru_cache(maxsize=256)
def codec_for(charset: str | None) -> str | None:
    """The Python codec name for a MIME charset label, or None if unknown/unusable."""
    if not charset:
        return None
    label = charset.strip().strip('"').lower()
    label = _ALIASES.get(label, label)
    if label == _GUESS:
        return _GUESS
    try:
        info = codecs.lookup(label)
    except (LookupError, ValueError):
        return None
    if not getattr(info, "_is_text_encoding", True) or info.name in _REFUSED:
        return None
    return info.name


def decode_bytes(data: bytes, charset: str | None, *, truncated: bool = False) -> str:
    """Decode ``data`` labelled ``charset``; never raises.

    UTF-8 (and unknown labels) are tried strictly first and fall back to Latin-1 so that
    unlabelled legacy text stays readable. ``truncated`` says ``data`` was cut at an arbitrary
    octet, so an incomplete final UTF-8 sequence is dropped rather than treated as an error.
    """
    codec = codec_for(charset) or _GUESS
    if codec in ("utf-8", "cp1252", _GUESS):
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError as e:
            if truncated and e.start >= len(data) - 3 and e.reason == "unexpected end of data":
                text = data[: e.start].decode("utf-8", "replace")
            elif codec == "utf-8" or (codec == _GUESS and _mostly_utf8(data, e.start)):
                text = data.decode("utf-8", "replace")
            else:
                text = data.decode("cp1252", "replace")
    else:
        try:
            text = data.decode(codec, "replace")
        except Exception:
            text = data.decode("utf-8", "replace")
        if not _is_encodable(text):
            text = text.encode("utf-8", "replace").decode("utf-8")
    if "\x00" in text:
        text = text.replace("\x00", "")
    return text


def _mostly_utf8(data: bytes, first_error: int) -> bool:
    """True when valid multi-byte UTF-8 precedes the first invalid octet (mixed content)."""
    return any(b >= 0x80 for b in data[:first_error])


def _is_encodable(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


# --- Content-Transfer-Encoding: RFC 2045 §6 ------------------------------------------------------

_NOT_BASE64 = re.compile(rb"[^A-Za-z0-9+/]")


def decode_transfer(data: bytes, encoding: str | None) -> bytes:
    """Undo a content-transfer-encoding; bad base64/QP is decoded as far as possible."""
    enc = (encoding or "").lower()
    if enc == "base64":  # RFC 2045 §6.8
        try:
            return binascii.a2b_base64(data)
        except (binascii.Error, ValueError):
            # RFC 2045 §6.8: characters outside the alphabet are ignored; decode what is whole.
            clean = _NOT_BASE64.sub(b"", data)
            clean = clean[: len(clean) - len(clean) % 4]
            try:
                return binascii.a2b_base64(clean)
            except (binascii.Error, ValueError):
                return b""
    if enc == "quoted-printable":  # RFC 2045 §6.7
        try:
            return binascii.a2b_qp(data)
        except (binascii.Error, ValueError):
            return data
    return data  # 7bit, 8bit, binary (RFC 2045 §6.2) and unknown encodings
