"""Delivery of queued mail to other servers: MX routing, MTA-STS, retries, bounces.

The SMTP session with one MX is ``outbound_session.Session``; MTA-STS policies come from
``mtasts_discovery.PolicyCache``.

``run_queue`` is the background task ``postbus serve`` starts; ``QueueWorker.deliver_due(now)``
is one pass of it, which tests drive with a clock of their own to walk a five-day retry
schedule in milliseconds.

Invariants:
- Rows are claimed with a lease before any network I/O (``postbus.store.queue.claim``) and get
  their outcome in one write afterwards; no transaction is held open across the network.
- A notice to the sender (bounce or delay) is stored before the outcome that caused it is
  recorded: a crash in between repeats a notice, it never loses one.
- A message with the null reverse-path is never answered with a notice (RFC 5321 §4.5.5).
- At most ``connections_per_domain`` connections per destination and ``max_connections`` in
  all; one connection carries every message for its destination that is due.
- Failures of one destination never stop the worker: an unexpected error is logged and the
  recipients concerned wait for their next try.
- A domain with an MTA-STS policy in mode enforce (RFC 8461 §5) gets mail only from an MX the
  policy names, only after STARTTLS with a certificate valid for that MX; never in the clear.
  Every such failure is temporary: the policy may change, and the last try before the bounce
  looks it up again (§5.1 step 3).
"""

from __future__ import annotations

import asyncio
import collections
import logging
import ssl
import time
from collections.abc import Sequence
from dataclasses import dataclass, field

import aiosmtplib

from postbus.smtp import bounce, dsn
from postbus.smtp import queue as smtp_queue
from postbus.smtp.mtasts import Mode, Policy
from postbus.smtp.mtasts_discovery import PolicyCache, verified_context
from postbus.smtp.outbound_session import (
    LINK_ERRORS,
    STS_STATUS,
    ConnectionLost,
    Message,
    PolicyRefused,
    Session,
)
from postbus.smtp.resolver import DnsResolver
from postbus.smtp.routing import (
    MINUTE,
    Kind,
    OutboundSettings,
    Resolver,
    Result,
    RouteError,
    Smarthost,
    from_reply,
    resolver_from_config,
    retry_delay,
    route,
    settings_from_config,
)
from postbus.store import Store
from postbus.store import queue as q

log = logging.getLogger("postbus.outbound")

LEASE = 30 * MINUTE  # longer than one attempt can take (RFC 5321 §4.5.3.2 timeouts)
POLL = 60.0  # other nodes may queue mail too: look at the table at least this often


# -- the worker --------------------------------------------------------------------------------


@dataclass
class QueueWorker:
    store: Store
    settings: OutboundSettings
    resolver: Resolver
    _domain_limits: dict[str, asyncio.Semaphore] = field(default_factory=dict)
    _connections: asyncio.Semaphore | None = None
    _verified: ssl.SSLContext = field(init=False)
    _policies: PolicyCache = field(init=False)  # MTA-STS policies, kept in the store too

    def __post_init__(self) -> None:
        self._verified = verified_context(self.settings.tls_ca_file)
        self._policies = PolicyCache(
            self.resolver, self._verified, port=self.settings.mta_sts_port, store=self.store
        )

    async def deliver_due(self, now: int) -> int:
        """One pass: claim what is due at ``now``, try it, record the outcomes; returns count."""
        claimed = await self.claim(now)
        await asyncio.gather(
            *(
                self.deliver_domain(domain, items, now)
                for domain, items in _by_domain(claimed).items()
            )
        )
        return len(claimed)

    async def claim(self, now: int, limit: int | None = None) -> list[q.QueuedRecipient]:
        size = self.settings.batch if limit is None else limit
        return await self.store.write(lambda tx: q.claim(tx, now, now + LEASE, size))

    async def deliver_domain(self, domain: str, items: list[q.QueuedRecipient], now: int) -> None:
        try:
            results = await self._attempt(domain, items, now)
        except Exception:
            log.exception("delivery to %s failed unexpectedly", domain)
            results = {i.id: Result(Kind.TEMPORARY, "4.3.0", "internal error") for i in items}
        try:
            await self._settle(items, results, now)
        except Exception:  # the lease runs out and the rows are tried again
            log.exception("recording delivery outcomes for %s failed", domain)

    async def _attempt(
        self, domain: str, items: list[q.QueuedRecipient], now: int
    ) -> dict[int, Result]:
        relay = self.settings.smarthost
        try:
            addresses = [(relay.host, relay.host)] if relay else await route(self.resolver, domain)
        except RouteError as exc:
            return {item.id: exc.result for item in items}
        # Through a smarthost the recipient's policy is the relay's to apply (RFC 8461 §3.4);
        # we check the relay's own certificate when its settings say so (Smarthost.verify).
        policy = None if relay else await self._policies.policy(domain, now)
        errors: list[tuple[str, str]] = []  # (status, why) per failed address
        if policy is not None and policy.mode is not Mode.NONE:
            allowed = [(host, address) for host, address in addresses if policy.matches(host)]
            if len(allowed) < len(addresses):
                # RFC 8461 §4.1: an MX the policy does not name is not a candidate (enforce).
                others = sorted({host for host, _ in addresses} - {host for host, _ in allowed})
                why = f"MX {', '.join(others)} not in the MTA-STS policy of {domain}"
                if policy.mode is Mode.ENFORCE:
                    addresses = allowed
                    errors.append((STS_STATUS, why))
                else:
                    log.warning("MTA-STS (testing) would refuse %s; delivering anyway", why)
        messages: dict[int, Message] = {}
        for item in items:
            messages.setdefault(
                item.message_id, Message(item.message_id, item.envelope_from, item.blob_hash, [])
            ).items.append(item)
        pending = collections.deque(messages.values())
        results: dict[int, Result] = {}
        limit = self._domain_limits.setdefault(
            domain, asyncio.Semaphore(self.settings.connections_per_domain)
        )
        if self._connections is None:
            self._connections = asyncio.Semaphore(self.settings.max_connections)
        lanes = min(self.settings.connections_per_domain, len(pending)) if addresses else 0
        await asyncio.gather(
            *(self._lane(addresses, pending, results, errors, limit, policy) for _ in range(lanes))
        )
        status, reason = errors[-1] if errors else ("4.4.1", "no connection could be made")
        for message in pending:  # every address failed for these
            for item in message.items:
                results[item.id] = Result(Kind.TEMPORARY, status, reason)
        return results

    async def _lane(
        self,
        addresses: list[tuple[str, str]],
        pending: collections.deque[Message],
        results: dict[int, Result],
        errors: list[tuple[str, str]],
        limit: asyncio.Semaphore,
        policy: Policy | None,
    ) -> None:
        """One connection at a time, taking messages until none are left or addresses run out."""
        assert self._connections is not None
        async with limit, self._connections:
            for host, address in addresses:
                if not pending:
                    return
                session = Session(self.settings, host, address, policy, self._verified)
                try:
                    await session.open()
                except PolicyRefused as exc:
                    errors.append((STS_STATUS, str(exc)))
                    continue
                except (*LINK_ERRORS, aiosmtplib.SMTPException) as exc:
                    errors.append(("4.4.1", f"{host}[{address}]: {exc or type(exc).__name__}"))
                    session.close()
                    continue
                except BaseException:  # cancelled while connecting
                    session.close()
                    raise
                try:
                    while pending:
                        message = pending.popleft()
                        try:
                            body = await self.store.read_blob(message.blob_hash)
                            results.update(await session.send(message, body))
                        except ConnectionLost as exc:
                            pending.appendleft(message)
                            errors.append(("4.4.1", str(exc)))
                            break
                finally:
                    task = asyncio.current_task()
                    if task is not None and task.cancelling():
                        session.close()  # stopping: no polite QUIT to a server that may hang
                    else:
                        await session.quit()

    async def _settle(
        self, items: list[q.QueuedRecipient], results: dict[int, Result], now: int
    ) -> None:
        s = self.settings
        outcomes: list[q.Outcome] = []
        notices: dict[int, list[dsn.RecipientStatus]] = collections.defaultdict(list)
        by_message: dict[int, q.QueuedRecipient] = {}
        for item in items:
            result = results[item.id]
            by_message[item.message_id] = item
            expires = item.created + s.max_age
            where = f"{result.remote}: " if result.remote else ""
            if result.kind is Kind.SENT:
                outcomes.append(q.Outcome(item.id, q.State.SENT, where + result.reply))
                log.info("delivered to %s via %s", item.recipient, result.remote)
                continue
            if result.kind is Kind.PERMANENT or now >= expires:
                outcomes.append(q.Outcome(item.id, q.State.FAILED, where + result.reply))
                log.info("giving up on %s: %s%s", item.recipient, where, result.reply)
                notices[item.message_id].append(self._status(item, result, dsn.Action.FAILED, now))
                continue
            next_attempt = min(now + retry_delay(item.attempts + 1, s), expires)
            notify = (
                bool(s.delay_notice_after)
                and not item.delay_notice_sent
                and now - item.created >= s.delay_notice_after
            )
            if notify:
                notices[item.message_id].append(
                    self._status(item, result, dsn.Action.DELAYED, now, expires)
                )
            outcomes.append(
                q.Outcome(item.id, q.State.QUEUED, where + result.reply, next_attempt, notify)
            )
        for message_id, statuses in notices.items():
            await self._notify(by_message[message_id], statuses, now)
        await self.store.write(lambda tx: q.record(tx, outcomes, now))

    @staticmethod
    def _status(
        item: q.QueuedRecipient,
        result: Result,
        action: dsn.Action,
        now: int,
        retry_until: int | None = None,
    ) -> dsn.RecipientStatus:
        return dsn.RecipientStatus(
            item.recipient, action, result.status, result.reply, result.remote, now, retry_until
        )

    async def _notify(
        self, item: q.QueuedRecipient, statuses: list[dsn.RecipientStatus], now: int
    ) -> None:
        """Tell the sender: into a local INBOX through the pipeline, or queued with <>."""
        if not item.envelope_from:
            return  # RFC 5321 §4.5.5: never a notice about a notice (and no blob read)
        try:
            original = await self.store.read_blob(item.blob_hash)
        except Exception:
            log.exception("could not read message %s for a notice", item.message_id)
            return
        await bounce.notify_sender(
            self.store, reporting_mta=self.settings.hostname, sender=item.envelope_from,
            statuses=statuses, original=original, arrival=item.created, now=now,
        )  # fmt: skip


def _by_domain(items: Sequence[q.QueuedRecipient]) -> dict[str, list[q.QueuedRecipient]]:
    grouped: dict[str, list[q.QueuedRecipient]] = {}
    for item in items:
        grouped.setdefault(item.domain, []).append(item)
    return grouped


async def run_queue(
    store: Store,
    settings: OutboundSettings,
    resolver: Resolver | None,
    stop: asyncio.Event,
) -> None:
    """The delivery task of ``postbus serve``: runs until ``stop`` is set (or it is cancelled).

    On the way out, unfinished deliveries are cancelled and their rows given back, due at once,
    so a restart does not wait for their leases to run out.
    """
    worker = QueueWorker(store, settings, resolver or DnsResolver())
    wakeup = asyncio.Event()
    smtp_queue._wakeups.add(wakeup)
    in_flight: dict[asyncio.Task[None], list[int]] = {}
    try:
        while not stop.is_set():
            wakeup.clear()
            try:
                delay = await _pass(worker, in_flight)
            except Exception:  # the store is briefly away: try again shortly
                log.exception("outbound queue pass failed")
                delay = POLL
            if delay <= 0:
                continue  # more is due: claim again at once
            waiters = [asyncio.ensure_future(wakeup.wait()), asyncio.ensure_future(stop.wait())]
            await asyncio.wait(
                [*waiters, *in_flight], timeout=delay, return_when=asyncio.FIRST_COMPLETED
            )
            for waiter in waiters:
                waiter.cancel()
    finally:
        smtp_queue._wakeups.discard(wakeup)
        unfinished = [rid for ids in in_flight.values() for rid in ids]
        for task in in_flight:
            task.cancel()
        await asyncio.gather(*in_flight, return_exceptions=True)
        if unfinished:
            await asyncio.shield(_release(store, unfinished))


async def _release(store: Store, recipient_ids: list[int]) -> None:
    now = int(time.time())
    try:
        await store.write(lambda tx: q.release(tx, recipient_ids, now))
    except Exception:  # their leases run out instead
        log.exception("could not give back %d claimed recipients", len(recipient_ids))


async def _pass(worker: QueueWorker, in_flight: dict[asyncio.Task[None], list[int]]) -> float:
    """Claim what is due and start it; returns how long to wait before the next pass."""
    now = int(time.time())
    room = worker.settings.batch - sum(len(ids) for ids in in_flight.values())
    claimed = await worker.claim(now, room) if room > 0 else []
    for domain, items in _by_domain(claimed).items():
        task = asyncio.create_task(worker.deliver_domain(domain, items, now))
        in_flight[task] = [item.id for item in items]
        task.add_done_callback(lambda t: in_flight.pop(t, None))
    if room > 0 and len(claimed) == room:
        return 0.0
    due = await worker.store.read(q.next_due)
    return POLL if due is None else min(max(due - time.time(), 1.0), POLL)


__all__ = [
    "Kind",
    "OutboundSettings",
    "QueueWorker",
    "Result",
    "RouteError",
    "Smarthost",
    "from_reply",
    "resolver_from_config",
    "retry_delay",
    "route",
    "run_queue",
    "settings_from_config",
]
