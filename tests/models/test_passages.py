from __future__ import annotations

import re
from collections.abc import Sequence

import pytest

from models.encoder import Encoder
from models.exceptions import ConfigurationError
from models.passages import PassageSplitter, Span


def words(texts: Sequence[str]) -> list[list[tuple[int, int]]]:
    """A tokenizer with one token per word, enough to check window arithmetic."""
    return [[m.span() for m in re.finditer(r"\S+", t)] for t in texts]


def tokens_in(text: str, span: Span) -> list[str]:
    return text[span.start : span.end].split()


def test_short_text_is_one_passage() -> None:
    splitter = PassageSplitter(words, max_tokens=10, overlap=2)
    assert splitter.split(["one two three"]) == [[Span(0, 13)]]


def test_empty_text_still_gives_one_passage() -> None:
    splitter = PassageSplitter(words, max_tokens=10, overlap=2)
    assert splitter.split(["", "   "]) == [[Span(0, 0)], [Span(0, 0)]]


def test_long_text_windows_cover_every_token_within_the_limit_and_overlap() -> None:
    text = " ".join(f"w{i}" for i in range(100))
    splitter = PassageSplitter(words, max_tokens=20, overlap=5)
    spans = splitter.split([text])[0]
    assert len(spans) > 5
    seen: set[str] = set()
    for first, second in zip(spans, spans[1:], strict=False):
        assert len(tokens_in(text, first)) <= 20
        assert set(tokens_in(text, first)) & set(tokens_in(text, second)), "neighbours must overlap"
    for span in spans:
        seen.update(tokens_in(text, span))
    assert seen == set(text.split())


def test_windows_end_at_a_sentence_when_one_is_near() -> None:
    sentence = "alpha beta gamma delta epsilon zeta eta theta."
    text = " ".join([sentence] * 6)
    spans = PassageSplitter(words, max_tokens=20, overlap=4).split([text])[0]
    for span in spans[:-1]:
        assert text[span.start : span.end].endswith("."), text[span.start : span.end]


def test_budget_shrinks_a_window_but_never_below_the_floor() -> None:
    text = " ".join(f"w{i}" for i in range(60))
    splitter = PassageSplitter(words, max_tokens=40, overlap=4)
    narrow = splitter.split([text], budgets=[10])[0]
    assert all(len(tokens_in(text, s)) <= 16 for s in narrow)  # floor is 2 * overlap + 8
    assert len(narrow) > len(splitter.split([text])[0])


@pytest.mark.parametrize(("max_tokens", "overlap"), [(4, 0), (20, 11), (20, -1)])
def test_rejects_unusable_sizes(max_tokens: int, overlap: int) -> None:
    with pytest.raises(ConfigurationError):
        PassageSplitter(words, max_tokens=max_tokens, overlap=overlap)


def test_real_tokenizer_windows_fit_the_model(encoder: Encoder) -> None:
    text = "Quantum error correction protects logical qubits. " * 80
    splitter = PassageSplitter(encoder.token_offsets, max_tokens=128, overlap=16)
    spans = splitter.split([text])[0]
    counts = encoder.count_tokens([text[s.start : s.end] for s in spans])
    assert len(spans) > 3
    assert max(counts) <= 128
    assert spans[0].start == 0 and spans[-1].end == len(text)


@pytest.mark.parametrize("text", ["汉" * 4000, "QUJD" * 1000])
def test_text_without_spaces_still_advances_by_a_whole_window(text: str) -> None:
    def characters(texts: Sequence[str]) -> list[list[tuple[int, int]]]:
        return [[(i, i + 1) for i in range(len(t))] for t in texts]

    spans = PassageSplitter(characters, max_tokens=200, overlap=40).split([text])[0]
    assert len(spans) <= 4000 / 160 + 1
    assert spans[-1].end == len(text)
