"""The data layer: the only package that talks SQL. See ``store.py`` for the ``Store`` door."""

from postbus.store.errors import (
    AccountDisabled,
    AlreadyExists,
    InvalidName,
    LimitReached,
    NotFound,
    OverQuota,
    StoreError,
)
from postbus.store.store import Store, open_postgres, open_sqlite

__all__ = [
    "AccountDisabled",
    "AlreadyExists",
    "InvalidName",
    "LimitReached",
    "NotFound",
    "OverQuota",
    "Store",
    "StoreError",
    "open_postgres",
    "open_sqlite",
]
