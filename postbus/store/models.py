"""The store's answers: plain frozen records, no database handles inside."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Domain:
    id: int
    name: str
    created: int


@dataclass(frozen=True, slots=True)
class Account:
    id: int
    domain_id: int
    address: str
    display_name: str
    password_hash: str
    disabled: bool
    quota_bytes: int  # 0: no limit
    quota_messages: int  # 0: no limit
    used_bytes: int
    used_messages: int
    created: int
    last_login: int | None


@dataclass(frozen=True, slots=True)
class Address:
    address: str
    account_id: int
    is_primary: bool


@dataclass(frozen=True, slots=True)
class Mailbox:
    id: int
    account_id: int
    name: str
    special_use: str | None
    subscribed: bool
    uidvalidity: int
    uidnext: int
    highestmodseq: int
    message_count: int
    unseen_count: int
    total_bytes: int


@dataclass(frozen=True, slots=True)
class Appended:
    """Where an appended message went (RFC 4315 APPENDUID needs uidvalidity and uid)."""

    mailbox_id: int
    uidvalidity: int
    uid: int
    message_id: int
    modseq: int


@dataclass(frozen=True, slots=True)
class MessageSummary:
    """One row of a message list: what the webmail list and IMAP ENVELOPE/FLAGS need."""

    uid: int
    message_id: int
    modseq: int
    flags: tuple[str, ...]
    size: int
    received: int
    sent: int | None
    subject: str
    from_name: str
    from_email: str
    to_text: str
    preview: str
    has_attachment: bool
    thread_id: int


@dataclass(frozen=True, slots=True)
class StoredMessage:
    """A message's parse-once data, for FETCH and the reading pane."""

    id: int
    account_id: int
    blob_hash: str
    size: int
    received: int
    envelope: str  # JSON, RFC 9051 §7.5.2 ENVELOPE
    body_structure: str  # JSON, postbus.mime BodyPart
    attachments: str  # JSON
    thread_id: int


@dataclass(frozen=True, slots=True)
class ThreadSummary:
    """One row of the conversation list: a thread as far as it lies in one folder."""

    thread_id: int
    newest_uid: int  # the thread's newest message in this folder: sort key and page cursor
    newest_received: int
    subject: str  # of the newest message
    preview: str  # of the newest message
    senders: tuple[str, ...]  # each sender once, oldest first
    count: int
    unread: int
    flagged: bool
    has_attachment: bool


@dataclass(frozen=True, slots=True)
class ThreadMessage:
    """One message of a whole conversation, with the folder it is shown from."""

    mailbox_id: int
    summary: MessageSummary
