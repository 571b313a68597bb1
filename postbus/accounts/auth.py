"""Sign-in for every protocol and the web: one check, one throttle.

Rules (design.md, "Sign-in"):
- an unknown address and a wrong password fail the same way, in the same time (the unknown
  address still costs one argon2 verification);
- failures are counted per client IP and per account across IMAP, POP3, SMTP submission,
  ManageSieve and the web; past a few failures each new attempt waits longer, and past the
  configured limit the attempt is refused without even checking the password until the window
  has passed;
- argon2 runs in two threads of its own, never on the event loop: each thread keeps argon2's
  19 MiB working memory in its allocator arena, so few threads keep the process small.

The counts live in this process. On a PostgreSQL cluster each node counts for itself, which
multiplies the limits by the number of nodes; that is a known gap.
"""

from __future__ import annotations

import asyncio
import enum
import time
from collections import defaultdict, deque
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

from postbus.accounts.passwords import verify_password, verify_unknown_user
from postbus.store import NotFound, Store, StoreError
from postbus.store.models import Account

_ARGON2 = ThreadPoolExecutor(2, thread_name_prefix="postbus-argon2")
FREE_FAILURES = 3  # a typo or two costs nothing
MAX_DELAY = 8.0  # seconds


class Refusal(enum.Enum):
    INVALID = "invalid"  # wrong address or password: one answer for both
    BLOCKED = "blocked"  # too many failures; try again later
    DISABLED = "disabled"  # right password, but the account is disabled


class AuthFailed(Exception):
    def __init__(self, refusal: Refusal) -> None:
        super().__init__(refusal.value)
        self.refusal = refusal


@dataclass
class LoginThrottle:
    """Failures per key (``ip:...`` / ``account:...``) within a sliding window."""

    per_ip: int
    per_account: int
    window: float
    clock: Callable[[], float] = time.monotonic
    _failures: dict[str, deque[float]] = field(default_factory=lambda: defaultdict(deque))

    def _count(self, key: str, now: float) -> int:
        failures = self._failures.get(key)
        if not failures:
            return 0
        while failures and failures[0] <= now - self.window:
            failures.popleft()
        if not failures:
            del self._failures[key]
            return 0
        return len(failures)

    def check(self, ip: str, account: str) -> float | None:
        """Seconds to wait before checking this attempt, or None when it is blocked."""
        now = self.clock()
        by_ip = self._count(f"ip:{ip}", now)
        by_account = self._count(f"account:{account}", now)
        if by_ip >= self.per_ip or by_account >= self.per_account:
            return None
        excess = max(by_ip, by_account) - FREE_FAILURES
        return 0.0 if excess < 0 else min(MAX_DELAY, 0.5 * 2**excess)

    def failed(self, ip: str, account: str) -> None:
        now = self.clock()
        self._failures[f"ip:{ip}"].append(now)
        self._failures[f"account:{account}"].append(now)

    def succeeded(self, account: str) -> None:
        self._failures.pop(f"account:{account}", None)


class Authenticator:
    def __init__(self, store: Store, throttle: LoginThrottle) -> None:
        self.store = store
        self.throttle = throttle

    async def login(self, address: str, password: str, remote_ip: str, protocol: str) -> Account:
        """The account, or AuthFailed. ``protocol`` names the door in the audit log."""
        key = address.strip().lower()
        delay = self.throttle.check(remote_ip, key)
        if delay is None:
            raise AuthFailed(Refusal.BLOCKED)
        if delay:
            await asyncio.sleep(delay)
        account = await self._find(key)
        loop = asyncio.get_running_loop()
        if account is None:
            await loop.run_in_executor(_ARGON2, verify_unknown_user, password)
            self.throttle.failed(remote_ip, key)
            raise AuthFailed(Refusal.INVALID)
        if not await loop.run_in_executor(
            _ARGON2, verify_password, account.password_hash, password
        ):
            self.throttle.failed(remote_ip, key)
            raise AuthFailed(Refusal.INVALID)
        if account.disabled:
            raise AuthFailed(Refusal.DISABLED)
        self.throttle.succeeded(key)
        await self.store.update_account(account.id, last_login=int(time.time()))
        return account

    async def _find(self, address: str) -> Account | None:
        try:
            return await self.store.find_account(address)
        except NotFound:
            return None
        except StoreError:  # not even an address: same answer as an unknown one
            return None
