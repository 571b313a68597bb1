"""DMARC, ARC, Authentication-Results and check_inbound, against a real DNS server."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from postbus.smtp.arc import ArcResult, seal, verify_arc
from postbus.smtp.authresults import (
    InboundVerdict,
    check_inbound,
    format_header,
    from_domains,
    remove_forged,
    stamp,
)
from postbus.smtp.dkim import DkimResult, ensure_domain_keys, sign
from postbus.smtp.dmarc import DmarcResult, DmarcStatus, organizational_domain, parse_record
from postbus.smtp.resolver import DnsResolver, StaticResolver, TempDnsError, parse_nameserver
from postbus.smtp.spf import SpfResult, SpfStatus
from tests.smtp.dnsmasq import DnsServer, StartDnsmasq, start_dnsmasq
from tests.smtp.dnsmasq import dnsmasq as dnsmasq  # the fixture factory

HOST = "mx.postbus.test"
GOOD_IP = "192.0.2.10"  # in every test domain's SPF record
BAD_IP = "198.51.100.7"
DOMAINS = ("reject.test", "quarantine.test", "none.test", "strict.test", "sp.test", "pct.test")


def message(from_: str = "Ann <ann@reject.test>", extra: bytes = b"") -> bytes:
    return (
        f"From: {from_}\r\n".encode()
        + extra
        + b"To: bob@postbus.test\r\nSubject: Hello\r\nDate: Mon, 1 Jan 2024 12:00:00 +0000\r\n"
        b"Message-ID: <m1@reject.test>\r\n\r\nHello Bob.\r\n"
    )


@pytest.fixture(scope="module")
def key_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("keys")


@pytest.fixture(scope="module")
def dns_server(key_dir: Path) -> Iterator[DnsServer]:
    txt: list[tuple[str, str]] = [(d, f"v=spf1 ip4:{GOOD_IP} -all") for d in DOMAINS]
    txt += [
        ("mail.reject.test", f"v=spf1 ip4:{GOOD_IP} -all"),
        ("other.test", f"v=spf1 ip4:{GOOD_IP} -all"),
        ("_dmarc.reject.test", "v=DMARC1; p=reject; rua=mailto:d@reject.test"),
        ("_dmarc.quarantine.test", "v=DMARC1; p=quarantine"),
        ("_dmarc.none.test", "v=DMARC1; p=none"),
        ("_dmarc.strict.test", "v=DMARC1; p=reject; aspf=s; adkim=s"),
        ("_dmarc.sp.test", "v=DMARC1; p=none; sp=reject"),
        ("_dmarc.pct.test", "v=DMARC1; p=reject; pct=50"),
        ("_dmarc.two.test", "v=DMARC1; p=reject"),
        ("_dmarc.two.test", "v=DMARC1; p=none"),
    ]
    for domain in ("reject.test", "other.test", "postbus.test"):
        txt += ensure_domain_keys(key_dir, domain).dns_records()
    server = start_dnsmasq(key_dir, txt=txt, hosts=[("a.test", "192.0.2.1"), ("a.test", "::1")])
    yield server
    server.stop()


@pytest.fixture
def resolver(dns_server: DnsServer) -> DnsResolver:
    return dns_server.resolver()


# --- the resolver -------------------------------------------------------------------------


async def test_resolver_values(resolver: DnsResolver, key_dir: Path) -> None:
    (name, value), _ = ensure_domain_keys(key_dir, "reject.test").dns_records()
    assert await resolver.txt(name) == [value]  # two strings joined back into one
    assert await resolver.a("a.test") == ["192.0.2.1"]
    assert await resolver.aaaa("A.TEST.") == ["::1"]
    assert await resolver.ptr("192.0.2.1") == ["a.test"]
    assert await resolver.mx("a.test") == []  # no data
    assert await resolver.txt("nothing.test") == []  # NXDOMAIN
    assert await resolver.txt("a" * 64 + ".test") == []  # cannot exist
    with pytest.raises(TempDnsError):
        await resolver.txt("example.com")  # dnsmasq refuses names outside its zones


async def test_dnsmasq_factory(dnsmasq: StartDnsmasq) -> None:
    odd = 'a "quoted", comma; back\\slash #not-a-comment'
    server = dnsmasq(
        txt=[("odd.test", odd), ("odd.test", ["two", "strings"])],
        mx=[("odd.test", "mx2.odd.test", 20), ("odd.test", "mx1.odd.test", 10)],
        hosts=[("mx1.odd.test", "2001:db8::25")],
        ptr=[("5.2.0.192.in-addr.arpa", "named.odd.test")],
    )
    dns = server.resolver()
    assert sorted(await dns.txt("odd.test")) == sorted([odd, "twostrings"])
    assert sorted(await dns.mx("ODD.test")) == [(10, "mx1.odd.test"), (20, "mx2.odd.test")]
    assert await dns.aaaa("mx1.odd.test") == ["2001:db8::25"]
    assert await dns.ptr("192.0.2.5") == ["named.odd.test"]
    assert await dns.ptr("2001:db8::25") == ["mx1.odd.test"]


async def test_resolver_timeout() -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as silent:
        silent.bind(("127.0.0.1", 0))
        slow = DnsResolver([f"127.0.0.1:{silent.getsockname()[1]}"], timeout=0.3)
        with pytest.raises(TempDnsError, match="timeout"):
            await slow.txt("x.test")


@pytest.mark.parametrize(
    ("text", "parsed"),
    [
        ("127.0.0.1", ("127.0.0.1", 53)),
        ("127.0.0.1:5353", ("127.0.0.1", 5353)),
        ("::1", ("::1", 53)),
        ("[::1]:5353", ("::1", 5353)),
    ],
)
def test_parse_nameserver(text: str, parsed: tuple[str, int]) -> None:
    assert parse_nameserver(text) == parsed


@pytest.mark.parametrize("text", ["ns.example", "1.2.3.4:0", "[::1", "1.2.3.4:x", "[::1]x"])
def test_parse_nameserver_rejects(text: str) -> None:
    with pytest.raises(ValueError):
        parse_nameserver(text)


# --- DMARC pieces -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("domain", "org"),
    [
        ("example.com", "example.com"),
        ("mail.example.com", "example.com"),
        ("a.b.example.com.", "example.com"),
        ("example.co.uk", "example.co.uk"),
        ("mail.example.co.uk", "example.co.uk"),
        ("x.y.example.com.au", "example.com.au"),
        ("com", "com"),
    ],
)
def test_organizational_domain(domain: str, org: str) -> None:
    assert organizational_domain(domain) == org


@pytest.mark.parametrize(
    ("text", "fields"),
    [
        ("v=DMARC1; p=reject", ("reject", "reject", "r", "r", 100)),
        (
            "v=DMARC1;p=quarantine;sp=none;adkim=s;aspf=s;pct=20",
            ("quarantine", "none", "s", "s", 20),
        ),
        ("v=DMARC1; p=bogus; rua=mailto:x@y.test", ("none", "none", "r", "r", 100)),
        ("v=DMARC1; p=reject; pct=250; adkim=x", ("reject", "reject", "r", "r", 100)),
    ],
)
def test_parse_dmarc(text: str, fields: tuple[object, ...]) -> None:
    record = parse_record(text)
    assert record is not None
    assert (record.policy, record.subdomain_policy, record.adkim, record.aspf, record.pct) == fields


@pytest.mark.parametrize("text", ["v=DMARC1; p=bogus", "p=reject; v=DMARC1", "v=DMARC1; x"])
def test_parse_dmarc_rejects(text: str) -> None:
    assert parse_record(text) is None


def test_from_domains() -> None:
    assert from_domains(message()) == [["reject.test"]]
    folded = message("Ann\r\n <ann@Reject.Test.>")
    assert from_domains(folded) == [["reject.test"]]
    assert from_domains(message(extra=b"from: eve@evil.test\r\n")) == [
        ["reject.test"],
        ["evil.test"],
    ]
    assert from_domains(b"Subject: x\r\n\r\nFrom: body@x.test\r\n") == []


# --- check_inbound: the whole path --------------------------------------------------------


async def inbound(
    resolver: DnsResolver, msg: bytes, ip: str, mail_from: str = "bounce@reject.test", roll: int = 0
) -> InboundVerdict:
    return await check_inbound(
        msg, mail_from, "client.test", ip, resolver, HOST, rand=lambda n: roll
    )


async def test_dmarc_pass_by_aligned_spf(resolver: DnsResolver) -> None:
    verdict = await inbound(resolver, message(), GOOD_IP)
    assert (verdict.action, verdict.dmarc.status, verdict.spf.status) == ("accept", "pass", "pass")
    # relaxed alignment: MAIL FROM at a subdomain of the From domain
    verdict = await inbound(resolver, message(), GOOD_IP, "bounce@mail.reject.test")
    assert (verdict.action, verdict.dmarc.status) == ("accept", "pass")


async def test_dmarc_pass_by_aligned_dkim(resolver: DnsResolver, key_dir: Path) -> None:
    signed = sign(message(), "reject.test", key_dir)
    verdict = await inbound(resolver, signed, BAD_IP)
    assert verdict.spf.status == "fail"
    assert [r.status for r in verdict.dkim] == ["pass", "pass"]
    assert (verdict.action, verdict.dmarc.status) == ("accept", "pass")


async def test_dmarc_reject(resolver: DnsResolver, key_dir: Path) -> None:
    verdict = await inbound(resolver, message(), BAD_IP)
    assert (verdict.action, verdict.dmarc.status) == ("reject", "fail")
    assert "reject.test" in verdict.reason
    # a valid signature of another domain does not align
    verdict = await inbound(resolver, sign(message(), "other.test", key_dir), BAD_IP)
    assert {r.status for r in verdict.dkim} == {"pass"}
    assert verdict.action == "reject"
    # SPF passing for another domain does not align either
    verdict = await inbound(resolver, message(), GOOD_IP, "bounce@other.test")
    assert (verdict.spf.status, verdict.action) == ("pass", "reject")


async def test_dmarc_quarantine_and_none(resolver: DnsResolver) -> None:
    verdict = await inbound(resolver, message("ann@quarantine.test"), BAD_IP, "b@quarantine.test")
    assert (verdict.action, verdict.dmarc.status) == ("junk", "fail")
    verdict = await inbound(resolver, message("ann@none.test"), BAD_IP, "b@none.test")
    assert (verdict.action, verdict.dmarc.status, verdict.dmarc.policy) == (
        "accept",
        "fail",
        "none",
    )


async def test_strict_alignment(resolver: DnsResolver) -> None:
    ok = await inbound(resolver, message("ann@strict.test"), GOOD_IP, "b@strict.test")
    assert ok.dmarc.status == "pass"
    # SPF passes for mail.reject.test-like subdomains only in relaxed mode (aspf=s here)
    sub = await inbound(resolver, message("ann@sub.strict.test"), GOOD_IP, "b@strict.test")
    assert (sub.dmarc.status, sub.action) == ("fail", "reject")


async def test_subdomain_policy(resolver: DnsResolver) -> None:
    # RFC 7489 §6.3 sp=: found at the organizational domain, it rules the subdomains
    sub = await inbound(resolver, message("ann@deep.sp.test"), BAD_IP, "b@deep.sp.test")
    assert (sub.dmarc.policy, sub.action) == ("reject", "reject")
    top = await inbound(resolver, message("ann@sp.test"), BAD_IP, "b@sp.test")
    assert (top.dmarc.policy, top.action) == ("none", "accept")


async def test_pct_sampling(resolver: DnsResolver) -> None:
    # RFC 7489 §6.6.4: outside the sample, reject becomes quarantine
    inside = await inbound(resolver, message("a@pct.test"), BAD_IP, "b@pct.test", roll=49)
    outside = await inbound(resolver, message("a@pct.test"), BAD_IP, "b@pct.test", roll=50)
    assert (inside.action, outside.action) == ("reject", "junk")


async def test_no_policy_and_broken_policies(resolver: DnsResolver) -> None:
    for from_ in ("ann@nopolicy.test", "ann@two.test"):  # none, or two records (§6.6.3)
        verdict = await inbound(resolver, message(from_), BAD_IP, "b@nopolicy.test")
        assert (verdict.action, verdict.dmarc.status) == ("accept", "none")
    # our DNS failing is never a reason to refuse mail
    verdict = await inbound(resolver, message("ann@example.com"), BAD_IP, "b@example.com")
    assert (verdict.action, verdict.dmarc.status) == ("accept", "temperror")
    assert verdict.spf.status == "temperror"


async def test_two_from_fields_are_refused(resolver: DnsResolver) -> None:
    msg = message("ann@reject.test", extra=b"From: eve@evil.test\r\n")
    verdict = await inbound(resolver, msg, GOOD_IP)
    assert (verdict.action, verdict.dmarc.status) == ("reject", "permerror")
    verdict = await inbound(resolver, message("ann@reject.test, eve@evil.test"), GOOD_IP)
    assert (verdict.action, verdict.dmarc.status) == ("junk", "permerror")


async def test_authentication_results_of_a_real_check(resolver: DnsResolver, key_dir: Path) -> None:
    verdict = await inbound(resolver, sign(message(), "reject.test", key_dir), GOOD_IP)
    header = verdict.authentication_results
    assert header.endswith("\r\n") and header.count("\r\n") == 6
    lines = header.split("\r\n")
    assert lines[0] == f"Authentication-Results: {HOST};"
    assert lines[1] == " spf=pass smtp.mailfrom=bounce@reject.test;"
    assert lines[2].startswith(" dkim=pass header.d=reject.test header.i=@reject.test")
    assert "header.s=postbus-ed25519 header.a=ed25519-sha256 header.b=" in lines[2]
    assert "header.s=postbus-rsa header.a=rsa-sha256" in lines[3]
    assert lines[4] == " dmarc=pass (p=reject dis=none) header.from=reject.test;"
    assert lines[5] == " arc=none"
    parsed = parse_with_authres(header)
    assert [r.method for r in parsed.results] == ["spf", "dkim", "dkim", "dmarc", "arc"]
    assert parsed.authserv_id == HOST


# --- Authentication-Results text ----------------------------------------------------------


def parse_with_authres(header: str) -> Any:
    """authres (dkimpy's RFC 8601 parser) must read back what we write."""
    authres = pytest.importorskip("authres")
    return authres.AuthenticationResultsHeader.parse(header.replace("\r\n ", " ").strip())


SPF_FAIL = SpfResult(SpfStatus.FAIL, "example.com", "mailfrom", "x@example.com", "-all")
DKIM_FAIL = DkimResult(
    "fail", "example.com", "sel", "rsa-sha256", "@example.com", "ab/cd+ef", "body hash mismatch"
)
DMARC_FAIL = DmarcResult(DmarcStatus.FAIL, "example.com", "reject", "reject", "no aligned")


def test_format_header_failures() -> None:
    header = format_header(HOST, SPF_FAIL, [DKIM_FAIL], DMARC_FAIL, ArcResult("none", 0))
    assert header == (
        "Authentication-Results: mx.postbus.test;\r\n"
        ' spf=fail reason="-all" smtp.mailfrom=x@example.com;\r\n'
        ' dkim=fail reason="body hash mismatch" header.d=example.com header.i=@example.com'
        ' header.s=sel header.a=rsa-sha256 header.b="ab/cd+ef";\r\n'
        " dmarc=fail (p=reject dis=reject) header.from=example.com;\r\n"
        " arc=none\r\n"
    )
    parsed = parse_with_authres(header)
    assert [r.result for r in parsed.results] == ["fail", "fail", "fail", "none"]


def test_format_header_edge_cases() -> None:
    assert format_header(HOST) == f"Authentication-Results: {HOST}; none\r\n"  # RFC 8601 §2.2
    assert format_header(HOST, dkim=[]) == f"Authentication-Results: {HOST};\r\n dkim=none\r\n"
    helo = SpfResult(SpfStatus.PASS, "client.test", "helo", "postmaster@client.test")
    assert "spf=pass smtp.helo=client.test" in format_header(HOST, helo)


def test_outside_text_cannot_break_the_field() -> None:
    evil = SpfResult(
        SpfStatus.FAIL,
        "example.com",
        "mailfrom",
        '"a;b\r\nX-Evil: 1"@example.com',
        "oops)\r\nX-Evil: 2 (",
    )
    header = format_header(HOST, evil)
    assert header.count("\r\n") == 2 and "\r\nX-Evil" not in header
    assert 'smtp.mailfrom="\\"a;bX-Evil: 1\\"@example.com"' in header
    parse_with_authres(header)


def test_remove_forged() -> None:
    msg = (
        b"Authentication-Results: MX.postbus.test; dkim=pass header.d=bank.test\r\n"
        b"Authentication-Results:\r\n mx.postbus.test;\r\n spf=pass\r\n"
        b"Authentication-Results: (comment) mx.postbus.test; arc=pass\r\n"
        b"Authentication-Results: other.test; spf=fail\r\n"
        b"From: a@b.test\r\n\r\n"
        b"Authentication-Results: mx.postbus.test; in the body stays\r\n"
    )
    assert remove_forged(msg, HOST) == (
        b"Authentication-Results: other.test; spf=fail\r\n"
        b"From: a@b.test\r\n\r\n"
        b"Authentication-Results: mx.postbus.test; in the body stays\r\n"
    )


# --- ARC ----------------------------------------------------------------------------------


async def test_arc_seal_and_verify(resolver: DnsResolver, key_dir: Path) -> None:
    signed = sign(message(), "reject.test", key_dir)
    assert await verify_arc(signed, resolver) == ArcResult("none", 0)
    # We receive it (A-R with our id), then forward it on, sealed (RFC 8617 §5.1).
    first = await inbound(resolver, signed, GOOD_IP)
    sealed = seal(
        first.authentication_results.encode() + signed,
        "postbus.test",
        key_dir,
        HOST,
        now=1_700_000_000,
    )
    names = [line.split(b":")[0] for line in sealed.split(b"\r\n")[:30] if line[:1].isalpha()]
    assert names[:4] == [
        b"ARC-Seal",
        b"ARC-Message-Signature",
        b"ARC-Authentication-Results",
        b"Authentication-Results",
    ]
    result = await verify_arc(sealed, resolver)
    assert (result.status, result.instances) == ("pass", 1), result.detail
    # a list rewrites the subject: DKIM breaks, the ARC set still tells what we saw
    edited = sealed.replace(b"Subject: Hello", b"Subject: [list] Hello")
    assert (await verify_arc(edited, resolver)).status == "fail"
    after = await inbound(resolver, sealed, BAD_IP, "list@other.test")
    assert after.arc.status == "pass" and "arc=pass (i=1)" in after.authentication_results


async def test_arc_garbage_is_fail(resolver: DnsResolver) -> None:
    msg = b"ARC-Seal: i=1; a=rsa-sha256; cv=none; d=x.test; s=s; b=AAAA\r\n" + message()
    assert (await verify_arc(msg, resolver)).status == "fail"
    msg = b"ARC-Seal: i=99; garbage\r\n" + message()
    assert (await verify_arc(msg, resolver)).status == "fail"


async def test_checks_run_concurrently(resolver: DnsResolver, key_dir: Path) -> None:
    signed = sign(message(), "reject.test", key_dir)
    verdicts = await asyncio.gather(*(inbound(resolver, signed, GOOD_IP) for _ in range(10)))
    assert {v.action for v in verdicts} == {"accept"}


# --- hostile input never raises -----------------------------------------------------------

HEADER_LINES = st.sampled_from(
    [
        b"From: a@x.test\r\n",
        b"From: <>\r\n",
        b"From: \xff\xfe@\xc3.test\r\n",
        b" folded-first\r\n",
        b"DKIM-Signature: v=1; a=rsa-sha256; d=x.test; s=s; h=from; bh=AAAA; b=AAAA\r\n",
        b"DKIM-Signature: v=1; a=ed25519-sha256; d=; s=; h=; bh=; b=\r\n",
        b"DKIM-Signature: \r\n",
        b"ARC-Seal: i=1; a=rsa-sha256; cv=none; d=x.test; s=s; b=AAAA\r\n",
        b"ARC-Message-Signature: i=1; a=rsa-sha256; d=x.test; s=s; h=from; bh=AA; b=AA\r\n",
        b"ARC-Authentication-Results: i=1; x.test; none\r\n",
        b"ARC-Seal: i=0\r\n",
        b"no colon here\r\n",
        b"\n",
        b"Subject: =?utf-8?q?x?=\r\n",
    ]
)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(HEADER_LINES, max_size=8), st.binary(max_size=40))
async def test_check_inbound_never_raises(lines: list[bytes], tail: bytes) -> None:
    dns = StaticResolver(
        {
            ("x.test", "TXT"): ["v=spf1 -all"],
            ("_dmarc.x.test", "TXT"): ["v=DMARC1; p=quarantine"],
            ("s._domainkey.x.test", "TXT"): ["v=DKIM1; k=rsa; p=AAAA"],
        }
    )
    msg = b"".join(lines) + b"\r\n" + tail
    verdict = await check_inbound(msg, "a@x.test", "h.test", "192.0.2.1", dns, HOST)
    assert verdict.authentication_results.endswith("\r\n")
    assert verdict.action in ("accept", "junk", "reject")


async def test_stamp_replaces_forged_results(resolver: DnsResolver) -> None:
    forged = f"Authentication-Results: {HOST}; dmarc=pass header.from=reject.test\r\n"
    msg = forged.encode() + message()
    verdict = await inbound(resolver, msg, BAD_IP)
    assert verdict.action == "reject"  # the forged field changed nothing
    stamped = stamp(msg, verdict, HOST)
    assert stamped == verdict.authentication_results.encode() + message()


async def test_no_client_ip(resolver: DnsResolver) -> None:
    verdict = await check_inbound(message(), "b@reject.test", "h", "unix", resolver, HOST)
    assert verdict.spf.status == "none"
