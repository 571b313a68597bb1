"""Inbound sender authentication (SPF, DKIM, ARC, DMARC) and its Authentication-Results field.

``check_inbound`` is the one entry point for the MX: it runs the checks at the end of DATA
(taking an SPF result already computed at MAIL FROM, if any) and returns the verdict: the
RFC 8601 field to prepend and what to do with the message. ``stamp`` prepends the field and
removes forged ones (RFC 8601 §5). ``format_header`` is the pure text part:

    Authentication-Results: mx.example.org;
     spf=pass smtp.mailfrom=ann@example.com;
     dkim=pass header.d=example.com header.s=sel header.a=rsa-sha256 header.b=AbCdEfGh;
     dmarc=pass (p=reject dis=none) header.from=example.com;
     arc=none

Invariants:
- DNS only through the Resolver passed in; randomness (DMARC pct= sampling) passed in too.
- Only a published DMARC policy leads to "reject" or "junk"; SPF or DKIM failing alone does
  not (RFC 7489 §6.6.2: without DMARC, a receiver cannot know the sender wants that), and
  neither does a DNS failure on our side (dmarc=temperror is accepted).
- Never raises for anything in the message: hostile input gives results, not exceptions.
- Every value that came from the outside (addresses, domains, selectors, reasons) passes
  through ``_pvalue``/``_quoted``/``_comment``: control characters (CR and LF above all) are
  dropped and anything that is not a plain token is quoted, so no input can end the field
  early or add one of its own.
"""

from __future__ import annotations

import asyncio
import random
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Literal

from postbus.mime.addresses import parse_address_list, to_addresses
from postbus.mime.headers import get_header, header_block
from postbus.smtp import dkim, dmarc
from postbus.smtp.arc import ArcResult, verify_arc
from postbus.smtp.dkim import DkimResult
from postbus.smtp.dmarc import DmarcResult, DmarcStatus
from postbus.smtp.resolver import Resolver
from postbus.smtp.spf import SpfResult, check_spf

__all__ = [
    "HEADER_NAME",
    "InboundVerdict",
    "check_inbound",
    "format_header",
    "from_domains",
    "remove_forged",
    "stamp",
]

HEADER_NAME = "Authentication-Results"
_CRLF = "\r\n"
_CONTROL_RE = re.compile(r"[\x00-\x1f\x7f]")
# RFC 2045 §5.1: token := 1*<any (US-ASCII) CHAR except SPACE, CTLs, or tspecials>
_TOKEN_RE = re.compile(r"[!#$%&'*+\-.0-9A-Z^_`a-z{|}~]+\Z")
# RFC 5322 §3.2.3 dot-atom (with RFC 6532 UTF-8), then "@" domain-name: RFC 8601 §2.2 pvalue.
_ATEXT = r"[A-Za-z0-9!#$%&'*+\-/=?^_`{|}~\u0080-\U0010ffff]"
_DOMAIN = (
    r"[A-Za-z0-9\u0080-\U0010ffff](?:[A-Za-z0-9_\-\u0080-\U0010ffff]*[A-Za-z0-9\u0080-\U0010ffff])?"
)
_ADDRESS_RE = re.compile(rf"(?:{_ATEXT}+(?:\.{_ATEXT}+)*)?@{_DOMAIN}(?:\.{_DOMAIN})*\Z")
_DOMAIN_RE = re.compile(rf"{_DOMAIN}(?:\.{_DOMAIN})*\Z")
_MAX_DETAIL = 100  # reasons are for people reading headers; keep them short


def _clean(text: str) -> str:
    return _CONTROL_RE.sub("", text)


def _quoted(text: str) -> str:
    """RFC 5322 §3.2.4 quoted-string."""
    text = _clean(text).replace("\\", "\\\\").replace('"', '\\"')
    return f'"{text}"'


def _pvalue(text: str) -> str:
    """RFC 8601 §2.2 pvalue: a token, an address or a domain-name as is, else quoted."""
    text = _clean(text)
    if _TOKEN_RE.match(text) or _ADDRESS_RE.match(text) or _DOMAIN_RE.match(text):
        return text
    return _quoted(text)


def _value(text: str) -> str:
    """RFC 2045 value (token / quoted-string): authserv-id, result, reason."""
    text = _clean(text)
    return text if _TOKEN_RE.match(text) else _quoted(text)


def _comment(text: str) -> str:
    """RFC 5322 §3.2.2 comment; parentheses and backslashes are escaped."""
    text = _clean(text)[:_MAX_DETAIL]
    return "(" + re.sub(r"([()\\])", r"\\\1", text) + ")"


def _reason(detail: str) -> str:
    return f" reason={_quoted(detail[:_MAX_DETAIL])}" if detail else ""


def _spf(result: SpfResult) -> str:
    # RFC 8601 §2.7.2: smtp.mailfrom or smtp.helo, the identity SPF checked.
    if result.identity == "helo":
        prop = f"smtp.helo={_pvalue(result.domain or '')}"
    else:
        prop = f"smtp.mailfrom={_pvalue(result.sender)}"
    reason = _reason(result.detail) if result.status != "pass" else ""
    return f"spf={result.status}{reason} {prop}"


def _dkim(result: DkimResult) -> str:
    # RFC 8601 §2.7.1: header.d, header.i, header.s, header.a; RFC 6008: header.b.
    props = [
        f"header.d={_pvalue(result.domain)}" if result.domain else "",
        f"header.i={_pvalue(result.identity)}" if result.identity else "",
        f"header.s={_pvalue(result.selector)}" if result.selector else "",
        f"header.a={_pvalue(result.algorithm)}" if result.algorithm else "",
        f"header.b={_pvalue(result.b)}" if result.b else "",
    ]
    reason = _reason(result.detail) if result.status != "pass" else ""
    return f"dkim={result.status}{reason} " + " ".join(p for p in props if p)


def _dmarc(result: DmarcResult) -> str:
    # RFC 7489 §11.2: method dmarc, ptype header, property from.
    policy = _comment(f"p={result.policy} dis={result.disposition}")
    domain = f" header.from={_pvalue(result.from_domain)}" if result.from_domain else ""
    return f"dmarc={result.status} {policy}{domain}"


def _arc(result: ArcResult) -> str:
    # RFC 8617 §10.2: method arc; the chain's length as a comment.
    note = f" {_comment(f'i={result.instances}')}" if result.instances else ""
    reason = _reason(result.detail) if result.status == "fail" else ""
    return f"arc={result.status}{reason}{note}"


def format_header(
    authserv_id: str,
    spf: SpfResult | None = None,
    dkim: Sequence[DkimResult] | None = None,
    dmarc: DmarcResult | None = None,
    arc: ArcResult | None = None,
) -> str:
    """The whole field, folded one result per line, CRLF-terminated (RFC 8601 §2.2).

    ``dkim`` None leaves DKIM out; an empty list writes dkim=none (no signature).
    """
    resinfo: list[str] = []
    if spf is not None:
        resinfo.append(_spf(spf))
    if dkim is not None:
        resinfo.extend([_dkim(r) for r in dkim] or ["dkim=none"])
    if dmarc is not None:
        resinfo.append(_dmarc(dmarc))
    if arc is not None:
        resinfo.append(_arc(arc))
    if not resinfo:  # RFC 8601 §2.2 no-result
        return f"{HEADER_NAME}: {_value(authserv_id)}; none{_CRLF}"
    body = f";{_CRLF} ".join([_value(authserv_id), *resinfo])
    return f"{HEADER_NAME}: {body}{_CRLF}"


# --- RFC 8601 §5: forged fields ------------------------------------------------------------

_FIELD_NAME_RE = re.compile(rb"authentication-results[ \t]*:", re.I)
_COMMENT_RE = re.compile(rb"\((?:[^()\\]|\\.)*\)")


def _authserv_id(value: bytes) -> bytes:
    """The first token of an A-R value, past white space and (simple) comments."""
    value = _COMMENT_RE.sub(b" ", value)
    m = re.match(rb'\s*("(?:[^"\\]|\\.)*"|[^\s;]+)', value)
    if not m:
        return b""
    token = m.group(1)
    return token[1:-1] if token.startswith(b'"') else token


def remove_forged(message: bytes, authserv_id: str) -> bytes:
    """Drop every Authentication-Results field that claims to be ours (RFC 8601 §5).

    Only the header section is touched; fields of other authserv-ids stay. Call before
    adding ours, so the reader and our own filters see only what we stated.
    """
    end = message.find(b"\r\n\r\n")
    head_end = len(message) if end < 0 else end + 2
    head, rest = message[:head_end], message[head_end:]
    fields: list[list[bytes]] = []
    for line in head.splitlines(keepends=True):
        if line[:1] in (b" ", b"\t") and fields:  # RFC 5322 §2.2.3: folded continuation
            fields[-1].append(line)
        else:
            fields.append([line])
    ours = authserv_id.lower().encode("utf-8", "replace")
    kept = []
    for field in fields:
        m = _FIELD_NAME_RE.match(field[0])
        if m:
            value = b"".join(field)[m.end() :]
            if _authserv_id(value).lower() == ours:
                continue
        kept.append(b"".join(field))
    return b"".join(kept) + rest


# --- the checks ---------------------------------------------------------------------------


Action = Literal["accept", "junk", "reject"]


@dataclass(frozen=True, slots=True)
class InboundVerdict:
    authentication_results: str  # the whole field, CRLF-terminated: prepend it as is
    action: Action
    reason: str  # for the SMTP reply text on "reject", and for logs
    spf: SpfResult
    dkim: tuple[DkimResult, ...]
    dmarc: DmarcResult
    arc: ArcResult


def from_domains(message: bytes) -> list[list[str]]:
    """For each From field of the header, the domains of its addresses (lower-case).

    Read with postbus.mime's parsers, the ones behind the IMAP envelope and the webmail: the
    domain DMARC checks is the one the reader is shown. RFC 5322 §3.6 allows exactly one
    From field; the caller decides what more means.
    """
    out = []
    for value in get_header(header_block(message), "from"):
        addresses = to_addresses(parse_address_list(value))
        out.append([a.host.lower().rstrip(".") for a in addresses if a.host])
    return out


async def _dmarc_for(
    message: bytes,
    spf: SpfResult,
    dkim_results: list[DkimResult],
    resolver: Resolver,
    roll: int,
) -> tuple[DmarcResult, Action | None, str]:
    """DMARC, after RFC 7489 §6.6.1's checks on the From field: (result, forced, reason)."""
    fields = from_domains(message)
    if len(fields) > 1:
        # RFC 5322 §3.6 / RFC 7489 §6.6.1: a second From is how one domain poses as another.
        result = DmarcResult(DmarcStatus.PERMERROR, "", "none", "reject", "more than one From")
        return result, "reject", "the message has more than one From field (RFC 5322 §3.6)"
    domains = sorted(set(fields[0])) if fields else []
    if len(domains) > 1:
        # RFC 7489 §6.6.1: which author's policy would apply is unclear.
        detail = "From addresses in more than one domain"
        result = DmarcResult(DmarcStatus.PERMERROR, domains[0], "none", "quarantine", detail)
        return result, "junk", detail
    found = await dmarc.evaluate(domains[0] if domains else "", spf, dkim_results, resolver, roll)
    return found, None, ""


async def check_inbound(
    message: bytes,
    mail_from: str,
    helo: str,
    client_ip: str,
    resolver: Resolver,
    hostname: str,
    *,
    spf: SpfResult | None = None,
    rand: Callable[[int], int] = random.randrange,
) -> InboundVerdict:
    """Authenticate one received message (CRLF line ends, as SMTP DATA gives it).

    ``mail_from`` is the reverse-path without brackets ("" for <>); ``spf`` is the result
    of check_spf at MAIL FROM, if it was already computed; ``rand(100)`` draws DMARC's pct=
    sample. ``hostname`` is our authserv-id.
    """
    if spf is None:
        spf = await check_spf(client_ip, mail_from, helo, resolver)
    dkim_results, arc = await asyncio.gather(
        dkim.verify(message, resolver), verify_arc(message, resolver)
    )
    result, forced, reason = await _dmarc_for(message, spf, dkim_results, resolver, rand(100))
    header = format_header(hostname, spf, dkim_results, result, arc)
    action: Action = "accept"
    if forced is not None:
        action = forced
    elif result.status == DmarcStatus.FAIL and result.disposition == "reject":
        # RFC 7489 §6.7 / §10.3: reject in SMTP, with a reply that says why.
        action = "reject"
        reason = f"DMARC policy of {result.from_domain} rejects mail that fails authentication"
    elif result.status == DmarcStatus.FAIL and result.disposition == "quarantine":
        action = "junk"  # RFC 7489 §6.3 p=quarantine: "treat as suspicious"
        reason = f"DMARC policy of {result.from_domain} asks to quarantine failing mail"
    elif result.status == DmarcStatus.FAIL:
        reason = f"fails DMARC for {result.from_domain}, policy {result.disposition}"
    return InboundVerdict(header, action, reason, spf, tuple(dkim_results), result, arc)


def stamp(message: bytes, verdict: InboundVerdict, hostname: str) -> bytes:
    """The message as delivered: A-R fields claiming to be ours removed (RFC 8601 §5), and
    ours prepended. Call it after check_inbound, which must see the message as received."""
    return verdict.authentication_results.encode("utf-8") + remove_forged(message, hostname)
