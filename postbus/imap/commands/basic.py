"""CAPABILITY, NOOP, LOGOUT, ID, NAMESPACE, ENABLE, IDLE (RFC 9051 §6.1, RFC 2971, RFC 2342,
RFC 5161, RFC 2177)."""

from __future__ import annotations

import asyncio
import time

from postbus import __version__
from postbus.imap import capabilities
from postbus.imap.proto import codes
from postbus.imap.proto import commands as c
from postbus.imap.proto import response as r
from postbus.imap.proto.errors import ImapBad
from postbus.imap.session import NO_REPLY, Disconnect, Reply, Session, State

SERVER_ID = (("name", "postbus"), ("version", __version__), ("vendor", "postbus"))


async def capability(s: Session, cmd: c.Capability) -> Reply:
    s.untagged("CAPABILITY " + capabilities.advertised(s))
    return Reply("CAPABILITY completed")


async def noop(s: Session, cmd: c.Noop) -> Reply:
    # RFC 9051 §6.1.2: a chance for the server to send updates (done after every command)
    return Reply("NOOP completed")


async def logout(s: Session, cmd: c.Logout) -> Reply:
    # RFC 9051 §6.1.3: BYE first, then the tagged OK
    s.untagged(f"BYE {codes.BYE_LOGOUT}")
    s.send(r.tagged(cmd.tag, "OK", "LOGOUT completed"))
    s.state = State.LOGOUT
    return NO_REPLY


async def id_(s: Session, cmd: c.Id) -> Reply:
    # RFC 2971 §3.1: the server answers with its own parameters
    pairs = b" ".join(r.string(k) + b" " + r.string(v) for k, v in SERVER_ID)
    s.untagged(b"ID (" + pairs + b")")
    return Reply("ID completed")


async def namespace(s: Session, cmd: c.Namespace) -> Reply:
    # RFC 2342 §5: one personal namespace, no others
    s.untagged('NAMESPACE (("" "/")) NIL NIL')
    return Reply("NAMESPACE completed")


async def enable(s: Session, cmd: c.Enable) -> Reply:
    # RFC 5161 §3.1: ENABLED lists what was newly enabled; unknown names are ignored
    newly = []
    for name in cmd.capabilities:
        if name == "IMAP4REV2":
            name = "IMAP4rev2"  # names arrive upper case; keep the advertised spelling
        if name in capabilities.ENABLEABLE and name not in s.enabled:
            s.enabled.add(name)
            newly.append(name)
    if "UTF8=ACCEPT" in s.enabled or "IMAP4rev2" in s.enabled:
        s.utf8 = True  # RFC 6855 §3; RFC 9051 §5.1: IMAP4rev2 names and strings are UTF-8
    if "QRESYNC" in s.enabled:
        s.enable_condstore()  # RFC 7162 §3.2.3: QRESYNC implies CONDSTORE
    s.untagged(("ENABLED " + " ".join(newly)).rstrip())
    return Reply("ENABLE completed")


async def idle(s: Session, cmd: c.Idle) -> Reply:
    """RFC 2177: news as it happens, until the client sends DONE."""
    s.send(r.continuation(codes.IDLING))
    await s.deliver()
    await s.io.drain()
    deadline = time.monotonic() + s.limits.imap_idle_timeout
    line_task = asyncio.ensure_future(s.io.read_line())
    try:
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                s.untagged(f"BYE {codes.BYE_TIMEOUT}")
                raise Disconnect
            waiters: set[asyncio.Future[object]] = {line_task}  # type: ignore[arg-type]
            event_task = None
            if s.sub is not None:
                event_task = asyncio.ensure_future(s.sub.get())
                waiters.add(event_task)
            done, _ = await asyncio.wait(
                waiters, timeout=remaining, return_when=asyncio.FIRST_COMPLETED
            )
            if event_task is not None:
                if event_task in done:
                    if s.view is not None:
                        s.view.on_event(event_task.result())
                        await s.deliver()
                        await s.io.drain()
                else:
                    event_task.cancel()
            if line_task in done:
                line = line_task.result()
                if line is None:
                    raise Disconnect
                if line.strip().upper() != b"DONE":
                    raise ImapBad("Expected DONE")
                return Reply("IDLE terminated")
    finally:
        if not line_task.done():
            line_task.cancel()
