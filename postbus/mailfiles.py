"""Reading the mail folder files other programs export: mbox and Maildir.

What a user brings when they move to postbus: a Thunderbird or GMX mbox export, a Google
Takeout mbox, or the Maildir of their old Dovecot. Each reader yields ``FoundMessage``s one
at a time, so a 65 GB mbox is read in the memory of its biggest message.

Both readers hand out messages with CRLF line ends (what IMAP and SMTP carry, and what the
store keeps), whatever the file used.
"""

from __future__ import annotations

import calendar
import email.utils
import re
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

# RFC 4155 §2: a message starts at a line "From " sender SP date, after a blank line.
_FROM_LINE = re.compile(rb"^From \S*\s+(.*?)\s*$")
# mboxrd: a body line ">From " (any number of ">") had one ">" added on writing.
_QUOTED_FROM = re.compile(rb"^>(>*From )")
_LINE_END = re.compile(rb"\r?\n")

# Status / X-Status letters of mbox writers (mutt, Thunderbird, GMX) -> IMAP flags.
_MBOX_FLAGS = {ord("R"): "\\Seen", ord("A"): "\\Answered", ord("F"): "\\Flagged",
               ord("D"): "\\Deleted", ord("T"): "\\Draft"}
# Maildir info ":2," letters (cr.yp.to/proto/maildir.html) -> IMAP flags.
_MAILDIR_FLAGS = {"S": "\\Seen", "R": "\\Answered", "F": "\\Flagged", "T": "\\Deleted",
                  "D": "\\Draft"}


@dataclass(frozen=True, slots=True)
class FoundMessage:
    raw: bytes  # CRLF line ends
    flags: tuple[str, ...]
    received: int | None  # when it arrived, if the file says


class NotAMailFolder(ValueError):
    """The path is neither an mbox file nor a Maildir."""


def read_folder(path: Path) -> Iterator[FoundMessage]:
    """Messages of an mbox file or a Maildir, in the order the file keeps them."""
    if path.is_dir():
        if not ((path / "cur").is_dir() or (path / "new").is_dir()):
            raise NotAMailFolder(f"{path}: a directory without cur/ or new/ is not a Maildir")
        return read_maildir(path)
    if not path.is_file():
        raise NotAMailFolder(f"{path}: no such file or directory")
    with path.open("rb") as source:
        first = source.read(5)
    if first and first != b"From ":
        raise NotAMailFolder(f"{path}: not an mbox file (it does not start with 'From ')")
    return _read_mbox_file(path)


def _read_mbox_file(path: Path) -> Iterator[FoundMessage]:
    with path.open("rb") as source:
        yield from read_mbox(source)


def read_mbox(source: BinaryIO) -> Iterator[FoundMessage]:
    """Messages of an mbox stream (mboxrd, and mboxo read as mboxrd)."""
    lines: list[bytes] = []
    separator: bytes | None = None
    previous_blank = True
    for line in source:
        if previous_blank and line.startswith(b"From "):
            if separator is not None:
                yield _mbox_message(separator, lines)
            separator, lines = line, []
            previous_blank = False
            continue
        previous_blank = line in (b"\n", b"\r\n")
        if separator is not None:
            lines.append(_QUOTED_FROM.sub(rb"\1", line))
    if separator is not None:
        yield _mbox_message(separator, lines)


def _mbox_message(separator: bytes, lines: list[bytes]) -> FoundMessage:
    if lines and lines[-1] in (b"\n", b"\r\n"):
        lines.pop()  # the blank line that separates it from the next "From " line
    raw = _crlf(b"".join(lines))
    return FoundMessage(raw, _mbox_flags(raw), _separator_date(separator) or _header_date(raw))


def _separator_date(separator: bytes) -> int | None:
    found = _FROM_LINE.match(separator)
    if not found:
        return None
    try:  # asctime, as RFC 4155 §2 asks: "Mon Nov 25 10:00:00 2026"
        stamp = time.strptime(found.group(1).decode("ascii", "replace").strip(),
                              "%a %b %d %H:%M:%S %Y")
    except ValueError:
        return None
    return calendar.timegm(stamp)  # writers use UTC, or their local time we cannot know


def _mbox_flags(raw: bytes) -> tuple[str, ...]:
    head = raw.split(b"\r\n\r\n", 1)[0]
    letters = b""
    for found in re.finditer(rb"^(?:X-)?Status:[ \t]*([A-Za-z]*)", head, re.M | re.I):
        letters += found.group(1).upper()
    return tuple(dict.fromkeys(_MBOX_FLAGS[letter] for letter in letters if letter in _MBOX_FLAGS))


def read_maildir(path: Path) -> Iterator[FoundMessage]:
    """Messages of a Maildir's new/ and cur/, oldest first (by delivery time)."""
    files = [entry for sub in ("new", "cur") if (path / sub).is_dir()
             for entry in (path / sub).iterdir() if entry.is_file()]
    files.sort(key=lambda entry: (_maildir_time(entry.name) or entry.stat().st_mtime, entry.name))
    for entry in files:
        name, _, info = entry.name.partition(":2,")
        flags = tuple(_MAILDIR_FLAGS[letter] for letter in info if letter in _MAILDIR_FLAGS)
        received = _maildir_time(name) or int(entry.stat().st_mtime)
        yield FoundMessage(_crlf(entry.read_bytes()), flags, received)


def _maildir_time(name: str) -> int | None:
    # Unique names start with the delivery time: "1764151200.M1P2.host".
    seconds = name.split(".", 1)[0]
    return int(seconds) if seconds.isdigit() else None


def _crlf(raw: bytes) -> bytes:
    return _LINE_END.sub(b"\r\n", raw)


def _header_date(raw: bytes) -> int | None:
    """The Date: header as epoch seconds, for messages the file gives no arrival time."""
    found = re.search(rb"^Date:[ \t]*(.+)$", raw.split(b"\r\n\r\n", 1)[0], re.M | re.I)
    if not found:
        return None
    try:
        return int(email.utils.parsedate_to_datetime(found.group(1).decode("latin-1")).timestamp())
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
