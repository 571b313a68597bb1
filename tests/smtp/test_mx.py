"""The MX listener over real sockets: smtplib and raw bytes against a real store."""

from __future__ import annotations

import asyncio
import smtplib
from dataclasses import replace

import pytest

from postbus.config import Listener
from postbus.smtp import codes, policy
from postbus.smtp.mx import MxHandler
from postbus.smtp.queue import list_queue
from postbus.smtp.server import start_listener
from tests.smtp.conftest import ALICE, BOB, HOSTNAME, MAX_LINE, MAX_SIZE, SmtpEnv, Wire

MESSAGE = (
    b"From: Sender <sender@remote.test>\r\n"
    b"To: Alice <alice@example.test>\r\n"
    b"Subject: hello\r\n"
    b"Message-ID: <m1@remote.test>\r\n"
    b"\r\n"
    b"Hi Alice,\r\n.leading dot survives\r\n"
)


async def test_delivers_into_inbox_with_trace_fields(smtp_env: SmtpEnv) -> None:
    def send() -> dict[str, tuple[int, bytes]]:
        with smtp_env.mx() as client:
            return client.sendmail("sender@remote.test", [ALICE], MESSAGE)

    assert await smtp_env.run(send) == {}
    [body] = await smtp_env.inbox(ALICE)
    assert body.startswith(b"Return-Path: <sender@remote.test>\r\nAuthentication-Results: ")
    assert b"spf=none" in body and b"\r\nReceived: from client.test " in body
    assert f"by {HOSTNAME} (postbus) with ESMTP id ".encode() in body
    assert b"for <alice@example.test>;" in body
    assert body.endswith(MESSAGE)  # byte for byte, dot-unstuffed


async def test_starttls_and_utf8(smtp_env: SmtpEnv) -> None:
    message = "Subject: groet\r\n\r\nCafé ☕\r\n".encode()

    def send() -> None:
        with smtp_env.mx() as client:
            client.starttls(context=smtp_env.tls())
            client.ehlo()
            client.sendmail("sender@remote.test", [ALICE], message,
                            mail_options=["SMTPUTF8", "BODY=8BITMIME"])  # fmt: skip

    await smtp_env.run(send)
    [body] = await smtp_env.inbox(ALICE)
    assert b" with UTF8SMTPS id " in body
    assert body.endswith(message)


async def test_ehlo_advertises_extensions_but_no_auth(smtp_env: SmtpEnv) -> None:
    wire = await Wire.open(smtp_env.ports["mx"], ehlo=False)
    ehlo = await wire.command("EHLO client.test")
    for extension in ("SIZE 65536", "8BITMIME", "SMTPUTF8", "STARTTLS", "PIPELINING",
                      "ENHANCEDSTATUSCODES"):  # fmt: skip
        assert f"250-{extension}" in ehlo.splitlines() or f"250 {extension}" in ehlo
    assert "AUTH" not in ehlo
    assert (await wire.command("AUTH PLAIN AGFsaWNlAHg=")).startswith("503 5.5.1")
    await wire.close()


async def test_plus_address_files_into_named_folder(smtp_env: SmtpEnv) -> None:
    await smtp_env.store.create_mailbox(smtp_env.accounts[ALICE], "Receipts")

    def send() -> None:
        with smtp_env.mx() as client:
            client.sendmail("shop@remote.test", ["alice+receipts@example.test"], MESSAGE)

    await smtp_env.run(send)
    assert len(await smtp_env.inbox(ALICE, "Receipts")) == 1
    assert await smtp_env.inbox(ALICE) == []


@pytest.mark.parametrize(
    ("rcpt", "reply"),
    [
        ("<nobody@example.test>", "550 5.1.1"),  # our domain, no such user
        ("<someone@remote.test>", "550 5.7.1"),  # not ours: no relaying
        ("<alice@[127.0.0.1]>", "550 5.7.1"),  # address literal: not a domain of ours
        ("<someone%remote.test@example.test>", "550 5.7.1"),  # the percent hack
        ("<remote.test!someone@example.test>", "550 5.7.1"),  # UUCP bang path
        ('<"someone@remote.test"@example.test>', "550 5.7.1"),  # quoted local part
        ('<"alice"@example.test>', "250 2.1.5"),  # needless quotes: alice (RFC 5321 §4.1.2)
        ("<@example.test:someone@remote.test>", "550 5.7.1"),  # source route to elsewhere
        ("<@a.test,@example.test:someone@remote.test>", "550 5.7.1"),
        ("<someone@remote.test@example.test>", "553 5.1.3"),  # not an address at all
        ("<alice@example.test.>", "553 5.1.3"),  # RFC 5321 §4.1.2: no trailing dot
        ("<@remote.test:alice@example.test>", "250 2.1.5"),  # route ignored (RFC 5321 §C)
    ],
)
async def test_recipient_checks_and_relay_tricks(smtp_env: SmtpEnv, rcpt: str, reply: str) -> None:
    wire = await Wire.open(smtp_env.ports["mx"])
    assert (await wire.command("MAIL FROM:<sender@remote.test>")).startswith("250 2.1.0")
    assert (await wire.command(f"RCPT TO:{rcpt}")).startswith(reply)
    # The session goes on: a good recipient still works.
    assert (await wire.command(f"RCPT TO:<{ALICE}>")).startswith("250")
    assert (await wire.command("QUIT")).startswith("221")
    await wire.close()


async def test_refused_relay_never_delivers_anywhere(smtp_env: SmtpEnv) -> None:
    def send() -> None:
        with smtp_env.mx() as client:
            client.sendmail("x@remote.test", ["someone%remote.test@example.test"], MESSAGE)

    with pytest.raises(smtplib.SMTPRecipientsRefused):
        await smtp_env.run(send)
    assert await smtp_env.inbox(ALICE) == []


@pytest.mark.parametrize(
    ("line", "reply"),
    [
        ("FOO bar", "500 5.5.1"),
        ("MAIL FROM:<a@b@remote.test>", "553 5.1.3"),
        ("MAIL FROM:a@", "553 5.1.3"),
        ("MAIL FROM:", "501 5.5.4"),
        ("MAIL TO:<sender@remote.test>", "501 5.5.4"),
        ("RCPT TO:<alice@example.test>", "503 5.5.1"),  # no MAIL yet
        ("DATA", "503 5.5.1"),
        ("MAIL FROM:<a@remote.test> FROB=1", "555 5.5.4"),
        ("MAIL FROM:<a@remote.test> SIZE=abc", "501 5.5.4"),
        ("EXPN staff", "502 5.5.1"),
        ("VRFY alice", "252 2.0.0"),
        ("HELO", "501"),
        ("\xff\xfe", "500 5.5.2"),
    ],
)
async def test_malformed_commands_get_errors_and_the_session_goes_on(
    smtp_env: SmtpEnv, line: str, reply: str
) -> None:
    wire = await Wire.open(smtp_env.ports["mx"])
    assert (await wire.command(line.encode("latin-1"))).startswith(reply)
    assert (await wire.command("NOOP")).startswith("250")
    assert (await wire.command("MAIL FROM:<sender@remote.test>")).startswith("250")
    await wire.close()


async def test_size_limit(smtp_env: SmtpEnv) -> None:
    wire = await Wire.open(smtp_env.ports["mx"])
    reply = await wire.command(f"MAIL FROM:<s@remote.test> SIZE={MAX_SIZE + 1}")
    assert reply.startswith("552 5.3.4")
    assert (await wire.command("MAIL FROM:<s@remote.test>")).startswith("250")
    assert (await wire.command(f"RCPT TO:<{ALICE}>")).startswith("250")
    assert (await wire.command("DATA")).startswith("354")
    line = b"x" * 900 + b"\r\n"
    await wire.send(b"Subject: big\r\n\r\n" + line * (MAX_SIZE // len(line) + 2))
    assert (await wire.command(".")).startswith("552 5.3.4")
    assert (await wire.command("NOOP")).startswith("250")
    await wire.close()
    assert await smtp_env.inbox(ALICE) == []


async def test_line_length_limit(smtp_env: SmtpEnv) -> None:
    wire = await Wire.open(smtp_env.ports["mx"])
    assert (await wire.command("NOOP " + "x" * (MAX_LINE + 10))).startswith("500 5.5.2")
    assert (await wire.command("MAIL FROM:<s@remote.test>")).startswith("250")
    assert (await wire.command(f"RCPT TO:<{ALICE}>")).startswith("250")
    assert (await wire.command("DATA")).startswith("354")
    await wire.send(b"Subject: long\r\n\r\n" + b"y" * (MAX_LINE + 50) + b"\r\nshort\r\n")
    assert (await wire.command(".")).startswith("500 5.5.2")
    assert (await wire.command("NOOP")).startswith("250")
    await wire.close()
    assert await smtp_env.inbox(ALICE) == []


async def test_too_many_recipients(smtp_env: SmtpEnv) -> None:
    wire = await Wire.open(smtp_env.ports["mx"])
    limit = smtp_env.service.config.limits.max_recipients
    commands = b"MAIL FROM:<s@remote.test>\r\n" + b"RCPT TO:<alice@example.test>\r\n" * (limit + 1)
    await wire.send(commands)  # pipelined (RFC 2920)
    replies = [await wire.reply() for _ in range(limit + 2)]
    assert all(r.startswith("250") for r in replies[:-1])
    assert replies[-1].startswith("452 4.5.3")
    await wire.close()


async def test_quota_at_rcpt_and_at_data(smtp_env: SmtpEnv) -> None:
    store, bob = smtp_env.store, smtp_env.accounts[BOB]
    big = b"Subject: big\r\n\r\n" + (b"z" * 98 + b"\r\n") * 50

    def send(rcpts: list[str], message: bytes) -> dict[str, tuple[int, bytes]]:
        with smtp_env.mx() as client:
            return client.sendmail("s@remote.test", rcpts, message)

    async def data(rcpts: list[str]) -> str:
        wire = await Wire.open(smtp_env.ports["mx"])
        assert (await wire.command("MAIL FROM:<s@remote.test>")).startswith("250")  # no SIZE
        for rcpt in rcpts:
            assert (await wire.command(f"RCPT TO:<{rcpt}>")).startswith("250")
        assert (await wire.command("DATA")).startswith("354")
        reply = await wire.command(big + b".")
        await wire.close()
        return reply

    # One recipient, too big for the mailbox: 552 5.2.2 after DATA.
    assert (await data([BOB])).startswith("552 5.2.2")
    assert await list_queue(store) == []  # a refusal in the reply needs no bounce
    # Two recipients, one full: accepted for the other (documented in policy.delivery_reply),
    # and a bounce for the full one to the (remote) sender, queued before the 250.
    assert (await data([ALICE, BOB])).startswith("250 2.0.0")
    assert len(await smtp_env.inbox(ALICE)) == 1 and await smtp_env.inbox(BOB) == []
    [notice] = await list_queue(store)
    assert (notice.envelope_from, notice.recipient) == ("", "s@remote.test")  # RFC 5321 §4.5.5
    report = await store.read_blob(notice.blob_hash)
    assert b"Content-Type: multipart/report; report-type=delivery-status" in report
    assert b"Final-Recipient: rfc822; bob@example.test\r\nAction: failed\r\n" in report
    assert b"Status: 5.2.2\r\nDiagnostic-Code: smtp; 552 5.2.2 Mailbox full" in report
    assert b"\r\nSubject: big\r\n" in report  # the original header comes back, not the body
    assert b"z" * 98 not in report
    # smtplib declares SIZE: the full mailbox is refused at RCPT, the other one gets it.
    refused = await smtp_env.run(send, [ALICE, BOB], big)
    assert refused == {BOB: (552, b"5.2.2 Mailbox full")}
    assert len(await smtp_env.inbox(ALICE)) == 2
    # A declared SIZE over the free space is refused at RCPT.
    wire = await Wire.open(smtp_env.ports["mx"])
    assert (await wire.command("MAIL FROM:<s@remote.test> SIZE=5000")).startswith("250")
    assert (await wire.command(f"RCPT TO:<{BOB}>")).startswith("552 5.2.2")
    await wire.close()
    # Already full: refused at RCPT whatever the size.
    await store.update_account(bob, quota_bytes=10**6)
    assert await smtp_env.run(send, [BOB], b"Subject: s\r\n\r\nx\r\n") == {}
    await store.update_account(bob, quota_bytes=(await store.get_account(bob)).used_bytes)
    wire = await Wire.open(smtp_env.ports["mx"])
    assert (await wire.command("MAIL FROM:<s@remote.test>")).startswith("250")
    assert (await wire.command(f"RCPT TO:<{BOB}>")).startswith("552 5.2.2")
    await wire.close()


async def test_connections_per_ip_refused_at_connect(smtp_env: SmtpEnv) -> None:
    per_ip = smtp_env.service.config.limits.connections_per_ip
    wires = [await Wire.open(smtp_env.ports["mx"], ehlo=False) for _ in range(per_ip)]
    reader, writer = await asyncio.open_connection("127.0.0.1", smtp_env.ports["mx"])
    assert (await reader.readline()).startswith(b"421 4.7.0")
    assert await reader.read() == b""  # closed
    writer.close()
    await wires[0].command("QUIT")
    await wires[0].close()
    await asyncio.sleep(0.05)
    again = await Wire.open(smtp_env.ports["mx"])  # a slot is free again
    for wire in [*wires[1:], again]:
        await wire.close()


async def test_message_rate_per_ip(smtp_env: SmtpEnv) -> None:
    ctx = smtp_env.context(rate=policy.RateLimiter(2))
    port = await smtp_env.start("rated", MxHandler(ctx))
    wire = await Wire.open(port)
    for _ in range(2):
        assert (await wire.command("MAIL FROM:<s@remote.test>")).startswith("250")
        assert (await wire.command("RSET")).startswith("250")
    assert (await wire.command("MAIL FROM:<s@remote.test>")).startswith("451 4.7.1")
    assert (await wire.command("NOOP")).startswith("250")  # answered, not dropped
    await wire.close()


async def test_starttls_injection_is_discarded(smtp_env: SmtpEnv) -> None:
    """CVE-2011-0411 class: commands pipelined after STARTTLS in the same packet are dropped."""
    wire = await Wire.open(smtp_env.ports["mx"])
    await wire.send(
        b"STARTTLS\r\nMAIL FROM:<injected@remote.test>\r\nRCPT TO:<alice@example.test>\r\n"
    )
    assert (await wire.reply()).startswith("220")
    await wire.writer.start_tls(smtp_env.tls(), server_hostname=HOSTNAME)
    assert (await wire.command("EHLO client.test")).startswith("250")
    # Had the injected MAIL run, this would be "503 nested MAIL".
    assert (await wire.command("MAIL FROM:<real@remote.test>")).startswith("250")
    assert (await wire.command("DATA")).startswith("503")  # and no injected RCPT either
    await wire.close()


async def test_inbound_verdicts(smtp_env: SmtpEnv) -> None:
    class Verdict:
        def __init__(self, action: str) -> None:
            self.action = action
            self.authentication_results = f"{HOSTNAME}; spf=pass smtp.mailfrom=remote.test"
            self.reason = "DMARC policy of remote.test says reject"

    seen: list[tuple[bytes, str, str, str]] = []

    async def checker(
        message: bytes, mail_from: str, helo: str, ip: str, resolver: object, hostname: str
    ) -> Verdict:
        seen.append((message, mail_from, helo, ip))
        return Verdict(message.split(b"Subject: ")[1].split(b"\r\n")[0].decode())

    port = await smtp_env.start("checked", MxHandler(smtp_env.context(checker=checker)))

    def send(action: str) -> None:
        with smtplib.SMTP("127.0.0.1", port, local_hostname="client.test") as client:
            client.sendmail("s@remote.test", [ALICE], f"Subject: {action}\r\n\r\nx\r\n")

    await smtp_env.run(send, "accept")
    await smtp_env.run(send, "junk")
    with pytest.raises(smtplib.SMTPDataError) as refused:
        await smtp_env.run(send, "reject")
    assert refused.value.smtp_code == 550
    assert refused.value.smtp_error == b"5.7.1 DMARC policy of remote.test says reject"
    [inbox] = await smtp_env.inbox(ALICE)
    [junk] = await smtp_env.inbox(ALICE, "Junk")
    for body in (inbox, junk):
        assert body.split(b"\r\n")[1] == (
            f"Authentication-Results: {HOSTNAME}; spf=pass smtp.mailfrom=remote.test".encode()
        )
    assert seen[0] == (b"Subject: accept\r\n\r\nx\r\n", "s@remote.test", "client.test", "127.0.0.1")


async def test_a_broken_checker_accepts(smtp_env: SmtpEnv) -> None:
    async def checker(*args: object) -> object:
        raise RuntimeError("bug")

    port = await smtp_env.start("broken", MxHandler(smtp_env.context(checker=checker)))

    def send() -> None:
        with smtplib.SMTP("127.0.0.1", port) as client:
            client.sendmail("s@remote.test", [ALICE], MESSAGE)

    await smtp_env.run(send)
    assert len(await smtp_env.inbox(ALICE)) == 1


async def test_null_sender_and_helo(smtp_env: SmtpEnv) -> None:
    wire = await Wire.open(smtp_env.ports["mx"], ehlo=False)
    assert (await wire.command("HELO client.test")).startswith("250")
    assert (await wire.command("MAIL FROM:<>")).startswith("250")
    assert (await wire.command(f"RCPT TO:<{ALICE}>")).startswith("250")
    assert (await wire.command("DATA")).startswith("354")
    assert (await wire.command(b"Subject: bounce\r\n\r\nx\r\n.")).startswith("250 2.0.0")
    await wire.close()
    [body] = await smtp_env.inbox(ALICE)
    assert body.startswith(b"Return-Path: <>\r\nAuthentication-Results: ")
    assert b"\r\nReceived: from client.test ([127.0.0.1])" in body
    assert b" with SMTP id " in body


async def test_tls_handshake_garbage_does_not_kill_the_listener(smtp_env: SmtpEnv) -> None:
    wire = await Wire.open(smtp_env.ports["mx"])
    assert (await wire.command("STARTTLS")).startswith("220")
    await wire.send(b"this is not a TLS client hello\r\n" * 4)
    await wire.close()
    again = await Wire.open(smtp_env.ports["mx"])
    assert (await again.command("NOOP")).startswith("250")
    await again.close()


async def test_commands_per_second(smtp_env: SmtpEnv) -> None:
    """A client that keeps going past limits.commands_per_second gets 421 4.7.0 and is closed;
    the message it had been answered 250 for is in the mailbox."""
    config = smtp_env.service.config
    paced = replace(smtp_env.service, config=replace(
        config, limits=replace(config.limits, commands_per_second=5)))  # fmt: skip
    listener = Listener("paced", "smtp-mx", "127.0.0.1", 0, "none")
    server = await start_listener(paced, listener, MxHandler(smtp_env.context()))
    smtp_env.servers.append(server)
    wire = await Wire.open(server.sockets[0].getsockname()[1])  # EHLO: 1 of the 5
    # MAIL, RCPT, DATA, the message: 3 more commands, answered; the message is stored.
    await wire.send(b"MAIL FROM:<s@remote.test>\r\nRCPT TO:<alice@example.test>\r\nDATA\r\n")
    assert [(await wire.reply())[:3] for _ in range(3)] == ["250", "250", "354"]
    assert (await wire.command(b"Subject: paced\r\n\r\nhi\r\n.")).startswith("250 2.0.0")
    # A burst past the rate: what is left in the bucket (about one), then 421 and the end.
    await wire.send(b"NOOP\r\n" * 20)
    replies = [await wire.reply()]
    while replies[-1].startswith("250"):
        replies.append(await wire.reply())
    assert replies[-1] == str(codes.TOO_MANY_COMMANDS) and len(replies) < 6
    assert await asyncio.wait_for(wire.reader.read(), 10) == b""
    await wire.close()
    [body] = await smtp_env.inbox(ALICE)
    assert body.endswith(b"Subject: paced\r\n\r\nhi\r\n")
    # A client at a steady pace under the rate is never refused.
    wire = await Wire.open(server.sockets[0].getsockname()[1])
    for _ in range(8):
        await asyncio.sleep(0.25)
        assert (await wire.command("NOOP")).startswith("250")
    await wire.close()
