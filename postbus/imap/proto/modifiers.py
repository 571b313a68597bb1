"""CONDSTORE / QRESYNC parameters and modifiers (RFC 7162 §7, RFC 4466 §2).

Each function takes the tokens the receiver produced (atoms, strings, lists) and returns
values for the command dataclasses, or raises ``ParseError``; ``grammar.py`` calls them.

    select-param     = "CONDSTORE" / "QRESYNC" SP "(" uidvalidity SP mod-sequence-value
                       [SP known-uids] [SP seq-match-data] ")"       ; RFC 7162 §7
    seq-match-data   = "(" known-sequence-set SP known-uid-set ")"
    fetch-modifier   = "CHANGEDSINCE" SP mod-sequence-value / "VANISHED"
    store-modifier   = "UNCHANGEDSINCE" SP mod-sequence-valzer
    mod-sequence-value = 1*DIGIT   ; 1 .. 2^63-1
    mod-sequence-valzer = "0" / mod-sequence-value
"""

from __future__ import annotations

from typing import Any

from postbus.imap.proto.commands import Qresync
from postbus.imap.proto.errors import ParseError
from postbus.imap.proto.sequence import SequenceSet
from postbus.imap.proto.tokens import Atom

MAX_MODSEQ = 2**63 - 1


def modseq(token: Any, zero: bool = False) -> int:
    """mod-sequence-value (or -valzer when ``zero``)."""
    if not isinstance(token, Atom) or not token.isdigit() or len(token) > 19:
        raise ParseError("Expected a mod-sequence")
    value = int(token)
    if value > MAX_MODSEQ or (value == 0 and not zero):
        raise ParseError("Mod-sequence out of range")
    return value


def _number(token: Any) -> int:
    if not isinstance(token, Atom) or not token.isdigit() or len(token) > 10:
        raise ParseError("Expected a number")
    value = int(token)
    if not 0 < value <= 0xFFFFFFFF:
        raise ParseError("Number out of range")
    return value


def _uid_set(token: Any) -> SequenceSet:
    """known-uids: a sequence-set in which "*" and "$" are not allowed (RFC 7162 §7)."""
    if not isinstance(token, Atom) or "*" in token or "$" in token:
        raise ParseError("Expected a UID set")
    return SequenceSet.parse(token)


def parse_select_params(tokens: tuple[Any, ...]) -> tuple[bool, Qresync | None]:
    """(CONDSTORE asked, QRESYNC parameters) of a SELECT/EXAMINE parameter list."""
    condstore = False
    qresync = None
    i = 0
    while i < len(tokens):
        name = tokens[i]
        if not isinstance(name, Atom):
            raise ParseError("Invalid SELECT parameter")
        upper = name.upper()
        if upper == "CONDSTORE":
            condstore = True
            i += 1
        elif upper == "QRESYNC" and qresync is None:
            if i + 1 >= len(tokens) or not isinstance(tokens[i + 1], tuple):
                raise ParseError("QRESYNC needs a parameter list")
            qresync = _qresync(tokens[i + 1])
            i += 2
        else:
            raise ParseError("Unknown SELECT parameter")
    return condstore, qresync


def _qresync(params: tuple[Any, ...]) -> Qresync:
    if not 2 <= len(params) <= 4:
        raise ParseError("Invalid QRESYNC parameters")
    uidvalidity = _number(params[0])
    value = modseq(params[1])
    known = None
    match = None
    rest = list(params[2:])
    if rest and isinstance(rest[0], Atom):
        known = _uid_set(rest.pop(0))
    if rest:
        pair = rest.pop(0)
        if not isinstance(pair, tuple) or len(pair) != 2:
            raise ParseError("Invalid QRESYNC sequence match data")
        seqs, uids = _uid_set(pair[0]), _uid_set(pair[1])
        match = (seqs, uids)
    if rest:
        raise ParseError("Invalid QRESYNC parameters")
    return Qresync(uidvalidity, value, known, match)


def parse_fetch_modifiers(tokens: tuple[Any, ...], uid: bool) -> tuple[int | None, bool]:
    """(CHANGEDSINCE value, VANISHED asked) of a FETCH modifier list."""
    changedsince = None
    vanished = False
    i = 0
    while i < len(tokens):
        token = tokens[i]
        name = token.upper() if isinstance(token, Atom) else ""
        if name == "CHANGEDSINCE" and changedsince is None and i + 1 < len(tokens):
            changedsince = modseq(tokens[i + 1])
            i += 2
        elif name == "VANISHED" and not vanished:
            vanished = True
            i += 1
        else:
            raise ParseError("Unknown FETCH modifier")
    if vanished and not uid:
        raise ParseError("VANISHED is only for UID FETCH")  # RFC 7162 §3.2.6
    if vanished and changedsince is None:
        raise ParseError("VANISHED needs CHANGEDSINCE")  # RFC 7162 §3.2.6
    return changedsince, vanished


def parse_store_modifiers(tokens: tuple[Any, ...]) -> int:
    """The UNCHANGEDSINCE value of a STORE modifier list (RFC 7162 §3.1.3)."""
    if (
        len(tokens) != 2
        or not isinstance(tokens[0], Atom)
        or tokens[0].upper() != "UNCHANGEDSINCE"
    ):
        raise ParseError("Unknown STORE modifier")
    return modseq(tokens[1], zero=True)
