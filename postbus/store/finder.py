"""Search with filters: words (the full-text index) and conditions on the message row —
sender, recipients, subject, attachment, a date range, one folder — all combined (AND).

Three plans, each starting from the index that narrows most:
- with words that few messages hold, the full-text index finds them first (``MATERIALIZED``,
  so the planner cannot start elsewhere), then the filters test only those;
- with common words (``COMMON`` matches or more), sorting every match by date would cost
  most; the walk below tests each message against the index's matches instead;
- without words, the account's messages are walked newest first along
  ``messages_account_received`` (migration 7) and the walk stops after a page of matches; a
  date range bounds the walk on the same index.
Text filters are substrings, case-insensitive (``LOWER`` on both sides; SQLite folds ASCII
only), with LIKE's wildcards in the user's text escaped.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from postbus.store import search
from postbus.store.db import Tx
from postbus.store.messages import SUMMARY_SQL
from postbus.store.messages import _summary as summary_of
from postbus.store.models import ThreadMessage

MIGRATION = {
    dialect: ["CREATE INDEX messages_account_received ON messages(account_id, received, id)"]
    for dialect in ("sqlite", "postgres")
}
MAX_FILTER_CHARS = 200
# More matches than this for the words: sorting them all by date costs more than walking the
# newest messages until a page is found.
COMMON = 2000


@dataclass(frozen=True, slots=True)
class Criteria:
    """What to look for. Empty strings and None mean "any"."""

    words: str = ""
    sender: str = ""  # in the From name or address
    recipient: str = ""  # in To or Cc
    subject: str = ""
    attachment: bool = False
    since: int | None = None  # received at or after (epoch seconds)
    before: int | None = None  # received before (epoch seconds)
    mailbox_id: int | None = None  # one folder, or all

    def is_empty(self) -> bool:
        return not (search.words_of(self.words) or self.sender.strip()
                    or self.recipient.strip() or self.subject.strip() or self.attachment
                    or self.since is not None or self.before is not None)


def like_pattern(text: str) -> str:
    """``%text%`` for ``LIKE ... ESCAPE '!'``, the user's own ``%`` and ``_`` taken literally."""
    escaped = text.strip()[:MAX_FILTER_CHARS].lower()
    for char in "!%_":
        escaped = escaped.replace(char, "!" + char)
    return f"%{escaped}%"


class _Sql:
    """Conditions and their numbered arguments, built together."""

    def __init__(self, *args: Any) -> None:
        self.args = list(args)
        self.conditions: list[str] = []

    def arg(self, value: Any) -> str:
        self.args.append(value)
        return f"${len(self.args)}"

    def like(self, column_text: str, value: str) -> None:
        self.conditions.append(f"LOWER({column_text}) LIKE {self.arg(like_pattern(value))}"
                               " ESCAPE '!'")


def _filters(sql: _Sql, criteria: Criteria) -> None:
    if criteria.mailbox_id is not None:
        sql.conditions.append(
            "EXISTS (SELECT 1 FROM memberships f WHERE f.message_id = m.id"
            f" AND f.mailbox_id = {sql.arg(criteria.mailbox_id)})"
        )
    if criteria.sender.strip():
        sql.like("m.from_name || ' ' || m.from_email", criteria.sender)
    if criteria.recipient.strip():
        sql.like("m.to_text || ' ' || m.cc_text", criteria.recipient)
    if criteria.subject.strip():
        sql.like("m.subject", criteria.subject)
    if criteria.attachment:
        sql.conditions.append("m.has_attachment = 1")
    if criteria.since is not None:
        sql.conditions.append(f"m.received >= {sql.arg(criteria.since)}")
    if criteria.before is not None:
        sql.conditions.append(f"m.received < {sql.arg(criteria.before)}")


async def _matches_at_least(
    tx: Tx, matching: str, account_id: int, argument: str, count: int
) -> bool:
    if tx.dialect == "postgres":
        # With a common word PostgreSQL reads the table in order to find ``count`` matches
        # soon, unpacking every row's tsvector: 120 ms at 500,000 messages, where the GIN
        # index takes 35 (bench/RESULTS.md). It does not cost the unpacking.
        await tx.execute("SET LOCAL enable_seqscan = off")
    found = await tx.fetchval(
        f"SELECT COUNT(*) FROM ({matching} LIMIT {count}) s", account_id, argument
    )
    if tx.dialect == "postgres":
        await tx.execute("SET LOCAL enable_seqscan = on")
    return found >= count


PAGE_COLUMNS = ("m.id, m.size, m.received, m.sent, m.subject, m.from_name, m.from_email,"
                " m.to_text, m.preview, m.has_attachment, m.thread_id")
SELECT = SUMMARY_SQL.replace(" FROM memberships b JOIN messages m ON m.id = b.message_id", "")


async def find(
    tx: Tx, account_id: int, criteria: Criteria, limit: int = 50, offset: int = 0
) -> list[ThreadMessage]:
    """One page of the messages matching every criterion, newest first, with their folder.

    A message in two folders comes once per folder. Another account's messages never match:
    the account is a condition on the message and on the folder alike.
    """
    if criteria.is_empty():
        return []
    sql = _Sql(account_id)
    sql.conditions.append("m.account_id = $1")
    argument = search.match_argument(tx.dialect, criteria.words)
    hits = ""
    start = "messages m"
    if argument is not None:
        column, matches = search.match_from(tx.dialect, 2)
        sql.args.append(argument)
        own = " AND t.account_id = $1" if tx.dialect == "postgres" else ""
        matching = f"SELECT {column} AS id FROM message_text t WHERE {matches}{own}"
        if await _matches_at_least(tx, matching, account_id, argument, COMMON):
            # A common word: walk the newest messages, testing each against the index's
            # matches, and stop after a page (``+`` keeps SQLite from driving by the id).
            sql.conditions.append(f"+m.id IN ({matching})")
        else:
            # MATERIALIZED: the few matches first, whatever the planner's statistics say.
            hits = f"hits AS MATERIALIZED ({matching}), "
            start = "hits CROSS JOIN messages m"
            sql.conditions.append("m.id = hits.id")
    _filters(sql, criteria)
    wanted = sql.arg(offset + limit)
    folder = (f" AND b.mailbox_id = {sql.arg(criteria.mailbox_id)}"
              if criteria.mailbox_id is not None else "")
    # The page of messages first (each has a membership, so enough rows follow), then their
    # folders: joining memberships in the walk let PostgreSQL pick a merge join that rescans
    # every membership. CROSS JOIN keeps SQLite's join order as written.
    rows = await tx.fetch(
        f"WITH {hits}page AS MATERIALIZED (SELECT {PAGE_COLUMNS} FROM {start}"
        f" WHERE {' AND '.join(sql.conditions)}"
        f" ORDER BY m.received DESC, m.id DESC LIMIT {wanted})"
        f" {SELECT}, b.mailbox_id FROM page m CROSS JOIN memberships b"
        " WHERE b.message_id = m.id"
        " AND b.mailbox_id IN (SELECT id FROM mailboxes WHERE account_id = $1)"
        f"{folder} ORDER BY m.received DESC, m.id DESC, b.mailbox_id"
        f" LIMIT {sql.arg(limit)} OFFSET {sql.arg(offset)}",
        *sql.args,
    )
    return [ThreadMessage(row["mailbox_id"], summary_of(row)) for row in rows]
