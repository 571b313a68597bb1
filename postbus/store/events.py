"""Change notifications: what IMAP IDLE, POP3 and the webmail listen to.

In one process the bus hands each event to every subscriber of that account. Between processes
on PostgreSQL the database carries events with LISTEN/NOTIFY (see ``db.py``); every process,
the sender included, publishes what it receives, so there is one path for local and remote
changes.

Invariants: events are published only after the change is committed; a slow subscriber never
blocks the publisher (its queue is bounded and, when full, it is told to resynchronise).
"""

from __future__ import annotations

import asyncio
import enum
import json
from collections import defaultdict
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

QUEUE_LIMIT = 1000


class EventKind(enum.Enum):
    NEW = "new"  # messages appended to a mailbox
    EXPUNGED = "expunged"  # messages removed from a mailbox
    FLAGS = "flags"  # flags or keywords changed
    MAILBOXES = "mailboxes"  # a mailbox was created, renamed or deleted
    OVERFLOW = "overflow"  # the subscriber missed events and must re-read its state


@dataclass(frozen=True, slots=True)
class MailboxEvent:
    kind: EventKind
    account_id: int
    mailbox_id: int = 0
    uids: tuple[int, ...] = field(default=())
    modseq: int = 0

    def payloads(self) -> list[str]:
        """The event as PostgreSQL NOTIFY payloads, each under its 8,000-octet limit.

        UIDs travel as runs (``[first, last]``), so marking a whole folder read or expunging
        it is one payload; UIDs in no order worth a run are split over several events, which
        subscribers take as they would take separate changes.
        """
        runs = _runs(self.uids)
        parts = [runs[i : i + RUNS_PER_PAYLOAD] for i in range(0, len(runs), RUNS_PER_PAYLOAD)]
        return [
            json.dumps([self.kind.value, self.account_id, self.mailbox_id, part, self.modseq])
            for part in parts or [[]]
        ]

    @classmethod
    def from_payload(cls, text: str) -> MailboxEvent:
        kind, account_id, mailbox_id, runs, modseq = json.loads(text)
        uids = tuple(uid for first, last in runs for uid in range(first, last + 1))
        return cls(EventKind(kind), account_id, mailbox_id, uids, modseq)


# "[4294967295,4294967295]," is 24 octets: 300 runs and the rest stay under 8,000.
RUNS_PER_PAYLOAD = 300


def _runs(uids: tuple[int, ...]) -> list[list[int]]:
    """Consecutive UIDs as [first, last], in the order given."""
    runs: list[list[int]] = []
    for uid in uids:
        if runs and uid == runs[-1][1] + 1:
            runs[-1][1] = uid
        else:
            runs.append([uid, uid])
    return runs


class Subscription:
    def __init__(self, account_id: int) -> None:
        self.account_id = account_id
        self.queue: asyncio.Queue[MailboxEvent] = asyncio.Queue(QUEUE_LIMIT)
        self.overflowed = False

    def offer(self, event: MailboxEvent) -> None:
        if self.overflowed:
            return
        if self.queue.qsize() >= QUEUE_LIMIT - 1:
            self.overflowed = True
            self.queue.put_nowait(MailboxEvent(EventKind.OVERFLOW, self.account_id))
            return
        self.queue.put_nowait(event)

    async def get(self) -> MailboxEvent:
        event = await self.queue.get()
        if event.kind is EventKind.OVERFLOW:
            self.overflowed = False
        return event

    def __aiter__(self) -> AsyncIterator[MailboxEvent]:
        return self._iterate()

    async def _iterate(self) -> AsyncIterator[MailboxEvent]:
        while True:
            yield await self.get()


class EventBus:
    def __init__(self) -> None:
        self._subscribers: dict[int, set[Subscription]] = defaultdict(set)

    def publish(self, event: MailboxEvent) -> None:
        for subscription in tuple(self._subscribers.get(event.account_id, ())):
            subscription.offer(event)

    @contextmanager
    def subscribe(self, account_id: int) -> Iterator[Subscription]:
        subscription = Subscription(account_id)
        self._subscribers[account_id].add(subscription)
        try:
            yield subscription
        finally:
            subscribers = self._subscribers[account_id]
            subscribers.discard(subscription)
            if not subscribers:
                del self._subscribers[account_id]
