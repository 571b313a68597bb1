"""IMAP commands as frozen dataclasses, one per command of RFC 9051 §6 and the extensions.

Mailbox names are kept as sent (``str``, undecoded): whether they are modified UTF-7 or
UTF-8 depends on what the session has ENABLEd (RFC 9051 §5.1, RFC 6855 §3).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from postbus.imap.proto.sequence import SequenceSet


@dataclass(frozen=True, slots=True)
class Command:
    tag: str


@dataclass(frozen=True, slots=True)
class BadCommand:
    """Input the receiver or grammar refused; answered with ``status`` (BAD unless NO)."""

    tag: str
    text: str
    code: str | None = None
    status: str = "BAD"
    fatal: bool = False  # the connection cannot continue (BYE, close)


# -- any state (RFC 9051 §6.1) ------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Capability(Command):
    pass


@dataclass(frozen=True, slots=True)
class Noop(Command):
    pass


@dataclass(frozen=True, slots=True)
class Logout(Command):
    pass


@dataclass(frozen=True, slots=True)
class Id(Command):
    """RFC 2971."""

    params: tuple[tuple[str, str | None], ...] | None


# -- not authenticated (RFC 9051 §6.2) ------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class StartTls(Command):
    pass


@dataclass(frozen=True, slots=True)
class Login(Command):
    user: str
    password: str


@dataclass(frozen=True, slots=True)
class Authenticate(Command):
    mechanism: str  # upper case
    initial: bytes | None  # RFC 4959 SASL-IR, base64 as sent; b"=" is an empty response


# -- authenticated (RFC 9051 §6.3) --------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Enable(Command):
    capabilities: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Qresync:
    """RFC 7162 §3.2.5: SELECT (QRESYNC (uidvalidity modseq [known-uids [seq-match-data]]))."""

    uidvalidity: int
    modseq: int
    known_uids: SequenceSet | None = None
    seq_match: tuple[SequenceSet, SequenceSet] | None = None


@dataclass(frozen=True, slots=True)
class Select(Command):
    mailbox: str
    readonly: bool  # EXAMINE
    condstore: bool = False  # RFC 7162 §3.1.8 select parameter
    qresync: Qresync | None = None


@dataclass(frozen=True, slots=True)
class Create(Command):
    mailbox: str
    special_use: str | None = None  # RFC 6154 §3 CREATE (USE (...))


@dataclass(frozen=True, slots=True)
class Delete(Command):
    mailbox: str


@dataclass(frozen=True, slots=True)
class Rename(Command):
    old: str
    new: str


@dataclass(frozen=True, slots=True)
class Subscribe(Command):
    mailbox: str
    subscribed: bool  # False: UNSUBSCRIBE


@dataclass(frozen=True, slots=True)
class List(Command):
    reference: str
    patterns: tuple[str, ...]
    selection: frozenset[str] = frozenset()  # RFC 5258 selection options, upper case
    returns: frozenset[str] = frozenset()  # RFC 5258 return options, upper case
    status_items: tuple[str, ...] | None = None  # RFC 5819 RETURN (STATUS (...))
    lsub: bool = False
    extended: bool = False  # the client used RFC 5258 syntax
    metadata: tuple[tuple[str, ...], int | None] | None = None  # RFC 9590 (entries, MAXSIZE)


@dataclass(frozen=True, slots=True)
class Namespace(Command):
    pass


@dataclass(frozen=True, slots=True)
class Status(Command):
    mailbox: str
    items: tuple[str, ...]  # upper case


@dataclass(frozen=True, slots=True)
class Append(Command):
    mailbox: str
    flags: tuple[str, ...]
    date: int | None  # epoch seconds of the date-time argument
    message: Any  # bytes, or tokens.Spooled for a large literal
    size: int


@dataclass(frozen=True, slots=True)
class Idle(Command):
    """RFC 2177."""


# -- selected (RFC 9051 §6.4) ---------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Check(Command):
    pass


@dataclass(frozen=True, slots=True)
class Close(Command):
    pass


@dataclass(frozen=True, slots=True)
class Unselect(Command):
    pass


@dataclass(frozen=True, slots=True)
class Expunge(Command):
    uids: SequenceSet | None = None  # UID EXPUNGE (RFC 4315 §2.1)


@dataclass(frozen=True, slots=True)
class SearchKey:
    """One search key; ``name`` upper case. AND/OR/NOT hold keys, the rest values."""

    name: str
    args: tuple[Any, ...] = ()


@dataclass(frozen=True, slots=True)
class Search(Command):
    uid: bool
    key: SearchKey
    returns: tuple[str, ...] | None  # RFC 4731 ESEARCH RETURN options; None: plain SEARCH
    charset: str | None = None


@dataclass(frozen=True, slots=True)
class Section:
    """A BODY[...] section (RFC 9051 §6.4.5)."""

    part: tuple[int, ...] = ()
    text: str = ""  # "", HEADER, HEADER.FIELDS, HEADER.FIELDS.NOT, TEXT, MIME
    fields: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class FetchAtt:
    """One fetch item. ``name``: FLAGS, UID, ENVELOPE, BODY (structure), BODY[] ..."""

    name: str
    section: Section | None = None
    peek: bool = False
    partial: tuple[int, int] | None = None  # (offset, length)
    label: str = ""  # how the item is named in the response, e.g. "BODY[HEADER]"


@dataclass(frozen=True, slots=True)
class Fetch(Command):
    uid: bool
    sequence: SequenceSet
    items: tuple[FetchAtt, ...]
    changedsince: int | None = None  # RFC 7162 §3.1.4.1
    vanished: bool = False  # RFC 7162 §3.2.6 (UID FETCH only)


@dataclass(frozen=True, slots=True)
class Store(Command):
    uid: bool
    sequence: SequenceSet
    mode: str  # "set", "add", "remove"
    silent: bool
    flags: tuple[str, ...]
    unchangedsince: int | None = None  # RFC 7162 §3.1.3


@dataclass(frozen=True, slots=True)
class Copy(Command):
    uid: bool
    sequence: SequenceSet
    mailbox: str
    move: bool  # RFC 6851 MOVE


# -- the second increment's extensions ------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class AppendPart:
    """One more message of a MULTIAPPEND (RFC 3502 §6.3.11): what APPEND holds for the first."""

    flags: tuple[str, ...]
    date: int | None
    message: Any  # bytes or tokens.Spooled
    size: int


@dataclass(frozen=True, slots=True)
class MultiAppend(Command):
    """APPEND with more than one message (RFC 3502): all stored, or none."""

    mailbox: str
    parts: tuple[AppendPart, ...]


@dataclass(frozen=True, slots=True)
class Replace(Command):
    """RFC 8508 REPLACE / UID REPLACE: append the new message, expunge the old one."""

    uid: bool
    sequence: SequenceSet  # one number
    mailbox: str
    part: AppendPart


@dataclass(frozen=True, slots=True)
class Compress(Command):
    """RFC 4978."""

    mechanism: str  # upper case


@dataclass(frozen=True, slots=True)
class GetQuota(Command):
    """RFC 9208 §4.2."""

    root: str


@dataclass(frozen=True, slots=True)
class GetQuotaRoot(Command):
    """RFC 9208 §4.3."""

    mailbox: str


@dataclass(frozen=True, slots=True)
class SetQuota(Command):
    """RFC 9208 §4.1: refused here; quotas are the administrator's."""

    root: str
    limits: tuple[tuple[str, int], ...]


@dataclass(frozen=True, slots=True)
class GetMetadata(Command):
    """RFC 5464 §4.2; ``mailbox`` "" names the server."""

    mailbox: str
    entries: tuple[str, ...]
    maxsize: int | None = None
    depth: int = 0  # -1: infinity


@dataclass(frozen=True, slots=True)
class SetMetadata(Command):
    """RFC 5464 §4.3; a value None removes the entry."""

    mailbox: str
    entries: tuple[tuple[str, bytes | None], ...]


@dataclass(frozen=True, slots=True)
class Sort(Command):
    """RFC 5256 §3 SORT, RFC 5957 DISPLAYFROM/DISPLAYTO, RFC 5267 ESORT RETURN options."""

    uid: bool
    criteria: tuple[tuple[str, bool], ...]  # (key, reverse), keys upper case
    charset: str
    key: SearchKey
    returns: tuple[str, ...] | None = None


@dataclass(frozen=True, slots=True)
class Thread(Command):
    """RFC 5256 §3 THREAD: REFERENCES or ORDEREDSUBJECT."""

    uid: bool
    algorithm: str
    charset: str
    key: SearchKey
