"""Modified UTF-7 mailbox names (RFC 3501 §5.1.3)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from postbus.imap.proto import mutf7

CASES = [
    ("INBOX", "INBOX"),
    ("Entwürfe", "Entw&APw-rfe"),
    ("~peter/mail/台北/日本語", "~peter/mail/&U,BTFw-/&ZeVnLIqe-"),  # RFC 3501 §5.1.3
    ("a&b", "a&-b"),
    ("&", "&-"),
    ("Gelöschte Elemente", "Gel&APY-schte Elemente"),
    ("😀", "&2D3eAA-"),
]


@pytest.mark.parametrize(("name", "wire"), CASES)
def test_encode_and_decode(name: str, wire: str) -> None:
    assert mutf7.encode(name) == wire
    assert mutf7.decode(wire) == name


@pytest.mark.parametrize("bad", ["&", "a&Jjo", "&Jjo!-", "&AGE-", "ü", "&A-"])
def test_invalid_input_is_refused(bad: str) -> None:
    with pytest.raises(mutf7.MUTF7Error):
        mutf7.decode(bad)


@given(st.text(st.characters(blacklist_categories=("Cs",)), max_size=30))
def test_round_trip(name: str) -> None:
    wire = mutf7.encode(name)
    assert wire.isascii()
    assert mutf7.decode(wire) == name
