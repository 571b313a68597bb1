"""The search box's little language: words plus ``key:value`` filters.

    from:anna subject:"quarterly report" has:attachment after:2026-01-01 before:2026-06-30

Grammar (a sketch; anything else is a word):
    query   = *(SP / term)
    term    = key ":" value / word
    key     = "from" / "to" / "subject" / "has" / "after" / "before"
    value   = quoted / 1*(any char but SP)
    quoted  = DQUOTE *(any char but DQUOTE) [DQUOTE]     ; an unclosed quote runs to the end

``after:`` includes its day, ``before:`` excludes it (as in the big webmails).
``has:attachment`` (or ``has:attachments``) asks for an attachment. A filter whose value is
not understood (``after:soon``, ``has:cats``) stays in the query as plain words, so nothing the
user typed is silently dropped. Pure: text in, ``Query`` out.
"""

from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass
from datetime import date

MAX_QUERY_CHARS = 500
_TERM = re.compile(r'\s*(?:(?P<key>[A-Za-z]+):(?:"(?P<quoted>[^"]*)"?|(?P<value>\S+))'
                   r'|"(?P<phrase>[^"]*)"?|(?P<word>\S+))')
ATTACHMENT_VALUES = ("attachment", "attachments")


@dataclass(frozen=True, slots=True)
class Query:
    words: str = ""
    sender: str = ""
    recipient: str = ""
    subject: str = ""
    attachment: bool = False
    after: date | None = None  # from this day on
    before: date | None = None  # until the day before this one

    def filtered(self) -> bool:
        """True when anything besides words is asked."""
        return bool(self.sender or self.recipient or self.subject or self.attachment
                    or self.after or self.before)


def parse_date(text: str) -> date | None:
    """``2026-01-31`` (what ``<input type=date>`` sends), also ``2026/01/31``."""
    try:
        return date.fromisoformat(text.strip().replace("/", "-"))
    except ValueError:
        return None


def parse(text: str) -> Query:
    words: list[str] = []
    fields: dict[str, object] = {}
    for match in _TERM.finditer(text[:MAX_QUERY_CHARS]):
        key = (match["key"] or "").lower()
        value = match["quoted"] if match["quoted"] is not None else match["value"]
        if match["word"] is not None or match["phrase"] is not None:
            words.append(match["word"] or match["phrase"] or "")
            continue
        value = (value or "").strip()
        understood = True
        if key in ("from", "to", "subject") and value:
            name = {"from": "sender", "to": "recipient", "subject": "subject"}[key]
            fields[name] = value  # the last one counts, as for every filter
        elif key == "has" and value.lower() in ATTACHMENT_VALUES:
            fields["attachment"] = True
        elif key in ("after", "before") and parse_date(value) is not None:
            fields[key] = parse_date(value)
        else:
            understood = False
        if not understood:
            words.append(match.group(0).strip())
    return Query(words=" ".join(w for w in words if w), **fields)  # type: ignore[arg-type]


def combine(typed: Query, form: Query) -> Query:
    """The box and the filter fields together: a field set in the form wins over the box."""
    changes = {field.name: getattr(form, field.name) for field in dataclasses.fields(Query)
               if field.name != "words" and getattr(form, field.name)}
    words = " ".join(filter(None, (typed.words, form.words)))
    return dataclasses.replace(typed, words=words, **changes)
