"""The submission listeners (587 STARTTLS, 465 implicit TLS; RFC 6409, RFC 8314).

Invariants:
- AUTH (PLAIN, LOGIN; RFC 4954) only over TLS, except on a listener bound to a loopback
  address (the --demo exception); every sign-in goes through ``Authenticator.login``, which
  throttles failures across protocols and answers an unknown user like a wrong password.
- MAIL FROM and every From header address are the user's own (RFC 6409 §6.1), else 553.
- 250 after DATA only once every local copy, the queue entry and the Sent copy are committed.
- Remote recipients go to the outbound queue, DKIM-signed.
"""

from __future__ import annotations

import base64
import binascii
import logging
from typing import Any

from aiosmtpd.smtp import AuthResult

from postbus.accounts.auth import AuthFailed, Refusal
from postbus.smtp import codes, headers, policy
from postbus.smtp.codes import Reply
from postbus.smtp.handler import BaseHandler
from postbus.smtp.protocol import Envelope, Session
from postbus.smtp.sending import dkim_signed, send

log = logging.getLogger("postbus.smtp")

_REFUSALS = {
    Refusal.INVALID: codes.AUTH_INVALID,
    Refusal.BLOCKED: codes.AUTH_BLOCKED,
    Refusal.DISABLED: codes.AUTH_DISABLED,
}
SENT = "\\Sent"  # RFC 6154 special use
SAVE_SENT_SETTING = "smtp.save_sent"  # "off" turns the server-side Sent copy off


class SubmissionHandler(BaseHandler):
    allow_auth = True


    # -- AUTH (RFC 4954 §4; mechanisms RFC 4616 PLAIN and draft LOGIN) -----------------------

    async def auth_PLAIN(self, server: Any, args: list[str]) -> AuthResult:
        if len(args) == 1:
            blob = await server.challenge_auth("")  # RFC 4954 §4: empty initial challenge
            if not isinstance(blob, bytes):
                return AuthResult(success=False, handled=True)
        else:
            blob = _b64(args[1])
            if blob is None:
                return _refused(codes.AUTH_SYNTAX)
        parts = blob.split(b"\0")
        # RFC 4616 §2: [authzid] NUL authcid NUL passwd; we act for no one else.
        if len(parts) != 3 or parts[0] not in (b"", parts[1]):
            return _refused(codes.AUTH_INVALID)
        return await self.sign_in(server, parts[1], parts[2])

    async def auth_LOGIN(self, server: Any, args: list[str]) -> AuthResult:
        if len(args) == 1:
            login = await server.challenge_auth(server.AuthLoginUsernameChallenge)
            if not isinstance(login, bytes):  # aiosmtpd has answered the "*" or the bad base64
                return AuthResult(success=False, handled=True)
        else:
            login = _b64(args[1])
            if login is None:
                return _refused(codes.AUTH_SYNTAX)
        password = await server.challenge_auth(server.AuthLoginPasswordChallenge)
        if not isinstance(password, bytes):
            return AuthResult(success=False, handled=True)
        return await self.sign_in(server, login, password)

    async def sign_in(self, server: Any, login: bytes, password: bytes) -> AuthResult:
        session: Session = server.session
        assert self.ctx.auth is not None
        try:
            account = await self.ctx.auth.login(
                login.decode("utf-8"), password.decode("utf-8"),
                policy.client_ip(session.peer), "smtp",
            )  # fmt: skip
        except UnicodeDecodeError:
            return _refused(codes.AUTH_INVALID)
        except AuthFailed as failed:
            return _refused(_REFUSALS[failed.refusal])
        session.account = account
        addresses = await self.ctx.store.list_addresses(account.id)
        session.addresses = tuple(a.address for a in addresses)
        return AuthResult(success=True, auth_data=account, message=str(codes.AUTH_OK))

    # -- MAIL, RCPT --------------------------------------------------------------------------

    async def check_sender(self, session: Session, address: str) -> Reply | None:
        # RFC 6409 §6.1: the MSA checks that the user may use this sender.
        return None if policy.owns(session.addresses, address) else codes.SENDER_NOT_YOURS

    async def accept_recipient(self, session: Session, envelope: Envelope, address: str) -> Reply:
        size = policy.declared_size(envelope.mail_options)
        if await self.ctx.is_local_domain(policy.domain_of(address)):
            recipient, reply = await self.ctx.local_recipient(address, size)
            if recipient is not None:
                envelope.local.append(recipient)
            return reply
        envelope.remote.append(address)
        return codes.RECIPIENT_OK

    # -- DATA --------------------------------------------------------------------------------

    async def receive(self, session: Session, envelope: Envelope) -> Reply:
        data = envelope.original_content or b""
        refusal = policy.bare_newline(data)
        if refusal is not None:
            return refusal
        senders = headers.from_addresses(data)
        if not senders or not all(policy.owns(session.addresses, a) for a in senders):
            return codes.FROM_NOT_YOURS
        now = self.ctx.clock()
        message = headers.submission_fields(
            data, message_id=f"<{self.ctx.token()}@{self.ctx.hostname}>", now=now
        )
        message = await dkim_signed(message, policy.domain_of(senders[0]), self.ctx.dkim_dir)
        account = session.account
        assert account is not None
        save_sent = await self.ctx.store.get_setting(account.id, SAVE_SENT_SETTING) != "off"
        results = await send(
            self.ctx.store, account.id, envelope.mail_from or "", envelope.local,
            envelope.remote, message, received=int(now), forwarder=self.ctx.forwarder,
            trace=self.trace(session, envelope, self.ctx.token(), now), save_sent=save_sent,
        )  # fmt: skip
        return await self.settle(envelope, message, results, now, sent_on=bool(envelope.remote))


def _refused(reply: Reply) -> AuthResult:
    return AuthResult(success=False, handled=False, message=str(reply))


def _b64(text: str) -> bytes | None:
    try:
        return base64.b64decode(text.encode("ascii"), validate=True)
    except (binascii.Error, UnicodeEncodeError):
        return None


__all__ = ["SubmissionHandler"]
