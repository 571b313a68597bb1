"""What the full-text index keeps of a message, and how queries are folded to match it."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from postbus.store.search import fold, index_words, words_of


def test_index_words_fold_split_and_keep_each_word_once() -> None:
    text = "Één report-2026.pdf; ÉÉN “quoted” snake_case Straße\r\nnaïve — CAFÉ café"
    words = index_words(text).split()
    assert len(words) == len(set(words))
    assert set(words) == {
        "een",
        "report",
        "2026",
        "pdf",
        "quoted",
        "snake",
        "case",
        "straße",
        "naive",
        "cafe",
    }


def test_queries_fold_the_same_way() -> None:
    assert words_of("ÉÉN Café_bar") == ["een", "cafe", "bar"]
    assert fold("ÄÖÜ") == "aou" and fold("ASCII Only") == "ascii only"


def test_every_query_word_of_a_text_is_among_its_index_words() -> None:
    text = "Ünïcödé — “mixed” text, with_under-scores & 42 numbers…"
    assert set(words_of(text)) <= set(index_words(text).split())


_TEXT = st.text(
    st.sampled_from(
        [*"abcXYZ019 _-.,;:\r\n\t\"'<>", *"éÉßøÅ€“”—…İıΣσςЖж中文ﬁＡ", "\u00a0", "\u0301", "①"]
    ),
    max_size=60,
)


@settings(max_examples=500)
@given(_TEXT | st.text(max_size=40))
def test_index_words_are_the_words_a_query_finds(text: str) -> None:
    # The fast ASCII path and the Unicode path must split and fold as queries do.
    assert set(index_words(text).split()) == set(words_of(text))
