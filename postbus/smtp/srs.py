"""The Sender Rewriting Scheme, as libsrs2 and postsrsd write it, and the forwarder that uses it.

When we forward a user's mail to another provider, the envelope sender becomes an address in our
own domain, so the receiver's SPF check (RFC 7208) passes for us; a bounce that comes back to
that address is checked and relayed to the original sender (libsrs2's "guarded" scheme, see
http://www.libsrs2.org/srs/srs.pdf and Shevek's "Sender Rewriting Scheme" §4):

    sender@orig.example     -> SRS0=HHHH=TT=orig.example=sender@our.example
    SRS0=hhhh=tt=orig=u@fwd -> SRS1=HHHH=fwd==hhhh=tt=orig=u@our.example   (forwarded again)

HHHH is the first four base64 characters of HMAC-SHA1(secret, the other fields lower-cased);
TT is the day (unix time / 86400, modulo 1024) in two base32 characters. Comparisons ignore case,
because some MTAs change the case of local parts. The byte layout is postsrsd's, so an
installation that moves from Postfix + postsrsd can keep its secret file and bounces still
come home.

The functions here are pure (``now`` and the secret are passed in); ``SrsForwarder`` is the
small asyncio part the delivery pipeline and the MX are handed.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import logging
import os
import secrets
import stat
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from postbus.smtp import queue as smtp_queue
from postbus.store import NotFound, Store, StoreError

log = logging.getLogger("postbus.smtp")

SRS0 = "SRS0"
SRS1 = "SRS1"
SEPARATOR = "="  # what we write; "+" and "-" are read too (libsrs2 srs_separators)
SEPARATORS = "=+-"
HASH_LENGTH = 4  # libsrs2 / postsrsd default hash length (and the shortest accepted)
MAX_AGE_DAYS = 21  # libsrs2 / postsrsd default
TIME_PRECISION = 86400  # seconds per time-stamp step: one day
TIME_CHARS = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"  # RFC 4648 base32 alphabet
TIME_SLOTS = 1024  # two base32 characters
KEY_FILE = "srs.key"  # in the data directory
NULL_SENDERS = ("", "<>")  # RFC 5321 §4.5.5: the null reverse-path, as aiosmtpd spells it too


class SrsError(ValueError):
    """An address that is not SRS, is forged (bad hash) or has expired, or cannot be rewritten."""


# -- the scheme ----------------------------------------------------------------------------


def is_srs(address: str) -> bool:
    """Does the local part claim to be SRS (``SRS0=``/``SRS1=``, any case, any separator)?"""
    local = address.rpartition("@")[0]
    return len(local) > 4 and local[:4].upper() in (SRS0, SRS1) and local[4] in SEPARATORS


def _hash(secret: bytes, *fields: str) -> str:
    # libsrs2 srs_hash_create: HMAC-SHA1 over the fields lower-cased (ASCII), base64, truncated.
    mac = hmac.new(secret, b"".join(f.lower().encode("utf-8") for f in fields), hashlib.sha1)
    return base64.b64encode(mac.digest()).decode("ascii")[:HASH_LENGTH]


def _hash_ok(hash_: str, secret_list: Sequence[bytes], *fields: str) -> bool:
    if len(hash_) != HASH_LENGTH:
        return False
    # libsrs2 accepts a case-smashed hash (and logs it); so do we.
    wanted = hash_.lower().encode("ascii", "replace")
    return any(
        hmac.compare_digest(_hash(s, *fields).lower().encode("ascii"), wanted) for s in secret_list
    )


def timestamp(now: float) -> str:
    """Today's two-character time stamp (libsrs2 srs_timestamp_create)."""
    day = int(now // TIME_PRECISION)
    return TIME_CHARS[(day >> 5) & 31] + TIME_CHARS[day & 31]


def _timestamp_ok(stamp: str, now: float, max_age_days: int) -> bool:
    # libsrs2 srs_timestamp_check: days modulo 1024; a stamp "from the future" has wrapped,
    # so it counts as very old.
    if len(stamp) != 2 or any(c not in TIME_CHARS for c in stamp.upper()):
        return False
    then = (TIME_CHARS.index(stamp[0].upper()) << 5) | TIME_CHARS.index(stamp[1].upper())
    today = int(now // TIME_PRECISION) % TIME_SLOTS
    if today < then:
        today += TIME_SLOTS
    return today <= then + max_age_days


def _split(address: str) -> tuple[str, str]:
    local, at, domain = address.strip().rpartition("@")
    if not at or not local or not domain:
        raise SrsError(f"not an address: {address!r}")
    if '"' in local or any(c.isspace() for c in local) or "@" in local:
        raise SrsError(f"cannot rewrite a quoted local part: {address!r}")
    return local, domain


def forward(sender: str, our_domain: str, secret: bytes, now: float) -> str:
    """The envelope sender to use when we forward mail from ``sender`` out of ``our_domain``.

    The null sender stays null; a sender already in ``our_domain`` needs no rewriting (libsrs2
    does the same unless told to always rewrite). An SRS address of another forwarder becomes
    SRS1 (guarded scheme), so a bounce goes straight back to the first forwarder.
    """
    if sender in NULL_SENDERS:
        return sender
    local, domain = _split(sender)
    if domain.rstrip(".").lower() == our_domain.rstrip(".").lower():
        return sender
    tag = local[:4].upper() if len(local) > 4 and local[4] in SEPARATORS else ""
    if tag == SRS1:
        # libsrs2 srs_compile_guarded: SRS1=hash=host=rest keeps the first forwarder's host
        # and the rest as they are, under a new hash of ours.
        _, host, rest = _fields(local[5:], 3)
        return _join(SRS1, _hash(secret, host, rest), host, rest) + f"@{our_domain}"
    if tag == SRS0:
        # Another forwarder's SRS0: everything after "SRS0" is opaque to us.
        rest = local[4:]
        return _join(SRS1, _hash(secret, domain, rest), domain, rest) + f"@{our_domain}"
    stamp = timestamp(now)
    return _join(SRS0, _hash(secret, stamp, domain, local), stamp, domain, local) + (
        f"@{our_domain}"
    )


def _join(*parts: str) -> str:
    return SEPARATOR.join(parts)


def _fields(text: str, count: int) -> list[str]:
    """Split on the first ``count - 1`` separators (any of "=+-" is libsrs2's SRSSEP "=")."""
    parts = text.split(SEPARATOR, count - 1)
    if len(parts) != count or not all(parts[:-1]) or not parts[-1]:
        raise SrsError("malformed SRS address")
    return parts


def reverse(
    address: str,
    secret: bytes | Sequence[bytes],
    now: float,
    max_age_days: int = MAX_AGE_DAYS,
) -> str:
    """The address an SRS address stands for, or ``SrsError`` (not SRS, forged, expired).

    SRS0 gives the original sender; SRS1 gives the SRS0 address at the first forwarder, which
    is where the bounce goes next. The domain after "@" is not checked here: the caller only
    asks about addresses in its own domains. Several secrets may be given (key rotation): the
    first that matches wins, as in postsrsd's secrets file.
    """
    secret_list = [secret] if isinstance(secret, bytes) else list(secret)
    if not is_srs(address):
        raise SrsError("not an SRS address")
    local = address.rpartition("@")[0]
    tag, body = local[:4].upper(), local[5:]
    if tag == SRS1:
        # SRS1=hash=host=rest (rest starts with the separator of the SRS0 it wraps)
        hash_, host, rest = _fields(body, 3)
        if not _hash_ok(hash_, secret_list, host, rest):
            raise SrsError("hash invalid")
        return f"{SRS0}{rest}@{host}"
    hash_, stamp, host, user = _fields(body, 4)
    if not _timestamp_ok(stamp, now, max_age_days):
        raise SrsError("time stamp out of date")
    if not _hash_ok(hash_, secret_list, stamp, host, user):
        raise SrsError("hash invalid")
    return f"{user}@{host}"


# -- the secret ----------------------------------------------------------------------------


def load_secrets(path: Path) -> tuple[bytes, ...]:
    """The SRS secrets from ``path`` (one per line; the first signs, all verify), made on first
    use: 32 random bytes, base64, in a file only we can read (0600).

    The format is postsrsd's secrets file, so one can be copied in when moving from Postfix.
    """
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        pass
    else:
        with os.fdopen(fd, "w") as out:
            out.write(base64.b64encode(secrets.token_bytes(32)).decode("ascii") + "\n")
            out.flush()
            os.fsync(out.fileno())
        _fsync_directory(path.parent)  # a key lost in a crash would orphan every bounce
        log.info("made a new SRS secret in %s", path)
    mode = path.stat().st_mode
    if mode & (stat.S_IRWXG | stat.S_IRWXO):
        log.warning("%s can be read by others: anyone with it can relay through us", path)
    lines = [line.strip() for line in path.read_text("utf-8").splitlines()]
    found = tuple(line.encode("utf-8") for line in lines if line and not line.startswith("#"))
    if not found:
        raise SrsError(f"{path}: no SRS secret in the file")
    return found


def _fsync_directory(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


# -- the forwarder the delivery pipeline is handed -------------------------------------------


@dataclass
class SrsForwarder:
    """Sends forwarded mail out through the queue, with an SRS sender (``delivery.Forwarder``).

    ``key_file`` None: no SRS (the original sender is kept; receivers' SPF checks may fail).
    """

    store: Store
    key_file: Path | None
    clock: Callable[[], float] = time.time
    max_age_days: int = MAX_AGE_DAYS
    enqueue: Callable[..., Awaitable[int]] = smtp_queue.enqueue
    _keys: tuple[bytes, ...] | None = field(default=None, repr=False)

    async def keys(self) -> tuple[bytes, ...]:
        """The secrets, read (or made) on first use; the file is not read again."""
        if self._keys is None:
            if self.key_file is None:
                raise SrsError("no SRS key configured")
            self._keys = await asyncio.to_thread(load_secrets, self.key_file)
        return self._keys

    async def envelope_sender(self, sender: str, via: str) -> str:
        """``sender`` as it must read when the mail leaves us again on behalf of ``via``."""
        if self.key_file is None or sender in NULL_SENDERS:
            return sender
        domain = via.rpartition("@")[2].lower()
        if await self._is_local(sender.rpartition("@")[2]):
            return sender  # our own domain: our SPF record covers it already
        try:
            return forward(sender, domain, (await self.keys())[0], self.clock())
        except SrsError as exc:
            log.warning("forwarding with the original sender %r: %s", sender, exc)
            return sender

    async def forward(
        self, sender: str, via: str, recipients: Sequence[str], message: bytes
    ) -> None:
        """Queue ``message`` for the remote ``recipients``; durable when it returns."""
        envelope_from = await self.envelope_sender(sender, via)
        await self.enqueue(self.store, envelope_from, list(recipients), message)

    async def reverse(self, address: str) -> str | None:
        """The address an SRS address of ours stands for; None when it is forged or expired."""
        if self.key_file is None:
            return None
        try:
            return reverse(address, await self.keys(), self.clock(), self.max_age_days)
        except SrsError as exc:
            log.info("SRS address %s refused: %s", address, exc)
            return None

    async def _is_local(self, domain: str) -> bool:
        if not domain:
            return False
        try:
            await self.store.get_domain(domain)
        except (NotFound, StoreError):
            return False
        return True


__all__ = [
    "KEY_FILE",
    "MAX_AGE_DAYS",
    "SrsError",
    "SrsForwarder",
    "forward",
    "is_srs",
    "load_secrets",
    "reverse",
    "timestamp",
]
