"""The delivery pipeline: one place where a message reaches local mailboxes, whatever brought it.

SMTP (MX and submission), the mail collector and import all call ``resolve`` for each envelope
recipient (at RCPT time, so unknown users are refused before DATA and we never bounce later) and
then ``deliver`` once with the message. It lives beside the protocol packages, not in one of
them, because several of them use it.

Steps, in order: address and alias resolution, plus-addressing, the disabled check, (the user's
Sieve script and forwarding plug in here in later work), folder choice, quota (the store refuses
an over-quota copy with ``OverQuota``), events (published by the store after commit).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from postbus.store import OverQuota, Store, StoreError
from postbus.store.directory import normalise_address
from postbus.store.errors import InvalidName, NotFound
from postbus.store.models import Account, Appended

PLUS = "+"


@dataclass(frozen=True, slots=True)
class Recipient:
    """A local recipient as resolved at RCPT time."""

    address: str  # as the sender wrote it, normalised
    account_id: int
    folder: str  # INBOX, or a folder named by a +tag, or Junk


@dataclass(frozen=True, slots=True)
class Delivered:
    recipient: Recipient
    appended: Appended | None
    error: StoreError | None  # OverQuota, AccountDisabled ... for this recipient only


async def resolve(store: Store, address: str, *, plus_addressing: bool = True) -> Recipient | None:
    """The local recipient for an envelope address, or None (RCPT is then refused, 550 5.1.1)."""
    try:
        normalised, _ = normalise_address(address)
    except InvalidName:
        return None
    account = await _account_for(store, normalised)
    tag = ""
    if account is None and plus_addressing:
        local, _, domain = normalised.partition("@")
        base, plus, tag = local.partition(PLUS)
        if plus and base:
            account = await _account_for(store, f"{base}@{domain}")
    if account is None or account.disabled:
        return None
    return Recipient(normalised, account.id, await _folder_for_tag(store, account.id, tag))


async def _account_for(store: Store, address: str) -> Account | None:
    try:
        return await store.find_account(address)
    except (NotFound, InvalidName):
        return None


async def _folder_for_tag(store: Store, account_id: int, tag: str) -> str:
    # user+Receipts@ files into an existing folder named Receipts; any other tag goes to INBOX.
    if not tag:
        return "INBOX"
    for mailbox in await store.list_mailboxes(account_id):
        if mailbox.name.lower() == tag.lower():
            return mailbox.name
    return "INBOX"


async def deliver(
    store: Store,
    recipients: Sequence[Recipient],
    message: bytes | Path,
    *,
    junk: bool = False,
    received: int | None = None,
) -> list[Delivered]:
    """Store one message for each recipient; the body is written and parsed once."""
    unique = list({r.account_id: r for r in recipients}.values())  # one copy per mailbox owner
    targets = []
    for recipient in unique:
        folder = "Junk" if junk else recipient.folder
        mailbox = await _mailbox_id(store, recipient.account_id, folder)
        targets.append((recipient.account_id, mailbox, ()))
    outcomes = await store.append_many(targets, message, received)
    return [
        Delivered(r, o, None) if isinstance(o, Appended) else Delivered(r, None, o)
        for r, o in zip(unique, outcomes, strict=True)
    ]


async def _mailbox_id(store: Store, account_id: int, folder: str) -> int:
    try:
        return (await store.get_mailbox(account_id, folder)).id
    except NotFound:
        # A deleted Junk or tag folder: the message still arrives, in INBOX.
        return (await store.get_mailbox(account_id, "INBOX")).id


__all__ = ["Delivered", "OverQuota", "Recipient", "deliver", "resolve"]
