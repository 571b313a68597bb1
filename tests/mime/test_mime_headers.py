"""Header-level pieces: unfolding, RFC 2047, dates, message ids, addresses, parameters."""

from __future__ import annotations

import calendar

import pytest

from postbus.mime import get_header, header_block
from postbus.mime.addresses import parse_address_list, to_addresses
from postbus.mime.headers import decode_words, parse_date, parse_message_id, parse_msg_ids
from postbus.mime.params import param_value, parse_content_type, parse_disposition


def test_header_block_and_get_header_crlf_and_lf() -> None:
    for eol in ("\r\n", "\n"):
        raw = eol.join(["Subject: one", " two", "X-A: 1", "x-a:  2 ", "", "body"]).encode()
        block = header_block(raw)
        assert block.endswith((eol + eol).encode())
        assert raw.startswith(block)
        assert get_header(block, "subject") == ["one two"]  # RFC 5322 §2.2.3 unfolding
        assert get_header(block, "X-A") == ["1", "2"]
        assert get_header(block, "missing") == []


def test_header_block_without_separator_is_all_header() -> None:
    assert header_block(b"Subject: x\r\nFrom: y") == b"Subject: x\r\nFrom: y"
    assert header_block(b"\r\nbody") == b"\r\n"
    assert header_block(b"no header here\r\n\r\n") == b""


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("plain text", "plain text"),
        # RFC 2047 §8 examples
        ("(=?ISO-8859-1?Q?a?=)", "(a)"),
        ("(=?ISO-8859-1?Q?a?= b)", "(a b)"),
        ("(=?ISO-8859-1?Q?a?= =?ISO-8859-1?Q?b?=)", "(ab)"),
        ("(=?ISO-8859-1?Q?a?=  =?ISO-8859-1?Q?b?=)", "(ab)"),
        ("(=?ISO-8859-1?Q?a_b?=)", "(a b)"),
        ("(=?ISO-8859-1?Q?a?= =?ISO-8859-2?Q?_b?=)", "(a b)"),
        ("=?UTF-8?B?R3LDvMOfZQ==?=", "Grüße"),
        ("=?utf-8?b?R3LDvMOfZQ?=", "Grüße"),  # missing padding tolerated
        ("=?utf-8*de?q?Gr=C3=BC=C3=9Fe?=", "Grüße"),  # RFC 2231 §5 language
        ("=?utf-8?B?w6Q=?==?utf-8?B?w7Y=?=", "äö"),
        ("=?utf-8?B?8J+Y?= =?utf-8?B?gA==?=", "😀"),  # a character split across words
        ("=?x-unknown?q?caf=E9?=", "café"),  # unknown charset: UTF-8, else Latin-1
        ("=?utf-8?b?***?=", "=?utf-8?b?***?="),
        ("a =?utf-8?q?b?= c", "a b c"),
    ],
)
def test_decode_words(value: str, expected: str) -> None:
    assert decode_words(value) == expected


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("Fri, 21 Nov 1997 09:55:06 -0600", (1997, 11, 21, 15, 55, 6)),
        ("21 Nov 97 09:55:06 GMT", (1997, 11, 21, 9, 55, 6)),
        (
            "Thu,\r\n 13\r\n Feb\r\n 1969\r\n 23:32\r\n -0330 (Newfoundland Time)",
            (1969, 2, 14, 3, 2, 0),
        ),
        ("Tue, 1 Jul 2003 10:52:37 +0200", (2003, 7, 1, 8, 52, 37)),
        ("Mon, 7 Feb 1994 21:52 PST", (1994, 2, 8, 5, 52, 0)),
        ("1 Jan 2049 00:00:00 +0000", (2049, 1, 1, 0, 0, 0)),
        ("1 Jan 49 00:00:00 +0000", (2049, 1, 1, 0, 0, 0)),  # RFC 5322 §4.3
        ("1 Jan 50 00:00:00 +0000", (1950, 1, 1, 0, 0, 0)),
        ("Wed, 15 March 2023 08:00:00 +0000", (2023, 3, 15, 8, 0, 0)),
    ],
)
def test_parse_date(value: str, expected: tuple[int, ...]) -> None:
    assert parse_date(value) == calendar.timegm(expected)


@pytest.mark.parametrize("value", [None, "", "yesterday", "32 Jan 2020 10:00:00", "1 Foo 2020 1:2"])
def test_parse_date_garbage(value: str | None) -> None:
    assert parse_date(value) is None


def test_message_ids() -> None:
    assert parse_message_id(" <a@b>  ") == "<a@b>"
    assert parse_message_id("a@b") == "<a@b>"
    assert parse_message_id("<a @ b> (comment)") == "<a@b>"
    assert parse_message_id("") is None
    assert parse_msg_ids("<1@x> <2@x>\t<3@x>") == ("<1@x>", "<2@x>", "<3@x>")
    assert parse_msg_ids("Your message of ... <1@x>") == ("<1@x>",)
    assert parse_msg_ids(None) == ()


N = None


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("jdoe@example.com", [[N, N, "jdoe", "example.com"]]),
        ("John Doe <jdoe@example.com>", [["John Doe", N, "jdoe", "example.com"]]),
        ('"Doe, John" <jdoe@example.com>', [["Doe, John", N, "jdoe", "example.com"]]),
        ('"J \\"Q\\" Doe" <j@x>', [['J "Q" Doe', N, "j", "x"]]),
        ("a@b, c@d", [[N, N, "a", "b"], [N, N, "c", "d"]]),
        ("jdoe@example.com (John Doe)", [["John Doe", N, "jdoe", "example.com"]]),
        # RFC 5322 A.1.2
        (
            '"Joe Q. Public" <john.q.public@example.com>',
            [["Joe Q. Public", N, "john.q.public", "example.com"]],
        ),
        (
            "Mary Smith <mary@x.test>, jdoe@example.org, Who? <one@y.test>",
            [
                ["Mary Smith", N, "mary", "x.test"],
                [N, N, "jdoe", "example.org"],
                ["Who?", N, "one", "y.test"],
            ],
        ),
        (
            '<boss@nil.test>, "Giant; \\"Big\\" Box" <sysservices@example.net>',
            [[N, N, "boss", "nil.test"], ['Giant; "Big" Box', N, "sysservices", "example.net"]],
        ),
        # RFC 5322 A.1.3 group, and an empty group
        (
            "A Group:Ed Jones <c@a.test>,joe@where.test,John <jdoe@one.test>;",
            [
                [N, N, "A Group", N],
                ["Ed Jones", N, "c", "a.test"],
                [N, N, "joe", "where.test"],
                ["John", N, "jdoe", "one.test"],
                [N, N, N, N],
            ],
        ),
        ("Undisclosed recipients:;", [[N, N, "Undisclosed recipients", N], [N, N, N, N]]),
        # RFC 5322 §4.4 obs-route
        (
            "<@relay.test,@two.test:joe@example.com>",
            [[N, "@relay.test,@two.test", "joe", "example.com"]],
        ),
        # encoded name stays raw in the envelope
        ("=?utf-8?q?J=C3=B6rg?= <j@x>", [["=?utf-8?q?J=C3=B6rg?=", N, "j", "x"]]),
        # broken ones
        ("foo", [[N, N, "foo", "MISSING_DOMAIN"]]),
        ("<@x>", [[N, N, "MISSING_MAILBOX", "x"]]),
        ("Name <a@b> junk, c@d", [["Name", N, "a", "b"], [N, N, "c", "d"]]),
        ("Group: a@b", [[N, N, "Group", N], [N, N, "a", "b"], [N, N, N, N]]),
        ("", []),
        (",,,", []),
    ],
)
def test_parse_address_list(value: str, expected: list) -> None:
    assert parse_address_list(value) == expected


def test_to_addresses_decodes_and_drops_group_markers() -> None:
    env = parse_address_list("G: =?utf-8?q?J=C3=B6rg?= <j@x>;, foo")
    assert [(a.name, a.email) for a in to_addresses(env)] == [("Jörg", "j@x"), ("", "foo")]


def test_content_type_and_rfc2231() -> None:
    assert parse_content_type(None, ("text", "plain")) == ("text", "plain", {"charset": "us-ascii"})
    assert parse_content_type("garbage", ("message", "rfc822")) == ("message", "rfc822", {})
    t, s, p = parse_content_type('Text/HTML; Charset="UTF-8"; format=flowed', ("text", "plain"))
    assert (t, s, p) == ("text", "html", {"charset": "UTF-8", "format": "flowed"})
    # RFC 2231 §3 continuations and §4 charset/language
    _, _, p = parse_content_type(
        "application/x-stuff; title*0*=us-ascii'en'This%20is%20even%20more%20;"
        ' title*1*=%2A%2A%2Afun%2A%2A%2A%20; title*2="isn\'t it!"',
        ("text", "plain"),
    )
    assert param_value(p, "title") == "This is even more ***fun*** isn't it!"
    assert "title*" in p
    kind, dp = parse_disposition('ATTACHMENT; filename="=?utf-8?q?r=C3=A9sum=C3=A9.pdf?="')
    assert kind == "attachment"
    assert param_value(dp, "filename") == "résumé.pdf"
    assert parse_disposition("inline; filename=a b.txt") == ("inline", {"filename": "a b.txt"})


def test_header_block_of_views_and_mmap() -> None:
    import mmap
    import tempfile

    raw = b"Subject: x\r\n\r\nbody"
    assert header_block(memoryview(raw)) == b"Subject: x\r\n\r\n"
    assert header_block(memoryview(b"..." + raw)[3:]) == b"Subject: x\r\n\r\n"
    with tempfile.TemporaryFile() as f:
        f.write(raw)
        f.flush()
        with mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ) as mm:
            assert header_block(mm) == b"Subject: x\r\n\r\n"
