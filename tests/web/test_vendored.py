"""Vendored browser libraries are exactly the release their note names (sha256, unmodified)."""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

import pytest

STATIC = Path(__file__).parents[2] / "postbus" / "web" / "static"
NOTES = sorted(STATIC.glob("*.js.txt"))


def test_every_vendored_script_has_a_note() -> None:
    ours = {"app.js", "compose.js"}
    scripts = {path.name for path in STATIC.glob("*.js")} - ours
    assert scripts == {path.name.removesuffix(".txt") for path in NOTES}


@pytest.mark.parametrize("note", NOTES, ids=lambda path: path.name)
def test_vendored_script_matches_its_note(note: Path) -> None:
    text = note.read_text(encoding="utf-8")
    digest = re.search(r"sha256 ([0-9a-f]{64})", text)
    assert digest is not None
    script = note.with_name(note.name.removesuffix(".txt"))
    assert hashlib.sha256(script.read_bytes()).hexdigest() == digest.group(1)
    assert "Licence:" in text
