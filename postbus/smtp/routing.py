"""What a delivery attempt to another server is told, how it can end, and where it goes.

The settings of the outbound queue, the outcome of an attempt (sent, temporary, permanent) with
the back-off between attempts, and MX routing (RFC 5321 §5.1). Used by ``outbound.py``, which
runs the attempts.
"""

from __future__ import annotations

import enum
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, Protocol

from postbus.smtp.resolver import DnsResolver

DAY, HOUR, MINUTE = 86400, 3600, 60
MAX_ADDRESSES = 10  # addresses tried per destination and attempt


# -- what the worker is told -------------------------------------------------------------------


class Resolver(Protocol):
    """The part of ``postbus.smtp.resolver.Resolver`` routing needs. An empty list means "no
    such records" (NXDOMAIN or NODATA); an exception (``TempDnsError``) means the answer is
    unknown for now, and the attempt is temporary. ``txt`` finds MTA-STS records."""

    async def txt(self, name: str) -> list[str]: ...
    async def mx(self, name: str) -> list[tuple[int, str]]: ...
    async def a(self, name: str) -> list[str]: ...
    async def aaaa(self, name: str) -> list[str]: ...


@dataclass(frozen=True, slots=True)
class Smarthost:
    """Send every remote message through one relay (a provider's submission server)."""

    host: str
    port: int = 587
    username: str | None = None
    password: str | None = None
    tls: Literal["starttls", "implicit", "none"] = "starttls"
    verify: bool = True  # a relay is named by us, so its certificate is checked

    def __post_init__(self) -> None:
        if self.username and self.tls == "none":
            raise ValueError("smarthost: a password is never sent without TLS")


@dataclass(frozen=True, slots=True)
class OutboundSettings:
    hostname: str  # EHLO name, Reporting-MTA, MAILER-DAEMON@
    port: int = 25  # the MX port; tests point it elsewhere
    max_age: int = 5 * DAY  # then a temporary failure becomes a bounce
    delay_notice_after: int = 4 * HOUR  # 0: never
    first_retry: int = 5 * MINUTE
    max_retry_interval: int = 4 * HOUR
    connections_per_domain: int = 2
    max_connections: int = 50
    batch: int = 200  # recipients claimed per pass
    connect_timeout: float = 30.0
    command_timeout: float = 300.0  # RFC 5321 §4.5.3.2: five minutes per command
    bind_address: str = ""  # local address to connect from (the IP in our SPF record); "": any
    smarthost: Smarthost | None = None
    tls_ca_file: Path | None = None  # CA certificates for MTA-STS checks; None: the system's
    mta_sts_port: int = 443  # RFC 8461 §3.3 fixes 443; only tests change it (no config key)


def settings_from_config(config: Any) -> OutboundSettings:
    """Settings from postbus.config.Config: its ``[queue]`` and ``[smarthost]`` sections when
    the config has them, else the defaults above."""
    queue_cfg = getattr(config, "queue", None)
    values: dict[str, Any] = {"hostname": config.server.hostname}
    for name in (
        "port",
        "bind_address",
        "max_age",
        "delay_notice_after",
        "first_retry",
        "max_retry_interval",
        "connections_per_domain",
        "max_connections",
        "tls_ca_file",
    ):
        if hasattr(queue_cfg, name):
            values[name] = getattr(queue_cfg, name)
    relay = getattr(config, "smarthost", None)
    if relay is not None and getattr(relay, "host", None):
        values["smarthost"] = Smarthost(
            relay.host,
            relay.port,
            relay.username or None,
            relay.password or None,
            relay.tls,
            relay.verify,
        )
    return OutboundSettings(**values)


def resolver_from_config(config: Any) -> Resolver:
    """The DNS resolver: ``[dns] nameservers`` when set, else the system's."""
    nameservers = getattr(getattr(config, "dns", None), "nameservers", ())
    return DnsResolver(tuple(nameservers))


# -- outcomes ----------------------------------------------------------------------------------


class Kind(enum.Enum):
    SENT = "sent"
    TEMPORARY = "temporary"
    PERMANENT = "permanent"


@dataclass(frozen=True, slots=True)
class Result:
    """What happened to one recipient in one attempt."""

    kind: Kind
    status: str  # RFC 3463 enhanced status code
    reply: str  # the server's reply ("550 5.1.1 no such user") or our own explanation
    remote: str = ""  # the host that answered


class RouteError(Exception):
    def __init__(self, result: Result) -> None:
        super().__init__(result.reply)
        self.result = result


_ENHANCED = re.compile(r"^([245])\.(\d{1,3})\.(\d{1,3})\b")


def from_reply(code: int, message: str, remote: str) -> Result:
    """A reply turned into a result: 2xx sent, 5xx permanent, anything else temporary."""
    text = " ".join(message.split())
    match = _ENHANCED.match(text)  # RFC 2034 §4: the enhanced code leads the text
    if 200 <= code < 300:
        kind, default = Kind.SENT, "2.0.0"
    elif 500 <= code < 600:
        kind, default = Kind.PERMANENT, "5.0.0"
    else:  # 4xx, and any reply out of the protocol, may go better next time
        kind, default = Kind.TEMPORARY, "4.0.0"
    status = match.group(0) if match and match.group(1) == str(code)[0] else default
    return Result(kind, status, f"{code} {text}", remote)


def retry_delay(attempts: int, settings: OutboundSettings) -> int:
    """Seconds to wait after the ``attempts``-th failed try: doubling, then capped."""
    return min(settings.first_retry * 2 ** max(attempts - 1, 0), settings.max_retry_interval)


# -- routing (RFC 5321 §5.1) -------------------------------------------------------------------


async def route(resolver: Resolver, domain: str) -> list[tuple[str, str]]:
    """(host name, address) pairs to try in order, or RouteError."""
    try:
        ascii_domain = domain.encode("idna").decode("ascii")
    except UnicodeError:
        bad = Result(Kind.PERMANENT, "5.1.2", f"bad destination domain {domain}")
        raise RouteError(bad) from None
    try:
        records = await resolver.mx(ascii_domain)
    except Exception as exc:
        unknown = Result(Kind.TEMPORARY, "4.4.3", f"DNS lookup of {domain} MX: {exc}")
        raise RouteError(unknown) from exc
    if len(records) == 1 and records[0][1] in (".", ""):
        # RFC 7505 §3: a null MX says the domain accepts no mail; §4.2 names the status.
        raise RouteError(Result(Kind.PERMANENT, "5.1.10", f"{domain} accepts no mail (null MX)"))
    implicit = not records
    # RFC 5321 §5.1: no MX records, then the domain itself is the implicit MX.
    hosts = (
        [ascii_domain]
        if implicit
        else [host.rstrip(".").lower() for _, host in sorted(records) if host not in (".", "")]
    )
    pairs: list[tuple[str, str]] = []
    lookup_failed = ""
    for host in hosts:
        for lookup in (resolver.a, resolver.aaaa):  # IPv4 first: many hosts lack IPv6 routes
            try:
                pairs.extend((host, address) for address in await lookup(host))
            except Exception as exc:
                lookup_failed = f"DNS lookup of {host}: {exc}"
    if pairs:
        return pairs[:MAX_ADDRESSES]
    if lookup_failed:
        raise RouteError(Result(Kind.TEMPORARY, "4.4.3", lookup_failed))
    if implicit:  # RFC 3463: X.1.2 bad destination system address
        raise RouteError(Result(Kind.PERMANENT, "5.1.2", f"{domain} has no mail server"))
    raise RouteError(Result(Kind.PERMANENT, "5.4.4", f"no address for the MX hosts of {domain}"))


