"""ARC (RFC 8617): verify the chain of custody that forwarders and lists add, and seal ours.

dkimpy does the cryptography. As in postbus.smtp.dkim, every key is looked up first through
the Resolver passed in, and dkimpy gets a dnsfunc that answers from those results.

Invariants:
- ``verify_arc`` never raises: a chain that cannot be read is "fail" (RFC 8617 §5.2).
- At most MAX_KEYS distinct keys are looked up per message, whatever the chain claims.
- The CPU work runs in a worker thread (the body is hashed once per ARC-Message-Signature).
"""

from __future__ import annotations

import asyncio
import logging
import re
from dataclasses import dataclass
from pathlib import Path

import dkim as dkimpy

from postbus.smtp.dkim import ensure_domain_keys, header_mentions
from postbus.smtp.resolver import Resolver, TempDnsError

__all__ = ["ArcResult", "seal", "verify_arc"]

log = logging.getLogger(__name__)

MAX_INSTANCES = 50  # RFC 8617 §4.2.1: i= is 1..50
MAX_KEYS = 10  # distinct (selector, domain) pairs we are willing to look up for one message
_ARC_SIGNERS = (b"arc-seal", b"arc-message-signature")


@dataclass(frozen=True, slots=True)
class ArcResult:
    status: str  # "none" | "pass" | "fail" (RFC 8617 §10.2 "arc" method results)
    instances: int  # the highest i= seen, 0 without a chain
    detail: str = ""


def _key_names(arc: dkimpy.ARC) -> tuple[int, set[str]]:
    highest, headers = arc.sorted_arc_headers()
    names = set()
    for _, (name, value) in headers:
        if name.lower() not in _ARC_SIGNERS:
            continue
        try:
            tags = dkimpy.util.parse_tag_value(value)
        except dkimpy.util.InvalidTagValueList:
            continue  # dkimpy reports the malformed set when it verifies
        s, d = tags.get(b"s", b""), tags.get(b"d", b"")
        if re.fullmatch(rb"[A-Za-z0-9_.-]{1,253}", s + b"." + d):
            names.add(f"{s.decode()}._domainkey.{d.decode()}".lower())
    return highest, names


async def verify_arc(message: bytes, resolver: Resolver) -> ArcResult:
    """The RFC 8617 §5.2 validation of the message's ARC chain."""
    if not header_mentions(message, b"arc-"):
        return ArcResult("none", 0)  # RFC 8617 §5.2: no ARC Sets, cv=none
    try:
        arc = dkimpy.ARC(message)
        highest, names = _key_names(arc)
    except Exception as e:  # anything dkimpy trips over in hostile input
        return ArcResult("fail", 0, f"unreadable ARC header fields: {e}")
    if highest == 0:
        return ArcResult("none", 0)
    if highest > MAX_INSTANCES:  # RFC 8617 §4.2.1
        return ArcResult("fail", highest, f"i={highest} is over {MAX_INSTANCES}")
    if len(names) > MAX_KEYS:
        return ArcResult("fail", highest, f"{len(names)} keys is over {MAX_KEYS}")

    records: dict[str, str | None] = {}

    async def fetch(name: str) -> None:
        found = await resolver.txt(name)
        records[name] = found[0] if found else None

    try:
        await asyncio.gather(*(fetch(n) for n in sorted(names)))
    except TempDnsError as e:
        # RFC 8617 has no temperror for "arc"; the chain cannot be shown to hold.
        return ArcResult("fail", highest, f"key lookup failed for now: {e}")

    def dnsfunc(name: bytes, timeout: int = 5) -> str | None:  # dkimpy's interface
        return records.get(name.decode("ascii", "replace").rstrip(".").lower())

    def run() -> tuple[object, str]:
        try:
            cv, _, reason = dkimpy.ARC(message).verify(dnsfunc=dnsfunc)
        except Exception as e:  # dkimpy raises more than DKIMException on odd input
            return dkimpy.CV_Fail, f"{type(e).__name__}: {e}"
        return cv, str(reason)

    cv, reason = await asyncio.to_thread(run)
    if cv == dkimpy.CV_Pass:
        return ArcResult("pass", highest)
    return ArcResult("fail", highest, reason)


def seal(
    message: bytes,
    domain: str,
    key_dir: Path,
    authserv_id: str,
    selector_base: str = "postbus",
    now: int | None = None,
) -> bytes:
    """The message with our ARC set (AAR, AMS, AS; RFC 8617 §4.1) prepended.

    The message must already carry our Authentication-Results field (authserv-id
    ``authserv_id``): the ARC-Authentication-Results copies it, and cv= follows its arc=.
    RSA only: dkimpy seals with rsa-sha256. ``now`` sets t= (default: the clock).
    Raises dkim.DKIMException when the message has no such field or cannot be parsed.
    """
    keys = ensure_domain_keys(key_dir, domain, selector_base)
    fields = dkimpy.arc_sign(
        message,
        keys.rsa_selector.encode(),
        keys.domain.encode(),
        keys.rsa_key_file.read_bytes(),
        authserv_id.encode(),
        timestamp=now,
    )
    if not fields:
        raise dkimpy.ParameterError("the message's ARC chain has failed; nothing to seal")
    return b"".join(fields) + message
