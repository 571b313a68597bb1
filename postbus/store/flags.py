"""Message flags: the five system flags as a bit mask, every other keyword as text.

A bit mask lets the store keep the unseen counter and answer "unseen" or "flagged" queries with
plain integer arithmetic in SQL; keywords are rare and stored as a sorted, space-separated list.
"""

from __future__ import annotations

from collections.abc import Iterable

# RFC 9051 §2.3.2 system flags (\Recent is gone in IMAP4rev2 and never stored).
SEEN = 1
ANSWERED = 2
FLAGGED = 4
DELETED = 8
DRAFT = 16

SYSTEM_FLAGS = {"\\seen": SEEN, "\\answered": ANSWERED, "\\flagged": FLAGGED,
                "\\deleted": DELETED, "\\draft": DRAFT}
CANONICAL = {SEEN: "\\Seen", ANSWERED: "\\Answered", FLAGGED: "\\Flagged",
             DELETED: "\\Deleted", DRAFT: "\\Draft"}


def split_flags(flags: Iterable[str]) -> tuple[int, str]:
    """Flag names -> (system bit mask, keyword text). Keywords keep their case."""
    mask = 0
    keywords: set[str] = set()
    for flag in flags:
        bit = SYSTEM_FLAGS.get(flag.lower())
        if bit:
            mask |= bit
        elif flag and not flag.startswith("\\"):
            keywords.add(flag)
    return mask, " ".join(sorted(keywords))


def join_flags(mask: int, keywords: str) -> tuple[str, ...]:
    names = [name for bit, name in CANONICAL.items() if mask & bit]
    names.extend(keywords.split())
    return tuple(names)


def merge_keywords(current: str, added: Iterable[str] = (), removed: Iterable[str] = ()) -> str:
    # RFC 9051 §2.3.2: keywords are matched case-insensitively.
    removed_lower = {word.lower() for word in removed}
    kept = {word.lower(): word for word in current.split() if word.lower() not in removed_lower}
    for word in added:
        kept.setdefault(word.lower(), word)
    return " ".join(sorted(kept.values()))
