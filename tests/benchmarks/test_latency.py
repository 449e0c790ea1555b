"""Query latency: whoknows over HTTP and in-process, against the bare library calls.

    make bench        # or: pytest tests/benchmarks -m benchmark -s

The bare call is what whoknows wraps: the encoder backend's own call (ONNX Runtime
by default, no query cache) plus a FAISS search of the same passage index.
Everything runs in one process tree on 127.0.0.1, in one run, so the ratios hold
even on a noisy shared machine.
"""

from __future__ import annotations

import dataclasses
import os
import random
import statistics
import subprocess
import sys
import time
from pathlib import Path

import httpx
import numpy as np
import pytest

from models import assembly
from models.encoder import Encoder
from models.recommender import Recommender
from models.results import Filters
from tests.benchmarks.conftest import report
from tests.conftest import free_port

pytestmark = pytest.mark.benchmark


def percentiles(samples: list[float]) -> tuple[float, float]:
    ms = np.array(samples) * 1000
    return float(np.median(ms)), float(np.percentile(ms, 99))


def test_in_process_against_the_bare_library(
    sample: Recommender, sample_queries: list[str], sample_index: Path
) -> None:
    encoder = sample.encoder
    index = assembly.read(sample_index, sample.encoder).parts.passages
    # Warm up both paths; the query cache is cleared so every timed call encodes.
    for query in sample_queries[:10]:
        sample.recommend(query)
    bare, ours = [], []
    for query in sample_queries:
        start = time.perf_counter()
        vector = encoder.encode_uncached([query], "query")  # the backend's own call
        index.search(np.asarray(vector, dtype=np.float32), 256)
        bare.append(time.perf_counter() - start)
        sample.encoder.clear_query_cache()
        start = time.perf_counter()
        answer = sample.recommend(query)
        ours.append(time.perf_counter() - start)
        assert answer.resources and answer.people, f"an empty answer to {query!r}"
    b50, b99 = percentiles(bare)
    o50, o99 = percentiles(ours)
    report(
        "in-process, 200 queries, sample index",
        {
            f"bare encode ({encoder.backend}) + faiss search p50 / p99 ms": (
                f"{b50:.1f} / {b99:.1f}"
            ),
            "Recommender.recommend p50 / p99 ms": f"{o50:.1f} / {o99:.1f}",
            "ratio of medians": f"{o50 / b50:.2f}",
        },
    )


def bare_calls(recommender: Recommender, index: Path, queries: list[str]) -> list[float]:
    """Seconds of the bare library calls (encode with the backend's own call, then a FAISS
    search of the same passages) for each query."""
    passages = assembly.read(index, recommender.encoder).parts.passages
    timings = []
    for query in queries:
        start = time.perf_counter()
        vector = recommender.encoder.encode_uncached([query], "query")
        passages.search(np.asarray(vector, dtype=np.float32), 256)
        timings.append(time.perf_counter() - start)
    return timings


def test_http_latency_one_client(
    sample: Recommender, sample_index: Path, sample_queries: list[str]
) -> None:
    port = free_port()
    # As `make run`: anonymous loopback callers; every answer is logged to the
    # (SQLite) store, as in service. No rate limit: 200 queries come in seconds.
    env = {
        **os.environ,
        "WHOKNOWS_INDEX_DIR": str(sample_index),
        "WHOKNOWS_ANONYMOUS": "true",
        "WHOKNOWS_RATE_LIMIT": "0",
    }
    server = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "uvicorn",
            "serving.app:create_app",
            "--factory",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--log-level",
            "warning",
        ],
        env=env,
    )
    try:
        base = f"http://127.0.0.1:{port}"
        with httpx.Client(base_url=base, timeout=30) as client:
            deadline = time.monotonic() + 120
            while time.monotonic() < deadline:
                try:
                    if client.get("/readyz").status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                time.sleep(0.2)
            else:
                pytest.fail("the server did not become ready in 120 s")
            for query in sample_queries[:10]:
                client.post("/v1/recommendations", json={"query": query + " warm-up"})
            timings = []
            for query in sample_queries:
                start = time.perf_counter()
                response = client.post("/v1/recommendations", json={"query": query})
                timings.append(time.perf_counter() - start)
                assert response.status_code == 200, response.text
                body = response.json()
                assert body["resources"] and body["people"], f"an empty answer to {query!r}"
    finally:
        server.terminate()
        server.wait(timeout=30)
    p50, p99 = percentiles(timings)
    b50, b99 = percentiles(bare_calls(sample, sample_index, sample_queries))
    report(
        "HTTP, one client, 200 sequential queries, sample index",
        {
            "p50 / p99 ms": f"{p50:.1f} / {p99:.1f}",
            "mean ms": f"{1000 * statistics.mean(timings):.1f}",
            "bare library calls p50 / p99 ms": f"{b50:.1f} / {b99:.1f}",
            "ratio of medians (HTTP / bare calls)": f"{p50 / b50:.2f}",
        },
    )


def test_cost_of_permission_trimming(
    sample: Recommender, sample_queries: list[str], encoder: Encoder
) -> None:
    """The same queries as a trusted caller and as a caller of one group, interleaved."""
    rng = random.Random(7)
    documents = [
        dataclasses.replace(d, allowed_groups=(rng.choice(("finance", "hr", "legal")),))
        if rng.random() < 0.4
        else d
        for d in sample.documents
    ]
    restricted = Recommender.build(documents, sample.people, encoder=encoder)
    callers = {
        "trusted (no trimming)": Filters(),
        "one group (trims ~27% of documents)": Filters(groups=("finance",)),
        "no group (public only, ~40% trimmed)": Filters(groups=()),
    }
    for query in sample_queries[:10]:
        for filters in callers.values():
            restricted.recommend(query, filters=filters)
    timings: dict[str, list[float]] = {name: [] for name in callers}
    groups_of = {d.id: d.allowed_groups for d in documents}
    for query in sample_queries:
        for name, filters in callers.items():
            restricted.encoder.clear_query_cache()
            start = time.perf_counter()
            answer = restricted.recommend(query, filters=filters)
            timings[name].append(time.perf_counter() - start)
            assert answer.resources and answer.people, f"{name}: an empty answer to {query!r}"
            for found in answer.resources:  # trimmed, not merely fast
                allowed = groups_of[found.document.id]
                visible = (
                    filters.groups is None or not allowed or set(allowed) & set(filters.groups)
                )
                assert visible, f"{name} was shown {found.document.id}"
    base = statistics.median(timings["trusted (no trimming)"])
    report(
        "permission trimming, in-process, 200 queries x 3 callers, sample with 40% restricted",
        {
            f"{name} p50 / p99 ms": "{:.1f} / {:.1f} (x{:.2f})".format(
                *percentiles(samples), statistics.median(samples) / base
            )
            for name, samples in timings.items()
        },
    )
