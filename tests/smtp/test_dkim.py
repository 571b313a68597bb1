import base64
import stat
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ed25519, padding, rsa

from postbus.smtp.dkim import DkimKeys, ensure_domain_keys, txt_strings


def tags(value: str) -> dict[str, str]:
    """RFC 6376 §3.2 tag-list: tag=value pairs separated by semicolons."""
    pairs = (part.split("=", 1) for part in value.split(";") if part.strip())
    return {name.strip(): val.strip() for name, val in pairs}


@pytest.fixture(scope="module")
def keys(tmp_path_factory: pytest.TempPathFactory) -> DkimKeys:
    return ensure_domain_keys(tmp_path_factory.mktemp("dkim"), "Example.ORG.")


def test_paths_and_selectors(keys: DkimKeys) -> None:
    assert keys.domain == "example.org"
    assert keys.rsa_selector == "postbus-rsa"
    assert keys.ed25519_selector == "postbus-ed25519"
    assert keys.rsa_key_file.name == "postbus-rsa.pem"
    assert keys.ed25519_key_file.name == "postbus-ed25519.pem"
    assert keys.rsa_key_file.parent.name == keys.ed25519_key_file.parent.name == "example.org"
    for path in (keys.rsa_key_file, keys.ed25519_key_file):
        assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_key_types(keys: DkimKeys) -> None:
    assert keys.load_rsa().key_size == 2048
    assert isinstance(keys.load_ed25519(), ed25519.Ed25519PrivateKey)


def test_records_parse_back_into_the_keys(keys: DkimKeys) -> None:
    (rsa_name, rsa_value), (ed_name, ed_value) = keys.dns_records()
    assert rsa_name == "postbus-rsa._domainkey.example.org"
    assert ed_name == "postbus-ed25519._domainkey.example.org"

    rsa_tags = tags(rsa_value)
    assert (rsa_tags["v"], rsa_tags["k"]) == ("DKIM1", "rsa")
    assert rsa_value.startswith("v=DKIM1;")  # RFC 6376 §3.6.1: v= must come first
    public = serialization.load_der_public_key(base64.b64decode(rsa_tags["p"], validate=True))
    assert isinstance(public, rsa.RSAPublicKey)
    assert public.public_numbers() == keys.load_rsa().public_key().public_numbers()
    signature = keys.load_rsa().sign(b"msg", padding.PKCS1v15(), hashes.SHA256())
    public.verify(signature, b"msg", padding.PKCS1v15(), hashes.SHA256())

    ed_tags = tags(ed_value)
    assert (ed_tags["v"], ed_tags["k"]) == ("DKIM1", "ed25519")
    raw = base64.b64decode(ed_tags["p"], validate=True)
    assert len(raw) == 32  # RFC 8463 §4.2: the bare key, not SubjectPublicKeyInfo
    ed_public = ed25519.Ed25519PublicKey.from_public_bytes(raw)
    ed_public.verify(keys.load_ed25519().sign(b"msg"), b"msg")


def test_idempotent(keys: DkimKeys) -> None:
    before = keys.rsa_key_file.read_bytes(), keys.ed25519_key_file.read_bytes()
    again = ensure_domain_keys(keys.rsa_key_file.parent.parent, "example.org")
    assert again == keys
    assert (again.rsa_key_file.read_bytes(), again.ed25519_key_file.read_bytes()) == before


def test_only_the_missing_key_is_made(tmp_path: Path) -> None:
    first = ensure_domain_keys(tmp_path, "example.net", selector="s2026")
    assert first.rsa_selector == "s2026-rsa"
    rsa_pem = first.rsa_key_file.read_bytes()
    ed_pem = first.ed25519_key_file.read_bytes()
    first.ed25519_key_file.unlink()
    second = ensure_domain_keys(tmp_path, "example.net", selector="s2026")
    assert second.rsa_key_file.read_bytes() == rsa_pem
    assert second.ed25519_key_file.read_bytes() != ed_pem


@pytest.mark.parametrize("domain", ["", "localhost", "../etc", "a/b.org", "exa mple.org", "-x.org"])
def test_bad_domain(tmp_path: Path, domain: str) -> None:
    with pytest.raises(ValueError, match="not a domain name"):
        ensure_domain_keys(tmp_path, domain)
    assert not any(tmp_path.iterdir())


@pytest.mark.parametrize("selector", ["", "a.b", "../x", "a b", "x" * 64])
def test_bad_selector(tmp_path: Path, selector: str) -> None:
    with pytest.raises(ValueError, match="not a DKIM selector"):
        ensure_domain_keys(tmp_path, "example.org", selector)


def test_txt_strings(keys: DkimKeys) -> None:
    value = keys.dns_records()[0][1]
    parts = txt_strings(value)
    assert len(parts) == 2 and all(len(p) <= 255 for p in parts)
    assert "".join(parts) == value
    assert txt_strings("") == [""]


def test_dkimpy_signs_and_verifies_with_our_rsa_key_and_record(keys: DkimKeys) -> None:
    """The signer to come (dkimpy) reads our RSA key file, and a verifier our DNS record."""
    dkim = pytest.importorskip("dkim")
    records = dict(keys.dns_records())
    message = (
        b"From: ann@example.org\r\nTo: bob@example.net\r\nSubject: hi\r\n"
        b"Date: Mon, 1 Jan 2024 00:00:00 +0000\r\nMessage-ID: <1@example.org>\r\n\r\nHello.\r\n"
    )
    header = dkim.sign(
        message,
        keys.rsa_selector.encode(),
        keys.domain.encode(),
        keys.rsa_key_file.read_bytes(),
        include_headers=[b"from", b"to", b"subject", b"date", b"message-id"],
    )

    def dns(name: bytes, timeout: int = 5) -> bytes:
        return records[name.decode().rstrip(".")].encode()

    assert dkim.verify(header + message, dnsfunc=dns)
    assert not dkim.verify(header + message.replace(b"Hello", b"Jello"), dnsfunc=dns)
