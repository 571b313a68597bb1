"""One IMAP connection's state machine and its command loop.

Invariants:
- The commands legal in each state are the one table ``ALLOWED`` (RFC 9051 §3); nothing else
  decides it.
- Typed errors become tagged responses in ``execute`` only: ImapBad -> BAD, ImapNo -> NO,
  store refusals -> NO with their RFC 5530 code, anything unexpected -> NO [SERVERBUG], logged,
  and the session goes on. No traceback reaches the client.
- Writes to the client happen only from the command in progress; store events are recorded in
  the MailboxView when they arrive and delivered at the end of a command (or during IDLE), as
  RFC 9051 §7.5.1 allows. Events are published after commit, so a delivered EXISTS always
  names committed messages.
- The store subscription lives from login to the end of the connection.
- What ENABLE (or a CONDSTORE enabling command) switched on stays on until the connection
  ends (RFC 5161 §3.1, RFC 7162 §3.1): MODSEQ in every unsolicited FETCH, VANISHED instead of
  EXPUNGE once QRESYNC is enabled (RFC 7162 §3.2.10), IMAP4rev2's answers once it is enabled.
"""

from __future__ import annotations

import enum
import logging
from collections.abc import Awaitable, Callable
from contextlib import ExitStack
from dataclasses import dataclass
from typing import Any, Protocol

from postbus.accounts.auth import Authenticator
from postbus.config import LimitsConfig, Listener
from postbus.imap import uidonly
from postbus.imap.mailbox_view import MailboxView
from postbus.imap.proto import codes, mutf7
from postbus.imap.proto import commands as c
from postbus.imap.proto import response as r
from postbus.imap.proto.errors import ImapBad, ImapError, ImapNo
from postbus.store import Store, StoreError, imap_queries, imap_views
from postbus.store import errors as store_errors
from postbus.store.events import Subscription
from postbus.store.flags import join_flags
from postbus.store.models import Account

log = logging.getLogger("postbus.imap")


class State(enum.Enum):
    NOT_AUTHENTICATED = "not authenticated"
    AUTHENTICATED = "authenticated"
    SELECTED = "selected"
    LOGOUT = "logout"


_ANY = frozenset({c.Capability, c.Noop, c.Logout, c.Id})
_AUTHENTICATED = _ANY | {
    c.Select, c.Create, c.Delete, c.Rename, c.Subscribe, c.List, c.Namespace, c.Status,
    c.Append, c.Idle,
    c.MultiAppend, c.Compress, c.GetQuota, c.GetQuotaRoot, c.SetQuota, c.GetMetadata,
    c.SetMetadata,
}
# RFC 9051 §3 and §6: which commands each state takes.
ALLOWED: dict[State, frozenset[type]] = {
    State.NOT_AUTHENTICATED: _ANY | {c.StartTls, c.Login, c.Authenticate},
    State.AUTHENTICATED: _AUTHENTICATED | {c.Enable},
    State.SELECTED: _AUTHENTICATED | {
        c.Check, c.Close, c.Unselect, c.Expunge, c.Search, c.Fetch, c.Store, c.Copy,
        c.Replace,
        c.Sort, c.Thread,  # RFC 5256
    },
    State.LOGOUT: frozenset(),
}

# Commands that do not need the selected mailbox's sequence map (mailbox_view.py: it is read
# when first needed; news to tell loads it in ``deliver``), or read it themselves (FETCH of
# flags reads it piece by piece while it writes: commands/fetch_flags.py).
_NO_MAP = frozenset({
    c.Capability, c.Noop, c.Logout, c.Id, c.Idle, c.Select, c.Unselect, c.Close, c.Check,
    c.Status, c.List, c.Namespace, c.Enable, c.Create, c.Subscribe, c.GetQuota,
    c.GetQuotaRoot, c.GetMetadata, c.Fetch,
})

# RFC 9051 §7.5.1: no EXPUNGE while answering FETCH, STORE or SEARCH by sequence number.
_NO_EXPUNGE_DURING = (c.Fetch, c.Store, c.Search, c.Sort, c.Thread)  # + RFC 5256 §4

_STORE_CODES: tuple[tuple[type[StoreError], str], ...] = (
    (store_errors.NotFound, codes.NONEXISTENT),
    (store_errors.AlreadyExists, codes.ALREADYEXISTS),
    (store_errors.InvalidName, codes.CANNOT),
    (store_errors.OverQuota, codes.OVERQUOTA),
    (store_errors.LimitReached, codes.LIMIT),
    (store_errors.AccountDisabled, codes.CONTACTADMIN),
)


class Disconnect(Exception):
    """End the connection now (the handler has written its BYE, if any)."""


class Io(Protocol):
    """What the asyncio glue gives the session."""

    def write(self, data: bytes) -> None: ...
    async def drain(self) -> None: ...
    async def read_line(self) -> bytes | None: ...  # None: the client went away
    async def start_tls(self) -> None: ...
    def start_compress(self) -> None: ...  # RFC 4978: deflate both ways from the next octet


@dataclass(frozen=True, slots=True)
class Reply:
    """The tagged OK of a command that went well."""

    text: str = codes.COMPLETED
    code: str | None = None


NO_REPLY = Reply("")  # the handler has written its tagged response itself

Handler = Callable[["Session", Any], Awaitable[Reply | None]]


class Session:
    __slots__ = (  # thousands live at once, most idle: no per-instance dict
        "_exit", "account", "auth", "compressed", "enabled", "io", "limits", "listener",
        "remote_ip", "spool_dir", "state", "store", "sub", "tls_active", "utf8", "view",
    )

    def __init__(
        self,
        store: Store,
        auth: Authenticator,
        limits: LimitsConfig,
        listener: Listener,
        remote_ip: str,
        io: Io,
        tls_active: bool,
        spool_dir: Any = None,
    ) -> None:
        self.store = store
        self.auth = auth
        self.limits = limits
        self.listener = listener
        self.remote_ip = remote_ip
        self.io = io
        self.tls_active = tls_active
        self.spool_dir = spool_dir
        self.state = State.NOT_AUTHENTICATED
        self.account: Account | None = None
        self.view: MailboxView | None = None
        self.utf8 = False  # UTF8=ACCEPT enabled (RFC 6855)
        self.compressed = False  # COMPRESS=DEFLATE active (RFC 4978)
        self.enabled: set[str] = set()
        self.sub: Subscription | None = None
        self._exit = ExitStack()

    # -- facts the capability table and handlers ask -------------------------------------------

    def starttls_available(self) -> bool:
        return self.listener.tls == "starttls" and not self.tls_active

    def login_allowed(self) -> bool:
        """Sign-in only over TLS, unless the listener allows it (design.md "Sign-in")."""
        return self.tls_active or self.listener.allows_plaintext_auth

    @property
    def condstore(self) -> bool:
        """RFC 7162 §3.1: a CONDSTORE enabling command has been seen (QRESYNC implies it)."""
        return "CONDSTORE" in self.enabled

    @property
    def qresync(self) -> bool:
        """RFC 7162 §3.2.3: ENABLE QRESYNC: VANISHED instead of EXPUNGE from now on."""
        return "QRESYNC" in self.enabled

    @property
    def rev2(self) -> bool:
        """RFC 9051: the client ENABLEd IMAP4rev2 (ESEARCH answers, no RECENT, UTF-8 names)."""
        return "IMAP4rev2" in self.enabled

    def enable_condstore(self) -> None:
        """RFC 7162 §3.1: the first CONDSTORE enabling command turns MODSEQ reporting on
        for the rest of the connection (HIGHESTMODSEQ is in every SELECT answer already)."""
        self.enabled.add("CONDSTORE")

    @property
    def uidonly(self) -> bool:
        """RFC 9586: the client asked for UIDs only."""
        return "UIDONLY" in self.enabled

    @property
    def account_id(self) -> int:
        assert self.account is not None
        return self.account.id

    def selected(self) -> MailboxView:
        if self.view is None:
            raise ImapBad(codes.NOT_IN_STATE)
        return self.view

    def mailbox_name(self, raw: str) -> str:
        """A mailbox name from the client: UTF-8 once enabled, else modified UTF-7."""
        if self.utf8:
            return raw
        try:
            return mutf7.decode(raw)
        except mutf7.MUTF7Error as exc:
            raise ImapNo(f"Invalid mailbox name: {exc}", codes.CANNOT) from None

    def wire_name(self, name: str) -> bytes:
        """A mailbox name for the client (RFC 9051 §5.1; RFC 3501 §5.1.3)."""
        if self.utf8:
            return r.astring(name, True)
        return r.astring(mutf7.encode(name))

    # -- writing -------------------------------------------------------------------------------

    def send(self, data: bytes) -> None:
        self.io.write(data)

    def untagged(self, text: str | bytes) -> None:
        self.io.write(r.untagged(text))

    # -- the session's life --------------------------------------------------------------------

    def logged_in(self, account: Account) -> None:
        self.account = account
        self.state = State.AUTHENTICATED
        self.sub = self._exit.enter_context(self.store.events.subscribe(account.id))

    def close(self) -> None:
        self._exit.close()

    async def execute(self, command: c.Command) -> None:
        """Run one command and write its tagged response (RFC 9051 §2.2.2)."""
        from postbus.imap.commands import HANDLERS

        name = type(command).__name__.upper()
        try:
            if type(command) not in ALLOWED[self.state]:
                raise ImapBad(codes.NOT_IN_STATE)
            if self.uidonly:
                uidonly.refuse_sequence_numbers(command)
            handler = HANDLERS[type(command)]
            if type(command) not in _NO_MAP:
                await self.load_view()
            reply = await handler(self, command) or Reply(f"{name} {codes.COMPLETED}")
            if reply is NO_REPLY:
                return
            await self.deliver(command)
            self.send(r.tagged(command.tag, "OK", reply.text, reply.code))
        except ImapError as exc:
            await self._deliver_quietly(command)
            self.send(r.tagged(command.tag, exc.status, exc.text, exc.code))
        except StoreError as exc:
            code = next((code for kind, code in _STORE_CODES if isinstance(exc, kind)), None)
            await self._deliver_quietly(command)
            self.send(r.tagged(command.tag, "NO", str(exc) or name, code))
        except (ConnectionError, EOFError, Disconnect):
            raise
        except Exception:
            log.exception("IMAP %s failed for %s", name, self.remote_ip)
            self.send(r.tagged(command.tag, "NO", codes.SERVER_BUG, codes.SERVERBUG))

    async def _deliver_quietly(self, command: c.Command) -> None:
        try:
            await self.deliver(command)
        except Exception:
            log.exception("IMAP update delivery failed")

    # -- news for the selected mailbox ---------------------------------------------------------

    def pull_events(self) -> None:
        if self.sub is None or self.view is None:
            return
        queue = self.sub.queue
        while not queue.empty():
            event = queue.get_nowait()
            self.view.on_event(event)
            if self.sub.overflowed and event.kind.value == "overflow":
                self.sub.overflowed = False

    def drop_events(self) -> None:
        if self.sub is not None:
            while not self.sub.queue.empty():
                self.sub.queue.get_nowait()
            self.sub.overflowed = False

    async def load_view(self) -> None:
        """Read the selected mailbox's sequence map if SELECT left it for later."""
        view = self.view
        if view is None or view.snapshot is None:
            return
        snap = view.snapshot
        uids = await self.store.read(
            lambda tx: imap_views.view_uids(
                tx, self.account_id, view.mailbox_id, snap.uidnext, snap.highestmodseq
            )
        )
        if len(uids) != snap.exists:  # cannot happen while the expunge log is whole
            log.warning("IMAP view of mailbox %d: %d UIDs for %d messages told",
                        view.mailbox_id, len(uids), snap.exists)
        view.load(uids)

    async def deliver(self, command: c.Command | None = None) -> None:
        """Untagged EXPUNGE / EXISTS / FETCH FLAGS for what changed, as far as allowed."""
        view = self.view
        if view is None:
            return
        self.pull_events()
        if not view.loaded:
            if not view.pending:
                return
            await self.load_view()
        if view.resync:
            rows = await self.store.uids_and_flags(self.account_id, view.mailbox_id)
            view.reset(row[0] for row in rows)
        allow_expunge = not (
            isinstance(command, _NO_EXPUNGE_DURING) and not getattr(command, "uid", True)
        )
        updates = view.take_updates(allow_expunge)
        if (self.uidonly or self.qresync) and updates.expunged_uids:
            # RFC 9586 §3.2, RFC 7162 §3.2.10: VANISHED, not EXPUNGE
            self.send(uidonly.vanished(updates.expunged_uids))
        else:
            for seq in updates.expunged:
                self.send(b"* %d EXPUNGE\r\n" % seq)
        if updates.exists is not None:
            self.send(b"* %d EXISTS\r\n" % updates.exists)
        if updates.flags:
            await self.send_flags(updates.flags)

    async def send_flags(self, uids: list[int]) -> None:
        view = self.selected()
        ranges = [(uid, uid) for uid in uids]
        rows = await self.store.read(
            lambda tx: imap_queries.fetch_rows(tx, self.account_id, view.mailbox_id, ranges,
                                               False)
        )
        for row in rows:
            seq = view.seq_of(row["uid"])
            if seq is not None:
                flags = r.flags(join_flags(row["flags"], row["keywords"]))
                items = [b"UID %d" % row["uid"], b"FLAGS " + flags]
                if self.condstore:  # RFC 7162 §3.2.4: MODSEQ in every unsolicited FETCH
                    items.append(b"MODSEQ (%d)" % row["modseq"])
                self.send(self.fetch_response(seq, row["uid"], items))

    def fetch_response(self, seq: int, uid: int, items: list[bytes]) -> bytes:
        """``* seq FETCH (items)``; with UIDONLY ``* uid UIDFETCH (items)`` (RFC 9586 §3.3),
        where the UID item would only repeat the number."""
        if self.uidonly:
            rest = b" ".join(item for item in items if not item.startswith(b"UID "))
            return b"* %d UIDFETCH (%s)\r\n" % (uid, rest)
        return b"* %d FETCH (%s)\r\n" % (seq, b" ".join(items))
