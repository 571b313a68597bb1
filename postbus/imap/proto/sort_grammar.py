"""SORT and THREAD (RFC 5256 §5), SORT=DISPLAY keys (RFC 5957 §4), ESORT RETURN (RFC 5267 §3.2).

    sort             = ["UID" SP] "SORT" [search-return-opts] SP sort-criteria SP
                       search-charset 1*(SP search-key)
    sort-criteria    = "(" sort-criterion *(SP sort-criterion) ")"
    sort-criterion   = ["REVERSE" SP] sort-key
    sort-key         = "ARRIVAL" / "CC" / "DATE" / "FROM" / "SIZE" / "SUBJECT" / "TO"
                       / "DISPLAYFROM" / "DISPLAYTO"
    thread           = ["UID" SP] "THREAD" SP thread-alg SP search-charset 1*(SP search-key)
    thread-alg       = "ORDEREDSUBJECT" / "REFERENCES" / atom

``grammar.py`` adds ``SORT_PARSERS`` / ``SORT_UID_PARSERS`` to its tables.
"""

from __future__ import annotations

from typing import Any

from postbus.imap.proto import commands as c
from postbus.imap.proto.errors import ImapNo, ParseError
from postbus.imap.proto.grammar import Args, Parser
from postbus.imap.proto.search_grammar import CHARSETS, leading_returns, parse_search
from postbus.imap.proto.tokens import Atom, String

SORT_KEYS = frozenset(
    {"ARRIVAL", "CC", "DATE", "FROM", "SIZE", "SUBJECT", "TO", "DISPLAYFROM", "DISPLAYTO"}
)
THREAD_ALGORITHMS = frozenset({"REFERENCES", "ORDEREDSUBJECT"})


def _charset(token: Any) -> str:
    if isinstance(token, Atom):
        charset = token.upper()
    elif isinstance(token, String):
        charset = token.text().upper()
    else:
        raise ParseError("Expected a charset")
    if charset not in CHARSETS:
        raise ImapNo("Unsupported charset", "BADCHARSET (UTF-8 US-ASCII)")
    return charset


def parse_sort(
    tokens: list[Any] | tuple[Any, ...],
) -> tuple[tuple[str, ...] | None, tuple[tuple[str, bool], ...], str, c.SearchKey]:
    """(RETURN options, criteria, charset, key) of the arguments of SORT."""
    returns, i = leading_returns(tokens)
    if i >= len(tokens) or not isinstance(tokens[i], tuple) or not tokens[i]:
        raise ParseError("SORT needs a list of sort criteria")
    criteria: list[tuple[str, bool]] = []
    reverse = False
    for token in tokens[i]:
        name = token.upper() if isinstance(token, Atom) else ""
        if name == "REVERSE" and not reverse:
            reverse = True
            continue
        if name not in SORT_KEYS:
            raise ParseError("Unknown sort criterion")
        criteria.append((name, reverse))
        reverse = False
    if reverse or not criteria:
        raise ParseError("REVERSE needs a sort key")
    if i + 1 >= len(tokens):
        raise ParseError("SORT needs a charset")
    charset = _charset(tokens[i + 1])
    _, _, key = parse_search(tokens[i + 2 :])
    return returns, tuple(criteria), charset, key


def parse_thread(tokens: list[Any] | tuple[Any, ...]) -> tuple[str, str, c.SearchKey]:
    """(algorithm, charset, key) of the arguments of THREAD."""
    if len(tokens) < 3 or not isinstance(tokens[0], Atom):
        raise ParseError("THREAD needs an algorithm, a charset and search keys")
    algorithm = tokens[0].upper()
    if algorithm not in THREAD_ALGORITHMS:
        raise ParseError("Unknown threading algorithm")
    charset = _charset(tokens[1])
    _, _, key = parse_search(tokens[2:])
    return algorithm, charset, key


def _sort(uid: bool) -> Parser:
    def parse(tag: str, a: Args) -> c.Command:
        returns, criteria, charset, key = parse_sort(a.tokens[a.i :])
        return c.Sort(tag, uid, criteria, charset, key, returns)

    return parse


def _thread(uid: bool) -> Parser:
    def parse(tag: str, a: Args) -> c.Command:
        algorithm, charset, key = parse_thread(a.tokens[a.i :])
        return c.Thread(tag, uid, algorithm, charset, key)

    return parse


SORT_PARSERS: dict[str, Parser] = {"SORT": _sort(False), "THREAD": _thread(False)}
SORT_UID_PARSERS: dict[str, Parser] = {"SORT": _sort(True), "THREAD": _thread(True)}
