"""AUTHENTICATE SCRAM-SHA-256 (RFC 7677, RFC 5802 over RFC 9051 §6.2.2 and RFC 4959 SASL-IR),
and keeping each account's SCRAM secret current after a good password sign-in.

The exchange:  C: AUTHENTICATE SCRAM-SHA-256 [client-first]   S: + server-first
               C: client-final                                 S: + server-final
               C: (empty line)                                 S: OK
Every failure, unknown user and account without a current secret included, is the same NO
[AUTHENTICATIONFAILED] after the same steps, and counts in the shared throttle.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import logging
import os
import secrets
import time

from postbus.accounts import scram
from postbus.imap.proto import codes
from postbus.imap.proto import commands as c
from postbus.imap.proto import response as r
from postbus.imap.proto.errors import ImapBad, ImapNo
from postbus.imap.session import Reply, Session
from postbus.store import NotFound, StoreError
from postbus.store import credentials as store_credentials
from postbus.store.models import Account

log = logging.getLogger("postbus.imap")

MAX_SASL_LINE = 16 * 1024
DUMMY_KEY_SETTING = "scram.dummy-key"  # installation setting (account 0)


async def _line(s: Session, payload: bytes) -> bytes:
    """Send a challenge (``+ base64``), return the client's decoded answer."""
    s.send(r.continuation(base64.b64encode(payload).decode()))
    await s.io.drain()
    line = await s.io.read_line()
    if line is None:
        raise ConnectionResetError
    return _decode(line.strip())


def _decode(response: bytes) -> bytes:
    if response == b"*":  # RFC 9051 §6.2.2: the client cancels
        raise ImapBad("Authentication cancelled")
    if len(response) > MAX_SASL_LINE:
        raise ImapBad("Response too long")
    try:
        return base64.b64decode(response, validate=True)
    except (binascii.Error, ValueError):
        raise ImapBad("Invalid base64") from None


async def _installation_key(s: Session) -> bytes:
    stored = await s.store.get_setting(0, DUMMY_KEY_SETTING)
    if stored is None:
        stored = secrets.token_hex(32)
        await s.store.set_setting(0, DUMMY_KEY_SETTING, stored)
    return bytes.fromhex(stored)


async def _account_and_credential(
    s: Session, username: str
) -> tuple[Account | None, store_credentials.ScramCredential]:
    account = None
    try:
        account = await s.store.find_account(username.strip().lower())
        credential = await s.store.read(
            lambda tx: store_credentials.get_scram(tx, account.id, scram.MECHANISM)
        )
        if credential is not None and scram.usable(credential, account.password_hash):
            return account, credential
    except (NotFound, StoreError):
        account = None
    # RFC 5802 §9 / design.md "Sign-in": the same exchange as for a real account, then failure
    return None, scram.dummy(username, await _installation_key(s))


async def authenticate(s: Session, cmd: c.Authenticate) -> Reply:
    server = scram.ScramServer(nonce=base64.b64encode(os.urandom(18)).decode())
    first = _decode(cmd.initial) if cmd.initial is not None else await _line(s, b"")
    try:
        username = server.client_first(first)
    except scram.ScramError as exc:
        raise ImapNo(f"SCRAM: {exc.reason}", codes.AUTHENTICATIONFAILED) from None
    delay = scram.throttle_check(s.auth.throttle, s.remote_ip, username)
    if delay is None:
        raise ImapNo(codes.AUTH_BLOCKED, codes.UNAVAILABLE)
    if delay:
        await asyncio.sleep(delay)
    account, credential = await _account_and_credential(s, username)
    final = await _line(s, server.server_first(credential))
    try:
        server_final = server.client_final(final)
    except scram.ScramError:
        scram.throttle_record(s.auth.throttle, s.remote_ip, username, ok=False)
        raise ImapNo(codes.AUTH_FAILED, codes.AUTHENTICATIONFAILED) from None
    if account is None:  # cannot happen with a dummy credential; never sign in without one
        raise ImapNo(codes.AUTH_FAILED, codes.AUTHENTICATIONFAILED)
    if account.disabled:
        raise ImapNo(codes.AUTH_DISABLED, codes.CONTACTADMIN)
    scram.throttle_record(s.auth.throttle, s.remote_ip, username, ok=True)
    # RFC 9051 §6.2.2: success data goes in a challenge, answered by an empty line
    if await _line(s, server_final) != b"":
        raise ImapBad("Expected an empty response")
    await s.store.update_account(account.id, last_login=int(time.time()))
    from postbus.imap.commands.auth import signed_in

    return signed_in(s, account)


async def keep_secret_current(s: Session, account: Account, password: str) -> None:
    """After a good password sign-in: make the SCRAM secret if it is missing or was made from
    another password (so accounts made before SCRAM, or changed elsewhere, gain one)."""
    try:
        credential = await s.store.read(
            lambda tx: store_credentials.get_scram(tx, account.id, scram.MECHANISM)
        )
        if scram.usable(credential, account.password_hash):
            return
        fresh = await asyncio.to_thread(scram.derive, password, account.password_hash)
        now = int(time.time())
        await s.store.write(
            lambda tx: store_credentials.set_scram(tx, account.id, fresh, now)
        )
    except Exception:  # a sign-in never fails for this
        log.exception("could not store the SCRAM secret of account %s", account.id)
