"""MIME field values with parameters: Content-Type, Content-Disposition (RFC 2045, 2183, 2231).

Parameter names are lower-cased. RFC 2231 continuations (``name*0``, ``name*1*``...) are joined
into one parameter, as RFC 2231 §3 asks of IMAP servers generating BODYSTRUCTURE; a joined
encoded value is kept under ``name*`` in its ``charset'language'%XX`` form. `param_value`
returns the value for people: RFC 2231 decoded, or RFC 2047 decoded for the many mailers that
(wrongly) put encoded words in quoted parameters.
"""

from __future__ import annotations

import re
from urllib.parse import unquote_to_bytes

from postbus.mime.charsets import decode_bytes
from postbus.mime.headers import decode_words

# RFC 2045 §5.1: token := 1*<any (US-ASCII) CHAR except SPACE, CTLs, or tspecials>
_TOKEN = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")
# parameter := attribute "=" value; value := token / quoted-string. Unquoted values are taken up
# to the next ";" (mailers put spaces in them).
_PARAM = re.compile(r';\s*([^\s=;"]+)\s*=\s*(?:"((?:[^"\\]|\\.)*)"?|([^;]*))', re.DOTALL)
_QUOTED_PAIR = re.compile(r"\\(.)", re.DOTALL)
_SECTION = re.compile(r"(.+?)\*(\d+)(\*?)")
MAX_PARAMS = 64


def parse_params(text: str) -> dict[str, str]:
    """Parameters of a field value starting at its first ";" (the part before is ignored)."""
    start = text.find(";")
    if start < 0:
        return {}
    raw: dict[str, str] = {}
    for m in _PARAM.finditer(text, start):
        name = m.group(1).lower()
        if m.group(2) is not None:
            value = m.group(2)
            if "\\" in value:
                value = _QUOTED_PAIR.sub(r"\1", value)
        else:
            value = m.group(3).strip()
        if name not in raw:  # the first occurrence wins
            raw[name] = value
            if len(raw) >= MAX_PARAMS:
                break
    if any("*" in k for k in raw):
        return _join_continuations(raw)
    return raw


def _join_continuations(raw: dict[str, str]) -> dict[str, str]:
    """RFC 2231 §3: name*0, name*1... (each maybe "*"-encoded, §4.1) become one parameter.

    The joined parameter takes the place of its first section; the order is kept.
    """
    sections: dict[str, list[tuple[int, str, bool]]] = {}
    for name, value in raw.items():
        m = _SECTION.fullmatch(name)
        if m is not None:
            sections.setdefault(m.group(1), []).append((int(m.group(2)), value, bool(m.group(3))))
    out: dict[str, str] = {}
    for name, value in raw.items():
        m = _SECTION.fullmatch(name)
        if m is None:
            out.setdefault(name, value)
            continue
        parts = sections.pop(m.group(1), None)
        if parts is None:  # already joined
            continue
        parts.sort()
        if parts[0][2]:  # first section encoded: charset'lang'%XX...
            joined = "".join(v if enc else _percent(v) for _, v, enc in parts)
            out.setdefault(m.group(1) + "*", joined)
        else:
            out.setdefault(m.group(1), "".join(v for _, v, _ in parts))
    return out


def _percent(value: str) -> str:
    return "".join(c if c.isalnum() or c in "-_.~!" else f"%{ord(c):02X}" for c in value)


def param_value(params: dict[str, str], name: str) -> str | None:
    """The decoded value of parameter ``name`` (RFC 2231 §4, else RFC 2047), or None."""
    ext = params.get(name + "*")
    if ext is not None:
        charset, sep, rest = ext.partition("'")
        if sep:
            _lang, _, encoded = rest.partition("'")
        else:
            charset, encoded = "", ext
        return decode_bytes(unquote_to_bytes(encoded), charset or "utf-8")
    value = params.get(name)
    if value is None:
        return None
    return decode_words(value)


_CACHE: dict[tuple[str, tuple[str, str] | None], tuple[str, str, dict[str, str]]] = {}
_CACHE_SIZE = 2048


def _cached(key: tuple[str, tuple[str, str] | None]) -> tuple[str, str, dict[str, str]] | None:
    hit = _CACHE.get(key)
    if hit is None:
        return None
    return hit[0], hit[1], dict(hit[2])  # a copy: callers own their params


def _remember(key: tuple[str, tuple[str, str] | None], value: tuple) -> None:
    if len(_CACHE) >= _CACHE_SIZE:
        _CACHE.clear()
    _CACHE[key] = (value[0], value[1], dict(value[2]))


def parse_content_type(
    value: str | None, default: tuple[str, str]
) -> tuple[str, str, dict[str, str]]:
    """RFC 2045 §5.1 Content-Type -> (type, subtype, params), lower-cased.

    RFC 2045 §5.2: a missing or syntactically invalid Content-Type means the default
    (text/plain; charset=us-ascii, or message/rfc822 inside multipart/digest).
    Results are memoised: the same few values ("text/plain; charset=utf-8") recur constantly.
    """
    if value:
        key = (value, default)
        hit = _cached(key)
        if hit is not None:
            return hit
        head = value.split(";", 1)[0]
        main, slash, sub = head.partition("/")
        main, sub = main.strip(), sub.strip()
        if slash and _TOKEN.fullmatch(main) and _TOKEN.fullmatch(sub):
            result = main.lower(), sub.lower(), parse_params(value)
            if len(value) < 200:
                _remember(key, result)
            return result
    if default == ("text", "plain"):
        return "text", "plain", {"charset": "us-ascii"}
    return default[0], default[1], {}


def parse_disposition(value: str | None) -> tuple[str | None, dict[str, str]]:
    """RFC 2183 §2 Content-Disposition -> (lower-case type or None, params)."""
    if not value:
        return None, {}
    key = (value, None)
    hit = _cached(key)
    if hit is not None:
        return hit[0] or None, hit[2]
    head = value.split(";", 1)[0].strip()
    kind = head.lower() if _TOKEN.fullmatch(head) else None
    params = parse_params(value)
    if len(value) < 200:
        _remember(key, (kind or "", "", params))
    return kind, params
