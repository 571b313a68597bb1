"""STARTTLS, LOGIN, AUTHENTICATE PLAIN (RFC 9051 §6.2, RFC 4616, RFC 4959 SASL-IR).

Every sign-in goes through ``Authenticator.login`` (one throttle for every protocol); an
unknown user and a wrong password get the same answer (design.md "Sign-in").
"""

from __future__ import annotations

import base64
import binascii

from postbus.accounts import scram
from postbus.accounts.auth import AuthFailed, Refusal
from postbus.imap import capabilities
from postbus.imap.commands import scram_auth
from postbus.imap.proto import codes
from postbus.imap.proto import commands as c
from postbus.imap.proto import response as r
from postbus.imap.proto.errors import ImapBad, ImapNo
from postbus.imap.session import NO_REPLY, Reply, Session
from postbus.store.models import Account

MAX_SASL_LINE = 16 * 1024


async def starttls(s: Session, cmd: c.StartTls) -> Reply:
    if not s.starttls_available():
        raise ImapBad("STARTTLS is not available here")
    # RFC 9051 §6.2.1: the OK, then the handshake. The glue drops whatever the client sent
    # after STARTTLS before the handshake (CVE-2011-0411 class; design.md).
    s.send(r.tagged(cmd.tag, "OK", "Begin TLS negotiation now"))
    await s.io.start_tls()
    s.tls_active = True
    return NO_REPLY


def _require_privacy(s: Session) -> None:
    if not s.login_allowed():
        # RFC 9051 §6.2.3: LOGINDISABLED is advertised; refuse before looking at anything
        raise ImapNo(codes.PLAINTEXT_REFUSED, codes.PRIVACYREQUIRED)


async def _sign_in(s: Session, user: str, password: str) -> Reply:
    try:
        account = await s.auth.login(user, password, s.remote_ip, "imap")
    except AuthFailed as exc:
        if exc.refusal is Refusal.BLOCKED:
            raise ImapNo(codes.AUTH_BLOCKED, codes.UNAVAILABLE) from None
        if exc.refusal is Refusal.DISABLED:
            raise ImapNo(codes.AUTH_DISABLED, codes.CONTACTADMIN) from None
        raise ImapNo(codes.AUTH_FAILED, codes.AUTHENTICATIONFAILED) from None
    await scram_auth.keep_secret_current(s, account, password)
    return signed_in(s, account)


def signed_in(s: Session, account: Account) -> Reply:
    s.logged_in(account)
    # RFC 9051 §6.2.3: the server may send capabilities in the OK, which saves a round trip
    return Reply("Logged in", "CAPABILITY " + capabilities.advertised(s))


async def login(s: Session, cmd: c.Login) -> Reply:
    _require_privacy(s)
    return await _sign_in(s, cmd.user, cmd.password)


async def authenticate(s: Session, cmd: c.Authenticate) -> Reply:
    if cmd.mechanism not in ("PLAIN", scram.MECHANISM):
        raise ImapNo("Unsupported mechanism", codes.CANNOT)
    _require_privacy(s)
    if cmd.mechanism == scram.MECHANISM:
        return await scram_auth.authenticate(s, cmd)
    response = cmd.initial
    if response is None:
        s.send(r.continuation())
        await s.io.drain()
        line = await s.io.read_line()
        if line is None:
            raise ConnectionResetError
        response = line.strip()
    if response == b"*":  # RFC 9051 §6.2.2: the client cancels
        raise ImapBad("Authentication cancelled")
    if response == b"=":  # RFC 4959 §3: an empty initial response
        response = b""
    if len(response) > MAX_SASL_LINE:
        raise ImapBad("Response too long")
    try:
        decoded = base64.b64decode(response, validate=True)
    except (binascii.Error, ValueError):
        raise ImapBad("Invalid base64") from None
    # RFC 4616 §2: message = [authzid] UTF8NUL authcid UTF8NUL passwd
    fields = decoded.split(b"\0")
    if len(fields) != 3:
        raise ImapBad("Invalid PLAIN response")
    authzid, authcid, password = (f.decode("utf-8", "replace") for f in fields)
    if authzid and authzid.lower() != authcid.lower():
        raise ImapNo("Cannot act for another user", codes.AUTHORIZATIONFAILED)
    return await _sign_in(s, authcid, password)
