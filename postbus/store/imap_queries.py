"""Store operations that the IMAP server needs beyond the common ones.

Each is an ``async def op(tx, ...)`` run through ``store.read``/``store.write``, in the store's
``$1`` style. Every one names the account, so no IMAP request reaches another account's rows.
What SELECT, the sequence map and FETCH FLAGS read is in imap_views.py.

- ``fetch_rows``: message rows by UID range with what FETCH needs, in one query.
- ``search_uids``: a SEARCH key tree compiled to one SQL condition.
- ``deleted_storage``: STATUS DELETED-STORAGE (RFC 9208).
- ``append_all``: MULTIAPPEND (RFC 3502): every message of one command, or none.
- ``replace_message``: REPLACE (RFC 8508): expunge the old message and append the new one at once.
- ``recent_sent_copy``: the Sent copy the submission path already saved (issue 3 point 3).
- ``search_rows``: SEARCH with the columns SORT, THREAD and SEARCH MODSEQ need (RFC 5256).
- ``changed_uids``, ``vanished_uids``, ``highest_modseq``, ``store_unchanged_since``:
  CONDSTORE / QRESYNC (RFC 7162).
"""

from __future__ import annotations

from typing import Any

from postbus.store import appending, messages, search
from postbus.store import flags as flagbits
from postbus.store.db import Tx
from postbus.store.errors import NotFound
from postbus.store.mailboxes import get_by_id
from postbus.store.messages import UidRanges, uid_condition
from postbus.store.models import Appended
from postbus.store.parsed import NewMessage

FLAG_COLUMNS = "b.uid, b.message_id, b.flags, b.keywords, b.modseq"
MESSAGE_COLUMNS = (
    ", m.size, m.received, m.envelope, m.body_structure, m.blob_hash, m.preview, m.thread_id,"
    " b.saved"
)


async def fetch_rows(
    tx: Tx, account_id: int, mailbox_id: int, ranges: UidRanges, with_message: bool
) -> list[Any]:
    """Rows by UID: uid, message_id, flags, keywords, modseq [, size, received, envelope,
    body_structure, blob_hash, preview, thread_id, saved], in UID order."""
    await get_by_id(tx, account_id, mailbox_id)
    condition, args = uid_condition(ranges, 2, tx.dialect)
    condition = condition.replace("uid", "b.uid")
    if with_message:
        sql = (
            f"SELECT {FLAG_COLUMNS}{MESSAGE_COLUMNS} FROM memberships b"
            f" JOIN messages m ON m.id = b.message_id WHERE b.mailbox_id = $1 AND {condition}"
            " ORDER BY b.uid"
        )
    else:
        sql = (
            f"SELECT {FLAG_COLUMNS} FROM memberships b WHERE b.mailbox_id = $1 AND {condition}"
            " ORDER BY b.uid"
        )
    return list(await tx.fetch(sql, mailbox_id, *args))


async def deleted_count(tx: Tx, account_id: int, mailbox_id: int) -> int:
    """STATUS DELETED (RFC 9051 §6.3.11)."""
    await get_by_id(tx, account_id, mailbox_id)
    return await tx.fetchval(
        "SELECT COUNT(*) FROM memberships WHERE mailbox_id = $1 AND (flags & $2) != 0",
        mailbox_id, flagbits.DELETED,
    )


async def deleted_storage(tx: Tx, account_id: int, mailbox_id: int) -> int:
    """STATUS DELETED-STORAGE (RFC 9208 §4.2): octets that EXPUNGE would free."""
    await get_by_id(tx, account_id, mailbox_id)
    return await tx.fetchval(
        "SELECT COALESCE(SUM(m.size), 0) FROM memberships b JOIN messages m"
        " ON m.id = b.message_id WHERE b.mailbox_id = $1 AND (b.flags & $2) != 0",
        mailbox_id, flagbits.DELETED,
    )


async def append_all(
    tx: Tx,
    account_id: int,
    mailbox_id: int,
    items: list[tuple[NewMessage, tuple[str, ...], int | None]],
    now: int,
) -> list[Appended]:
    """Append (message, flags, received) in order, in one transaction: a refusal of any one
    (OverQuota, ...) refuses them all (RFC 3502 §6.3.11)."""
    batch = [appending.Incoming(new, flags, received) for new, flags, received in items]
    return await appending.append_batch(tx, account_id, mailbox_id, batch, now)


async def replace_message(
    tx: Tx,
    account_id: int,
    source_id: int,
    old_uid: int,
    target_id: int,
    new: NewMessage,
    flags: tuple[str, ...],
    received: int | None,
    now: int,
) -> Appended:
    """RFC 8508 §3.3: the old message leaves its mailbox and the new one arrives, in one
    transaction (the old one goes first, so a replacement near the quota fits)."""
    ranges = [(old_uid, old_uid)]
    await messages.set_flags(tx, account_id, source_id, ranges, ["\\Deleted"], "add")
    gone = await messages.expunge(tx, account_id, source_id, ranges, now)
    if gone != [old_uid]:
        raise NotFound("the message to replace is gone")
    return await appending.append(tx, account_id, target_id, new, flags, received or now, now)


async def recent_sent_copy(
    tx: Tx, account_id: int, mailbox_id: int, message_id_header: str, since: int
) -> tuple[int, int] | None:
    """(uidvalidity, uid) of a message with this Message-ID saved in the mailbox since
    ``since``, or None: an APPEND of the client's own Sent copy is then a double."""
    mailbox = await get_by_id(tx, account_id, mailbox_id)
    uid = await tx.fetchval(
        "SELECT b.uid FROM messages m JOIN memberships b ON b.message_id = m.id"
        " WHERE m.account_id = $1 AND m.message_id_header = $2 AND b.mailbox_id = $3"
        " AND b.saved >= $4 ORDER BY b.uid DESC LIMIT 1",
        account_id, message_id_header, mailbox_id, since,
    )
    return None if uid is None else (mailbox.uidvalidity, uid)


# -- SEARCH --------------------------------------------------------------------------------

DAY = 86400
_FLAG_BITS = {
    "ANSWERED": flagbits.ANSWERED, "DELETED": flagbits.DELETED, "FLAGGED": flagbits.FLAGGED,
    "SEEN": flagbits.SEEN, "DRAFT": flagbits.DRAFT,
}
_TEXT_COLUMNS = {
    "FROM": ("m.from_name", "m.from_email"),
    "TO": ("m.to_text",),
    "CC": ("m.cc_text",),
    "SUBJECT": ("m.subject",),
    "BCC": ("m.envelope",),
    "MESSAGE-ID": ("m.message_id_header",),
}


class _Sql:
    def __init__(self, dialect: str, first_arg: int, header_matches: dict[int, UidRanges]):
        self.dialect = dialect
        self.args: list[Any] = []
        self.first = first_arg
        self.header_matches = header_matches

    def arg(self, value: Any) -> str:
        self.args.append(value)
        return f"${self.first + len(self.args) - 1}"

    def day(self, column: str, kind: str, day: int) -> str:
        """BEFORE, ON or SINCE a day (RFC 9051 §6.4.4: dates without time, ``day`` its start)."""
        if kind == "BEFORE":
            return f"{column} < {self.arg(day)}"
        if kind == "SINCE":
            return f"{column} >= {self.arg(day)}"
        return f"({column} >= {self.arg(day)} AND {column} < {self.arg(day + DAY)})"

    def like(self, columns: tuple[str, ...], text: str) -> str:
        escaped = text.lower().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        n = self.arg(f"%{escaped}%")
        return "(" + " OR ".join(
            f"lower(COALESCE({col}, '')) LIKE {n} ESCAPE '\\'" for col in columns
        ) + ")"

    def uids(self, ranges: UidRanges) -> str:
        condition, args = uid_condition(ranges, self.first + len(self.args), self.dialect)
        self.args.extend(args)
        return condition.replace("uid", "b.uid")

    def key(self, key: Any) -> str:
        name, args = key.name, key.args
        if name in ("ALL", "OLD"):
            return "1 = 1"
        if name == "RECENT":  # \Recent is gone (RFC 9051 §2.3.2): no message is recent
            return "0 = 1"
        if name == "NEW":
            name = "UNSEEN"
        if name in _FLAG_BITS:
            return f"(b.flags & {_FLAG_BITS[name]}) != 0"
        if name.startswith("UN") and name[2:] in _FLAG_BITS:
            return f"(b.flags & {_FLAG_BITS[name[2:]]}) = 0"
        if name in ("KEYWORD", "UNKEYWORD"):
            word = args[0].lower().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
            n = self.arg(f"% {word} %")
            sql = f"(' ' || lower(b.keywords) || ' ') LIKE {n} ESCAPE '\\'"
            return sql if name == "KEYWORD" else f"NOT {sql}"
        if name in _TEXT_COLUMNS:
            return self.like(_TEXT_COLUMNS[name], args[0])
        if name == "HEADER":
            field, value = args[0].upper(), args[1]
            if id(key) in self.header_matches:
                return self.uids(self.header_matches[id(key)])
            if field in _TEXT_COLUMNS:
                return self.like(_TEXT_COLUMNS[field], value)
            return "0 = 1"
        if name in ("BEFORE", "ON", "SINCE", "SENTBEFORE", "SENTON", "SENTSINCE"):
            column = "COALESCE(m.sent, m.received)" if name.startswith("SENT") else "m.received"
            return self.day(column, name.removeprefix("SENT"), args[0])
        if name in ("SAVEDBEFORE", "SAVEDON", "SAVEDSINCE"):  # RFC 8514 §4: the save date
            return self.day("b.saved", name.removeprefix("SAVED"), args[0])
        if name == "SAVEDATESUPPORTED":  # RFC 8514 §4: every mailbox keeps save dates
            return "1 = 1"
        if name in ("EMAILID", "THREADID"):  # RFC 8474 §6: args[0] is the row id or None
            if args[0] is None:
                return "0 = 1"
            column = "b.message_id" if name == "EMAILID" else "m.thread_id"
            return f"{column} = {self.arg(args[0])}"
        if name == "MODSEQ":  # RFC 7162 §3.1.5: modseq equal to or greater than the value
            return f"b.modseq >= {self.arg(args[0])}"
        if name in ("OLDER", "YOUNGER"):  # RFC 5032 §3; args: (interval, now) in seconds
            cutoff = self.arg(args[1] - args[0])
            return f"m.received {'<' if name == 'OLDER' else '>='} {cutoff}"
        if name == "LARGER":
            return f"m.size > {self.arg(args[0])}"
        if name == "SMALLER":
            return f"m.size < {self.arg(args[0])}"
        if name == "UID":  # the caller resolved the set to ranges
            return self.uids(args[0])
        if name in ("TEXT", "BODY"):
            argument = search.match_argument(self.dialect, args[0])
            if argument is None:
                return "1 = 1"
            n = self.first + len(self.args)
            self.args.append(argument)
            column, condition = search.match_from(self.dialect, n)
            return f"b.message_id IN (SELECT {column} FROM message_text t WHERE {condition})"
        if name == "NOT":
            return f"NOT ({self.key(args[0])})"
        if name == "OR":
            return f"(({self.key(args[0])}) OR ({self.key(args[1])}))"
        if name == "AND":
            return "(" + " AND ".join(f"({self.key(k)})" for k in args) + ")"
        raise ValueError(f"unknown search key {name}")


async def search_uids(
    tx: Tx,
    account_id: int,
    mailbox_id: int,
    key: Any,
    header_matches: dict[int, UidRanges] | None = None,
) -> list[int]:
    """UIDs matching a search key tree (SearchKey-shaped: ``name`` and ``args``).

    Sequence-number keys must already be UID keys with resolved ranges; HEADER keys on
    fields the store does not index come with their matching UIDs in ``header_matches``
    (keyed by ``id(key)``).
    """
    await get_by_id(tx, account_id, mailbox_id)
    sql = _Sql(tx.dialect, 2, header_matches or {})
    condition = sql.key(key)
    rows = await tx.fetch(
        "SELECT b.uid FROM memberships b JOIN messages m ON m.id = b.message_id"
        f" WHERE b.mailbox_id = $1 AND {condition} ORDER BY b.uid",
        mailbox_id, *sql.args,
    )
    return [row[0] for row in rows]


# -- SORT / THREAD / CONDSTORE / QRESYNC ---------------------------------------------------

# The columns SORT and THREAD may ask for (RFC 5256 §3), by name.
SORT_COLUMNS = {
    "modseq": "b.modseq", "received": "m.received", "sent": "m.sent", "size": "m.size",
    "subject": "m.subject", "base_subject": "m.base_subject", "from_name": "m.from_name",
    "from_email": "m.from_email", "envelope": "m.envelope",
    "message_id_header": "m.message_id_header", "blob_hash": "m.blob_hash",
}


async def search_rows(
    tx: Tx,
    account_id: int,
    mailbox_id: int,
    key: Any,
    header_matches: dict[int, UidRanges] | None,
    columns: tuple[str, ...],
) -> list[Any]:
    """Like ``search_uids``, with ``uid`` and the named ``SORT_COLUMNS`` of each match, in
    UID order: one query for what SORT, THREAD or SEARCH MODSEQ need."""
    await get_by_id(tx, account_id, mailbox_id)
    sql = _Sql(tx.dialect, 2, header_matches or {})
    condition = sql.key(key)
    wanted = "".join(f", {SORT_COLUMNS[name]} AS {name}" for name in columns)
    return list(await tx.fetch(
        f"SELECT b.uid{wanted} FROM memberships b JOIN messages m ON m.id = b.message_id"
        f" WHERE b.mailbox_id = $1 AND {condition} ORDER BY b.uid",
        mailbox_id, *sql.args,
    ))


async def changed_uids(
    tx: Tx, account_id: int, mailbox_id: int, ranges: UidRanges, modseq: int
) -> list[int]:
    """UIDs in ``ranges`` whose modseq is above ``modseq`` (RFC 7162 §3.1.4.1 CHANGEDSINCE),
    through the (mailbox_id, modseq) index."""
    await get_by_id(tx, account_id, mailbox_id)
    condition, args = uid_condition(ranges, 3, tx.dialect)
    rows = await tx.fetch(
        f"SELECT uid FROM memberships WHERE mailbox_id = $1 AND modseq > $2 AND {condition}"
        " ORDER BY uid",
        mailbox_id, modseq, *args,
    )
    return [row[0] for row in rows]


async def vanished_uids(
    tx: Tx, account_id: int, mailbox_id: int, ranges: UidRanges | None, modseq: int
) -> list[int]:
    """UIDs expunged after ``modseq``, within ``ranges`` when given: VANISHED (EARLIER)
    (RFC 7162 §3.2.5.1, §3.2.6). The expunge log is never pruned, so this is exact."""
    await get_by_id(tx, account_id, mailbox_id)
    condition, args = ("1 = 1", []) if ranges is None else uid_condition(ranges, 3, tx.dialect)
    rows = await tx.fetch(
        f"SELECT uid FROM expunged WHERE mailbox_id = $1 AND modseq > $2 AND {condition}"
        " ORDER BY uid",
        mailbox_id, modseq, *args,
    )
    return [row[0] for row in rows]


async def highest_modseq(tx: Tx, account_id: int, mailbox_id: int) -> int:
    return (await get_by_id(tx, account_id, mailbox_id)).highestmodseq


async def store_unchanged_since(
    tx: Tx,
    account_id: int,
    mailbox_id: int,
    ranges: UidRanges,
    flags: tuple[str, ...],
    mode: str,
    unchangedsince: int,
) -> tuple[list[tuple[int, tuple[str, ...], int]], list[int], list[tuple[int, int]]]:
    """RFC 7162 §3.1.3 conditional STORE, in one transaction: messages whose modseq is above
    ``unchangedsince`` are left alone. Returns (changed (uid, flags, modseq), the UIDs that
    failed the test (for [MODIFIED]), (uid, modseq) of those that passed unchanged)."""
    await get_by_id(tx, account_id, mailbox_id)
    if tx.dialect == "postgres":
        # the mailbox row first (messages.py lock order): no STORE can slip in between the
        # test and the change
        await tx.execute("SELECT 1 FROM mailboxes WHERE id = $1 FOR UPDATE", mailbox_id)
    condition, args = uid_condition(ranges, 2, tx.dialect)
    rows = await tx.fetch(
        f"SELECT uid, modseq FROM memberships WHERE mailbox_id = $1 AND {condition}"
        " ORDER BY uid",
        mailbox_id, *args,
    )
    modified = [row["uid"] for row in rows if row["modseq"] > unchangedsince]
    # runs of passing rows as UID ranges: no other message lies between two rows
    runs: list[tuple[int, int]] = []
    previous_passed = False
    for row in rows:
        passed = row["modseq"] <= unchangedsince
        if passed and previous_passed:
            runs[-1] = (runs[-1][0], row["uid"])
        elif passed:
            runs.append((row["uid"], row["uid"]))
        previous_passed = passed
    changed = []
    if runs:
        changed = await messages.set_flags(tx, account_id, mailbox_id, runs, flags, mode)
    done = {uid for uid, _, _ in changed}
    same = [(row["uid"], row["modseq"]) for row in rows
            if row["modseq"] <= unchangedsince and row["uid"] not in done]
    return changed, modified, same
