"""Sending a message a user wrote: one path for SMTP submission and the webmail.

The message is DKIM-signed, delivered to local recipients through the delivery pipeline
(their forwarding included), queued for other domains, and filed once in the sender's Sent
folder, seen. Nothing returns before every copy is committed (design.md "Durability").
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from pathlib import Path

from postbus.delivery import Delivered, Forwarder, Recipient, deliver
from postbus.smtp.dkim import sign
from postbus.smtp.headers import return_path
from postbus.smtp.queue import enqueue
from postbus.store import Store, StoreError

log = logging.getLogger("postbus.smtp")

SENT = "\\Sent"  # RFC 6154 special use


async def dkim_signed(message: bytes, domain: str, dkim_dir: Path | None) -> bytes:
    """The message with our DKIM signatures; unsigned (and logged) when the domain has no key."""
    if dkim_dir is None:
        return message
    try:
        return await asyncio.to_thread(sign, message, domain, dkim_dir)
    except Exception:  # no key for this domain, or a signing bug: send unsigned, say so
        log.warning("DKIM signing for %s failed; sending unsigned", domain, exc_info=True)
        return message


async def file_copy(
    store: Store,
    account_id: int,
    special_use: str,
    message: bytes,
    flags: Sequence[str],
    received: int | None = None,
) -> int | None:
    """Append ``message`` to the account's special folder; the new UID, or None."""
    try:
        mailbox = await store.special_mailbox(account_id, special_use)
        if mailbox is None:
            return None
        appended = await store.append(account_id, mailbox.id, message, flags, received)
    except StoreError as exc:  # a full mailbox must not undo mail that went out
        log.warning("no %s copy for account %s: %s", special_use, account_id, exc)
        return None
    return appended.uid


async def send(
    store: Store,
    account_id: int,
    envelope_from: str,
    local: Sequence[Recipient],
    remote: Sequence[str],
    message: bytes,
    *,
    received: int,
    forwarder: Forwarder | None,
    trace: bytes = b"",
    save_sent: bool = True,
) -> list[Delivered]:
    """Deliver, queue and file in Sent. ``message`` is signed already (see ``dkim_signed``);
    ``trace`` (a Received: field) goes on the copies that travel, not on the Sent copy.

    The Sent copy is made only when the message went somewhere: every local copy refused and
    nothing queued means nothing was sent.
    """
    results: list[Delivered] = []
    if local:
        copy = return_path(envelope_from) + trace + message
        results = await deliver(
            store, local, copy, received=received, sender=envelope_from, forwarder=forwarder
        )
    if remote:
        await enqueue(store, envelope_from, list(remote), trace + message)
    went_out = bool(remote) or any(result.error is None for result in results)
    if save_sent and went_out:
        await file_copy(store, account_id, SENT, message, ["\\Seen"], received)
    return results
