"""The text/plain alternative of a message written in the rich-text editor, made from its HTML.

The input is already sanitised (``htmlmail.sanitise_composed``), so it is a small, known set of
tags. The output is what a careful person would type in a plain-text mailer:

- blocks (``p``, ``div``, headings) on lines of their own, a blank line after a paragraph;
- ``br`` a line break;
- list items as ``- item`` (numbered ``1. item`` in an ordered list), indented when nested;
- links as ``text <url>`` (just the URL when the text is the URL);
- quotes as ``> `` before every line, nested quotes ``> > `` (RFC 3676 §4.5 quoting style);
- ``hr`` as a line of dashes; everything else is its text.

Trailing spaces are removed from every line but the signature separator ``-- ``, so a quoted
blank line is ``>`` and no other line ends in a space.
"""

from __future__ import annotations

import re
from html.parser import HTMLParser

BLOCKS = {"p", "div", "h1", "h2", "h3", "h4", "h5", "h6", "pre", "table", "tr", "dl", "dt",
          "dd", "address", "section", "article", "header", "footer", "center", "figure"}
PARAGRAPHS = {"p", "h1", "h2", "h3", "h4", "h5", "h6", "table"}
DROPPED = {"script", "style", "head", "title", "template"}
_SPACES = re.compile(r"[ \t\r\n\f\u00a0]+")
_INVISIBLE = re.compile("[\u200b\ufeff]")  # the editor's cursor placeholders
MAX_DEPTH = 50


class _Writer(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.lines: list[tuple[int, str]] = []  # (quote depth, text)
        self.line = ""
        self.quote = 0
        self.lists: list[list[int]] = []  # per open list: [next number] or [] for bullets
        self.links: list[str] = []  # href of each open link
        self.link_text: list[str] = []
        self.pre = 0
        self.dropped = 0
        self.pending_blank = False

    # -- lines ---------------------------------------------------------------------------------

    def _break(self) -> None:
        """End the current line, if it has anything."""
        if self.line.strip():
            if self.pending_blank and self.lines and self.lines[-1][1]:
                # the blank line between two blocks belongs to the shallower of the two quotes
                self.lines.append((min(self.quote, self.lines[-1][0]), ""))
            self.pending_blank = False
            line = self.line.rstrip()
            if line == "--" and self.line.startswith("-- "):
                line = "-- "  # RFC 3676 §4.3: the signature separator keeps its space
            self.lines.append((self.quote, line))
        self.line = ""

    def _hard_break(self) -> None:
        """A ``br``: ends the line even when it is empty (an empty line the writer typed)."""
        if self.line.strip() or not self.lines:
            self._break()
        else:
            self.lines.append((self.quote, ""))
        self.line = ""

    def _text(self, text: str) -> None:
        if self.dropped:
            return
        text = _INVISIBLE.sub("", text)
        if not self.pre:
            text = _SPACES.sub(" ", text)
            if not self.line.strip():
                text = text.lstrip()
                if not text:
                    return
                self.line = self._indent() + self.line.strip()
        if self.link_text:
            self.link_text[-1] += text
        if self.pre:
            first, *rest = text.split("\n")
            self.line += first
            for piece in rest:
                self._hard_break()
                self.line = piece
        else:
            self.line += text

    def _indent(self) -> str:
        return "  " * max(0, len(self.lists) - 1)

    # -- tags ----------------------------------------------------------------------------------

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in DROPPED:
            self.dropped += 1
            return
        if tag == "br":
            self._hard_break()
        elif tag == "blockquote":
            self._break()
            self.pending_blank = bool(self.lines)
            self.quote += 1
        elif tag in ("ul", "ol"):
            self._break()
            if len(self.lists) < MAX_DEPTH:
                self.lists.append([1] if tag == "ol" else [])
        elif tag == "li":
            self._break()
            marker = "- "
            if self.lists and self.lists[-1]:
                marker = f"{self.lists[-1][0]}. "
                self.lists[-1][0] += 1
            self.line = self._indent() + marker
        elif tag == "a":
            href = dict(attrs).get("href") or ""
            self.links.append(href)
            self.link_text.append("")
        elif tag == "hr":
            self._break()
            self.lines.append((self.quote, "-" * 20))
        elif tag == "pre":
            self._break()
            self.pre += 1
        elif tag in BLOCKS:
            self._break()
            if tag in PARAGRAPHS:
                self.pending_blank = bool(self.lines)

    def handle_endtag(self, tag: str) -> None:
        if tag in DROPPED:
            self.dropped = max(0, self.dropped - 1)
            return
        if tag == "blockquote":
            self._break()
            self.quote = max(0, self.quote - 1)
            self.pending_blank = True
        elif tag in ("ul", "ol"):
            self._break()
            if self.lists:
                self.lists.pop()
        elif tag == "li":
            self._break()
        elif tag == "a" and self.links:
            href = self.links.pop()
            text = self.link_text.pop().strip()
            if self.link_text:
                self.link_text[-1] += text
            target = href.removeprefix("mailto:") if href.startswith("mailto:") else href
            if href and text not in (href, target):
                self.line += f" <{target}>"
            elif href and not text:
                self.line += target
        elif tag == "pre":
            self._break()
            self.pre = max(0, self.pre - 1)
        elif tag in BLOCKS:
            self._break()
            if tag in PARAGRAPHS:
                self.pending_blank = True

    def handle_data(self, data: str) -> None:
        self._text(data)

    def text(self) -> str:
        self._break()
        out = []
        for depth, line in self.lines:
            prefix = "> " * depth
            out.append(prefix + line if line == "-- " else (prefix + line).rstrip())
        while out and not out[-1]:
            out.pop()
        return "\n".join(out) + "\n" if out else ""


def html_to_plain(markup: str) -> str:
    """The plain-text version of composed (sanitised) HTML; ends with a newline if not empty."""
    writer = _Writer()
    writer.feed(markup)
    writer.close()
    return writer.text()
