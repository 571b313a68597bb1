"""The SMTP listeners, plugged into ``postbus serve``: "smtp-mx" and "submission".

Invariants: one handler, one connection gate and one rate limiter per listener, shared by its
connections; a connection's state lives in its Session (per connection) and Envelope (per
transaction), never in the handler. Nothing here blocks the event loop: the store and the
authenticator run their blocking work in threads.
"""

from __future__ import annotations

import asyncio
import logging
import ssl
from dataclasses import dataclass
from typing import Any

from postbus import server as core
from postbus.config import Listener
from postbus.smtp import policy, srs
from postbus.smtp.authresults import check_inbound
from postbus.smtp.handler import BaseHandler, SmtpContext
from postbus.smtp.mx import MxHandler
from postbus.smtp.protocol import PostbusSMTP
from postbus.smtp.resolver import DnsResolver
from postbus.smtp.submission import SubmissionHandler

log = logging.getLogger("postbus.smtp")


@dataclass(frozen=True, slots=True)
class TlsPlan:
    """How one listener uses TLS, from its ``tls`` mode and whether it is loopback-only."""

    starttls: ssl.SSLContext | None  # offered with STARTTLS (RFC 3207)
    implicit: ssl.SSLContext | None  # TLS from the first byte (RFC 8314 §3)
    require_starttls: bool  # nothing but EHLO/NOOP/QUIT/STARTTLS before TLS
    auth_require_tls: bool


def tls_plan(
    listener: Listener,
    context: ssl.SSLContext | None,
    *,
    submission: bool,
    loopback_exception: bool = True,
) -> TlsPlan:
    starttls = context if listener.tls == "starttls" else None
    implicit = context if listener.tls == "implicit" else None
    # design.md "Sign-in": AUTH only over TLS; a loopback-only listener is the demo exception.
    loopback = loopback_exception and listener.allows_plaintext_auth
    secure_first = submission and starttls is not None and not loopback
    return TlsPlan(
        starttls=starttls,
        implicit=implicit,
        require_starttls=secure_first,
        # aiosmtpd cannot see implicit TLS; the transport is TLS from the start there.
        auth_require_tls=implicit is None and not loopback,
    )


def context_for(service: core.Service, listener: Listener, **overrides: Any) -> SmtpContext:
    config = service.config
    limits = config.limits
    per_minute = limits.smtp_messages_per_minute
    ctx = SmtpContext(
        store=service.store,
        hostname=config.server.hostname,
        limits=limits,
        rate=policy.RateLimiter(per_minute),
        plus_addressing=config.accounts.plus_addressing,
        auth=service.auth,
        dkim_dir=config.dkim_dir,
        srs_key=config.data_dir / srs.KEY_FILE,
    )
    if listener.protocol == "smtp-mx":
        ctx.checker = check_inbound
        ctx.resolver = DnsResolver(config.dns.nameservers, config.dns.timeout)
    for name, value in overrides.items():
        setattr(ctx, name, value)
    return ctx


async def start_listener(
    service: core.Service,
    listener: Listener,
    handler: BaseHandler,
    *,
    loopback_exception: bool = True,
) -> asyncio.AbstractServer:
    """Listen with ``handler``; tests call this directly with a context of their own making.

    ``loopback_exception=False`` lets a test on 127.0.0.1 see the rules of a public listener.
    """
    limits = service.config.limits
    plan = tls_plan(
        listener, service.tls, submission=handler.allow_auth, loopback_exception=loopback_exception
    )
    gate = policy.ConnectionGate(limits.connections_per_ip, limits.max_connections)
    loop = asyncio.get_running_loop()
    if handler.allow_auth and plan.auth_require_tls and not plan.starttls and not plan.implicit:
        log.warning("%s: no TLS and not loopback-only, so nobody can sign in", listener.name)

    def connection() -> PostbusSMTP:
        return PostbusSMTP(
            handler,
            gate=gate,
            max_line=limits.smtp_max_line_length,
            allow_auth=handler.allow_auth,
            implicit_tls=plan.implicit is not None,
            commands_per_second=limits.commands_per_second,
            hostname=service.config.server.hostname,
            data_size_limit=limits.max_message_size,
            enable_SMTPUTF8=True,  # RFC 6531
            decode_data=False,  # 8BITMIME (RFC 6152): bytes stay bytes
            tls_context=plan.starttls,
            require_starttls=plan.require_starttls,
            timeout=limits.smtp_timeout,
            auth_required=handler.allow_auth,
            auth_require_tls=plan.auth_require_tls,
            loop=loop,
        )

    return await loop.create_server(connection, listener.host, listener.port, ssl=plan.implicit)


async def mx_factory(service: core.Service, listener: Listener) -> asyncio.AbstractServer:
    return await start_listener(service, listener, MxHandler(context_for(service, listener)))


async def submission_factory(service: core.Service, listener: Listener) -> asyncio.AbstractServer:
    handler = SubmissionHandler(context_for(service, listener))
    return await start_listener(service, listener, handler)


core.register("smtp-mx", mx_factory)
core.register("submission", submission_factory)
