"""What the MX and submission handlers share: the context they run in and the common hooks.

aiosmtpd calls ``handle_<COMMAND>(server, session, envelope, ...)`` on a handler object; the
hooks here are a few lines each and call postbus's own functions (style.md §7).
"""

from __future__ import annotations

import inspect
import itertools
import logging
import secrets
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from postbus.accounts.auth import Authenticator
from postbus.config import LimitsConfig
from postbus.delivery import Delivered, Recipient, resolve_account
from postbus.smtp import bounce, codes, dsn, headers, policy, srs
from postbus.smtp.codes import Reply
from postbus.smtp.inbound import Checker
from postbus.smtp.protocol import Envelope, Session, hook_names
from postbus.store import NotFound, Store, StoreError

log = logging.getLogger("postbus.smtp")


_TOKEN_PREFIX = secrets.token_hex(6)  # per process: tokens stay unique across restarts
_TOKEN_COUNT = itertools.count()


def _token() -> str:
    """A queue id for Received fields and Message-IDs: unique, not secret (a counter is as
    good as random here, without a getrandom call per message)."""
    return f"{_TOKEN_PREFIX}{next(_TOKEN_COUNT):06x}"


@dataclass
class SmtpContext:
    """Everything one listener's connections share."""

    store: Store
    hostname: str
    limits: LimitsConfig
    rate: policy.RateLimiter
    plus_addressing: bool = True
    auth: Authenticator | None = None
    checker: Checker | None = None  # sender authentication (MX); see inbound.py
    resolver: object = None
    dkim_dir: Path | None = None
    clock: Callable[[], float] = time.time
    token: Callable[[], str] = field(default=_token)
    srs_key: Path | None = None  # data_dir/srs.key: SRS senders for forwards, bounces back
    _forwarder: srs.SrsForwarder | None = field(default=None, repr=False)

    @property
    def forwarder(self) -> srs.SrsForwarder:
        """Sends forwarded mail out (``delivery.Forwarder``) and checks SRS addresses."""
        if self._forwarder is None:
            self._forwarder = srs.SrsForwarder(self.store, self.srs_key, self.clock)
        return self._forwarder

    async def is_local_domain(self, domain: str) -> bool:
        try:
            await self.store.get_domain(domain)
        except (NotFound, StoreError):
            return False
        return True

    async def local_recipient(self, address: str, size: int) -> tuple[Recipient | None, Reply]:
        """Resolve a local recipient at RCPT; a full mailbox is refused now (552 5.2.2)."""
        found = await resolve_account(self.store, address, plus_addressing=self.plus_addressing)
        if found is None:
            return None, codes.UNKNOWN_USER
        recipient, account = found
        refusal = policy.over_quota(account, size)
        return (None, refusal) if refusal else (recipient, codes.RECIPIENT_OK)


class BaseHandler:
    allow_auth = False

    def __init__(self, ctx: SmtpContext) -> None:
        self.ctx = ctx

    def __dir__(self) -> list[str]:
        return hook_names(type(self))  # what aiosmtpd looks for, per connection (protocol.py)

    async def handle_EHLO(
        self, server: Any, session: Session, envelope: Envelope, hostname: str,
        responses: list[str],
    ) -> list[str]:  # fmt: skip
        session.host_name = hostname
        return policy.ehlo_lines(responses, auth=self.allow_auth)

    async def handle_MAIL(
        self, server: Any, session: Session, envelope: Envelope, address: str, options: list[str]
    ) -> str:
        if not self.ctx.rate.allow(policy.client_ip(session.peer), self.ctx.clock()):
            return str(codes.RATE_LIMITED)
        refusal = await self.check_sender(session, address)
        if refusal is not None:
            return str(refusal)
        envelope.mail_from = address
        envelope.mail_options.extend(options)
        return str(codes.SENDER_OK)

    async def check_sender(self, session: Session, address: str) -> Reply | None:
        return None

    async def handle_RCPT(
        self, server: Any, session: Session, envelope: Envelope, address: str, options: list[str]
    ) -> str:
        reply = policy.recipient_limit(len(envelope.rcpt_tos), self.ctx.limits.max_recipients)
        reply = reply or policy.routing_trick(address)
        if reply is None:
            reply = await self.accept_recipient(session, envelope, address)
        if reply.ok:
            envelope.rcpt_tos.append(address)
            envelope.rcpt_options.extend(options)
        return str(reply)

    async def accept_recipient(self, session: Session, envelope: Envelope, address: str) -> Reply:
        raise NotImplementedError

    async def handle_DATA(self, server: Any, session: Session, envelope: Envelope) -> str:
        try:
            return str(await self.receive(session, envelope))
        except Exception:  # no traceback reaches the client; nothing was acknowledged
            log.exception("DATA from %s failed", policy.client_ip(session.peer))
            return str(codes.TEMP_FAILURE)

    async def receive(self, session: Session, envelope: Envelope) -> Reply:
        raise NotImplementedError

    async def handle_exception(self, error: Exception) -> str:
        log.exception("SMTP session error", exc_info=error)
        return str(codes.TEMP_FAILURE)

    # -- helpers for receive() ---------------------------------------------------------------

    async def settle(
        self,
        envelope: Envelope,
        message: bytes,
        results: Sequence[Delivered],
        now: float,
        *,
        sent_on: bool = False,
    ) -> Reply:
        """The reply after DATA for the local copies in ``results`` (``sent_on``: the message
        also went to the queue), and a DSN to the sender for each copy refused when we say 250.

        RFC 5321 §4.1.1.4 gives DATA one reply; once some copy is stored it must be 250 (a
        retry would duplicate it), so the refused recipients learn of it by a bounce (RFC 3464),
        durable before the 250 like the copies themselves.
        """
        reply = codes.MESSAGE_ACCEPTED if sent_on else policy.delivery_reply(results)
        failed = [r for r in results if r.error is not None]
        if not reply.ok or not failed:
            return reply
        statuses = []
        for done in failed:
            assert done.error is not None
            refusal = policy.refusal(done.error)
            log.info("not delivered to %s: %s", done.recipient.address, done.error)
            statuses.append(dsn.RecipientStatus(
                done.recipient.address, dsn.Action.FAILED, refusal.status, str(refusal),
                last_attempt=int(now),
            ))  # fmt: skip
        await bounce.notify_sender(
            self.ctx.store, reporting_mta=self.ctx.hostname, sender=envelope.mail_from or "",
            statuses=statuses, original=message, arrival=int(now), now=int(now),
        )  # fmt: skip
        return reply

    def trace(self, session: Session, envelope: Envelope, queue_id: str, now: float) -> bytes:
        """This hop's Received: field (RFC 5321 §4.4)."""
        protocol = headers.protocol_keyword(
            esmtp=bool(session.extended_smtp),
            tls=session.ssl is not None or session.implicit_tls,
            authenticated=bool(session.authenticated),
            utf8=bool(envelope.smtp_utf8),
        )
        return headers.received(
            helo=session.host_name or "", ip=policy.client_ip(session.peer),
            hostname=self.ctx.hostname, protocol=protocol, queue_id=queue_id,
            recipients=list(envelope.rcpt_tos), now=now,
        )  # fmt: skip


# aiosmtpd reads handle_EHLO's signature for every connection (to tell its old four-argument
# form); computed once here, that costs 6 µs instead of 24.
BaseHandler.handle_EHLO.__signature__ = inspect.signature(BaseHandler.handle_EHLO)  # type: ignore[attr-defined]
