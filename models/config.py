"""Build and ranking parameters of a recommender, checked when they are made.

They come from params.yaml (through pipelines.params), are saved in the index
manifest, and are read back when the index is loaded, so a served index always
ranks the way it was built and evaluated.

This is the one place their defaults are written (params.yaml repeats them, and a
test keeps the two equal): the expertise and evidence models get views of these
values (``RecommenderConfig().expertise``) that have no defaults of their own.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, fields
from typing import Any

from models.evidence import EvidenceConfig
from models.exceptions import ConfigurationError
from models.expertise import PEOPLE_MODELS, ExpertiseConfig
from models.index import APPROXIMATE_KINDS, INDEX_KINDS
from models.onnx_backend import BACKENDS, DEFAULT_BACKEND
from models.retrieval import FUSIONS

#: How much each role ties a person to a document (params.yaml: recommender.role_weights).
DEFAULT_ROLE_WEIGHTS: Mapping[str, float] = {
    "author": 1.0,
    "accepted_answer": 1.0,
    "answered": 0.6,
    "asked": 0.1,
}


@dataclass(frozen=True, slots=True)
class RecommenderConfig:
    """Build and ranking parameters, saved in the index manifest.

    Attributes:
        passage_tokens: the most tokens of document text per passage.
        passage_overlap: tokens shared by consecutive passages.
        encoder_backend: what runs the encoder: onnx (the default: torch's vectors,
            without torch, about 4x faster queries), onnx-int8 (faster still, but
            outside the README's fidelity bound on one dev set) or torch.
        index_kind: vector index backend: auto, flat, hnsw or ivf.
        exact_search_limit: with ``auto``, the most passages searched exactly; past it
            the ``approximate_index`` is built.
        approximate_index: what ``auto`` builds past ``exact_search_limit``: ivf (an
            inverted file; it reached recall@10 0.95 on 1,000,000 clustered vectors,
            where HNSW did not) or hnsw (a graph).
        recall_target: an approximate index's search depth (IVF's nprobe, HNSW's
            efSearch) is the fastest whose recall@10 against exact search reaches
            this, measured at build time.
        fusion: how dense and BM25 rankings combine: learned, rrf, dense or lexical.
        retrieval_depth: candidates each retriever proposes per query.
        resource_ranker: JSON file of the learned resource ranker; None for the default.
        people_model: learned, or one expertise feature ranking alone (e.g. model2).
        people_ranker: JSON file of the learned people ranker; None for the default.
        evidence_ranker: JSON file of the ranker that orders the documents whose
            evidence ranks people (learned fusion; it leaves out the query-expansion
            feature, which helps reading lists but blurs who wrote about the query);
            None for the default.
        candidate_documents: how many top documents vote for people.
        temperature: softmax temperature of Model 2 over z-scored document scores.
        evidence_per_person: evidence documents reported per person.
        role_weights: how strongly each contribution role ties a person to a document.
        recency_half_life_days: age at which evidence counts half (before the floor).
        recency_floor: the least that old evidence counts, as a share of new evidence.
        load_balance: how much a person's recent exposure lowers them in a list of
            people (models.routing; 0: not at all); set by replaying the dev queries.
        max_query_chars: longest accepted query.
        snippet_chars: length of a result snippet.
    """

    passage_tokens: int = 200
    passage_overlap: int = 40
    encoder_backend: str = DEFAULT_BACKEND
    index_kind: str = "auto"
    exact_search_limit: int = 50_000
    approximate_index: str = "ivf"
    recall_target: float = 0.95
    fusion: str = "learned"
    retrieval_depth: int = 200
    resource_ranker: str | None = None
    people_model: str = "learned"
    people_ranker: str | None = None
    evidence_ranker: str | None = None
    candidate_documents: int = 100
    temperature: float = 1.0
    evidence_per_person: int = 3
    role_weights: Mapping[str, float] = field(default_factory=lambda: dict(DEFAULT_ROLE_WEIGHTS))
    recency_half_life_days: float = 365.0
    recency_floor: float = 0.25
    load_balance: float = 4.0
    max_query_chars: int = 2000
    snippet_chars: int = 280

    def __post_init__(self) -> None:
        check_whole(self, "passage_tokens", 8, 8192)
        check_whole(self, "passage_overlap", 0, self.passage_tokens // 2)
        check_whole(self, "retrieval_depth", 10, 100_000)
        check_whole(self, "exact_search_limit", 0, 10**9)
        _number(self, "recall_target", minimum=0.5)
        if self.recall_target > 1:
            raise ConfigurationError(f"recall_target must be at most 1, not {self.recall_target!r}")
        check_whole(self, "candidate_documents", 1, 100_000)
        check_whole(self, "evidence_per_person", 0, 100)
        check_whole(self, "max_query_chars", 1, 1_000_000)
        check_whole(self, "snippet_chars", 20, 100_000)
        _number(self, "temperature", minimum=1e-3)
        _number(self, "recency_half_life_days", minimum=1.0)
        _number(self, "recency_floor", minimum=0.0)
        _number(self, "load_balance", minimum=0.0)
        if self.recency_floor > 1:
            raise ConfigurationError(f"recency_floor must be at most 1, not {self.recency_floor!r}")
        for name, allowed in (
            ("encoder_backend", BACKENDS),
            ("index_kind", INDEX_KINDS),
            ("approximate_index", APPROXIMATE_KINDS),
            ("fusion", FUSIONS),
            ("people_model", PEOPLE_MODELS),
        ):
            if getattr(self, name) not in allowed:
                raise ConfigurationError(
                    f"{name} must be one of {', '.join(allowed)}, not {getattr(self, name)!r}"
                )
        for name in ("resource_ranker", "people_ranker", "evidence_ranker"):
            if getattr(self, name) is not None and not isinstance(getattr(self, name), str):
                raise ConfigurationError(f"{name} must be the path of a ranker JSON file")
        if not isinstance(self.role_weights, Mapping) or not all(
            isinstance(k, str) and is_number(v) and v >= 0 for k, v in self.role_weights.items()
        ):
            raise ConfigurationError(
                "role_weights must map role names to numbers >= 0, e.g. {answered: 0.6}"
            )

    @property
    def expertise(self) -> ExpertiseConfig:
        """The expertise model's share of the parameters."""
        return ExpertiseConfig(
            model=self.people_model,
            candidate_documents=self.candidate_documents,
            temperature=self.temperature,
            evidence_per_person=self.evidence_per_person,
            evidence=EvidenceConfig(
                role_weights=dict(self.role_weights),
                recency_half_life_days=float(self.recency_half_life_days),
                recency_floor=float(self.recency_floor),
            ),
        )

    def to_dict(self) -> dict[str, Any]:
        """Plain values, as saved in the manifest and in params.yaml."""
        data = asdict(self)
        data["role_weights"] = dict(self.role_weights)
        return data

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> RecommenderConfig:
        """Read parameters, rejecting names that are not parameters.

        Raises:
            ConfigurationError: an unknown name or an invalid value.
        """
        reject_unknown(data, cls)
        try:
            return cls(**dict(data))
        except TypeError as exc:
            raise ConfigurationError(f"invalid parameters: {exc}") from exc


def is_number(value: Any) -> bool:
    """Whether a parameter's value is a finite number (a bool is not)."""
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def check_whole(config: Any, name: str, low: int, high: int, *, optional: bool = False) -> None:
    """Refuse a parameter that is not a whole number from ``low`` to ``high`` (or None,
    where ``optional``).

    Raises:
        ConfigurationError: naming the parameter, its bounds and the value given.
    """
    value = getattr(config, name)
    if optional and value is None:
        return
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        extra = " or null" if optional else ""
        raise ConfigurationError(
            f"{name} must be a whole number from {low} to {high}{extra}, not {value!r}"
        )


def reject_unknown(data: Mapping[str, Any], config_class: type, section: str = "") -> None:
    """Refuse parameter names that are not fields of a config dataclass.

    Raises:
        ConfigurationError: listing the unknown names and the known ones.
    """
    names = {f.name for f in fields(config_class)}
    unknown = sorted(set(data) - names)
    if unknown:
        what = f"{section} parameter(s)" if section else "parameter(s)"
        raise ConfigurationError(
            f"unknown {what} {', '.join(unknown)}; known: {', '.join(sorted(names))}"
        )


def _number(config: RecommenderConfig, name: str, *, minimum: float) -> None:
    value = getattr(config, name)
    if not is_number(value) or value < minimum:
        raise ConfigurationError(f"{name} must be a finite number >= {minimum}, not {value!r}")
