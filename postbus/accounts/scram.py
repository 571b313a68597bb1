"""SCRAM-SHA-256 (RFC 5802, RFC 7677): the stored secret and the server side of the exchange.

Sans-IO: ``ScramServer`` is fed the client's messages and returns the server's, with the
random nonce passed in; no socket, no clock, no database. The protocol glue (IMAP
AUTHENTICATE) looks up the account and its ``ScramCredential``, and calls ``throttle_check`` /
``throttle_record`` so that SCRAM failures count in the one throttle every sign-in shares.

Rules kept here:
- The secret (salt, iterations, StoredKey, ServerKey) is derived when the password is set
  (``derive``) or at the next good password sign-in (``credential_for``); the password itself
  is never stored. ``password_ref`` ties a secret to the password hash it was made with, so a
  password changed by any path makes the old secret void.
- An unknown user, an account without a (current) secret and a wrong password all fail the
  same way, at the same step, after the same work: the unknown get a ``dummy`` credential whose
  salt is stable per name (an HMAC under an installation key), so asking twice tells nothing.
- Channel binding is not offered (no SCRAM-SHA-256-PLUS): a client that requires it ("p=") is
  refused; "y" (the client could bind but thinks we cannot) is accepted, as RFC 5802 §6 allows.
- Passwords are prepared with SASLprep (RFC 4013) before hashing, as RFC 5802 §2.2 asks.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import os
import stringprep
import time
import unicodedata
from dataclasses import dataclass

from postbus.store import credentials
from postbus.store.credentials import ScramCredential

MECHANISM = "SCRAM-SHA-256"
ITERATIONS = 10000  # RFC 7677 §4: at least 4096
SALT_OCTETS = 16
MAX_MESSAGE = 4096  # octets of one client message


class ScramError(Exception):
    """The exchange failed; ``reason`` is the RFC 5802 §7 server-error-value."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


# -- deriving the secret ---------------------------------------------------------------------------


def saslprep(text: str) -> str:
    """RFC 4013 SASLprep (the stringprep profile for user names and passwords)."""
    # RFC 4013 §2.1: non-ASCII spaces map to SPACE; "commonly mapped to nothing" are removed
    mapped = "".join(
        " " if stringprep.in_table_c12(ch) else ch
        for ch in text if not stringprep.in_table_b1(ch)
    )
    normal = unicodedata.normalize("NFKC", mapped)  # §2.2
    prohibited = (
        stringprep.in_table_c12, stringprep.in_table_c21, stringprep.in_table_c22,
        stringprep.in_table_c3, stringprep.in_table_c4, stringprep.in_table_c5,
        stringprep.in_table_c6, stringprep.in_table_c7, stringprep.in_table_c8,
        stringprep.in_table_c9, stringprep.in_table_a1,
    )
    for ch in normal:  # §2.3, §2.5
        if any(table(ch) for table in prohibited):
            raise ValueError("prohibited character")
    # §2.4 (RFC 3454 §6): right-to-left text must be wholly so, and start and end so
    right_to_left = any(stringprep.in_table_d1(ch) for ch in normal)
    if right_to_left and (
        any(stringprep.in_table_d2(ch) for ch in normal)
        or not (stringprep.in_table_d1(normal[0]) and stringprep.in_table_d1(normal[-1]))
    ):
        raise ValueError("mixed-direction text")
    return normal


def _hmac(key: bytes, data: bytes) -> bytes:
    return hmac.digest(key, data, "sha256")


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def password_ref(password_hash: str) -> str:
    """What ties a secret to one password hash (never the hash itself)."""
    return hashlib.sha256(password_hash.encode()).hexdigest()[:32]


def derive(
    password: str, password_hash: str, salt: bytes | None = None, iterations: int = ITERATIONS
) -> ScramCredential:
    """RFC 5802 §3: SaltedPassword = Hi(password, salt, i); StoredKey = H(HMAC(SP, "Client
    Key")); ServerKey = HMAC(SP, "Server Key"). Slow on purpose: run it in a thread."""
    salt = os.urandom(SALT_OCTETS) if salt is None else salt
    try:
        prepared = saslprep(password)
    except ValueError:
        prepared = unicodedata.normalize("NFKC", password)  # as passwords.py hashes it
    salted = hashlib.pbkdf2_hmac("sha256", prepared.encode("utf-8"), salt, iterations)
    client_key = _hmac(salted, b"Client Key")
    return ScramCredential(
        MECHANISM, _b64(salt), iterations, _b64(hashlib.sha256(client_key).digest()),
        _b64(_hmac(salted, b"Server Key")), password_ref(password_hash),
    )


def dummy(username: str, installation_key: bytes) -> ScramCredential:
    """A credential nobody can match, with a salt stable per user name."""
    salt = _hmac(installation_key, b"salt:" + username.lower().encode())[:SALT_OCTETS]
    key = _hmac(installation_key, b"key:" + username.lower().encode())
    return ScramCredential(MECHANISM, _b64(salt), ITERATIONS, _b64(key), _b64(key), "")


def usable(credential: ScramCredential | None, current_password_hash: str) -> bool:
    return credential is not None and hmac.compare_digest(
        credential.password_ref, password_ref(current_password_hash)
    )


# -- the exchange (RFC 5802 §5, §7) --------------------------------------------------------------


def _attributes(text: str) -> list[tuple[str, str]]:
    out = []
    for part in text.split(","):
        if len(part) < 2 or part[1] != "=" or not part[0].isalpha():
            raise ScramError("other-error")
        out.append((part[0], part[2:]))
    return out


def _saslname(value: str) -> str:
    # saslname = 1*(value-safe-char / "=2C" / "=3D")
    out, i = [], 0
    while i < len(value):
        if value[i] == "=":
            code = value[i : i + 3]
            if code not in ("=2C", "=3D"):
                raise ScramError("invalid-username-encoding")
            out.append("," if code == "=2C" else "=")
            i += 3
        else:
            out.append(value[i])
            i += 1
    return "".join(out)


@dataclass
class ScramServer:
    """One SCRAM-SHA-256 exchange. ``nonce``: fresh random printable text (no ",")."""

    nonce: str
    username: str = ""
    _gs2_header: str = ""
    _client_first_bare: str = ""
    _server_first: str = ""
    _combined_nonce: str = ""
    _credential: ScramCredential | None = None

    def client_first(self, message: bytes) -> str:
        """Parse client-first-message; returns the user name (authcid) it names."""
        # client-first-message = gs2-header client-first-message-bare
        # gs2-header = gs2-cbind-flag "," [ authzid ] ","
        if len(message) > MAX_MESSAGE:
            raise ScramError("other-error")
        try:
            text = message.decode("utf-8")
        except UnicodeDecodeError:
            raise ScramError("other-error") from None
        flag, _, rest = text.partition(",")
        authzid, _, bare = rest.partition(",")
        if flag.startswith("p="):
            raise ScramError("server-does-support-channel-binding")  # we offer no -PLUS
        if flag not in ("n", "y"):
            raise ScramError("other-error")
        attrs = _attributes(bare)
        if len(attrs) < 2 or attrs[0][0] != "n" or attrs[1][0] != "r" or not attrs[1][1]:
            raise ScramError("other-error")
        if any(name == "m" for name, _ in attrs):
            raise ScramError("extensions-not-supported")  # RFC 5802 §5.1: mandatory ext
        self.username = _saslname(attrs[0][1])
        # RFC 5802 §5.1 a=: we let nobody act for another user
        acting_for = _saslname(authzid[2:]) if authzid.startswith("a=") else None
        if authzid and (acting_for is None or acting_for.lower() != self.username.lower()):
            raise ScramError("invalid-username-encoding")
        self._gs2_header = f"{flag},{authzid},"
        self._client_first_bare = bare
        self._combined_nonce = attrs[1][1] + self.nonce
        return self.username

    def server_first(self, credential: ScramCredential) -> bytes:
        # server-first-message = [reserved-mext ","] nonce "," salt "," iteration-count
        self._credential = credential
        self._server_first = (
            f"r={self._combined_nonce},s={credential.salt},i={credential.iterations}"
        )
        return self._server_first.encode()

    def client_final(self, message: bytes) -> bytes:
        """Verify client-final-message; returns server-final-message, or ScramError."""
        # client-final-message = client-final-message-without-proof "," proof
        # client-final-message-without-proof = channel-binding "," nonce ["," extensions]
        if self._credential is None or len(message) > MAX_MESSAGE:
            raise ScramError("other-error")
        try:
            text = message.decode("utf-8")
        except UnicodeDecodeError:
            raise ScramError("other-error") from None
        without_proof, sep, proof_attr = text.rpartition(",")
        if not sep or not proof_attr.startswith("p="):
            raise ScramError("other-error")
        attrs = dict(_attributes(without_proof))
        expected_binding = _b64(self._gs2_header.encode())
        if attrs.get("c") != expected_binding:
            raise ScramError("channel-bindings-dont-match")
        if attrs.get("r") != self._combined_nonce:
            raise ScramError("other-error")
        try:
            proof = base64.b64decode(proof_attr[2:], validate=True)
        except ValueError:
            raise ScramError("invalid-proof") from None
        auth_message = (
            f"{self._client_first_bare},{self._server_first},{without_proof}"
        ).encode()
        stored_key = base64.b64decode(self._credential.stored_key)
        signature = _hmac(stored_key, auth_message)
        if len(proof) != len(signature):
            raise ScramError("invalid-proof")
        client_key = bytes(a ^ b for a, b in zip(proof, signature, strict=True))
        if not hmac.compare_digest(hashlib.sha256(client_key).digest(), stored_key):
            raise ScramError("invalid-proof")
        server_key = base64.b64decode(self._credential.server_key)
        return b"v=" + _b64(_hmac(server_key, auth_message)).encode()


# -- the shared throttle ------------------------------------------------------------------------
# Authenticator.login verifies a password itself; SCRAM is verified here, so these two small
# functions count its outcomes in the same LoginThrottle (one method on Authenticator,
# "verified(ip, address, ok)", would be the natural home later).


def throttle_check(throttle: object, remote_ip: str, username: str) -> float | None:
    """Seconds to wait before going on, or None: blocked (too many failures)."""
    return throttle.check(remote_ip, username.strip().lower())  # type: ignore[attr-defined]


def throttle_record(throttle: object, remote_ip: str, username: str, ok: bool) -> None:
    key = username.strip().lower()
    if ok:
        throttle.succeeded(key)  # type: ignore[attr-defined]
    else:
        throttle.failed(remote_ip, key)  # type: ignore[attr-defined]


# -- where passwords are set ----------------------------------------------------------------------


async def save_secret(store: object, account_id: int, password: str, password_hash: str) -> None:
    """Derive the SCRAM secret of a password just set (in a thread) and store it: call it
    next to every ``update_account(password_hash=...)`` / ``add_account``."""
    fresh = await asyncio.to_thread(derive, password, password_hash)
    now = int(time.time())
    await store.write(  # type: ignore[attr-defined]
        lambda tx: credentials.set_scram(tx, account_id, fresh, now)
    )
