"""Events as PostgreSQL NOTIFY payloads: UIDs as runs, never over the 8,000-octet limit."""

from __future__ import annotations

from postbus.store.events import EventKind, MailboxEvent

NOTIFY_LIMIT = 8000  # octets (PostgreSQL's NOTIFY payload limit)


def round_trip(event: MailboxEvent) -> list[MailboxEvent]:
    payloads = event.payloads()
    assert all(len(payload.encode()) < NOTIFY_LIMIT for payload in payloads)
    return [MailboxEvent.from_payload(payload) for payload in payloads]


def test_a_whole_folder_is_one_small_payload() -> None:
    event = MailboxEvent(EventKind.EXPUNGED, 7, 3, tuple(range(1, 500_001)), 42)
    assert len(event.payloads()[0]) < 100
    assert round_trip(event) == [event]


def test_scattered_uids_are_split_and_keep_their_order() -> None:
    uids = tuple(range(4_294_967_295, 4_294_900_000, -2))  # the biggest UIDs, descending
    event = MailboxEvent(EventKind.FLAGS, 7, 3, uids, 42)
    parts = round_trip(event)
    assert len(parts) > 1
    assert tuple(uid for part in parts for uid in part.uids) == uids
    assert {(p.kind, p.account_id, p.mailbox_id, p.modseq) for p in parts} == {
        (EventKind.FLAGS, 7, 3, 42)
    }


def test_an_event_without_uids_still_travels() -> None:
    event = MailboxEvent(EventKind.MAILBOXES, 7, 3)
    assert round_trip(event) == [event]
