"""DKIM key pairs per domain and the DNS records that publish them (signing comes later).

Each domain gets two keys, signed with both (RFC 8463 §1 recommends the pair while Ed25519
verification is not yet universal): RSA-2048 (RFC 8301 §3.2: at least 1024, 2048 advised)
and Ed25519 (RFC 8463). Each has its own selector, because a selector names one key record:

    key_dir/<domain>/<selector>-rsa.pem       selector "<selector>-rsa"
    key_dir/<domain>/<selector>-ed25519.pem   selector "<selector>-ed25519"

published as ``<selector>-rsa._domainkey.<domain>`` and ``<selector>-ed25519._domainkey.<domain>``
(RFC 6376 §3.6.2.1). The selector name is the file name, so the admin sees which is which.
To rotate, pass a new selector (e.g. "postbus2027"): the old files stay until removed.
"""

from __future__ import annotations

import base64
import re
from dataclasses import dataclass
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519, rsa

from postbus.tls import write_private

__all__ = ["DkimKeys", "ensure_domain_keys", "txt_strings"]

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
