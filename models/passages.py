"""Token-aware splitting of long documents into overlapping passages.

An encoder sees at most a few hundred tokens, so a long document is embedded as
several passages, each ending on a sentence or word boundary where one is near,
and overlapping its neighbour so that no sentence is only ever seen cut in half.
A document's score for a query then comes from its best passages.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from models.exceptions import ConfigurationError

#: Maps texts to, for each text, the (start, end) character span of every token.
TokenOffsets = Callable[[Sequence[str]], list[list[tuple[int, int]]]]

_SENTENCE_END = re.compile(r"[.!?:;]\s|\n")


@dataclass(frozen=True, slots=True)
class Span:
    """A passage as a character span of its document's text."""

    start: int
    end: int


@dataclass(frozen=True, slots=True)
class PassageSplitter:
    """Splits texts into overlapping windows of at most ``max_tokens`` tokens.

    Args:
        token_offsets: the encoder's tokenizer, as a function giving token spans.
        max_tokens: the most tokens of document text in one passage (the title,
            prepended at embedding time, comes on top).
        overlap: tokens shared by consecutive passages.
    """

    token_offsets: TokenOffsets
    max_tokens: int = 200
    overlap: int = 40

    def __post_init__(self) -> None:
        if self.max_tokens < 8:
            raise ConfigurationError(
                f"passage max_tokens must be at least 8, got {self.max_tokens}"
            )
        if not 0 <= self.overlap <= self.max_tokens // 2:
            raise ConfigurationError(
                f"passage overlap must be between 0 and half of max_tokens "
                f"({self.max_tokens // 2}), got {self.overlap}"
            )

    def split(self, texts: Sequence[str], budgets: Sequence[int] | None = None) -> list[list[Span]]:
        """Split each text; an empty text gives one empty span, so every document has a passage.

        Args:
            texts: the texts to split.
            budgets: per text, a smaller token limit to use instead of ``max_tokens``
                (e.g. to leave room for a long title); never below ``2 * overlap + 8``.
        """
        offsets = self.token_offsets(texts)
        limits = budgets if budgets is not None else [self.max_tokens] * len(texts)
        floor = 2 * self.overlap + 8
        return [
            self._windows(text, spans, max(floor, min(self.max_tokens, limit)))
            for text, spans, limit in zip(texts, offsets, limits, strict=True)
        ]

    def _windows(self, text: str, tokens: list[tuple[int, int]], size: int) -> list[Span]:
        tokens = [t for t in tokens if t[1] > t[0]]
        n = len(tokens)
        if n <= size:
            return [Span(0, len(text))] if n else [Span(0, 0)]
        windows: list[Span] = []
        first = 0
        while True:
            last = min(first + size, n)  # exclusive
            if last < n:
                last = self._boundary(text, tokens, first, last)
            start = 0 if first == 0 else tokens[first][0]
            end = len(text) if last == n else tokens[last - 1][1]
            windows.append(Span(start, end))
            if last == n:
                return windows
            nxt = max(last - self.overlap, first + 1)
            # Back up to a word start, but never by more than half the overlap:
            # text without spaces (CJK, base64, minified code) has no word starts.
            floor = max(first + 1, nxt - max(1, self.overlap // 2))
            first = self._word_start(text, tokens, nxt, floor=floor)

    def _boundary(self, text: str, tokens: list[tuple[int, int]], first: int, last: int) -> int:
        """Pull the window's end back to a sentence end, else a word end, if one is near."""
        reach = max(1, (last - first) // 4)
        for cut in range(last, last - reach, -1):
            end = tokens[cut - 1][1]
            if _SENTENCE_END.match(text, end - 1) or _SENTENCE_END.match(text, end):
                return cut
        for cut in range(last, last - reach, -1):
            if self._starts_word(text, tokens, cut):
                return cut
        return last

    def _word_start(
        self, text: str, tokens: list[tuple[int, int]], index: int, *, floor: int
    ) -> int:
        """Move a window's first token back to the start of its word (not below floor).

        If no word starts between floor and index, the window starts at index.
        """
        start = index
        while index > floor and not self._starts_word(text, tokens, index):
            index -= 1
        return index if self._starts_word(text, tokens, index) else start

    @staticmethod
    def _starts_word(text: str, tokens: list[tuple[int, int]], index: int) -> bool:
        start = tokens[index][0]
        return start == 0 or tokens[index - 1][1] < start or text[start - 1].isspace()
