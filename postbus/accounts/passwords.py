"""Password hashing (argon2id, RFC 9106) and the weak-password check for new passwords.

Passwords are NFKC-normalised before hashing, so "é" typed on a phone and on a desktop
(composed or not) is the same password (NIST SP 800-63B §5.1.1.2). These functions block for
tens of milliseconds: the asyncio glue runs them in a thread.
"""

from __future__ import annotations

import re
import string
import unicodedata

from argon2 import PasswordHasher, Type
from argon2.exceptions import InvalidHashError, VerificationError

__all__ = [
    "COMMON",
    "CONTAINS_ADDRESS",
    "MIN_LENGTH",
    "ONE_KIND",
    "TOO_SHORT",
    "hash_password",
    "needs_rehash",
    "password_problem",
    "verify_password",
    "verify_unknown_user",
]

# OWASP Password Storage Cheat Sheet, first argon2id row: m=19 MiB, t=2, p=1. About 50 ms
# here: slow for an attacker with a stolen table, fast enough for a login and for tests.
_HASHER = PasswordHasher(
    time_cost=2, memory_cost=19 * 1024, parallelism=1, hash_len=32, salt_len=16, type=Type.ID
)

# The hash of a random password nobody knows, made with the same parameters as _HASHER (a
# test keeps them equal). Verifying against it makes an unknown user cost what a wrong
# password costs (design.md "Sign-in").
_DUMMY_HASH = (
    "$argon2id$v=19$m=19456,t=2,p=1$7GMzp32ApZAG9y02jPxucg$"
    "DAoK3nSVMXv/OSV2EG1An+XPbINdkXCU98llQOqMHvg"
)


def _normal(password: str) -> str:
    return unicodedata.normalize("NFKC", password)


def hash_password(password: str) -> str:
    """A new argon2id hash in PHC string form ($argon2id$v=19$m=...,t=...,p=...$salt$hash)."""
    return _HASHER.hash(_normal(password))


def verify_password(stored_hash: str, password: str) -> bool:
    """True when ``password`` matches; False for a wrong password or any malformed hash."""
    try:
        return _HASHER.verify(stored_hash, _normal(password))
    except (VerificationError, InvalidHashError, ValueError, TypeError):
        return False


def needs_rehash(stored_hash: str) -> bool:
    """True when the hash was made with other parameters (rehash it after a good login)."""
    try:
        return _HASHER.check_needs_rehash(stored_hash)
    except (InvalidHashError, ValueError, TypeError):
        return True


def verify_unknown_user(password: str) -> bool:
    """Spend the time of one verification, then return False (the user does not exist)."""
    verify_password(_DUMMY_HASH, password)
    return False


# --- weak new passwords ---------------------------------------------------------------------

MIN_LENGTH = 10  # NIST SP 800-63B §5.1.1.2 asks for 8 at least; 10 resists online guessing
_ONE_KIND_UNDER = 16  # a single character class is fine in a long passphrase

# The reasons, as constants so the web layer can translate them.
TOO_SHORT = f"The password is shorter than {MIN_LENGTH} characters."
CONTAINS_ADDRESS = "The password contains your e-mail address or a part of it."
COMMON = "The password is one of the most common passwords."
ONE_KIND = (
    f"The password is only digits or only letters of one case; "
    f"use at least {_ONE_KIND_UNDER} characters or mix kinds."
)

# The top of the breached-password lists (in English, Dutch, German, French and Spanish)
# that survive the length rule with a few digits or symbols added: "Password2024!".
_COMMON_WORDS = """
    password passwort wachtwoord motdepasse contrasena contrasenya
    qwerty qwertz azerty qwertyuiop asdfgh asdfghjkl zxcvbnm qazwsx abc abcd abcdef
    letmein welcome welkom willkommen bienvenue bienvenido iloveyou ichliebedich jetaime
    teamo admin administrator root master login user guest test changeme secret default
    dragon monkey football fussball voetbal soccer baseball sunshine princess shadow
    superman batman trustno1 starwars pokemon hello hallo bonjour hola summer winter
    spring autumn freedom whatever computer internet
"""
_COMMON = frozenset(_COMMON_WORDS.split())
_LEET = str.maketrans("@0134$5", "aoieass")
_EDGE = string.digits + string.punctuation + string.whitespace


def _one_kind(password: str) -> bool:
    return password.isdigit() or (password.isalpha() and (password.islower() or password.isupper()))


def password_problem(password: str, address: str) -> str | None:
    """Why ``password`` is too weak for ``address`` (one plain sentence), or None if fine."""
    password = _normal(password)
    if len(password) < MIN_LENGTH:
        return TOO_SHORT
    lowered = password.casefold()
    local = address.rpartition("@")[0].casefold() or address.casefold()
    # The whole local part, and each word of "john.smith" / "j_smith+news" of 4 or more.
    names = {local, *(w for w in re.split(r"[._+\-]", local) if len(w) >= 4)}
    if any(len(name) >= 3 and name in lowered for name in names):
        return CONTAINS_ADDRESS
    # "P@ssw0rd2024!": strip digits and symbols at the ends, undo the usual substitutions.
    core = lowered.strip(_EDGE)
    candidates = {lowered, core, core.translate(_LEET), lowered.translate(_LEET).strip(_EDGE)}
    if candidates & _COMMON:
        return COMMON
    if len(password) < _ONE_KIND_UNDER and _one_kind(password):
        return ONE_KIND
    return None
