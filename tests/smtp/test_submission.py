"""Submission (587 STARTTLS, 465 implicit TLS) over real sockets with smtplib."""

from __future__ import annotations

import base64
import smtplib

import pytest

from postbus.config import Listener
from postbus.smtp.server import start_listener
from postbus.smtp.submission import SubmissionHandler
from tests.smtp.conftest import ALICE, BOB, DOMAIN, PASSWORD, SmtpEnv, Wire

MESSAGE = (
    b"From: Alice <alice@example.test>\r\nTo: bob@example.test\r\nSubject: hi\r\n\r\nHi Bob\r\n"
)


def _b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


async def test_auth_and_mail_before_starttls_are_refused(smtp_env: SmtpEnv) -> None:
    wire = await Wire.open(smtp_env.ports["submission"], ehlo=False)
    ehlo = await wire.command("EHLO client.test")
    assert "250-STARTTLS" in ehlo.splitlines() and "AUTH" not in ehlo
    plain = _b64(f"\0{ALICE}\0{PASSWORD}")
    reply = await wire.command(f"AUTH PLAIN {plain}")
    assert reply == "530 5.7.0 Must issue a STARTTLS command first"
    assert (await wire.command(f"MAIL FROM:<{ALICE}>")).startswith("530 5.7.0")
    assert (await wire.command("NOOP")).startswith("250")
    await wire.close()


async def test_wrong_password_and_unknown_user_get_535(smtp_env: SmtpEnv) -> None:
    for login, password in ((ALICE, "wrong"), (f"nobody@{DOMAIN}", PASSWORD)):
        with pytest.raises(smtplib.SMTPAuthenticationError) as failed:
            await smtp_env.run(smtp_env.submission, login, password)
        assert failed.value.smtp_code == 535
        assert failed.value.smtp_error == b"5.7.8 Authentication credentials invalid"


async def test_repeated_failures_are_blocked_with_454(smtp_env: SmtpEnv) -> None:
    per_ip = smtp_env.service.config.limits.failed_logins_per_ip

    def attempts() -> list[tuple[int, bytes]]:
        with smtp_env.submission(login=None) as client:
            wrong = _b64(f"\0{ALICE}\0wrong")
            return [client.docmd("AUTH", f"PLAIN {wrong}") for _ in range(per_ip + 1)]

    replies = await smtp_env.run(attempts)
    assert [code for code, _ in replies] == [535] * per_ip + [454]
    assert replies[-1][1].startswith(b"4.7.0 ")
    # Blocked even with the right password, until the window has passed.
    with pytest.raises(smtplib.SMTPAuthenticationError) as blocked:
        await smtp_env.run(smtp_env.submission, ALICE, PASSWORD)
    assert blocked.value.smtp_code == 454


async def test_auth_login_and_mail_before_auth(smtp_env: SmtpEnv) -> None:
    def session() -> list[tuple[int, bytes]]:
        with smtp_env.submission(login=None) as client:
            replies = [client.mail(ALICE)]
            replies.append(client.docmd("AUTH", "LOGIN"))
            replies.append(client.docmd(_b64(ALICE)))
            replies.append(client.docmd(_b64(PASSWORD)))
            replies.append(client.mail(ALICE))
            return replies

    mail_before, challenge1, challenge2, done, mail_after = await smtp_env.run(session)
    assert mail_before == (530, b"5.7.0 Authentication required")
    assert challenge1 == (334, base64.b64encode(b"User Name\0"))
    assert challenge2 == (334, base64.b64encode(b"Password\0"))
    assert done == (235, b"2.7.0 Authentication successful")
    assert mail_after[0] == 250


async def test_sends_locally_with_one_sent_copy(smtp_env: SmtpEnv) -> None:
    def send() -> dict[str, tuple[int, bytes]]:
        with smtp_env.submission() as client:
            return client.sendmail(ALICE, [BOB, ALICE], MESSAGE)

    assert await smtp_env.run(send) == {}
    [to_bob] = await smtp_env.inbox(BOB)
    assert to_bob.startswith(b"Return-Path: <alice@example.test>\r\nReceived: from client.test")
    assert b" with ESMTPSA id " in to_bob
    assert b"\r\nMessage-ID: <" in to_bob and b"\r\nDate: " in to_bob
    assert to_bob.endswith(MESSAGE)
    assert len(await smtp_env.inbox(ALICE)) == 1  # she wrote to herself too
    alice = smtp_env.accounts[ALICE]
    sent = await smtp_env.store.get_mailbox(alice, "Sent")
    [summary] = await smtp_env.store.newest(alice, sent.id, 10, None)
    assert "\\Seen" in summary.flags
    copy = await smtp_env.store.read_body(alice, summary.message_id)
    assert b"\r\nDate: " in copy and b"Received:" not in copy and copy.endswith(MESSAGE)


async def test_save_sent_off(smtp_env: SmtpEnv) -> None:
    await smtp_env.store.set_setting(smtp_env.accounts[ALICE], "smtp.save_sent", "off")

    def send() -> None:
        with smtp_env.submission() as client:
            client.sendmail(ALICE, [BOB], MESSAGE)

    await smtp_env.run(send)
    assert len(await smtp_env.inbox(BOB)) == 1
    assert await smtp_env.inbox(ALICE, "Sent") == []


@pytest.mark.parametrize(
    "sender", ["alice@example.test", "ALICE@Example.Test", "a.lias@example.test",
               "alice+news@example.test"],
)  # fmt: skip
async def test_own_addresses_may_send(smtp_env: SmtpEnv, sender: str) -> None:
    def send() -> dict[str, tuple[int, bytes]]:
        with smtp_env.submission() as client:
            message = f"From: {sender}\r\nSubject: hi\r\n\r\nHi\r\n".encode()
            return client.sendmail(sender, [BOB], message)

    assert await smtp_env.run(send) == {}


@pytest.mark.parametrize("sender", ["bob@example.test", "ceo@remote.test", "<>"])
async def test_foreign_envelope_sender_is_refused(smtp_env: SmtpEnv, sender: str) -> None:
    def mail() -> tuple[int, bytes]:
        with smtp_env.submission() as client:
            return client.mail(sender) if sender != "<>" else client.docmd("MAIL FROM:<>")

    assert await smtp_env.run(mail) == (553, b"5.7.1 Sender address is not one of your addresses")


@pytest.mark.parametrize(
    "from_field",
    [
        b"From: Bob <bob@example.test>",
        b'From: "alice@example.test" <mallory@remote.test>',  # display-name spoof
        b"From: alice@example.test, bob@example.test",  # one of two not hers
        b"From: alice@example.test\r\nFrom: bob@example.test",  # a second From field
        b"Sender: alice@example.test",  # no From at all
    ],
)
async def test_from_header_spoofing_is_refused(smtp_env: SmtpEnv, from_field: bytes) -> None:
    def send() -> tuple[int, bytes]:
        with smtp_env.submission() as client:
            client.mail(ALICE)
            client.rcpt(BOB)
            return client.data(from_field + b"\r\nSubject: x\r\n\r\nbody\r\n")

    assert await smtp_env.run(send) == (553, b"5.7.1 From header is not one of your addresses")
    assert await smtp_env.inbox(BOB) == []
    assert await smtp_env.inbox(ALICE, "Sent") == []


async def test_remote_recipients_go_to_the_queue(smtp_env: SmtpEnv) -> None:
    from postbus.smtp.queue import list_queue

    def send() -> dict[str, tuple[int, bytes]]:
        with smtp_env.submission() as client:
            return client.sendmail(ALICE, ["friend@remote.test", BOB], MESSAGE)

    assert await smtp_env.run(send) == {}
    [queued] = await list_queue(smtp_env.store)
    assert (queued.envelope_from, queued.recipient) == (ALICE, "friend@remote.test")
    body = await smtp_env.store.read_blob(queued.blob_hash)
    assert body.startswith(b"Received: from client.test") and body.endswith(MESSAGE)
    assert b"Return-Path" not in body  # the final delivery adds it (RFC 5321 §4.4)
    assert len(await smtp_env.inbox(BOB)) == 1
    assert len(await smtp_env.inbox(ALICE, "Sent")) == 1


async def test_implicit_tls_port(smtp_env: SmtpEnv) -> None:
    def send() -> dict[str, tuple[int, bytes]]:
        port = smtp_env.ports["submissions"]
        with smtplib.SMTP_SSL("127.0.0.1", port, context=smtp_env.tls()) as client:
            assert not client.has_extn("starttls")
            client.login(ALICE, PASSWORD)
            return client.sendmail(ALICE, [BOB], MESSAGE)

    assert await smtp_env.run(send) == {}
    [body] = await smtp_env.inbox(BOB)
    assert b" with ESMTPSA id " in body


async def test_loopback_listener_allows_plain_auth(smtp_env: SmtpEnv) -> None:
    listener = Listener("demo", "submission", "127.0.0.1", 0, "none")
    handler = SubmissionHandler(smtp_env.context("submission"))
    server = await start_listener(smtp_env.service, listener, handler)
    smtp_env.servers.append(server)
    port = server.sockets[0].getsockname()[1]

    def send() -> dict[str, tuple[int, bytes]]:
        with smtplib.SMTP("127.0.0.1", port) as client:
            client.login(ALICE, PASSWORD)
            return client.sendmail(ALICE, [BOB], MESSAGE)

    assert await smtp_env.run(send) == {}
    [body] = await smtp_env.inbox(BOB)
    assert b" with ESMTPA id " in body


async def test_auth_plain_edge_cases(smtp_env: SmtpEnv) -> None:
    def session() -> list[tuple[int, bytes]]:
        with smtp_env.submission(login=None) as client:
            return [
                client.docmd("AUTH", "PLAIN not-base64!"),
                client.docmd("AUTH", "PLAIN " + _b64(f"bob@{DOMAIN}\0{ALICE}\0{PASSWORD}")),
                client.docmd("AUTH", "CRAM-MD5"),
                client.docmd("AUTH", "PLAIN"),
                client.docmd("*"),  # RFC 4954 §4: the client cancels
                client.docmd("AUTH", "PLAIN " + _b64(f"\0{ALICE}\0{PASSWORD}")),
                client.docmd("AUTH", "PLAIN " + _b64(f"\0{ALICE}\0{PASSWORD}")),
            ]

    replies = await smtp_env.run(session)
    assert [code for code, _ in replies] == [501, 535, 504, 334, 501, 235, 503]


async def test_a_full_mailbox_at_data_bounces_to_the_local_sender(smtp_env: SmtpEnv) -> None:
    """No SIZE declared, so bob's full mailbox shows only at DATA: alice's own copy is stored,
    the reply is 250, and alice finds a DSN about bob in her INBOX (RFC 3464)."""
    big = MESSAGE + (b"z" * 98 + b"\r\n") * 50

    def send() -> tuple[int, bytes]:
        with smtp_env.submission() as client:
            client.mail(ALICE)  # no SIZE=: the quota is only known at DATA
            assert client.rcpt(ALICE)[0] == 250 and client.rcpt(BOB)[0] == 250
            return client.data(big)

    code, _ = await smtp_env.run(send)
    assert code == 250
    assert await smtp_env.inbox(BOB) == []
    copy, notice = await smtp_env.inbox(ALICE)
    assert copy.endswith(big)
    assert b"From: Mail Delivery System <MAILER-DAEMON@mx.example.test>" in notice
    assert b"Final-Recipient: rfc822; bob@example.test\r\nAction: failed\r\nStatus: 5.2.2" in notice
