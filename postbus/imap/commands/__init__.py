"""Behaviour per command, one module per group; ``HANDLERS`` maps command types to them."""

from __future__ import annotations

from postbus.imap.commands import append, auth, basic, fetch, mailboxes, messages, search
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
}
