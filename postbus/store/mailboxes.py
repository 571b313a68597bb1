"""The folder tree of an account.

Mailbox names are names, never paths (design.md, "Account isolation"): ``/`` separates levels,
``INBOX`` is case-insensitive (RFC 9051 §5.1), and names with empty levels, control characters
or the LIST wildcards ``*`` and ``%`` are refused. Each mailbox carries its IMAP state
(uidvalidity, uidnext, highestmodseq) and counters kept in the same transaction as every change.
"""

from __future__ import annotations

from postbus.store import subscriptions
from postbus.store.db import Row, Tx
from postbus.store.errors import AlreadyExists, InvalidName, NotFound
from postbus.store.events import EventKind, MailboxEvent
from postbus.store.models import Mailbox

SEPARATOR = "/"
MAX_NAME_LENGTH = 1000
MAX_DEPTH = 32

# RFC 6154 special-use folders every new account gets, in the order they are listed.
DEFAULT_MAILBOXES = (
    ("INBOX", None),
    ("Drafts", "\\Drafts"),
    ("Sent", "\\Sent"),
    ("Archive", "\\Archive"),
    ("Junk", "\\Junk"),
    ("Trash", "\\Trash"),
)
SPECIAL_USES = {"\\All", "\\Archive", "\\Drafts", "\\Flagged", "\\Junk", "\\Sent", "\\Trash"}

COLUMNS = (
    "id, account_id, name, special_use, uidvalidity, uidnext, highestmodseq,"
    f" message_count, unseen_count, total_bytes, {subscriptions.SUBSCRIBED_COLUMN}"
)


def normalise_name(name: str) -> str:
    if name.upper() == "INBOX":
        return "INBOX"
    levels = name.split(SEPARATOR)
    if levels[0].upper() == "INBOX":
        levels[0] = "INBOX"
    if (
        not name
        or len(name) > MAX_NAME_LENGTH
        or len(levels) > MAX_DEPTH
        or any(not level or level.strip() != level for level in levels)
        or any(ch in "*%" or ord(ch) < 0x20 or ord(ch) == 0x7F for ch in name)
    ):
        raise InvalidName(f"not a valid folder name: {name!r}")
    return SEPARATOR.join(levels)


def _mailbox(row: Row) -> Mailbox:
    return Mailbox(
        id=row["id"],
        account_id=row["account_id"],
        name=row["name"],
        special_use=row["special_use"],
        subscribed=bool(row["subscribed"]),
        uidvalidity=row["uidvalidity"],
        uidnext=row["uidnext"],
        highestmodseq=row["highestmodseq"],
        message_count=row["message_count"],
        unseen_count=row["unseen_count"],
        total_bytes=row["total_bytes"],
    )


async def _next_uidvalidity(tx: Tx, account_id: int, now: int) -> int:
    # RFC 9051 §2.3.1.1: a re-created name must get a new, larger UIDVALIDITY.
    last = await tx.fetchval("SELECT last_uidvalidity FROM accounts WHERE id = $1", account_id)
    value = max(now & 0xFFFFFFFF, (last or 0) + 1)
    await tx.execute(
        "UPDATE accounts SET last_uidvalidity = $1 WHERE id = $2", value, account_id
    )
    return value


async def _insert(tx: Tx, account_id: int, name: str, special_use: str | None, now: int) -> int:
    uidvalidity = await _next_uidvalidity(tx, account_id, now)
    mailbox_id = await tx.fetchval(
        "INSERT INTO mailboxes (account_id, name, special_use, uidvalidity, created)"
        " VALUES ($1, $2, $3, $4, $5) RETURNING id",
        account_id, name, special_use, uidvalidity, now,
    )
    # RFC 9051 §6.3.4: a server may subscribe what it creates; this one does (subscriptions.py)
    await subscriptions.add(tx, account_id, name)
    return mailbox_id


async def create_defaults(tx: Tx, account_id: int, now: int) -> None:
    for name, special_use in DEFAULT_MAILBOXES:
        await _insert(tx, account_id, name, special_use, now)


async def create(
    tx: Tx, account_id: int, name: str, now: int, special_use: str | None = None
) -> Mailbox:
    """Create a mailbox and any missing parents (RFC 9051 §6.3.4)."""
    name = normalise_name(name)
    if special_use is not None and special_use not in SPECIAL_USES:
        raise InvalidName(f"not a special use: {special_use}")
    if await _find(tx, account_id, name) is not None:
        raise AlreadyExists(f"folder {name} exists already")
    levels = name.split(SEPARATOR)
    for depth in range(1, len(levels)):
        parent = SEPARATOR.join(levels[:depth])
        if await _find(tx, account_id, parent) is None:
            await _insert(tx, account_id, parent, None, now)
    mailbox_id = await _insert(tx, account_id, name, special_use, now)
    tx.notify(MailboxEvent(EventKind.MAILBOXES, account_id, mailbox_id))
    return await get_by_id(tx, account_id, mailbox_id)


async def _find(tx: Tx, account_id: int, name: str) -> Row | None:
    return await tx.fetchrow(
        f"SELECT {COLUMNS} FROM mailboxes WHERE account_id = $1 AND name = $2", account_id, name
    )


async def get(tx: Tx, account_id: int, name: str) -> Mailbox:
    row = await _find(tx, account_id, normalise_name(name))
    if row is None:
        raise NotFound(f"no folder {name}")
    return _mailbox(row)


async def get_or_inbox(tx: Tx, account_id: int, name: str) -> Mailbox:
    """The folder ``name``, or INBOX when there is none by that name (any more)."""
    row = await _find(tx, account_id, normalise_name(name))
    if row is None:
        row = await _find(tx, account_id, "INBOX")
    if row is None:
        raise NotFound(f"no folder {name}")
    return _mailbox(row)


async def get_by_id(tx: Tx, account_id: int, mailbox_id: int) -> Mailbox:
    # The account is part of every lookup: one account never reaches another's folders.
    row = await tx.fetchrow(
        f"SELECT {COLUMNS} FROM mailboxes WHERE account_id = $1 AND id = $2",
        account_id, mailbox_id,
    )
    if row is None:
        raise NotFound(f"no folder {mailbox_id}")
    return _mailbox(row)


async def get_special(tx: Tx, account_id: int, special_use: str) -> Mailbox | None:
    row = await tx.fetchrow(
        f"SELECT {COLUMNS} FROM mailboxes WHERE account_id = $1 AND special_use = $2"
        " ORDER BY id LIMIT 1",
        account_id, special_use,
    )
    return None if row is None else _mailbox(row)


async def list_all(tx: Tx, account_id: int) -> list[Mailbox]:
    rows = await tx.fetch(
        f"SELECT {COLUMNS} FROM mailboxes WHERE account_id = $1 ORDER BY id", account_id
    )
    return [_mailbox(row) for row in rows]


async def has_children(tx: Tx, account_id: int, name: str) -> bool:
    prefix = name + SEPARATOR
    count = await tx.fetchval(
        "SELECT COUNT(*) FROM mailboxes WHERE account_id = $1 AND substr(name, 1, $2) = $3",
        account_id, len(prefix), prefix,
    )
    return count > 0


async def rename(tx: Tx, account_id: int, old: str, new: str, now: int) -> Mailbox:
    """Rename a mailbox and its children (RFC 9051 §6.3.6). INBOX itself cannot move here."""
    source = await get(tx, account_id, old)
    target = normalise_name(new)
    if source.name == "INBOX":
        raise InvalidName("INBOX cannot be renamed")
    if target == source.name or target.startswith(source.name + SEPARATOR):
        raise InvalidName("a folder cannot be moved into itself")
    if await _find(tx, account_id, target) is not None:
        raise AlreadyExists(f"folder {target} exists already")
    children = await tx.fetch(
        "SELECT id, name FROM mailboxes WHERE account_id = $1 AND substr(name, 1, $2) = $3",
        account_id, len(source.name) + 1, source.name + SEPARATOR,
    )
    levels = target.split(SEPARATOR)
    for depth in range(1, len(levels)):
        parent = SEPARATOR.join(levels[:depth])
        if await _find(tx, account_id, parent) is None:
            await _insert(tx, account_id, parent, None, now)
    await tx.execute("UPDATE mailboxes SET name = $1 WHERE id = $2", target, source.id)
    for child in children:
        await tx.execute(
            "UPDATE mailboxes SET name = $1 WHERE id = $2",
            target + child["name"][len(source.name):], child["id"],
        )
    await subscriptions.rename(tx, account_id, source.name, target, SEPARATOR)
    tx.notify(MailboxEvent(EventKind.MAILBOXES, account_id, source.id))
    return await get_by_id(tx, account_id, source.id)


async def set_subscribed(tx: Tx, account_id: int, name: str, subscribed: bool) -> None:
    """SUBSCRIBE / UNSUBSCRIBE a name, whether or not a mailbox has it (RFC 9051 §6.3.7)."""
    name = normalise_name(name)
    if subscribed:
        await subscriptions.add(tx, account_id, name)
    else:
        await subscriptions.remove(tx, account_id, name)
