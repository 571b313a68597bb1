"""Certificates and TLS contexts: the self-signed pair of a fresh install, server and test contexts.

ACME comes later; it will write the same two files (``Config.cert_file``, ``Config.key_file``).
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import os
import ssl
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

__all__ = ["client_context_trusting", "ensure_self_signed", "server_context", "write_private"]

# Apple platforms refuse TLS server certificates valid for more than 825 days, even ones the
# user trusted by hand (support.apple.com/HT210176), so a 10-year certificate would lock out
# Apple Mail. We issue 825 days and make a new one when ours has less than RENEW_BEFORE left.
VALID_FOR = dt.timedelta(days=825)
RENEW_BEFORE = dt.timedelta(days=30)
_ORGANISATION = "postbus self-signed"  # marks certificates that we may replace

# Mozilla "intermediate" TLS 1.2 suites: forward secret AEAD only. TLS 1.3 suites are fixed.
_CIPHERS = "ECDHE+AESGCM:ECDHE+CHACHA20:DHE+AESGCM:DHE+CHACHA20:!aNULL:!MD5:!DSS"


def write_private(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` with mode 0600, atomically (temp file, fsync, rename)."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        os.fchmod(fd, 0o600)  # O_CREAT's mode is masked by the umask; be explicit
        os.write(fd, data)
        os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(tmp, path)


def _ours(cert_file: Path, hostname: str, now: dt.datetime) -> tuple[bool, bool]:
    """(made by ensure_self_signed, due for renewal) for the certificate in ``cert_file``.

    Due: close to its end, or not naming ``hostname`` (the admin changed server.hostname).
    """
    try:
        cert = x509.load_pem_x509_certificate(cert_file.read_bytes())
    except (OSError, ValueError):
        return False, False
    orgs = cert.subject.get_attributes_for_oid(NameOID.ORGANIZATION_NAME)
    ours = cert.issuer == cert.subject and [a.value for a in orgs] == [_ORGANISATION]
    try:
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        named = hostname in san.get_values_for_type(x509.DNSName) + [
            str(ip) for ip in san.get_values_for_type(x509.IPAddress)
        ]
    except x509.ExtensionNotFound:
        named = False
    return ours, not named or cert.not_valid_after_utc - now < RENEW_BEFORE


def ensure_self_signed(
    cert_file: Path, key_file: Path, hostname: str, *, now: dt.datetime | None = None
) -> bool:
    """Create a self-signed EC P-256 certificate and key when missing; True if it made them.

    Also renews our own self-signed certificate when it is about to expire or does not name
    ``hostname``. Never touches a certificate someone else made, nor a key without a
    certificate (a wrong cert_file path must not cost the admin their private key).
    SANs: ``hostname``, localhost, 127.0.0.1, ::1.
    """
    now = now or dt.datetime.now(dt.UTC)
    if cert_file.exists():
        ours, due = _ours(cert_file, hostname, now)
        if not ours or (key_file.exists() and not due):
            return False
    elif key_file.exists():
        return False

    key = ec.generate_private_key(ec.SECP256R1())
    names: list[x509.GeneralName] = []
    for name in (hostname, "localhost", "127.0.0.1", "::1"):
        try:
            entry: x509.GeneralName = x509.IPAddress(ipaddress.ip_address(name))
        except ValueError:
            entry = x509.DNSName(name)
        if entry not in names:
            names.append(entry)
    subject = x509.Name(
        [
            x509.NameAttribute(NameOID.COMMON_NAME, hostname),
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, _ORGANISATION),
        ]
    )
    public = key.public_key()
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(public)
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(hours=1))  # tolerate clocks a little behind
        .not_valid_after(now + VALID_FOR)
        # RFC 5280 §4.2.1.6; browsers and mail clients match names only in the SAN.
        .add_extension(x509.SubjectAlternativeName(names), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=False,
                crl_sign=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        # Apple requires serverAuth in the EKU (support.apple.com/HT210176).
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(public), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(public), critical=False)
        .sign(key, hashes.SHA256())
    )
    # Certificate first: a crash in between leaves our certificate without its key, which
    # the next call remakes; never a key without a certificate, which it would leave alone.
    cert_file.parent.mkdir(parents=True, exist_ok=True)
    tmp = cert_file.with_name(f".{cert_file.name}.{os.getpid()}.tmp")
    tmp.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    os.replace(tmp, cert_file)
    write_private(
        key_file,
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        ),
    )
    return True


def server_context(cert_file: Path, key_file: Path) -> ssl.SSLContext:
    """A server context: TLS 1.2 or newer (RFC 8996, RFC 8314 §4.1), forward-secret AEAD."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    ctx.set_ciphers(_CIPHERS)
    ctx.options |= ssl.OP_NO_COMPRESSION | ssl.OP_CIPHER_SERVER_PREFERENCE
    ctx.options |= ssl.OP_NO_RENEGOTIATION
    ctx.load_cert_chain(cert_file, key_file)
    return ctx


def client_context_trusting(cert_file: Path) -> ssl.SSLContext:
    """A verifying client context that trusts only ``cert_file`` (for tests and the CLI)."""
    ctx = ssl.create_default_context(ssl.Purpose.SERVER_AUTH, cafile=str(cert_file))
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    return ctx
