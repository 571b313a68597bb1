"""swaks, the SMTP test client that mail administrators use, against the MX and submission."""

from __future__ import annotations

import asyncio
import os
import subprocess

import pytest

from tests.conftest import require_tool
from tests.smtp.conftest import ALICE, BOB, PASSWORD, SmtpEnv, smtp_env

__all__ = ["smtp_env"]  # the fixture, shared with tests/smtp


def require_swaks_tls() -> None:
    """swaks speaks TLS through Perl's Net::SSLeay (Debian libnet-ssleay-perl)."""
    require_tool("swaks")
    if subprocess.run(["perl", "-MNet::SSLeay", "-e1"], capture_output=True).returncode:
        if os.environ.get("CI"):
            pytest.fail("libnet-ssleay-perl is missing: scripts/test-setup installs it")
        pytest.skip("libnet-ssleay-perl is not installed (swaks needs it for TLS)")


async def swaks(*args: str) -> tuple[int, str]:
    if any(a in ("--tls", "--tls-on-connect") for a in args):
        require_swaks_tls()
    process = await asyncio.create_subprocess_exec(
        require_tool("swaks"), "--helo", "client.test", "--server", "127.0.0.1",
        "--timeout", "10", *args,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
    )  # fmt: skip
    out, _ = await asyncio.wait_for(process.communicate(), 30)
    return process.returncode or 0, out.decode("utf-8", "replace")


async def test_mx_delivery_with_pipelining(smtp_env: SmtpEnv) -> None:
    code, out = await swaks(
        "--port", str(smtp_env.ports["mx"]), "--from", "sender@remote.test", "--to", ALICE,
        "--header", "Subject: from swaks", "--body", "Hello from swaks", "--pipeline",
    )  # fmt: skip
    assert code == 0, out
    [body] = await smtp_env.inbox(ALICE)
    assert b"Subject: from swaks" in body and b"Hello from swaks" in body


async def test_mx_starttls(smtp_env: SmtpEnv) -> None:
    code, out = await swaks(
        "--port", str(smtp_env.ports["mx"]), "--from", "sender@remote.test", "--to", ALICE,
        "--tls",
    )  # fmt: skip
    assert code == 0, out
    [body] = await smtp_env.inbox(ALICE)
    assert b" with ESMTPS id " in body


@pytest.mark.parametrize(
    ("rcpt", "reply"),
    [
        ("nobody@example.test", "550 5.1.1"),
        ("someone@remote.test", "550 5.7.1"),
        ("someone%remote.test@example.test", "550 5.7.1"),
        ("remote.test!someone@example.test", "550 5.7.1"),
        ('"someone@remote.test"@example.test', "550 5.7.1"),
        ("@example.test:someone@remote.test", "550 5.7.1"),
    ],
)
async def test_mx_refuses_unknown_users_and_relaying(
    smtp_env: SmtpEnv, rcpt: str, reply: str
) -> None:
    code, out = await swaks(
        "--port", str(smtp_env.ports["mx"]), "--from", "spam@remote.test", "--to", rcpt,
    )  # fmt: skip
    assert code == 24, out  # swaks: no recipient accepted
    assert f"<** {reply}" in out
    assert await smtp_env.inbox(ALICE) == []


async def test_submission_with_auth_over_starttls(smtp_env: SmtpEnv) -> None:
    code, out = await swaks(
        "--port", str(smtp_env.ports["submission"]), "--tls", "--auth", "PLAIN",
        "--auth-user", ALICE, "--auth-password", PASSWORD,
        "--from", ALICE, "--to", BOB, "--header", f"From: {ALICE}",
    )  # fmt: skip
    assert code == 0, out
    assert len(await smtp_env.inbox(BOB)) == 1
    assert len(await smtp_env.inbox(ALICE, "Sent")) == 1


async def test_submission_implicit_tls_auth_login(smtp_env: SmtpEnv) -> None:
    code, out = await swaks(
        "--port", str(smtp_env.ports["submissions"]), "--tls-on-connect", "--auth", "LOGIN",
        "--auth-user", ALICE, "--auth-password", PASSWORD,
        "--from", ALICE, "--to", BOB, "--header", f"From: {ALICE}",
    )  # fmt: skip
    assert code == 0, out
    assert len(await smtp_env.inbox(BOB)) == 1


async def test_submission_wrong_password(smtp_env: SmtpEnv) -> None:
    code, out = await swaks(
        "--port", str(smtp_env.ports["submission"]), "--tls", "--auth", "PLAIN",
        "--auth-user", ALICE, "--auth-password", "wrong", "--from", ALICE, "--to", BOB,
    )  # fmt: skip
    assert code == 28, out  # swaks: authentication failed
    assert "* 535 5.7.8 Authentication credentials invalid" in out


async def test_submission_from_spoofing(smtp_env: SmtpEnv) -> None:
    code, out = await swaks(
        "--port", str(smtp_env.ports["submission"]), "--tls", "--auth", "PLAIN",
        "--auth-user", ALICE, "--auth-password", PASSWORD,
        "--from", ALICE, "--to", BOB, "--header", "From: The Boss <ceo@example.test>",
    )  # fmt: skip
    assert code == 26, out  # swaks: message refused after DATA
    assert "* 553 5.7.1 From header is not one of your addresses" in out
    assert await smtp_env.inbox(BOB) == []
