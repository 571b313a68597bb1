"""SMTP smuggling (CVE-2023-51764 / -51765 / -51766 class, SEC Consult 2023).

An attacker hides a second transaction after an end-of-data sequence that some server reads
as the end (``\\n.\\n``, ``\\r.\\r`` ...) and we must not. DATA ends only at CRLF.CRLF, and a
bare CR or LF anywhere in the data refuses the whole message (550 5.5.2, as Postfix's
smtpd_forbid_bare_newline answers), so nothing is delivered and no smuggled command runs.
Each payload is sent whole and then one byte per write.
"""

from __future__ import annotations

import asyncio
import contextlib

import pytest

from tests.smtp.conftest import ALICE, PASSWORD, SmtpEnv, Wire

SMUGGLED = (
    b"MAIL FROM:<ceo@example.test>\r\n"
    b"RCPT TO:<alice@example.test>\r\n"
    b"DATA\r\n"
    b"From: ceo@example.test\r\nSubject: smuggled\r\n\r\nwire the money\r\n"
)
SEPARATORS = [
    b"\n.\n",
    b"\n.\r\n",
    b"\r\n.\n",
    b"\r.\r",
    b"\r.\r\n",
    b"\r\n.\r",
    b"\n.\r",
    b"\r\n\n.\r\n",  # bare LF before a proper dot line
    b"\r\r\n.\r\n",  # bare CR before a proper dot line
]
CLEAN = b"From: attacker@remote.test\r\nSubject: first\r\n\r\nhello\r\n"


async def _attempt(wire: Wire, data: bytes, *, bytewise: bool) -> str:
    assert (await wire.command("MAIL FROM:<attacker@remote.test>")).startswith("250")
    assert (await wire.command(f"RCPT TO:<{ALICE}>")).startswith("250")
    assert (await wire.command("DATA")).startswith("354")
    payload = data + b".\r\n"
    if bytewise:
        for i in range(len(payload)):
            await wire.send(payload[i : i + 1])
    else:
        await wire.send(payload)
    return await wire.reply()


@pytest.mark.parametrize("bytewise", [False, True], ids=["whole", "bytewise"])
@pytest.mark.parametrize("separator", SEPARATORS, ids=repr)
async def test_smuggling_payload_is_refused(
    smtp_env: SmtpEnv, separator: bytes, bytewise: bool
) -> None:
    wire = await Wire.open(smtp_env.ports["mx"])
    data = CLEAN.rstrip(b"\r\n") + separator + SMUGGLED
    assert (await _attempt(wire, data, bytewise=bytewise)).startswith("550 5.5.2")
    # The next reply belongs to our NOOP: no smuggled command was answered.
    assert (await wire.command("NOOP")).startswith("250")
    await wire.close()
    assert await smtp_env.inbox(ALICE) == []


@pytest.mark.parametrize(
    "data",
    [
        b"Subject: x\nBcc: y@example.test\r\n\r\nbody\r\n",  # bare LF in the header
        b"Subject: x\r\n\r\nbo\rdy\r\n",  # bare CR in the body
        b"Subject: x\r\n\r\nbody\n\r\n",  # bare LF just before the end
    ],
)
async def test_any_bare_newline_is_refused(smtp_env: SmtpEnv, data: bytes) -> None:
    wire = await Wire.open(smtp_env.ports["mx"])
    assert (await _attempt(wire, data, bytewise=False)).startswith("550 5.5.2")
    await wire.close()
    assert await smtp_env.inbox(ALICE) == []


async def test_null_before_dot_is_one_message(smtp_env: SmtpEnv) -> None:
    """``\\r\\n\\x00.\\r\\n`` is no end of data: the whole text is one message, nothing smuggled."""
    wire = await Wire.open(smtp_env.ports["mx"])
    data = CLEAN + b"\x00.\r\n" + SMUGGLED
    assert (await _attempt(wire, data, bytewise=False)).startswith("250 2.0.0")
    assert (await wire.command("NOOP")).startswith("250")
    await wire.close()
    [body] = await smtp_env.inbox(ALICE)
    assert body.endswith(data)


async def test_submission_refuses_bare_newlines_too(smtp_env: SmtpEnv) -> None:
    def send() -> tuple[int, bytes]:
        with smtp_env.submission() as client:
            client.mail(ALICE)
            client.rcpt(ALICE)
            return client.data(b"From: alice@example.test\r\n\r\nhi\n.\nRSET\r\n")

    assert PASSWORD
    code, text = await smtp_env.run(send)
    assert (code, text[:5]) == (550, b"5.5.2")
    assert await smtp_env.inbox(ALICE) == []


# -- command lines (Postfix's smtpd_forbid_bare_newline = yes) ---------------------------------

BARE_COMMANDS = [
    (b"NOOP\n", "500 5.5.2 Error: bare <LF> received"),
    (b"MAIL FROM:<a@remote.test>\n", "500 5.5.2 Error: bare <LF> received"),
    (b"NOOP\nRSET\r\n", "500 5.5.2 Error: bare <LF> received"),
    (b"NOOP\rRSET\r\n", "500 5.5.2 Error: bare <CR> received"),
    (b"MAIL FROM:<a@remote.test>\r\r\n", "500 5.5.2 Error: bare <CR> received"),
    # past the line limit, where aiosmtpd reads the line in pieces
    (b"NOOP " + b"x" * 1200 + b"\n", "500 5.5.2 Error: bare <LF> received"),
    (b"NOOP " + b"x" * 1200 + b"\r\r\n", "500 5.5.2 Error: bare <CR> received"),
    (b"NOOP " + b"x" * 3000 + b"\rx\r\n", "500 5.5.2 Error: bare <CR> received"),
]


@pytest.mark.parametrize("bytewise", [False, True], ids=["whole", "bytewise"])
@pytest.mark.parametrize(("line", "reply"), BARE_COMMANDS, ids=lambda v: repr(v)[-24:])
async def test_bare_newline_in_a_command_closes(
    smtp_env: SmtpEnv, line: bytes, reply: str, bytewise: bool
) -> None:
    """One reply, then the connection is closed, as Postfix does: nothing after it is read."""
    wire = await Wire.open(smtp_env.ports["mx"])
    payload = line + b"MAIL FROM:<ceo@example.test>\r\n"
    # Once the server has closed, a write may meet a reset: that is the closing we expect.
    with contextlib.suppress(ConnectionError):
        if bytewise:
            for i in range(len(payload)):
                await wire.send(payload[i : i + 1])
        else:
            await wire.send(payload)
    assert await wire.reply() == reply
    assert await _closed(wire)  # and no reply to the MAIL after it
    await wire.close()


async def _closed(wire: Wire) -> bool:
    try:
        return await asyncio.wait_for(wire.reader.read(), 10) == b""
    except ConnectionError:
        return True


async def test_bare_lf_in_a_smuggled_transaction_delivers_nothing(smtp_env: SmtpEnv) -> None:
    wire = await Wire.open(smtp_env.ports["mx"])
    await wire.send(b"MAIL FROM:<ceo@example.test>\nRCPT TO:<alice@example.test>\nDATA\n")
    assert (await wire.reply()).startswith("500 5.5.2")
    assert await _closed(wire)
    await wire.close()
    assert await smtp_env.inbox(ALICE) == []


async def test_bare_lf_in_an_auth_response_closes(smtp_env: SmtpEnv) -> None:
    wire = await Wire.open(smtp_env.ports["submission"], ehlo=False)
    assert (await wire.command("EHLO client.test")).startswith("250")
    await wire.send(b"STARTTLS\r\n")
    assert (await wire.reply()).startswith("220")
    await wire.writer.start_tls(smtp_env.tls(), server_hostname="mx.example.test")
    assert (await wire.command("EHLO client.test")).startswith("250")
    assert (await wire.command("AUTH LOGIN")).startswith("334")
    await wire.send(b"YWxpY2VAZXhhbXBsZS50ZXN0\n")
    assert (await wire.reply()).startswith("500 5.5.2 Error: bare <LF> received")
    assert await _closed(wire)
    await wire.close()


async def test_crlf_commands_byte_by_byte_still_work(smtp_env: SmtpEnv) -> None:
    wire = await Wire.open(smtp_env.ports["mx"])
    for byte in b"NOOP\r\n":
        await wire.send(bytes([byte]))
    assert (await wire.reply()).startswith("250")
    await wire.close()
