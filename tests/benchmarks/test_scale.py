"""Scale: encoder backends, build and update speed, a large approximate index.

    make bench        # or: pytest tests/benchmarks/test_scale.py -m benchmark -s

Sizes are small by default so that `make bench` stays in minutes; the README's
figures come from the sizes the scale issue names:

    WHOKNOWS_BENCH_PASSAGES=0       every Stack Exchange dev passage (default 200)
    WHOKNOWS_BENCH_UPDATE_DOCS=20000  documents of the update benchmark (default 500)
    WHOKNOWS_BENCH_VECTORS=1000000  vectors of the large index (default 50000)
"""

from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

import faiss
import numpy as np
import pytest

from models.config import RecommenderConfig
from models.corpus import Corpus
from models.embeddings import Embeddings, _split
from models.encoder import Encoder
from models.index import create_index, limit_search_threads, search_one_query_at_a_time
from models.index.base import ApproximateIndex, probe_queries
from models.index.ivf import IVFIndex
from models.onnx_backend import BACKENDS
from models.records import Document, Person
from pipelines import build
from tests.benchmarks.conftest import report
from tests.benchmarks.test_latency import percentiles

pytestmark = pytest.mark.benchmark
DEV = Path(__file__).resolve().parents[3] / "shared" / "data" / "stackexchange-dev"
PASSAGES = int(os.environ.get("WHOKNOWS_BENCH_PASSAGES", "200"))
UPDATE_DOCS = int(os.environ.get("WHOKNOWS_BENCH_UPDATE_DOCS", "500"))
VECTORS = int(os.environ.get("WHOKNOWS_BENCH_VECTORS", "50000"))


def dev_documents() -> list[Document]:
    if not (DEV / "documents.jsonl").is_file():
        pytest.skip(f"the Stack Exchange dev set is not at {DEV}")
    with (DEV / "documents.jsonl").open(encoding="utf-8") as handle:
        return [Document.from_dict(json.loads(line)) for line in handle]


def dev_passages(encoder: Encoder) -> tuple[list[str], list[Document]]:
    """The first PASSAGES passages of the dev set as a build cuts them (title, then text),
    and the documents they come from."""
    documents = dev_documents()
    spans = _split(documents, encoder, 200, 40, None)
    corpus = Corpus.from_spans(documents, [], spans)
    count = len(corpus.passages) if PASSAGES == 0 else min(PASSAGES, len(corpus.passages))
    last = int(corpus.passages[count - 1, 0])
    count = int(np.searchsorted(corpus.passages[:, 0], last, side="right"))  # whole documents
    return [corpus.passage_input(i) for i in range(count)], documents[: last + 1]


def test_encoder_backends(sample_queries: list[str]) -> None:
    encoders = {name: Encoder(backend=name, query_cache_size=0) for name in BACKENDS}
    passages, _ = dev_passages(encoders["onnx-int8"])
    vectors, rows = {}, {}
    for name, encoder in encoders.items():
        encoder._encode(passages[:8], "document")  # warm-up
        start = time.perf_counter()
        vectors[name] = encoder._encode(passages, "document")
        per_second = len(passages) / (time.perf_counter() - start)
        timings = []
        for query in sample_queries:
            start = time.perf_counter()
            encoder._encode([query], "query")
            timings.append(time.perf_counter() - start)
        p50, p99 = percentiles(timings)
        cosines = (vectors[name] * vectors["torch"]).sum(axis=1) if "torch" in vectors else None
        rows[name] = f"{per_second:.1f} passages/s; query p50 / p99 {p50:.1f} / {p99:.1f} ms; " + (
            f"cosine to torch mean {cosines.mean():.4f} min {cosines.min():.4f}"
        )
        assert vectors[name].shape == (len(passages), 384)
    report(f"encoder backends, {len(passages)} Stack Exchange dev passages, 2 cores", rows)
    cosines = (vectors["onnx-int8"] * vectors["torch"]).sum(axis=1)
    assert cosines.mean() >= 0.99, "the default backend must stay faithful to torch"


def test_build_against_a_bare_encode_loop() -> None:
    """Passages per second of the embed step of a build, against the backend's own loop."""
    rows: dict[str, object] = {}
    for backend in BACKENDS:
        encoder = Encoder(backend=backend)
        passages, documents = dev_passages(encoder)
        start = time.perf_counter()
        encoder._encode(passages, "document")
        bare = len(passages) / (time.perf_counter() - start)
        start = time.perf_counter()
        made = Embeddings.compute(documents, [], encoder, passage_tokens=200, passage_overlap=40)
        ours = len(made.corpus.passages) / (time.perf_counter() - start)
        assert len(made.corpus.passages) == len(passages)
        rows[backend] = (
            f"build {ours:.1f} passages/s, bare loop {bare:.1f}/s, ratio {ours / bare:.2f}"
        )
        rows[f"{backend} passages"] = len(passages)
    report("build (split + embed, no cache) against the bare encode loop", rows)


def test_updating_one_percent(tmp_path: Path) -> None:
    """A synthetic corpus of UPDATE_DOCS short documents; 1% of them edited."""
    rng = np.random.default_rng(0)
    words = [f"w{i}" for i in range(3000)]

    def document(i: int, version: int = 0) -> Document:
        text = " ".join(rng.choice(words, size=60)) + f" revision {version}."
        return Document(f"doc-{i}", f"Note {i}", text, authors=(f"p{i % 200}",))

    people = [Person(f"p{i}", f"Person {i}", bio=f"works on w{i}") for i in range(200)]
    documents = [document(i) for i in range(UPDATE_DOCS)]
    edited = list(documents)
    for i in rng.choice(UPDATE_DOCS, size=UPDATE_DOCS // 100, replace=False):
        edited[i] = document(int(i), 1)
    source, changed = tmp_path / "v1", tmp_path / "v2"
    for folder, docs in ((source, documents), (changed, edited)):
        folder.mkdir()
        (folder / "d.jsonl").write_text("".join(json.dumps(d.to_dict()) + "\n" for d in docs))
        (folder / "p.jsonl").write_text("".join(json.dumps(p.to_dict()) + "\n" for p in people))
    full = build.run([source / "d.jsonl"], [source / "p.jsonl"], tmp_path / "index")
    updated = build.update([changed / "d.jsonl"], [changed / "p.jsonl"], tmp_path / "index")
    assert updated.changes.documents_changed == UPDATE_DOCS // 100
    for index in (full.recommender, updated.recommender):
        answer = index.recommend("w1 w2 w3 revision")
        assert answer.resources and answer.people, "the benchmarked index must answer"
    report(
        f"update of 1% of {UPDATE_DOCS:,} documents (no embedding cache)",
        {
            "full build s": f"{full.seconds:.1f}",
            "update s": f"{updated.seconds:.1f}",
            "update / full build": f"{updated.seconds / full.seconds:.3f}",
            "passages embedded by the update": updated.changes.passages_embedded,
        },
    )


#: Loads an index file as the service does and reports the process's memory (MB):
#: before the load, after it, and after 300 single-query searches.
_SERVE = """
import json, resource, sys
import numpy as np
from models.index import load_index, search_one_query_at_a_time
def rss():
    with open("/proc/self/status") as status:
        return next(int(l.split()[1]) for l in status if l.startswith("VmRSS")) / 1024
search_one_query_at_a_time()
empty = rss()
index = load_index(sys.argv[1], sys.argv[2], 384)
loaded = rss()
queries = np.random.default_rng(0).normal(size=(300, 384)).astype(np.float32)
for query in queries / np.linalg.norm(queries, axis=1, keepdims=True):
    index.search(query[None, :], 10)
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
print(json.dumps({"empty": empty, "loaded": loaded, "searched": rss(), "peak": peak}))
"""


def test_a_large_approximate_index(tmp_path: Path) -> None:
    """VECTORS clustered synthetic unit vectors (like sentence embeddings, not uniform),
    indexed as a build indexes that many passages: what "auto" picks, tuned to the
    configured recall target; searched one query at a time with one thread, as served."""
    rng = np.random.default_rng(0)
    centres = rng.normal(size=(2000, 384)).astype(np.float32)
    vectors = centres[rng.integers(0, 2000, VECTORS)] + 0.6 * rng.normal(
        size=(VECTORS, 384)
    ).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    config = RecommenderConfig()
    # as a build chooses it (below the exact-search limit, approximate all the same)
    limit = min(config.exact_search_limit, VECTORS - 1)
    index = create_index("auto", 384, VECTORS, limit, config.approximate_index)
    assert index.kind == config.approximate_index
    assert isinstance(index, ApproximateIndex)
    start = time.perf_counter()
    index.build(vectors, np.arange(VECTORS))
    built = time.perf_counter() - start
    start = time.perf_counter()
    tuned = index.tune(config.recall_target)
    tuning = time.perf_counter() - start
    queries = probe_queries(vectors, 300, seed=99)  # not the tuning's queries
    _, truth = faiss.knn(queries, vectors, 10, metric=faiss.METRIC_INNER_PRODUCT)
    timings, found = [], []
    search_one_query_at_a_time()
    try:
        for query in queries:
            start = time.perf_counter()
            found.append(index.search(query[None, :], 10).ids[0])
            timings.append(time.perf_counter() - start)
    finally:
        limit_search_threads(None)
    recall = np.mean([len(set(f) & set(t)) / 10 for f, t in zip(found, truth, strict=True)])
    p50, p99 = percentiles(timings)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    index.save(tmp_path / "passages.faiss")
    size = (tmp_path / "passages.faiss").stat().st_size
    served = subprocess.run(
        [sys.executable, "-c", _SERVE, str(tmp_path / "passages.faiss"), index.kind],
        capture_output=True,
        text=True,
        check=True,
        cwd=Path(__file__).resolve().parents[2],
    )
    serving = json.loads(served.stdout)
    report(
        f"approximate index of {VECTORS:,} vectors (d=384)",
        {
            "kind, tuned parameter": f"{index.kind}, {index.knob} {tuned[index.knob]}"
            + (f" of {index.nlist} cells" if isinstance(index, IVFIndex) else ""),
            "build s, tuning s": f"{built:.0f}, {tuning:.0f}",
            "recall@10 at tuning / on 300 other queries": (
                f"{tuned['recall_at_10']:.3f} / {recall:.3f} (target {config.recall_target}, "
                f"reached: {tuned['reached']})"
            ),
            "search p50 / p99 ms (one query, one thread)": f"{p50:.2f} / {p99:.2f}",
            "index size MB (its file; the vectors alone)": (
                f"{size / 2**20:.0f} ({vectors.nbytes / 2**20:.0f})"
            ),
            "serving process RSS MB: empty / index loaded / after 300 searches": (
                f"{serving['empty']:.0f} / {serving['loaded']:.0f} / {serving['searched']:.0f}"
            ),
            "benchmark process peak MB (before the index)": (
                f"{peak / 1024:.0f} ({before / 1024:.0f})"
            ),
        },
    )
    assert tuned["reached"], "the tuning must reach the recall target"
    assert recall >= config.recall_target - 0.05, "queries the tuning never saw must agree"
