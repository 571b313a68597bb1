import asyncio
import datetime as dt
import ipaddress
import ssl
import stat
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.x509.oid import NameOID

from postbus.tls import (
    VALID_FOR,
    client_context_trusting,
    ensure_self_signed,
    server_context,
    write_private,
)


@pytest.fixture
def pair(tmp_path: Path) -> tuple[Path, Path]:
    cert, key = tmp_path / "tls" / "cert.pem", tmp_path / "tls" / "key.pem"
    assert ensure_self_signed(cert, key, "mail.example.test") is True
    return cert, key


def test_creates_once(pair: tuple[Path, Path]) -> None:
    cert, key = pair
    before = cert.read_bytes(), key.read_bytes()
    assert ensure_self_signed(cert, key, "mail.example.test") is False
    assert (cert.read_bytes(), key.read_bytes()) == before


def test_key_is_private(pair: tuple[Path, Path]) -> None:
    assert stat.S_IMODE(pair[1].stat().st_mode) == 0o600
    assert not list(pair[1].parent.glob(".*tmp"))


def test_certificate_names_and_dates(pair: tuple[Path, Path]) -> None:
    cert = x509.load_pem_x509_certificate(pair[0].read_bytes())
    san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert san.get_values_for_type(x509.DNSName) == ["mail.example.test", "localhost"]
    assert san.get_values_for_type(x509.IPAddress) == [
        ipaddress.ip_address("127.0.0.1"),
        ipaddress.ip_address("::1"),
    ]
    lifetime = cert.not_valid_after_utc - cert.not_valid_before_utc
    assert VALID_FOR <= lifetime <= VALID_FOR + dt.timedelta(hours=1)


def test_missing_key_remakes_both(pair: tuple[Path, Path]) -> None:
    cert, key = pair
    old = cert.read_bytes()
    key.unlink()
    assert ensure_self_signed(cert, key, "mail.example.test") is True
    assert cert.read_bytes() != old
    server_context(cert, key)  # the new pair matches


def test_new_hostname_renews_ours(pair: tuple[Path, Path]) -> None:
    cert, key = pair
    assert ensure_self_signed(cert, key, "mx.example.test") is True
    san = x509.load_pem_x509_certificate(cert.read_bytes()).extensions.get_extension_for_class(
        x509.SubjectAlternativeName
    )
    assert "mx.example.test" in san.value.get_values_for_type(x509.DNSName)
    assert ensure_self_signed(cert, key, "localhost") is False  # named already


def test_never_overwrites_a_key_without_certificate(pair: tuple[Path, Path]) -> None:
    cert, key = pair
    cert.unlink()
    before = key.read_bytes()
    assert ensure_self_signed(cert, key, "mail.example.test") is False
    assert key.read_bytes() == before and not cert.exists()


def test_renews_our_expiring_certificate(pair: tuple[Path, Path]) -> None:
    cert, key = pair
    later = dt.datetime.now(dt.UTC) + VALID_FOR - dt.timedelta(days=10)
    assert ensure_self_signed(cert, key, "mail.example.test", now=later) is True
    assert ensure_self_signed(cert, key, "mail.example.test", now=later) is False


def test_never_replaces_a_foreign_certificate(tmp_path: Path, pair: tuple[Path, Path]) -> None:
    cert, key = pair
    cert.write_text("-----BEGIN CERTIFICATE-----\nnot ours\n-----END CERTIFICATE-----\n")
    far = dt.datetime.now(dt.UTC) + dt.timedelta(days=10_000)
    assert ensure_self_signed(cert, key, "mail.example.test", now=far) is False


def test_never_replaces_someone_elses_expiring_certificate(pair: tuple[Path, Path]) -> None:
    """An admin's own self-signed certificate is theirs to renew, even when it runs out."""
    cert, key = pair
    private = serialization.load_pem_private_key(key.read_bytes(), None)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "mail.example.test")])
    now = dt.datetime.now(dt.UTC)
    theirs = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(private.public_key())  # type: ignore[arg-type]
        .serial_number(1)
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=2))
        .sign(private, hashes.SHA256())  # type: ignore[arg-type]
    )
    cert.write_bytes(theirs.public_bytes(serialization.Encoding.PEM))
    assert ensure_self_signed(cert, key, "mail.example.test") is False


def test_server_context_settings(pair: tuple[Path, Path]) -> None:
    ctx = server_context(*pair)
    assert ctx.minimum_version == ssl.TLSVersion.TLSv1_2
    assert all("CBC" not in c["name"] and c["kea"] != "kx-rsa" for c in ctx.get_ciphers())


def test_write_private_replaces(tmp_path: Path) -> None:
    path = tmp_path / "a" / "secret"
    write_private(path, b"one")
    write_private(path, b"two")
    assert path.read_bytes() == b"two"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


async def handshake(server_ctx: ssl.SSLContext, client_ctx: ssl.SSLContext, name: str) -> bytes:
    async def echo(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(await reader.readline())
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(echo, "127.0.0.1", 0, ssl=server_ctx)
    port = server.sockets[0].getsockname()[1]
    try:
        reader, writer = await asyncio.open_connection(
            "127.0.0.1", port, ssl=client_ctx, server_hostname=name
        )
        assert writer.get_extra_info("ssl_object").version() in ("TLSv1.2", "TLSv1.3")
        writer.write(b"hello\r\n")
        line = await reader.readline()
        writer.close()
        return line
    finally:
        server.close()
        await server.wait_closed()


@pytest.mark.parametrize("name", ["mail.example.test", "localhost", "127.0.0.1", "::1"])
async def test_real_handshake(pair: tuple[Path, Path], name: str) -> None:
    line = await handshake(server_context(*pair), client_context_trusting(pair[0]), name)
    assert line == b"hello\r\n"


async def test_wrong_name_is_refused(pair: tuple[Path, Path]) -> None:
    with pytest.raises(ssl.SSLCertVerificationError):
        await handshake(server_context(*pair), client_context_trusting(pair[0]), "evil.test")


async def test_untrusted_is_refused(pair: tuple[Path, Path]) -> None:
    with pytest.raises(ssl.SSLCertVerificationError):
        await handshake(server_context(*pair), ssl.create_default_context(), "localhost")
