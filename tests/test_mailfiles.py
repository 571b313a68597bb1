"""Reading mbox files and Maildirs: message bounds, escapes, flags, dates, line ends."""

from __future__ import annotations

import calendar
import io
from pathlib import Path

import pytest

from postbus.mailfiles import NotAMailFolder, read_folder, read_mbox

MBOX = (
    b"From anna@example.net Mon Nov 23 10:00:00 2026\n"
    b"From: Anna <anna@example.net>\n"
    b"Subject: first\n"
    b"Status: RO\n"
    b"X-Status: F\n"
    b"\n"
    b">From the start, an escaped line.\n"
    b">>From twice escaped.\n"
    b"Not From at the start.\n"
    b"\n"
    b"From bert@example.net Tue Nov 24 11:30:00 2026\n"
    b"From: Bert <bert@example.net>\n"
    b"Subject: second\n"
    b"Date: Tue, 24 Nov 2026 11:29:00 +0000\n"
    b"\n"
    b"No blank line at the end of the file."
)


def test_an_mbox_splits_at_from_lines_and_unescapes_bodies() -> None:
    first, second = read_mbox(io.BytesIO(MBOX))
    assert first.raw == (
        b"From: Anna <anna@example.net>\r\nSubject: first\r\nStatus: RO\r\nX-Status: F\r\n\r\n"
        b"From the start, an escaped line.\r\n>From twice escaped.\r\nNot From at the start.\r\n"
    )
    assert first.flags == ("\\Seen", "\\Flagged")
    assert first.received == calendar.timegm((2026, 11, 23, 10, 0, 0, 0, 0, 0))
    assert second.raw.endswith(b"\r\n\r\nNo blank line at the end of the file.")
    assert second.flags == ()


class Trickle(io.BytesIO):
    """A stream that hands out at most ``step`` bytes a read: separators land across reads."""

    def __init__(self, data: bytes, step: int) -> None:
        super().__init__(data)
        self.step = step

    def read(self, size: int | None = -1) -> bytes:
        return super().read(self.step)


@pytest.mark.parametrize("step", [1, 2, 3, 5, 8, 9, 10, 64])
def test_an_mbox_read_in_small_pieces_gives_the_same(step: int) -> None:
    whole = [(m.raw, m.flags, m.received) for m in read_mbox(io.BytesIO(MBOX))]
    pieces = [(m.raw, m.flags, m.received) for m in read_mbox(Trickle(MBOX, step))]
    assert pieces == whole and len(whole) == 2


def test_crlf_mbox_and_empty_messages() -> None:
    raw = (b"From a@b Mon Nov 23 10:00:00 2026\r\n\r\n"
           b"From b@b Mon Nov 23 10:00:00 2026\r\nSubject: two\r\n\r\nbody\r\n\r\n")
    first, second = read_mbox(io.BytesIO(raw))
    assert first.raw == b""
    assert second.raw == b"Subject: two\r\n\r\nbody\r\n"


def test_without_a_separator_date_the_date_header_counts() -> None:
    raw = b"From MAILER-DAEMON\nDate: Tue, 24 Nov 2026 11:29:00 +0000\nSubject: x\n\nbody\n"
    (found,) = read_mbox(io.BytesIO(raw))
    assert found.received == calendar.timegm((2026, 11, 24, 11, 29, 0, 0, 0, 0))


def test_crlf_files_stay_crlf() -> None:
    raw = b"From a@b Mon Nov 23 10:00:00 2026\r\nSubject: x\r\n\r\nline\r\n"
    (found,) = read_mbox(io.BytesIO(raw))
    assert found.raw == b"Subject: x\r\n\r\nline\r\n"


def test_a_maildir_gives_flags_from_names_oldest_first(tmp_path: Path) -> None:
    for sub in ("cur", "new", "tmp"):
        (tmp_path / sub).mkdir()
    (tmp_path / "cur" / "1764000000.M1P1.host:2,FS").write_bytes(b"Subject: old\n\nhi\n")
    (tmp_path / "new" / "1764100000.M2P1.host").write_bytes(b"Subject: new\n\nhi\n")
    (tmp_path / "tmp" / "1764200000.M3P1.host").write_bytes(b"Subject: half written\n\n")
    old, new = read_folder(tmp_path)
    assert (old.raw, old.flags, old.received) == (
        b"Subject: old\r\n\r\nhi\r\n", ("\\Flagged", "\\Seen"), 1764000000
    )
    assert (new.flags, new.received) == ((), 1764100000)


@pytest.mark.parametrize("content", [b"Subject: not an mbox\n\n", None, "dir"])
def test_what_is_not_a_mail_folder_is_refused(tmp_path: Path, content: object) -> None:
    path = tmp_path / "thing"
    if content == "dir":
        path.mkdir()
    elif content is not None:
        path.write_bytes(content)  # type: ignore[arg-type]
    with pytest.raises(NotAMailFolder):
        read_folder(path)
