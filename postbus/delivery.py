"""The delivery pipeline: one place where a message reaches local mailboxes, whatever brought it.

SMTP (MX and submission), the mail collector and import all call ``resolve`` for each envelope
recipient (at RCPT time, so unknown users are refused before DATA and we never bounce later) and
then ``deliver`` once with the message. ``resolve`` reads what delivery needs of the recipient
(account, +tag folder, forwarding) in one transaction; ``deliver`` uses it as read then. It
lives beside the protocol packages, not in one of them, because several of them use it.

Steps, in order: address and alias resolution, plus-addressing, the disabled check,
forwarding (below), (the user's Sieve script plugs in here in later work), folder choice, quota
(the store refuses an over-quota copy with ``OverQuota``), events (published by the store after
commit).

Forwarding: a recipient whose account forwards has the message sent on before the local copies
are stored; local targets go through ``deliver`` again, remote ones through the ``Forwarder``
the caller hands in (SMTP's queues them with an SRS sender). Loops stop: an account never
forwards a message twice (the chain of accounts is passed down), nor one whose trace
(``Delivered-To``, RFC 9228, and our ``X-Postbus-Forwarded``) names it, nor after
``MAX_FORWARD_HOPS``; the message is then kept in that mailbox. Junk is never forwarded. A
forward that reached nobody keeps the copy here, whatever ``keep_copy`` says.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from postbus.accounts.forwarding import Forwarding, read_forwarding
from postbus.store import OverQuota, Store, StoreError, directory, mailboxes
from postbus.store.db import Tx
from postbus.store.directory import normalise_address
from postbus.store.errors import InvalidName, NotFound
from postbus.store.models import Account, Appended

log = logging.getLogger("postbus.delivery")

PLUS = "+"
MAX_FORWARD_HOPS = 5  # forwards one message may pass through, here and elsewhere together
DELIVERED_TO = "Delivered-To"  # RFC 9228
FORWARDED = "X-Postbus-Forwarded"  # our own trace: the address that forwarded the message
MAX_HEADER_SCAN = 64 * 1024  # trace fields are looked for in this much of the header


@dataclass(frozen=True, slots=True)
class Recipient:
    """A local recipient as resolved at RCPT time."""

    address: str  # as the sender wrote it, normalised
    account_id: int
    folder: str  # INBOX, or a folder named by a +tag, or Junk
    forwarding: Forwarding  # as read with the address, at RCPT


@dataclass(frozen=True, slots=True)
class Delivered:
    recipient: Recipient
    appended: Appended | None
    error: StoreError | None  # OverQuota, AccountDisabled ... for this recipient only
    forwarded: tuple[str, ...] = ()  # the addresses it was sent on to (local or queued)


async def resolve(store: Store, address: str, *, plus_addressing: bool = True) -> Recipient | None:
    """The local recipient for an envelope address, or None (RCPT is then refused, 550 5.1.1)."""
    found = await resolve_account(store, address, plus_addressing=plus_addressing)
    return None if found is None else found[0]


async def resolve_account(
    store: Store, address: str, *, plus_addressing: bool = True
) -> tuple[Recipient, Account] | None:
    """``resolve``, with the account as it was read (quota and usage, for a check at RCPT)."""
    try:
        normalised, _ = normalise_address(address)
    except InvalidName:
        return None
    return await store.read(lambda tx: _resolve(tx, normalised, plus_addressing))


async def _resolve(
    tx: Tx, normalised: str, plus_addressing: bool
) -> tuple[Recipient, Account] | None:
    # One read transaction for everything delivery needs to know of the recipient: at RCPT,
    # once per recipient, rather than a read for each of these at DATA for every message.
    account = await _account_for(tx, normalised)
    tag = ""
    if account is None and plus_addressing:
        local, _, domain = normalised.partition("@")
        base, plus, tag = local.partition(PLUS)
        if plus and base:
            account = await _account_for(tx, f"{base}@{domain}")
    if account is None or account.disabled:
        return None
    folder = await _folder_for_tag(tx, account.id, tag)
    forwarding = await read_forwarding(tx, account.id)
    return Recipient(normalised, account.id, folder, forwarding), account


async def _account_for(tx: Tx, address: str) -> Account | None:
    try:
        return await directory.find_account(tx, address)
    except (NotFound, InvalidName):
        return None


async def _folder_for_tag(tx: Tx, account_id: int, tag: str) -> str:
    # user+Receipts@ files into an existing folder named Receipts; any other tag goes to INBOX.
    if not tag:
        return "INBOX"
    for mailbox in await mailboxes.list_all(tx, account_id):
        if mailbox.name.lower() == tag.lower():
            return mailbox.name
    return "INBOX"


class Forwarder(Protocol):
    """How forwarded mail leaves for other servers; the caller of ``deliver`` supplies it.

    SMTP's is ``postbus.smtp.srs.SrsForwarder`` (SRS sender, outbound queue). Passing it in
    keeps this module, which every protocol imports, free of imports from any protocol package.
    """

    async def forward(
        self, sender: str, via: str, recipients: Sequence[str], message: bytes
    ) -> None:
        """Queue ``message`` for ``recipients`` on behalf of our address ``via``; durable on
        return. ``sender`` is the original envelope sender ("" or "<>" for the null sender)."""
        ...


async def deliver(
    store: Store,
    recipients: Sequence[Recipient],
    message: bytes | Path,
    *,
    junk: bool = False,
    received: int | None = None,
    sender: str = "",
    forwarder: Forwarder | None = None,
    chain: tuple[int, ...] = (),
) -> list[Delivered]:
    """Store one message for each recipient; the body is written and parsed once.

    Recipients who forward (``postbus.accounts.forwarding``) get their mail sent on: local
    targets through this pipeline again, remote ones through ``forwarder`` (with ``sender`` as
    the original envelope sender). ``chain`` is the accounts this message has already been
    forwarded through in this call; an account never forwards a message twice.
    """
    unique = list({r.account_id: r for r in recipients}.values())  # one copy per mailbox owner
    plans = [None if junk else await _forwarding(store, r) for r in unique]
    forwarded: dict[int, tuple[str, ...]] = {}
    keep = list(unique)
    if any(plans):
        body = (
            message if isinstance(message, bytes) else await asyncio.to_thread(message.read_bytes)
        )
        trace = forward_trace(body)
        # Recipients of this message who keep a copy anyway: a forward to them is not repeated.
        here = {r.account_id for r, p in zip(unique, plans, strict=True) if not p or p[1].keep_copy}
        keep = []
        for recipient, plan in zip(unique, plans, strict=True):
            if plan is None:
                keep.append(recipient)
                continue
            account, forwarding = plan
            if _loops(recipient, account, chain, trace):
                keep.append(recipient)  # deliver here: never lose a message to a loop
                continue
            forwarded[recipient.account_id] = await _forward(
                store, recipient, account, forwarding.to, body, sender, forwarder,
                (*chain, recipient.account_id), here, received,
            )  # fmt: skip
            # A forward that reached no one keeps the copy here, whatever the setting says.
            if forwarding.keep_copy or not forwarded[recipient.account_id]:
                keep.append(recipient)
        message = body
    results = await _store_copies(store, keep, message, junk, received)
    by_account = {r.recipient.account_id: r for r in results}
    out = []
    for recipient in unique:
        sent_on = forwarded.get(recipient.account_id, ())
        done = by_account.get(recipient.account_id)
        if done is None:
            out.append(Delivered(recipient, None, None, sent_on))
        elif done.error is not None and sent_on:
            # Forwarded, but the copy here failed (a full mailbox): the message did arrive.
            log.warning("forwarded for %s, but no copy kept: %s", recipient.address, done.error)
            out.append(Delivered(recipient, None, None, sent_on))
        else:
            out.append(Delivered(recipient, done.appended, done.error, sent_on))
    return out


async def _store_copies(
    store: Store,
    recipients: Sequence[Recipient],
    message: bytes | Path,
    junk: bool,
    received: int | None,
) -> list[Delivered]:
    targets = [(r.account_id, "Junk" if junk else r.folder, ()) for r in recipients]
    if not targets:
        return []
    outcomes = await store.append_many(targets, message, received)
    return [
        Delivered(r, o, None) if isinstance(o, Appended) else Delivered(r, None, o)
        for r, o in zip(recipients, outcomes, strict=True)
    ]


# -- forwarding ---------------------------------------------------------------------------------


async def _forwarding(store: Store, recipient: Recipient) -> tuple[Account, Forwarding] | None:
    if not recipient.forwarding.active:
        return None
    return await store.get_account(recipient.account_id), recipient.forwarding


@dataclass(frozen=True, slots=True)
class Trace:
    """What a message says about the forwarding it went through already."""

    addresses: frozenset[str]  # in Delivered-To and X-Postbus-Forwarded, lower-cased
    hops: int  # forwarding steps recorded (the larger of the two fields' counts)


def forward_trace(message: bytes) -> Trace:
    """The message's ``Delivered-To`` (RFC 9228 §4: there for loop detection) and
    ``X-Postbus-Forwarded`` fields."""
    addresses: set[str] = set()
    counts = {DELIVERED_TO.lower(): 0, FORWARDED.lower(): 0}
    for name, value in header_fields(message):
        key = name.lower()
        if key in counts:
            counts[key] += 1
            addresses.add(value.strip().strip("<>").strip().lower())
    return Trace(frozenset(addresses), max(counts.values()))


def header_fields(message: bytes) -> list[tuple[str, str]]:
    """(name, unfolded value) of each header field, reading at most ``MAX_HEADER_SCAN`` bytes."""
    head = message[:MAX_HEADER_SCAN]
    end = head.find(b"\r\n\r\n")
    head = head if end < 0 else head[: end + 2]
    fields: list[tuple[str, str]] = []
    for line in head.split(b"\r\n"):
        if line[:1] in (b" ", b"\t") and fields:
            name, value = fields[-1]
            fields[-1] = (name, value + " " + line.strip().decode("utf-8", "replace"))
        elif b":" in line:
            name, _, value = line.partition(b":")
            fields.append((name.decode("ascii", "replace").strip(),
                           value.strip().decode("utf-8", "replace")))  # fmt: skip
    return fields


def _loops(recipient: Recipient, account: Account, chain: tuple[int, ...], trace: Trace) -> bool:
    if recipient.account_id in chain:
        log.info("forwarding loop: %s forwarded this message already", account.address)
        return True
    if recipient.address in trace.addresses or account.address in trace.addresses:
        log.info("forwarding loop: %s appears in the message's trace", account.address)
        return True
    if max(len(chain), trace.hops) >= MAX_FORWARD_HOPS:  # ours are in both: count once
        log.info("forwarding stopped at %s: %d hops", account.address, MAX_FORWARD_HOPS)
        return True
    return False


def forwarded_copy(message: bytes, address: str) -> bytes:
    """The message as it goes on: our trace on top, and no Return-Path (RFC 5321 §4.4: the
    final delivery adds one; a message that travels on must not carry ours)."""
    fields = (
        f"{DELIVERED_TO}: {address}\r\n"  # RFC 9228
        f"{FORWARDED}: {address}\r\n"
    ).encode()  # RFC 6532: an SMTPUTF8 address stays as it is  # fmt: skip
    return fields + _without_return_path(message)


def _without_return_path(message: bytes) -> bytes:
    rest = message
    while rest[:12].lower() == b"return-path:":
        end = rest.find(b"\r\n")
        if end < 0:
            return rest
        rest = rest[end + 2 :]
        while rest[:1] in (b" ", b"\t"):  # a folded Return-Path
            end = rest.find(b"\r\n")
            rest = rest[end + 2 :] if end >= 0 else b""
    return rest


async def _forward(
    store: Store,
    recipient: Recipient,
    account: Account,
    targets: Sequence[str],
    message: bytes,
    sender: str,
    forwarder: Forwarder | None,
    chain: tuple[int, ...],
    here: set[int],
    received: int | None,
) -> tuple[str, ...]:
    """Send the message on to ``targets``; returns those it reached (or was queued for)."""
    copy = forwarded_copy(message, recipient.address)
    local: list[Recipient] = []
    remote: list[str] = []
    reached: list[str] = []
    for target in targets:
        found = await resolve(store, target)
        if found is not None:
            if found.account_id == recipient.account_id:
                log.warning("%s forwards to itself (%s): ignored", account.address, target)
            elif found.account_id in here:  # a recipient of this very message already
                reached.append(target)
            else:
                local.append(found)
        elif await _is_local_domain(store, target.rpartition("@")[2]):
            log.warning("%s forwards to %s, which does not exist", account.address, target)
        else:
            remote.append(target)
    if local:
        results = await deliver(
            store, local, copy, received=received, sender=sender, forwarder=forwarder,
            chain=chain,
        )  # fmt: skip
        for done in results:
            if done.error is None:
                reached.append(done.recipient.address)
            else:
                log.warning("forward from %s to %s failed: %s", account.address,
                            done.recipient.address, done.error)  # fmt: skip
    if remote and forwarder is None:
        log.warning("%s forwards to %s, but nothing here sends remote mail",
                    account.address, ", ".join(remote))  # fmt: skip
    elif remote:
        try:
            await forwarder.forward(sender, recipient.address, remote, copy)
            reached.extend(remote)
        except Exception:  # the copy stays here instead (deliver keeps it)
            log.exception("forward from %s to %s not queued", account.address, remote)
    return tuple(reached)


async def _is_local_domain(store: Store, domain: str) -> bool:
    try:
        await store.get_domain(domain)
    except (NotFound, StoreError):
        return False
    return True


__all__ = [
    "MAX_FORWARD_HOPS",
    "Delivered",
    "Forwarder",
    "OverQuota",
    "Recipient",
    "deliver",
    "forward_trace",
    "forwarded_copy",
    "resolve",
    "resolve_account",
]
