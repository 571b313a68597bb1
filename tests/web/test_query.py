"""The search box syntax: a table of inputs and what they mean."""

from __future__ import annotations

from datetime import date

import pytest

from postbus.web.query import Query, combine, parse, parse_date

CASES = [
    ("", Query()),
    ("invoice", Query(words="invoice")),
    ("  two   words ", Query(words="two words")),
    ("from:anna", Query(sender="anna")),
    ("FROM:anna@example.net", Query(sender="anna@example.net")),
    ("to:team@", Query(recipient="team@")),
    ('subject:"quarterly report"', Query(subject="quarterly report")),
    ('subject:"unclosed quote', Query(subject="unclosed quote")),
    ("has:attachment", Query(attachment=True)),
    ("has:Attachments", Query(attachment=True)),
    ("after:2026-01-01", Query(after=date(2026, 1, 1))),
    ("before:2026/06/30", Query(before=date(2026, 6, 30))),
    ('from:anna subject:"quarterly report" has:attachment after:2026-01-01 before:2026-06-30',
     Query(sender="anna", subject="quarterly report", attachment=True,
           after=date(2026, 1, 1), before=date(2026, 6, 30))),
    ("budget from:anna 2026", Query(words="budget 2026", sender="anna")),
    ('"big world" hello', Query(words="big world hello")),
    ("from:anna from:bert", Query(sender="bert")),
    # not understood: kept as words, never dropped
    ("after:soon", Query(words="after:soon")),
    ("has:cats", Query(words="has:cats")),
    ("x:y https://example.test/a", Query(words="x:y https://example.test/a")),
    ("from:", Query(words="from:")),
    ('subject:""', Query(words='subject:""')),
]


@pytest.mark.parametrize(("text", "expected"), CASES)
def test_parse(text: str, expected: Query) -> None:
    assert parse(text) == expected


def test_filtered() -> None:
    assert not parse("just words").filtered()
    assert parse("has:attachment").filtered()


def test_dates() -> None:
    assert parse_date("2026-02-28") == date(2026, 2, 28)
    assert parse_date("2026-02-30") is None
    assert parse_date("") is None
    assert parse_date("yesterday") is None


def test_long_input_is_cut() -> None:
    assert len(parse("word " * 1000).words) <= 500


def test_form_fields_win_over_the_box() -> None:
    typed = parse("budget from:anna after:2026-01-01")
    form = Query(words="plan", sender="bert", attachment=True)
    assert combine(typed, form) == Query(words="budget plan", sender="bert", attachment=True,
                                         after=date(2026, 1, 1))
