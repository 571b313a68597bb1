"""MTA-STS policies kept across restarts (postbus.store.mta_sts), on both backends."""

from __future__ import annotations

from postbus.store import Store
from postbus.store import mta_sts as kept
from postbus.store.schema import LATEST

T0 = 1_700_000_000
POLICY = "version: STSv1\r\nmode: enforce\r\nmx: mx.remote.test\r\nmax_age: 86400\r\n"


def policy(domain: str, policy_id: str, fetched: int, max_age: int = 86400) -> kept.StoredPolicy:
    return kept.StoredPolicy(domain, policy_id, POLICY, fetched, fetched + max_age)


async def test_put_get_and_expiry(store: Store) -> None:
    assert LATEST >= 12
    assert await store.read(lambda tx: kept.get(tx, "remote.test", T0)) is None
    first = policy("remote.test", "one", T0)
    await store.write(lambda tx: kept.put(tx, first))
    assert await store.read(lambda tx: kept.get(tx, "remote.test", T0 + 10)) == first
    assert await store.read(lambda tx: kept.get(tx, "other.test", T0 + 10)) is None
    # RFC 8461 §3.2 max_age: at the expiry time the policy is gone.
    assert await store.read(lambda tx: kept.get(tx, "remote.test", T0 + 86399)) == first
    assert await store.read(lambda tx: kept.get(tx, "remote.test", T0 + 86400)) is None


async def test_newer_replaces_older_never_the_reverse(store: Store) -> None:
    """Nodes sharing PostgreSQL may write out of order: the latest fetch wins."""
    newer = policy("remote.test", "two", T0 + 100)
    await store.write(lambda tx: kept.put(tx, policy("remote.test", "one", T0)))
    await store.write(lambda tx: kept.put(tx, newer))
    assert await store.read(lambda tx: kept.get(tx, "remote.test", T0 + 200)) == newer
    await store.write(lambda tx: kept.put(tx, policy("remote.test", "one", T0 + 50)))
    assert await store.read(lambda tx: kept.get(tx, "remote.test", T0 + 200)) == newer


async def test_run_out_policies_are_swept(store: Store) -> None:
    await store.write(lambda tx: kept.put(tx, policy("old.test", "a", T0, max_age=60)))
    await store.write(lambda tx: kept.put(tx, policy("live.test", "b", T0)))
    await store.write(lambda tx: kept.put(tx, policy("remote.test", "c", T0 + 3600)))
    domains = await store.read(
        lambda tx: tx.fetch("SELECT domain FROM mta_sts_policies ORDER BY domain")
    )
    assert [row[0] for row in domains] == ["live.test", "remote.test"]
