"""Address suggestions for the compose form: the people an account has mail from or wrote to.

Two sources, both the account's own rows only: the senders of its received mail (every
mailbox but Sent, Drafts and Junk) and the recipients (To, Cc) of the mail in its Sent folder.
A suggestion matches when the address or any word of the name starts with what was typed; the
account's own addresses are left out. Most frequent first, then most recent.

No table of its own: the columns written at delivery (``from_email``, ``from_name``, the
envelope) answer it, so there is nothing to keep in step. The Sent side reads at most
``SENT_SCAN`` recent candidate rows.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from postbus.mime.addresses import to_addresses
from postbus.mime.envelope import CC, TO
from postbus.store.db import Tx
from postbus.store.search import fold

SENT_SCAN = 500
MAX_PREFIX = 100
NOT_RECEIVED = ("\\Sent", "\\Drafts", "\\Junk")


@dataclass(frozen=True, slots=True)
class Correspondent:
    name: str
    address: str
    count: int  # messages from or to this address
    last: int  # newest of them (received time, epoch seconds)


def _like(text: str) -> str:
    """``text`` as a literal LIKE pattern (``!`` escapes; the queries say ``ESCAPE '!'``)."""
    return text.replace("!", "!!").replace("%", "!%").replace("_", "!_")


def matches(prefix: str, name: str, address: str) -> bool:
    folded = fold(prefix)
    return fold(address).startswith(folded) or any(
        word.startswith(folded) for word in fold(name).replace('"', " ").split()
    )


async def suggest(tx: Tx, account_id: int, prefix: str, limit: int = 8) -> list[Correspondent]:
    prefix = prefix.strip().lower()[:MAX_PREFIX]
    if not prefix:
        return []
    start = _like(prefix) + "%"
    found: dict[str, Correspondent] = {}

    def add(name: str, address: str, count: int, last: int) -> None:
        key = address.lower()
        seen = found.get(key)
        if seen is None:
            found[key] = Correspondent(name, key, count, last)
            return
        newer = last > seen.last
        found[key] = Correspondent(
            (name if newer and name else seen.name) or name, key,
            seen.count + count, max(seen.last, last),
        )

    received = await tx.fetch(
        "SELECT lower(m.from_email), MAX(m.from_name), COUNT(*), MAX(m.received)"
        " FROM messages m WHERE m.account_id = $1 AND m.from_email != ''"
        " AND (lower(m.from_email) LIKE $2 ESCAPE '!' OR lower(m.from_name) LIKE $2 ESCAPE '!'"
        "  OR lower(m.from_name) LIKE $3 ESCAPE '!')"
        " AND EXISTS (SELECT 1 FROM memberships b JOIN mailboxes x ON x.id = b.mailbox_id"
        "  WHERE b.message_id = m.id AND x.account_id = $1"
        "  AND (x.special_use IS NULL OR x.special_use NOT IN ($4, $5, $6)))"
        " GROUP BY lower(m.from_email) ORDER BY COUNT(*) DESC, MAX(m.received) DESC LIMIT 50",
        account_id, start, "% " + start, *NOT_RECEIVED,
    )  # fmt: skip
    for address, name, count, last in received:
        add(name or "", address, int(count), int(last))

    sent = await tx.fetch(
        "SELECT m.envelope, m.received FROM messages m"
        " JOIN memberships b ON b.message_id = m.id JOIN mailboxes x ON x.id = b.mailbox_id"
        " WHERE m.account_id = $1 AND x.account_id = $1 AND x.special_use = $2"
        " AND (lower(m.to_text) LIKE $3 ESCAPE '!' OR lower(m.cc_text) LIKE $3 ESCAPE '!')"
        " ORDER BY m.received DESC LIMIT $4",
        account_id, "\\Sent", "%" + _like(prefix) + "%", SENT_SCAN,
    )  # fmt: skip
    for envelope_json, received_at in sent:
        envelope = json.loads(envelope_json)
        for address in (*to_addresses(envelope[TO] or []), *to_addresses(envelope[CC] or [])):
            if address.host and matches(prefix, address.name, address.email):
                add(address.name, address.email, 1, int(received_at))

    own = {row[0].lower() for row in await tx.fetch(
        "SELECT address FROM addresses WHERE account_id = $1", account_id)}
    ranked = sorted(
        (c for c in found.values() if c.address not in own and matches(prefix, c.name, c.address)),
        key=lambda c: (-c.count, -c.last, c.address),
    )
    return ranked[:limit]
