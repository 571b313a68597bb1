"""The POP3 maildrop: INBOX as it was at sign-in, the deletion marks, and the commit at QUIT.

Invariants:
- The maildrop is a snapshot (RFC 1939 §5 numbers messages 1..n for the whole session):
  messages delivered during the session are not in it; numbers never shift.
- DELE only marks; RSET unmarks; nothing reaches the store before QUIT (RFC 1939 §6). A session
  that ends any other way (connection lost, idle timeout) changes nothing.
- At QUIT the marked messages get \\Deleted and exactly those UIDs are expunged, through the
  store, so IMAP and webmail see the deletions at once (their events are published after
  commit). Retrieved messages get \\Seen, as Dovecot does, so the webmail shows them read.
- One POP3 session per account at a time (RFC 2449 §8.1.2 [IN-USE]). The lock lives in this
  process: on a multi-node cluster a second session on another node is not refused (known gap;
  the commit is still safe, because it names UIDs, and UIDs are never reused).

Unique ids (RFC 1939 §7 UIDL) are ``<message id>.<received>``: the store's message id, which a
message keeps for its whole life (IMAP MOVE and COPY keep it, so a message moved away and back
is not fetched twice), and its arrival time, which also keeps the id unique should the
database ever reuse a deleted message's id (SQLite's plain INTEGER PRIMARY KEY reuses the
highest one). When one message sits twice in INBOX (IMAP COPY INBOX to INBOX), every copy after
the first (in UID order) gets ``.<uid>`` appended, so ids stay unique within the maildrop.
"""

from __future__ import annotations

import weakref
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field

from postbus.pop3 import codes
from postbus.pop3.proto import Pop3Error
from postbus.store import Store
from postbus.store.models import MessageSummary

INBOX = "INBOX"
RANGES_PER_CALL = 500  # keeps each statement well under SQLite's and PostgreSQL's argument limits


@dataclass(frozen=True, slots=True)
class Entry:
    uid: int  # the IMAP UID in INBOX: what the commit names
    message_id: int  # the store's message id: what RETR reads
    size: int  # octets, CRLF line endings, before dot-stuffing
    unique_id: str  # RFC 1939 §7 UIDL


def build_entries(rows: Sequence[MessageSummary]) -> list[Entry]:
    """Store rows in UID order -> maildrop entries with their unique ids."""
    entries: list[Entry] = []
    seen: set[int] = set()
    for row in rows:
        unique = f"{row.message_id}.{row.received}"
        if row.message_id in seen:
            unique += f".{row.uid}"
        seen.add(row.message_id)
        entries.append(Entry(row.uid, row.message_id, row.size, unique))
    return entries


@dataclass
class Maildrop:
    """Pure session state over the snapshot; message numbers are 1-based (RFC 1939 §5)."""

    entries: list[Entry]
    deleted: set[int] = field(default_factory=set)  # message numbers
    retrieved: set[int] = field(default_factory=set)

    def get(self, number: int) -> Entry:
        # RFC 1939 §5: a command naming a deleted message gets -ERR.
        if not 1 <= number <= len(self.entries):
            raise Pop3Error(codes.NO_SUCH_MESSAGE)
        if number in self.deleted:
            raise Pop3Error(codes.ALREADY_DELETED)
        return self.entries[number - 1]

    def delete(self, number: int) -> None:
        self.get(number)
        self.deleted.add(number)

    def reset(self) -> None:
        self.deleted.clear()  # RFC 1939 §5 RSET

    def listing(self) -> Iterator[tuple[int, Entry]]:
        for number, entry in enumerate(self.entries, start=1):
            if number not in self.deleted:
                yield number, entry

    def stat(self) -> tuple[int, int]:
        count = size = 0
        for _, entry in self.listing():
            count += 1
            size += entry.size
        return count, size

    def deleted_uids(self) -> list[int]:
        return sorted(self.entries[n - 1].uid for n in self.deleted)

    def seen_uids(self) -> list[int]:
        return sorted(self.entries[n - 1].uid for n in self.retrieved - self.deleted)


def to_ranges(uids: Sequence[int]) -> list[tuple[int, int]]:
    """Sorted UIDs -> inclusive (first, last) runs."""
    ranges: list[tuple[int, int]] = []
    for uid in uids:
        if ranges and ranges[-1][1] == uid - 1:
            ranges[-1] = (ranges[-1][0], uid)
        else:
            ranges.append((uid, uid))
    return ranges


def _chunks(ranges: list[tuple[int, int]]) -> Iterator[list[tuple[int, int]]]:
    for start in range(0, len(ranges), RANGES_PER_CALL):
        yield ranges[start : start + RANGES_PER_CALL]


async def load(store: Store, account_id: int) -> tuple[int, Maildrop]:
    """(INBOX id, its snapshot). Only UIDs below uidnext as read first: a message delivered
    between the two reads is left for the next session."""
    inbox = await store.get_mailbox(account_id, INBOX)
    if inbox.uidnext <= 1:
        return inbox.id, Maildrop([])
    rows = await store.summaries(account_id, inbox.id, [(1, inbox.uidnext - 1)])
    return inbox.id, Maildrop(build_entries(rows))


async def commit(store: Store, account_id: int, mailbox_id: int, maildrop: Maildrop) -> None:
    """RFC 1939 §6 UPDATE: \\Seen on what was retrieved, then \\Deleted and expunge the marks."""
    for chunk in _chunks(to_ranges(maildrop.seen_uids())):
        await store.set_flags(account_id, mailbox_id, chunk, ["\\Seen"], "add")
    for chunk in _chunks(to_ranges(maildrop.deleted_uids())):
        await store.set_flags(account_id, mailbox_id, chunk, ["\\Deleted"], "add")
        await store.expunge(account_id, mailbox_id, chunk)


# -- one session per account (RFC 2449 §8.1.2) -------------------------------------------------

_HELD: weakref.WeakKeyDictionary[Store, set[int]] = weakref.WeakKeyDictionary()


def try_lock(store: Store, account_id: int) -> bool:
    """Take the account's maildrop lock; False when another session of this process holds it."""
    held = _HELD.setdefault(store, set())
    if account_id in held:
        return False
    held.add(account_id)
    return True


def unlock(store: Store, account_id: int) -> None:
    _HELD.get(store, set()).discard(account_id)
