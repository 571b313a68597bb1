"""MTA-STS (RFC 8461) policy discovery: the TXT lookup, the HTTPS fetch, and a cache.

``PolicyCache.policy(domain, now)`` answers "what policy applies to mail for ``domain`` now?"
for the outbound queue. The policy is fetched over HTTPS by hand (HTTP/1.1 over asyncio's TLS
streams): one GET, no redirects, no HTTP cache, a size limit and a timeout is all RFC 8461
§3.3 asks, and it spares a dependency (httpx is a test extra only).

Invariants:
- The cache is per process, in front of the store's ``mta_sts_policies`` table when it is given
  one: every policy fetched is written there, and a domain not in memory is looked up there
  first, so a restart during a DNS or HTTPS outage (or one an attacker causes) keeps the policies
  still in force (§5.1, §10.2). The store failing never stops delivery: it is logged, and the
  cache goes on with what it has.
- A fetch that fails in any way leaves the domain without a new policy; a cached one that has
  not run out still applies (§3.3, §5.1). Failed fetches are not repeated for FETCH_BACKOFF.
- The fetch connects to the addresses our own resolver gives for ``mta-sts.<domain>`` (so
  ``[dns] nameservers`` is honoured) and checks the certificate against that name.
- Nothing here raises to the caller but ``StsError`` (fetch) or nothing at all (the cache).
"""

from __future__ import annotations

import asyncio
import logging
import re
import ssl
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from postbus.smtp.mtasts import Policy, StsError, parse_policy, select_record
from postbus.store import Store
from postbus.store import mta_sts as kept
from postbus.tls import client_context_trusting

__all__ = ["PolicyCache", "fetch_body", "fetch_policy", "parse_response", "verified_context"]

log = logging.getLogger("postbus.outbound.mtasts")

HTTPS_PORT = 443  # RFC 8461 §3.3: the policy host is reached over HTTPS (tests pass another)
FETCH_TIMEOUT = 30.0  # §3.3: no longer than a minute
MAX_BODY = 64 * 1024  # §3.3: senders may refuse policies larger than 64 KiB
MAX_HEAD = 16 * 1024  # status line and header fields
FETCH_BACKOFF = 300  # seconds before a failed fetch for the same record id is tried again
PATH = "/.well-known/mta-sts.txt"  # §3.2


class Resolver(Protocol):
    async def txt(self, name: str) -> list[str]: ...
    async def a(self, name: str) -> list[str]: ...
    async def aaaa(self, name: str) -> list[str]: ...


def verified_context(ca_file: Path | None = None) -> ssl.SSLContext:
    """A client context that checks chain and host name (RFC 8461 §3.3, §4.2): against the
    system's trust store, or only the CA certificates in ``ca_file`` (private setups, tests)."""
    if ca_file is not None:
        return client_context_trusting(ca_file)
    context = ssl.create_default_context(ssl.Purpose.SERVER_AUTH)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    return context


# -- the HTTP/1.1 response (RFC 9112), sans-IO ---------------------------------------------------

_STATUS_LINE = re.compile(rb"HTTP/1\.[01] ([0-9]{3})(?: [^\r\n]*)?\Z")
_FIELD = re.compile(rb"([!#$%&'*+.^_`|~0-9A-Za-z-]+):[ \t]*(.*?)[ \t]*\Z")
_CHUNK_SIZE = re.compile(rb"([0-9A-Fa-f]{1,8})(?:;[^\r\n]*)?\Z")


def parse_response(data: bytes, eof: bool) -> bytes | None:
    """The body of a complete response, None when more is needed, or StsError.

    Only "200 OK" with media type text/plain is a policy (RFC 8461 §3.2, §3.3); a redirect is
    an error, never followed (§3.3)."""
    head, sep, rest = data.partition(b"\r\n\r\n")
    if not sep:
        if len(data) > MAX_HEAD:
            raise StsError("the response header is too long")
        if eof:
            raise StsError("the connection closed before the response header ended")
        return None
    status_line, *lines = head.split(b"\r\n")
    status = _STATUS_LINE.match(status_line)
    if not status:
        raise StsError(f"not an HTTP/1.1 response: {status_line[:60]!r}")
    if status.group(1) != b"200":
        raise StsError(f"HTTP status {status.group(1).decode()}, not 200")
    fields: dict[bytes, bytes] = {}
    for line in lines:
        match = _FIELD.match(line)
        if not match:  # obsolete line folding included (RFC 9112 §5.2)
            raise StsError(f"bad header field {line[:60]!r}")
        fields.setdefault(match.group(1).lower(), match.group(2))
    media_type = fields.get(b"content-type", b"").split(b";")[0].strip().lower()
    if media_type != b"text/plain":
        raise StsError(f"media type {media_type.decode('latin-1')!r}, not text/plain")
    coding = fields.get(b"transfer-encoding", b"").lower()
    if coding == b"chunked":
        return _dechunk(rest, eof)
    if coding:
        raise StsError(f"transfer coding {coding.decode('latin-1')!r}")
    if b"content-length" in fields:
        if not fields[b"content-length"].isdigit():
            raise StsError("bad Content-Length")
        length = int(fields[b"content-length"])
        if length > MAX_BODY:
            raise StsError(f"the policy is larger than {MAX_BODY} bytes")
        if len(rest) >= length:
            return rest[:length]
        if eof:
            raise StsError("the connection closed before the policy ended")
        return None
    if len(rest) > MAX_BODY:
        raise StsError(f"the policy is larger than {MAX_BODY} bytes")
    return rest if eof else None  # RFC 9112 §6.3: the body ends with the connection


def _dechunk(data: bytes, eof: bool) -> bytes | None:
    """RFC 9112 §7.1: size line, data, CRLF ... a zero size, trailer fields, an empty line."""
    body, at = bytearray(), 0
    while True:
        end = data.find(b"\r\n", at)
        if end < 0:
            break
        size_line = _CHUNK_SIZE.match(data[at:end])
        if not size_line:
            raise StsError("bad chunk size")
        size = int(size_line.group(1), 16)
        at = end + 2
        if size == 0:  # the last chunk; trailer fields (ignored) end with an empty line
            if data.startswith(b"\r\n", at) or data.find(b"\r\n\r\n", at) >= 0:
                return bytes(body)
            break
        if len(body) + size > MAX_BODY:
            raise StsError(f"the policy is larger than {MAX_BODY} bytes")
        if len(data) < at + size + 2:
            break
        if data[at + size : at + size + 2] != b"\r\n":
            raise StsError("a chunk does not end in CRLF")
        body += data[at : at + size]
        at += size + 2
    if eof:
        raise StsError("the connection closed inside the chunked policy")
    return None


# -- fetching --------------------------------------------------------------------------------


async def fetch_policy(
    domain: str,
    resolver: Resolver,
    context: ssl.SSLContext,
    *,
    port: int = HTTPS_PORT,
    timeout: float = FETCH_TIMEOUT,
) -> Policy:
    """GET https://mta-sts.<domain>/.well-known/mta-sts.txt and parse it, or StsError."""
    return parse_policy(await fetch_body(domain, resolver, context, port=port, timeout=timeout))


async def fetch_body(
    domain: str,
    resolver: Resolver,
    context: ssl.SSLContext,
    *,
    port: int = HTTPS_PORT,
    timeout: float = FETCH_TIMEOUT,
) -> bytes:
    """The policy file of ``domain`` as served, unparsed, or StsError."""
    host = f"mta-sts.{domain}"
    try:
        async with asyncio.timeout(timeout):
            return await _get(host, resolver, context, port)
    except TimeoutError:
        raise StsError(f"{host}: no policy within {timeout:.0f} s") from None


async def _get(host: str, resolver: Resolver, context: ssl.SSLContext, port: int) -> bytes:
    addresses: list[str] = []
    for lookup in (resolver.a, resolver.aaaa):
        try:
            addresses += await lookup(host)
        except Exception as exc:  # TempDnsError: the other family may still answer
            log.debug("DNS lookup of %s: %s", host, exc)
    if not addresses:
        raise StsError(f"{host} has no address")
    authority = host if port == HTTPS_PORT else f"{host}:{port}"
    request = (
        f"GET {PATH} HTTP/1.1\r\nHost: {authority}\r\nAccept: text/plain\r\n"
        "User-Agent: postbus\r\nConnection: close\r\n\r\n"
    ).encode("ascii")
    problems = []
    for address in addresses:
        try:
            # §3.3: the certificate must be valid for the policy host (checked by ``context``);
            # server_hostname also sends it as SNI.
            reader, writer = await asyncio.open_connection(
                address, port, ssl=context, server_hostname=host
            )
        except (OSError, ssl.SSLError) as exc:
            problems.append(f"{host}[{address}]: {exc}")
            continue
        try:
            writer.write(request)
            data, eof = b"", False
            while (body := parse_response(data, eof)) is None:
                chunk = await reader.read(16384)
                data, eof = data + chunk, not chunk
                if len(data) > MAX_HEAD + MAX_BODY * 2:  # chunk framing included
                    raise StsError(f"{host}: the response is too large")
            return body
        except (OSError, ssl.SSLError) as exc:
            problems.append(f"{host}[{address}]: {exc}")
        finally:
            writer.close()
    raise StsError("; ".join(problems))


# -- the cache -------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Cached:
    record_id: str
    policy: Policy
    fetched: int


class PolicyCache:
    """The policies of the domains we send to, kept for their max_age (RFC 8461 §5.1)."""

    def __init__(
        self,
        resolver: Resolver,
        context: ssl.SSLContext,
        *,
        port: int = HTTPS_PORT,
        store: Store | None = None,
    ) -> None:
        self.resolver = resolver
        self.context = context
        self.port = port
        self.store = store  # None: this process's memory only (tools, tests)
        self._cached: dict[str, _Cached] = {}
        self._failed: dict[str, tuple[str, int]] = {}  # domain -> (record id, when)

    async def policy(self, domain: str, now: int) -> Policy | None:
        """The policy for mail to ``domain`` at ``now``; None when it has none we can use."""
        try:
            domain = domain.encode("idna").decode("ascii").lower()
        except UnicodeError:
            return None
        cached = self._cached.get(domain)
        if cached is not None and now >= cached.fetched + cached.policy.max_age:
            del self._cached[domain]  # §3.2 max_age: the policy has run out
            cached = None
        if cached is None:
            # §10.2: a policy fetched before a restart (or by another node) is still in force.
            cached = await self._kept(domain, now)
        fallback = cached.policy if cached else None
        try:
            records = await self.resolver.txt(f"_mta-sts.{domain}")
        except Exception as exc:  # §5.1: DNS trouble never drops a cached policy
            log.info("MTA-STS record of %s: %s", domain, exc)
            return fallback
        record_id = select_record(records)
        if record_id is None:
            # §3.1: no usable record; that alone does not remove a cached policy.
            return fallback
        if cached is not None and cached.record_id == record_id:
            return cached.policy
        failed = self._failed.get(domain)
        if failed is not None and failed[0] == record_id and now < failed[1] + FETCH_BACKOFF:
            return fallback
        try:
            body = await fetch_body(domain, self.resolver, self.context, port=self.port)
            policy = parse_policy(body)
        except (StsError, OSError, ValueError) as exc:
            # §3.3: no policy can be fetched: the cached one, else as if there were none.
            log.warning("MTA-STS policy of %s (id %s) not fetched: %s", domain, record_id, exc)
            self._failed[domain] = (record_id, now)
            return fallback
        self._failed.pop(domain, None)
        self._cached[domain] = _Cached(record_id, policy, now)
        await self._keep(domain, record_id, body, now, policy.max_age)
        log.info(
            "MTA-STS policy of %s (id %s): mode %s, mx %s, max_age %d",
            domain, record_id, policy.mode.value, " ".join(policy.mx) or "-", policy.max_age,
        )  # fmt: skip
        return policy

    async def _kept(self, domain: str, now: int) -> _Cached | None:
        if self.store is None:
            return None
        try:
            row = await self.store.read(lambda tx: kept.get(tx, domain, now))
        except Exception as exc:  # the store is a backing for the cache, never a reason to stop
            log.warning("MTA-STS policy of %s not read from the store: %s", domain, exc)
            return None
        if row is None:
            return None
        try:
            policy = parse_policy(row.policy)
        except StsError as exc:  # kept by another version of postbus, say
            log.warning("MTA-STS policy of %s kept in the store is unusable: %s", domain, exc)
            return None
        found = _Cached(row.policy_id, policy, row.fetched)
        self._cached[domain] = found
        return found

    async def _keep(self, domain: str, record_id: str, body: bytes, now: int, max_age: int) -> None:
        if self.store is None:
            return
        row = kept.StoredPolicy(domain, record_id, body.decode("utf-8"), now, now + max_age)
        try:
            await self.store.write(lambda tx: kept.put(tx, row))
        except Exception as exc:  # delivery goes on with the policy in memory
            log.warning("MTA-STS policy of %s not kept in the store: %s", domain, exc)
