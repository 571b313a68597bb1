"""Domains, accounts and their addresses.

An address is written ``local@domain`` and kept lower-case: RFC 5321 §2.4 lets the local part be
case-sensitive, but every mail service people use treats it as not, and so do we. Each account
has one primary address (its sign-in name) and aliases, at most ``max_addresses`` in all.
"""

from __future__ import annotations

import re

from postbus.store import mailboxes, messages
from postbus.store.db import Row, Tx
from postbus.store.errors import AlreadyExists, InvalidName, LimitReached, NotFound
from postbus.store.models import Account, Address, Domain

# RFC 1035 §2.3.1 labels (letters, digits, hyphen), also accepting IDN U-labels.
_DOMAIN = re.compile(r"^(?=.{1,253}$)([^\W_]([\w-]{0,61}[^\W_])?\.)+[^\W\d_][\w-]{0,61}[^\W_]$")
# RFC 5322 §3.2.3 dot-atom local part; quoted local parts are never ours to create.
_LOCAL = re.compile(r"^[\w!#$%&'*+/=?^`{|}~-]+(\.[\w!#$%&'*+/=?^`{|}~-]+)*$")

# Usage is the sum of the account's mailbox counters: no account row that every delivery
# must lock (quota checks read it; on PostgreSQL parallel deliveries may overshoot by a message).
ACCOUNT_SELECT = (
    "SELECT a.id, a.domain_id, a.address, a.display_name, a.password_hash, a.disabled,"
    " a.quota_bytes, a.quota_messages, a.created, a.last_login,"
    " (SELECT COALESCE(SUM(m.total_bytes), 0) FROM mailboxes m WHERE m.account_id = a.id)"
    " AS used_bytes,"
    " (SELECT COALESCE(SUM(m.message_count), 0) FROM mailboxes m WHERE m.account_id = a.id)"
    " AS used_messages"
    " FROM accounts a"
)


def normalise_domain(name: str) -> str:
    domain = name.strip().rstrip(".").lower()
    if not _DOMAIN.match(domain):
        raise InvalidName(f"not a domain name: {name!r}")
    return domain


def normalise_address(address: str) -> tuple[str, str]:
    """'Jan.Jansen@Example.ORG' -> ('jan.jansen@example.org', 'example.org')."""
    local, at, domain = address.strip().rpartition("@")
    if not at or len(local) > 64 or not _LOCAL.match(local):
        raise InvalidName(f"not an e-mail address: {address!r}")
    domain = normalise_domain(domain)
    return f"{local.lower()}@{domain}", domain


def _account(row: Row) -> Account:
    return Account(
        id=row["id"],
        domain_id=row["domain_id"],
        address=row["address"],
        display_name=row["display_name"],
        password_hash=row["password_hash"],
        disabled=bool(row["disabled"]),
        quota_bytes=row["quota_bytes"],
        quota_messages=row["quota_messages"],
        used_bytes=row["used_bytes"],
        used_messages=row["used_messages"],
        created=row["created"],
        last_login=row["last_login"],
    )


async def add_domain(tx: Tx, name: str, now: int) -> Domain:
    domain = normalise_domain(name)
    if await tx.fetchval("SELECT id FROM domains WHERE name = $1", domain) is not None:
        raise AlreadyExists(f"domain {domain} exists already")
    domain_id = await tx.fetchval(
        "INSERT INTO domains (name, created) VALUES ($1, $2) RETURNING id", domain, now
    )
    return Domain(domain_id, domain, now)


async def list_domains(tx: Tx) -> list[Domain]:
    rows = await tx.fetch("SELECT id, name, created FROM domains ORDER BY name")
    return [Domain(row["id"], row["name"], row["created"]) for row in rows]


async def get_domain(tx: Tx, name: str) -> Domain:
    domain = normalise_domain(name)
    row = await tx.fetchrow("SELECT id, name, created FROM domains WHERE name = $1", domain)
    if row is None:
        raise NotFound(f"no domain {domain}")
    return Domain(row["id"], row["name"], row["created"])


async def remove_domain(tx: Tx, name: str) -> None:
    domain = await get_domain(tx, name)
    count = await tx.fetchval("SELECT COUNT(*) FROM accounts WHERE domain_id = $1", domain.id)
    if count:
        raise LimitReached(f"domain {domain.name} still has {count} account(s); remove them first")
    await tx.execute("DELETE FROM addresses WHERE domain_id = $1", domain.id)
    await tx.execute("DELETE FROM domains WHERE id = $1", domain.id)


async def add_account(
    tx: Tx,
    address: str,
    password_hash: str,
    now: int,
    *,
    display_name: str = "",
    quota_bytes: int = 0,
    quota_messages: int = 0,
) -> Account:
    address, domain_name = normalise_address(address)
    domain = await get_domain(tx, domain_name)
    if await tx.fetchval("SELECT account_id FROM addresses WHERE address = $1", address):
        raise AlreadyExists(f"address {address} is taken")
    account_id = await tx.fetchval(
        "INSERT INTO accounts (domain_id, address, display_name, password_hash, quota_bytes,"
        " quota_messages, created) VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING id",
        domain.id, address, display_name, password_hash, quota_bytes, quota_messages, now,
    )
    await tx.execute(
        "INSERT INTO addresses (address, account_id, domain_id, is_primary) VALUES ($1, $2, $3, 1)",
        address, account_id, domain.id,
    )
    await mailboxes.create_defaults(tx, account_id, now)
    return await get_account(tx, account_id)


async def get_account(tx: Tx, account_id: int) -> Account:
    row = await tx.fetchrow(f"{ACCOUNT_SELECT} WHERE a.id = $1", account_id)
    if row is None:
        raise NotFound(f"no account {account_id}")
    return _account(row)


async def find_account(tx: Tx, address: str) -> Account:
    """The account an address (primary or alias) belongs to."""
    normalised, _ = normalise_address(address)
    row = await tx.fetchrow(
        f"{ACCOUNT_SELECT} JOIN addresses x ON x.account_id = a.id WHERE x.address = $1",
        normalised,
    )
    if row is None:
        raise NotFound(f"no account for {normalised}")
    return _account(row)


async def list_accounts(tx: Tx, domain: str | None = None) -> list[Account]:
    if domain is None:
        rows = await tx.fetch(f"{ACCOUNT_SELECT} ORDER BY a.address")
    else:
        domain_id = (await get_domain(tx, domain)).id
        rows = await tx.fetch(
            f"{ACCOUNT_SELECT} WHERE a.domain_id = $1 ORDER BY a.address", domain_id
        )
    return [_account(row) for row in rows]


async def update_account(tx: Tx, account_id: int, **changes: object) -> Account:
    allowed = {"password_hash", "disabled", "quota_bytes", "quota_messages", "display_name",
               "last_login"}
    for column, value in changes.items():
        if column not in allowed:
            raise ValueError(f"not an account setting: {column}")
        await tx.execute(f"UPDATE accounts SET {column} = $1 WHERE id = $2", value, account_id)
    return await get_account(tx, account_id)


async def remove_account(tx: Tx, account_id: int, now: int) -> list[str]:
    """Delete an account and all its mail; returns blob hashes that lost a reference."""
    await get_account(tx, account_id)
    hashes = await messages.drop_account_messages(tx, account_id, now)
    await tx.execute("DELETE FROM settings WHERE account_id = $1", account_id)
    await tx.execute("DELETE FROM accounts WHERE id = $1", account_id)
    return hashes


async def add_alias(tx: Tx, account_id: int, alias: str, max_addresses: int) -> Address:
    address, domain_name = normalise_address(alias)
    domain = await get_domain(tx, domain_name)
    await get_account(tx, account_id)
    owner = await tx.fetchval("SELECT account_id FROM addresses WHERE address = $1", address)
    if owner is not None:
        raise AlreadyExists(f"address {address} is taken")
    count = await tx.fetchval("SELECT COUNT(*) FROM addresses WHERE account_id = $1", account_id)
    if count >= max_addresses:
        raise LimitReached(f"an account has at most {max_addresses} addresses")
    await tx.execute(
        "INSERT INTO addresses (address, account_id, domain_id, is_primary) VALUES ($1, $2, $3, 0)",
        address, account_id, domain.id,
    )
    return Address(address, account_id, False)


async def list_addresses(tx: Tx, account_id: int) -> list[Address]:
    rows = await tx.fetch(
        "SELECT address, account_id, is_primary FROM addresses WHERE account_id = $1"
        " ORDER BY is_primary DESC, address",
        account_id,
    )
    return [Address(row[0], row[1], bool(row[2])) for row in rows]


async def remove_alias(tx: Tx, alias: str) -> None:
    address, _ = normalise_address(alias)
    row = await tx.fetchrow("SELECT is_primary FROM addresses WHERE address = $1", address)
    if row is None:
        raise NotFound(f"no address {address}")
    if row[0]:
        raise InvalidName(f"{address} is an account's primary address; remove the account")
    await tx.execute("DELETE FROM addresses WHERE address = $1", address)
