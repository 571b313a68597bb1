"""Parsers of the second increment's commands (RFC 9051 §9 style, the ABNF above each):
MULTIAPPEND, REPLACE, COMPRESS, QUOTA, METADATA. ``grammar.py`` adds them to its tables.
"""

from __future__ import annotations

import re
from typing import Any

from postbus.imap.proto import commands as c
from postbus.imap.proto.errors import ParseError
from postbus.imap.proto.grammar import Args, flag_list, parse_date_time
from postbus.imap.proto.sequence import SequenceSet
from postbus.imap.proto.tokens import Atom, Spooled, String

MAX_APPEND_MESSAGES = 1000  # one MULTIAPPEND; each message is bounded by max_message_size
MAX_ENTRIES = 100  # entries named in one GETMETADATA / SETMETADATA
MAX_ENTRY_NAME = 1024
# RFC 5464 §3.2: "/private/..." or "/shared/..."; no wildcards, no empty level, no trailing "/"
_ENTRY = re.compile(r"/(private|shared)(/[\x21-\x24\x26-\x29\x2b-\x2e\x30-\x7e]+)*", re.I)


def append_message(a: Args) -> c.AppendPart:
    """append-message = append-opts SP append-data                         ; RFC 3502, 4466
    append-opts = [SP flag-list] [SP date-time]
    append-data = literal / literal8 / "UTF8" SP "(" literal8 ")"             ; RFC 6855 §4"""
    flags: tuple[str, ...] = ()
    date = None
    if isinstance(a.peek(), tuple):
        flags = flag_list(a.list())
    token = a.peek()
    if isinstance(token, String) and not token.literal:
        date = parse_date_time(a.string())
    message = a.take()
    if isinstance(message, Atom) and message.upper() == "UTF8":
        inner = a.list()
        if len(inner) != 1:
            raise ParseError("UTF8 needs one literal8")
        message = inner[0]
    if isinstance(message, Spooled):
        return c.AppendPart(flags, date, message, message.size)
    if not isinstance(message, String) or not message.literal:
        raise ParseError("APPEND needs the message as a literal")
    return c.AppendPart(flags, date, message.data, len(message.data))


def _append(tag: str, a: Args) -> c.Command:
    # append = "APPEND" SP mailbox 1*append-message                       ; RFC 3502 §6.3.11
    mailbox = a.mailbox()
    parts = [append_message(a)]
    while a.more():
        if len(parts) >= MAX_APPEND_MESSAGES:
            raise ParseError("Too many messages in one APPEND")
        parts.append(append_message(a))
    if len(parts) == 1:
        p = parts[0]
        return c.Append(tag, mailbox, p.flags, p.date, p.message, p.size)
    return c.MultiAppend(tag, mailbox, tuple(parts))


def _replace(uid: bool) -> Any:
    def parse(tag: str, a: Args) -> c.Command:
        # replace = "REPLACE" SP seq-number SP mailbox append-message       ; RFC 8508 §6
        # uid-replace = "UID" SP replace
        token = a.atom()
        if not token.isdigit() or token == "0" or len(token) > 10:
            raise ParseError("REPLACE needs one message number")
        sequence = SequenceSet.parse(token)
        mailbox = a.mailbox()
        part = append_message(a)
        a.end()
        return c.Replace(tag, uid, sequence, mailbox, part)

    return parse


def _compress(tag: str, a: Args) -> c.Command:
    # compress = "COMPRESS" SP algorithm ; algorithm = "DEFLATE"           ; RFC 4978 §4
    mechanism = a.atom().upper()
    a.end()
    return c.Compress(tag, mechanism)


def _getquota(tag: str, a: Args) -> c.Command:
    # getquota = "GETQUOTA" SP quota-root-name                              ; RFC 9208 §7
    root = a.astring()
    a.end()
    return c.GetQuota(tag, root)


def _getquotaroot(tag: str, a: Args) -> c.Command:
    # getquotaroot = "GETQUOTAROOT" SP mailbox
    mailbox = a.mailbox()
    a.end()
    return c.GetQuotaRoot(tag, mailbox)


def _setquota(tag: str, a: Args) -> c.Command:
    # setquota = "SETQUOTA" SP quota-root-name SP setquota-list
    # setquota-list = "(" [setquota-resource *(SP setquota-resource)] ")"
    # setquota-resource = resource-name SP resource-limit
    root = a.astring()
    inner = Args(a.list(), "SETQUOTA")
    a.end()
    limits = []
    while inner.more():
        limits.append((inner.atom().upper(), inner.number()))
    return c.SetQuota(tag, root, tuple(limits))


def entry_name(token: Any) -> str:
    """entry = astring: a slash-separated path under /private or /shared (RFC 5464 §3.2)."""
    if isinstance(token, Atom):
        name = str(token)
    elif isinstance(token, String) and not token.literal:
        name = token.text()
    else:
        raise ParseError("Invalid entry name")
    if len(name) > MAX_ENTRY_NAME or not _ENTRY.fullmatch(name):
        raise ParseError("Invalid entry name")
    return name.lower()


def _metadata_options(tokens: tuple[Any, ...]) -> tuple[int | None, int]:
    # getmetadata-option = "MAXSIZE" SP number / "DEPTH" SP ("0" / "1" / "infinity")
    opts = Args(tokens, "GETMETADATA")
    maxsize, depth = None, 0
    while opts.more():
        name = opts.atom().upper()
        if name == "MAXSIZE":
            maxsize = opts.number()
        elif name == "DEPTH":
            value = opts.atom().lower()
            if value not in ("0", "1", "infinity"):
                raise ParseError("DEPTH is 0, 1 or infinity")
            depth = -1 if value == "infinity" else int(value)
        else:
            raise ParseError("Unknown GETMETADATA option")
    return maxsize, depth


def _is_options(token: Any) -> bool:
    return (
        isinstance(token, tuple) and bool(token) and isinstance(token[0], Atom)
        and token[0].upper() in ("MAXSIZE", "DEPTH")
    )


def _getmetadata(tag: str, a: Args) -> c.Command:
    # getmetadata = "GETMETADATA" [SP getmetadata-options] SP mailbox SP entries  ; RFC 5464 §5
    # entries = entry / "(" entry *(SP entry) ")"
    # (the examples of RFC 5464 §4.2 put the options after the mailbox: both are taken)
    maxsize, depth = None, 0
    if _is_options(a.peek()):
        maxsize, depth = _metadata_options(a.list())
    mailbox = a.mailbox()
    if _is_options(a.peek()):
        maxsize, depth = _metadata_options(a.list())
    token = a.take()
    a.end()
    tokens = token if isinstance(token, tuple) else (token,)
    if not tokens or len(tokens) > MAX_ENTRIES:
        raise ParseError("GETMETADATA needs 1 to 100 entries")
    return c.GetMetadata(tag, mailbox, tuple(entry_name(t) for t in tokens), maxsize, depth)


def _setmetadata(tag: str, a: Args) -> c.Command:
    # setmetadata = "SETMETADATA" SP mailbox SP entry-values
    # entry-values = "(" entry-value *(SP entry-value) ")"
    # entry-value = entry SP value ; value = nstring / literal8
    mailbox = a.mailbox()
    pairs = a.list()
    a.end()
    if not pairs or len(pairs) % 2 or len(pairs) > 2 * MAX_ENTRIES:
        raise ParseError("SETMETADATA needs entry and value pairs")
    entries = []
    for name_token, value in zip(pairs[::2], pairs[1::2], strict=True):
        name = entry_name(name_token)
        if isinstance(value, Atom) and value.upper() == "NIL":
            entries.append((name, None))
        elif isinstance(value, String):
            entries.append((name, value.data))
        else:
            raise ParseError("Invalid entry value")
    return c.SetMetadata(tag, mailbox, tuple(entries))


def list_metadata(tokens: tuple[Any, ...]) -> tuple[tuple[str, ...], int | None]:
    # RFC 9590 §3: "METADATA" SP "(" [getmetadata-options SP] entries ")"; taken loosely:
    # the entries bare or as one list, MAXSIZE as an option list or bare, in any order
    inner = Args(tokens, "LIST METADATA")
    names: list[str] = []
    maxsize = None
    while inner.more():
        token = inner.take()
        if isinstance(token, tuple) and token and isinstance(token[0], Atom) and (
            token[0].upper() == "MAXSIZE"
        ):
            options = Args(token, "LIST METADATA")
            options.take()
            maxsize = options.number()
            options.end()
        elif isinstance(token, tuple):
            names += [entry_name(t) for t in token]
        elif isinstance(token, Atom) and token.upper() == "MAXSIZE":
            maxsize = inner.number()
        else:
            names.append(entry_name(token))
    if not names:
        raise ParseError("METADATA needs entries")
    return tuple(names), maxsize


EXTRA_PARSERS = {
    "APPEND": _append,
    "REPLACE": _replace(False),
    "COMPRESS": _compress,
    "GETQUOTA": _getquota,
    "GETQUOTAROOT": _getquotaroot,
    "SETQUOTA": _setquota,
    "GETMETADATA": _getmetadata,
    "SETMETADATA": _setmetadata,
}
EXTRA_UID_PARSERS = {"REPLACE": _replace(True)}
