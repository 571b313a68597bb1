"""HTML to plain text, for search and previews only (never for display).

Fast and approximate: regular expressions, no DOM. Content of <script>, <style>, <head>,
<title> and comments is dropped; block elements become line breaks; other tags vanish;
character references are unescaped. Every step is linear in the input: an unclosed <script>
drops the rest of the document instead of being searched for again and again.
"""

from __future__ import annotations

import html
import re

MAX_HTML_CHARS = 512 * 1024

_DROP_OPEN = re.compile(r"<(script|style|head|title|template|noscript)\b|<!--", re.IGNORECASE)
_DROP_CLOSE = {
    name: re.compile(rf"</{name}\s*>", re.IGNORECASE)
    for name in ("script", "style", "head", "title", "template", "noscript")
}
_COMMENT_CLOSE = re.compile(r"-->")
_BLOCK = re.compile(
    r"<\s*/?\s*(?:br|p|div|tr|li|ul|ol|h[1-6]|table|blockquote|hr|pre|section|article|header|"
    r"footer|dd|dt|dl|address|center)\b[^>]*>",
    re.IGNORECASE,
)
_CELL = re.compile(r"<\s*/?\s*t[dh]\b[^>]*>", re.IGNORECASE)
_TAG = re.compile(r"<[!/?]?[A-Za-z][^>]*>")
_SPACES = re.compile(r"[ \t\r\f\v\u00a0]+")
_BLANK_LINES = re.compile(r"\n\s*\n+")


def _drop_hidden(text: str) -> str:
    out = []
    pos = 0
    while True:
        m = _DROP_OPEN.search(text, pos)
        if m is None:
            out.append(text[pos:])
            break
        out.append(text[pos : m.start()])
        name = m.group(1)
        close = _COMMENT_CLOSE if name is None else _DROP_CLOSE[name.lower()]
        c = close.search(text, m.end())
        if c is None:
            break
        pos = c.end()
        out.append(" ")
    return "".join(out)


def html_to_text(markup: str) -> str:
    """Readable text of an HTML document: one paragraph per line, spaces collapsed."""
    if len(markup) > MAX_HTML_CHARS:
        markup = markup[:MAX_HTML_CHARS]
    text = _drop_hidden(markup)
    text = _BLOCK.sub("\n", text)
    text = _CELL.sub(" ", text)
    text = _TAG.sub("", text)
    text = html.unescape(text)
    text = _SPACES.sub(" ", text)
    text = _BLANK_LINES.sub("\n", text)
    return "\n".join(line.strip() for line in text.split("\n")).strip()
