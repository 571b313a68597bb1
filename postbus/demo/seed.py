"""The demo installation of ``postbus serve --demo``: one domain, one account, some mail."""

from __future__ import annotations

import contextlib
from datetime import UTC, datetime

from postbus.accounts import scram
from postbus.accounts.passwords import hash_password
from postbus.demo.messages import demo_messages
from postbus.store import AlreadyExists, NotFound, Store

DEMO_DOMAIN = "example.test"
DEMO_ADDRESS = "demo@example.test"
DEMO_PASSWORD = "demo-password"
DEMO_NAME = "Demo User"


async def seed_demo(store: Store, now: datetime | None = None) -> bool:
    """Create the demo account with its messages; False when it exists already."""
    try:
        await store.find_account(DEMO_ADDRESS)
        return False
    except NotFound:
        pass
    with contextlib.suppress(AlreadyExists):
        await store.add_domain(DEMO_DOMAIN)
    password_hash = hash_password(DEMO_PASSWORD)
    account = await store.add_account(DEMO_ADDRESS, password_hash, display_name=DEMO_NAME)
    await scram.save_secret(store, account.id, DEMO_PASSWORD, password_hash)
    folders = {mailbox.name: mailbox.id for mailbox in await store.list_mailboxes(account.id)}
    for message in demo_messages(now or datetime.now(UTC), DEMO_ADDRESS, DEMO_NAME):
        await store.append(
            account.id,
            folders[message.folder],
            message.raw,
            message.flags,
            int(message.internal_date.timestamp()),
        )
    return True
