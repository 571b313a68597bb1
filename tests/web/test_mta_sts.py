"""Our own MTA-STS policy (postbus.web.mta_sts): served per Host header through the TestClient,
and fetched for real by our own sender (postbus.smtp.mtasts_discovery) over TLS with a test CA."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from postbus.config import Config, Listener, MtaStsConfig, load_config
from postbus.server import Service, make_authenticator
from postbus.smtp.mtasts import (
    Mode,
    StsError,
    parse_policy,
    parse_record,
    policy_id,
    published_policy,
    record_text,
)
from postbus.smtp.mtasts_discovery import fetch_policy, verified_context
from postbus.smtp.resolver import StaticResolver
from postbus.store import open_sqlite
from postbus.web import server as web_server
from tests.smtp.certauthority import TestCA
from tests.web.conftest import Client

PATH = "/.well-known/mta-sts.txt"


def publish(client: Client, mode: str, max_age: int = 86400) -> None:
    config = client.service.config
    client.service.config = dataclasses.replace(config, mta_sts=MtaStsConfig(mode, max_age))


def our_policy(config: Config) -> str | None:
    return published_policy(config.mta_sts.mode, config.server.hostname, config.mta_sts.max_age)


def test_policy_for_our_domain(client: Client) -> None:
    publish(client, "enforce")
    for host in ("mta-sts.example.test", "MTA-STS.Example.Test:8443", "mta-sts.example.test."):
        response = client.http.get(PATH, headers={"Host": host})
        assert response.status_code == 200, host
        assert response.headers["content-type"].split(";")[0] == "text/plain"
        assert response.text == (
            "version: STSv1\r\nmode: enforce\r\nmx: mail.example.test\r\nmax_age: 86400\r\n"
        )
    policy = parse_policy(response.content)
    assert (policy.mode, policy.mx, policy.max_age) == (Mode.ENFORCE, ("mail.example.test",), 86400)
    publish(client, "testing", 604800)
    response = client.http.get(PATH, headers={"Host": "mta-sts.example.test"})
    assert parse_policy(response.content).mode is Mode.TESTING
    assert "max_age: 604800\r\n" in response.text


def test_unknown_hosts_and_domains_get_404(client: Client) -> None:
    publish(client, "enforce")
    for host in (
        "mta-sts.other.test",
        "example.test",
        "mail.example.test",
        "mta-sts.",
        "mta-sts.not a domain",
        "[::1]:80",
        "127.0.0.1",
        "",
    ):
        response = client.http.get(PATH, headers={"Host": host})
        assert response.status_code == 404, host
        assert "Traceback" not in response.text


def test_mode_none_serves_nothing(client: Client) -> None:
    assert client.service.config.mta_sts.mode == "none"  # the default
    assert client.http.get(PATH, headers={"Host": "mta-sts.example.test"}).status_code == 404
    assert our_policy(client.service.config) is None


def test_record_id_follows_the_policy(client: Client) -> None:
    publish(client, "enforce")
    first = our_policy(client.service.config)
    assert first is not None
    assert parse_record(record_text(first)) == policy_id(first)
    publish(client, "testing")
    second = our_policy(client.service.config)
    assert second is not None and policy_id(second) != policy_id(first)


async def test_our_sender_fetches_the_policy_we_serve(tmp_path: Path) -> None:
    """The round trip over real TLS: the HTTPS listener with a certificate for
    mta-sts.example.test from a test CA, fetched by mtasts_discovery trusting only that CA."""
    ca = TestCA(tmp_path)
    cert_file, key_file = ca.issue(
        "mail.example.test", "mta-sts.example.test", "mta-sts.other.test"
    )
    config = load_config(None, {}, data_dir=tmp_path)
    config = dataclasses.replace(
        config,
        server=dataclasses.replace(config.server, hostname="mail.example.test"),
        tls=dataclasses.replace(config.tls, cert_file=cert_file, key_file=key_file),
        mta_sts=MtaStsConfig("enforce", 86400),
    )
    store = await open_sqlite(tmp_path / "postbus.sqlite3", tmp_path / "blobs")
    await store.add_domain("example.test")
    service = Service(config, store, None, make_authenticator(config, store))
    web = await web_server.start(service, Listener("https", "http", "127.0.0.1", 0, "implicit"))
    resolver = StaticResolver(
        {("mta-sts.example.test", "A"): ["127.0.0.1"], ("mta-sts.other.test", "A"): ["127.0.0.1"]}
    )
    try:
        context = verified_context(ca.cert_file)
        policy = await fetch_policy("example.test", resolver, context, port=web.port)
        assert (policy.mode, policy.mx, policy.max_age) == (
            Mode.ENFORCE,
            ("mail.example.test",),
            86400,
        )
        assert policy.matches("mail.example.test")
        # A name on the certificate that is not a domain of ours: 404, so no policy.
        with pytest.raises(StsError, match="HTTP status 404"):
            await fetch_policy("other.test", resolver, context, port=web.port)
    finally:
        web.close()
        await web.wait_closed()
        await store.close()
