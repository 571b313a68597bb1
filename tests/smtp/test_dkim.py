import base64
import stat
from collections.abc import Iterator
from pathlib import Path

import dns.nameserver
import dns.resolver
import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ed25519, padding, rsa

from postbus.smtp.dkim import (
    DkimKeys,
    ensure_domain_keys,
    header_mentions,
    sign,
    txt_strings,
    verify,
)
from postbus.smtp.resolver import DnsResolver
from tests.smtp.dnsmasq import DnsServer, start_dnsmasq


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


# --- signing and verification through a real DNS server -----------------------------------

MESSAGE = (
    b"From: Ann <ann@example.test>\r\n"
    b"To: Bob <bob@example.net>\r\n"
    b"Subject: Lunch\r\n"
    b"Date: Mon, 1 Jan 2024 12:00:00 +0000\r\n"
    b"Message-ID: <lunch-1@example.test>\r\n"
    b"MIME-Version: 1.0\r\n"
    b"Content-Type: text/plain; charset=utf-8\r\n"
    b"X-Mailer: postbus\r\n"
    b"\r\n"
    b"Noon at the usual place?\r\n"
)


@pytest.fixture(scope="module")
def signing_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("signing")


@pytest.fixture(scope="module")
def dns_server(signing_dir: Path) -> Iterator[DnsServer]:
    keys = ensure_domain_keys(signing_dir, "example.test")
    revoked = ensure_domain_keys(signing_dir, "revoked.test")
    records: list[tuple[str, str | list[str]]] = list(keys.dns_records())
    records.append((revoked.record_name(revoked.rsa_selector), "v=DKIM1; k=rsa; p="))
    records.append((revoked.record_name(revoked.ed25519_selector), "v=DKIM1; k=rsa; p=AAAA"))
    server = start_dnsmasq(signing_dir, txt=records)
    yield server
    server.stop()


@pytest.fixture
def resolver(dns_server: DnsServer) -> DnsResolver:
    return dns_server.resolver()


def test_sign_prepends_two_signatures(signing_dir: Path) -> None:
    signed = sign(MESSAGE, "example.test", signing_dir)
    assert signed.endswith(MESSAGE)
    fields = signed[: -len(MESSAGE)].decode().split("\r\nDKIM-Signature:")
    assert len(fields) == 2
    first, second = (tags(" ".join(f.split()).removeprefix("DKIM-Signature:")) for f in fields)
    assert (first["a"], first["s"]) == ("ed25519-sha256", "postbus-ed25519")
    assert (second["a"], second["s"]) == ("rsa-sha256", "postbus-rsa")
    for sig in (first, second):
        assert sig["d"] == "example.test"
        assert sig["c"] == "relaxed/relaxed"
        signed_names = [h.strip() for h in sig["h"].split(":")]
        # every listed field that is present, From once more (oversigned); not X-Mailer
        assert signed_names == [
            "from", "to", "subject", "date", "message-id", "mime-version", "content-type",
            "from",
        ]  # fmt: skip


async def test_signature_verifies_for_both_algorithms(
    signing_dir: Path, resolver: DnsResolver
) -> None:
    results = await verify(sign(MESSAGE, "example.test", signing_dir), resolver)
    assert [(r.status, r.algorithm) for r in results] == [
        ("pass", "ed25519-sha256"),
        ("pass", "rsa-sha256"),
    ]
    assert {(r.domain, r.identity) for r in results} == {("example.test", "@example.test")}
    assert all(len(r.b) == 8 for r in results)


async def test_relaxed_canonicalisation_survives_refolding(
    signing_dir: Path, resolver: DnsResolver
) -> None:
    signed = sign(MESSAGE, "example.test", signing_dir)
    refolded = signed.replace(b"Subject: Lunch", b"Subject:   Lunch\r\n  ").replace(
        b"usual place?", b"usual   place?  "
    )
    assert {r.status for r in await verify(refolded, resolver)} == {"pass"}


@pytest.mark.parametrize(
    ("old", "new"),
    [
        (b"Noon at", b"Midnight at"),  # body: RFC 6376 §6.1.3 body hash
        (b"Subject: Lunch", b"Subject: Dinner"),  # a signed header field
        (b"From: Ann <ann", b"From: Eve <eve@evil.test>\r\nFrom: Ann <ann"),  # oversigned
    ],
)
async def test_tampering_fails(
    signing_dir: Path, resolver: DnsResolver, old: bytes, new: bytes
) -> None:
    tampered = sign(MESSAGE, "example.test", signing_dir).replace(old, new)
    assert [r.status for r in await verify(tampered, resolver)] == ["fail", "fail"]


async def test_unsigned_field_may_change(signing_dir: Path, resolver: DnsResolver) -> None:
    changed = sign(MESSAGE, "example.test", signing_dir).replace(b"X-Mailer: postbus", b"X: y")
    assert {r.status for r in await verify(changed, resolver)} == {"pass"}


async def test_no_signature_is_none(resolver: DnsResolver) -> None:
    assert await verify(MESSAGE, resolver) == []


async def test_key_problems(signing_dir: Path, resolver: DnsResolver) -> None:
    # no record at all: RFC 6376 §6.1.2 PERMFAIL; a REFUSED lookup: TEMPFAIL
    missing = await verify(sign(MESSAGE, "nokey.test", signing_dir), resolver)
    assert [r.status for r in missing] == ["permerror", "permerror"]
    assert "no key" in missing[0].detail
    temp = await verify(sign(MESSAGE, "example.org", signing_dir), resolver)
    assert [r.status for r in temp] == ["temperror", "temperror"]
    # RFC 6376 §3.6.1: an empty p= is a revoked key; a k= that is not a= is an error too
    revoked = await verify(sign(MESSAGE, "revoked.test", signing_dir), resolver)
    assert [r.status for r in revoked] == ["permerror", "permerror"]
    assert "does not match" in revoked[0].detail and "revoked" in revoked[1].detail


@pytest.mark.parametrize(
    "field",
    [
        b"DKIM-Signature: v=1; a=rsa-sha256; d=example.test; s=postbus-rsa\r\n",  # no b=, bh=
        b"DKIM-Signature: garbage\r\n",
        b"DKIM-Signature: v=1; a=foo-sha9; b=AAAA; bh=AAAA; d=example.test; h=from; s=x\r\n",
        b"DKIM-Signature: v=1; a=rsa-sha256; b=AAAA; bh=AAAA; d=../etc; h=from; s=x\r\n",
    ],
)
async def test_malformed_signatures_get_a_result(resolver: DnsResolver, field: bytes) -> None:
    [result] = await verify(field + MESSAGE, resolver)
    assert result.status in ("neutral", "permerror")


async def test_dkimpy_verifies_our_signatures(signing_dir: Path, dns_server: DnsServer) -> None:
    """Not our verifier: dkimpy's own, with DNS answered by dnsmasq through dnspython."""
    dkim = pytest.importorskip("dkim")
    plain = dns.resolver.Resolver(configure=False)
    plain.nameservers = [dns.nameserver.Do53Nameserver("127.0.0.1", dns_server.port)]

    def dnsfunc(name: bytes, timeout: int = 5) -> bytes:
        answer = plain.resolve(name.decode(), "TXT")
        return b"".join(next(iter(answer)).strings)

    def dkimpy_verifies(message: bytes, index: int) -> bool:
        try:
            return bool(dkim.DKIM(message).verify(idx=index, dnsfunc=dnsfunc))
        except dkim.DKIMException:  # what dkim.verify() does for the first signature
            return False

    signed = sign(MESSAGE, "example.test", signing_dir)
    for index in (0, 1):  # Ed25519, then RSA
        assert dkimpy_verifies(signed, index)
        assert not dkimpy_verifies(signed.replace(b"Noon", b"Soon"), index)


def test_header_mentions_looks_only_at_the_header() -> None:
    signed = b"From: a@example.org\r\nDKIM-Signature: v=1; d=example.org\r\n\r\nbody\r\n"
    folded = b"Subject: x\r\n dkim-signature in a folded line\r\n\r\nbody\r\n"
    in_body = b"From: a@example.org\r\n\r\nDKIM-Signature: v=1\r\n"
    assert header_mentions(signed, b"dkim-signature")
    assert header_mentions(folded, b"dkim-signature")  # only a hint: the parse decides
    assert not header_mentions(in_body, b"dkim-signature")
    assert header_mentions(b"DKIM-Signature: v=1", b"dkim-signature")  # no body at all
    assert not header_mentions(b"\r\n\r\nDKIM-Signature: v=1\r\n", b"dkim-signature")
