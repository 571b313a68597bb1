"""What most store tests start from: one domain and one account in it, on either backend."""

from __future__ import annotations

import pytest

from postbus.store import Store
from postbus.store.models import Account


@pytest.fixture
async def account(store: Store) -> Account:
    await store.add_domain("example.org")
    return await store.add_account("a@example.org", "hash")
