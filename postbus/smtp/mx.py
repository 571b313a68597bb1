"""The MX listener (port 25): mail from the internet for our own users, and nothing else.

Invariants:
- RCPT is accepted only for an address ``postbus.delivery.resolve`` finds (no backscatter:
  unknown users are refused before DATA); nothing is ever relayed, whatever the address says,
  except a bounce to a valid, unexpired SRS address of ours (``srs.py``), which goes back to the
  sender of the mail we forwarded; a forged or expired one is an unknown user.
- DATA ends only at CRLF.CRLF (aiosmtpd), and a bare CR or LF anywhere in it refuses the
  message (SMTP smuggling).
- 250 is sent only after ``deliver`` returned: the body is fsync'd and the metadata committed;
  a copy refused after DATA while others were stored is reported to the sender in a DSN, which
  is stored before the 250 too (``BaseHandler.settle``).
"""

from __future__ import annotations

from postbus.delivery import Delivered, deliver
from postbus.smtp import codes, headers, policy, srs
from postbus.smtp.authresults import remove_forged
from postbus.smtp.codes import Reply
from postbus.smtp.handler import BaseHandler
from postbus.smtp.inbound import Action, inbound_checks
from postbus.smtp.protocol import Envelope, Session


class MxHandler(BaseHandler):
    allow_auth = False

    async def accept_recipient(self, session: Session, envelope: Envelope, address: str) -> Reply:
        size = policy.declared_size(envelope.mail_options)
        if srs.is_srs(address):
            if not await self.ctx.is_local_domain(policy.domain_of(address)):
                return codes.RELAY_DENIED
            original = await self.ctx.forwarder.reverse(address)
            if original is None:
                return codes.UNKNOWN_USER  # forged or expired: RFC 3463 X.1.1
            if not await self.ctx.is_local_domain(policy.domain_of(original)):
                envelope.remote.append(original)  # relayed in receive()
                return codes.RECIPIENT_OK
            address = original
        recipient, reply = await self.ctx.local_recipient(address, size)
        if recipient is not None:
            envelope.local.append(recipient)
            return reply
        # Only an address in one of our domains resolves, so the domain is looked up only now
        # (one store read less per recipient): not ours is relaying, ours is that refusal.
        if not await self.ctx.is_local_domain(policy.domain_of(address)):
            return codes.RELAY_DENIED
        return reply

    async def receive(self, session: Session, envelope: Envelope) -> Reply:
        data = envelope.original_content or b""
        refusal = policy.bare_newline(data)
        if refusal is not None:
            return refusal
        now = self.ctx.clock()
        verdict = await inbound_checks(
            data, envelope.mail_from or "", session.host_name or "",
            policy.client_ip(session.peer), checker=self.ctx.checker, resolver=self.ctx.resolver,
            hostname=self.ctx.hostname,
        )  # fmt: skip
        if verdict.action is Action.REJECT:
            return codes.POLICY_REJECTED.with_text(verdict.reason or codes.POLICY_REJECTED.text)
        trace = self.trace(session, envelope, self.ctx.token(), now)
        # RFC 5321 §4.4: Return-Path on top; RFC 8601 §5: Authentication-Results above trace.
        message = headers.return_path(envelope.mail_from or "") + verdict.extra_headers
        # RFC 8601 §5: results that claim to be ours but came with the message are forged.
        message += trace + remove_forged(data, self.ctx.hostname)
        results: list[Delivered] = []
        if envelope.local:
            results = await deliver(
                self.ctx.store, envelope.local, message, junk=verdict.action is Action.JUNK,
                received=int(now), sender=envelope.mail_from or "", forwarder=self.ctx.forwarder,
            )  # fmt: skip
        if envelope.remote:  # bounces to SRS addresses, on their way back to the sender
            via = next(a for a in envelope.rcpt_tos if srs.is_srs(a))
            await self.ctx.forwarder.forward(
                envelope.mail_from or "", via, envelope.remote, trace + data
            )
        return await self.settle(envelope, message, results, now, sent_on=bool(envelope.remote))
