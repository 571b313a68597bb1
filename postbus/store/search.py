"""Full-text search in each database's own engine: FTS5 on SQLite, tsvector on PostgreSQL.

Both fold case and accents, so Dutch "één" finds "een" and "ÉéN" alike: SQLite's
``unicode61 remove_diacritics 2`` tokenizer does it in the engine; for PostgreSQL we fold in
Python before ``to_tsvector('simple', ...)`` (no extension needed) and fold queries the same way.
A query is a list of words; a message matches when it holds every word (AND).
"""

from __future__ import annotations

import re
import unicodedata
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from postbus.store.db import Tx

MAX_INDEXED_CHARS = 64 * 1024

MIGRATION = {
    "sqlite": [
        "CREATE VIRTUAL TABLE message_text USING fts5("
        "text, tokenize = 'unicode61 remove_diacritics 2')"
    ],
    "postgres": [
        "CREATE TABLE message_text ("
        " message_id BIGINT PRIMARY KEY REFERENCES messages(id) ON DELETE CASCADE,"
        " account_id BIGINT NOT NULL,"
        " document TSVECTOR NOT NULL)",
        "CREATE INDEX message_text_document ON message_text USING GIN (document)",
    ],
}

_COMBINING = re.compile(r"[\u0300-\u036f\u1ab0-\u1aff\u1dc0-\u1dff\u20d0-\u20ff\ufe20-\ufe2f]")
_WORD = re.compile(r"\w+")
_NON_WORD = re.compile(r"[\W_]+")


def fold(text: str) -> str:
    """Lower-case and strip accents (NFKD, then drop combining marks)."""
    return _COMBINING.sub("", unicodedata.normalize("NFKD", text)).lower()


def words_of(query: str) -> list[str]:
    return _WORD.findall(fold(query))


async def index_message(tx: Tx, message_id: int, account_id: int, text: str) -> None:
    text = text[:MAX_INDEXED_CHARS]
    if tx.dialect == "sqlite":
        await tx.execute("INSERT INTO message_text (rowid, text) VALUES ($1, $2)", message_id, text)
    else:
        await tx.execute(
            "INSERT INTO message_text (message_id, account_id, document)"
            " VALUES ($1, $2, to_tsvector('simple', $3))",
            message_id,
            account_id,
            # Words only: PostgreSQL's parser would keep "report-2026.pdf" as one file token.
            _NON_WORD.sub(" ", fold(text)),
        )


async def remove_message(tx: Tx, message_id: int) -> None:
    if tx.dialect == "sqlite":
        await tx.execute("DELETE FROM message_text WHERE rowid = $1", message_id)
    else:
        await tx.execute("DELETE FROM message_text WHERE message_id = $1", message_id)


def match_argument(dialect: str, query: str) -> str | None:
    """The bound value for ``match_condition``; None when the query has no words."""
    words = words_of(query)
    if not words:
        return None
    if dialect == "sqlite":
        # Each word quoted: FTS5 query syntax in the user's text must stay plain text.
        return " ".join(f'"{word}"' for word in words)
    return " ".join(words)


def match_from(dialect: str, arg: int) -> tuple[str, str]:
    """(message id column of ``message_text t``, condition for the words bound at ``$arg``).

    Queries start from the index (``FROM message_text t``) so the engine's own index finds the
    few matching documents, instead of testing every message of the mailbox.
    """
    if dialect == "sqlite":
        return "t.rowid", f"message_text MATCH ${arg}"
    return "t.message_id", f"t.document @@ plainto_tsquery('simple', ${arg})"
