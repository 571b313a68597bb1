"""SPF (RFC 7208): may this IP address send mail for the MAIL FROM (or HELO) domain?

``check_spf`` is the entry point at MAIL FROM; ``check_host`` is the RFC's function (§4).
DNS comes in through a ``Resolver`` (postbus.smtp.resolver), so nothing here opens a socket.
pyspf was not used: it looks names up through a module-global, synchronous function, which
cannot take our async resolver per call.

Invariants:
- A record is parsed whole before any term is evaluated: a syntax error anywhere is a
  permerror even when an earlier term would have matched (RFC 7208 §4.6).
- One ``_Budget`` is shared by the whole evaluation, includes and redirects too, so the
  10-lookup and 2-void-lookup limits (§4.6.4) hold across the tree.
- Every outcome, including a DNS failure or a malformed record, is an ``SpfResult``; only
  programming errors raise.

Not done: the exp= explanation is checked for syntax but never fetched (we give our own
text), and the %{p} macro expands to "unknown" (§7.3 allows it; RFC says "do not use").
"""

from __future__ import annotations

import asyncio
import enum
import functools
import ipaddress
import re
import urllib.parse
from dataclasses import dataclass, field

from postbus.smtp.resolver import Resolver, TempDnsError

__all__ = ["SpfResult", "SpfStatus", "check_host", "check_spf"]

MAX_LOOKUPS = 10  # RFC 7208 §4.6.4: terms that cause DNS queries
MAX_VOID_LOOKUPS = 2  # RFC 7208 §4.6.4: SHOULD limit void lookups to two
MAX_ADDRESS_LOOKUPS = 10  # RFC 7208 §4.6.4: per "mx" or "ptr" evaluation
DEFAULT_TIMEOUT = 20.0  # RFC 7208 §4.6.4: at least 20 seconds for the whole check

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


class SpfStatus(enum.StrEnum):
    """RFC 7208 §2.6 results, spelled as RFC 8601 §2.7.2 writes them."""

    NONE = "none"
    NEUTRAL = "neutral"
    PASS = "pass"
    FAIL = "fail"
    SOFTFAIL = "softfail"
    TEMPERROR = "temperror"
    PERMERROR = "permerror"


@dataclass(frozen=True, slots=True)
class SpfResult:
    status: SpfStatus
    domain: str  # the domain whose policy was checked ("" when there was none to check)
    identity: str  # "mailfrom" or "helo" (RFC 8601 §2.7.2 ptype smtp.<identity>)
    sender: str  # the checked <sender>: the MAIL FROM address, or postmaster@<helo>
    detail: str = ""  # the matched term or the error, for logs and A-R comments


class _PermError(Exception):
    pass


class _TempError(Exception):
    pass


_QUALIFIERS = {
    "+": SpfStatus.PASS,
    "-": SpfStatus.FAIL,
    "~": SpfStatus.SOFTFAIL,
    "?": SpfStatus.NEUTRAL,
}
_MECHANISMS = frozenset({"all", "include", "a", "mx", "ptr", "ip4", "ip6", "exists"})
# RFC 7208 §12: name = ALPHA *( ALPHA / DIGIT / "-" / "_" / "." ), then "=".
_MODIFIER_RE = re.compile(r"([A-Za-z][A-Za-z0-9._-]*)=(.*)\Z", re.S)
# RFC 7208 §12: mechanism [":" domain-spec / network] [cidr]; the name is case-insensitive.
_MECHANISM_RE = re.compile(r"([A-Za-z0-9]+)(?::(.*?))?((?:/\d*)?(?://\d*)?)\Z", re.S)
# macro-expand = ( "%{" macro-letter transformers *delimiter "}" ) / "%%" / "%_" / "%-"
_MACRO_RE = re.compile(r"%(?:\{([a-zA-Z])(\d*)(r?)([.\-+,/_=]*)\}|([%_-]))")
# RFC 7208 §12 toplabel, after the last literal dot of a domain-spec.
_TOPLABEL_RE = re.compile(r"\.(?:[a-z0-9]*[a-z][a-z0-9]*|[a-z0-9]+-[a-z0-9-]*[a-z0-9])\.?\Z", re.I)
# RFC 7208 §4.3: a multi-label name with no empty or over-long label.
_LABELS_RE = re.compile(r"(?=.{1,253}\Z)[^.\s\[\]]{1,63}(?:\.[^.\s\[\]]{1,63})+\Z")
_EXP_ONLY_LETTERS = frozenset("crt")  # RFC 7208 §7.1: only in exp= text
_V4_CIDR_RE = re.compile(r"/(0|[1-9]\d?)\Z")
_V6_CIDR_RE = re.compile(r"/(0|[1-9]\d{0,2})\Z")


@dataclass(frozen=True, slots=True)
class _Term:
    qualifier: SpfStatus
    name: str  # mechanism name, lower-case
    domain_spec: str | None  # unexpanded
    network: IPAddress | None  # ip4/ip6 address part
    cidr4: int
    cidr6: int
    text: str  # as written, for details


@dataclass(frozen=True, slots=True)
class _Record:
    terms: tuple[_Term, ...]
    redirect: str | None


@dataclass(slots=True)
class _Budget:
    lookups: int = 0
    voids: int = 0

    def lookup(self, what: str) -> None:
        self.lookups += 1
        if self.lookups > MAX_LOOKUPS:  # RFC 7208 §4.6.4
            raise _PermError(f"more than {MAX_LOOKUPS} DNS lookups (at {what})")

    def void(self, what: str) -> None:
        self.voids += 1
        if self.voids > MAX_VOID_LOOKUPS:  # RFC 7208 §4.6.4
            raise _PermError(f"more than {MAX_VOID_LOOKUPS} void lookups (at {what})")


@dataclass(slots=True)
class _Context:
    ip: IPAddress
    sender: str
    helo: str
    resolver: Resolver
    budget: _Budget = field(default_factory=_Budget)


# --- parsing ------------------------------------------------------------------------------


def _check_macro_string(text: str, exp: bool = False) -> None:
    """RFC 7208 §7.1 macro-string syntax; raises _PermError."""
    pos = 0
    while pos < len(text):
        ch = text[pos]
        if ch == "%":
            m = _MACRO_RE.match(text, pos)
            if not m:
                raise _PermError(f"bad macro in {text!r}")
            letter, digits = m.group(1), m.group(2)
            if letter and (letter.lower() not in "slodiphcrtv"):
                raise _PermError(f"unknown macro letter {letter!r}")
            if letter and not exp and letter.lower() in _EXP_ONLY_LETTERS:
                raise _PermError(f"macro %{{{letter}}} is only allowed in exp=")
            if digits and int(digits) == 0:  # RFC 7208 §7.3: zero is not allowed
                raise _PermError(f"zero transformer in {text!r}")
            pos = m.end()
        elif "\x21" <= ch <= "\x7e":  # macro-literal
            pos += 1
        else:
            raise _PermError(f"bad character in {text!r}")


def _check_domain_spec(spec: str) -> None:
    """domain-spec = macro-string domain-end (RFC 7208 §7.1)."""
    _check_macro_string(spec)
    if spec.endswith("}") and _MACRO_RE.search(spec):
        # RFC 7208 §12: domain-end may be a macro-expand.
        last = list(_MACRO_RE.finditer(spec))[-1]
        if last.end() == len(spec) and last.group(1):
            return
    if not _TOPLABEL_RE.search(spec):
        raise _PermError(f"not a domain-spec: {spec!r}")


def _cidr(text: str, name: str) -> tuple[int, int]:
    """dual-cidr-length = [ ip4-cidr-length ] [ "/" ip6-cidr-length ] (RFC 7208 §5.6)."""
    v4, v6 = 32, 128
    if not text:
        return v4, v6
    four, sep, six = text.partition("//")
    if four:
        m = _V4_CIDR_RE.match(four)
        if not m or int(m.group(1)) > 32:
            raise _PermError(f"bad IPv4 prefix length in {name}{text}")
        v4 = int(m.group(1))
    if sep:
        m = _V6_CIDR_RE.match("/" + six)
        if not m or int(m.group(1)) > 128:
            raise _PermError(f"bad IPv6 prefix length in {name}{text}")
        v6 = int(m.group(1))
    return v4, v6


def _parse_mechanism(term: str) -> _Term:
    qualifier = _QUALIFIERS.get(term[0])
    body = term[1:] if qualifier else term
    m = _MECHANISM_RE.match(body)
    if not m or m.group(1).lower() not in _MECHANISMS:
        raise _PermError(f"unknown term {term!r}")  # RFC 7208 §5
    name, arg, cidr_text = m.group(1).lower(), m.group(2), m.group(3)
    if arg is not None and arg == "":
        raise _PermError(f"empty argument in {term!r}")
    network: IPAddress | None = None
    cidr4, cidr6 = 32, 128
    if name in ("ip4", "ip6"):
        # RFC 7208 §5.6: ip4:<ip4-network>[/<prefix>], ip6:<ip6-network>[/<prefix>]
        if arg is None or "//" in cidr_text:
            raise _PermError(f"bad {name} term {term!r}")
        try:
            network = (ipaddress.IPv4Address if name == "ip4" else ipaddress.IPv6Address)(arg)
        except ValueError as e:
            raise _PermError(f"bad address in {term!r}") from e
        if cidr_text:
            pattern = _V4_CIDR_RE if name == "ip4" else _V6_CIDR_RE
            cm = pattern.match(cidr_text)
            if not cm or int(cm.group(1)) > network.max_prefixlen:
                raise _PermError(f"bad prefix length in {term!r}")
            cidr4 = cidr6 = int(cm.group(1))
    else:
        if cidr_text and name not in ("a", "mx"):  # RFC 7208 §5.3/§5.4: only a and mx
            raise _PermError(f"prefix length not allowed in {term!r}")
        if name == "all" and arg is not None:
            raise _PermError(f"all takes no argument: {term!r}")
        if name in ("include", "exists") and arg is None:
            raise _PermError(f"{name} needs a domain: {term!r}")  # RFC 7208 §5.2, §5.7
        if arg is not None:
            _check_domain_spec(arg)
        cidr4, cidr6 = _cidr(cidr_text, name)
    return _Term(qualifier or SpfStatus.PASS, name, arg, network, cidr4, cidr6, term)


@functools.lru_cache(maxsize=1024)
def parse_record(record: str) -> _Record:
    """Parse one "v=spf1 ..." record; raises _PermError (RFC 7208 §4.6, §12).

    Kept per record text: a busy sender's record is checked for every message it sends, and
    the parsed form is immutable."""
    terms: list[_Term] = []
    redirect: str | None = None
    exp_seen = False
    for word in record.split(" ")[1:]:
        if not word:
            continue  # terms = *( 1*SP ( directive / modifier ) ), trailing *SP
        modifier = _MODIFIER_RE.match(word)
        if modifier:
            name, value = modifier.group(1).lower(), modifier.group(2)
            if name == "redirect":
                if redirect is not None:  # RFC 7208 §6: at most once
                    raise _PermError("more than one redirect=")
                _check_domain_spec(value)
                redirect = value
            elif name == "exp":
                if exp_seen:
                    raise _PermError("more than one exp=")
                _check_domain_spec(value)
                exp_seen = True
            else:
                _check_macro_string(value, exp=True)  # RFC 7208 §6: unknown ones are ignored
            continue
        terms.append(_parse_mechanism(word))
    return _Record(tuple(terms), redirect)


# --- macros (RFC 7208 §7) -----------------------------------------------------------------


def _reverse_ip(ip: IPAddress) -> str:
    if ip.version == 4:
        return str(ip)
    return ".".join(ip.exploded.replace(":", ""))  # RFC 7208 §7.3: dot-separated nibbles


def _expand(spec: str, domain: str, ctx: _Context) -> str:
    local, _, sender_domain = ctx.sender.rpartition("@")
    values = {
        "s": ctx.sender,
        "l": local or "postmaster",
        "o": sender_domain,
        "d": domain,
        "i": _reverse_ip(ctx.ip),
        "p": "unknown",
        "v": "in-addr" if ctx.ip.version == 4 else "ip6",
        "h": ctx.helo,
    }

    def one(m: re.Match[str]) -> str:
        if m.group(5):
            return {"%": "%", "_": " ", "-": "%20"}[m.group(5)]
        letter, digits, reverse, delims = m.groups()[:4]
        value = values[letter.lower()]
        parts = re.split("[" + re.escape(delims or ".") + "]", value)
        if reverse:
            parts.reverse()
        if digits:
            parts = parts[-int(digits) :]
        out = ".".join(parts)
        if letter.isupper():  # RFC 7208 §7.3: upper-case letters are URL-escaped
            out = urllib.parse.quote(out, safe="")
        return out

    expanded = _MACRO_RE.sub(one, spec)
    # RFC 7208 §7.3: over 253 characters, drop labels from the left until it fits.
    while len(expanded) > 253 and "." in expanded:
        expanded = expanded.split(".", 1)[1]
    return expanded.rstrip(".")


# --- evaluation (RFC 7208 §4.6, §5) -------------------------------------------------------


async def _addresses(ctx: _Context, name: str) -> list[IPAddress]:
    try:
        found = await (ctx.resolver.a(name) if ctx.ip.version == 4 else ctx.resolver.aaaa(name))
    except TempDnsError as e:
        raise _TempError(str(e)) from e
    out: list[IPAddress] = []
    for text in found:
        try:
            out.append(ipaddress.ip_address(text))
        except ValueError:
            continue
    return out


def _in_network(ip: IPAddress, address: IPAddress, term: _Term) -> bool:
    if ip.version != address.version:
        return False
    prefix = term.cidr4 if ip.version == 4 else term.cidr6
    return ip in ipaddress.ip_network(f"{address}/{prefix}", strict=False)


async def _matches(term: _Term, domain: str, ctx: _Context) -> bool:
    target = _expand(term.domain_spec, domain, ctx) if term.domain_spec else domain
    budget = ctx.budget
    if term.name == "all":  # RFC 7208 §5.1
        return True
    if term.name in ("ip4", "ip6"):  # RFC 7208 §5.6
        assert term.network is not None
        return _in_network(ctx.ip, term.network, term)
    budget.lookup(term.text)
    if term.name == "include":  # RFC 7208 §5.2
        inner = await _check(ctx, target)
        if inner.status == SpfStatus.PASS:
            return True
        if inner.status in (SpfStatus.FAIL, SpfStatus.SOFTFAIL, SpfStatus.NEUTRAL):
            return False
        if inner.status == SpfStatus.TEMPERROR:
            raise _TempError(f"include:{target}: {inner.detail}")
        raise _PermError(f"include:{target}: {inner.status} ({inner.detail})")
    if term.name == "a":  # RFC 7208 §5.3
        addresses = await _addresses(ctx, target)
        if not addresses:
            budget.void(term.text)
        return any(_in_network(ctx.ip, a, term) for a in addresses)
    if term.name == "mx":  # RFC 7208 §5.4
        try:
            exchanges = await ctx.resolver.mx(target)
        except TempDnsError as e:
            raise _TempError(str(e)) from e
        if not exchanges:
            budget.void(term.text)
        if len(exchanges) > MAX_ADDRESS_LOOKUPS:  # RFC 7208 §4.6.4
            raise _PermError(f"more than {MAX_ADDRESS_LOOKUPS} MX records at {target}")
        for _, host in sorted(exchanges):
            if host in ("", "."):  # RFC 7505 null MX
                continue
            if any(_in_network(ctx.ip, a, term) for a in await _addresses(ctx, host)):
                return True
        return False
    if term.name == "ptr":  # RFC 7208 §5.5
        try:
            names = await ctx.resolver.ptr(str(ctx.ip))
        except TempDnsError:
            return False  # RFC 7208 §5.5: a PTR lookup error means no match
        if not names:
            budget.void(term.text)
        for name in names[:MAX_ADDRESS_LOOKUPS]:  # RFC 7208 §4.6.4: ignore the rest
            if not (name == target or name.endswith("." + target)):
                continue
            try:
                if ctx.ip in await _addresses(ctx, name):
                    return True
            except _TempError:
                continue  # RFC 7208 §5.5: skip names that fail to resolve
        return False
    if term.name == "exists":  # RFC 7208 §5.7: always an A query, whatever the IP version
        try:
            found = await ctx.resolver.a(target)
        except TempDnsError as e:
            raise _TempError(str(e)) from e
        if not found:
            budget.void(term.text)
        return bool(found)
    raise AssertionError(term.name)  # parse_record admits no other mechanism


async def _check(ctx: _Context, domain: str) -> SpfResult:
    """check_host(<ip>, <domain>, <sender>) of RFC 7208 §4, errors as results."""

    def result(status: SpfStatus, detail: str = "") -> SpfResult:
        return SpfResult(status, domain, "", ctx.sender, detail)

    domain = domain.lower().rstrip(".")
    if not _LABELS_RE.match(domain):  # RFC 7208 §4.3
        return result(SpfStatus.NONE, "not a domain name")
    try:
        texts = await ctx.resolver.txt(domain)
    except TempDnsError as e:  # RFC 7208 §4.4
        return result(SpfStatus.TEMPERROR, str(e))
    # RFC 7208 §4.5: exactly "v=spf1" followed by a space or the end, any case.
    records = [t for t in texts if t[:6].lower() == "v=spf1" and t[6:7] in ("", " ")]
    if not records:
        return result(SpfStatus.NONE, "no SPF record")
    if len(records) > 1:
        return result(SpfStatus.PERMERROR, "more than one SPF record")
    try:
        record = parse_record(records[0])
        for term in record.terms:  # RFC 7208 §4.6.2: left to right, first match wins
            if await _matches(term, domain, ctx):
                return result(term.qualifier, term.text)
        if record.redirect is not None:  # RFC 7208 §6.1: only when nothing matched
            ctx.budget.lookup("redirect=" + record.redirect)
            target = _expand(record.redirect, domain, ctx)
            inner = await _check(ctx, target)
            if inner.status == SpfStatus.NONE:  # RFC 7208 §6.1
                return result(SpfStatus.PERMERROR, f"redirect={target}: no SPF record")
            return inner
    except _PermError as e:
        return result(SpfStatus.PERMERROR, str(e))
    except _TempError as e:
        return result(SpfStatus.TEMPERROR, str(e))
    return result(SpfStatus.NEUTRAL, "no term matched")  # RFC 7208 §4.7


def _client_ip(ip: str) -> IPAddress:
    address = ipaddress.ip_address(ip.strip("[]"))
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped:
        return address.ipv4_mapped  # RFC 7208 §5: an IPv4-mapped address is IPv4
    return address


async def check_host(ip: str, domain: str, sender: str, helo: str, resolver: Resolver) -> SpfResult:
    """RFC 7208 §4 check_host(); ``sender`` is a full address (local@domain)."""
    ctx = _Context(_client_ip(ip), sender, helo, resolver)
    return await _check(ctx, domain)


async def check_spf(
    client_ip: str,
    mail_from: str,
    helo: str,
    resolver: Resolver,
    timeout: float = DEFAULT_TIMEOUT,
) -> SpfResult:
    """The SPF verdict at MAIL FROM: the MAIL FROM identity, or HELO for a null sender.

    ``mail_from`` is the reverse-path without angle brackets ("" for <>).
    """
    helo = helo.strip().lower().rstrip(".")
    if mail_from:
        # RFC 7208 §4.3: a sender without a local-part is "postmaster@domain".
        local, at, domain = mail_from.rpartition("@")
        identity, sender = "mailfrom", f"{local or 'postmaster'}@{domain}" if at else mail_from
        domain = domain if at else ""
    else:
        # RFC 7208 §2.4: a null reverse-path is checked as postmaster@<HELO>.
        identity, sender, domain = "helo", f"postmaster@{helo}", helo
    domain = domain.lower().rstrip(".")
    try:
        _client_ip(client_ip)
    except ValueError:  # not over IP (a test socket, a local pipe): nothing to check
        return SpfResult(SpfStatus.NONE, domain, identity, sender, "no client IP address")
    try:
        async with asyncio.timeout(timeout):  # RFC 7208 §4.6.4: bound the whole check
            found = await check_host(client_ip, domain, sender, helo, resolver)
    except TimeoutError:
        found = SpfResult(SpfStatus.TEMPERROR, domain, identity, sender, "timed out")
    return SpfResult(found.status, domain, identity, sender, found.detail)
