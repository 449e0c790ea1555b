"""How large one document may be: characters, and passages (params.yaml ``ingest:``).

One document far larger than the rest costs more than it gives: a 30 MB text
file splits into tens of thousands of passages that take an hour to embed, and
splitting it alone needs gigabytes. A document over ``max_document_chars``
characters or ``max_document_passages`` passages is skipped, or with
``oversize: truncate`` cut to its beginning; either way the report says so.
Files and JSONL lines are read no further than the limit allows, so memory
stays proportional to the largest allowed document, whatever the input.

Passages are counted without the encoder's tokenizer (ingestion loads no model):
a word of plain lowercase letters counts one token per 8 characters, any other
word one per 3, and each punctuation mark or CJK character one. That is 0.99 to
1.11 times the default encoder's count on the sample, the development sets and
Python code; on random strings, digits or non-Latin scripts it can be off by half.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, NamedTuple

from models.config import reject_unknown
from models.exceptions import ConfigurationError
from pipelines.ingest.records import RecordError

OVERSIZE = ("skip", "truncate")
#: A JSONL line may take this many bytes per allowed character (a JSON escape such as
#: \u00e9 takes 6), plus LINE_ALLOWANCE for the other fields; past that it is not parsed.
LINE_BYTES_PER_CHAR = 8
LINE_ALLOWANCE = 65_536
_CJK = "\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uac00-\ud7af\uf900-\ufaff"
_PIECES = re.compile(rf"[{_CJK}]|[^\W{_CJK}]+|[^\w\s]")
_FIX = (
    "split the document, raise {setting} in params.yaml's ingest section, "
    "or set ingest.oversize: truncate to keep its beginning"
)


@dataclass(frozen=True, slots=True)
class IngestConfig:
    """Ingestion parameters, params.yaml's ``ingest`` section.

    Attributes:
        max_document_chars: the most characters of one document's text; a file
            or JSONL line is read no further than this allows.
        max_document_passages: the most passages one document may be split into
            (estimated at ingestion, with the recommender's passage size).
        oversize: what becomes of a document over either limit: ``skip`` it, or
            ``truncate`` it to its beginning; both are reported.
    """

    max_document_chars: int = 1_000_000
    max_document_passages: int = 2000
    oversize: str = "skip"

    def __post_init__(self) -> None:
        for name, high in (("max_document_chars", 10**10), ("max_document_passages", 10**7)):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= high:
                raise ConfigurationError(
                    f"ingest.{name} must be a whole number from 1 to {high:,}, not {value!r}"
                )
        if self.oversize not in OVERSIZE:
            raise ConfigurationError(
                f"ingest.oversize must be one of {', '.join(OVERSIZE)}, not {self.oversize!r}"
            )

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> IngestConfig:
        """Checked values of the ``ingest`` section.

        Raises:
            ConfigurationError: an unknown name or a value of the wrong kind.
        """
        reject_unknown(values, cls, "ingest")
        return cls(**values)


class Fitted(NamedTuple):
    """A document's text within the limits, and what was cut from it (None: nothing)."""

    text: str
    warning: str | None


@dataclass(frozen=True, slots=True)
class Limits:
    """The ingestion limits, with the passage size that passages are counted in.

    Attributes:
        config: the ``ingest`` parameters.
        passage_tokens: tokens per passage (params.yaml ``recommender.passage_tokens``).
        passage_overlap: tokens shared by consecutive passages.
    """

    config: IngestConfig = field(default_factory=IngestConfig)
    passage_tokens: int = 200
    passage_overlap: int = 40

    @property
    def max_chars(self) -> int:
        """The most characters of a document's text."""
        return self.config.max_document_chars

    @property
    def truncate(self) -> bool:
        """Whether a document over a limit is cut rather than skipped."""
        return self.config.oversize == "truncate"

    @property
    def max_tokens(self) -> int:
        """The most (estimated) tokens that make at most ``max_document_passages`` passages."""
        stride = max(1, self.passage_tokens - self.passage_overlap)
        return self.passage_tokens + (self.config.max_document_passages - 1) * stride

    @property
    def max_line_bytes(self) -> int:
        """The longest JSONL line that is parsed: one that could hold an allowed document."""
        return LINE_BYTES_PER_CHAR * self.max_chars + LINE_ALLOWANCE

    def too_many_chars(self, what: str) -> RecordError:
        """The error that skips a document over the character limit (``what`` says by how much)."""
        fix = _FIX.format(setting="ingest.max_document_chars")
        return RecordError("too large", f"{what}; {fix}", "text")

    def line_too_long(self) -> str:
        """Why a JSONL line was skipped unread."""
        return (
            f"the line is longer than {self.max_line_bytes:,} bytes, more than a record "
            f"within ingest.max_document_chars ({self.max_chars:,}) can take, so it was "
            "not read (not even with oversize: truncate); split the record, or raise "
            "ingest.max_document_chars in params.yaml's ingest section"
        )

    def cut_note(self, what: str) -> str:
        """The warning for a document cut to the character limit."""
        return (
            f"{what}; only its first {self.max_chars:,} characters are kept "
            "(ingest.oversize: truncate)"
        )

    def fit(self, text: str) -> Fitted:
        """The text within both limits, cut where ``oversize`` is truncate.

        Raises:
            RecordError: the text is over a limit and ``oversize`` is skip.
        """
        warning = None
        if len(text) > self.max_chars:
            what = (
                f"the text has {len(text):,} characters, over ingest.max_document_chars "
                f"({self.max_chars:,})"
            )
            if not self.truncate:
                raise self.too_many_chars(what)
            text, warning = text[: self.max_chars], self.cut_note(what)
        # Every estimated token takes at least one character: a short text is within.
        if len(text) <= self.max_tokens:
            return Fitted(text, warning)
        cut = _token_cut(text, self.max_tokens)
        if cut is None:
            return Fitted(text, warning)
        passages = self._passages(estimate_tokens(text))
        what = (
            f"the text makes about {passages:,} passages, more than "
            f"ingest.max_document_passages ({self.config.max_document_passages:,})"
        )
        if not self.truncate:
            fix = _FIX.format(setting="ingest.max_document_passages")
            raise RecordError("too large", f"{what}; {fix}", "text")
        kept = (
            f"{what}; only the text of its first {self.config.max_document_passages:,} "
            "passages is kept (ingest.oversize: truncate)"
        )
        return Fitted(text[:cut].rstrip(), kept if warning is None else f"{warning}; {kept}")

    def _passages(self, tokens: int) -> int:
        stride = max(1, self.passage_tokens - self.passage_overlap)
        extra = max(0, tokens - self.passage_tokens)
        return 1 + -(-extra // stride)


def estimate_tokens(text: str) -> int:
    """About how many tokens the default encoder cuts a text into (see the module notes)."""
    return sum(_weight(m.group()) for m in _PIECES.finditer(text))


def _token_cut(text: str, budget: int) -> int | None:
    """Where the text passes ``budget`` estimated tokens (at a piece's start), or None."""
    total = 0
    for match in _PIECES.finditer(text):
        total += _weight(match.group())
        if total > budget:
            return match.start()
    return None


def _weight(piece: str) -> int:
    plain = piece.isascii() and piece.isalpha() and piece[1:].islower()
    return -(-len(piece) // (8 if plain else 3))
