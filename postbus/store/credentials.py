"""Secrets for challenge-response sign-in (SCRAM, RFC 5802 §3): one row per account and
mechanism, made from the password when it is set (postbus/accounts/scram.py derives it).

The row holds what a server needs to verify a SCRAM exchange and nothing that lets anyone sign
in directly: the salt, the iteration count, StoredKey and ServerKey (base64). The password itself
stays an argon2 hash in ``accounts``. An account without a row cannot use SCRAM; sign-in answers
as for a wrong password. ``password_ref`` names the password hash the row was made with: a row
whose password has changed since (by any path) no longer counts. Rows go with their account
(ON DELETE CASCADE).

Invariants: every operation here only awaits its ``tx``; times are epoch seconds passed in.
"""

from __future__ import annotations

from dataclasses import dataclass

from postbus.store.db import Tx

_DDL = """
CREATE TABLE scram_credentials (
    account_id BIGINT NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
    mechanism TEXT NOT NULL,
    salt TEXT NOT NULL,
    iterations INTEGER NOT NULL,
    stored_key TEXT NOT NULL,
    server_key TEXT NOT NULL,
    password_ref TEXT NOT NULL,
    updated BIGINT NOT NULL,
    PRIMARY KEY (account_id, mechanism)
);
"""

MIGRATION: dict[str, list[str]] = {"sqlite": [_DDL], "postgres": [_DDL]}


@dataclass(frozen=True, slots=True)
class ScramCredential:
    mechanism: str  # "SCRAM-SHA-256"
    salt: str  # base64
    iterations: int
    stored_key: str  # base64
    server_key: str  # base64
    password_ref: str  # which password it was made from (scram.password_ref of its hash)


async def get_scram(tx: Tx, account_id: int, mechanism: str) -> ScramCredential | None:
    row = await tx.fetchrow(
        "SELECT mechanism, salt, iterations, stored_key, server_key, password_ref"
        " FROM scram_credentials"
        " WHERE account_id = $1 AND mechanism = $2",
        account_id, mechanism,
    )
    if row is None:
        return None
    return ScramCredential(
        row["mechanism"], row["salt"], row["iterations"], row["stored_key"], row["server_key"],
        row["password_ref"],
    )


async def set_scram(tx: Tx, account_id: int, credential: ScramCredential, now: int) -> None:
    await tx.execute(
        "DELETE FROM scram_credentials WHERE account_id = $1 AND mechanism = $2",
        account_id, credential.mechanism,
    )
    await tx.execute(
        "INSERT INTO scram_credentials (account_id, mechanism, salt, iterations, stored_key,"
        " server_key, password_ref, updated) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        account_id, credential.mechanism, credential.salt, credential.iterations,
        credential.stored_key, credential.server_key, credential.password_ref, now,
    )


async def delete_scram(tx: Tx, account_id: int) -> None:
    """Forget every SCRAM secret of the account (the password was reset without one)."""
    await tx.execute("DELETE FROM scram_credentials WHERE account_id = $1", account_id)
