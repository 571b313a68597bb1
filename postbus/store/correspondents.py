"""Address suggestions for the compose form: the people an account has mail from or wrote to.

Two sources, both the account's own mail only: the senders of the mail it receives (into any
folder but Sent, Drafts and Junk) and the recipients (To, Cc) of the mail put into its Sent
folder. A suggestion matches when the address or any word of the name starts with what was
typed (accents and case folded); the account's own addresses are left out. Most frequent
first, then most recent.

The ``correspondents`` table holds one row per account and address: the newest display name,
how many messages, the newest arrival. ``note`` keeps it in the transaction that appends the
messages (``appending.append_batch``, one upsert per batch), so a suggestion reads a few rows
of one account instead of every message it has (the migration fills it for mail already
stored). It is a history of who wrote and who was written to, counted on arrival: moving
or deleting a message later leaves it as it is, as a mail client's address book does.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from postbus.mime.addresses import to_addresses
from postbus.mime.envelope import CC, TO
from postbus.store.db import Tx
from postbus.store.search import fold

if TYPE_CHECKING:
    from postbus.store.appending import Incoming

MAX_PREFIX = 100
NOT_RECEIVED = ("\\Sent", "\\Drafts", "\\Junk")
SENT = "\\Sent"
FILL_BATCH = 1000
MAX_ADDRESS = 320  # RFC 5321 §4.5.3.1: 64 for the local part, 255 for the domain
MAX_NAME = 200
MAX_FOLDED = 500  # characters, at most 4 bytes each in UTF-8

# ``folded``: the address, then each word of the name, folded and separated by one space, so
# "starts with" is ``LIKE 'p%'`` on the address or ``LIKE '% p%'`` on a word of the name.
# The rank index lets a common prefix stop after a handful of rows; it holds ``folded`` too, so
# a prefix that matches little (the worst case: every row of the account) is filtered in the
# index, and the table read only for the rows that match (50,000 correspondents: 8 ms instead
# of 25 ms on SQLite). Lengths are capped so a row always fits a PostgreSQL index entry
# (about 2,700 bytes).
TABLE = """
CREATE TABLE correspondents (
    account_id BIGINT NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
    address TEXT NOT NULL,
    name TEXT NOT NULL,
    folded TEXT NOT NULL,
    messages BIGINT NOT NULL,
    last BIGINT NOT NULL,
    PRIMARY KEY (account_id, address)
);
CREATE INDEX correspondents_rank ON correspondents(account_id, messages, last, folded)
"""

UPSERT = (
    "INSERT INTO correspondents (account_id, address, name, folded, messages, last)"
    " VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (account_id, address) DO UPDATE SET"
    " messages = correspondents.messages + excluded.messages,"
    # the newest name that is not empty; SET reads the row as it was, so ``last`` is the old one
    " name = CASE WHEN excluded.name != '' AND (excluded.last >= correspondents.last"
    "  OR correspondents.name = '') THEN excluded.name ELSE correspondents.name END,"
    " folded = CASE WHEN excluded.name != '' AND (excluded.last >= correspondents.last"
    "  OR correspondents.name = '') THEN excluded.folded ELSE correspondents.folded END,"
    " last = CASE WHEN excluded.last > correspondents.last THEN excluded.last"
    "  ELSE correspondents.last END"
)


@dataclass(frozen=True, slots=True)
class Correspondent:
    name: str
    address: str
    count: int  # messages from or to this address
    last: int  # newest of them (received time, epoch seconds)


def _like(text: str) -> str:
    """``text`` as a literal LIKE pattern (``!`` escapes; the queries say ``ESCAPE '!'``)."""
    return text.replace("!", "!!").replace("%", "!%").replace("_", "!_")


def _words(name: str) -> list[str]:
    return fold(name).replace('"', " ").split()


def folded(name: str, address: str) -> str:
    return " ".join([fold(address), *_words(name)])[:MAX_FOLDED]


def matches(prefix: str, name: str, address: str) -> bool:
    start = fold(prefix)
    return fold(address).startswith(start) or any(word.startswith(start) for word in _words(name))


class _Tally:
    """One batch's correspondents, merged as the upsert merges them into the table."""

    def __init__(self) -> None:
        self.seen: dict[tuple[int, str], Correspondent] = {}

    def add(self, account_id: int, name: str, address: str, count: int, last: int) -> None:
        if len(address) > MAX_ADDRESS:
            return  # no one's address; and it would not fit the index
        name = name[:MAX_NAME]
        key = (account_id, address.lower())
        held = self.seen.get(key)
        if held is not None:
            newer = bool(name) and (last >= held.last or not held.name)
            name = name if newer else held.name
            count, last = count + held.count, max(last, held.last)
        self.seen[key] = Correspondent(name, key[1], count, last)

    def rows(self) -> list[tuple[int, str, str, str, int, int]]:
        return [(account_id, c.address, c.name, folded(c.name, c.address), c.count, c.last)
                for (account_id, _), c in self.seen.items()]


def _recipients(envelope_json: str) -> Iterable[tuple[str, str]]:
    envelope = json.loads(envelope_json)
    for address in (*to_addresses(envelope[TO] or []), *to_addresses(envelope[CC] or [])):
        if address.host:
            yield address.name, address.email


async def note(
    tx: Tx, account_id: int, special_use: str | None, batch: Sequence[Incoming],
    received: Sequence[int],
) -> None:
    """Count the people of a batch appended to a folder with this special use: the senders
    of received mail, the recipients of sent mail."""
    tally = _Tally()
    if special_use == SENT:
        for item, at in zip(batch, received, strict=True):
            for name, address in _recipients(item.message.envelope):
                tally.add(account_id, name, address, 1, at)
    elif special_use not in NOT_RECEIVED:
        for item, at in zip(batch, received, strict=True):
            if item.message.from_email:
                tally.add(account_id, item.message.from_name, item.message.from_email, 1, at)
    if tally.seen:
        await tx.executemany(UPSERT, tally.rows())


async def fill(tx: Tx) -> None:
    """Migration step: the table for the mail already stored, counted as the suggestions
    counted it before the table existed (a message once, in whichever folders it is)."""
    tally = _Tally()
    for account_id, address, name, count, last in await tx.fetch(
        "SELECT m.account_id, lower(m.from_email), m.from_name, COUNT(*), MAX(m.received)"
        " FROM messages m WHERE m.from_email != ''"
        " AND EXISTS (SELECT 1 FROM memberships b JOIN mailboxes x ON x.id = b.mailbox_id"
        "  WHERE b.message_id = m.id AND (x.special_use IS NULL OR x.special_use NOT IN"
        "  ($1, $2, $3)))"
        " GROUP BY m.account_id, lower(m.from_email), m.from_name",
        *NOT_RECEIVED,
    ):  # fmt: skip
        tally.add(account_id, name, address, int(count), int(last))
    after = 0
    while True:  # the sent mail a page at a time: envelopes are big, the tally is not
        page = await tx.fetch(
            "SELECT m.id, m.account_id, m.envelope, m.received FROM messages m WHERE m.id > $2"
            " AND m.id IN (SELECT b.message_id FROM memberships b JOIN mailboxes x"
            "  ON x.id = b.mailbox_id WHERE x.special_use = $1) ORDER BY m.id LIMIT $3",
            SENT, after, FILL_BATCH,
        )  # fmt: skip
        for _, account_id, envelope_json, last in page:
            for name, address in _recipients(envelope_json):
                tally.add(account_id, name, address, 1, int(last))
        if len(page) < FILL_BATCH:
            break
        after = page[-1][0]
    rows = tally.rows()
    for start in range(0, len(rows), FILL_BATCH):
        await tx.executemany(UPSERT, rows[start:start + FILL_BATCH])


MIGRATION: dict[str, list[str | Callable[[Tx], Awaitable[None]]]] = {
    dialect: [TABLE, fill] for dialect in ("sqlite", "postgres")
}


async def suggest(tx: Tx, account_id: int, prefix: str, limit: int = 8) -> list[Correspondent]:
    start = fold(prefix.strip())[:MAX_PREFIX]
    if not start:
        return []
    pattern = _like(start) + "%"
    # Walks the account's rows most frequent first (``correspondents_rank``) and stops at the
    # page; a few spare rows for the final check of ``matches``.
    rows = await tx.fetch(
        "SELECT name, address, messages, last FROM correspondents"
        " WHERE account_id = $1 AND (folded LIKE $2 ESCAPE '!' OR folded LIKE $3 ESCAPE '!')"
        " AND address NOT IN (SELECT lower(address) FROM addresses WHERE account_id = $1)"
        " ORDER BY messages DESC, last DESC LIMIT $4",
        account_id, pattern, "% " + pattern, limit + 8,
    )  # fmt: skip
    found = [
        Correspondent(row[0], row[1], int(row[2]), int(row[3]))
        for row in rows if matches(start, row[0], row[1])
    ]
    found.sort(key=lambda c: (-c.count, -c.last, c.address))
    return found[:limit]
