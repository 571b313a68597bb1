"""The text/plain alternative made from composed HTML (``postbus/web/plaintext.py``)."""

from __future__ import annotations

import pytest

from postbus.web.plaintext import html_to_plain

CASES = [
    # Squire writes one div per line, an empty line as <div><br></div>
    ("<div>Hello <b>world</b></div><div><br></div><div>Second</div>", "Hello world\n\nSecond\n"),
    ("<div>one<br>two</div>", "one\ntwo\n"),
    ("<p>first</p><p>second</p>", "first\n\nsecond\n"),
    ("<ul><li>tea</li><li>coffee<ul><li>black</li></ul></li></ul>",
     "- tea\n- coffee\n  - black\n"),
    ("<ol><li>one</li><li>two</li></ol>", "1. one\n2. two\n"),
    ('<div>See <a href="https://example.test/a">the plan</a>.</div>',
     "See the plan <https://example.test/a>.\n"),
    ('<div><a href="https://example.test/">https://example.test/</a></div>',
     "https://example.test/\n"),
    ('<div><a href="mailto:ann@example.test">ann@example.test</a></div>', "ann@example.test\n"),
    ("<div>Yes.</div><blockquote><div>Shall we?</div><div><br></div>"
     "<blockquote><div>Lunch</div></blockquote></blockquote><div>Bye</div>",
     "Yes.\n\n> Shall we?\n>\n> > Lunch\n\nBye\n"),
    ("<div>a&nbsp;&amp;&lt;b&gt;</div>", "a &<b>\n"),
    ("<div>x\u200by</div>", "xy\n"),  # the editor's cursor placeholder
    ("<div><br></div><div>-- </div><div>Demo</div>", "-- \nDemo\n"),  # RFC 3676 §4.3
    ("<div>tail   </div>", "tail\n"),
    ("<pre>  keep\n    this</pre>", "  keep\n    this\n"),
    ("<style>p{}</style><script>alert(1)</script><div>only</div>", "only\n"),
    ("", ""),
    ("<div><br></div>", ""),
]


@pytest.mark.parametrize(("markup", "expected"), CASES)
def test_html_to_plain(markup: str, expected: str) -> None:
    assert html_to_plain(markup) == expected


def test_deep_nesting_indents_at_most_fifty_levels() -> None:
    lines = html_to_plain("<ul><li>" * 500 + "deep" + "</li></ul>" * 500).split("\n")
    assert lines[-2].strip() == "- deep"
    assert max(len(line) for line in lines) <= 2 * 50 + 6
