"""The tokens the receiver hands to the grammar: atoms, strings, literals, lists."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


class Atom(str):
    """An atom as sent (RFC 9051 §9 ``atom``, widened with ``[...]`` sections and wildcards)."""

    __slots__ = ()


@dataclass(frozen=True, slots=True)
class String:
    """A quoted string or a literal (RFC 9051 §4.3), as octets."""

    data: bytes
    literal: bool = False

    def text(self) -> str:
        return self.data.decode("utf-8", "surrogateescape")


@dataclass(frozen=True, slots=True)
class Spooled:
    """A literal too large to keep in memory: written to ``path`` by the server's spool."""

    path: Any  # pathlib.Path, kept as Any so this module stays free of I/O types
    size: int


Token = Atom | String | Spooled | tuple  # a tuple is a parenthesised list of tokens
