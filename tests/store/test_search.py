"""What the full-text index keeps of a message, and how queries are folded to match it."""

from __future__ import annotations

from postbus.store.search import fold, index_words, words_of


def test_index_words_fold_split_and_keep_each_word_once() -> None:
    text = "Één report-2026.pdf; ÉÉN “quoted” snake_case Straße\r\nnaïve — CAFÉ café"
    words = index_words(text).split()
    assert len(words) == len(set(words))
    assert set(words) == {
        "een", "report", "2026", "pdf", "quoted", "snake", "case", "straße", "naive", "cafe",
    }


def test_queries_fold_the_same_way() -> None:
    assert words_of("ÉÉN Café_bar") == ["een", "cafe", "bar"]
    assert fold("ÄÖÜ") == "aou" and fold("ASCII Only") == "ascii only"


def test_every_query_word_of_a_text_is_among_its_index_words() -> None:
    text = "Ünïcödé — “mixed” text, with_under-scores & 42 numbers…"
    assert set(words_of(text)) <= set(index_words(text).split())
