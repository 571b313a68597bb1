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
    Capability("STARTTLS", lambda s: s.starttls_available(), "RFC 9051 §6.2.1"),
    Capability("LOGINDISABLED", lambda s: _before_auth(s) and not s.login_allowed(),
               "RFC 9051 §6.2.3"),
    Capability("AUTH=PLAIN", lambda s: _before_auth(s) and s.login_allowed(), "RFC 4616"),
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
)

# What ENABLE accepts (RFC 5161); IMAP4rev2 joins when its last parts (SEARCHRES, BINARY) land.
ENABLEABLE = frozenset({"UTF8=ACCEPT"})


def advertised(session: Session) -> str:
    names = [cap.name for cap in TABLE if cap.when(session)]
    names.append(f"APPENDLIMIT={session.limits.max_message_size}")  # RFC 7889
    return " ".join(names)
