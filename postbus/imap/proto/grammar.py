"""Tokens -> typed commands: one small parser per command, the RFC 9051 §9 ABNF above each.

The receiver has already split the command into atoms, strings, literals and lists; these
parsers check the shape of each command and build its dataclass, or raise ``ParseError``.
FETCH attributes live in ``fetch_grammar.py`` and SEARCH keys in ``search_grammar.py``.
"""

from __future__ import annotations

import calendar
import re
from collections.abc import Callable
from typing import Any

from postbus.imap.proto import commands as c
from postbus.imap.proto import modifiers
from postbus.imap.proto.errors import ParseError
from postbus.imap.proto.fetch_grammar import parse_fetch_atts
from postbus.imap.proto.search_grammar import parse_search
from postbus.imap.proto.sequence import SequenceSet
from postbus.imap.proto.tokens import Atom, String

MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
_MONTH = {m.upper(): i for i, m in enumerate(MONTHS, 1)}
# date-time = DQUOTE date-day-fixed "-" date-month "-" date-year SP time SP zone DQUOTE
_DATE_TIME = re.compile(
    r"([ \d]?\d)-([A-Za-z]{3})-(\d{4}) (\d\d):(\d\d):(\d\d) ([+-])(\d\d)(\d\d)"
)
_FLAG = re.compile(r"\\?[!#$&'+-.0-9<-Z^-z|~]+")  # flag-keyword / flag-extension: atoms


class Args:
    """A cursor over one command's tokens."""

    def __init__(self, tokens: list[Any] | tuple[Any, ...], what: str = "command") -> None:
        self.tokens = tokens
        self.i = 0
        self.what = what

    def more(self) -> bool:
        return self.i < len(self.tokens)

    def peek(self) -> Any:
        return self.tokens[self.i] if self.more() else None

    def take(self) -> Any:
        if not self.more():
            raise ParseError(f"Missing argument to {self.what}")
        token = self.tokens[self.i]
        self.i += 1
        return token

    def end(self) -> None:
        if self.more():
            raise ParseError(f"Too many arguments to {self.what}")

    def atom(self) -> str:
        token = self.take()
        if not isinstance(token, Atom):
            raise ParseError(f"Expected an atom in {self.what}")
        return str(token)

    def astring(self) -> str:
        """astring = 1*ASTRING-CHAR / string"""
        token = self.take()
        if isinstance(token, Atom):
            return str(token)
        if isinstance(token, String):
            return token.text()
        raise ParseError(f"Expected a string in {self.what}")

    def string(self) -> str:
        token = self.take()
        if not isinstance(token, String):
            raise ParseError(f"Expected a quoted string in {self.what}")
        return token.text()

    def nstring(self) -> str | None:
        token = self.take()
        if isinstance(token, Atom) and token.upper() == "NIL":
            return None
        if isinstance(token, String):
            return token.text()
        raise ParseError(f"Expected a string or NIL in {self.what}")

    def number(self) -> int:
        token = self.take()
        if not isinstance(token, Atom) or not token.isdigit() or len(token) > 20:
            raise ParseError(f"Expected a number in {self.what}")
        return int(token)

    def list(self) -> tuple[Any, ...]:
        token = self.take()
        if not isinstance(token, tuple):
            raise ParseError(f"Expected a parenthesised list in {self.what}")
        return token

    def mailbox(self) -> str:
        """mailbox = "INBOX" / astring"""
        return self.astring()

    def sequence(self) -> SequenceSet:
        return SequenceSet.parse(self.atom())


def flag_list(tokens: tuple[Any, ...]) -> tuple[str, ...]:
    """flag-list = "(" [flag *(SP flag)] ")" """
    flags = []
    for token in tokens:
        if not isinstance(token, Atom) or not _FLAG.fullmatch(token):
            raise ParseError("Invalid flag")
        if token.lower() == "\\recent":
            raise ParseError("\\Recent cannot be set")
        flags.append(str(token))
    return tuple(flags)


def parse_date_time(text: str) -> int:
    """date-time (RFC 9051 §9) -> epoch seconds."""
    m = _DATE_TIME.fullmatch(text)
    if m is None or m[2].upper() not in _MONTH:
        raise ParseError("Invalid date-time")
    day, year = int(m[1]), int(m[3])
    hour, minute, second = int(m[4]), int(m[5]), int(m[6])
    if not (1 <= day <= 31 and hour < 24 and minute < 60 and second < 61):
        raise ParseError("Invalid date-time")
    offset = (int(m[8]) * 60 + int(m[9])) * 60 * (-1 if m[7] == "-" else 1)
    stamp = calendar.timegm((year, _MONTH[m[2].upper()], day, hour, minute, second))
    return stamp - offset


# -- the command parsers ---------------------------------------------------------------------------

Parser = Callable[[str, Args], c.Command]


def _no_args(cls: type[c.Command]) -> Parser:
    def parse(tag: str, a: Args) -> c.Command:
        a.end()
        return cls(tag)

    return parse


def _login(tag: str, a: Args) -> c.Command:
    # login = "LOGIN" SP userid SP password
    user, password = a.astring(), a.astring()
    a.end()
    return c.Login(tag, user, password)


def _authenticate(tag: str, a: Args) -> c.Command:
    # authenticate = "AUTHENTICATE" SP auth-type [SP initial-resp] *(CRLF base64)
    # initial-resp = (base64 / "=")   ; RFC 4959
    mechanism = a.atom().upper()
    initial = None
    if a.more():
        initial = a.atom().encode("ascii", "replace")
    a.end()
    return c.Authenticate(tag, mechanism, initial)


def _enable(tag: str, a: Args) -> c.Command:
    # enable = "ENABLE" 1*(SP capability)
    caps = [a.atom().upper()]
    while a.more():
        caps.append(a.atom().upper())
    return c.Enable(tag, tuple(caps))


def _id(tag: str, a: Args) -> c.Command:
    # id = "ID" SP id-params-list ; id-params-list = "(" *(string SP nstring) ")" / nil
    token = a.take()
    a.end()
    if isinstance(token, Atom) and token.upper() == "NIL":
        return c.Id(tag, None)
    if not isinstance(token, tuple) or len(token) % 2 or len(token) > 60:
        raise ParseError("Invalid ID parameters")
    inner = Args(token, "ID")
    pairs = []
    while inner.more():
        pairs.append((inner.string(), inner.nstring()))
    return c.Id(tag, tuple(pairs))


def _select(readonly: bool) -> Parser:
    def parse(tag: str, a: Args) -> c.Command:
        # select = "SELECT" SP mailbox [select-params]
        # select-params = SP "(" select-param *(SP select-param) ")"   ; RFC 4466 §2.1
        mailbox = a.mailbox()
        condstore, qresync = False, None
        if a.more():
            condstore, qresync = modifiers.parse_select_params(a.list())
        a.end()
        return c.Select(tag, mailbox, readonly, condstore, qresync)

    return parse


def _create(tag: str, a: Args) -> c.Command:
    # create = "CREATE" SP mailbox [create-params] ; RFC 6154 §3: "(USE (" use-attr ")")"
    mailbox = a.mailbox()
    special = None
    if a.more():
        params = Args(a.list(), "CREATE")
        if params.atom().upper() != "USE":
            raise ParseError("Unknown CREATE parameter")
        uses = params.list()
        params.end()
        if len(uses) != 1 or not isinstance(uses[0], Atom):
            raise ParseError("One special use, please", "USEATTR")
        special = "\\" + str(uses[0]).lstrip("\\").capitalize()
    a.end()
    return c.Create(tag, mailbox, special)


def _one_mailbox(cls: Any) -> Parser:
    def parse(tag: str, a: Args) -> c.Command:
        mailbox = a.mailbox()
        a.end()
        return cls(tag, mailbox)

    return parse


def _rename(tag: str, a: Args) -> c.Command:
    old, new = a.mailbox(), a.mailbox()
    a.end()
    return c.Rename(tag, old, new)


def _subscribe(subscribed: bool) -> Parser:
    def parse(tag: str, a: Args) -> c.Command:
        mailbox = a.mailbox()
        a.end()
        return c.Subscribe(tag, mailbox, subscribed)

    return parse


def _pattern(a: Args) -> str:
    # list-mailbox = 1*list-char / string
    token = a.take()
    if isinstance(token, Atom):
        return str(token)
    if isinstance(token, String):
        return token.text()
    raise ParseError("Expected a mailbox pattern")


def _list(tag: str, a: Args) -> c.Command:
    # list = "LIST" [SP list-select-opts] SP mailbox SP mbox-or-pat [SP list-return-opts]
    # list-select-opts = "(" [list-select-opt *(SP list-select-opt)] ")"      ; RFC 5258
    # mbox-or-pat = list-mailbox / patterns ; patterns = "(" list-mailbox *(SP list-mailbox) ")"
    # list-return-opts = "RETURN" SP "(" [return-option *(SP return-option)] ")"
    selection: set[str] = set()
    extended = False
    if isinstance(a.peek(), tuple):
        extended = True
        for opt in a.list():
            if not isinstance(opt, Atom):
                raise ParseError("Invalid LIST selection option")
            selection.add(opt.upper())
    reference = a.astring()
    if isinstance(a.peek(), tuple):
        extended = True
        inner = Args(a.list(), "LIST")
        patterns = [_pattern(inner)]
        while inner.more():
            patterns.append(_pattern(inner))
    else:
        patterns = [_pattern(a)]
    returns: set[str] = set()
    status_items = None
    metadata = None
    if a.more():
        extended = True
        if a.atom().upper() != "RETURN":
            raise ParseError("Expected RETURN")
        opts = Args(a.list(), "LIST RETURN")
        while opts.more():
            opt = opts.atom().upper()
            if opt == "STATUS":  # RFC 5819
                status_items = tuple(_status_items(opts.list()))
            elif opt == "METADATA":  # RFC 9590 §3: METADATA (entries [MAXSIZE n])
                from postbus.imap.proto.grammar_ext import list_metadata

                metadata = list_metadata(opts.list())
            else:
                returns.add(opt)
    a.end()
    if selection - {"SUBSCRIBED", "REMOTE", "RECURSIVEMATCH", "SPECIAL-USE"}:
        raise ParseError("Unknown LIST selection option")
    if "RECURSIVEMATCH" in selection and not selection - {"RECURSIVEMATCH", "REMOTE"}:
        # RFC 5258 §3: never the only selection option, nor only with REMOTE
        raise ParseError("RECURSIVEMATCH needs another selection option")
    if returns - {"SUBSCRIBED", "CHILDREN", "SPECIAL-USE"}:
        raise ParseError("Unknown LIST return option")
    return c.List(
        tag, reference, tuple(patterns), frozenset(selection), frozenset(returns),
        status_items, extended=extended, metadata=metadata,
    )


def _lsub(tag: str, a: Args) -> c.Command:
    reference, pattern = a.astring(), _pattern(a)
    a.end()
    return c.List(tag, reference, (pattern,), lsub=True)


STATUS_ITEMS = frozenset(
    {"MESSAGES", "UIDNEXT", "UIDVALIDITY", "UNSEEN", "DELETED", "SIZE", "RECENT",
     "MAILBOXID", "DELETED-STORAGE",  # RFC 8474 §4.2, RFC 9208 §4.2
     "HIGHESTMODSEQ"}  # RFC 7162 §3.1.6
)


def _status_items(tokens: tuple[Any, ...]) -> list[str]:
    items = []
    for token in tokens:
        if not isinstance(token, Atom) or token.upper() not in STATUS_ITEMS:
            raise ParseError("Unknown STATUS item")
        items.append(token.upper())
    if not items:
        raise ParseError("STATUS needs at least one item")
    return items


def _status(tag: str, a: Args) -> c.Command:
    # status = "STATUS" SP mailbox SP "(" status-att *(SP status-att) ")"
    mailbox = a.mailbox()
    items = _status_items(a.list())
    a.end()
    return c.Status(tag, mailbox, tuple(items))


def _expunge(tag: str, a: Args) -> c.Command:
    a.end()
    return c.Expunge(tag)


def _fetch(uid: bool) -> Parser:
    def parse(tag: str, a: Args) -> c.Command:
        # fetch = "FETCH" SP sequence-set SP ("ALL" / "FULL" / "FAST" /
        #         fetch-att / "(" fetch-att *(SP fetch-att) ")")
        # fetch-modifiers = SP "(" fetch-modifier *(SP fetch-modifier) ")" ; RFC 4466 §2.4
        sequence = a.sequence()
        items = parse_fetch_atts(a.take(), uid)
        changedsince, vanished = None, False
        if a.more():
            changedsince, vanished = modifiers.parse_fetch_modifiers(a.list(), uid)
        a.end()
        return c.Fetch(tag, uid, sequence, items, changedsince, vanished)

    return parse


def _store(uid: bool) -> Parser:
    def parse(tag: str, a: Args) -> c.Command:
        # store = "STORE" SP sequence-set SP store-att-flags
        # store-att-flags = (["+" / "-"] "FLAGS" [".SILENT"]) SP (flag-list / (flag *(SP flag)))
        # store-modifiers = SP "(" store-modifier *(SP store-modifier) ")" ; RFC 4466 §2.5
        sequence = a.sequence()
        unchangedsince = None
        if isinstance(a.peek(), tuple):
            unchangedsince = modifiers.parse_store_modifiers(a.list())
        what = a.atom().upper()
        m = re.fullmatch(r"([+-]?)FLAGS(\.SILENT)?", what)
        if m is None:
            raise ParseError("Expected FLAGS, +FLAGS or -FLAGS")
        mode = {"": "set", "+": "add", "-": "remove"}[m[1]]
        if isinstance(a.peek(), tuple):
            flags = flag_list(a.list())
        else:
            flags = flag_list(tuple(a.tokens[a.i :]))
            a.i = len(a.tokens)
        a.end()
        return c.Store(tag, uid, sequence, mode, bool(m[2]), flags, unchangedsince)

    return parse


def _copy(uid: bool, move: bool) -> Parser:
    def parse(tag: str, a: Args) -> c.Command:
        # copy = "COPY" SP sequence-set SP mailbox ; move = "MOVE" SP sequence-set SP mailbox
        sequence = a.sequence()
        mailbox = a.mailbox()
        a.end()
        return c.Copy(tag, uid, sequence, mailbox, move)

    return parse


def _search(uid: bool) -> Parser:
    def parse(tag: str, a: Args) -> c.Command:
        returns, charset, key = parse_search(a.tokens[a.i :])
        return c.Search(tag, uid, key, returns, charset)

    return parse


def _uid_expunge(tag: str, a: Args) -> c.Command:
    sequence = a.sequence()
    a.end()
    return c.Expunge(tag, sequence)


UID_PARSERS: dict[str, Parser] = {
    "FETCH": _fetch(True),
    "STORE": _store(True),
    "COPY": _copy(True, False),
    "MOVE": _copy(True, True),
    "SEARCH": _search(True),
    "EXPUNGE": _uid_expunge,
}


def _uid(tag: str, a: Args) -> c.Command:
    # uid = "UID" SP (copy / move / fetch / search / store / uid-expunge)
    name = a.atom().upper()
    parser = UID_PARSERS.get(name)
    if parser is None:
        raise ParseError("Unknown UID command")
    a.what = f"UID {name}"
    return parser(tag, a)


PARSERS: dict[str, Parser] = {
    "CAPABILITY": _no_args(c.Capability),
    "NOOP": _no_args(c.Noop),
    "LOGOUT": _no_args(c.Logout),
    "ID": _id,
    "STARTTLS": _no_args(c.StartTls),
    "LOGIN": _login,
    "AUTHENTICATE": _authenticate,
    "ENABLE": _enable,
    "SELECT": _select(False),
    "EXAMINE": _select(True),
    "CREATE": _create,
    "DELETE": _one_mailbox(c.Delete),
    "RENAME": _rename,
    "SUBSCRIBE": _subscribe(True),
    "UNSUBSCRIBE": _subscribe(False),
    "LIST": _list,
    "LSUB": _lsub,
    "NAMESPACE": _no_args(c.Namespace),
    "STATUS": _status,
    "IDLE": _no_args(c.Idle),
    "CHECK": _no_args(c.Check),
    "CLOSE": _no_args(c.Close),
    "UNSELECT": _no_args(c.Unselect),
    "EXPUNGE": _expunge,
    "SEARCH": _search(False),
    "FETCH": _fetch(False),
    "STORE": _store(False),
    "COPY": _copy(False, False),
    "MOVE": _copy(False, True),
    "UID": _uid,
}


def parse_command(tag: str, tokens: list[Any]) -> c.Command:
    """The typed command for ``tag`` and the tokens after it, or ParseError."""
    if not tokens or not isinstance(tokens[0], Atom):
        raise ParseError("Missing command")
    name = tokens[0].upper()
    parser = PARSERS.get(name)
    if parser is None:
        raise ParseError("Unknown command")
    return parser(tag, Args(tokens[1:], name))


# APPEND (with MULTIAPPEND), REPLACE, COMPRESS, QUOTA, METADATA: grammar_ext.py
from postbus.imap.proto.grammar_ext import EXTRA_PARSERS, EXTRA_UID_PARSERS  # noqa: E402

PARSERS.update(EXTRA_PARSERS)
UID_PARSERS.update(EXTRA_UID_PARSERS)

# SORT and THREAD (RFC 5256): sort_grammar.py
from postbus.imap.proto.sort_grammar import SORT_PARSERS, SORT_UID_PARSERS  # noqa: E402

PARSERS.update(SORT_PARSERS)
UID_PARSERS.update(SORT_UID_PARSERS)
