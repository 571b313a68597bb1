"""RFC 5256 base subject and HTML to text."""

from __future__ import annotations

import pytest

from postbus.mime import base_subject, html_to_text


@pytest.mark.parametrize(
    ("subject", "expected"),
    [
        ("Hello", "Hello"),
        ("Re: Hello", "Hello"),
        ("RE: re: Re:Hello", "Hello"),
        ("Fwd: Hello", "Hello"),
        ("FW: Hello", "Hello"),
        ("Re[2]: Hello", "Hello"),  # subj-refwd with subj-blob
        ("Re [2]: Hello", "Hello"),
        ("[list] Re: Hello", "Hello"),  # subj-blob before subj-refwd
        ("Re: [list] Hello", "Hello"),  # step 4: leading blob removed
        ("[list]", "[list]"),  # ... but not when nothing would remain
        ("Hello (fwd)", "Hello"),  # step 2: subj-trailer
        ("Hello (fwd) (FWD)  ", "Hello"),
        ("[Fwd: Re: Hello]", "Hello"),  # step 6: subj-fwd
        ("Re: [Fwd: [list] Hello (fwd)]", "Hello"),
        ("  Hello \t  world ", "Hello world"),  # step 1: WSP collapsed
        ("Reply to me", "Reply to me"),
        ("Re:", ""),
        ("", ""),
        ("Re: Re: [x] [y] Fwd: z", "z"),
    ],
)
def test_base_subject(subject: str, expected: str) -> None:
    assert base_subject(subject) == expected


def test_base_subject_hostile_input_is_fast() -> None:
    base_subject("(fwd)" * 50_000)
    base_subject("Re: " * 50_000)
    base_subject("[" * 50_000)


@pytest.mark.parametrize(
    ("markup", "expected"),
    [
        ("<p>One</p><p>Two</p>", "One\nTwo"),
        ("a<br>b<br/>c", "a\nb\nc"),
        ("<b>bold</b>face", "boldface"),
        ("<head><title>T</title><style>x{}</style></head><body>Hi</body>", "Hi"),
        ("<script>var a = '<p>no</p>';</script>yes", "yes"),
        ("<!-- hidden <p>x</p> -->shown", "shown"),
        ("caf&eacute; &amp; &#8364;&nbsp;5", "café & € 5"),
        ("<table><tr><td>a</td><td>b</td></tr></table>", "a b"),
        ("<SCRIPT>never closed", ""),
        ("1 < 2 and 3 > 2", "1 < 2 and 3 > 2"),
    ],
)
def test_html_to_text(markup: str, expected: str) -> None:
    assert html_to_text(markup) == expected


def test_html_to_text_unclosed_scripts_are_linear() -> None:
    html_to_text("<script>" * 100_000)
    html_to_text("<!--" * 100_000)
