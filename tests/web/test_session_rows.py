"""The web_sessions table on both backends: create, find, slide, expire, end."""

from __future__ import annotations

from postbus.store import Store
from postbus.store import sessions as rows


def _session(account_id: int, token_hash: str, expires: int) -> rows.WebSession:
    return rows.WebSession(token_hash, account_id, "csrf", False, 100, 100, expires, "::1", "ua")


async def test_session_rows(store: Store) -> None:
    await store.add_domain("example.test")
    account = await store.add_account("a@example.test", "x")
    await store.write(lambda tx: rows.create(tx, _session(account.id, "h1", 1000)))
    await store.write(lambda tx: rows.create(tx, _session(account.id, "h2", 1000)))
    found = await store.read(lambda tx: rows.get(tx, "h1", 500))
    assert found is not None and found.account_id == account.id and found.csrf_token == "csrf"
    assert await store.read(lambda tx: rows.get(tx, "h1", 1000)) is None  # expired
    await store.write(lambda tx: rows.touch(tx, "h1", 900, 2000))
    assert await store.read(lambda tx: rows.get(tx, "h1", 1500)) is not None
    assert await store.write(lambda tx: rows.purge_expired(tx, 1500)) == 1  # h2
    await store.write(lambda tx: rows.create(tx, _session(account.id, "h3", 5000)))
    assert await store.write(lambda tx: rows.delete_for_account(tx, account.id, "h3")) == 1
    assert [s.token_hash for s in await store.read(
        lambda tx: rows.list_for_account(tx, account.id))] == ["h3"]
    await store.write(lambda tx: rows.delete(tx, "h3"))
    assert await store.read(lambda tx: rows.get(tx, "h3", 0)) is None
    await store.write(lambda tx: rows.create(tx, _session(account.id, "h4", 5000)))
    await store.remove_account(account.id)  # ON DELETE CASCADE
    assert await store.read(lambda tx: rows.get(tx, "h4", 0)) is None
