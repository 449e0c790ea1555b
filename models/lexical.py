"""Lexical retrieval: BM25 over words, beside the dense vectors.

Dense vectors match meaning; BM25 matches the exact words people search for:
names, product codes, rare technical terms. Built with bm25s (English stop
words, Snowball stemming) and saved as its plain .npy/.json files, no pickle.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import bm25s
import numpy as np
import Stemmer
from scipy import sparse

from models.arrays import Ids, Vectors
from models.exceptions import ArtifactFormatError
from models.selection import select

_stemmer = Stemmer.Stemmer("english")
# bm25s logs an info line per save and load; keep a server log for what matters.
logging.getLogger("bm25s").setLevel(logging.WARNING)


def tokenize(texts: Sequence[str]) -> list[list[str]]:
    """Lower-cased, stemmed word tokens without English stop words."""
    tokens: list[list[str]] = bm25s.tokenize(
        list(texts), stopwords="en", stemmer=_stemmer, show_progress=False, return_ids=False
    )
    return tokens


@functools.lru_cache(maxsize=1024)
def query_terms(query: str) -> tuple[str, ...]:
    """The tokens of one query, remembered: a query is scored by several indexes
    (documents, titles, people) and bm25s's tokenizer costs about 0.2 ms a call."""
    return tuple(tokenize([query])[0])


class LexicalIndex:
    """BM25 scores of every item for a query.

    Args:
        retriever: a built bm25s index.
        size: how many items it indexes.
    """

    def __init__(self, retriever: Any, size: int) -> None:
        self._retriever = retriever
        self.size = size
        self._terms: tuple[sparse.csr_array, sparse.csc_array] | None = None

    @classmethod
    def build(cls, texts: Sequence[str]) -> LexicalIndex:
        """Index one text per item (an empty text matches nothing)."""
        retriever = bm25s.BM25()
        # bm25s needs at least one item and one word: an empty collection is
        # indexed as one placeholder, which scores() never reports.
        tokens = tokenize([t if t.strip() else "" for t in texts]) or [[]]
        if not any(tokens):
            tokens = [["\x00"] for _ in tokens]
        # Words numbered in sorted order: bm25s numbers them in the order of a set,
        # which changes with Python's hash seed, and so would every tie between
        # words (query expansion) from one build to the next.
        vocabulary = {word: i for i, word in enumerate(sorted({w for ws in tokens for w in ws}))}
        ids = [[vocabulary[w] for w in words] for words in tokens]
        retriever.index((ids, vocabulary), show_progress=False)
        return cls(retriever, len(texts))

    def scores(self, query: str) -> Vectors:
        """The BM25 score of every item (0 where no query word occurs)."""
        terms = [t for t in query_terms(query) if t in self._retriever.vocab_dict]
        if not terms or self.size == 0:
            return np.zeros(self.size, dtype=np.float32)
        scores: Vectors = np.asarray(self._retriever.get_scores(terms), dtype=np.float32)
        return scores

    def feedback_scores(self, rows: Ids, terms: int) -> Vectors:
        """The BM25 of every item for the words that weigh most in ``rows``.

        Pseudo-relevance feedback in the manner of RM3: each feedback item's
        BM25 term weights become a distribution over its words, the
        distributions are averaged, and the ``terms`` heaviest words form a new
        query weighted by their share; 0 everywhere if there is no feedback.

        Args:
            rows: the feedback items (e.g. the best few of a first ranking).
            terms: how many expansion words to keep.
        """
        if len(rows) == 0 or self.size == 0 or terms <= 0:
            return np.zeros(self.size, dtype=np.float32)
        by_item, by_word = self._term_weights()
        chosen = select(by_item, np.asarray(rows, dtype=np.int64))
        totals = np.bincount(chosen.positions, weights=chosen.values, minlength=chosen.rows)
        inverse = np.divide(1.0, totals, out=np.zeros_like(totals), where=totals > 0)
        mass = chosen.sums(inverse)
        words = np.argsort(-mass, kind="stable")[:terms]
        words = words[mass[words] > 0]
        if len(words) == 0:
            return np.zeros(self.size, dtype=np.float32)
        weights = mass[words] / mass[words].sum()
        scores = select(by_word, words).sums(weights)[: self.size]
        return scores.astype(np.float32)

    def _term_weights(self) -> tuple[sparse.csr_array, sparse.csc_array]:
        """The (items, words) BM25 weights, by item and by word, made once."""
        if self._terms is None:
            stored = self._retriever.scores
            words = len(stored["indptr"]) - 1
            by_word = sparse.csc_array(
                (stored["data"], stored["indices"], stored["indptr"]),
                shape=(int(stored["num_docs"]), words),
            )
            self._terms = (sparse.csr_array(by_word), by_word)
        return self._terms

    def save(self, directory: Path) -> None:
        """Write the index files into a (new) directory."""
        self._retriever.save(str(directory), allow_pickle=False, show_progress=False)

    @classmethod
    def load(cls, directory: Path, size: int) -> LexicalIndex:
        """Read an index written by :meth:`save` for ``size`` items."""
        if not directory.is_dir():
            raise ArtifactFormatError(f"the index is incomplete: {directory} is missing")
        try:
            retriever = bm25s.BM25.load(
                str(directory), mmap=False, allow_pickle=False, show_progress=False
            )
        except (OSError, ValueError, KeyError) as exc:
            raise ArtifactFormatError(f"cannot read the BM25 index {directory}: {exc}") from exc
        found = int(retriever.scores["num_docs"])
        if found != max(size, 1):
            raise ArtifactFormatError(f"{directory} indexes {found} items, expected {size}")
        return cls(retriever, size)
