"""Real POP3 clients against our server: Debian's getmail6 and fetchmail.

Both keep a list of the unique ids (UIDL) they have seen. In keep mode a second run must fetch
only what arrived in between; in delete mode the server must be empty afterwards.
"""

from __future__ import annotations

import asyncio
import email
import os
import tempfile
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from tests.conftest import open_test_store, require_tool
from tests.pop3.conftest import ADDRESS, PASSWORD, Pop3Env, make_env, message


@pytest.fixture
async def pop3(tmp_path: Path) -> AsyncIterator[Pop3Env]:
    store = await open_test_store("sqlite", tmp_path / "server", None)
    env = await make_env(store, tmp_path / "server")
    try:
        yield env
    finally:
        for server in env.servers:
            server.close()
        await store.close()


async def run(*argv: str, env: dict[str, str] | None = None) -> str:
    process = await asyncio.create_subprocess_exec(
        *argv,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
        env={**os.environ, **(env or {})},
    )
    output, _ = await asyncio.wait_for(process.communicate(), 60)
    text = output.decode(errors="replace")
    # fetchmail exits 1 when there was no mail: that is an answer, not a failure.
    assert process.returncode in (0, 1), f"{argv[0]} exited {process.returncode}:\n{text}"
    return text


def subjects(folder: Path) -> list[str]:
    found = []
    for path in sorted(folder.iterdir()):
        if path.is_file():
            found.append(str(email.message_from_bytes(path.read_bytes())["Subject"]))
    return sorted(found)


# -- getmail6 ----------------------------------------------------------------------------------


@pytest.fixture
def getmail_dir() -> Iterator[Path]:
    """getmail's folder. Running as root, getmail delivers as "nobody", who must reach the
    Maildir: so not under pytest's tmp_path, whose parents are private to root."""
    with tempfile.TemporaryDirectory(prefix="postbus-getmail-") as folder:
        os.chmod(folder, 0o755)
        yield Path(folder)


def getmail_rc(env: Pop3Env, work: Path, *, implicit: bool, delete: bool) -> Path:
    maildir = work / "Maildir"
    for sub in ("cur", "new", "tmp"):
        (maildir / sub).mkdir(parents=True, exist_ok=True)
    as_user = ""
    if os.geteuid() == 0:  # getmail refuses to deliver as root: let "nobody" write the Maildir
        as_user = "user = nobody\n"
        for folder in (maildir, *maildir.iterdir()):
            folder.chmod(0o777)
    if implicit:
        retriever = (
            "type = SimplePOP3SSLRetriever\n"
            f"port = {env.ports['pop3s']}\n"
            f"ca_certs = {env.config.cert_file}\n"
        )
    else:  # plain POP3 on a loopback listener (the demo exception to TLS-only sign-in)
        retriever = f"type = SimplePOP3Retriever\nport = {env.ports['pop3']}\n"
    rc = work / "getmailrc"
    rc.write_text(
        "[retriever]\n" + retriever + "server = localhost\n"
        f"username = {ADDRESS}\npassword = {PASSWORD}\n\n"
        f"[destination]\ntype = Maildir\npath = {maildir}/\n{as_user}\n"
        f"[options]\nread_all = false\ndelete = {str(delete).lower()}\nverbose = 1\n"
    )
    return rc


async def getmail(rc: Path) -> str:
    return await run(require_tool("getmail"), "--rcfile", str(rc), "--getmaildir",
                     str(rc.parent))


@pytest.mark.parametrize("implicit", [True, False], ids=["pop3s", "loopback-plain"])
async def test_getmail_keep_fetches_only_new_mail(pop3: Pop3Env, getmail_dir: Path,
                                                  implicit: bool) -> None:
    require_tool("getmail")
    rc = getmail_rc(pop3, getmail_dir, implicit=implicit, delete=False)
    new = getmail_dir / "Maildir" / "new"
    for n in (1, 2, 3):
        await pop3.deliver(message(n))
    await getmail(rc)
    assert subjects(new) == ["message 1", "message 2", "message 3"]
    assert len(await pop3.inbox_uids()) == 3  # kept on the server

    await pop3.deliver(message(4))
    await getmail(rc)
    assert subjects(new) == ["message 1", "message 2", "message 3", "message 4"]
    await getmail(rc)  # nothing new: nothing fetched twice
    assert len(list(new.iterdir())) == 4
    assert len(await pop3.inbox_uids()) == 4


async def test_getmail_delete_empties_the_server(pop3: Pop3Env, getmail_dir: Path) -> None:
    require_tool("getmail")
    rc = getmail_rc(pop3, getmail_dir, implicit=True, delete=True)
    new = getmail_dir / "Maildir" / "new"
    for n in (1, 2, 3):
        await pop3.deliver(message(n, b".a dotted line\r\n"))
    await getmail(rc)
    assert subjects(new) == ["message 1", "message 2", "message 3"]
    assert await pop3.inbox_uids() == []
    body = (sorted(new.iterdir())[0]).read_bytes()
    assert b"\n.a dotted line\n" in body  # dot-stuffing undone by the client


# -- fetchmail ---------------------------------------------------------------------------------


def fetchmail_rc(env: Pop3Env, work: Path, *, implicit: bool, keep: bool) -> Path:
    work.mkdir(parents=True, exist_ok=True)
    (work / "out").mkdir(exist_ok=True)
    port = env.ports["pop3s"] if implicit else env.ports["pop3"]
    tls = "ssl" if implicit else "sslproto TLS1.2+"  # without "ssl": STLS, required by sslcertck
    rc = work / "fetchmailrc"
    rc.write_text(
        f"poll localhost via 127.0.0.1 protocol pop3 port {port} uidl\n"
        f'  user "{ADDRESS}" there with password "{PASSWORD}"\n'
        f'  {tls} sslcertck sslcertfile "{env.config.cert_file}"'
        " sslcommonname localhost\n"
        f'  {"keep" if keep else "no keep"}\n'
    )
    rc.chmod(0o600)  # fetchmail refuses a readable rcfile
    return rc


async def fetchmail(rc: Path) -> str:
    work = rc.parent
    return await run(
        require_tool("fetchmail"), "-f", str(rc), "-i", str(work / "fetchids"),
        "--pidfile", str(work / "fetchmail.pid"), "--nosyslog", "--nodetach", "-v",
        "--mda", f"sh -c 'cat > {work}/out/msg.$$'",
        env={"HOME": str(work), "FETCHMAILHOME": str(work)},
    )


@pytest.mark.parametrize("implicit", [True, False], ids=["pop3s", "stls"])
async def test_fetchmail_keep_fetches_only_new_mail(pop3: Pop3Env, tmp_path: Path,
                                                    implicit: bool) -> None:
    require_tool("fetchmail")
    rc = fetchmail_rc(pop3, tmp_path / "fetchmail", implicit=implicit, keep=True)
    out = tmp_path / "fetchmail" / "out"
    for n in (1, 2):
        await pop3.deliver(message(n))
    log = await fetchmail(rc)
    assert subjects(out) == ["message 1", "message 2"]
    if not implicit:
        assert "> STLS" in log, log  # TLS by STLS, not plaintext on the loopback listener
    await pop3.deliver(message(3))
    log = await fetchmail(rc)
    assert subjects(out) == ["message 1", "message 2", "message 3"], log
    await fetchmail(rc)
    assert len(list(out.iterdir())) == 3
    assert len(await pop3.inbox_uids()) == 3


async def test_fetchmail_no_keep_empties_the_server(pop3: Pop3Env, tmp_path: Path) -> None:
    require_tool("fetchmail")
    rc = fetchmail_rc(pop3, tmp_path / "fetchmail", implicit=False, keep=False)
    out = tmp_path / "fetchmail" / "out"
    for n in (1, 2, 3):
        await pop3.deliver(message(n))
    await fetchmail(rc)
    assert subjects(out) == ["message 1", "message 2", "message 3"]
    assert await pop3.inbox_uids() == []
