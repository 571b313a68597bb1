"""POP3 on real sockets: Python's poplib over STLS and implicit TLS, and raw lines on the wire."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import poplib
import ssl

import pytest

from postbus.store import flags as flagbits
from tests.pop3.conftest import ADDRESS, OTHER, PASSWORD, Pop3Env, message

DOTS = b"\r\n".join([b".leading dot", b".", b"..two dots", b"end", b""])


class Raw:
    """A line-level POP3 client for what poplib cannot say."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer

    @classmethod
    async def connect(cls, port: int, tls: ssl.SSLContext | None = None) -> Raw:
        reader, writer = await asyncio.open_connection(
            "127.0.0.1", port, ssl=tls, server_hostname="localhost" if tls else None
        )
        raw = cls(reader, writer)
        assert (await raw.line()).startswith(b"+OK")
        return raw

    async def line(self) -> bytes:
        return await asyncio.wait_for(self.reader.readline(), 10)

    async def send(self, data: bytes) -> None:
        self.writer.write(data)
        await self.writer.drain()

    async def cmd(self, text: str) -> bytes:
        await self.send(text.encode() + b"\r\n")
        return await self.line()

    async def body(self) -> list[bytes]:
        lines = []
        while (line := await self.line()) != b".\r\n":
            assert line, "connection closed inside a multi-line reply"
            lines.append(line)
        return lines

    async def starttls(self, tls: ssl.SSLContext) -> None:
        assert (await self.cmd("STLS")).startswith(b"+OK")
        await self.writer.start_tls(tls, server_hostname="localhost")

    async def login(self, address: str = ADDRESS, password: str = PASSWORD) -> bytes:
        assert (await self.cmd(f"USER {address}")).startswith(b"+OK")
        return await self.cmd(f"PASS {password}")

    async def close(self) -> None:
        self.writer.close()
        with contextlib.suppress(ConnectionError, ssl.SSLError):
            await self.writer.wait_closed()


def poplib_stls(env: Pop3Env) -> poplib.POP3:
    client = poplib.POP3("127.0.0.1", env.ports["pop3"], timeout=10)
    client.stls(env.client_tls)
    client.user(ADDRESS)
    client.pass_(PASSWORD)
    return client


def poplib_implicit(env: Pop3Env) -> poplib.POP3_SSL:
    client = poplib.POP3_SSL("127.0.0.1", env.ports["pop3s"], timeout=10, context=env.client_tls)
    client.user(ADDRESS)
    client.pass_(PASSWORD)
    return client


# -- poplib, both backends ---------------------------------------------------------------------


@pytest.mark.parametrize("connect", [poplib_stls, poplib_implicit])
async def test_retrieve_everything(pop3: Pop3Env, connect) -> None:
    big = b"x" * 998 + b"\r\n" + (b"y" * 70 + b"\r\n") * 2000
    sent = [message(1), message(2, DOTS), message(3, big)]
    for raw in sent:
        await pop3.deliver(raw)

    def session() -> tuple:
        client = connect(pop3)
        stat = client.stat()
        listing = client.list()[1]
        uidl = client.uidl()[1]
        retrieved = [client.retr(n) for n in (1, 2, 3)]
        top = client.top(2, 1)[1]
        client.quit()
        return stat, listing, uidl, retrieved, top

    stat, listing, uidl, retrieved, top = await asyncio.to_thread(session)
    assert stat == (3, sum(len(raw) for raw in sent))
    assert listing == [f"{n} {len(raw)}".encode() for n, raw in enumerate(sent, 1)]
    assert len({line.split()[1] for line in uidl}) == 3
    for raw, (_, lines, octets) in zip(sent, retrieved, strict=True):
        assert b"\r\n".join(lines) + b"\r\n" == raw  # dot-stuffing undone: the same bytes
        assert octets == len(raw)  # LIST's size is what RETR sends
    assert top[-2:] == [b"", b"This is message 2."]
    # RETR marks read for IMAP and webmail; nothing was deleted.
    flags = await pop3.store.uids_and_flags(pop3.account_id, pop3.inbox_id)
    assert len(flags) == 3 and all(mask & flagbits.SEEN for _, mask, _, _ in flags)


async def test_dele_rset_quit_commit(pop3: Pop3Env) -> None:
    uids = [(await pop3.deliver(message(n))).uid for n in range(1, 5)]

    def session() -> tuple:
        client = poplib_stls(pop3)
        client.dele(1)
        with pytest.raises(poplib.error_proto, match="already deleted"):
            client.retr(1)
        count_after_dele = client.stat()[0]
        client.rset()
        client.dele(2)
        client.dele(4)
        listing = client.list()[1]
        client.quit()
        return count_after_dele, listing

    count_after_dele, listing = await asyncio.to_thread(session)
    assert count_after_dele == 3
    assert [line.split()[0] for line in listing] == [b"1", b"3"]  # numbers never shift
    assert await pop3.inbox_uids() == [uids[0], uids[2]]
    box = await pop3.store.get_mailbox(pop3.account_id, "INBOX")
    assert box.message_count == 2


async def test_no_commit_without_quit(pop3: Pop3Env) -> None:
    """RFC 1939 §6: a dropped connection deletes nothing."""
    for n in range(1, 3):
        await pop3.deliver(message(n))
    raw = await Raw.connect(pop3.ports["pop3s"], pop3.client_tls)
    assert (await raw.login()).startswith(b"+OK")
    assert (await raw.cmd("DELE 1")).startswith(b"+OK")
    await raw.close()
    await asyncio.sleep(0.2)
    assert len(await pop3.inbox_uids()) == 2
    # and the lock went with the connection
    raw = await Raw.connect(pop3.ports["pop3s"], pop3.client_tls)
    assert (await raw.login()).startswith(b"+OK")
    await raw.close()


async def test_uidl_stable_across_sessions_and_moves(pop3: Pop3Env) -> None:
    for n in range(1, 4):
        await pop3.deliver(message(n))

    def uidls() -> list[bytes]:
        client = poplib_implicit(pop3)
        listing = [line.split()[1] for line in client.uidl()[1]]
        client.quit()
        return listing

    first = await asyncio.to_thread(uidls)
    archive = await pop3.store.create_mailbox(pop3.account_id, "Elsewhere")
    uid2 = (await pop3.inbox_uids())[1]
    moved = await pop3.store.move(pop3.account_id, pop3.inbox_id, archive.id, [(uid2, uid2)])
    await pop3.store.move(pop3.account_id, archive.id, pop3.inbox_id, [(moved[0][1],) * 2])
    again = await asyncio.to_thread(uidls)
    assert again == [first[0], first[2], first[1]]  # same ids; the moved one is now last
    # A second copy of one message in INBOX gets an id of its own.
    uid1 = (await pop3.inbox_uids())[0]
    await pop3.store.copy(pop3.account_id, pop3.inbox_id, pop3.inbox_id, [(uid1, uid1)])
    with_copy = await asyncio.to_thread(uidls)
    assert len(set(with_copy)) == 4 and with_copy[:3] == again


async def test_snapshot_ignores_new_mail_and_removed_mail(pop3: Pop3Env) -> None:
    first = await pop3.deliver(message(1))
    await pop3.deliver(message(2))
    raw = await Raw.connect(pop3.ports["pop3s"], pop3.client_tls)
    assert (await raw.login()).startswith(b"+OK Logged in, 2 messages")
    await pop3.deliver(message(3))  # arrives during the session
    assert await raw.cmd("STAT") == f"+OK 2 {len(message(1)) + len(message(2))}\r\n".encode()
    assert (await raw.cmd("RETR 3")).startswith(b"-ERR")
    # IMAP expunges message 1 meanwhile: RETR answers -ERR, the session goes on.
    await pop3.store.set_flags(pop3.account_id, pop3.inbox_id, [(first.uid,) * 2],
                               ["\\Deleted"], "add")
    await pop3.store.expunge(pop3.account_id, pop3.inbox_id)
    assert (await raw.cmd("RETR 1")).startswith(b"-ERR Message was removed")
    assert (await raw.cmd("DELE 2")).startswith(b"+OK")
    assert (await raw.cmd("QUIT")).startswith(b"+OK")
    await raw.close()
    assert len(await pop3.inbox_uids()) == 1  # only message 3 is left
    raw = await Raw.connect(pop3.ports["pop3s"], pop3.client_tls)
    assert (await raw.login()).startswith(b"+OK Logged in, 1 messages")
    await raw.close()


async def test_second_session_is_in_use(pop3: Pop3Env) -> None:
    await pop3.deliver(message(1))
    first = await Raw.connect(pop3.ports["pop3s"], pop3.client_tls)
    assert (await first.login()).startswith(b"+OK")
    second = await Raw.connect(pop3.ports["pop3s"], pop3.client_tls)
    assert (await second.login()).startswith(b"-ERR [IN-USE] ")
    other = await Raw.connect(pop3.ports["pop3s"], pop3.client_tls)
    assert (await other.login(OTHER)).startswith(b"+OK")  # another account is not locked
    assert (await first.cmd("QUIT")).startswith(b"+OK")
    assert (await second.login()).startswith(b"+OK")  # the same connection tries again
    for raw in (first, second, other):
        await raw.close()


# -- the wire, SQLite only ---------------------------------------------------------------------


async def test_dot_stuffing_on_the_wire(pop3_sqlite: Pop3Env) -> None:
    raw_message = b"Subject: dots\r\n\r\n" + DOTS
    await pop3_sqlite.deliver(raw_message)
    raw = await Raw.connect(pop3_sqlite.ports["pop3s"], pop3_sqlite.client_tls)
    await raw.login()
    assert await raw.cmd("RETR 1") == f"+OK {len(raw_message)} octets\r\n".encode()
    assert await raw.body() == [
        b"Subject: dots\r\n", b"\r\n", b"..leading dot\r\n", b"..\r\n", b"...two dots\r\n",
        b"end\r\n",
    ]
    assert (await raw.cmd("TOP 1 0")).startswith(b"+OK")
    assert await raw.body() == [b"Subject: dots\r\n", b"\r\n"]
    await raw.close()


async def test_stls_injection_is_discarded(pop3_sqlite: Pop3Env) -> None:
    """CVE-2011-0411: commands sent after STLS in the same packet never run."""
    raw = await Raw.connect(pop3_sqlite.ports["pop3"])
    await raw.send(b"STLS\r\nCAPA\r\nUSER " + ADDRESS.encode() + b"\r\n")
    assert (await raw.line()).startswith(b"+OK Begin TLS")
    await raw.writer.start_tls(pop3_sqlite.client_tls, server_hostname="localhost")
    # Had CAPA or USER run, their replies would come first; the first reply is to PASS.
    assert await raw.cmd(f"PASS {PASSWORD}") == b"-ERR Send USER first\r\n"
    assert (await raw.cmd("STLS")).startswith(b"-ERR")  # TLS is on already
    assert (await raw.login()).startswith(b"+OK")
    await raw.close()


async def test_plaintext_login_refused_off_loopback(pop3_sqlite: Pop3Env) -> None:
    """design.md: sign-in only over TLS unless the listener is on loopback."""
    port = await pop3_sqlite.listen("public", "starttls", host="0.0.0.0")
    raw = await Raw.connect(port)
    assert await raw.cmd("CAPA") == b"+OK Capability list follows\r\n"
    caps = await raw.body()
    assert b"STLS\r\n" in caps and b"USER\r\n" not in caps and b"SASL PLAIN\r\n" not in caps
    assert (await raw.cmd(f"USER {ADDRESS}")).startswith(b"-ERR [AUTH] ")
    assert (await raw.cmd("AUTH PLAIN")).startswith(b"-ERR [AUTH] ")
    await raw.starttls(pop3_sqlite.client_tls)
    assert await raw.cmd("CAPA") == b"+OK Capability list follows\r\n"
    caps = await raw.body()
    assert b"USER\r\n" in caps and b"SASL PLAIN\r\n" in caps and b"STLS\r\n" not in caps
    assert (await raw.login()).startswith(b"+OK")
    await raw.close()


async def test_loopback_listener_allows_plaintext_demo_login(pop3_sqlite: Pop3Env) -> None:
    raw = await Raw.connect(pop3_sqlite.ports["pop3"])
    assert (await raw.login()).startswith(b"+OK")
    await raw.close()


async def test_plaintext_sign_in_follows_the_listener_setting(pop3_sqlite: Pop3Env) -> None:
    """``plaintext_auth`` in a [[listener]] overrides the loopback rule, both ways."""
    allowed = await pop3_sqlite.listen("lan", "starttls", host="0.0.0.0", plaintext_auth=True)
    raw = await Raw.connect(allowed)
    assert (await raw.login()).startswith(b"+OK")
    await raw.close()
    refused = await pop3_sqlite.listen("strict", "starttls", plaintext_auth=False)
    raw = await Raw.connect(refused)
    assert (await raw.cmd(f"USER {ADDRESS}")).startswith(b"-ERR [AUTH] ")
    await raw.close()


async def test_auth_plain(pop3_sqlite: Pop3Env) -> None:
    token = base64.b64encode(f"\0{ADDRESS}\0{PASSWORD}".encode()).decode()
    raw = await Raw.connect(pop3_sqlite.ports["pop3s"], pop3_sqlite.client_tls)
    assert await raw.cmd("AUTH") == b"+OK Supported mechanisms follow\r\n"
    assert await raw.body() == [b"PLAIN\r\n"]
    assert (await raw.cmd("AUTH CRAM-MD5")).startswith(b"-ERR")
    assert await raw.cmd("AUTH PLAIN") == b"+ \r\n"
    assert (await raw.cmd("*")).startswith(b"-ERR Authentication cancelled")
    assert await raw.cmd("AUTH PLAIN") == b"+ \r\n"
    assert (await raw.cmd("not base64!")).startswith(b"-ERR [AUTH]")
    assert await raw.cmd("AUTH PLAIN") == b"+ \r\n"
    assert (await raw.cmd(token)).startswith(b"+OK Logged in")
    await raw.close()
    raw = await Raw.connect(pop3_sqlite.ports["pop3s"], pop3_sqlite.client_tls)
    other = base64.b64encode(f"{OTHER}\0{ADDRESS}\0{PASSWORD}".encode()).decode()
    assert (await raw.cmd(f"AUTH PLAIN {other}")).startswith(b"-ERR [AUTH]")  # no proxying
    assert (await raw.cmd(f"AUTH PLAIN {token}")).startswith(b"+OK Logged in")
    await raw.close()


async def test_failures_look_alike_then_block(pop3_sqlite: Pop3Env) -> None:
    port = await pop3_sqlite.listen("strict", "implicit", failures_per_ip=2)
    raw = await Raw.connect(port, pop3_sqlite.client_tls)
    wrong = await raw.login(ADDRESS, "wrong password")
    unknown = await raw.login("nobody@example.org", "wrong password")
    assert wrong == unknown == b"-ERR [AUTH] Authentication failed\r\n"
    # The shared throttle (RFC 3206 §4 SYS/TEMP): now even the right password waits.
    assert await raw.login() == b"-ERR [SYS/TEMP] Too many failed sign-ins, try again later\r\n"
    assert await raw.cmd("CAPA") == b"+OK Capability list follows\r\n"  # the session goes on
    await raw.close()


async def test_bad_commands_keep_the_session(pop3_sqlite: Pop3Env) -> None:
    await pop3_sqlite.deliver(message(1))
    raw = await Raw.connect(pop3_sqlite.ports["pop3s"], pop3_sqlite.client_tls)
    assert await raw.cmd("STAT") == b"-ERR Command not valid in this state\r\n"
    assert await raw.cmd(f"PASS {PASSWORD}") == b"-ERR Send USER first\r\n"
    assert await raw.cmd("XYZZY") == b"-ERR Unknown command\r\n"
    assert await raw.cmd("APOP anna 0123456789abcdef") == b"-ERR APOP is not supported\r\n"
    assert await raw.cmd("A" * 20_000) == b"-ERR Line too long\r\n"
    assert (await raw.login()).startswith(b"+OK")
    assert await raw.cmd("RETR x") == b"-ERR Invalid message number\r\n"
    assert await raw.cmd("RETR 0") == b"-ERR No such message\r\n"
    assert await raw.cmd("LIST 2") == b"-ERR No such message\r\n"
    assert await raw.cmd("TOP 1") == b"-ERR Syntax error in arguments\r\n"
    assert await raw.cmd("USER x") == b"-ERR Command not valid in this state\r\n"
    assert await raw.cmd("\x00\xff") == b"-ERR Unknown command\r\n"
    assert await raw.cmd("NOOP") == b"+OK \r\n"
    assert await raw.cmd("LIST 1") == f"+OK 1 {len(message(1))}\r\n".encode()
    assert (await raw.cmd("QUIT")).startswith(b"+OK")
    assert await raw.line() == b""  # closed after QUIT
    await raw.close()


async def test_pipelining(pop3_sqlite: Pop3Env) -> None:
    """RFC 2449 §6.6: a batch of commands in one packet, answered in order."""
    for n in (1, 2):
        await pop3_sqlite.deliver(message(n))
    raw = await Raw.connect(pop3_sqlite.ports["pop3s"], pop3_sqlite.client_tls)
    await raw.send(f"USER {ADDRESS}\r\nPASS {PASSWORD}\r\nSTAT\r\nUIDL 1\r\nRETR 2\r\n"
                   "DELE 1\r\nBOGUS\r\nLIST\r\nQUIT\r\n".encode())
    assert (await raw.line()).startswith(b"+OK")
    assert (await raw.line()).startswith(b"+OK Logged in")
    assert (await raw.line()).startswith(b"+OK 2 ")
    assert (await raw.line()).startswith(b"+OK 1 ")
    assert (await raw.line()).startswith(b"+OK")
    assert b"".join(await raw.body()) == message(2)
    assert await raw.line() == b"+OK Message 1 deleted\r\n"
    assert await raw.line() == b"-ERR Unknown command\r\n"
    assert (await raw.line()).startswith(b"+OK 1 messages")
    assert await raw.body() == [f"2 {len(message(2))}\r\n".encode()]
    assert (await raw.line()).startswith(b"+OK postbus POP3 server signing off (1 messages")
    await raw.close()


async def test_idle_timeout_closes_with_a_message(pop3_sqlite: Pop3Env) -> None:
    port = await pop3_sqlite.listen("sleepy", "implicit", pop3_timeout=1)
    raw = await Raw.connect(port, pop3_sqlite.client_tls)
    assert (await raw.login()).startswith(b"+OK")
    assert await raw.line() == b"-ERR Disconnected for inactivity\r\n"
    assert await raw.line() == b""
    await raw.close()
    raw = await Raw.connect(port, pop3_sqlite.client_tls)  # the lock is free again
    assert (await raw.login()).startswith(b"+OK")
    await raw.close()


async def test_connection_limit_per_ip(pop3_sqlite: Pop3Env) -> None:
    port = await pop3_sqlite.listen("tiny", "starttls", connections_per_ip=1)
    first = await Raw.connect(port)
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    assert (await reader.readline()).startswith(b"-ERR [SYS/TEMP] ")
    writer.close()
    await first.close()


async def test_shutdown_ends_sessions_without_update(pop3_sqlite: Pop3Env) -> None:
    """close(): idle sessions say goodbye at once; nothing marked is deleted (RFC 1939 §6)."""
    await pop3_sqlite.deliver(message(1))
    signed_in = await Raw.connect(pop3_sqlite.ports["pop3s"], pop3_sqlite.client_tls)
    await signed_in.login()
    assert (await signed_in.cmd("DELE 1")).startswith(b"+OK")
    anonymous = await Raw.connect(pop3_sqlite.ports["pop3s"], pop3_sqlite.client_tls)
    server = pop3_sqlite.servers[1]
    server.close()
    for raw in (signed_in, anonymous):
        assert await raw.line() == b"-ERR [SYS/TEMP] Server shutting down\r\n"
        assert await raw.line() == b""
        await raw.close()
    await asyncio.wait_for(server.wait_closed(), 5)
    assert len(await pop3_sqlite.inbox_uids()) == 1
