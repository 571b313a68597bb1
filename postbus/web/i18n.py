"""Translations for the web pages: gettext catalogs under ``locale/<lang>/LC_MESSAGES``.

The catalogs are kept as ``.po`` text only (no compiled ``.mo`` in the tree, no build step):
each is read once with Babel and compiled in memory on first use. English is the source
language, so "en" needs no catalog. The language of a page is the user's setting, else the
``pb_lang`` cookie (the sign-in page's chooser), else the browser's Accept-Language, else
English.

Update the catalogs after changing strings:
    pybabel extract -F postbus/web/locale/babel.cfg -o postbus/web/locale/messages.pot postbus/web
    pybabel update -i postbus/web/locale/messages.pot -d postbus/web/locale
"""

from __future__ import annotations

import functools
import gettext
import io
from collections.abc import Callable
from pathlib import Path

from babel import Locale
from babel.core import UnknownLocaleError
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.support import NullTranslations, Translations

LOCALE_DIR = Path(__file__).parent / "locale"
LANGUAGES = {
    "en": "English",
    "nl": "Nederlands",
    "de": "Deutsch",
    "fr": "Français",
    "es": "Español",
}
DEFAULT = "en"
LANG_COOKIE = "pb_lang"


@functools.cache
def translations(lang: str) -> gettext.NullTranslations:
    """The compiled catalog of ``lang`` (an empty one for English or a missing file)."""
    path = LOCALE_DIR / lang / "LC_MESSAGES" / "messages.po"
    if lang not in LANGUAGES or not path.exists():
        return NullTranslations()
    with path.open("rb") as source:
        catalog = read_po(source, locale=lang)
    compiled = io.BytesIO()
    write_mo(compiled, catalog)
    compiled.seek(0)
    return Translations(compiled)


def pick(setting: str | None, cookie: str | None, accept_language: str | None) -> str:
    """The page language: the user's setting, the cookie, then the browser's preference."""
    for choice in (setting, cookie):
        if choice in LANGUAGES:
            return choice  # type: ignore[return-value]
    for lang in _accepted(accept_language or ""):
        if lang in LANGUAGES:
            return lang
    return DEFAULT


def _accepted(header: str) -> list[str]:
    """Language tags of an Accept-Language header, best first (RFC 9110 §12.5.4)."""
    weighted: list[tuple[float, int, str]] = []
    for position, item in enumerate(header.split(",")[:20]):
        tag, _, params = item.strip().partition(";")
        quality = 1.0
        if params.strip().startswith("q="):
            try:
                quality = float(params.strip()[2:])
            except ValueError:
                quality = 0.0
        if tag and quality > 0:
            weighted.append((-quality, position, tag.split("-")[0].lower()))
    return [tag for _, _, tag in sorted(weighted)]


def locale(lang: str) -> Locale:
    try:
        return Locale.parse(lang)
    except (UnknownLocaleError, ValueError):
        return Locale.parse(DEFAULT)


Gettext = Callable[[str], str]
