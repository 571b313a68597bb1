"""DKIM (RFC 6376): key pairs per domain, the DNS records that publish them, signing and
verification (dkimpy does the cryptography and canonicalisation).

Each domain gets two keys, signed with both (RFC 8463 §1 recommends the pair while Ed25519
verification is not yet universal): RSA-2048 (RFC 8301 §3.2: at least 1024, 2048 advised)
and Ed25519 (RFC 8463). Each has its own selector, because a selector names one key record:

    key_dir/<domain>/<selector>-rsa.pem       selector "<selector>-rsa"
    key_dir/<domain>/<selector>-ed25519.pem   selector "<selector>-ed25519"

published as ``<selector>-rsa._domainkey.<domain>`` and ``<selector>-ed25519._domainkey.<domain>``
(RFC 6376 §3.6.2.1). The selector name is the file name, so the admin sees which is which.
To rotate, pass a new selector (e.g. "postbus2027"): the old files stay until removed.

Invariants:
- ``verify`` looks keys up through the Resolver passed in (all of them first, concurrently),
  then hands dkimpy a dnsfunc that answers from those results: dkimpy never touches DNS.
- The CPU work of verifying (canonicalising and hashing a body of up to max_message_size)
  runs in a worker thread, so a large message does not stall the event loop.
- Every signature gets a result (RFC 8601 §2.7.1 names); none raises.
"""

from __future__ import annotations

import asyncio
import base64
import re
from dataclasses import dataclass
from pathlib import Path

import dkim as dkimpy
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519, rsa

from postbus.smtp.resolver import Resolver, TempDnsError
from postbus.tls import write_private

__all__ = [
    "SIGNED_HEADERS",
    "DkimKeys",
    "DkimResult",
    "ensure_domain_keys",
    "sign",
    "txt_strings",
    "verify",
]

RSA_BITS = 2048
_PEM = serialization.Encoding.PEM
_PKCS8 = serialization.PrivateFormat.PKCS8
_PKCS1 = serialization.PrivateFormat.TraditionalOpenSSL
# One DNS label of letters, digits and hyphens: a valid selector (RFC 6376 §3.1) and a safe
# file name. Domains are dot-separated labels (A-labels for IDNs), so never a path.
_LABEL = r"[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?"
_SELECTOR_RE = re.compile(rf"{_LABEL}\Z")
_DOMAIN_RE = re.compile(rf"(?=.{{1,253}}\Z){_LABEL}(?:\.{_LABEL})+\Z")


@dataclass(frozen=True, slots=True)
class DkimKeys:
    """The two signing keys of one domain."""

    domain: str
    rsa_selector: str
    rsa_key_file: Path
    ed25519_selector: str
    ed25519_key_file: Path

    def load_rsa(self) -> rsa.RSAPrivateKey:
        key = serialization.load_pem_private_key(self.rsa_key_file.read_bytes(), None)
        if not isinstance(key, rsa.RSAPrivateKey):
            raise ValueError(f"{self.rsa_key_file}: not an RSA private key")
        return key

    def load_ed25519(self) -> ed25519.Ed25519PrivateKey:
        key = serialization.load_pem_private_key(self.ed25519_key_file.read_bytes(), None)
        if not isinstance(key, ed25519.Ed25519PrivateKey):
            raise ValueError(f"{self.ed25519_key_file}: not an Ed25519 private key")
        return key

    def dns_records(self) -> list[tuple[str, str]]:
        """(name, TXT value) for each key, RSA first (RFC 6376 §3.6.1 tag=value lists)."""
        # RFC 6376 §3.6.1: p= is base64 of the DER SubjectPublicKeyInfo, as every signer
        # publishes it (the "MIIBIjANBg..." form).
        rsa_der = (
            self.load_rsa()
            .public_key()
            .public_bytes(
                serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
            )
        )
        # RFC 8463 §4.2: for k=ed25519, p= is base64 of the bare 32-byte public key.
        ed_raw = (
            self.load_ed25519()
            .public_key()
            .public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
        )
        return [
            (self.record_name(self.rsa_selector), f"v=DKIM1; k=rsa; p={_b64(rsa_der)}"),
            (self.record_name(self.ed25519_selector), f"v=DKIM1; k=ed25519; p={_b64(ed_raw)}"),
        ]

    def record_name(self, selector: str) -> str:
        return f"{selector}._domainkey.{self.domain}"  # RFC 6376 §3.6.2.1


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def txt_strings(value: str) -> list[str]:
    """Split a TXT value into the ≤255-octet character-strings DNS needs (RFC 1035 §3.3.14).

    Resolvers join them back without separators (RFC 6376 §3.6.2.2); a 2048-bit RSA record
    is about 400 characters, so it always needs two.
    """
    return [value[i : i + 255] for i in range(0, len(value), 255)] or [""]


def ensure_domain_keys(key_dir: Path, domain: str, selector: str = "postbus") -> DkimKeys:
    """Create whichever of the domain's two keys is missing (mode 0600); never replace one.

    Raises ValueError for a domain or selector that is not a DNS name.
    """
    domain = domain.lower().rstrip(".")
    selector = selector.lower()
    if not _DOMAIN_RE.match(domain):
        raise ValueError(f"not a domain name: {domain!r}")
    if not _SELECTOR_RE.match(selector):
        raise ValueError(f"not a DKIM selector (one DNS label): {selector!r}")
    folder = key_dir / domain
    keys = DkimKeys(
        domain=domain,
        rsa_selector=f"{selector}-rsa",
        rsa_key_file=folder / f"{selector}-rsa.pem",
        ed25519_selector=f"{selector}-ed25519",
        ed25519_key_file=folder / f"{selector}-ed25519.pem",
    )
    # Never overwrite: a published key that changes breaks every signature in flight.
    if not keys.rsa_key_file.exists():
        key = rsa.generate_private_key(public_exponent=65537, key_size=RSA_BITS)
        # PKCS#1 ("BEGIN RSA PRIVATE KEY"): the form dkimpy's signer reads; PKCS#8 it cannot.
        pem = key.private_bytes(_PEM, _PKCS1, serialization.NoEncryption())
        write_private(keys.rsa_key_file, pem)
    if not keys.ed25519_key_file.exists():
        ed = ed25519.Ed25519PrivateKey.generate()
        write_private(
            keys.ed25519_key_file, ed.private_bytes(_PEM, _PKCS8, serialization.NoEncryption())
        )
    return keys


# --- signing ------------------------------------------------------------------------------

# RFC 6376 §5.4.1: the fields that carry the message's meaning. Each is signed as many times
# as it occurs; From once more ("oversigned", RFC 6376 §8.15), so a second From added on
# the way breaks the signature instead of being shown to the reader.
SIGNED_HEADERS = (
    "from",
    "to",
    "cc",
    "subject",
    "date",
    "message-id",
    "mime-version",
    "content-type",
    "in-reply-to",
    "references",
)
_CANON = (b"relaxed", b"relaxed")  # RFC 6376 §3.4.2, §3.4.4: survives re-folding


def _include_headers(message: bytes) -> list[bytes]:
    headers, _ = dkimpy.rfc822_parse(message)
    names = [bytes(name).lower() for name, _ in headers]
    include: list[bytes] = []
    for name in SIGNED_HEADERS:
        include += [name.encode()] * names.count(name.encode())
    include.append(b"from")
    return include


def sign(message: bytes, domain: str, key_dir: Path, selector_base: str = "postbus") -> bytes:
    """The message with two DKIM-Signature fields prepended: Ed25519 and RSA (RFC 8463 §1).

    ``message`` is CRLF-terminated, as it arrives over SMTP. Keys are made on first use
    (ensure_domain_keys). Raises ValueError for a bad domain or selector, and
    dkim.DKIMException for a message whose header cannot be parsed.
    """
    keys = ensure_domain_keys(key_dir, domain, selector_base)
    try:
        include = _include_headers(message)
    except IndexError as e:  # dkimpy's parser, on a header that opens with a continuation
        raise dkimpy.MessageFormatError("the message header cannot be parsed") from e
    rsa_pem = keys.rsa_key_file.read_bytes()
    ed_seed = keys.load_ed25519().private_bytes(
        serialization.Encoding.Raw, serialization.PrivateFormat.Raw, serialization.NoEncryption()
    )
    signatures = []
    for selector, key, algorithm in (
        (keys.ed25519_selector, base64.b64encode(ed_seed), b"ed25519-sha256"),  # RFC 8463 §3
        (keys.rsa_selector, rsa_pem, b"rsa-sha256"),  # RFC 8301 §3.1
    ):
        signatures.append(
            dkimpy.sign(
                message,
                selector.encode(),
                keys.domain.encode(),
                key,
                canonicalize=_CANON,
                signature_algorithm=algorithm,
                include_headers=include,
            )
        )
    return b"".join(signatures) + message


# --- verification -------------------------------------------------------------------------

MAX_SIGNATURES = 5  # each costs a DNS lookup and a body hash; more is abuse, not mail
MIN_RSA_BITS = 1024  # RFC 8301 §3.2: smaller keys MUST NOT be considered valid


@dataclass(frozen=True, slots=True)
class DkimResult:
    """One signature's outcome; ``status`` is an RFC 8601 §2.7.1 dkim result."""

    status: str  # "pass" | "fail" | "neutral" | "temperror" | "permerror"
    domain: str  # d=, lower-case ("" if unreadable)
    selector: str  # s=
    algorithm: str  # a=
    identity: str  # i=, or "@" + d= (RFC 6376 §3.5)
    b: str  # the start of b=, told apart from other signatures (RFC 6008 header.b)
    detail: str = ""


@dataclass(slots=True)
class _Pending:
    index: int
    sig: dict[bytes, bytes]
    include: list[bytes]
    header: tuple[bytes, bytes]
    key_name: str
    result: DkimResult | None = None  # set when known before the cryptography
    record: str | None = None  # the key TXT record, once looked up


def _text(sig: dict[bytes, bytes], tag: bytes) -> str:
    return sig.get(tag, b"").decode("ascii", "replace")


def _make(sig: dict[bytes, bytes], status: str, detail: str) -> DkimResult:
    domain = _text(sig, b"d").lower()
    return DkimResult(
        status=status,
        domain=domain,
        selector=_text(sig, b"s"),
        algorithm=_text(sig, b"a"),
        identity=_text(sig, b"i") or f"@{domain}",
        b=re.sub(r"\s+", "", _text(sig, b"b"))[:8],
        detail=detail,
    )


def _key_problem(record: str, algorithm: str) -> str | None:
    """RFC 6376 §3.6.1 checks dkimpy leaves out; None when the key may be used."""
    tags = {}
    for part in record.split(";"):
        name, eq, value = part.partition("=")
        if eq:
            tags[name.strip()] = re.sub(r"\s+", "", value)
    if tags.get("p") == "":
        return "key revoked (empty p=)"  # RFC 6376 §3.6.1
    if algorithm == "rsa-sha1":
        return "rsa-sha1 is not accepted (RFC 8301 §3.1)"
    key_type = tags.get("k", "rsa")
    if not algorithm.startswith(key_type + "-"):
        return f"key type {key_type} does not match a={algorithm}"  # RFC 6376 §6.1.2
    if "h" in tags and algorithm.split("-", 1)[1] not in tags["h"].split(":"):
        return f"key h= does not allow {algorithm}"  # RFC 6376 §3.6.1 h=
    return None


def _check(checker: dkimpy.DKIM, item: _Pending) -> DkimResult:
    """The CPU part of one signature (run in a worker thread)."""
    assert item.record is not None
    problem = _key_problem(item.record, _text(item.sig, b"a"))
    if problem:
        return _make(item.sig, "permerror", problem)
    record = item.record

    def dnsfunc(name: bytes, timeout: int = 5) -> str:  # dkimpy's interface
        return record

    try:
        ok = checker.verify_sig(item.sig, item.include, item.header, dnsfunc)
    except dkimpy.ValidationError as e:  # body hash mismatch: RFC 6376 §6.1.3
        return _make(item.sig, "fail", str(e))
    except dkimpy.KeyFormatError as e:  # e.g. key too small (RFC 8301 §3.2)
        return _make(item.sig, "permerror", str(e))
    except Exception as e:  # dkimpy on hostile input raises more than DKIMException
        return _make(item.sig, "neutral", f"{type(e).__name__}: {e}")
    if ok:
        return _make(item.sig, "pass", "")
    # dkimpy answers False for a key it cannot parse, too: tell that apart.
    try:
        dkimpy.evaluate_pk(item.key_name.encode(), record.encode())
    except (dkimpy.DKIMException, ValueError) as e:
        return _make(item.sig, "permerror", f"bad key record: {e}")
    return _make(item.sig, "fail", "signature did not verify")


def _verify_all(checker: dkimpy.DKIM, items: list[_Pending]) -> list[DkimResult]:
    return [item.result or _check(checker, item) for item in items]


async def _fetch_key(resolver: Resolver, item: _Pending) -> None:
    try:
        records = await resolver.txt(item.key_name)
    except TempDnsError as e:  # RFC 6376 §6.1.2: TEMPFAIL (key unavailable)
        item.result = _make(item.sig, "temperror", str(e))
        return
    if not records:  # RFC 6376 §6.1.2: PERMFAIL (no key for signature)
        item.result = _make(item.sig, "permerror", f"no key at {item.key_name}")
        return
    item.record = records[0]  # RFC 6376 §3.6.2.2: more than one gives undefined results


_LABEL_RE = re.compile(r"[a-z0-9_](?:[a-z0-9_-]{0,61}[a-z0-9_])?\Z", re.I)


def _dns_name(value: bytes) -> bool:
    labels = value.decode("ascii", "replace").split(".")
    return len(value) <= 253 and all(_LABEL_RE.match(label) for label in labels)


def header_mentions(message: bytes, name: bytes) -> bool:
    """Whether ``name`` (lower-case) occurs anywhere in the message's header.

    A cheap test before dkimpy parses the whole header: most mail carries no ARC set and much
    none of DKIM, and a field that is not there cannot be verified. Anything that merely looks
    like one goes on to the real parse.
    """
    end = message.find(b"\r\n\r\n")
    head = message if end < 0 else message[:end]
    return name in head.lower()


async def verify(
    message: bytes,
    resolver: Resolver,
    max_signatures: int = MAX_SIGNATURES,
    min_rsa_bits: int = MIN_RSA_BITS,
) -> list[DkimResult]:
    """Verify each DKIM-Signature (the first ``max_signatures``); [] means none (dkim=none)."""
    if not header_mentions(message, b"dkim-signature"):
        return []
    try:
        checker = dkimpy.DKIM(message, minkey=min_rsa_bits)
    except (dkimpy.DKIMException, IndexError, ValueError):
        # The header cannot be parsed (dkimpy raises IndexError for a message that starts
        # with a continuation line): no signature can be found in it.
        return []
    count = sum(1 for name, _ in checker.headers if bytes(name).lower() == b"dkim-signature")
    items: list[_Pending] = []
    for index in range(min(count, max_signatures)):
        checker.signature_fields = {}
        try:
            sig, include, headers = checker.verify_headerprep(index)
        except (dkimpy.DKIMException, LookupError, ValueError) as e:
            # RFC 8601 §2.7.1: "neutral" for a signature with syntax errors.
            sig = checker.signature_fields or {}
            items.append(_Pending(index, {}, [], (b"", b""), "", _make(sig, "neutral", str(e))))
            continue
        d, s = sig[b"d"], sig[b"s"]
        if not (_dns_name(d) and _dns_name(s)):
            result = _make(sig, "permerror", "d= or s= is not a domain name")
            items.append(_Pending(index, sig, include, headers[index], "", result))
            continue
        key_name = f"{s.decode()}._domainkey.{d.decode()}"  # RFC 6376 §3.6.2.1
        items.append(_Pending(index, sig, include, headers[index], key_name))
    await asyncio.gather(*(_fetch_key(resolver, i) for i in items if i.result is None))
    if all(item.result is not None for item in items):
        return [item.result for item in items if item.result is not None]
    return await asyncio.to_thread(_verify_all, checker, items)
