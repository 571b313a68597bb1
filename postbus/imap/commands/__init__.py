"""Behaviour per command, one module per group; ``HANDLERS`` maps command types to them."""

from __future__ import annotations

from postbus.imap.commands import (
    append,
    auth,
    basic,
    compress,
    fetch,
    mailboxes,
    messages,
    metadata,
    multiappend,
    quota,
    search,
    sort,
)
from postbus.imap.proto import commands as c
from postbus.imap.session import Handler

HANDLERS: dict[type, Handler] = {
    c.Capability: basic.capability,
    c.Noop: basic.noop,
    c.Logout: basic.logout,
    c.Id: basic.id_,
    c.Namespace: basic.namespace,
    c.Enable: basic.enable,
    c.Idle: basic.idle,
    c.StartTls: auth.starttls,
    c.Login: auth.login,
    c.Authenticate: auth.authenticate,
    c.Select: mailboxes.select,
    c.Create: mailboxes.create,
    c.Delete: mailboxes.delete,
    c.Rename: mailboxes.rename,
    c.Subscribe: mailboxes.subscribe,
    c.List: mailboxes.list_,
    c.Status: mailboxes.status,
    c.Append: append.append,
    c.Check: messages.check,
    c.Close: messages.close,
    c.Unselect: messages.unselect,
    c.Expunge: messages.expunge,
    c.Store: messages.store,
    c.Copy: messages.copy,
    c.Search: search.search,
    c.Fetch: fetch.fetch,
    c.Sort: sort.sort,  # RFC 5256, RFC 5957, RFC 5267
    c.Thread: sort.thread,  # RFC 5256
    c.MultiAppend: multiappend.multiappend,
    c.Replace: multiappend.replace,
    c.Compress: compress.compress,
    c.GetQuota: quota.getquota,
    c.GetQuotaRoot: quota.getquotaroot,
    c.SetQuota: quota.setquota,
    c.GetMetadata: metadata.getmetadata,
    c.SetMetadata: metadata.setmetadata,
}
