"""Ids and per-message items that come straight from stored columns: OBJECTID (RFC 8474),
PREVIEW (RFC 8970), SAVEDATE (RFC 8514).

OBJECTID: a mailbox's id is its row id ("M" + id), kept by RENAME, never reused (the row ids
only grow); EMAILID is the message row ("E" + id), which COPY and MOVE share, so every copy of a
message has the same EMAILID as RFC 8474 §5.1 asks; THREADID is the thread's first message row
("T" + id). objectid = 1*255(ALPHA / DIGIT / "_" / "-") (RFC 8474 §4).
"""

from __future__ import annotations

from typing import Any

from postbus.imap.proto import response as r

FETCH_ITEMS = frozenset({"EMAILID", "THREADID", "PREVIEW", "SAVEDATE"})
PREVIEW_CHARS = 256  # RFC 8970 §3: at most 256 characters


def mailbox_id(row_id: int) -> str:
    return f"M{row_id}"


def email_id(row_id: int) -> str:
    return f"E{row_id}"


def thread_id(row_id: int) -> str:
    return f"T{row_id}"


def parse(objectid: str, prefix: str) -> int | None:
    """The row id inside one of our ids, or None for an id we never gave out."""
    if objectid[:1] != prefix or not objectid[1:].isdigit() or len(objectid) > 20:
        return None
    return int(objectid[1:])


def fetch_item(name: str, row: Any) -> bytes:
    if name == "EMAILID":  # RFC 8474 §5.1: "EMAILID" SP "(" objectid ")"
        return b"EMAILID (%s)" % email_id(row["message_id"]).encode()
    if name == "THREADID":  # RFC 8474 §5.2: "THREADID" SP ("(" objectid ")" / nil)
        return b"THREADID (%s)" % thread_id(row["thread_id"]).encode()
    if name == "SAVEDATE":  # RFC 8514 §3: "SAVEDATE" SP (date-time / nil)
        return b"SAVEDATE " + r.internal_date(row["saved"])
    # RFC 8970 §3: "PREVIEW" SP nstring; plain text, no line breaks, at most 256 characters
    text = " ".join((row["preview"] or "").split())[:PREVIEW_CHARS]
    return b"PREVIEW " + r.string(text)  # non-ASCII goes as a literal: valid for every client
