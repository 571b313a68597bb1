"""UIDONLY (RFC 9586): once enabled, no message sequence numbers either way.

Commands that name messages by sequence number are refused with BAD [UIDREQUIRED] before they
run (§3); FETCH data goes out as ``* uid UIDFETCH (...)`` (``Session.fetch_response``, §3.3);
expunges as ``* VANISHED uid-set`` (§3.2, the RFC 7162 §3.2.10 response without EARLIER).
"""

from __future__ import annotations

from postbus.imap.proto import codes
from postbus.imap.proto import commands as c
from postbus.imap.proto.errors import ImapBad
from postbus.imap.proto.sequence import compress

_BY_NUMBER = (c.Fetch, c.Store, c.Search, c.Copy, c.Replace, c.Sort, c.Thread)


def _has_sequence(key: c.SearchKey) -> bool:
    if key.name == "SEQ":
        return True
    return key.name in ("AND", "OR", "NOT") and any(_has_sequence(k) for k in key.args)


def refuse_sequence_numbers(command: c.Command) -> None:
    # RFC 9586 §3: "the server MUST return tagged BAD response if the client uses message
    # sequence numbers", with the UIDREQUIRED response code.
    if isinstance(command, _BY_NUMBER) and not command.uid:
        raise ImapBad(codes.UIDREQUIRED_TEXT, codes.UIDREQUIRED)
    key = getattr(command, "key", None)  # SEARCH, and SORT / THREAD criteria
    if isinstance(key, c.SearchKey) and _has_sequence(key):
        raise ImapBad(codes.UIDREQUIRED_TEXT, codes.UIDREQUIRED)


def vanished(uids: list[int]) -> bytes:
    return b"* VANISHED " + compress(sorted(uids)).encode() + b"\r\n"
