"""DMARC (RFC 7489): does the From domain's policy accept what SPF and DKIM proved?

``evaluate`` takes the From domain, the SPF and DKIM results already computed and a
Resolver for the policy lookup; it returns the DMARC result and the policy to apply.

Invariants:
- Pure apart from the policy lookup through the Resolver; the pct= sampling roll is passed
  in (``roll`` in 0..99), so the same inputs always give the same answer.
- Failures in our own DNS never turn into "reject": a policy lookup that fails for now is
  a temperror, which the caller applies as no policy (RFC 7489 §6.6.3 allows either).
"""

from __future__ import annotations

import enum
import re
from collections.abc import Sequence
from dataclasses import dataclass

from postbus.smtp.dkim import DkimResult
from postbus.smtp.resolver import Resolver, TempDnsError
from postbus.smtp.spf import SpfResult, SpfStatus

__all__ = [
    "DmarcRecord",
    "DmarcResult",
    "DmarcStatus",
    "evaluate",
    "lookup_policy",
    "organizational_domain",
    "parse_record",
]


class DmarcStatus(enum.StrEnum):
    """RFC 7489 §11.2 result values for Authentication-Results."""

    NONE = "none"
    PASS = "pass"
    FAIL = "fail"
    TEMPERROR = "temperror"
    PERMERROR = "permerror"


# Public suffixes of two labels or more under which organisations register names. A small
# stand-in for the Public Suffix List (RFC 7489 §3.2 leaves the list to the receiver): the
# common country-code second levels; everything else takes the last two labels.
TWO_LABEL_SUFFIXES = frozenset(
    f"{second}.{cc}"
    for cc, seconds in {
        "uk": "co ac gov ltd me net nhs org plc police sch",
        "jp": "ac co ed go gr lg ne or",
        "au": "asn com edu gov id net org",
        "nz": "ac co geek gen govt iwi maori net org school",
        "za": "ac co edu gov law mil net nom org",
        "br": "com edu gov net org",
        "in": "ac co edu firm gen gov ind net org res",
        "il": "ac co gov muni net org",
        "kr": "ac co go ne or re",
        "cn": "ac com edu gov net org",
        "tw": "com edu gov net org",
        "hk": "com edu gov net org",
        "sg": "com edu gov net org",
        "mx": "com edu gob net org",
        "ar": "com edu gob net org",
        "tr": "com edu gov net org",
        "id": "ac co go net or sch",
        "th": "ac co go in net or",
        "my": "com edu gov net org",
        "ua": "com edu gov net org",
    }.items()
    for second in seconds.split()
)


def organizational_domain(domain: str) -> str:
    """RFC 7489 §3.2, with TWO_LABEL_SUFFIXES for the public suffix list."""
    labels = domain.lower().rstrip(".").split(".")
    keep = 3 if ".".join(labels[-2:]) in TWO_LABEL_SUFFIXES else 2
    return ".".join(labels[-keep:])


@dataclass(frozen=True, slots=True)
class DmarcRecord:
    policy: str  # p=: "none" | "quarantine" | "reject"
    subdomain_policy: str  # sp=, defaulting to p= (RFC 7489 §6.3)
    adkim: str  # "r" | "s"
    aspf: str  # "r" | "s"
    pct: int  # 0..100


@dataclass(frozen=True, slots=True)
class DmarcResult:
    status: DmarcStatus
    from_domain: str  # RFC5322.From domain, lower-case ("" if there was none)
    policy: str  # the published policy that applies to from_domain (p= or sp=), or "none"
    disposition: str  # what to do after pct=: "none" | "quarantine" | "reject"
    detail: str = ""


_POLICIES = ("none", "quarantine", "reject")
_TAG_RE = re.compile(r"\s*([A-Za-z][A-Za-z0-9_]*)\s*=\s*(.*?)\s*\Z", re.S)


def parse_record(text: str) -> DmarcRecord | None:
    """RFC 7489 §6.3/§6.4 tag list; None when it is not a usable DMARC record."""
    tags: dict[str, str] = {}
    parts = text.split(";")
    for part in parts:
        if not part.strip():
            continue
        m = _TAG_RE.match(part)
        if not m:
            return None
        tags.setdefault(m.group(1).lower(), m.group(2))
    # RFC 7489 §6.4: v=DMARC1 first, exactly (the record was selected on that).
    if parts[0].strip().replace(" ", "") != "v=DMARC1":
        return None
    policy = tags.get("p", "").lower()
    if policy not in _POLICIES:
        # RFC 7489 §6.6.3: a missing or bad p= with a valid rua= is read as p=none;
        # without rua= the record is ignored.
        if "rua" not in tags:
            return None
        policy = "none"
    sp = tags.get("sp", "").lower()
    adkim = tags.get("adkim", "r").lower()
    aspf = tags.get("aspf", "r").lower()
    pct_text = tags.get("pct", "100")
    pct = int(pct_text) if pct_text.isdigit() else 100
    return DmarcRecord(
        policy=policy,
        subdomain_policy=sp if sp in _POLICIES else policy,
        adkim=adkim if adkim in ("r", "s") else "r",
        aspf=aspf if aspf in ("r", "s") else "r",
        pct=min(pct, 100),
    )


async def _record_at(resolver: Resolver, domain: str) -> DmarcRecord | None:
    texts = await resolver.txt(f"_dmarc.{domain}")
    # RFC 7489 §6.6.3: records not starting with "v=DMARC1" are dropped; if more than one
    # remains, none is used.
    found = [t for t in texts if re.match(r"v\s*=\s*DMARC1\s*(;|\Z)", t)]
    return parse_record(found[0]) if len(found) == 1 else None


async def lookup_policy(from_domain: str, resolver: Resolver) -> tuple[DmarcRecord | None, bool]:
    """RFC 7489 §6.6.3 policy discovery: (record, found_at_organizational_domain).

    Raises TempDnsError when a lookup fails for now.
    """
    record = await _record_at(resolver, from_domain)
    if record is not None:
        return record, False
    org = organizational_domain(from_domain)
    if org != from_domain:
        record = await _record_at(resolver, org)
        if record is not None:
            return record, True
    return None, False


def _aligned(domain: str, from_domain: str, mode: str) -> bool:
    """RFC 7489 §3.1.1/§3.1.2: strict is equality, relaxed equal organizational domains."""
    domain = domain.lower().rstrip(".")
    if mode == "s":
        return domain == from_domain
    return organizational_domain(domain) == organizational_domain(from_domain)


def _downgrade(policy: str) -> str:
    """RFC 7489 §6.6.4: outside the pct= sample, apply the next policy down."""
    return {"reject": "quarantine", "quarantine": "none"}.get(policy, "none")


async def evaluate(
    from_domain: str,
    spf: SpfResult | None,
    dkim: Sequence[DkimResult],
    resolver: Resolver,
    roll: int = 0,
) -> DmarcResult:
    """The DMARC verdict for a message whose RFC5322.From domain is ``from_domain``.

    ``roll`` is a number in 0..99 drawn by the caller for pct= sampling (RFC 7489 §6.6.4):
    the policy applies when roll < pct.
    """
    from_domain = from_domain.lower().rstrip(".")
    if not from_domain:
        return DmarcResult(DmarcStatus.NONE, "", "none", "none", "no From domain")
    try:
        record, inherited = await lookup_policy(from_domain, resolver)
    except TempDnsError as e:
        return DmarcResult(DmarcStatus.TEMPERROR, from_domain, "none", "none", str(e))
    if record is None:
        return DmarcResult(DmarcStatus.NONE, from_domain, "none", "none", "no DMARC record")
    # RFC 7489 §6.3: sp= applies to subdomains found through the organizational domain.
    policy = record.subdomain_policy if inherited else record.policy

    dkim_ok = [
        r.domain
        for r in dkim
        if r.status == "pass" and _aligned(r.domain, from_domain, record.adkim)
    ]
    spf_ok = (
        spf is not None
        and spf.status == SpfStatus.PASS
        and _aligned(spf.domain, from_domain, record.aspf)
    )
    if dkim_ok or spf_ok:  # RFC 7489 §4.2: either aligned identifier passes
        how = f"DKIM d={dkim_ok[0]}" if dkim_ok else f"SPF {spf.domain if spf else ''}"
        return DmarcResult(DmarcStatus.PASS, from_domain, policy, "none", f"aligned {how}")

    # RFC 7489 §6.6.2: a failure of ours to check is no proof of forgery.
    if (spf is not None and spf.status == SpfStatus.TEMPERROR) or any(
        r.status == "temperror" and _aligned(r.domain, from_domain, record.adkim) for r in dkim
    ):
        return DmarcResult(
            DmarcStatus.TEMPERROR, from_domain, policy, "none", "SPF or DKIM temporary error"
        )
    disposition = policy if roll < record.pct else _downgrade(policy)
    return DmarcResult(
        DmarcStatus.FAIL, from_domain, policy, disposition, "no aligned SPF or DKIM pass"
    )
