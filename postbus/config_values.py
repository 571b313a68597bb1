"""How each setting of postbus.toml is read: the kinds of values and their parsers.

A kind knows what it expects (for the error message) and how to read a TOML value or an
environment string; ``postbus.config`` turns a ``_Mismatch`` into a ``ConfigError`` naming where.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import cast


class _Mismatch(Exception):
    """Raised by a kind's parser; _convert adds where, key, expected and found."""


@dataclass(frozen=True, slots=True)
class _Kind:
    """How one setting is read: ``parse(value, from_env)`` returns it or raises _Mismatch.

    Values from the environment are strings; TOML values must have the right TOML type.
    Paths come back relative; _convert resolves them against the right folder.
    """

    expected: str  # completes "expected ...", e.g. "an integer >= 0"
    parse: Callable[[object, bool], object]


def _need(ok: object) -> None:
    if not ok:
        raise _Mismatch


def _integer(lo: int = 0, hi: int | None = None, expected: str | None = None) -> _Kind:
    def parse(v: object, env: bool) -> int:
        if env and isinstance(v, str) and re.fullmatch(r"\s*[+-]?\d+\s*", v):
            v = int(v)
        _need(isinstance(v, int) and not isinstance(v, bool))
        _need(lo <= cast(int, v) and (hi is None or cast(int, v) <= hi))
        return cast(int, v)

    return _Kind(expected or f"an integer >= {lo}", parse)


def _seconds(lo: int = 1) -> _Kind:
    return _integer(lo, expected=f"a number of seconds >= {lo}")


# 0 means "any free port" (tests, --demo on a busy machine).
_PORT = _integer(0, 65535, "a port number from 1 to 65535 (or 0 for any free port)")

# K/M/G/T and KiB/MiB/GiB/TiB are powers of 1024 (as nginx and Dovecot read "50M");
# kB/MB/GB/TB are powers of 1000, as the SI says.
_SIZE_UNITS = {"": 1, "b": 1}
for _i, _p in enumerate("kmgt", start=1):
    _SIZE_UNITS |= {_p: 1024**_i, f"{_p}ib": 1024**_i, f"{_p}b": 1000**_i}
_SIZE_RE = re.compile(r"\s*(\d+(?:\.\d+)?)\s*([a-z]*)\s*", re.IGNORECASE)


def parse_size(text: str) -> int | None:
    """Bytes in "50MB", "50 MiB", "512k" or "1048576"; None when it is not a size."""
    m = _SIZE_RE.fullmatch(text)
    if m is None or m[2].lower() not in _SIZE_UNITS:
        return None
    return int(Decimal(m[1]) * _SIZE_UNITS[m[2].lower()])


def _size(v: object, env: bool) -> int:
    if isinstance(v, str):
        v = parse_size(v)
    _need(isinstance(v, int) and not isinstance(v, bool) and v >= 0)
    return cast(int, v)


def _bool(v: object, env: bool) -> bool:
    if env and isinstance(v, str):
        v = {"true": True, "yes": True, "on": True, "1": True, "false": False, "no": False,
             "off": False, "0": False}.get(v.strip().lower(), v)  # fmt: skip
    _need(isinstance(v, bool))
    return cast(bool, v)


def _choice(*choices: str) -> _Kind:
    def parse(v: object, env: bool) -> str:
        _need(v in choices)
        return cast(str, v)

    return _Kind("one of " + ", ".join(repr(c) for c in choices), parse)


def _path(optional: bool = False) -> _Kind:
    def parse(v: object, env: bool) -> Path | None:
        if optional and v == "":
            return None
        _need(isinstance(v, str) and v.strip() and "\0" not in v)
        return Path(cast(str, v)).expanduser()

    return _Kind("a path", parse)


# RFC 1123 §2.1 host name: letter-digit-hyphen labels, dots between, at most 253 octets.
_HOSTNAME_RE = re.compile(
    r"(?=.{1,253}\Z)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)*"
    r"[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.?\Z",
    re.IGNORECASE,
)


def _hostname(v: object, env: bool) -> str:
    _need(isinstance(v, str) and _HOSTNAME_RE.match(v))
    return cast(str, v).rstrip(".")


def _dsn(v: object, env: bool) -> str | None:
    # asyncpg takes URLs only, not libpq's "host=... dbname=..." keyword form.
    _need(v == "" or (isinstance(v, str) and re.match(r"postgres(ql)?://", v)))
    return cast(str, v) or None


def _text(v: object, env: bool) -> str:
    _need(isinstance(v, str) and v.strip())
    return cast(str, v).strip()


_SIZE = _Kind('a size in bytes such as 52428800, "50MB" or "50MiB"', _size)
_BOOL = _Kind("true or false", _bool)
_HOSTNAME = _Kind("a host name such as mail.example.org", _hostname)
_DSN = _Kind("a PostgreSQL URL such as postgresql://user:password@host/db", _dsn)
_TEXT = _Kind("a non-empty string", _text)


def _optional_text(v: object, env: bool) -> str:
    _need(isinstance(v, str))
    return cast(str, v).strip()


_OPT_TEXT = _Kind("a string", _optional_text)
_RELAY_TLS = _choice("starttls", "implicit", "none")
_PATH, _OPT_PATH = _path(), _path(optional=True)
_LOG_LEVEL = _choice("debug", "info", "warning", "error")
_BACKEND = _choice("sqlite", "postgres")
_STS_MODE = _choice("none", "testing", "enforce")


def _kind(kind: _Kind) -> dict[str, _Kind]:
    """Field metadata: how the loader parses and checks this setting."""
    return {"kind": kind}




def _nameservers_parse(v: object, env: bool) -> tuple[str, ...]:
    if env and isinstance(v, str):
        v = [part for part in re.split(r"[\s,]+", v) if part]
    _need(isinstance(v, list) and all(isinstance(x, str) for x in v))
    for text in cast(list, v):  # "ip", "ip:port", "[ipv6]:port"
        match = re.fullmatch(r"\[([^\]]+)\](?::(\d+))?|([^:]+)(?::(\d+))?|([0-9a-fA-F:]+)", text)
        _need(match)
        assert match is not None
        host = next(g for g in (match[1], match[3], match[5]) if g)
        port = int(match[2] or match[4] or 53)
        try:
            ipaddress.ip_address(host)
        except ValueError:
            raise _Mismatch from None
        _need(0 < port < 65536)
    return tuple(cast(list, v))


_NAMESERVERS = _Kind(
    'a list of addresses such as ["127.0.0.1:5353", "[::1]:53"]', _nameservers_parse
)
