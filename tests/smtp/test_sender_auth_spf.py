"""SPF (RFC 7208) against a real DNS server (dnsmasq), plus syntax and macro tables."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from postbus.smtp.resolver import DnsResolver, StaticResolver
from postbus.smtp.spf import SpfResult, SpfStatus, check_host, check_spf
from tests.smtp.dnsmasq import start_dnsmasq

IP = "192.0.2.10"  # the client in most tests
IP6 = "2001:db8::10"
OTHER = "198.51.100.7"  # a client no record names

ZONE_TXT = [
    ("pass.test", "v=spf1 ip4:192.0.2.0/24 -all"),
    ("fail.test", "v=spf1 ip4:198.51.100.1 -all"),
    ("softfail.test", "v=spf1 ~all"),
    ("neutral.test", "v=spf1 ?all"),
    ("nomatch.test", "v=spf1 ip4:198.51.100.1"),
    ("nospf.test", "google-site-verification=abc"),
    ("two.test", "v=spf1 -all"),
    ("two.test", "v=spf1 +all"),
    ("syntax.test", "v=spf1 ip4:192.0.2.10 foo:bar -all"),
    ("inc-fail.test", "v=spf1 -all"),
    ("ten.test", "v=spf1 " + "include:inc-fail.test " * 9 + "a:host.a.test -all"),
    ("eleven.test", "v=spf1 " + "include:inc-fail.test " * 10 + "a:a.test -all"),
    ("void2.test", "v=spf1 a:nx1.test a:nx2.test -all"),
    ("void3.test", "v=spf1 a:nx1.test a:nx2.test mx:nx3.test ip4:192.0.2.10 -all"),
    ("inc.test", "v=spf1 include:fail.test include:pass.test -all"),
    ("inc-none.test", "v=spf1 include:nospf.test -all"),
    ("inc-temp.test", "v=spf1 include:broken.example -all"),
    ("redir.test", "v=spf1 ip4:198.51.100.1 redirect=pass.test"),
    ("redir-none.test", "v=spf1 redirect=nospf.test"),
    ("redir-all.test", "v=spf1 ~all redirect=pass.test"),
    ("a.test", "v=spf1 a -all"),
    ("acidr.test", "v=spf1 a:host.acidr.test/24 -all"),
    ("mx.test", "v=spf1 mx -all"),
    ("mx-other.test", "v=spf1 mx:mx.test -all"),
    ("ip6.test", "v=spf1 ip6:2001:db8::/32 -all"),
    ("a6.test", "v=spf1 a//64 -all"),
    ("exists.test", "v=spf1 exists:%{i}._spf.exists.test -all"),
    ("ptr.test", "v=spf1 ptr -all"),
    ("helo.test", "v=spf1 ip4:192.0.2.10 -all"),
    ("long.test", "v=spf1 " + " ".join(f"ip4:10.0.{i}.0/24" for i in range(40)) + " ~all"),
]
ZONE_HOSTS = [
    ("a.test", IP),
    ("host.a.test", "192.0.2.77"),
    ("host.acidr.test", "192.0.2.99"),
    ("mail.mx.test", IP),
    ("a6.test", "2001:db8::1"),
    ("192.0.2.10._spf.exists.test", "127.0.0.2"),
    ("name.ptr.test", "192.0.2.20"),
]
ZONE_MX = [("mx.test", "mail.mx.test", 10)]


@pytest.fixture(scope="module")
def resolver(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DnsResolver]:
    server = start_dnsmasq(
        tmp_path_factory.mktemp("spf-dns"), txt=ZONE_TXT, hosts=ZONE_HOSTS, mx=ZONE_MX
    )
    yield server.resolver()
    server.stop()


CASES = [
    # (sender domain, client ip, expected result) — RFC 7208 §2.6 results
    ("pass.test", IP, SpfStatus.PASS),
    ("fail.test", IP, SpfStatus.FAIL),
    ("softfail.test", IP, SpfStatus.SOFTFAIL),
    ("neutral.test", IP, SpfStatus.NEUTRAL),
    ("nomatch.test", IP, SpfStatus.NEUTRAL),  # §4.7: no match, no redirect
    ("nospf.test", IP, SpfStatus.NONE),  # §4.5: no SPF record among the TXT
    ("missing.test", IP, SpfStatus.NONE),  # §4.3: NXDOMAIN
    ("two.test", IP, SpfStatus.PERMERROR),  # §4.5: more than one record
    ("syntax.test", IP, SpfStatus.PERMERROR),  # §4.6: a bad term anywhere
    ("ten.test", IP, SpfStatus.FAIL),  # §4.6.4: 10 lookups is allowed
    ("eleven.test", IP, SpfStatus.PERMERROR),  # §4.6.4: the 11th is not
    ("void2.test", IP, SpfStatus.FAIL),  # §4.6.4: two void lookups are allowed
    ("void3.test", IP, SpfStatus.PERMERROR),  # §4.6.4: the third is not
    ("inc.test", IP, SpfStatus.PASS),  # §5.2: fail inside include is "no match"
    ("inc.test", OTHER, SpfStatus.FAIL),
    ("inc-none.test", IP, SpfStatus.PERMERROR),  # §5.2: include of "none"
    ("inc-temp.test", IP, SpfStatus.TEMPERROR),  # §5.2: include of "temperror"
    ("redir.test", IP, SpfStatus.PASS),  # §6.1
    ("redir.test", OTHER, SpfStatus.FAIL),
    ("redir-none.test", IP, SpfStatus.PERMERROR),  # §6.1: redirect to "none"
    ("redir-all.test", IP, SpfStatus.SOFTFAIL),  # §6.1: "all" makes redirect unused
    ("a.test", IP, SpfStatus.PASS),  # §5.3
    ("a.test", OTHER, SpfStatus.FAIL),
    ("acidr.test", IP, SpfStatus.PASS),  # §5.3 with a prefix length
    ("acidr.test", OTHER, SpfStatus.FAIL),
    ("mx.test", IP, SpfStatus.PASS),  # §5.4
    ("mx.test", OTHER, SpfStatus.FAIL),
    ("mx-other.test", IP, SpfStatus.PASS),
    ("ip6.test", IP6, SpfStatus.PASS),  # §5.6
    ("ip6.test", IP, SpfStatus.FAIL),  # ip6 never matches an IPv4 client
    ("a6.test", IP6, SpfStatus.PASS),  # §5.3 AAAA with //64
    ("a6.test", "2001:db9::1", SpfStatus.FAIL),
    ("exists.test", IP, SpfStatus.PASS),  # §5.7 with the %{i} macro
    ("exists.test", OTHER, SpfStatus.FAIL),
    ("ptr.test", "192.0.2.20", SpfStatus.PASS),  # §5.5: PTR name, validated by A
    ("ptr.test", IP, SpfStatus.FAIL),
    ("pass.test", "::ffff:192.0.2.10", SpfStatus.PASS),  # IPv4-mapped is IPv4
    ("long.test", "10.0.39.5", SpfStatus.PASS),  # a record of several strings
    ("broken.example", IP, SpfStatus.TEMPERROR),  # §4.4: the server refuses
]


@pytest.mark.parametrize(("domain", "ip", "expected"), CASES)
async def test_check_spf(resolver: DnsResolver, domain: str, ip: str, expected: SpfStatus) -> None:
    result = await check_spf(ip, f"ann@{domain}", "client.example", resolver)
    assert result.status == expected, result.detail
    assert result.identity == "mailfrom"
    assert result.domain == domain
    assert result.sender == f"ann@{domain}"


async def test_null_sender_checks_helo(resolver: DnsResolver) -> None:
    # RFC 7208 §2.4: MAIL FROM:<> is checked as postmaster@<HELO>.
    result = await check_spf(IP, "", "HELO.test.", resolver)
    assert (result.status, result.identity) == (SpfStatus.PASS, "helo")
    assert (result.domain, result.sender) == ("helo.test", "postmaster@helo.test")
    # an address literal in HELO is no domain: "none" (§4.3)
    result = await check_spf(IP, "", "[192.0.2.10]", resolver)
    assert result.status == SpfStatus.NONE


async def test_sender_without_local_part(resolver: DnsResolver) -> None:
    result = await check_spf(IP, "@pass.test", "x.test", resolver)  # §4.3: postmaster
    assert (result.status, result.sender) == (SpfStatus.PASS, "postmaster@pass.test")


async def test_timeout_is_temperror() -> None:
    class Slow(StaticResolver):
        async def txt(self, name: str) -> list[str]:
            import asyncio

            await asyncio.sleep(5)
            return []

    result = await check_spf(IP, "a@slow.test", "x.test", Slow(), timeout=0.05)
    assert result.status == SpfStatus.TEMPERROR


# --- syntax, without DNS ------------------------------------------------------------------

SYNTAX = [
    ("v=spf1 ip4:192.0.2.10 -all", SpfStatus.PASS),
    ("V=SPF1 IP4:192.0.2.10 -ALL", SpfStatus.PASS),  # §4.6.1: case-insensitive
    ("v=spf1   ip4:192.0.2.10   ", SpfStatus.PASS),  # extra spaces
    ("v=spf1 +ip4:192.0.2.0/24", SpfStatus.PASS),
    ("v=spf1 ip4:192.0.2.10/33", SpfStatus.PERMERROR),
    ("v=spf1 ip4:192.0.2.10/", SpfStatus.PERMERROR),
    ("v=spf1 ip4:192.0.2.10//64", SpfStatus.PERMERROR),
    ("v=spf1 ip4:192.0.2", SpfStatus.PERMERROR),
    ("v=spf1 ip6:2001:db8::/129", SpfStatus.PERMERROR),
    ("v=spf1 ip6:::1 -all", SpfStatus.FAIL),
    ("v=spf1 include -all", SpfStatus.PERMERROR),  # §5.2: include needs a domain
    ("v=spf1 exists -all", SpfStatus.PERMERROR),
    ("v=spf1 all:x", SpfStatus.PERMERROR),
    ("v=spf1 a:localhost -all", SpfStatus.PERMERROR),  # §7.1: no toplabel
    ("v=spf1 a:example.123 -all", SpfStatus.PERMERROR),  # numeric toplabel
    ("v=spf1 ptr/24 -all", SpfStatus.PERMERROR),  # no prefix on ptr
    ("v=spf1 a/24//64/3 -all", SpfStatus.PERMERROR),
    ("v=spf1 redirect=a.test redirect=b.test", SpfStatus.PERMERROR),  # §6
    ("v=spf1 exp=a.test exp=b.test -all", SpfStatus.PERMERROR),
    ("v=spf1 foo=bar -all", SpfStatus.FAIL),  # §6: unknown modifiers are ignored
    ("v=spf1 foo=%{z} -all", SpfStatus.PERMERROR),  # but must be macro-strings
    ("v=spf1 exists:%{c}.x.test -all", SpfStatus.PERMERROR),  # §7.1: c only in exp=
    ("v=spf1 exists:%{d0}.x.test -all", SpfStatus.PERMERROR),  # §7.3: no zero
    ("v=spf1 exists:%x.test -all", SpfStatus.PERMERROR),
    ("v=spf1 ?all ip4:192.0.2.10", SpfStatus.NEUTRAL),  # first match wins
    ("v=spf1 -ip4:192.0.2.10 +all", SpfStatus.FAIL),
    ("v=spf1 ip4:192.0.2.10 -all bad-term", SpfStatus.PERMERROR),  # §4.6: whole record
    ("v=spf1", SpfStatus.NEUTRAL),
    ("v=spf10 -all", SpfStatus.NONE),  # not "v=spf1" then space
    ("spf2.0/pra -all", SpfStatus.NONE),
]


@pytest.mark.parametrize(("record", "expected"), SYNTAX)
async def test_record_syntax(record: str, expected: SpfStatus) -> None:
    dns = StaticResolver({("x.test", "TXT"): [record]})
    result = await check_host(IP, "x.test", "ann@x.test", "h.test", dns)
    assert result.status == expected, result.detail


# RFC 7208 §7.4: sender strong-bad@email.example.com, <ip> 192.0.2.3 / 2001:db8::cb01.
MACROS = [
    ("%{s}", "strong-bad@email.example.com"),
    ("%{o}", "email.example.com"),
    ("%{d}", "email.example.com"),
    ("%{d4}", "email.example.com"),
    ("%{d3}", "email.example.com"),
    ("%{d2}", "example.com"),
    ("%{d1}", "com"),
    ("%{dr}", "com.example.email"),
    ("%{d2r}", "example.email"),
    ("%{l}", "strong-bad"),
    ("%{l-}", "strong.bad"),
    ("%{lr}", "strong-bad"),
    ("%{lr-}", "bad.strong"),
    ("%{l1r-}", "strong"),
    ("%{ir}.%{v}._spf.%{d2}", "3.2.0.192.in-addr._spf.example.com"),
    ("%{lr-}.lp._spf.%{d2}", "bad.strong.lp._spf.example.com"),
    ("%{lr-}.lp.%{ir}.%{v}._spf.%{d2}", "bad.strong.lp.3.2.0.192.in-addr._spf.example.com"),
    ("%{ir}.%{v}.%{l1r-}.lp._spf.%{d2}", "3.2.0.192.in-addr.strong.lp._spf.example.com"),
    ("%{d2}.trusted-domains.example.net", "example.com.trusted-domains.example.net"),
    ("%{h}.x.example", "mx.client.example.x.example"),
    ("%{S}.x.example", "strong-bad%40email.example.com.x.example"),  # upper case: escaped
    ("a%%b.%{d2}", "a%b.example.com"),
    ("%{p}.x.example", "unknown.x.example"),
]


@pytest.mark.parametrize(("spec", "expanded"), MACROS)
async def test_macro_expansion(spec: str, expanded: str) -> None:
    dns = StaticResolver({("email.example.com", "TXT"): [f"v=spf1 exists:{spec} -all"]})
    await check_host(
        "192.0.2.3", "email.example.com", "strong-bad@email.example.com", "mx.client.example", dns
    )
    assert ("A", expanded.lower()) in dns.queries


async def test_ipv6_macro() -> None:
    spec, expected = (
        "%{ir}.%{v}._spf.%{d2}",
        ("1.0.b.c.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.8.b.d.0.1.0.0.2.ip6._spf.example.com"),
    )
    dns = StaticResolver({("email.example.com", "TXT"): [f"v=spf1 exists:{spec} -all"]})
    await check_host("2001:db8::cb01", "email.example.com", "s@email.example.com", "h", dns)
    assert ("A", expected) in dns.queries


async def test_long_expansion_is_cut_from_the_left() -> None:
    # RFC 7208 §7.3: over 253 characters, labels go from the left.
    local = ".".join(["abcdefghij"] * 30)
    dns = StaticResolver({("x.test", "TXT"): ["v=spf1 exists:%{l}.x.test -all"]})
    await check_host(IP, "x.test", f"{local}@x.test", "h.test", dns)
    name = dns.queries[-1][1]
    assert len(name) <= 253 and name.endswith("abcdefghij.x.test")


async def test_mx_with_more_than_ten_names_is_permerror() -> None:
    records = {("x.test", "TXT"): ["v=spf1 mx -all"]}
    records[("x.test", "MX")] = [(i, f"mx{i}.x.test") for i in range(11)]
    result = await check_host(IP, "x.test", "a@x.test", "h", StaticResolver(records))
    assert result.status == SpfStatus.PERMERROR  # RFC 7208 §4.6.4


async def test_lookup_count_spans_includes() -> None:
    # 6 a-lookups at the top and 5 in an include: 12 lookups with the include itself.
    records = {
        ("x.test", "TXT"): ["v=spf1 " + "a:h.x.test " * 6 + "include:y.test -all"],
        ("y.test", "TXT"): ["v=spf1 " + "a:h.x.test " * 5 + "-all"],
        ("h.x.test", "A"): ["192.0.2.200"],
    }
    result = await check_host(IP, "x.test", "a@x.test", "h", StaticResolver(records))
    assert result.status == SpfStatus.PERMERROR
    assert "lookups" in result.detail


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.text(alphabet=st.characters(min_codepoint=0, max_codepoint=0x7F), max_size=80))
async def test_any_record_gives_a_result(tail: str) -> None:
    dns = StaticResolver({("x.test", "TXT"): ["v=spf1 " + tail]})
    result = await check_host(IP, "x.test", "a@x.test", "h.test", dns)
    assert isinstance(result, SpfResult)
    assert result.status in set(SpfStatus)
