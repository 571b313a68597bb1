"""Web sign-in sessions: server-side rows, the browser holds only a random token.

The table keeps the SHA-256 of the token, never the token itself, so a copy of the database
does not let anyone take over a session. Each session carries its own CSRF token. A session
ends when it is signed out, when it expires (``expires``, slid forward while it is used), when
its account is removed (ON DELETE CASCADE) or when the password changes (``delete_for_account``).

Invariants: every operation here only awaits its ``tx``; times are epoch seconds passed in.
"""

from __future__ import annotations

from dataclasses import dataclass

from postbus.store.db import Row, Tx

_DDL = """
CREATE TABLE web_sessions (
    token_hash TEXT PRIMARY KEY,
    account_id BIGINT NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
    csrf_token TEXT NOT NULL,
    persistent INTEGER NOT NULL DEFAULT 0,
    created BIGINT NOT NULL,
    last_seen BIGINT NOT NULL,
    expires BIGINT NOT NULL,
    remote_ip TEXT NOT NULL DEFAULT '',
    user_agent TEXT NOT NULL DEFAULT ''
);
CREATE INDEX web_sessions_account ON web_sessions(account_id);
CREATE INDEX web_sessions_expires ON web_sessions(expires);
"""

MIGRATION: dict[str, list[str]] = {"sqlite": [_DDL], "postgres": [_DDL]}

_COLUMNS = (
    "token_hash, account_id, csrf_token, persistent, created, last_seen, expires, remote_ip,"
    " user_agent"
)


@dataclass(frozen=True, slots=True)
class WebSession:
    token_hash: str
    account_id: int
    csrf_token: str
    persistent: bool
    created: int
    last_seen: int
    expires: int
    remote_ip: str
    user_agent: str


def _session(row: Row) -> WebSession:
    return WebSession(
        token_hash=row["token_hash"],
        account_id=row["account_id"],
        csrf_token=row["csrf_token"],
        persistent=bool(row["persistent"]),
        created=row["created"],
        last_seen=row["last_seen"],
        expires=row["expires"],
        remote_ip=row["remote_ip"],
        user_agent=row["user_agent"],
    )


async def create(tx: Tx, session: WebSession) -> None:
    await tx.execute(
        f"INSERT INTO web_sessions ({_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
        session.token_hash, session.account_id, session.csrf_token, int(session.persistent),
        session.created, session.last_seen, session.expires, session.remote_ip[:64],
        session.user_agent[:300],
    )


async def get(tx: Tx, token_hash: str, now: int) -> WebSession | None:
    """The live session with this token hash, or None (unknown or expired)."""
    row = await tx.fetchrow(
        f"SELECT {_COLUMNS} FROM web_sessions WHERE token_hash = $1 AND expires > $2",
        token_hash, now,
    )
    return None if row is None else _session(row)


async def touch(tx: Tx, token_hash: str, now: int, expires: int) -> None:
    await tx.execute(
        "UPDATE web_sessions SET last_seen = $1, expires = $2 WHERE token_hash = $3",
        now, expires, token_hash,
    )


async def delete(tx: Tx, token_hash: str) -> None:
    await tx.execute("DELETE FROM web_sessions WHERE token_hash = $1", token_hash)


async def delete_for_account(tx: Tx, account_id: int, keep: str | None = None) -> int:
    """End every session of an account (password change), except ``keep``; returns how many."""
    count = await tx.fetchval(
        "SELECT COUNT(*) FROM web_sessions WHERE account_id = $1 AND token_hash <> $2",
        account_id, keep or "",
    )
    await tx.execute(
        "DELETE FROM web_sessions WHERE account_id = $1 AND token_hash <> $2",
        account_id, keep or "",
    )
    return int(count or 0)


async def list_for_account(tx: Tx, account_id: int) -> list[WebSession]:
    rows = await tx.fetch(
        f"SELECT {_COLUMNS} FROM web_sessions WHERE account_id = $1 ORDER BY last_seen DESC",
        account_id,
    )
    return [_session(row) for row in rows]


async def purge_expired(tx: Tx, now: int) -> int:
    count = await tx.fetchval("SELECT COUNT(*) FROM web_sessions WHERE expires <= $1", now)
    await tx.execute("DELETE FROM web_sessions WHERE expires <= $1", now)
    return int(count or 0)
