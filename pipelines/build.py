"""Build: ingest documents and people, embed them, write an index directory."""

from __future__ import annotations

import json
import time
from collections.abc import Collection, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from models import assembly
from models.arrays import Progress
from models.artifact import check_replaceable
from models.config import RecommenderConfig
from models.embedding_cache import EmbeddingCache
from models.embeddings import Changes, Embeddings
from models.encoder import Encoder, recorded_encoder, recorded_model_path
from models.exceptions import ConfigurationError
from models.onnx_backend import DEFAULT_BACKEND
from models.recommender import Recommender
from pipelines import ingest, tracking
from pipelines.engines import ENGINES, RayEngine
from pipelines.ingest import IngestReport
from pipelines.ingest import processed as processed_records
from pipelines.ingest.limits import Limits
from pipelines.params import MiningConfig

CACHE_FILE = "embeddings.sqlite"
REPORT_FILE = "ingest-report.json"
#: What fitting the rankers on mined history did (pipelines.history), in the index.
HISTORY_FILE = "history.json"


@dataclass(frozen=True, slots=True)
class BuildResult:
    """A built and saved index."""

    recommender: Recommender
    report: IngestReport
    path: Path
    seconds: float


@dataclass(frozen=True, slots=True)
class Engine:
    """Where passages are embedded: ``local`` (this process) or ``ray`` (a Ray cluster
    at ``address``, or a local Ray started for the build when None)."""

    name: str = "local"
    address: str | None = None

    def __post_init__(self) -> None:
        if self.name not in ENGINES:
            raise ConfigurationError(
                f"unknown engine {self.name!r}; choose one of {', '.join(ENGINES)}"
            )
        if self.address is not None and self.name != "ray":
            raise ConfigurationError("a Ray address is for --engine ray")


LOCAL = Engine()


@contextmanager
def open_encoder(
    model_path: Path | None,
    cache_dir: Path | None,
    backend: str = DEFAULT_BACKEND,
    engine: Engine = LOCAL,
) -> Iterator[Encoder]:
    """The encoder of a local model folder (the bundled default if None), with its cache
    and the engine that embeds what the cache lacks.

    On exit the cache is closed and detached, and the engine let go: a recommender
    may keep the encoder, never the cache or the engine.
    """
    cache = EmbeddingCache(cache_dir / CACHE_FILE) if cache_dir is not None else None
    encoder = Encoder(model_path, cache=cache, backend=backend, export_dir=cache_dir)
    remote = None
    try:
        if engine.name == "ray":
            remote = RayEngine(encoder, engine.address, export_dir=cache_dir)
            encoder.remote = remote
        yield encoder
    finally:
        encoder.remote = None
        if remote is not None:
            remote.close()
        if encoder.cache is not None:
            encoder.cache.close()
            encoder.cache = None


def build(
    result: ingest.IngestResult,
    *,
    config: RecommenderConfig | None = None,
    model_path: Path | None = None,
    cache_dir: Path | None = None,
    engine: Engine = LOCAL,
    progress: Progress | None = None,
) -> Recommender:
    """Index already-ingested records in memory, with a local encoder and the embedding cache."""
    backend = (config or RecommenderConfig()).encoder_backend
    with open_encoder(model_path, cache_dir, backend, engine) as encoder:
        return Recommender.build(
            result.documents, result.people, encoder=encoder, config=config, progress=progress
        )


def build_dataset(
    dataset_dir: Path,
    *,
    config: RecommenderConfig | None = None,
    model_path: Path | None = None,
    cache_dir: Path | None = None,
    progress: Progress | None = None,
) -> Recommender:
    """Index an evaluation dataset's documents.jsonl and people.jsonl in memory
    (for evaluation and ranker training)."""
    records = ingest.run([dataset_dir / "documents.jsonl"], [dataset_dir / "people.jsonl"])
    return build(
        records, config=config, model_path=model_path, cache_dir=cache_dir, progress=progress
    )


def run(
    documents: Sequence[Path],
    people: Sequence[Path],
    out: Path,
    *,
    config: RecommenderConfig | None = None,
    model_path: Path | None = None,
    cache_dir: Path | None = None,
    strict: bool = False,
    erased: Collection[str] = (),
    limits: Limits | None = None,
    history: MiningConfig | None = None,
    seed: int = 0,
    engine: Engine = LOCAL,
    progress: Progress | None = None,
) -> BuildResult:
    """Ingest, embed and index, then write the index directory ``out`` atomically.

    ``erased`` holds the id hashes of people erased on request; they are left out.
    ``limits`` bound the size of one document (params.yaml ``ingest``).
    With ``history.rankers_from_history``, the rankers are fitted on judgments
    mined from these documents (pipelines.history; ``seed`` seeds it).

    Raises:
        IngestError: no usable input, or (with strict) any skipped record.
    """
    started = time.perf_counter()
    check_replaceable(Path(out))  # before any work, not after minutes of embedding
    result = _ingest(documents, people, erased, strict, limits, progress)
    recommender = build(
        result,
        config=config,
        model_path=model_path,
        cache_dir=cache_dir,
        engine=engine,
        progress=progress,
    )
    recommender = _save(recommender, result, out, history, seed, progress)
    return BuildResult(recommender, result.report, out, time.perf_counter() - started)


def _ingest(
    documents: Sequence[Path],
    people: Sequence[Path],
    erased: Collection[str],
    strict: bool,
    limits: Limits | None,
    progress: Progress | None,
) -> ingest.IngestResult:
    result = ingest.run(documents, people, erased=erased, limits=limits, progress=progress)
    if strict:
        result.raise_if_skipped()
    return result


def _save(
    recommender: Recommender,
    result: ingest.IngestResult,
    out: Path,
    history: MiningConfig | None,
    seed: int,
    progress: Progress | None,
) -> Recommender:
    """Fit the rankers on mined history where asked, then write the index with its report."""
    recommender, extras = _from_history(recommender, history, seed, progress)
    report = json.dumps(result.report.to_dict(), indent=2, ensure_ascii=False) + "\n"
    recommender.save(out, extras={REPORT_FILE: report, **extras})
    return recommender


@dataclass(frozen=True, slots=True)
class UpdateResult:
    """An index brought up to its sources by embedding only what changed."""

    recommender: Recommender
    report: IngestReport
    changes: Changes
    path: Path
    seconds: float


def update(
    documents: Sequence[Path],
    people: Sequence[Path],
    index_dir: Path,
    out: Path | None = None,
    *,
    config: RecommenderConfig | None = None,
    model_path: Path | None = None,
    cache_dir: Path | None = None,
    strict: bool = False,
    erased: Collection[str] = (),
    limits: Limits | None = None,
    history: MiningConfig | None = None,
    seed: int = 0,
    engine: Engine = LOCAL,
    progress: Progress | None = None,
) -> UpdateResult:
    """Bring the index at ``index_dir`` up to the sources, embedding only new and
    changed passages, and write it to ``out`` (by default in place, atomically).

    The result is the index a full build of the same sources gives: the same passage
    ids, the same vectors, the same rankings (the tests check it). Documents and
    people gone from the sources are gone from results and from every evidence list.

    Raises:
        ConfigurationError: the parameters change how passages are cut or embedded
            (passage size, encoder or its backend): that needs a full build.
        ArtifactNotFoundError: no index at ``index_dir``.
    """
    started = time.perf_counter()
    target = Path(out or index_dir)
    check_replaceable(target)
    config = config or RecommenderConfig()
    previous = assembly.embeddings_of(Path(index_dir))
    assembly.check_passage_size(previous, config, "build it in full instead of updating it")
    result = _ingest(documents, people, erased, strict, limits, progress)
    model = model_path or recorded_model_path(previous.encoder)
    with open_encoder(model, cache_dir, config.encoder_backend, engine) as encoder:
        embeddings, changes = previous.update(
            result.documents, result.people, encoder, progress=progress
        )
        recommender = Recommender.from_embeddings(
            embeddings, encoder=encoder, config=config, progress=progress
        )
    recommender = _save(recommender, result, target, history, seed, progress)
    seconds = time.perf_counter() - started
    return UpdateResult(recommender, result.report, changes, target, seconds)


def embed(
    processed: Path,
    out: Path,
    *,
    config: RecommenderConfig | None = None,
    model_path: Path | None = None,
    cache_dir: Path | None = None,
    progress: Progress | None = None,
) -> Embeddings:
    """The ``embed`` stage: ingested records -> passages and vectors on disk."""
    config = config or RecommenderConfig()
    check_replaceable(Path(out))
    documents, people = processed_records.load(processed)
    with open_encoder(model_path, cache_dir, config.encoder_backend) as encoder:
        embeddings = assembly.embed(documents, people, encoder, config, progress)
    report = Path(processed) / processed_records.REPORT
    extras = {report.name: report.read_text(encoding="utf-8")} if report.is_file() else {}
    embeddings.save(out, extras)
    return embeddings


def index(
    embeddings_dir: Path,
    out: Path,
    *,
    config: RecommenderConfig | None = None,
    model_path: Path | None = None,
    history: MiningConfig | None = None,
    seed: int = 0,
    progress: Progress | None = None,
) -> Recommender:
    """The ``index`` stage: embeddings -> a complete index directory (with rankers
    fitted on mined history where ``history.rankers_from_history`` says so)."""
    check_replaceable(Path(out))
    embeddings = Embeddings.load(embeddings_dir)
    # The vectors were made by the embeddings' encoder: queries are encoded by the same one.
    encoder = recorded_encoder(embeddings.encoder, model_path)
    recommender = Recommender.from_embeddings(
        embeddings, encoder=encoder, config=config, progress=progress
    )
    recommender, extras = _from_history(recommender, history, seed, progress)
    report = Path(embeddings_dir) / processed_records.REPORT
    if report.is_file():
        extras[REPORT_FILE] = report.read_text(encoding="utf-8")
    recommender.save(out, extras=extras)
    return recommender


def _from_history(
    recommender: Recommender, history: MiningConfig | None, seed: int, progress: Progress | None
) -> tuple[Recommender, dict[str, str]]:
    """The recommender with rankers fitted on its mined history, and the report file."""
    if history is None or not history.rankers_from_history:
        return recommender, {}
    # pipelines.history trains with pipelines.ranking, which builds datasets with this module.
    from pipelines.history import fit_on_history

    fitted, how = fit_on_history(recommender, history, seed=seed, progress=progress)
    return fitted, {HISTORY_FILE: json.dumps(how.to_dict(), indent=2) + "\n"}


def track_build(recommender: Recommender, out: Path, seconds: float) -> str:
    """Log a build to MLflow: its parameters, counts and the index directory itself."""
    manifest = recommender.manifest
    with tracking.run(
        f"build {Path(out).name}",
        tags={"whoknows.task": "build", "whoknows.index": str(Path(out).resolve())},
    ) as mlflow:
        mlflow.log_params(
            tracking.flatten(
                {
                    "index_version": manifest.index_version,
                    "encoder": manifest.encoder.get("name"),
                    "index_kind": manifest.index_kind,
                    **manifest.params,
                }
            )
        )
        mlflow.log_metrics({f"count/{k}": float(v) for k, v in manifest.counts.items()})
        mlflow.log_metric("build_seconds", seconds)
        mlflow.log_artifacts(str(out), artifact_path="index")
        run_id: str = mlflow.active_run().info.run_id
    return run_id
