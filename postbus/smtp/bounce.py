"""Sending a delivery status notification (``dsn.py``) to the envelope sender.

Two callers: the outbound queue, when it gives up on a remote recipient or is late, and the
listeners, when a message was stored for some local recipients and refused for others after
DATA (SMTP has one reply for DATA, RFC 5321 §4.1.1.4; only LMTP has one per recipient, RFC 2033
§4.2). The listeners then say 250 for the copies that were stored, so they are not sent again,
and the refused recipients are reported here, as Postfix does with its bounce daemon.

Invariants: a notice is never sent about a message with the null reverse-path (RFC 5321
§4.5.5); it is durable (in the sender's mailbox, or in the outbound queue) when ``notify_sender``
returns True; a failure to send one is logged and never raised, since the caller has already
stored the copies that went through.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

from postbus import delivery
from postbus.smtp import dsn
from postbus.smtp import queue as smtp_queue
from postbus.store import Store

log = logging.getLogger("postbus.smtp")


async def notify_sender(
    store: Store,
    *,
    reporting_mta: str,
    sender: str,
    statuses: Sequence[dsn.RecipientStatus],
    original: bytes,
    arrival: int,
    now: int,
) -> bool:
    """Deliver a DSN about ``statuses`` to ``sender``: into a local INBOX through the pipeline,
    or queued for another domain with the null reverse-path. True once it is stored."""
    if not sender or sender == "<>" or not statuses:
        return False  # RFC 5321 §4.5.5: never a notice about a notice
    try:
        report = dsn.build_report(
            reporting_mta=reporting_mta, sender=sender, recipients=statuses,
            original=original, arrival=arrival, now=now,
        )  # fmt: skip
        local = await delivery.resolve(store, sender)
        if local is None:
            await smtp_queue.enqueue(store, "", [sender], report, now=now)
            return True
        stored = True
        for done in await delivery.deliver(store, [local], report, received=now):
            if done.error is not None:
                log.warning("notice to %s not stored: %s", sender, done.error)
                stored = False
        return stored
    except Exception:
        log.exception("could not send a delivery notice to %s", sender)
        return False
