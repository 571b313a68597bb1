"""A real DNS server for tests: Debian's dnsmasq on 127.0.0.1, serving the records given.

    def test_x(dnsmasq):
        server = dnsmasq(txt=[("example.test", "v=spf1 a -all")],
                         hosts=[("example.test", "192.0.2.1")])
        resolver = server.resolver()

Names under the ``local`` domains (default: .test and the reverse zones) that have no
record get NXDOMAIN, as on the internet; any other name gets REFUSED, which our resolver
reports as TempDnsError, the way to test temperror. Records go in a config file rather
than argv: only the config-file reader takes quoted strings with commas and escapes.
"""

from __future__ import annotations

import subprocess
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import dns.exception
import dns.message
import dns.query
import pytest

from postbus.smtp.dkim import txt_strings
from postbus.smtp.resolver import DnsResolver
from tests.conftest import free_port, require_tool

__all__ = ["DnsServer", "StartDnsmasq", "dnsmasq", "start_dnsmasq"]

LOCAL_DOMAINS = ("test", "in-addr.arpa", "ip6.arpa")


@dataclass
class DnsServer:
    port: int
    process: subprocess.Popen[bytes]
    log: Path

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    def resolver(self, timeout: float = 2.0) -> DnsResolver:
        return DnsResolver([self.address], timeout=timeout)

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(5)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def _quote(text: str) -> str:
    # dnsmasq's config reader: a quoted string takes \" and \\ escapes.
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _config(
    txt: Sequence[tuple[str, str | Sequence[str]]],
    mx: Sequence[tuple[str, str, int]],
    hosts: Sequence[tuple[str, str]],
    ptr: Sequence[tuple[str, str]],
    local: Sequence[str],
) -> str:
    lines = [f"local=/{domain}/" for domain in local]
    for name, value in txt:
        # One record: a str is split into <=255-octet strings, a list is taken as the strings.
        strings = txt_strings(value) if isinstance(value, str) else list(value)
        lines.append(f"txt-record={name}," + ",".join(_quote(s) for s in strings))
    for name, host, preference in mx:
        lines.append(f"mx-host={name},{host},{preference}")
    for name, ip in hosts:
        lines.append(f"host-record={name},{ip}")
    for reverse_name, name in ptr:
        lines.append(f"ptr-record={reverse_name},{name}")
    return "\n".join(lines) + "\n"


def _wait_ready(server: DnsServer, deadline: float) -> None:
    query = dns.message.make_query("ready.test.", "A")
    while True:
        if server.process.poll() is not None:
            raise RuntimeError(f"dnsmasq exited: {server.log.read_text()}")
        try:
            dns.query.udp(query, "127.0.0.1", port=server.port, timeout=0.2)
            return
        except (dns.exception.Timeout, OSError):
            if time.monotonic() > deadline:
                raise RuntimeError("dnsmasq did not answer within 10 s") from None


def start_dnsmasq(
    folder: Path,
    *,
    txt: Sequence[tuple[str, str | Sequence[str]]] = (),
    mx: Sequence[tuple[str, str, int]] = (),
    hosts: Sequence[tuple[str, str]] = (),
    ptr: Sequence[tuple[str, str]] = (),
    local: Sequence[str] = LOCAL_DOMAINS,
    ttl: int = 0,
) -> DnsServer:
    """Start dnsmasq serving these records; the caller stops it (DnsServer.stop).

    ``ttl`` is the records' time to live: 0 (the default) lets no resolver keep an answer, so
    a test can change nothing between lookups unseen; a benchmark gives a real one."""
    binary = require_tool("dnsmasq")
    stem = folder / f"dnsmasq-{time.monotonic_ns()}"
    conf, log = stem.with_suffix(".conf"), stem.with_suffix(".log")
    conf.write_text(_config(txt, mx, hosts, ptr, local))
    port = free_port()
    with log.open("wb") as log_file:
        process = subprocess.Popen(
            [
                binary,
                f"--conf-file={conf}",  # and not /etc/dnsmasq.conf
                "--no-daemon",
                "--no-resolv",
                "--no-hosts",
                f"--port={port}",
                "--listen-address=127.0.0.1",
                "--bind-interfaces",
                "--pid-file=",  # none: it would need root and a fixed path
                f"--local-ttl={ttl}",
            ],
            stdin=subprocess.DEVNULL,
            stdout=log_file,
            stderr=subprocess.STDOUT,
        )
    server = DnsServer(port, process, log)
    try:
        _wait_ready(server, time.monotonic() + 10)
    except BaseException:
        server.stop()
        raise
    return server


class StartDnsmasq(Protocol):
    def __call__(
        self,
        *,
        txt: Sequence[tuple[str, str | Sequence[str]]] = (),
        mx: Sequence[tuple[str, str, int]] = (),
        hosts: Sequence[tuple[str, str]] = (),
        ptr: Sequence[tuple[str, str]] = (),
        local: Sequence[str] = LOCAL_DOMAINS,
    ) -> DnsServer: ...


@pytest.fixture
def dnsmasq(tmp_path: Path) -> Iterator[StartDnsmasq]:
    """Factory: call it with records, get a running DnsServer; all are stopped after."""
    servers: list[DnsServer] = []

    def start(**records: object) -> DnsServer:
        server = start_dnsmasq(tmp_path, **records)  # type: ignore[arg-type]
        servers.append(server)
        return server

    yield start  # type: ignore[misc]
    for server in servers:
        server.stop()
