"""How mail data reads on a page: dates in the reader's time zone and language, sizes,
folder names and their order. Pure functions; the clock is passed in."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, tzinfo
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from babel import Locale
from babel.dates import format_date, format_datetime, format_time

from postbus.store.mailboxes import SEPARATOR
from postbus.store.models import Mailbox
from postbus.web.i18n import Gettext

TZ_COOKIE = "pb_tz"  # set by static/app.js from the browser's Intl time zone

# Special folders first, in the order GMX and Outlook readers expect (RFC 6154 uses).
SPECIAL_ORDER = ("INBOX", "\\Drafts", "\\Sent", "\\Archive", "\\Junk", "\\Trash")


def time_zone(name: str | None) -> tzinfo:
    if name and len(name) < 64 and ".." not in name and not name.startswith("/"):
        try:
            return ZoneInfo(name)
        except (ZoneInfoNotFoundError, ValueError):
            pass
    return UTC


def short_date(when: int, now: int, zone: tzinfo, loc: Locale) -> str:
    """The message list's date: the time for today, day and month this year, else the date."""
    at = datetime.fromtimestamp(when, zone)
    today = datetime.fromtimestamp(now, zone)
    if at.date() == today.date():
        return format_time(at, "short", locale=loc)
    if at.year == today.year:
        return format_date(at, "d MMM", locale=loc)
    return format_date(at, "short", locale=loc)


def long_date(when: int, zone: tzinfo, loc: Locale) -> str:
    return format_datetime(datetime.fromtimestamp(when, zone), "medium", locale=loc)


def size(octets: int) -> str:
    if octets < 1024:
        return f"{octets} B"
    if octets < 1024 * 1024:
        return f"{octets / 1024:.0f} KB"
    return f"{octets / (1024 * 1024):.1f} MB"


@dataclass(frozen=True, slots=True)
class Folder:
    """A mailbox as the folder list shows it."""

    id: int
    name: str  # the full name, "Projects/2026"
    label: str  # what a person reads: "Inbox", "2026"
    depth: int
    unread: int
    total: int
    special: str | None  # "inbox", "drafts", "sent", "archive", "junk", "trash" or None


def special_kind(mailbox: Mailbox) -> str | None:
    if mailbox.name == "INBOX":
        return "inbox"
    if mailbox.special_use:
        return mailbox.special_use.lstrip("\\").lower()
    return None


def special_labels(_: Gettext) -> dict[str, str]:
    return {
        "inbox": _("Inbox"),
        "drafts": _("Drafts"),
        "sent": _("Sent"),
        "archive": _("Archive"),
        "junk": _("Spam"),
        "trash": _("Trash"),
        "all": _("All mail"),
        "flagged": _("Flagged"),
    }


def folder_tree(mailboxes: list[Mailbox], _: Gettext) -> list[Folder]:
    """Special folders first in a fixed order, then the others by name; children follow their
    parent, indented."""
    labels = special_labels(_)
    rank: dict[str, int] = {}
    for mailbox in mailboxes:
        if SEPARATOR in mailbox.name:
            continue
        key = "INBOX" if mailbox.name == "INBOX" else mailbox.special_use
        if key in SPECIAL_ORDER:
            rank[mailbox.name] = SPECIAL_ORDER.index(key)

    def order(mailbox: Mailbox) -> tuple[int, list[str]]:
        parts = mailbox.name.split(SEPARATOR)
        return rank.get(parts[0], len(SPECIAL_ORDER)), [p.casefold() for p in parts]

    out = []
    for mailbox in sorted(mailboxes, key=order):
        kind = special_kind(mailbox)
        parts = mailbox.name.split(SEPARATOR)
        label = labels.get(kind or "", parts[-1]) if len(parts) == 1 else parts[-1]
        out.append(
            Folder(
                id=mailbox.id,
                name=mailbox.name,
                label=label,
                depth=len(parts) - 1,
                unread=mailbox.unseen_count,
                total=mailbox.message_count,
                special=kind,
            )
        )
    return out


def uid_ranges(uids: list[int]) -> list[tuple[int, int]]:
    """[5, 1, 2, 3] -> [(1, 3), (5, 5)]: the store's inclusive UID ranges."""
    out: list[tuple[int, int]] = []
    for uid in sorted(set(uids)):
        if out and uid == out[-1][1] + 1:
            out[-1] = (out[-1][0], uid)
        else:
            out.append((uid, uid))
    return out
