"""AUTH=SCRAM-SHA-256 (RFC 7677, RFC 5802): the sans-IO exchange against the RFC's own test
vector, SASLprep examples (RFC 4013 §3), and the real thing over a socket on both backends: a
client that computes its proof, SASL-IR or not, wrong passwords and unknown users alike, the
secret made at the next password sign-in and voided by a password change, the shared throttle."""

from __future__ import annotations

import base64
import hashlib
import hmac
import time

import pytest

from postbus.accounts import scram
from postbus.accounts.passwords import hash_password
from postbus.store import credentials
from tests.imap.conftest import PASSWORD, ImapServer, password_hash
from tests.imap.wire import Wire

ANN, BOB = "ann@example.org", "bob@example.org"


# -- sans-IO ------------------------------------------------------------------------------------


def test_rfc7677_example() -> None:
    """RFC 7677 §3: user "user", password "pencil"."""
    salt = base64.b64decode("W22ZaJ0SNY7soEsUEjb6gQ==")
    credential = scram.derive("pencil", "hash", salt, 4096)
    server = scram.ScramServer(nonce="%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0")
    assert server.client_first(b"n,,n=user,r=rOprNGfwEbeRWgbNEkqO") == "user"
    assert server.server_first(credential) == (
        b"r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096"
    )
    final = server.client_final(
        b"c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,"
        b"p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ="
    )
    assert final == b"v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4="


@pytest.mark.parametrize(
    ("first", "reason"),
    [
        (b"p=tls-unique,,n=user,r=abc", "server-does-support-channel-binding"),
        (b"x,,n=user,r=abc", "other-error"),
        (b"n,,n=user", "other-error"),
        (b"n,,r=abc,n=user", "other-error"),
        (b"n,,n=us=2Xer,r=abc", "invalid-username-encoding"),
        (b"n,a=other,n=user,r=abc", "invalid-username-encoding"),
        (b"n,,n=user,r=abc,m=ext", "extensions-not-supported"),
        (b"n,,n=\xff,r=abc", "other-error"),
        (b"n,,n=user,r=" + b"a" * 5000, "other-error"),
    ],
)
def test_bad_client_first(first: bytes, reason: str) -> None:
    with pytest.raises(scram.ScramError) as info:
        scram.ScramServer(nonce="n").client_first(first)
    assert info.value.reason == reason


def test_names_and_bad_finals() -> None:
    server = scram.ScramServer(nonce="srv")
    assert server.client_first(b"y,a=A=2Cb,n=a=2Cb,r=cli") == "a,b"
    server.server_first(scram.derive("pw", "h", b"salt" * 4, 4096))
    for final in (b"c=biws,r=clisrv,p=AAAA", b"c=eSwsYQ==,r=wrong,p=AAAA", b"c=biws,r=clisrv",
                  b"c=eSxhPWEsYiw=,r=clisrv,p=!!"):
        with pytest.raises(scram.ScramError):
            server.client_final(final)


@pytest.mark.parametrize(
    ("given", "prepared"),
    [("I\u00adX", "IX"), ("user", "user"), ("USER", "USER"), ("\u00aa", "a"), ("\u2168", "IX"),
     ("a\u2003b", "a b")],
)
def test_saslprep(given: str, prepared: str) -> None:
    assert scram.saslprep(given) == prepared  # RFC 4013 §3 examples


@pytest.mark.parametrize("given", ["\u0007", "\u0627\u0031", "a\U000e0001"])
def test_saslprep_refuses(given: str) -> None:
    with pytest.raises(ValueError):
        scram.saslprep(given)


def test_dummy_is_stable_per_name() -> None:
    key = b"k" * 32
    assert scram.dummy("Ann@x", key).salt == scram.dummy("ann@x", key).salt
    assert scram.dummy("ann@x", key).salt != scram.dummy("bob@x", key).salt


# -- over a socket ------------------------------------------------------------------------------


def _client_messages(
    user: str, password: str, nonce: str = "clientnonce123"
) -> tuple[bytes, object]:
    first_bare = f"n={user.replace('=', '=3D').replace(',', '=2C')},r={nonce}"

    def final(server_first: bytes) -> tuple[bytes, bytes]:
        attrs = dict(part.split("=", 1) for part in server_first.decode().split(","))
        salted = hashlib.pbkdf2_hmac(
            "sha256", password.encode(), base64.b64decode(attrs["s"]), int(attrs["i"])
        )
        client_key = hmac.digest(salted, b"Client Key", "sha256")
        stored = hashlib.sha256(client_key).digest()
        without_proof = f"c=biws,r={attrs['r']}"
        auth = f"{first_bare},{server_first.decode()},{without_proof}".encode()
        proof = bytes(
            a ^ b for a, b in zip(client_key, hmac.digest(stored, auth, "sha256"), strict=True)
        )
        server_key = hmac.digest(salted, b"Server Key", "sha256")
        expected = b"v=" + base64.b64encode(hmac.digest(server_key, auth, "sha256"))
        return (without_proof + ",p=" + base64.b64encode(proof).decode()).encode(), expected

    return ("n,," + first_bare).encode(), final


async def _scram(
    imap: ImapServer, user: str, password: str, initial: bool = True
) -> tuple[bytes, bytes | None]:
    """(tagged line, server-final or None)."""
    wire = await Wire.open(imap.plain_port)
    first, make_final = _client_messages(user, password)
    b64 = base64.b64encode(first).decode()
    wire.send(f"S1 AUTHENTICATE SCRAM-SHA-256 {b64}\r\n".encode() if initial
              else b"S1 AUTHENTICATE SCRAM-SHA-256\r\n")
    if not initial:
        assert await wire.line() == b"+ "
        wire.send(b64.encode() + b"\r\n")
    line = await wire.line()
    if not line.startswith(b"+ "):
        await wire.close()
        return line, None
    final, expected = make_final(base64.b64decode(line[2:]))  # type: ignore[operator]
    wire.send(base64.b64encode(final) + b"\r\n")
    line = await wire.line()
    server_final = None
    if line.startswith(b"+ "):
        server_final = base64.b64decode(line[2:])
        assert server_final == expected  # the server proves it knows the secret too
        wire.send(b"\r\n")
        line = await wire.line()
    if line.startswith(b"S1 OK"):
        await wire.ok("SELECT INBOX")
    await wire.close()
    return line, server_final


async def _set_secret(imap: ImapServer, user: str, password: str, pw_hash: str) -> None:
    account = imap.users[user]
    fresh = scram.derive(password, pw_hash)
    await imap.store.write(lambda tx: credentials.set_scram(tx, account, fresh, int(time.time())))


async def test_scram_sign_in(imap: ImapServer) -> None:
    wire = await Wire.open(imap.plain_port)
    assert b"AUTH=SCRAM-SHA-256" in wire.greeting
    await wire.close()
    # what `postbus user add/passwd` and the demo seed call after setting a password
    await scram.save_secret(imap.store, imap.users[ANN], PASSWORD, password_hash())
    for initial in (True, False):
        tagged, server_final = await _scram(imap, ANN, PASSWORD, initial)
        assert tagged.startswith(b"S1 OK [CAPABILITY ") and server_final is not None
    tagged, _ = await _scram(imap, ANN.upper(), PASSWORD)
    assert tagged.startswith(b"S1 OK")


async def test_failures_look_alike(imap: ImapServer) -> None:
    await _set_secret(imap, ANN, PASSWORD, password_hash())
    wrong, _ = await _scram(imap, ANN, "not the password")
    unknown, _ = await _scram(imap, "nobody@example.org", PASSWORD)
    no_secret, _ = await _scram(imap, BOB, PASSWORD)  # bob has no SCRAM secret yet
    for tagged in (wrong, unknown, no_secret):
        assert tagged == b"S1 NO [AUTHENTICATIONFAILED] Authentication failed"


async def test_unknown_user_gets_the_same_salt_each_time(imap: ImapServer) -> None:
    salts = []
    for _ in range(2):
        wire = await Wire.open(imap.plain_port)
        first, _ = _client_messages("nobody@example.org", "x")
        wire.send(b"S1 AUTHENTICATE SCRAM-SHA-256 " + base64.b64encode(first) + b"\r\n")
        challenge = base64.b64decode((await wire.line())[2:]).decode()
        salts.append([p for p in challenge.split(",") if p.startswith("s=")])
        wire.send(b"*\r\n")
        assert b" BAD " in await wire.line()
        await wire.close()
    assert salts[0] == salts[1]


async def test_secret_made_at_login_and_voided_by_a_new_password(imap: ImapServer) -> None:
    no_secret, _ = await _scram(imap, BOB, PASSWORD)
    assert b"NO [AUTHENTICATIONFAILED]" in no_secret
    wire = await Wire.open(imap.plain_port)
    await wire.login(BOB, PASSWORD)  # a good password sign-in makes the secret
    await wire.close()
    tagged, _ = await _scram(imap, BOB, PASSWORD)
    assert tagged.startswith(b"S1 OK")
    # the password changes by some other path: the old secret no longer counts
    await imap.store.update_account(imap.users[BOB], password_hash=hash_password("new pass 12"))
    tagged, _ = await _scram(imap, BOB, PASSWORD)
    assert b"NO [AUTHENTICATIONFAILED]" in tagged


async def test_failures_count_in_the_shared_throttle(imap: ImapServer) -> None:
    await _set_secret(imap, ANN, PASSWORD, password_hash())
    throttle = imap.service.auth.throttle
    limit = throttle.per_account
    throttle.clock = lambda: 1000.0  # no sliding out of the window during the test
    for _ in range(limit):
        throttle.failed("192.0.2.1", ANN)
    tagged, _ = await _scram(imap, ANN, PASSWORD)
    assert b"NO [UNAVAILABLE]" in tagged  # blocked, password not even looked at
    throttle.succeeded(ANN)
    wrong, _ = await _scram(imap, ANN, "wrong password")
    assert b"AUTHENTICATIONFAILED" in wrong
    assert throttle.check("127.0.0.1", ANN) is not None
    assert len(throttle._failures[f"account:{ANN}"]) == 1  # counted like a LOGIN failure


async def test_scram_needs_privacy_like_plain(imap: ImapServer) -> None:
    wire = await Wire.open(imap.starttls_port)
    assert b"AUTH=SCRAM-SHA-256" not in wire.greeting
    _, tagged = await wire.command("AUTHENTICATE SCRAM-SHA-256 biwsbj11c2VyLHI9YWJj")
    assert b"NO [PRIVACYREQUIRED]" in tagged
    await wire.close()
