"""Shared fixtures: one real encoder, one tiny corpus and the sample index, per session."""

from __future__ import annotations

import json
import os
import socket
import tempfile
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest

# No test may reach a model hub: everything loads from local folders.
os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["TRANSFORMERS_OFFLINE"] = "1"
# MLflow runs of the tests go to a throwaway store, never to ./mlflow.db.
os.environ["MLFLOW_TRACKING_URI"] = (
    f"sqlite:///{tempfile.mkdtemp(prefix='whoknows-mlflow-')}/mlflow.db"
)

# The service's database of keys and feedback too, unless a test opens its own.
os.environ["WHOKNOWS_DATABASE_URL"] = (
    f"sqlite:///{tempfile.mkdtemp(prefix='whoknows-db-')}/whoknows.db"
)

from models.assembly import Assembly, assemble, embed  # noqa: E402
from models.config import RecommenderConfig  # noqa: E402
from models.embedding_cache import EmbeddingCache  # noqa: E402
from models.encoder import Encoder  # noqa: E402
from models.recommender import Recommender  # noqa: E402
from models.records import Contribution, Document, Person, ResourceType  # noqa: E402
from pipelines import build, ingest  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
SAMPLE = ROOT / "data" / "sample"


def free_port() -> int:
    """A TCP port of 127.0.0.1 that nothing listens on now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture(scope="session")
def cache_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An embedding cache folder shared by the session's builds."""
    return tmp_path_factory.mktemp("cache")


@pytest.fixture(scope="session")
def encoder(cache_dir: Path) -> Iterator[Encoder]:
    """The bundled all-MiniLM-L6-v2, loaded once."""
    cache = EmbeddingCache(cache_dir / build.CACHE_FILE)
    yield Encoder(cache=cache)
    cache.close()


def tiny_records() -> tuple[list[Document], list[Person]]:
    """Eight documents in two departments, with people whose roles differ."""
    people = [
        Person(
            "ada",
            "Ada Lovelace",
            title="Data engineer",
            department="Data",
            bio="Spark and Kafka pipelines",
        ),
        Person("bob", "Bob Builder", title="Site engineer", department="Facilities"),
        Person("cy", "Cy Young", department="Data"),
        Person(
            "dee",
            "Dee Dee",
            title="Payroll specialist",
            department="Finance",
            bio="Salary runs, payslips and tax withholding",
            skills=("payroll", "tax"),
        ),
    ]
    documents = [
        Document(
            "d1",
            "Tuning Kafka consumers",
            "Consumer lag grows when partitions are unbalanced. "
            "Increase max.poll.records and add consumers to the group.",
            department="Data",
            authors=("ada",),
            type=ResourceType.BEST_PRACTICE,
        ),
        Document(
            "d2",
            "Why does my Kafka consumer lag?",
            "Lag keeps growing on one partition.\n\n"
            "Accepted answer:\nRebalance the partitions and scale the consumer group.",
            department="Data",
            authors=("cy", "ada"),
            contributions=(
                Contribution("cy", "asked", 3),
                Contribution("ada", "accepted_answer", 9),
            ),
        ),
        Document(
            "d3",
            "Spark job runs out of memory",
            "Executors die with OOM. Repartition the data and raise spark.executor.memory.",
            department="Data",
            authors=("ada",),
            type=ResourceType.WIKI,
        ),
        Document(
            "d4",
            "Fixing a leaking roof",
            "Replace broken tiles and check the flashing around chimneys after storms.",
            department="Facilities",
            authors=("bob",),
            type=ResourceType.CASE_STUDY,
        ),
        Document(
            "d5",
            "Heating maintenance schedule",
            "Service boilers every autumn and bleed the radiators.",
            department="Facilities",
            authors=("bob",),
            type=ResourceType.REPORT,
        ),
        Document(
            "d6",
            "Onboarding course for data engineers",
            "Week one: Kafka basics. Week two: Spark. Week three: data quality checks.",
            department="Data",
            authors=("ada", "cy"),
            type=ResourceType.COURSE,
        ),
        Document(
            "d7", "Office parking rules", "Visitors park on level two.", department="Facilities"
        ),
        Document(
            "d8",
            "Roof inspection checklist",
            "Inspect gutters, tiles and flashing twice a year.",
            department="Facilities",
            authors=("bob",),
            type=ResourceType.BEST_PRACTICE,
        ),
    ]
    return documents, people


@pytest.fixture(scope="session")
def tiny_assembly(encoder: Encoder) -> Assembly:
    """The parts of an index of the eight tiny documents (for tests of the parts)."""
    documents, people = tiny_records()
    config = RecommenderConfig()
    return assemble(embed(documents, people, encoder, config), encoder, config)


@pytest.fixture(scope="session")
def tiny(tiny_assembly: Assembly) -> Recommender:
    """A recommender over the eight tiny documents."""
    return Recommender(tiny_assembly)


@pytest.fixture(scope="session")
def sample_index(tmp_path_factory: pytest.TempPathFactory, encoder: Encoder) -> Path:
    """The bundled sample (data/sample) built into an index directory, as `make run` does."""
    out = tmp_path_factory.mktemp("index") / "sample"
    result = ingest.run([SAMPLE / "documents.jsonl"], [SAMPLE / "people.jsonl"])
    assert not result.report.skipped, result.report.summary()
    Recommender.build(result.documents, result.people, encoder=encoder).save(out)
    return out


@pytest.fixture(scope="session")
def sample(sample_index: Path, encoder: Encoder) -> Recommender:
    """The sample index, loaded."""
    return Recommender.load(sample_index, encoder=encoder)


def cut_dataset(source: Path, target: Path, per_department: int) -> Path:
    """A smaller dataset: a few documents per department, the judged ones, and their queries."""
    qrels: dict[str, tuple[str, list[list[str]]]] = {}
    for name in ("resources", "people"):
        lines = (source / f"qrels_{name}.tsv").read_text(encoding="utf-8").splitlines()
        qrels[name] = (lines[0], [line.split("\t") for line in lines[1:]])
    with (source / "documents.jsonl").open(encoding="utf-8") as handle:
        documents = [json.loads(line) for line in handle]
    relevant = {row[1] for row in qrels["resources"][1]}
    chosen, counts = [], Counter[str]()
    for document in documents:
        department = document["department"]
        if document["id"] in relevant or counts[department] < per_department:
            chosen.append(document)
            counts[department] += 1
    keep = {
        "resources": {d["id"] for d in chosen},
        "people": {c["person"] for d in chosen for c in d.get("contributions") or []},
    }
    target.mkdir(parents=True, exist_ok=True)
    (target / "documents.jsonl").write_text("".join(json.dumps(d) + "\n" for d in chosen))
    with (source / "people.jsonl").open(encoding="utf-8") as handle:
        people = [line for line in handle if json.loads(line)["id"] in keep["people"]]
    (target / "people.jsonl").write_text("".join(people))
    judged: set[str] = set()
    for name, (head, rows) in qrels.items():
        rows = [row for row in rows if row[1] in keep[name]]
        judged |= {row[0] for row in rows}
        (target / f"qrels_{name}.tsv").write_text(
            head + "\n" + "".join("\t".join(r) + "\n" for r in rows)
        )
    with (source / "queries.jsonl").open(encoding="utf-8") as handle:
        queries = [line for line in handle if json.loads(line)["id"] in judged]
    (target / "queries.jsonl").write_text("".join(queries))
    return target


@pytest.fixture(scope="session")
def small_dataset(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Ten sample threads per department plus the judged ones (76 documents), with queries."""
    return cut_dataset(SAMPLE, tmp_path_factory.mktemp("small") / "small", 10)


@pytest.fixture(scope="session")
def sample_queries() -> list[str]:
    """200 distinct short questions: the sample queries' titles, then their first sentences.

    Distinct, so that the service's in-memory query cache never answers them.
    """
    with (SAMPLE / "queries.jsonl").open(encoding="utf-8") as handle:
        rows = [json.loads(line) for line in handle]
    titles = [row["title"] for row in rows]
    firsts = [row["text"].split("\n\n", 1)[-1].split(". ")[0][:300] for row in rows]
    queries = list(dict.fromkeys(titles + firsts))
    assert len(queries) >= 200
    return queries[:200]
