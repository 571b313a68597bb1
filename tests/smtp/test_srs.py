"""SRS addresses byte for byte as postsrsd writes and reads them, and the secret file.

The vectors are postsrsd's own test suite (run_postsrsd_tests.bats): secret "tops3cr3t",
forwarding domain example.com, the clock at 2020-01-01 00:01:00 UTC.
"""

from __future__ import annotations

import calendar
import os
import stat
import string
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from postbus.smtp import srs
from postbus.smtp.srs import SrsError

SECRET = b"tops3cr3t"
DOMAIN = "example.com"
NOW = calendar.timegm((2020, 1, 1, 0, 1, 0))
DAY = 86400

FORWARD = [
    ("test@otherdomain.com", "SRS0=vmyz=2W=otherdomain.com=test@example.com"),
    ("test@example.com", "test@example.com"),  # our own domain: nothing to rewrite
    ("TEST@Example.COM", "TEST@Example.COM"),
    ("SRS1=X=thirddomain.com==opaque+string@otherdomain.com",
     "SRS1=JIBX=thirddomain.com==opaque+string@example.com"),
    ("", ""),  # RFC 5321 §4.5.5: the null sender stays null
    ("<>", "<>"),
]  # fmt: skip

REVERSE = [
    ("SRS0=XjO9=2V=otherdomain.com=test@example.com", "test@otherdomain.com"),
    ("SRS1=JIBX=thirddomain.com==opaque+string@example.com", "SRS0=opaque+string@thirddomain.com"),
    ("srs0=xjo9=2v=otherdomain.com=test@example.com", "test@otherdomain.com"),  # case smashed
    ("SRS0=XJO9=2V=OTHERDOMAIN.COM=TEST@EXAMPLE.COM", "TEST@OTHERDOMAIN.COM"),
    ("SRS0+XjO9=2V=otherdomain.com=test@example.com", "test@otherdomain.com"),  # "+" separator
    ("SRS0=XjO9=2V=otherdomain.com=a=b@example.com", None),  # "=" in the user part: hash differs
]

REFUSED = [
    ("SRS0=te87=T7=otherdomain.com=test@example.com", "out of date"),  # six months old
    ("SRS0=VcIb=7N=otherdomain.com=test@example.com", "out of date"),  # six months ahead
    ("SRS0=FAKE=2V=otherdomain.com=test@example.com", "hash invalid"),
    ("SRS0=XjO=2V=otherdomain.com=test@example.com", "hash invalid"),  # too short
    ("SRS0=XjO9=2@=otherdomain.com=test@example.com", "out of date"),  # not base32
    ("SRS1=FAKE=thirddomain.com==opaque+string@example.com", "hash invalid"),
    ("SRS0=@example.com", "malformed"),
    ("SRS0=XjO9@example.com", "malformed"),
    ("SRS0=XjO9=2V@example.com", "malformed"),
    ("SRS0=XjO9=2V=otherdomain.com@example.com", "malformed"),
    ("SRS0=XjO9==otherdomain.com=test@example.com", "malformed"),
    ("SRS1=JIBX=thirddomain.com@example.com", "malformed"),
    ("test@example.com", "not an SRS address"),
    ("SRS2=XjO9=2V=otherdomain.com=test@example.com", "not an SRS address"),
    ("SRS0@example.com", "not an SRS address"),
]


@pytest.mark.parametrize(("sender", "expected"), FORWARD)
def test_forward_writes_what_postsrsd_writes(sender: str, expected: str) -> None:
    assert srs.forward(sender, DOMAIN, SECRET, NOW) == expected


def test_an_srs0_of_another_forwarder_becomes_srs1_and_comes_back() -> None:
    rewritten = srs.forward("SRS0=opaque+string@otherdomain.com", DOMAIN, SECRET, NOW)
    assert rewritten.startswith("SRS1=") and rewritten.endswith("=otherdomain.com==opaque+string"
                                                                "@example.com")  # fmt: skip
    assert srs.reverse(rewritten, SECRET, NOW) == "SRS0=opaque+string@otherdomain.com"


@pytest.mark.parametrize(("address", "expected"), REVERSE)
def test_reverse_reads_what_postsrsd_writes(address: str, expected: str | None) -> None:
    if expected is None:
        with pytest.raises(SrsError):
            srs.reverse(address, SECRET, NOW)
    else:
        assert srs.reverse(address, SECRET, NOW) == expected


@pytest.mark.parametrize(("address", "reason"), REFUSED)
def test_forged_expired_and_malformed_addresses_are_refused(address: str, reason: str) -> None:
    with pytest.raises(SrsError, match=reason):
        srs.reverse(address, SECRET, NOW)


def test_addresses_that_cannot_be_rewritten() -> None:
    for sender in ("no-at-sign", "@example.org", "user@", '"a b"@example.org'):
        with pytest.raises(SrsError):
            srs.forward(sender, DOMAIN, SECRET, NOW)


def test_age_limit_and_the_1024_day_wrap() -> None:
    made = srs.forward("a@b.example", DOMAIN, SECRET, NOW)
    assert srs.reverse(made, SECRET, NOW + 21 * DAY) == "a@b.example"
    with pytest.raises(SrsError, match="out of date"):
        srs.reverse(made, SECRET, NOW + 22 * DAY)
    assert srs.reverse(made, SECRET, NOW + 5 * DAY, max_age_days=5) == "a@b.example"
    with pytest.raises(SrsError, match="out of date"):
        srs.reverse(made, SECRET, NOW + 6 * DAY, max_age_days=5)
    with pytest.raises(SrsError, match="out of date"):
        srs.reverse(made, SECRET, NOW - DAY)  # from tomorrow: wrapped, so very old
    # Stamps are days modulo 1024: the same stamp is fresh again 1024 days on (libsrs2 does so).
    assert srs.reverse(made, SECRET, NOW + 1024 * DAY) == "a@b.example"
    late = srs.forward("a@b.example", DOMAIN, SECRET, NOW + 1030 * DAY)  # the stamp wrapped
    assert srs.reverse(late, SECRET, NOW + 1035 * DAY) == "a@b.example"


def test_another_secret_does_not_verify_and_rotation_does() -> None:
    made = srs.forward("a@b.example", DOMAIN, SECRET, NOW)
    with pytest.raises(SrsError, match="hash invalid"):
        srs.reverse(made, b"other", NOW)
    assert srs.reverse(made, [b"new", SECRET], NOW) == "a@b.example"


def test_is_srs() -> None:
    assert srs.is_srs("SRS0=h=tt=d=u@x") and srs.is_srs("srs1+x@y") and srs.is_srs("SRS0-x@y")
    for address in ("srs0@x", "SRS0x@y", "bob@x", "", "SRS0="):
        assert not srs.is_srs(address), address


_LOCAL = st.text(string.ascii_letters + string.digits + "!#$%&'*+/=?^_`{|}~.-", min_size=1,
                 max_size=40)  # fmt: skip
_DOMAIN = st.from_regex(r"[a-z0-9]{1,10}(\.[a-z0-9]{1,10}){0,2}\.[a-z]{2,5}", fullmatch=True)


@given(local=_LOCAL, domain=_DOMAIN, day=st.integers(0, 40000), age=st.integers(0, 21))
def test_round_trip(local: str, domain: str, day: int, age: int) -> None:
    now = day * DAY + 123
    sender = f"{local}@{domain}"
    rewritten = srs.forward(sender, "fwd.example", SECRET, now)
    assert rewritten.endswith("@fwd.example")
    assert srs.reverse(rewritten, SECRET, now + age * DAY) == sender
    assert srs.reverse(rewritten.upper(), SECRET, now + age * DAY).lower() == sender.lower()


@given(st.text(max_size=120))
def test_reverse_of_anything_is_an_address_or_srs_error(text: str) -> None:
    try:
        result = srs.reverse(text, SECRET, NOW)
    except SrsError:
        return
    assert "@" in result


# -- the secret file ------------------------------------------------------------------------


def test_the_secret_is_made_once_private_and_kept(tmp_path: Path) -> None:
    path = tmp_path / srs.KEY_FILE
    first = srs.load_secrets(path)
    assert len(first) == 1 and len(first[0]) >= 40
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert srs.load_secrets(path) == first


def test_a_postsrsd_secrets_file_is_read_as_it_is(tmp_path: Path) -> None:
    path = tmp_path / "postsrsd.secret"
    path.write_text("tops3cr3t\n# old one below, still verifies\nolder\n")
    os.chmod(path, 0o600)
    assert srs.load_secrets(path) == (b"tops3cr3t", b"older")
    empty = tmp_path / "empty"
    empty.write_text("\n")
    with pytest.raises(SrsError, match="no SRS secret"):
        srs.load_secrets(empty)
