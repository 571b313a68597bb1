"""Per-account settings (language, signature, ...) and the audit log of administrative acts.

Settings are name/value text pairs; account 0 holds installation-wide values. The audit log
records who did what to which account, for the administrator and for the account owner.
"""

from __future__ import annotations

from postbus.store.db import Tx

INSTALLATION = 0


async def get_setting(tx: Tx, account_id: int, name: str) -> str | None:
    return await tx.fetchval(
        "SELECT value FROM settings WHERE account_id = $1 AND name = $2", account_id, name
    )


async def some_settings(tx: Tx, account_id: int, names: tuple[str, ...]) -> dict[str, str]:
    """The account's values of ``names`` that are set, in one statement."""
    placeholders = ", ".join(f"${n}" for n in range(2, len(names) + 2))
    rows = await tx.fetch(
        f"SELECT name, value FROM settings WHERE account_id = $1 AND name IN ({placeholders})",
        account_id, *names,
    )  # fmt: skip
    return {row[0]: row[1] for row in rows}


async def all_settings(tx: Tx, account_id: int) -> dict[str, str]:
    rows = await tx.fetch("SELECT name, value FROM settings WHERE account_id = $1", account_id)
    return {row[0]: row[1] for row in rows}


async def set_setting(tx: Tx, account_id: int, name: str, value: str | None) -> None:
    if value is None:
        await tx.execute(
            "DELETE FROM settings WHERE account_id = $1 AND name = $2", account_id, name
        )
        return
    await tx.execute(
        "INSERT INTO settings (account_id, name, value) VALUES ($1, $2, $3)"
        " ON CONFLICT (account_id, name) DO UPDATE SET value = excluded.value",
        account_id, name, value,
    )


async def audit(
    tx: Tx, now: int, actor: str, action: str, account_id: int | None = None, detail: str = ""
) -> None:
    await tx.execute(
        "INSERT INTO audit_log (at, account_id, actor, action, detail) VALUES ($1, $2, $3, $4, $5)",
        now, account_id, actor, action, detail,
    )


async def audit_entries(
    tx: Tx, account_id: int | None = None, limit: int = 100
) -> list[tuple[int, int | None, str, str, str]]:
    if account_id is None:
        rows = await tx.fetch(
            "SELECT at, account_id, actor, action, detail FROM audit_log"
            " ORDER BY id DESC LIMIT $1",
            limit,
        )
    else:
        rows = await tx.fetch(
            "SELECT at, account_id, actor, action, detail FROM audit_log WHERE account_id = $1"
            " ORDER BY id DESC LIMIT $2",
            account_id, limit,
        )
    return [tuple(row) for row in rows]
