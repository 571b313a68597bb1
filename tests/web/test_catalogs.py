"""Every catalog translates every string of the template, with the same placeholders."""

from __future__ import annotations

import re

import pytest
from babel.messages.pofile import read_po

from postbus.web import i18n

PLACEHOLDER = re.compile(r"%\(\w+\)[sd]")


def _pot() -> list[str | tuple[str, ...]]:
    with (i18n.LOCALE_DIR / "messages.pot").open("rb") as source:
        return [message.id for message in read_po(source) if message.id]


@pytest.mark.parametrize("lang", sorted(set(i18n.LANGUAGES) - {i18n.DEFAULT}))
def test_every_msgid_is_translated(lang: str) -> None:
    path = i18n.LOCALE_DIR / lang / "LC_MESSAGES" / "messages.po"
    with path.open("rb") as source:
        catalog = read_po(source, locale=lang)
    untranslated = []
    wrong_placeholders = []
    for msgid in _pot():
        message = catalog.get(msgid)
        strings = () if message is None else (
            (message.string,) if isinstance(message.string, str) else message.string)
        if not strings or not all(s.strip() for s in strings):
            untranslated.append(msgid)
            continue
        ids = (msgid,) if isinstance(msgid, str) else msgid
        wanted = set(PLACEHOLDER.findall(ids[-1]))
        if any(set(PLACEHOLDER.findall(s)) != wanted for s in strings):
            wrong_placeholders.append(msgid)
    assert untranslated == []
    assert wrong_placeholders == []


def test_the_template_matches_the_code() -> None:
    """A string used in the code but missing from messages.pot would never be translated."""
    from babel.messages.extract import extract_from_dir

    method_map = [("**.py", "python"), ("**/templates/**.html", "jinja2")]
    found = {
        message[2] if isinstance(message[2], str) else message[2][0]
        for message in extract_from_dir(str(i18n.LOCALE_DIR.parent), method_map,
                                        options_map={"**/templates/**.html": {
                                            "encoding": "utf-8"}})
    }
    template = {msgid if isinstance(msgid, str) else msgid[0] for msgid in _pot()}
    assert found - template == set()
