"""Sequence sets (RFC 9051 §9 ``sequence-set``): message numbers or UIDs, ``*`` for the last.

    sequence-set    = (seq-number / seq-range) ["," sequence-set]
    seq-range       = seq-number ":" seq-number
    seq-number      = nz-number / "*"

    seq-last-command = "$"   ; RFC 5182 §3: the saved search result, only ever alone
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from postbus.imap.proto.errors import ParseError

STAR = 0  # stands for "*" inside a SequenceSet
MAX_NUMBER = 0xFFFFFFFF  # RFC 9051 nz-number is a 32-bit value
MAX_ITEMS = 10_000

_NUMBER = re.compile(r"[1-9][0-9]{0,9}|\*")


@dataclass(frozen=True, slots=True)
class SequenceSet:
    """Ranges as written; ``STAR`` (0) stands for ``*``. Resolve against the largest number."""

    ranges: tuple[tuple[int, int], ...]
    saved: bool = False  # "$": the session's saved search result (RFC 5182)

    @classmethod
    def parse(cls, text: str) -> SequenceSet:
        if text == "$":
            return SAVED
        items = text.split(",")
        if len(items) > MAX_ITEMS:
            raise ParseError("Sequence set too long")
        out = []
        for item in items:
            ends = item.split(":")
            if len(ends) > 2 or not all(_NUMBER.fullmatch(e) for e in ends):
                raise ParseError(f"Invalid sequence set {text[:40]!r}")
            values = [STAR if e == "*" else int(e) for e in ends]
            if any(v > MAX_NUMBER for v in values):
                raise ParseError("Number out of range")
            out.append((values[0], values[-1]))
        return cls(tuple(out))

    def resolve(self, largest: int) -> list[tuple[int, int]]:
        """Inclusive (low, high) ranges with ``*`` replaced, sorted and merged.

        RFC 9051 §6.4.8: "n:*" always includes the last message, even when n is larger.
        """
        spans = []
        for a, b in self.ranges:
            a = largest if a == STAR else a
            b = largest if b == STAR else b
            if a > b:
                a, b = b, a
            spans.append((a, b))
        return merge(spans)

    def __str__(self) -> str:
        if self.saved:
            return "$"
        return ",".join(
            f"{_fmt(a)}" if a == b else f"{_fmt(a)}:{_fmt(b)}" for a, b in self.ranges
        )


SAVED = SequenceSet((), saved=True)


def _fmt(n: int) -> str:
    return "*" if n == STAR else str(n)


def merge(spans: Sequence[tuple[int, int]]) -> list[tuple[int, int]]:
    out: list[tuple[int, int]] = []
    for a, b in sorted(spans):
        if out and a <= out[-1][1] + 1:
            if b > out[-1][1]:
                out[-1] = (out[-1][0], b)
        else:
            out.append((a, b))
    return out


def compress(numbers: Sequence[int]) -> str:
    """Sorted numbers as the shortest sequence set: 1:3,5,7:9 (for COPYUID, ESEARCH ALL)."""
    parts = []
    spans = merge([(n, n) for n in numbers])
    for a, b in spans:
        parts.append(str(a) if a == b else f"{a}:{b}")
    return ",".join(parts)


def compress_ordered(numbers: Sequence[int]) -> str:
    """Numbers in the order given (COPYUID pairs must keep their order), runs joined."""
    parts: list[str] = []
    i = 0
    while i < len(numbers):
        j = i
        while j + 1 < len(numbers) and numbers[j + 1] == numbers[j] + 1:
            j += 1
        parts.append(str(numbers[i]) if i == j else f"{numbers[i]}:{numbers[j]}")
        i = j + 1
    return ",".join(parts)
