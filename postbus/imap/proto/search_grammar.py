"""SEARCH keys (RFC 9051 §6.4.4) -> a tree of ``SearchKey``.

    search          = "SEARCH" [search-return-opts] [SP "CHARSET" SP charset]
                      1*(SP search-key)
    search-return-opts = SP "RETURN" SP "(" [search-return-opt *(SP search-return-opt)] ")"
    search-return-opt  = "MIN" / "MAX" / "ALL" / "COUNT" / "SAVE"
    search-key      = "ALL" / "ANSWERED" / "BCC" SP astring / "BEFORE" SP date /
                      "BODY" SP astring / "CC" SP astring / "DELETED" / "FLAGGED" /
                      "FROM" SP astring / "KEYWORD" SP flag-keyword / "ON" SP date /
                      "SEEN" / "SINCE" SP date / "SUBJECT" SP astring / "TEXT" SP astring /
                      "TO" SP astring / "UNANSWERED" / "UNDELETED" / "UNFLAGGED" /
                      "UNKEYWORD" SP flag-keyword / "UNSEEN" / "DRAFT" /
                      "HEADER" SP header-fld-name SP astring / "LARGER" SP number64 /
                      "NOT" SP search-key / "OR" SP search-key SP search-key /
                      "SENTBEFORE" SP date / "SENTON" SP date / "SENTSINCE" SP date /
                      "SMALLER" SP number64 / "UID" SP sequence-set / "UNDRAFT" /
                      sequence-set / "(" search-key *(SP search-key) ")"
                      ; RFC 3501 also: "NEW" / "OLD" / "RECENT"
                      ; RFC 8514: "SAVEDBEFORE" / "SAVEDON" / "SAVEDSINCE" SP date /
                      ;           "SAVEDATESUPPORTED"
                      ; RFC 8474: "EMAILID" SP objectid / "THREADID" SP objectid
    search-key      =/ "MODSEQ" [SP entry-name SP entry-type-req] SP mod-sequence-valzer
                      ; RFC 7162 §3.1.5
    search-key      =/ "OLDER" SP nz-number / "YOUNGER" SP nz-number   ; RFC 5032 §3
    sequence-set    =/ "$"                                          ; RFC 5182 §3
    date            = date-text / DQUOTE date-text DQUOTE
    date-text       = date-day "-" date-month "-" date-year
"""

from __future__ import annotations

import calendar
import re
from typing import Any

from postbus.imap.proto.commands import SearchKey
from postbus.imap.proto.errors import ImapNo, ParseError
from postbus.imap.proto.sequence import SequenceSet
from postbus.imap.proto.tokens import Atom, String

MAX_DEPTH = 64
FLAG_KEYS = frozenset(
    {"ALL", "ANSWERED", "DELETED", "FLAGGED", "SEEN", "DRAFT", "UNANSWERED", "UNDELETED",
     "UNFLAGGED", "UNSEEN", "UNDRAFT", "NEW", "OLD", "RECENT", "SAVEDATESUPPORTED"}
)
STRING_KEYS = frozenset({"BCC", "BODY", "CC", "FROM", "SUBJECT", "TEXT", "TO"})
DATE_KEYS = frozenset(
    {"BEFORE", "ON", "SINCE", "SENTBEFORE", "SENTON", "SENTSINCE",
     "SAVEDBEFORE", "SAVEDON", "SAVEDSINCE"}
)
OBJECTID_KEYS = frozenset({"EMAILID", "THREADID"})
_OBJECTID = re.compile(r"[A-Za-z0-9_-]{1,255}")  # objectid = 1*255(ALPHA / DIGIT / "_" / "-")
RETURN_OPTIONS = frozenset({"MIN", "MAX", "ALL", "COUNT", "SAVE"})  # SAVE: RFC 5182 §2.1
ENTRY_TYPES = frozenset({"PRIV", "SHARED", "ALL"})
MAX_MODSEQ = 2**63 - 1
CHARSETS = frozenset({"UTF-8", "US-ASCII"})
_MONTHS = {m: i for i, m in enumerate(
    ("JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC"), 1)}
_DATE = re.compile(r"(\d{1,2})-([A-Za-z]{3})-(\d{4})")


def parse_date(token: Any) -> int:
    """A search date -> epoch seconds of that day's start, UTC."""
    text = token.text() if isinstance(token, String) else str(token)
    m = _DATE.fullmatch(text)
    if m is None or m[2].upper() not in _MONTHS or not 1 <= int(m[1]) <= 31:
        raise ParseError("Invalid date")
    return calendar.timegm((int(m[3]), _MONTHS[m[2].upper()], int(m[1]), 0, 0, 0))


def _astring(token: Any) -> str:
    if isinstance(token, Atom):
        return str(token)
    if isinstance(token, String):
        return token.text()
    raise ParseError("Expected a string")


class _Keys:
    def __init__(self, tokens: Any) -> None:
        self.tokens = tokens
        self.i = 0

    def take(self) -> Any:
        if self.i >= len(self.tokens):
            raise ParseError("Incomplete search key")
        token = self.tokens[self.i]
        self.i += 1
        return token

    def key(self, depth: int) -> SearchKey:
        if depth > MAX_DEPTH:
            raise ParseError("Search too deeply nested")
        token = self.take()
        if isinstance(token, tuple):
            inner = _Keys(token)
            keys = []
            while inner.i < len(token):
                keys.append(inner.key(depth + 1))
            if not keys:
                raise ParseError("Empty search list")
            return keys[0] if len(keys) == 1 else SearchKey("AND", tuple(keys))
        if not isinstance(token, Atom):
            raise ParseError("Expected a search key")
        name = token.upper()
        if name in FLAG_KEYS:
            return SearchKey(name)
        if name in STRING_KEYS:
            return SearchKey(name, (_astring(self.take()),))
        if name in DATE_KEYS:
            return SearchKey(name, (parse_date(self.take()),))
        if name in OBJECTID_KEYS:
            value = self.take()
            if not isinstance(value, Atom) or not _OBJECTID.fullmatch(value):
                raise ParseError("Expected an object id")
            return SearchKey(name, (str(value),))
        if name in ("KEYWORD", "UNKEYWORD"):
            return SearchKey(name, (_astring(self.take()),))
        if name == "HEADER":
            field = _astring(self.take())
            return SearchKey(name, (field, _astring(self.take())))
        if name in ("LARGER", "SMALLER"):
            value = self.take()
            if not isinstance(value, Atom) or not value.isdigit() or len(value) > 19:
                raise ParseError("Expected a number")
            return SearchKey(name, (int(value),))
        if name == "NOT":
            return SearchKey(name, (self.key(depth + 1),))
        if name == "OR":
            left = self.key(depth + 1)
            return SearchKey(name, (left, self.key(depth + 1)))
        if name == "MODSEQ":  # RFC 7162 §3.1.5; the entry name/type are accepted, not used
            value = self.take()
            if isinstance(value, String):
                kind = self.take()
                if not isinstance(kind, Atom) or kind.upper() not in ENTRY_TYPES:
                    raise ParseError("Invalid MODSEQ entry type")
                value = self.take()
            if not isinstance(value, Atom) or not value.isdigit() or len(value) > 19:
                raise ParseError("Expected a mod-sequence")
            if int(value) > MAX_MODSEQ:
                raise ParseError("Mod-sequence out of range")
            return SearchKey(name, (int(value),))
        if name in ("OLDER", "YOUNGER"):  # RFC 5032 §3: an interval in seconds
            value = self.take()
            if not isinstance(value, Atom) or not value.isdigit() or len(value) > 10:
                raise ParseError("Expected a number of seconds")
            if int(value) == 0:
                raise ParseError("The interval must not be zero")
            return SearchKey(name, (int(value),))
        if name == "UID":
            value = self.take()
            if not isinstance(value, Atom):
                raise ParseError("Expected a sequence set")
            return SearchKey(name, (SequenceSet.parse(value),))
        if name[:1].isdigit() or name[:1] in ("*", "$"):
            return SearchKey("SEQ", (SequenceSet.parse(name),))
        raise ParseError(f"Unknown search key {name[:30]}")


def parse_return_options(tokens: tuple[Any, ...]) -> tuple[str, ...]:
    """search-return-opts (RFC 4731 §3.1; SAVE of RFC 5182 §2.1), upper case."""
    opts = []
    for opt in tokens:
        if not isinstance(opt, Atom) or opt.upper() not in RETURN_OPTIONS:
            raise ParseError("Unknown search return option")
        if opt.upper() not in opts:
            opts.append(opt.upper())
    return tuple(opts) or ("ALL",)  # RFC 4731 §3.1: "RETURN ()" means ALL


def leading_returns(tokens: Any) -> tuple[tuple[str, ...] | None, int]:
    """RFC 4731 §3 / RFC 5267 §3: an optional "RETURN (options)" first; (options, next index)."""
    if tokens and isinstance(tokens[0], Atom) and tokens[0].upper() == "RETURN":
        if len(tokens) < 2 or not isinstance(tokens[1], tuple):
            raise ParseError("RETURN needs a list")
        return parse_return_options(tokens[1]), 2
    return None, 0


def parse_search(
    tokens: Any,
) -> tuple[tuple[str, ...] | None, str | None, SearchKey]:
    """(RETURN options or None, charset, key) of the arguments of SEARCH."""
    returns, i = leading_returns(tokens)
    charset = None
    if i < len(tokens) and isinstance(tokens[i], Atom) and tokens[i].upper() == "CHARSET":
        if i + 1 >= len(tokens):
            raise ParseError("CHARSET needs a name")
        charset = _astring(tokens[i + 1]).upper()
        i += 2
        if charset not in CHARSETS:
            raise ImapNo("Unsupported charset", "BADCHARSET (UTF-8 US-ASCII)")
    keys = _Keys(tokens[i:])
    found = []
    while keys.i < len(keys.tokens):
        found.append(keys.key(0))
    if not found:
        raise ParseError("SEARCH needs a key")
    key = found[0] if len(found) == 1 else SearchKey("AND", tuple(found))
    return returns, charset, key
