"""The subscription list of an account: names, not mailboxes (RFC 9051 §6.3.7, §6.3.8).

A subscription outlives its mailbox: "the server MUST NOT unilaterally remove an existing
mailbox name from the subscription list even if a mailbox by that name no longer exists"
(RFC 3501 §6.3.6; a SHOULD NOT in RFC 9051 §6.3.7), and a name that does not exist (yet) can
be subscribed. So the list is its own table, keyed by (account, name); DELETE of a mailbox
leaves it, LIST (SUBSCRIBED) shows such a name as ``\\NonExistent`` (RFC 9051 §6.3.9.3).

Migration 10 fills the table from the old ``mailboxes.subscribed`` flag. That column stays
(migrations never drop what a released schema had) but nothing reads or writes it any more:
one place holds the truth, so the two can never disagree.

A mailbox made by CREATE (and any parent it makes) is subscribed at once, as before, so a
client that shows subscribed folders only sees what the webmail or another client created
(RFC 9051 §6.3.4 allows this; the OLDNAME LIST then carries ``\\Subscribed``). RENAME moves
the subscriptions of the mailbox and its children with it: RFC 9051 §6.3.6 only notes that
a rename does not do this by itself and has the client send SUBSCRIBE new, UNSUBSCRIBE old,
which still works here (both answer OK), and which cannot reach the children; Cyrus moves
them too. Dovecot moves them only when asked (``doveadm mailbox rename -s``).
"""

from __future__ import annotations

from postbus.store.db import Tx

TABLE = """
CREATE TABLE subscriptions (
    account_id BIGINT NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
    name TEXT NOT NULL,
    PRIMARY KEY (account_id, name)
);
INSERT INTO subscriptions (account_id, name)
    SELECT account_id, name FROM mailboxes WHERE subscribed <> 0
"""

MIGRATION: dict[str, list[str]] = {dialect: [TABLE] for dialect in ("sqlite", "postgres")}

# The subscription flag of a row of ``mailboxes``, for the mailbox columns of a SELECT.
SUBSCRIBED_COLUMN = (
    "EXISTS (SELECT 1 FROM subscriptions s WHERE s.account_id = mailboxes.account_id"
    " AND s.name = mailboxes.name) AS subscribed"
)


async def add(tx: Tx, account_id: int, name: str) -> None:
    """Subscribe a (normalised) name; subscribing twice is no error (RFC 9051 §6.3.7)."""
    await tx.execute(
        "INSERT INTO subscriptions (account_id, name) VALUES ($1, $2)"
        " ON CONFLICT (account_id, name) DO NOTHING",
        account_id, name,
    )


async def remove(tx: Tx, account_id: int, name: str) -> None:
    """Unsubscribe a name; one that is not subscribed is no error (RFC 9051 §6.3.8)."""
    await tx.execute(
        "DELETE FROM subscriptions WHERE account_id = $1 AND name = $2", account_id, name
    )


async def names(tx: Tx, account_id: int) -> list[str]:
    rows = await tx.fetch(
        "SELECT name FROM subscriptions WHERE account_id = $1 ORDER BY name", account_id
    )
    return [row[0] for row in rows]


async def rename(tx: Tx, account_id: int, old: str, new: str, separator: str) -> None:
    """Move the subscriptions of ``old`` and of the names under it to ``new``."""
    prefix = old + separator
    rows = await tx.fetch(
        "SELECT name FROM subscriptions WHERE account_id = $1"
        " AND (name = $2 OR substr(name, 1, $3) = $4)",
        account_id, old, len(prefix), prefix,
    )
    for row in rows:
        await remove(tx, account_id, row[0])
        await add(tx, account_id, new + row[0][len(old):])
