"""Typed protocol errors; the command loop turns each into one tagged response."""

from __future__ import annotations


class ImapError(Exception):
    status = "BAD"

    def __init__(self, text: str, code: str | None = None) -> None:
        super().__init__(text)
        self.text = text
        self.code = code


class ImapBad(ImapError):
    """Malformed or illegal command: tagged BAD (RFC 9051 §7.1.3)."""

    status = "BAD"


class ImapNo(ImapError):
    """Well-formed but refused: tagged NO (RFC 9051 §7.1.2)."""

    status = "NO"


class ParseError(ImapBad):
    """The grammar refused a command."""
