"""Sign-in: one answer for unknown users and wrong passwords, and a throttle that bites."""

from __future__ import annotations

import time

import pytest

from postbus.accounts.auth import Authenticator, AuthFailed, LoginThrottle, Refusal
from postbus.accounts.passwords import hash_password
from postbus.store import Store


class FakeClock:
    """Time for the throttle only; the store and argon2 run for real."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
async def auth(store: Store) -> Authenticator:
    await store.add_domain("example.org")
    await store.add_account("anna@example.org", hash_password("correct horse battery"))
    return Authenticator(store, LoginThrottle(per_ip=10, per_account=5, window=900))


async def test_right_password_signs_in(auth: Authenticator) -> None:
    account = await auth.login("Anna@Example.org", "correct horse battery", "192.0.2.1", "imap")
    assert account.address == "anna@example.org"
    assert (await auth.store.get_account(account.id)).last_login is not None


@pytest.mark.parametrize(
    ("address", "password"),
    [("anna@example.org", "wrong"), ("nobody@example.org", "x"), ("not an address", "x")],
)
async def test_failures_look_alike(auth: Authenticator, address: str, password: str) -> None:
    with pytest.raises(AuthFailed) as failure:
        await auth.login(address, password, "192.0.2.1", "imap")
    assert failure.value.refusal is Refusal.INVALID


async def test_unknown_user_costs_as_much_as_wrong_password(auth: Authenticator) -> None:
    timings = {}
    for address in ("anna@example.org", "nobody@example.org"):
        started = time.perf_counter()
        with pytest.raises(AuthFailed):
            await auth.login(address, "wrong password", f"192.0.2.{len(address)}", "imap")
        timings[address] = time.perf_counter() - started
    fast, slow = sorted(timings.values())
    assert slow < fast * 3  # both pay for one argon2 verification


async def test_account_is_blocked_after_limit_across_ips(store: Store) -> None:
    await store.add_domain("example.org")
    await store.add_account("anna@example.org", hash_password("correct horse battery"))
    clock = FakeClock()
    throttle = LoginThrottle(per_ip=100, per_account=3, window=900, clock=clock)
    auth = Authenticator(store, throttle)
    for n in range(3):
        with pytest.raises(AuthFailed):
            await auth.login("anna@example.org", "guess", f"198.51.100.{n}", "pop3")
    with pytest.raises(AuthFailed) as failure:
        await auth.login("anna@example.org", "correct horse battery", "203.0.113.9", "imap")
    assert failure.value.refusal is Refusal.BLOCKED
    clock.now += 901
    assert await auth.login("anna@example.org", "correct horse battery", "203.0.113.9", "imap")


async def test_delay_grows_after_free_failures() -> None:
    clock = FakeClock()
    throttle = LoginThrottle(per_ip=10, per_account=10, window=900, clock=clock)
    delays = []
    for _ in range(7):
        delays.append(throttle.check("192.0.2.7", "x@example.org"))
        throttle.failed("192.0.2.7", "x@example.org")
    assert delays == [0.0, 0.0, 0.0, 0.5, 1.0, 2.0, 4.0]


async def test_disabled_account_is_refused_with_right_password(auth: Authenticator) -> None:
    account = await auth.store.find_account("anna@example.org")
    await auth.store.update_account(account.id, disabled=1)
    with pytest.raises(AuthFailed) as failure:
        await auth.login("anna@example.org", "correct horse battery", "192.0.2.1", "web")
    assert failure.value.refusal is Refusal.DISABLED
