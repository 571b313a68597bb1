"""Address lists (RFC 5322 §3.4), raw for the IMAP envelope and decoded for people.

`parse_address_list` returns the IMAP form (RFC 9051 §7.5.2, "address" in ENVELOPE): a list of
``[name, adl, mailbox, host]`` with None for NIL, and group syntax as the RFC asks: a group
starts with ``[None, None, group-name, None]`` and ends with ``[None, None, None, None]``.
Names stay raw (RFC 2047 words still encoded, quotes removed). A missing mailbox or domain is
given as "MISSING_MAILBOX" / "MISSING_DOMAIN" (Dovecot's convention), because a NIL host would
read as the start of a group.

The parser is forgiving: it takes whatever it can from garbage and never raises.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from postbus.mime.headers import decode_words

MISSING_MAILBOX = "MISSING_MAILBOX"
MISSING_DOMAIN = "MISSING_DOMAIN"
MAX_ADDRESSES = 1000
MAX_FIELD_CHARS = 64 * 1024  # of one address field; beyond it, addresses are not read

EnvelopeAddress = list  # [name, adl, mailbox, host], each str | None


@dataclass(frozen=True, slots=True)
class Address:
    """One mailbox, display name decoded (RFC 2047); host is "" when the address has none."""

    name: str
    mailbox: str
    host: str

    @property
    def email(self) -> str:
        return f"{self.mailbox}@{self.host}" if self.host else self.mailbox


# Fast path for the common shapes, separated by commas: `local@host`, `Name <local@host>`,
# `"Name, Quoted" <local@host>`. Anything else (groups, comments, routes) takes the full parser.
_ATEXT = r'[^<>@\s",:;()\\\[\]]+'
_FAST_ITEM = re.compile(
    r'[ \t]*(?:(?:"((?:[^"\\\r\n]|\\.)*)"|([^"<>,:;@()\\\[\]]*?))[ \t]*'
    rf"<({_ATEXT})@({_ATEXT})>|({_ATEXT})@({_ATEXT}))[ \t]*(?:,|$)"
)

# Tokens of RFC 5322 §3.2: quoted-string, domain-literal, specials; comments are scanned by hand.
_TOKEN = re.compile(
    r'[ \t\r\n]+|"((?:[^"\\]|\\.)*)"?|(\[(?:[^\[\]\\]|\\.)*\]?)|([<>,:;@.])|(\()'
    r'|([^ \t\r\n"\[\]()<>,:;@.\\]+|\\.?|[\])])',
    re.DOTALL,
)
_QUOTED_PAIR = re.compile(r"\\(.)", re.DOTALL)

# token kinds
_QS, _DL, _SP, _ATOM = 1, 2, 3, 4


def _comment_end(value: str, pos: int) -> int:
    """Offset after the comment whose "(" is at ``pos`` (RFC 5322 §3.2.2: comments nest)."""
    depth = 0
    n = len(value)
    while pos < n:
        c = value[pos]
        if c == "\\":
            pos += 2
            continue
        if c == "(":
            depth += 1
        elif c == ")":
            depth -= 1
            if depth == 0:
                return pos + 1
        pos += 1
    return n


def _tokenize(value: str) -> list[tuple[int, str, bool, str | None]]:
    """Tokens as (kind, text, space_before, last_comment_before)."""
    toks: list[tuple[int, str, bool, str | None]] = []
    pos, n = 0, len(value)
    space = False
    comment: str | None = None
    while pos < n:
        m = _TOKEN.match(value, pos)
        if m is None:  # cannot happen with this grammar, but never loop forever
            pos += 1
            continue
        if m.group(4) is not None:  # comment
            end = _comment_end(value, pos)
            comment = _QUOTED_PAIR.sub(r"\1", value[pos + 1 : end - 1]).strip()
            pos, space = end, True
            continue
        pos = m.end()
        if m.group(1) is not None:
            toks.append((_QS, _QUOTED_PAIR.sub(r"\1", m.group(1)), space, comment))
        elif m.group(2) is not None:
            toks.append((_DL, m.group(2), space, comment))
        elif m.group(3) is not None:
            toks.append((_SP, m.group(3), space, comment))
        elif m.group(5) is not None:
            toks.append((_ATOM, m.group(5), space, comment))
        else:
            space = True
            continue
        space = False
        comment = None
    if comment is not None:
        toks.append((_SP, "", True, comment))  # a trailing comment, kept for `a@b (Name)`
    return toks


def _phrase(toks: list) -> str | None:
    """RFC 5322 §3.2.5 phrase (and obs-phrase with "."): words joined by single spaces."""
    out: list[str] = []
    for _kind, text, space, _comment in toks:
        if not text:
            continue
        if out and space:
            out.append(" ")
        out.append(text)
    return "".join(out).strip() or None


def _addr_spec(toks: list) -> tuple[str | None, str | None]:
    """RFC 5322 §3.4.1 addr-spec = local-part "@" domain; the last "@" separates them."""
    at = -1
    for i, t in enumerate(toks):
        if t[0] == _SP and t[1] == "@":
            at = i
    local = toks if at < 0 else toks[:at]
    domain = [] if at < 0 else toks[at + 1 :]
    mailbox = "".join(t[1] for t in local).strip() or None
    host = "".join(t[1] for t in domain if t[0] != _SP or t[1] == ".").strip() or None
    return mailbox, host


def _mailbox(name: str | None, adl: str | None, spec: list) -> list[str | None]:
    mailbox, host = _addr_spec(spec)
    return [name, adl, mailbox or MISSING_MAILBOX, host or MISSING_DOMAIN]


def _angle(toks: list, i: int, n: int) -> tuple[str | None, list, int]:
    """Parse from after "<" to after ">": RFC 5322 §4.4 obs-route then addr-spec."""
    inner = []
    while i < n and not (toks[i][0] == _SP and toks[i][1] == ">"):
        inner.append(toks[i])
        i += 1
    adl = None
    # obs-route = obs-domain-list ":"  ("@a,@b:")
    if inner and inner[0][0] == _SP and inner[0][1] == "@":
        for j, t in enumerate(inner):
            if t[0] == _SP and t[1] == ":":
                adl = "".join(x[1] for x in inner[:j]) or None
                inner = inner[j + 1 :]
                break
    return adl, inner, i + 1


def _fast(value: str) -> list[list[str | None]] | None:
    out: list[list[str | None]] = []
    pos, n = 0, len(value)
    while pos < n:
        m = _FAST_ITEM.match(value, pos)
        if m is None:
            return None
        pos = m.end()
        if m.group(3) is not None:
            name = m.group(1)
            if name is None:
                name = m.group(2)
                if "  " in name:
                    name = " ".join(name.split())
            elif "\\" in name:
                name = _QUOTED_PAIR.sub(r"\1", name)
            out.append([name or None, None, m.group(3), m.group(4)])
        else:
            out.append([None, None, m.group(5), m.group(6)])
    return out


def parse_address_list(value: str | None) -> list[list[str | None]]:
    """An address-list / mailbox-list field value in IMAP envelope form (see module doc)."""
    if not value:
        return []
    if len(value) > MAX_FIELD_CHARS:
        value = value[:MAX_FIELD_CHARS]
    fast = _fast(value)
    if fast is not None:
        return fast[:MAX_ADDRESSES]
    toks = _tokenize(value)
    out: list[list[str | None]] = []
    phrase: list = []
    in_group = False
    skip = False  # after an angle-addr, ignore junk up to the next "," or ";"
    i, n = 0, len(toks)
    while i < n and len(out) < MAX_ADDRESSES:
        tok = toks[i]
        kind, text = tok[0], tok[1]
        if kind == _SP and text in ",;" and text:
            if phrase and not skip:
                comment = tok[3] or _last_comment(phrase)
                spec = [t for t in phrase if t[1]]
                if spec:
                    out.append(_mailbox(comment, None, spec))
            phrase, skip = [], False
            if text == ";" and in_group:
                out.append([None, None, None, None])  # RFC 9051 §7.5.2: end of group
                in_group = False
            i += 1
            continue
        if skip:
            i += 1
            continue
        if kind == _SP and text == "<":
            adl, inner, i = _angle(toks, i + 1, n)
            out.append(_mailbox(_phrase(phrase), adl, inner))
            phrase, skip = [], True
            continue
        if kind == _SP and text == ":" and not in_group and not any(t[1] == "@" for t in phrase):
            # RFC 5322 §3.4: group = display-name ":" [group-list] ";"
            out.append([None, None, _phrase(phrase) or "", None])
            phrase, in_group = [], True
            i += 1
            continue
        phrase.append(tok)
        i += 1
    if phrase and not skip and len(out) < MAX_ADDRESSES:
        comment = _last_comment(phrase)
        spec = [t for t in phrase if t[1]]
        if spec:
            out.append(_mailbox(comment, None, spec))
    if in_group:
        out.append([None, None, None, None])
    return out


def _last_comment(toks: list) -> str | None:
    for t in reversed(toks):
        if t[3]:
            return t[3]
    return None


def to_addresses(envelope_list: list[list[str | None]]) -> tuple[Address, ...]:
    """Decoded mailboxes of an envelope address list (group markers dropped)."""
    out = []
    for name, _adl, mailbox, host in envelope_list:
        if host is None:  # group start or end
            continue
        out.append(
            Address(
                name=decode_words(name) if name else "",
                mailbox="" if mailbox == MISSING_MAILBOX else (mailbox or ""),
                host="" if host == MISSING_DOMAIN else host,
            )
        )
    return tuple(out)
