"""The DNS lookups that sender authentication needs, as plain Python values.

SPF, DKIM, DMARC and ARC take a resolver argument (style.md §8: outside lookups are passed
in), typed as the ``Resolver`` protocol below. ``DnsResolver`` is the real one, over
dnspython's asyncio resolver; ``StaticResolver`` answers from a dict, for unit tests that
need no DNS server.

Invariants:
- "no such name" (NXDOMAIN) and "no record of that type" (NODATA) both return an empty list:
  RFC 7208 §4.3/§4.6.4 and RFC 7489 §6.6.3 treat them alike. Anything that a later try could
  answer differently (timeout, SERVFAIL, REFUSED, no nameserver) raises ``TempDnsError``.
- A name that cannot exist in DNS (an empty or over-long label) is answered with an empty
  list: no server could hold a record for it.
- Answers are kept for their TTL (dnspython's LRUCache, with a plain dict in front that
  answers without building a query): a sender's SPF and DMARC records are looked up once per
  TTL, not once per message, which costs more CPU than the rest of the MX path
  (bench/RESULTS.md). "No such name" and "no record" are kept only as long as the
  zone's SOA allows (RFC 2308 §5), never without one; failures are never kept.
"""

from __future__ import annotations

import ipaddress
import time
from collections.abc import Iterable, Mapping, Sequence
from typing import Protocol

import dns.asyncresolver
import dns.exception
import dns.name
import dns.nameserver
import dns.rdataclass
import dns.rdatatype
import dns.resolver
import dns.reversename

__all__ = [
    "DnsResolver",
    "Resolver",
    "StaticResolver",
    "TempDnsError",
    "parse_nameserver",
]


CACHE_SIZE = 10_000  # answers; a few MB at most


class _AnswerCache(dns.resolver.LRUCache):
    """dnspython's cache, less the negative answers that came without an SOA record: dnspython
    keeps those for a default time, RFC 2308 §5 says they are not to be kept at all."""

    def put(self, key: tuple[dns.name.Name, int, int], value: dns.resolver.Answer) -> None:
        if value.rrset is None and not any(
            rrset.rdtype == dns.rdatatype.SOA for rrset in value.response.authority
        ):
            return
        super().put(key, value)


class TempDnsError(Exception):
    """A lookup that failed for now (timeout, SERVFAIL, REFUSED): SPF/DKIM/DMARC temperror."""


class Resolver(Protocol):
    """What sender authentication asks of DNS. Names may end in a dot or not."""

    async def txt(self, name: str) -> list[str]:
        """Each TXT record with its character-strings joined (RFC 7208 §3.3)."""
        ...

    async def mx(self, name: str) -> list[tuple[int, str]]:
        """(preference, exchange) pairs, exchange lower-case without the final dot."""
        ...

    async def a(self, name: str) -> list[str]: ...

    async def aaaa(self, name: str) -> list[str]: ...

    async def ptr(self, ip: str) -> list[str]:
        """Names of an IPv4 or IPv6 address, lower-case without the final dot."""
        ...


def parse_nameserver(text: str) -> tuple[str, int]:
    """ "192.0.2.1", "192.0.2.1:5353", "2001:db8::1" or "[2001:db8::1]:5353" -> (ip, port)."""
    text = text.strip()
    host, port = text, 53
    if text.startswith("["):
        host, sep, rest = text[1:].partition("]")
        if not sep or (rest and not rest.startswith(":")):
            raise ValueError(f"not a nameserver address: {text!r}")
        if rest:
            port = int(rest[1:])
    elif text.count(":") == 1:
        host, _, port_text = text.partition(":")
        port = int(port_text)
    ipaddress.ip_address(host)  # raises ValueError for anything but an IP address
    if not 0 < port < 65536:
        raise ValueError(f"port out of range: {text!r}")
    return host, port


def _plain(name: dns.name.Name) -> str:
    return name.to_text(omit_final_dot=True).lower()


class DnsResolver:
    """dnspython's asyncio stub resolver with our own nameserver list.

    ``nameservers`` are "ip", "ip:port" or "[ipv6]:port" strings; empty means the system's
    /etc/resolv.conf. ``timeout`` bounds each lookup, retries included.
    """

    def __init__(self, nameservers: Sequence[str] = (), timeout: float = 5.0) -> None:
        if nameservers:
            self._resolver = dns.asyncresolver.Resolver(configure=False)
            self._resolver.nameservers = [
                dns.nameserver.Do53Nameserver(*parse_nameserver(ns)) for ns in nameservers
            ]
        else:
            self._resolver = dns.asyncresolver.Resolver(configure=True)
        self._resolver.lifetime = timeout
        self._resolver.timeout = min(timeout, 2.0)  # per try; lifetime bounds the retries
        self._resolver.cache = _AnswerCache(CACHE_SIZE)
        # In front of dnspython's cache, which still builds a query, a name object and a
        # resolution per lookup: (name, type) -> (expiry, records), for what it holds.
        self._kept: dict[tuple[str, str], tuple[float, list[object]]] = {}

    async def _query(self, name: str | dns.name.Name, rdtype: str) -> list[object]:
        key = (name.lower() if isinstance(name, str) else name.to_text().lower(), rdtype)
        kept = self._kept.get(key)
        if kept is not None and kept[0] > time.time():
            return kept[1]
        try:
            qname = name if isinstance(name, dns.name.Name) else dns.name.from_text(name)
        except (dns.exception.SyntaxError, UnicodeError, ValueError):
            return []  # cannot exist in DNS (label too long, empty label, bad IDN)
        records = await self._lookup(qname, rdtype)
        # As long as dnspython's cache keeps the answer (its TTL; negative ones with an SOA).
        answer = self._resolver.cache.get(
            (qname, dns.rdatatype.from_text(rdtype), dns.rdataclass.IN)
        )
        if answer is not None:
            if len(self._kept) >= CACHE_SIZE:
                del self._kept[next(iter(self._kept))]  # the oldest entry
            self._kept[key] = (answer.expiration, records)
        return records

    async def _lookup(self, qname: dns.name.Name, rdtype: str) -> list[object]:
        try:
            answer = await self._resolver.resolve(qname, rdtype, search=False)
        except (dns.resolver.NXDOMAIN, dns.resolver.NoAnswer):
            return []
        except dns.resolver.YXDOMAIN:
            return []  # a DNAME would make the name too long: it cannot exist
        except dns.exception.Timeout as e:
            raise TempDnsError(f"{rdtype} {qname}: timeout") from e
        except dns.resolver.NoNameservers as e:  # SERVFAIL, REFUSED from every server
            raise TempDnsError(f"{rdtype} {qname}: no nameserver answered") from e
        except dns.exception.DNSException as e:
            raise TempDnsError(f"{rdtype} {qname}: {type(e).__name__}") from e
        return list(answer)

    async def txt(self, name: str) -> list[str]:
        records = await self._query(name, "TXT")
        # RFC 7208 §3.3 / RFC 6376 §3.6.2.2: the strings of one record join without spaces.
        return [b"".join(r.strings).decode("utf-8", "replace") for r in records]  # type: ignore[attr-defined]

    async def mx(self, name: str) -> list[tuple[int, str]]:
        records = await self._query(name, "MX")
        return [(r.preference, _plain(r.exchange)) for r in records]  # type: ignore[attr-defined]

    async def a(self, name: str) -> list[str]:
        return [r.address for r in await self._query(name, "A")]  # type: ignore[attr-defined]

    async def aaaa(self, name: str) -> list[str]:
        return [r.address for r in await self._query(name, "AAAA")]  # type: ignore[attr-defined]

    async def ptr(self, ip: str) -> list[str]:
        qname = dns.reversename.from_address(ip)  # ValueError for a non-address: caller's bug
        return [_plain(r.target) for r in await self._query(qname, "PTR")]  # type: ignore[attr-defined]


def _key(name: str) -> str:
    return name.lower().rstrip(".")


class StaticResolver:
    """Fixed answers for unit tests: ``records[(name, "TXT")] = [...]``.

    Names in ``failing`` raise TempDnsError for every type. ``queries`` records each lookup
    as (type, name), so a test can count them (RFC 7208 §4.6.4 limits).
    """

    def __init__(
        self,
        records: Mapping[tuple[str, str], Iterable[object]] | None = None,
        failing: Iterable[str] = (),
    ) -> None:
        self.records: dict[tuple[str, str], list[object]] = {
            (_key(n), t.upper()): list(v) for (n, t), v in (records or {}).items()
        }
        self.failing = {_key(n) for n in failing}
        self.queries: list[tuple[str, str]] = []

    def _get(self, name: str, rdtype: str) -> list[object]:
        self.queries.append((rdtype, _key(name)))
        if _key(name) in self.failing:
            raise TempDnsError(f"{rdtype} {name}: failing on purpose")
        return list(self.records.get((_key(name), rdtype), []))

    async def txt(self, name: str) -> list[str]:
        return [str(v) for v in self._get(name, "TXT")]

    async def mx(self, name: str) -> list[tuple[int, str]]:
        return [(int(p), _key(h)) for p, h in self._get(name, "MX")]  # type: ignore[misc]

    async def a(self, name: str) -> list[str]:
        return [str(v) for v in self._get(name, "A")]

    async def aaaa(self, name: str) -> list[str]:
        return [str(v) for v in self._get(name, "AAAA")]

    async def ptr(self, ip: str) -> list[str]:
        reverse = dns.reversename.from_address(ip).to_text(omit_final_dot=True)
        return [_key(str(v)) for v in self._get(reverse, "PTR")]
