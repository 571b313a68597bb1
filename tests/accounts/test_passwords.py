import time

import pytest

from postbus.accounts import passwords
from postbus.accounts.passwords import (
    COMMON,
    CONTAINS_ADDRESS,
    ONE_KIND,
    TOO_SHORT,
    hash_password,
    needs_rehash,
    password_problem,
    verify_password,
    verify_unknown_user,
)


def test_round_trip() -> None:
    stored = hash_password("correct horse battery staple")
    assert stored.startswith("$argon2id$v=19$m=19456,t=2,p=1$")
    assert verify_password(stored, "correct horse battery staple")
    assert not verify_password(stored, "correct horse battery stapler")
    assert not verify_password(stored, "")
    assert not needs_rehash(stored)


def test_salted() -> None:
    assert hash_password("same password") != hash_password("same password")


def test_unicode_is_normalised() -> None:
    composed, decomposed = (
        "caf\u00e9-cr\u00e8me-br\u00fbl\u00e9e",
        "cafe\u0301-cre\u0300me-bru\u0302le\u0301e",
    )
    assert composed != decomposed
    assert verify_password(hash_password(composed), decomposed)


@pytest.mark.parametrize(
    "stored",
    [
        "",
        "not a hash",
        "$argon2id$v=19$m=19456,t=2,p=1$bad",
        "$argon2id$v=19$m=19456,t=2,p=1$!!!!$!!!!",
        "$2b$12$C6UzMDM.H6dfI/f/IKcEeO5k3Zx6Oe/3WbqNm1iYx5a4bH7qK8b3a",  # bcrypt
        "$argon2id$v=19$m=1,t=1,p=1$c2FsdHNhbHQ$aGFzaA",  # parameters argon2 refuses
    ],
)
def test_malformed_hash_is_false_never_an_error(stored: str) -> None:
    assert verify_password(stored, "password") is False
    assert needs_rehash(stored) is True


def test_old_parameters_need_rehash() -> None:
    weak = "$argon2id$v=19$m=8192,t=1,p=1$c29tZXNhbHRzb21lc2FsdA$" + "A" * 43
    assert needs_rehash(weak)


def test_unknown_user_is_false_and_uses_live_parameters() -> None:
    assert verify_unknown_user("anything") is False
    assert verify_unknown_user("") is False
    # The dummy hash must cost what a real one costs: same parameters as new hashes.
    assert not needs_rehash(passwords._DUMMY_HASH)


def test_unknown_user_takes_as_long_as_a_wrong_password() -> None:
    stored = hash_password("the real password")

    def best_of(f: object, n: int = 5) -> float:
        times = []
        for _ in range(n):
            start = time.perf_counter()
            f()  # type: ignore[operator]
            times.append(time.perf_counter() - start)
        return min(times)

    wrong = best_of(lambda: verify_password(stored, "a wrong password"))
    unknown = best_of(lambda: verify_unknown_user("a wrong password"))
    assert 0.5 < unknown / wrong < 2


@pytest.mark.parametrize(
    ("password", "address", "reason"),
    [
        ("short", "ann@example.org", TOO_SHORT),
        ("123456789", "ann@example.org", TOO_SHORT),
        ("", "ann@example.org", TOO_SHORT),
        ("johnsmith1990", "johnsmith@example.org", CONTAINS_ADDRESS),
        ("XJohnSmithX!", "johnsmith@example.org", CONTAINS_ADDRESS),
        ("smith-forever-2024", "john.smith@example.org", CONTAINS_ADDRESS),
        ("bob-is-the-best", "bob@example.org", CONTAINS_ADDRESS),
        ("password2024", "ann@example.org", COMMON),
        ("Password123!", "ann@example.org", COMMON),
        ("P@ssw0rd2024!", "ann@example.org", COMMON),
        ("qwertyuiop", "ann@example.org", COMMON),
        ("!!iloveyou!!", "ann@example.org", COMMON),
        ("Wachtwoord01", "ann@example.org", COMMON),
        ("1234567890", "ann@example.org", ONE_KIND),
        ("abcdefghijk", "ann@example.org", ONE_KIND),
        ("ZZZZZZZZZZZZ", "ann@example.org", ONE_KIND),
    ],
)
def test_weak_passwords(password: str, address: str, reason: str) -> None:
    assert password_problem(password, address) == reason


@pytest.mark.parametrize(
    "password",
    [
        "correct horse battery staple",
        "Tr0ub4dor&3xyz",
        "lanternsandlighthouses",  # one kind, but long
        "mijn-fiets-is-blauw",
        "Ünïcödé-pässwörd",
    ],
)
def test_good_passwords(password: str) -> None:
    assert password_problem(password, "ann.de-vries@example.org") is None


def test_short_local_part_does_not_match_everything() -> None:
    assert password_problem("a strong passphrase here", "a@example.org") is None


def test_problems_are_plain_sentences() -> None:
    for reason in (TOO_SHORT, CONTAINS_ADDRESS, COMMON, ONE_KIND):
        assert reason[0].isupper() and reason.endswith(".") and "\n" not in reason
