"""What the server advertises, as one table: each capability with the condition for it.

Only what works is listed, and each entry has a test in tests/imap. Later increments add rows
(CONDSTORE, QRESYNC, BINARY, SEARCHRES -> IMAP4rev2, QUOTA, METADATA, NOTIFY, ...).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from postbus.imap.session import Session


@dataclass(frozen=True, slots=True)
class Capability:
    name: str
    when: Callable[[Session], bool] = lambda s: True
    rfc: str = ""


def _before_auth(s: Session) -> bool:
    return s.account is None


TABLE: tuple[Capability, ...] = (
    Capability("IMAP4rev1", rfc="RFC 3501"),
    Capability("IMAP4rev2", rfc="RFC 9051"),
    Capability("STARTTLS", lambda s: s.starttls_available(), "RFC 9051 §6.2.1"),
    Capability("LOGINDISABLED", lambda s: _before_auth(s) and not s.login_allowed(),
               "RFC 9051 §6.2.3"),
    Capability("AUTH=PLAIN", lambda s: _before_auth(s) and s.login_allowed(), "RFC 4616"),
    Capability("AUTH=SCRAM-SHA-256", lambda s: _before_auth(s) and s.login_allowed(),
               "RFC 7677"),
    Capability("SASL-IR", rfc="RFC 4959"),
    Capability("LITERAL+", rfc="RFC 7888"),
    Capability("ENABLE", rfc="RFC 5161"),
    Capability("IDLE", rfc="RFC 2177"),
    Capability("NAMESPACE", rfc="RFC 2342"),
    Capability("ID", rfc="RFC 2971"),
    Capability("UIDPLUS", rfc="RFC 4315"),
    Capability("MOVE", rfc="RFC 6851"),
    Capability("UNSELECT", rfc="RFC 3691"),
    Capability("CHILDREN", rfc="RFC 3348"),
    Capability("LIST-EXTENDED", rfc="RFC 5258"),
    Capability("LIST-STATUS", rfc="RFC 5819"),
    Capability("SPECIAL-USE", rfc="RFC 6154"),
    Capability("CREATE-SPECIAL-USE", rfc="RFC 6154 §3"),
    Capability("ESEARCH", rfc="RFC 4731"),
    Capability("STATUS=SIZE", rfc="RFC 8438"),
    Capability("UTF8=ACCEPT", rfc="RFC 6855"),
    # part A of the second increment: tests/imap/test_condstore.py, test_qresync.py,
    # test_rev2.py, test_sort_thread.py
    Capability("CONDSTORE", rfc="RFC 7162 §3.1"),
    Capability("QRESYNC", rfc="RFC 7162 §3.2"),
    Capability("SEARCHRES", rfc="RFC 5182"),
    Capability("BINARY", rfc="RFC 3516"),
    Capability("SORT", rfc="RFC 5256"),
    Capability("SORT=DISPLAY", rfc="RFC 5957"),
    Capability("ESORT", rfc="RFC 5267"),
    Capability("THREAD=REFERENCES", rfc="RFC 5256"),
    Capability("THREAD=ORDEREDSUBJECT", rfc="RFC 5256"),
    Capability("WITHIN", rfc="RFC 5032"),
    Capability("QUOTA", rfc="RFC 9208"),
    Capability("QUOTA=RES-STORAGE", rfc="RFC 9208 §5.1"),
    Capability("QUOTA=RES-MESSAGE", rfc="RFC 9208 §5.2"),
    Capability("COMPRESS=DEFLATE", lambda s: not s.compressed, "RFC 4978"),
    Capability("PREVIEW", rfc="RFC 8970"),
    Capability("OBJECTID", rfc="RFC 8474"),
    Capability("MULTIAPPEND", rfc="RFC 3502"),
    Capability("REPLACE", rfc="RFC 8508"),
    Capability("SAVEDATE", rfc="RFC 8514"),
    Capability("UIDONLY", rfc="RFC 9586"),
    Capability("METADATA", rfc="RFC 5464"),
    Capability("LIST-METADATA", rfc="RFC 9590"),
)

# What ENABLE accepts (RFC 5161).
ENABLEABLE = frozenset({"UTF8=ACCEPT", "UIDONLY"}) | frozenset(
    {"CONDSTORE", "QRESYNC", "IMAP4rev2"}  # RFC 7162 §3.1 / §3.2.3, RFC 9051 §6.3.1
)


def advertised(session: Session) -> str:
    names = [cap.name for cap in TABLE if cap.when(session)]
    names.append(f"APPENDLIMIT={session.limits.max_message_size}")  # RFC 7889
    return " ".join(names)
