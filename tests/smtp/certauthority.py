"""A private certificate authority and an HTTPS policy host for MTA-STS tests.

    ca = TestCA(tmp_path)
    context = ca.server_context("mx.remote.test")     # a server certificate the CA signed
    worker settings: tls_ca_file=ca.cert_file          # trust only this CA

``PolicyHost`` serves https://mta-sts.<domain>/.well-known/mta-sts.txt on 127.0.0.1 with a
certificate from the CA; what it answers can be changed between requests, and it counts them.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import ssl
from dataclasses import dataclass, field
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from postbus.tls import server_context

__all__ = ["PolicyHost", "TestCA", "policy_response"]


def _name(common_name: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


def _pem_key(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


class TestCA:
    """A root CA in ``folder``; ``issue`` writes a server certificate signed by it."""

    __test__ = False  # not a test class, whatever pytest thinks of the name

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.key = ec.generate_private_key(ec.SECP256R1())
        now = dt.datetime.now(dt.UTC)
        self.name = _name("postbus test CA")
        self.cert = (
            x509.CertificateBuilder()
            .subject_name(self.name)
            .issuer_name(self.name)
            .public_key(self.key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(hours=1))
            .not_valid_after(now + dt.timedelta(days=2))
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .add_extension(
                x509.KeyUsage(False, False, False, False, False, True, True, False, False),
                critical=True,
            )
            .add_extension(
                x509.SubjectKeyIdentifier.from_public_key(self.key.public_key()), critical=False
            )
            .sign(self.key, hashes.SHA256())
        )
        self.cert_file = folder / "test-ca.pem"
        self.cert_file.write_bytes(self.cert.public_bytes(serialization.Encoding.PEM))

    def issue(self, *names: str) -> tuple[Path, Path]:
        """(cert file, key file) for a server known by ``names`` (DNS SANs)."""
        key = ec.generate_private_key(ec.SECP256R1())
        now = dt.datetime.now(dt.UTC)
        cert = (
            x509.CertificateBuilder()
            .subject_name(_name(names[0]))
            .issuer_name(self.name)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(hours=1))
            .not_valid_after(now + dt.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName([x509.DNSName(n) for n in names]), False)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
            .add_extension(
                x509.AuthorityKeyIdentifier.from_issuer_public_key(self.key.public_key()),
                critical=False,
            )
            .sign(self.key, hashes.SHA256())
        )
        stem = self.folder / f"cert-{names[0]}-{x509.random_serial_number()}"
        cert_file, key_file = stem.with_suffix(".pem"), stem.with_suffix(".key")
        cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
        key_file.write_bytes(_pem_key(key))
        return cert_file, key_file

    def server_context(self, *names: str) -> ssl.SSLContext:
        return server_context(*self.issue(*names))


def policy_response(
    body: bytes,
    status: str = "200 OK",
    content_type: str = "text/plain",
    chunked: bool = False,
    extra: str = "",
) -> bytes:
    """A whole HTTP/1.1 response carrying ``body``."""
    head = f"HTTP/1.1 {status}\r\nContent-Type: {content_type}\r\n{extra}Connection: close\r\n"
    if chunked:
        middle = len(body) // 2
        parts = [body[:middle], body[middle:]]
        framed = b"".join(b"%x\r\n%s\r\n" % (len(p), p) for p in parts if p)
        return (head + "Transfer-Encoding: chunked\r\n\r\n").encode() + framed + b"0\r\n\r\n"
    return (head + f"Content-Length: {len(body)}\r\n\r\n").encode() + body


@dataclass
class PolicyHost:
    """An HTTPS server on 127.0.0.1 answering every request with ``response``."""

    context: ssl.SSLContext
    response: bytes
    requests: list[bytes] = field(default_factory=list)
    port: int = 0
    _server: asyncio.AbstractServer | None = None

    async def start(self) -> PolicyHost:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0, ssl=self.context)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 10)
            self.requests.append(head)
            writer.write(self.response)
            await writer.drain()
        except (OSError, ssl.SSLError, asyncio.IncompleteReadError, TimeoutError):
            pass  # a client that gave up on our certificate, say
        finally:
            writer.close()
            with contextlib.suppress(OSError, ssl.SSLError):
                await writer.wait_closed()

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
