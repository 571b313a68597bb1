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
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

# RFC 4155 §2: a message starts at a line "From " sender SP date, after a blank line.
READ_BLOCK = 1 << 22
_MONTHS = {name: number for number, name in enumerate(
    (b"jan", b"feb", b"mar", b"apr", b"may", b"jun", b"jul", b"aug", b"sep", b"oct", b"nov",
     b"dec"), start=1)}
# mboxrd: a body line ">From " (any number of ">") had one ">" added on writing.
_QUOTED_FROM = re.compile(rb"^>(>*From )", re.M)
_LINE_END = re.compile(rb"\r?\n")
_STATUS = re.compile(rb"^(?:X-)?Status:[ \t]*([A-Za-z]*)", re.M | re.I)
_DATE = re.compile(rb"^Date:[ \t]*(.+)$", re.M | re.I)

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
    """Messages of an mbox stream (mboxrd, and mboxo read as mboxrd).

    Read in large blocks and cut at each blank line followed by "From ": a line at a time in
    Python would cost more than storing the message.
    """
    pending = b""
    start = 0  # where the next message's "From " line begins, in ``pending``
    searched = 0  # how far the search for the next separator got, in ``pending``
    while block := source.read(READ_BLOCK):
        pending = pending[start:] + block
        searched, start = max(searched - start, 0), 0
        while (body := pending.find(b"\n", start) + 1) > 0:
            # A separator found in the next block may begin up to 9 bytes before its start.
            found = _next_separator(pending, max(body - 1, searched - 9))
            if found is None:
                searched = len(pending)
                break
            last_line_end, start_next = found
            yield _mbox_message(pending[start:body], pending[body:last_line_end])
            start = start_next
    if pending.startswith(b"From ", start):
        body = pending.find(b"\n", start) + 1 or len(pending)
        last = pending[body:]
        for blank in (b"\r\n", b"\n"):  # the separating blank line at the very end
            if last.endswith(blank * 2):
                last = last[: -len(blank)]
                break
        yield _mbox_message(pending[start:body], last)


def _next_separator(buffer: bytes, position: int) -> tuple[int, int] | None:
    """(end of the message's last line, start of the next "From " line), from ``position``.

    ``bytes.find`` for "\\nFrom ", then a look at the blank line before it ("\\n" or "\\r\\n"):
    many times faster than a regular expression over every line.
    """
    while (at := buffer.find(b"\nFrom ", position)) > 0:
        if buffer[at - 1] == 10:  # a "\n" blank line
            return at, at + 1
        if buffer[at - 2 : at] == b"\n\r":  # a "\r\n" blank line
            return at - 1, at + 1
        position = at + 1
    return None


def _mbox_message(separator: bytes, text: bytes) -> FoundMessage:
    if b">From " in text:
        text = _QUOTED_FROM.sub(rb"\1", text)
    raw = _crlf(text)
    return FoundMessage(raw, _mbox_flags(raw), _separator_date(separator) or _header_date(raw))


def _separator_date(separator: bytes) -> int | None:
    # asctime, as RFC 4155 §2 asks: "From sender Mon Nov 25 10:00:00 2026"
    words = separator.split()
    if len(words) < 7:
        return None
    _, month, day, clock, year = words[-5:]
    month_number = _MONTHS.get(month.lower())
    hms = clock.split(b":")
    if month_number is None or len(hms) != 3 or not all(
        part.isdigit() for part in (day, year, *hms)
    ):
        return None
    try:
        return calendar.timegm((int(year), month_number, int(day), *map(int, hms)))
    except (ValueError, OverflowError):
        return None


def _mbox_flags(raw: bytes) -> tuple[str, ...]:
    letters = b""
    for found in _STATUS.finditer(raw, 0, _header_end(raw)):
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
    if b"\r" not in raw:
        return raw.replace(b"\n", b"\r\n")  # the common case, at C speed
    return _LINE_END.sub(b"\r\n", raw)


def _header_end(raw: bytes) -> int:
    """Where the header block ends: searching up to it copies nothing (``split`` would copy
    the whole body)."""
    end = raw.find(b"\r\n\r\n")
    return len(raw) if end < 0 else end


def _header_date(raw: bytes) -> int | None:
    """The Date: header as epoch seconds, for messages the file gives no arrival time."""
    found = _DATE.search(raw, 0, _header_end(raw))
    if not found:
        return None
    try:
        return int(email.utils.parsedate_to_datetime(found.group(1).decode("latin-1")).timestamp())
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
