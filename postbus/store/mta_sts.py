"""MTA-STS policies of the domains we send to, kept across restarts (RFC 8461 §5.1, §10.2).

A policy fetched once stays in force for its max_age, even when a later discovery fails; kept
only in memory, a restart during a DNS or HTTPS outage (or one an attacker causes) would drop
it, which is the downgrade §10.2 warns of. One row per destination domain: the policy text as
fetched (parsed again by the reader, so this module knows nothing of its syntax), the id of the
``_mta-sts`` record it came with, and when it was fetched and runs out. On PostgreSQL every node
shares the rows, so one fetch serves all.

Invariants: every operation here only awaits its ``tx``; times are epoch seconds passed in.
"""

from __future__ import annotations

from dataclasses import dataclass

from postbus.store.db import Tx

_DDL = """
CREATE TABLE mta_sts_policies (
    domain TEXT PRIMARY KEY,
    policy_id TEXT NOT NULL,
    policy TEXT NOT NULL,
    fetched BIGINT NOT NULL,
    expires BIGINT NOT NULL
);
CREATE INDEX mta_sts_policies_expires ON mta_sts_policies(expires);
"""

MIGRATION: dict[str, list[str]] = {"sqlite": [_DDL], "postgres": [_DDL]}


@dataclass(frozen=True, slots=True)
class StoredPolicy:
    domain: str  # lower-case A-labels
    policy_id: str  # the id of the _mta-sts TXT record the policy was fetched for
    policy: str  # the policy file as served
    fetched: int
    expires: int  # fetched + max_age


async def get(tx: Tx, domain: str, now: int) -> StoredPolicy | None:
    """The policy kept for ``domain`` that has not run out at ``now``, or None."""
    row = await tx.fetchrow(
        "SELECT domain, policy_id, policy, fetched, expires FROM mta_sts_policies"
        " WHERE domain = $1 AND expires > $2",
        domain, now,
    )  # fmt: skip
    if row is None:
        return None
    return StoredPolicy(row[0], row[1], row[2], row[3], row[4])


async def put(tx: Tx, policy: StoredPolicy) -> None:
    """Keep ``policy`` unless a fresher one is kept already (another node fetched it later)."""
    await tx.execute(
        "INSERT INTO mta_sts_policies (domain, policy_id, policy, fetched, expires)"
        " VALUES ($1, $2, $3, $4, $5)"
        " ON CONFLICT (domain) DO UPDATE SET policy_id = excluded.policy_id,"
        " policy = excluded.policy, fetched = excluded.fetched, expires = excluded.expires"
        " WHERE excluded.fetched >= mta_sts_policies.fetched",
        policy.domain, policy.policy_id, policy.policy, policy.fetched, policy.expires,
    )  # fmt: skip
    # Domains we stopped sending to would stay for ever; policies are fetched seldom, so the
    # sweep rides along here (the index on expires keeps it cheap).
    await tx.execute("DELETE FROM mta_sts_policies WHERE expires <= $1", policy.fetched)
