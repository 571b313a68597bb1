"""MTA-STS policy discovery (postbus.smtp.mtasts_discovery): the HTTP response reader fed whole
and byte by byte, the HTTPS fetch against a real TLS server on 127.0.0.1 found through dnsmasq,
and the cache rules of RFC 8461 §3.3 and §5.1, kept in the store across restarts (§10.2)."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from postbus.smtp.mtasts import Mode, StsError
from postbus.smtp.mtasts_discovery import (
    FETCH_BACKOFF,
    MAX_BODY,
    PolicyCache,
    fetch_policy,
    parse_response,
    verified_context,
)
from postbus.smtp.resolver import StaticResolver
from postbus.store import Store
from tests.smtp.certauthority import PolicyHost, TestCA, policy_response
from tests.smtp.dnsmasq import StartDnsmasq
from tests.smtp.dnsmasq import dnsmasq as dnsmasq  # the fixture factory

POLICY = b"version: STSv1\r\nmode: enforce\r\nmx: mx.remote.test\r\nmax_age: 86400\r\n"
T0 = 1_700_000_000

GOOD = [
    policy_response(POLICY),
    policy_response(POLICY, chunked=True),
    policy_response(POLICY, content_type="Text/Plain; charset=utf-8"),
    policy_response(POLICY, extra="X-Folded-Not: here\r\nServer: test\r\n"),
    # No length: the body ends with the connection (RFC 9112 §6.3).
    b"HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\n\r\n" + POLICY,
    # Chunk extensions and a trailer field.
    b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nTransfer-Encoding: chunked\r\n\r\n"
    + b"%x;name=value\r\n%s\r\n0\r\nX-Trailer: 1\r\n\r\n" % (len(POLICY), POLICY),
]

BAD = [
    policy_response(b"", status="301 Moved Permanently", extra="Location: https://x.test/\r\n"),
    policy_response(POLICY, status="404 Not Found"),
    policy_response(POLICY, status="204 No Content"),
    policy_response(POLICY, content_type="text/html"),
    policy_response(POLICY, content_type="application/octet-stream"),
    b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n0123456789",  # no media type
    b"HTTP/2 200\r\nContent-Type: text/plain\r\n\r\n" + POLICY,
    b"SMTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\n" + POLICY,
    b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n folded: line\r\n\r\n" + POLICY,
    b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: x\r\n\r\n" + POLICY,
    b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 999\r\n\r\n" + POLICY,
    b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nTransfer-Encoding: gzip\r\n\r\n" + POLICY,
    b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
    b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nTransfer-Encoding: chunked\r\n\r\n"
    + b"3\r\nabcd\r\n0\r\n\r\n",  # a chunk longer than its size
    b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nTransfer-Encoding: chunked\r\n\r\n"
    + b"3\r\nabc\r\n",  # the connection closes before the last chunk
    policy_response(b"x" * (MAX_BODY + 1)),
    b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\n" + b"x" * (MAX_BODY + 1),
    b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n",  # the header never ends
    b"",
]


@pytest.mark.parametrize("response", GOOD)
def test_response_whole_and_byte_by_byte(response: bytes) -> None:
    assert parse_response(response, eof=True) == POLICY
    for end in range(len(response)):
        assert parse_response(response[:end], eof=False) in (None, POLICY)


@pytest.mark.parametrize("response", BAD)
def test_bad_response(response: bytes) -> None:
    with pytest.raises(StsError):
        parse_response(response, eof=True)
    for end in range(0, len(response), 7):  # never more than "need more" or StsError
        with contextlib.suppress(StsError):
            parse_response(response[:end], eof=False)


@pytest.fixture
async def policy_host(tmp_path: Path) -> AsyncIterator[tuple[TestCA, PolicyHost]]:
    ca = TestCA(tmp_path)
    host = await PolicyHost(
        ca.server_context("mta-sts.remote.test"), policy_response(POLICY)
    ).start()
    try:
        yield ca, host
    finally:
        await host.stop()


async def test_fetch_over_https_through_real_dns(
    dnsmasq: StartDnsmasq,
    policy_host: tuple[TestCA, PolicyHost],
    tmp_path: Path,
) -> None:
    ca, host = policy_host
    resolver = dnsmasq(hosts=[("mta-sts.remote.test", "127.0.0.1")]).resolver()
    context = verified_context(ca.cert_file)
    policy = await fetch_policy("remote.test", resolver, context, port=host.port)
    assert (policy.mode, policy.mx, policy.max_age) == (Mode.ENFORCE, ("mx.remote.test",), 86400)
    [request] = host.requests
    assert request.startswith(b"GET /.well-known/mta-sts.txt HTTP/1.1\r\n")
    assert f"\r\nHost: mta-sts.remote.test:{host.port}\r\n".encode() in request
    # A name without an address, a CA we do not trust, a redirect: no policy.
    with pytest.raises(StsError, match="no address"):
        await fetch_policy("other.test", resolver, context, port=host.port)
    (tmp_path / "other-ca").mkdir()
    stranger = verified_context(TestCA(tmp_path / "other-ca").cert_file)
    with pytest.raises(StsError, match="certificate verify failed"):
        await fetch_policy("remote.test", resolver, stranger, port=host.port)
    host.response = policy_response(
        b"", "302 Found", extra="Location: https://mta-sts.remote.test/x\r\n"
    )
    with pytest.raises(StsError, match="HTTP status 302"):
        await fetch_policy("remote.test", resolver, context, port=host.port)
    assert len(host.requests) == 2  # the redirect was not followed


async def test_certificate_must_name_the_policy_host(tmp_path: Path) -> None:
    ca = TestCA(tmp_path)
    host = await PolicyHost(ca.server_context("www.remote.test"), policy_response(POLICY)).start()
    resolver = StaticResolver({("mta-sts.remote.test", "A"): ["127.0.0.1"]})
    try:
        with pytest.raises(StsError, match="certificate verify failed"):
            await fetch_policy(
                "remote.test", resolver, verified_context(ca.cert_file), port=host.port
            )
    finally:
        await host.stop()
    assert host.requests == []


async def test_cache_follows_the_record_id(policy_host: tuple[TestCA, PolicyHost]) -> None:
    """RFC 8461 §3.3, §5.1: fetched once per id; kept for max_age; a new id fetches again;
    a missing record or a failed fetch leaves a cached policy in force."""
    ca, host = policy_host
    resolver = StaticResolver(
        {
            ("_mta-sts.remote.test", "TXT"): ["v=STSv1; id=one"],
            ("mta-sts.remote.test", "A"): ["127.0.0.1"],
        }
    )
    cache = PolicyCache(resolver, verified_context(ca.cert_file), port=host.port)
    first = await cache.policy("remote.test", T0)
    assert first is not None and first.mode is Mode.ENFORCE
    assert await cache.policy("Remote.Test", T0 + 100) == first
    assert len(host.requests) == 1
    # The record goes away (or DNS fails): the cached policy still applies.
    resolver.records[("_mta-sts.remote.test", "TXT")] = []
    assert await cache.policy("remote.test", T0 + 200) == first
    resolver.failing.add("_mta-sts.remote.test")
    assert await cache.policy("remote.test", T0 + 300) == first
    resolver.failing.clear()
    # A new id: fetched again.
    resolver.records[("_mta-sts.remote.test", "TXT")] = ["v=STSv1; id=two"]
    host.response = policy_response(POLICY.replace(b"enforce", b"testing"))
    second = await cache.policy("remote.test", T0 + 400)
    assert second is not None and second.mode is Mode.TESTING
    assert len(host.requests) == 2
    # Another id whose policy cannot be fetched: the cached one stays, and the fetch is not
    # repeated at every message.
    resolver.records[("_mta-sts.remote.test", "TXT")] = ["v=STSv1; id=three"]
    host.response = policy_response(b"", "500 Internal Server Error")
    assert await cache.policy("remote.test", T0 + 500) == second
    assert await cache.policy("remote.test", T0 + 501) == second
    assert len(host.requests) == 3
    host.response = policy_response(POLICY)
    assert await cache.policy("remote.test", T0 + 500 + FETCH_BACKOFF) == first
    assert len(host.requests) == 4
    # max_age is over: the policy is gone, and without a record nothing replaces it.
    resolver.records[("_mta-sts.remote.test", "TXT")] = []
    assert await cache.policy("remote.test", T0 + 500 + FETCH_BACKOFF + 86400) is None


async def test_no_record_means_no_policy(policy_host: tuple[TestCA, PolicyHost]) -> None:
    ca, host = policy_host
    resolver = StaticResolver(
        {
            ("_mta-sts.remote.test", "TXT"): ["v=STSv1; id=one", "v=STSv1; id=two"],  # §3.1
            ("_mta-sts.bad.test", "TXT"): ["v=STSv1; id=not-an-id"],
            ("mta-sts.remote.test", "A"): ["127.0.0.1"],
        }
    )
    cache = PolicyCache(resolver, verified_context(ca.cert_file), port=host.port)
    for domain in ("remote.test", "bad.test", "none.test", "bücher.test", "a..test"):
        assert await cache.policy(domain, T0) is None
    assert host.requests == []


async def test_a_silent_policy_host_times_out() -> None:
    """RFC 8461 §3.3: the fetch has a timeout; a host that accepts and says nothing ends it."""
    accepted: list[asyncio.StreamWriter] = []

    async def silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        accepted.append(writer)  # no TLS handshake, no answer, until the test ends

    server = await asyncio.start_server(silent, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    resolver = StaticResolver({("mta-sts.remote.test", "A"): ["127.0.0.1"]})
    try:
        with pytest.raises(StsError, match="no policy within"):
            await fetch_policy("remote.test", resolver, verified_context(), port=port, timeout=0.5)
    finally:
        for writer in accepted:
            writer.close()
        server.close()
        await server.wait_closed()
    assert len(accepted) == 1


async def test_a_kept_policy_survives_a_restart(
    store: Store, policy_host: tuple[TestCA, PolicyHost]
) -> None:
    """RFC 8461 §5.1, §10.2: a policy fetched before a restart applies after it, though neither
    the policy host nor DNS answers at start-up; it still runs out at its max_age."""
    ca, host = policy_host
    resolver = StaticResolver(
        {
            ("_mta-sts.remote.test", "TXT"): ["v=STSv1; id=one"],
            ("mta-sts.remote.test", "A"): ["127.0.0.1"],
        }
    )
    context = verified_context(ca.cert_file)
    before = await PolicyCache(resolver, context, port=host.port, store=store).policy(
        "remote.test", T0
    )
    assert before is not None and before.mode is Mode.ENFORCE
    await host.stop()  # the policy host goes away, and with the restart the memory too
    resolver.failing.add("_mta-sts.remote.test")
    after = PolicyCache(resolver, context, port=host.port, store=store)
    assert await after.policy("remote.test", T0 + 600) == before
    # DNS is back with a new id whose policy cannot be fetched: the kept one still applies.
    resolver.failing.clear()
    resolver.records[("_mta-sts.remote.test", "TXT")] = ["v=STSv1; id=two"]
    again = PolicyCache(resolver, context, port=host.port, store=store)
    assert await again.policy("remote.test", T0 + 700) == before
    assert len(host.requests) == 1
    # Without the store a restarted process has nothing; past max_age neither has the store.
    assert await PolicyCache(resolver, context, port=host.port).policy("remote.test", T0) is None
    gone = PolicyCache(resolver, context, port=host.port, store=store)
    assert await gone.policy("remote.test", T0 + 86400) is None
