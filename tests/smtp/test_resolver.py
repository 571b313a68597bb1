"""DnsResolver against a real dnsmasq: answers kept for their TTL, and nothing else kept."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from postbus.smtp.resolver import TempDnsError
from tests.smtp.dnsmasq import start_dnsmasq

SPF = "v=spf1 ip4:192.0.2.1 -all"


async def test_answers_are_kept_for_their_ttl(tmp_path: Path) -> None:
    server = start_dnsmasq(tmp_path, txt=[("sender.test", SPF)], ttl=300)
    resolver = server.resolver(timeout=0.5)
    try:
        assert await resolver.txt("sender.test") == [SPF]
        assert await resolver.txt("nothing.sender.test") == []  # NXDOMAIN, no SOA
    finally:
        server.stop()
    # The server is gone: the answer with a TTL is still known, the negative one was not kept
    # (RFC 2308 §5: no SOA, no negative caching), and a failure is a failure.
    assert await resolver.txt("SENDER.test.") == [SPF]
    with pytest.raises(TempDnsError):
        await resolver.txt("nothing.sender.test")


async def test_a_zero_ttl_is_never_kept(tmp_path: Path) -> None:
    server = start_dnsmasq(tmp_path, txt=[("sender.test", SPF)])  # ttl 0
    resolver = server.resolver(timeout=0.5)
    try:
        assert await resolver.txt("sender.test") == [SPF]
    finally:
        server.stop()
    with pytest.raises(TempDnsError):
        await resolver.txt("sender.test")


async def test_an_answer_is_dropped_when_its_ttl_runs_out(tmp_path: Path) -> None:
    server = start_dnsmasq(tmp_path, txt=[("sender.test", SPF)], ttl=1)
    resolver = server.resolver(timeout=0.5)
    try:
        assert await resolver.txt("sender.test") == [SPF]
    finally:
        server.stop()
    assert await resolver.txt("sender.test") == [SPF]  # within the second: kept
    await asyncio.sleep(1.2)
    with pytest.raises(TempDnsError):  # asked again, and nobody answers
        await resolver.txt("sender.test")
