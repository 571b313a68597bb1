"""What the store refuses, as types; each protocol turns them into its own reply."""


class StoreError(Exception):
    """Base of every refusal the store makes on purpose."""


class NotFound(StoreError):
    pass


class AlreadyExists(StoreError):
    pass


class InvalidName(StoreError):
    pass


class LimitReached(StoreError):
    """A configured maximum (addresses per account, ...) would be exceeded."""


class OverQuota(StoreError):
    """The account's byte or message quota would be exceeded (SMTP 552 5.2.2, IMAP OVERQUOTA)."""


class AccountDisabled(StoreError):
    pass
