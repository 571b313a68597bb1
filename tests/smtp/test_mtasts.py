"""MTA-STS parsing and MX matching (postbus.smtp.mtasts): tables of RFC 8461 examples and
broken input, each fed whole."""

from __future__ import annotations

import contextlib

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from postbus.smtp.mtasts import (
    MAX_AGE_LIMIT,
    Mode,
    Policy,
    StsError,
    parse_policy,
    parse_record,
    policy_id,
    policy_text,
    published_policy,
    record_text,
    select_record,
)

# RFC 8461 §3.1: 'v=STSv1; id=20160831085700Z;'
RECORDS = [
    ("v=STSv1; id=20160831085700Z;", "20160831085700Z"),
    ("v=STSv1; id=20160831085700Z", "20160831085700Z"),
    ("v=STSv1;id=abc", "abc"),
    ("v=STSv1 ;\tid=abc ; ", "abc"),  # *WSP ";" *WSP
    ("v=STSv1; id=abc; ext=v-1.2", "abc"),  # extensions are ignored
    ("v=STSv1; ext=1; id=abc", "abc"),
    ("v=STSv1; id=first; id=second", "first"),  # the first one counts
    ("v=STSv1; id=" + "a" * 32, "a" * 32),
]

BAD_RECORDS = [
    "",
    "v=STSv1",  # no id field at all
    "v=STSv1;",
    "v=STSv1; ext=1",  # no id
    "v=STSv2; id=abc",
    "V=STSv1; id=abc",  # %s: case-sensitive
    " v=STSv1; id=abc",
    "v=STSv1 id=abc",  # no delimiter
    "v=STSv1; id=ab-c",  # id is letters and digits only
    "v=STSv1; id=" + "a" * 33,
    "v=STSv1; id=",
    "v=STSv1; id=abc;; ext=1",  # an empty field
    "v=STSv1; id=abc ext=1",
    "v=STSv1; ext=a=b; id=abc",  # "=" is not in sts-ext-value
    "v=STSv1; _ext=1; id=abc",  # an extension name starts with a letter or digit
    "v=STSv1; id=abc\x00",
    "v=STSv1; id=äbc",
]


@pytest.mark.parametrize(("text", "record_id"), RECORDS)
def test_record(text: str, record_id: str) -> None:
    assert parse_record(text) == record_id
    assert select_record([text]) == record_id


@pytest.mark.parametrize("text", BAD_RECORDS)
def test_bad_record(text: str) -> None:
    with pytest.raises(StsError):
        parse_record(text)
    assert select_record([text]) is None


def test_record_selection() -> None:
    """RFC 8461 §3.1: other TXT records are discarded; not exactly one left: no policy."""
    assert select_record(["v=spf1 -all", "v=STSv1; id=one"]) == "one"
    assert select_record(["v=STSv1; id=one", "v=STSv1; id=two"]) is None
    assert select_record(["v=STSv1; id=one", "v=STSv1; id=bad-id"]) is None
    assert select_record(["v=STSv10; id=one"]) is None  # not "v=STSv1;"
    assert select_record([]) is None
    assert select_record(["hello"]) is None


# RFC 8461 §3.2, the example policy.
EXAMPLE = (
    b"version: STSv1\r\n"
    b"mode: enforce\r\n"
    b"mx: mail.example.com\r\n"
    b"mx: *.example.net\r\n"
    b"mx: backupmx.example.com\r\n"
    b"max_age: 604800\r\n"
)

MX = ("mail.example.com", "*.example.net", "backupmx.example.com")
ENFORCE, TESTING = Mode.ENFORCE, Mode.TESTING
POLICIES = [
    (EXAMPLE, Policy(ENFORCE, 604800, MX)),
    (EXAMPLE.replace(b"\r\n", b"\n"), Policy(ENFORCE, 604800, MX)),
    (EXAMPLE.rstrip(b"\r\n"), Policy(ENFORCE, 604800, MX)),
    (b"version: STSv1\nmode: testing\nmx: MX.Example.ORG\nmax_age: 86400\n",
     Policy(TESTING, 86400, ("mx.example.org",))),
    (b"version: STSv1\nmode: none\nmax_age: 0\n", Policy(Mode.NONE, 0, ())),  # §8.3: no mx
    (b"mode:enforce\nmax_age:\t60  \nmx: a.test\nversion: STSv1", Policy(ENFORCE, 60, ("a.test",))),
    # The first of a repeated field counts; unknown fields are ignored, even UTF-8 ones.
    ("version: STSv1\nmode: testing\nmode: enforce\nmax_age: 1\nmax_age: 2\nmx: a.test\n"
     "comment: für alle\nx_ext-1.y: a  b\n".encode(), Policy(TESTING, 1, ("a.test",))),
    (f"version: STSv1\nmode: enforce\nmx: a.test\nmax_age: {MAX_AGE_LIMIT}".encode(),
     Policy(ENFORCE, MAX_AGE_LIMIT, ("a.test",))),
]  # fmt: skip

BAD_POLICIES = [
    b"",
    b"\n",
    b"version: STSv1\nmode: enforce\nmx: a.test\n",  # no max_age
    b"mode: enforce\nmx: a.test\nmax_age: 1\n",  # no version
    b"version: STSv1\nmx: a.test\nmax_age: 1\n",  # no mode
    b"version: STSv1\nmode: enforce\nmax_age: 1\n",  # enforce without mx
    b"version: STSv1\nmode: testing\nmax_age: 1\n",
    b"version: STSv2\nmode: enforce\nmx: a.test\nmax_age: 1\n",
    b"version: stsv1\nmode: enforce\nmx: a.test\nmax_age: 1\n",  # %s: case-sensitive
    b"version: STSv1\nmode: Enforce\nmx: a.test\nmax_age: 1\n",
    b"version: STSv1\nmode: report\nmx: a.test\nmax_age: 1\n",
    b"version: STSv1\nmode: enforce\nmx: a.test\nmax_age: -1\n",
    b"version: STSv1\nmode: enforce\nmx: a.test\nmax_age: 1w\n",
    b"version: STSv1\nmode: enforce\nmx: a.test\nmax_age: 12345678901\n",  # 11 digits
    f"version: STSv1\nmode: enforce\nmx: a.test\nmax_age: {MAX_AGE_LIMIT + 1}\n".encode(),
    b"version: STSv1\nmode: enforce\nmx: a..test\nmax_age: 1\n",
    b"version: STSv1\nmode: enforce\nmx: -a.test\nmax_age: 1\n",
    b"version: STSv1\nmode: enforce\nmx: *.*.a.test\nmax_age: 1\n",
    b"version: STSv1\nmode: enforce\nmx: a*.test\nmax_age: 1\n",
    b"version: STSv1\nmode: enforce\nmx: a.test.\nmax_age: 1\n",
    b"version: STSv1\nmode: enforce\nmx: a.test b.test\nmax_age: 1\n",
    "version: STSv1\nmode: enforce\nmx: bücher.test\nmax_age: 1\n".encode(),  # U-label
    b"version: STSv1\nmode: enforce\nmx: " + b"a" * 64 + b".test\nmax_age: 1\n",
    b"version: STSv1\n\nmode: enforce\nmx: a.test\nmax_age: 1\n",  # an empty line
    b"version: STSv1\nmode: enforce\nmx: a.test\nmax_age: 1\n\n",
    b"version STSv1\nmode: enforce\nmx: a.test\nmax_age: 1\n",
    b" version: STSv1\nmode: enforce\nmx: a.test\nmax_age: 1\n",
    b"version: STSv1\rmode: enforce\nmx: a.test\nmax_age: 1\n",  # a lone CR
    b"version: STSv1\nmode: enforce\nmx: a.test\nmax_age: 1\nnote:\n",  # empty extension
    b"version: STSv1\nmode: enforce\nmx: a.test\nmax_age: 1\nnote: a\x07b\n",
    b"version: STSv1\nmode: enforce\nmx: a.test\nmax_age: 1\nnote: \xff\n",  # not UTF-8
    b"<html><body>Not Found</body></html>",
]


@pytest.mark.parametrize(("body", "policy"), POLICIES)
def test_policy(body: bytes, policy: Policy) -> None:
    assert parse_policy(body) == policy
    assert parse_policy(body.decode()) == policy


@pytest.mark.parametrize("body", BAD_POLICIES)
def test_bad_policy(body: bytes) -> None:
    with pytest.raises(StsError):
        parse_policy(body)


def test_mx_matching() -> None:
    """RFC 8461 §4.1, with the examples of §3.2."""
    policy = parse_policy(EXAMPLE)
    assert policy.matches("mail.example.com")
    assert policy.matches("MAIL.Example.com.")
    assert policy.matches("backupmx.example.com")
    assert policy.matches("mx1.example.net")  # "*." stands for one label...
    assert not policy.matches("example.net")  # ...not none
    assert not policy.matches("a.mx1.example.net")  # ...and not two
    assert not policy.matches("mail.example.com.evil.test")
    assert not policy.matches("other.example.com")
    assert not policy.matches(".example.net")


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=200))
def test_parsers_raise_only_their_own_error(data: bytes) -> None:
    for parse in (parse_policy, lambda d: parse_record(d.decode("latin-1"))):
        with contextlib.suppress(StsError):
            parse(data)


@pytest.mark.parametrize("mode", ["testing", "enforce"])
def test_our_policy_reads_back(mode: str) -> None:
    """What we publish parses as what we meant, and its record announces its id (§3.1, §3.2)."""
    text = published_policy(mode, "mail.example.org", 604800)
    assert text == policy_text(Mode(mode), ("mail.example.org",), 604800)
    assert parse_policy(text) == Policy(Mode(mode), 604800, ("mail.example.org",))
    assert select_record([record_text(text)]) == policy_id(text)
    assert policy_id(text) != policy_id(text.replace("604800", "86400"))
    assert published_policy("none", "mail.example.org", 604800) is None
