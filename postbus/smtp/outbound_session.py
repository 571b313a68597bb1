"""One SMTP client session to another server's MX (or our smarthost), for the outbound queue.

``Session.open`` connects, says EHLO and secures the connection as the destination asks:
opportunistic STARTTLS (RFC 7435) when the domain has no MTA-STS policy, verified STARTTLS
when it has one (RFC 8461 §4.2), and no clear text at all when that policy is in mode enforce
(§5). ``Session.send`` is one mail transaction for one message's recipients there.
"""

from __future__ import annotations

import contextlib
import logging
import ssl
from dataclasses import dataclass

import aiosmtplib

from postbus.smtp.mtasts import Mode, Policy
from postbus.smtp.routing import Kind, OutboundSettings, Result, Smarthost, from_reply
from postbus.store import queue as q

log = logging.getLogger("postbus.outbound")

DATA_TIMEOUT = 600.0  # RFC 5321 §4.5.3.2.6: DATA termination, 10 minutes
STS_STATUS = "4.7.5"  # RFC 3463 X.7.5: TLS could not be negotiated as the policy demands


def _opportunistic_context() -> ssl.SSLContext:
    # RFC 7435: encrypt when offered, without authenticating the MX (no MTA-STS policy).
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    return context


def _source(settings: OutboundSettings, destination: str) -> tuple[str, int] | None:
    if not settings.bind_address:
        return None
    # An IPv4 source cannot reach an IPv6 destination, nor the other way round.
    if (":" in settings.bind_address) != (":" in destination):
        return None
    return (settings.bind_address, 0)


@dataclass(slots=True)
class Message:
    message_id: int
    envelope_from: str
    blob_hash: str
    items: list[q.QueuedRecipient]


class ConnectionLost(Exception):
    """The session broke: this message and the rest go to the next address."""


class PolicyRefused(Exception):
    """This MX cannot be used under the domain's MTA-STS policy (RFC 8461 §4, §5)."""


LINK_ERRORS = (
    aiosmtplib.SMTPServerDisconnected,
    aiosmtplib.SMTPTimeoutError,
    aiosmtplib.SMTPConnectError,
    OSError,
    ssl.SSLError,
    TimeoutError,
)


class Session:
    """One SMTP connection to one address."""

    def __init__(
        self,
        settings: OutboundSettings,
        host: str,
        address: str,
        policy: Policy | None = None,
        verified: ssl.SSLContext | None = None,
    ) -> None:
        self.settings = settings
        self.host = host
        self.address = address
        self.policy = policy if policy is not None and policy.mode is not Mode.NONE else None
        self.verified = verified
        self.smtp: aiosmtplib.SMTP | None = None

    async def open(self) -> None:
        relay = self.settings.smarthost
        if relay is not None:
            await self._open_relay(relay)
            return
        await self._connect()
        if self.policy is not None:  # fail closed: a policy without a context is a bug
            await self._starttls_verified(self.policy.mode is Mode.ENFORCE)
        else:
            await self._starttls_opportunistic()

    async def _starttls_verified(self, enforce: bool) -> None:
        """RFC 8461 §4.2: STARTTLS, a certificate that chains to a trusted CA and names the MX
        host (not the address); §5: under enforce nothing else will do."""
        assert self.smtp is not None and self.verified is not None
        offered = self.smtp.supports_extension("starttls")
        if offered:
            try:
                await self.smtp.starttls(tls_context=self.verified, server_hostname=self.host)
                return
            except (ssl.SSLError, aiosmtplib.SMTPException, OSError) as exc:
                problem = f"STARTTLS failed: {exc}"
        else:
            problem = "STARTTLS is not offered"
        where = f"{self.host}[{self.address}]"
        if enforce:
            self.close()
            raise PolicyRefused(f"{where}: {problem}; the MTA-STS policy requires verified TLS")
        # §5 mode testing: deliver as without a policy, and tell the administrator.
        log.warning("MTA-STS (testing) would refuse %s: %s; delivering anyway", where, problem)
        if offered:  # the connection is in an unknown state after a failed handshake
            self.close()
            await self._connect()
            await self._starttls_opportunistic()

    async def _starttls_opportunistic(self) -> None:
        assert self.smtp is not None
        if not self.smtp.supports_extension("starttls"):
            return
        try:
            await self.smtp.starttls(tls_context=_opportunistic_context())
        except (ssl.SSLError, aiosmtplib.SMTPException, OSError) as exc:
            # A failed opportunistic STARTTLS: once more in the clear (RFC 7435 §3).
            log.info(
                "%s[%s]: STARTTLS failed (%s); trying without TLS", self.host, self.address, exc
            )
            self.close()
            await self._connect()

    async def _connect(self) -> None:
        s = self.settings
        self.smtp = aiosmtplib.SMTP(
            hostname=self.address,
            port=s.port,
            local_hostname=s.hostname,
            timeout=s.command_timeout,
            start_tls=False,
            source_address=_source(s, self.address),
        )
        await self.smtp.connect(timeout=s.connect_timeout)
        await self.smtp.ehlo()

    async def _open_relay(self, relay: Smarthost) -> None:
        s = self.settings
        self.smtp = aiosmtplib.SMTP(
            hostname=relay.host,
            port=relay.port,
            local_hostname=s.hostname,
            timeout=s.command_timeout,
            use_tls=relay.tls == "implicit",
            start_tls=relay.tls == "starttls",
            validate_certs=relay.verify,
            source_address=_source(s, relay.host),
        )
        await self.smtp.connect(timeout=s.connect_timeout)
        if relay.username:
            await self.smtp.login(relay.username, relay.password or "")

    def close(self) -> None:
        if self.smtp is not None:
            self.smtp.close()
            self.smtp = None

    async def quit(self) -> None:
        if self.smtp is not None and self.smtp.is_connected:
            try:
                await self.smtp.quit(timeout=10)
            except (*LINK_ERRORS, aiosmtplib.SMTPException):
                pass
        self.close()

    async def send(self, message: Message, body: bytes) -> dict[int, Result]:
        """One mail transaction for all of ``message``'s recipients at this destination."""
        smtp = self.smtp
        assert smtp is not None
        remote = self.host
        options = []
        if not all(
            a.isascii() for a in [message.envelope_from, *(i.recipient for i in message.items)]
        ):
            if not smtp.supports_extension("smtputf8"):
                # RFC 6531 §3.2: no SMTPUTF8 there, so the address cannot be carried.
                return self._all(
                    message,
                    Result(
                        Kind.PERMANENT,
                        "5.6.7",
                        "the receiving server does not support SMTPUTF8",
                        remote,
                    ),
                )
            options.append("SMTPUTF8")
        if smtp.supports_extension("8bitmime") and not body.isascii():
            options.append("BODY=8BITMIME")  # RFC 6152
        if smtp.supports_extension("size"):
            options.append(f"SIZE={len(body)}")  # RFC 1870
        encoding = "utf-8" if "SMTPUTF8" in options else "ascii"
        try:
            try:
                await smtp.mail(message.envelope_from, options=options, encoding=encoding)
            except aiosmtplib.SMTPResponseException as exc:
                return self._all(message, from_reply(exc.code, exc.message, remote))
            results: dict[int, Result] = {}
            accepted = []
            for item in message.items:
                try:
                    await smtp.rcpt(item.recipient, encoding=encoding)
                    accepted.append(item)
                except aiosmtplib.SMTPResponseException as exc:
                    results[item.id] = from_reply(exc.code, exc.message, remote)
            if not accepted:
                with contextlib.suppress(aiosmtplib.SMTPResponseException):
                    await smtp.rset()
                return results
            try:
                reply = await smtp.data(body, timeout=DATA_TIMEOUT)
                outcome = from_reply(reply.code, reply.message, remote)
            except aiosmtplib.SMTPResponseException as exc:
                outcome = from_reply(exc.code, exc.message, remote)
            results.update((item.id, outcome) for item in accepted)
            return results
        except LINK_ERRORS as exc:
            where = f"{self.host}[{self.address}]"
            raise ConnectionLost(f"{where}: {exc or type(exc).__name__}") from exc

    @staticmethod
    def _all(message: Message, result: Result) -> dict[int, Result]:
        return {item.id: result for item in message.items}
