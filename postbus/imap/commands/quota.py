"""GETQUOTA, GETQUOTAROOT, SETQUOTA (RFC 9208).

Each account has one quota root, named "", over all its mailboxes, with the resources the
administrator set (``postbus user quota``): STORAGE in units of 1024 octets (RFC 9208 §5.1)
and MESSAGE (§5.2). A resource without a limit is not listed; an account without any limit has
no quota root. Usage counts every copy of a message, as the store's quota check does. Refusals
of APPEND, COPY and REPLACE over quota carry [OVERQUOTA] (the session maps the store's
OverQuota). SETQUOTA is refused: QUOTASET is not advertised (RFC 9208 §4.1).
"""

from __future__ import annotations

from postbus.imap.proto import codes
from postbus.imap.proto import commands as c
from postbus.imap.proto.errors import ImapNo
from postbus.imap.session import Reply, Session
from postbus.store import NotFound
from postbus.store.models import Account

ROOT = ""


def quota_resources(account: Account) -> list[str]:
    """"STORAGE used limit" / "MESSAGE used limit" for the limits that are set."""
    out = []
    if account.quota_bytes:
        used = (account.used_bytes + 1023) // 1024
        out.append(f"STORAGE {used} {account.quota_bytes // 1024}")
    if account.quota_messages:
        out.append(f"MESSAGE {account.used_messages} {account.quota_messages}")
    return out


def _quota_line(resources: list[str]) -> str:
    # quota-response = "QUOTA" SP astring SP quota-list                        ; RFC 9208 §7
    return f'QUOTA "{ROOT}" ({" ".join(resources)})'


async def getquota(s: Session, cmd: c.GetQuota) -> Reply:
    resources = quota_resources(await s.store.get_account(s.account_id))
    if cmd.root != ROOT or not resources:
        raise ImapNo(codes.NO_QUOTA_ROOT, codes.NONEXISTENT)
    s.untagged(_quota_line(resources))
    return Reply("GETQUOTA completed")


async def getquotaroot(s: Session, cmd: c.GetQuotaRoot) -> Reply:
    name = s.mailbox_name(cmd.mailbox)
    try:
        box = await s.store.get_mailbox(s.account_id, name)
    except NotFound:
        raise ImapNo(codes.NO_SUCH_MAILBOX, codes.NONEXISTENT) from None
    resources = quota_resources(await s.store.get_account(s.account_id))
    # quotaroot-response = "QUOTAROOT" SP mailbox *(SP quota-root-name)       ; RFC 9208 §7
    root = f' "{ROOT}"' if resources else ""
    s.untagged(b"QUOTAROOT " + s.wire_name(box.name) + root.encode())
    if resources:
        s.untagged(_quota_line(resources))
    return Reply("GETQUOTAROOT completed")


async def setquota(s: Session, cmd: c.SetQuota) -> Reply:
    raise ImapNo(codes.QUOTA_SET_REFUSED, codes.NOPERM)
