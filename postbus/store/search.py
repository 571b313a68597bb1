"""Full-text search in each database's own engine: FTS5 on SQLite, tsvector on PostgreSQL.

Both fold case and accents, so Dutch "één" finds "een" and "ÉéN" alike: SQLite's
``unicode61 remove_diacritics 2`` tokenizer does it in the engine; for PostgreSQL we fold in
Python before ``to_tsvector('simple', ...)`` (no extension needed) and fold queries the same way.
A query is a list of words; a message matches when it holds every word (AND).
"""

from __future__ import annotations

import re
import unicodedata

from postbus.store.db import Tx, any_of

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
# What FTS5's unicode61 tokenizer keeps together: letters and digits (``_`` separates).
_WORD = re.compile(r"[^\W_]+")
_NON_WORD = re.compile(r"[\W_]+")
# One ``bytes.translate`` folds ASCII: separators to spaces, capitals to small letters. Octets
# of 128 and up are left alone, so UTF-8 sequences stay whole.
_ASCII_FOLD = bytes.maketrans(
    (separators := bytes(c for c in range(128) if not chr(c).isalnum()))
    + (capitals := bytes(range(ord("A"), ord("Z") + 1))),
    b" " * len(separators) + capitals.lower(),
)


def fold(text: str) -> str:
    """Lower-case and strip accents (NFKD, then drop combining marks)."""
    if text.isascii():
        return text.lower()
    return _COMBINING.sub("", unicodedata.normalize("NFKD", text)).lower()


def words_of(query: str) -> list[str]:
    return _WORD.findall(fold(query))


# Version 8: the index keeps which documents hold a word, not where (``detail=none``) and no
# per-document sizes (``columnsize=0``): queries are ANDs of single words ordered by date, never
# phrases or rank, and the index is written in about half the time.
COMPACT_INDEX = {
    "sqlite": [
        "CREATE VIRTUAL TABLE message_words USING fts5("
        "text, tokenize = 'unicode61 remove_diacritics 2', detail = none, columnsize = 0)",
        "INSERT INTO message_words (rowid, text) SELECT rowid, text FROM message_text",
        "DROP TABLE message_text",
        "ALTER TABLE message_words RENAME TO message_text",
    ],
    "postgres": [],
}


def index_words(text: str) -> str:
    """What the index keeps of a message's text: each folded word once, in no set order.

    The engines then tokenize a fraction of the text and store no copy of the rest. Words
    only: PostgreSQL's parser would keep "report-2026.pdf" as one file token. Computed with
    the parse, outside the database writer, and the dearest step of it: ASCII is folded and
    split in C (``_ASCII_FOLD``, ``bytes.split``, a set); only the distinct words left with
    other characters go through the (slow) Unicode pattern. The words are those ``words_of``
    finds in the text.
    """
    text = text[:MAX_INDEXED_CHARS]
    if not text.isascii():
        text = fold(text)  # whole, as queries are: lower() looks at the neighbours (final σ)
    words = set(text.encode().translate(_ASCII_FOLD).split())
    if text.isascii():
        return b" ".join(words).decode()
    folded = set()
    for word in words:
        if word.isascii():
            folded.add(word.decode())
        else:
            folded.update(part for part in _NON_WORD.split(word.decode()) if part)
    return " ".join(folded)


async def index_messages(tx: Tx, account_id: int, words: list[tuple[int, str]]) -> None:
    """Index (message id, ``index_words`` output) pairs of one account."""
    if tx.dialect == "sqlite":
        await tx.executemany("INSERT INTO message_text (rowid, text) VALUES ($1, $2)", words)
        return
    # strip(): no positions, as queries are ANDs of words, never phrases.
    await tx.executemany(
        "INSERT INTO message_text (message_id, account_id, document)"
        " VALUES ($1, $2, strip(to_tsvector('simple', $3)))",
        [(message_id, account_id, text) for message_id, text in words],
    )


async def remove_messages(tx: Tx, message_ids: list[int]) -> None:
    column = "rowid" if tx.dialect == "sqlite" else "message_id"
    condition, listed = any_of(column, 1, tx.dialect, message_ids)
    await tx.execute(f"DELETE FROM message_text WHERE {condition}", listed)


def match_argument(dialect: str, query: str) -> str | None:
    """The bound value for ``match_from``'s condition; None when the query has no words."""
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
