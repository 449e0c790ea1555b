"""Load: whoknows over HTTP against a bare "encode + FAISS search" service, in one run.

    make bench        # or: pytest tests/benchmarks/test_load.py -m benchmark -s
    WHOKNOWS_BENCH_SECONDS=10 WHOKNOWS_BENCH_RELOAD_SECONDS=30 (the defaults, for a
    quick `make bench`; the README's figures name the durations they were measured with)
    WHOKNOWS_BENCH_WORKERS=1  uvicorn worker processes of both services at 16 clients

Both services run as uvicorn processes on 127.0.0.1 with the same encoder backend
and passage index (tests/benchmarks/bare_app.py); an asyncio client sends unique
queries (so that no query cache answers). Each figure is printed with its ratio to
the bare service measured in the same run: the machines are shared and noisy. An
answer counts only if it is a 200 with results (resources and people for whoknows,
passage ids for the bare service); anything else is an error, and a run with errors
fails.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import httpx
import numpy as np
import psutil
import pytest

from models import assembly
from models.encoder import Encoder
from models.recommender import Recommender
from models.topic_model import TopicConfig
from pipelines import topics
from pipelines.store import Store
from tests.benchmarks.conftest import report
from tests.benchmarks.test_latency import percentiles
from tests.conftest import free_port

pytestmark = pytest.mark.benchmark
ROOT = Path(__file__).resolve().parents[2]
SECONDS = float(os.environ.get("WHOKNOWS_BENCH_SECONDS", "10"))
RELOAD_SECONDS = float(os.environ.get("WHOKNOWS_BENCH_RELOAD_SECONDS", "30"))
CLIENTS = 16
WORKERS = int(os.environ.get("WHOKNOWS_BENCH_WORKERS", "1"))


@dataclass
class Server:
    base: str
    headers: dict[str, str]
    pid: int

    def cpu_seconds(self) -> float:
        """CPU time (user and system) the server's processes have used so far."""
        root = psutil.Process(self.pid)
        times = [p.cpu_times() for p in (root, *root.children(recursive=True))]
        return float(sum(t.user + t.system for t in times))


@contextmanager
def serve(
    app: list[str], env: dict[str, str], headers: dict[str, str], workers: int = 1
) -> Iterator[Server]:
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "uvicorn", *app, "--host", "127.0.0.1", "--port", str(port)]
        + ["--log-level", "warning", "--workers", str(workers)],
        env={**os.environ, **env},
        cwd=ROOT,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"{base}/readyz", timeout=5).status_code in (200, 404):
                    break  # the bare app has no /readyz: 404 means it answers
            except httpx.TransportError:
                time.sleep(0.1)
        else:
            pytest.fail(f"{app} did not answer in 120 s")
        yield Server(base, headers, process.pid)
    finally:
        process.terminate()
        process.wait(timeout=30)


@contextmanager
def whoknows(index: Path, workers: int = 1) -> Iterator[Server]:
    """The service as `make run` serves it (with the index's topics made beforehand, as
    the DVC pipeline makes them: without, the service would fit them itself while the
    benchmark runs), with an admin key for reloads."""
    with tempfile.TemporaryDirectory() as folder:
        topics.run(index, Path(folder) / "topics", TopicConfig())
        url = f"sqlite:///{folder}/whoknows.db"
        store = Store(url)
        _, secret = store.create_key("bench-admin", [], admin=True)
        store.close()
        env = {
            "WHOKNOWS_INDEX_DIR": str(index),
            "WHOKNOWS_TOPICS_DIR": str(Path(folder) / "topics"),
            "WHOKNOWS_DATABASE_URL": url,
            "WHOKNOWS_RATE_LIMIT": "0",
        }
        headers = {"Authorization": f"Bearer {secret}"}
        with serve(["serving.app:create_app", "--factory"], env, headers, workers) as server:
            # Ready answers before the expertise map is loaded beside the index (with the
            # imports it needs): measure once the service has nothing else to do.
            # Every worker: each new connection may reach any of them.
            deadline, answered = time.monotonic() + 120, 0
            while answered < 10 * workers:
                topics_url = f"{server.base}/v1/insights/topics"
                ok = httpx.get(topics_url, headers=headers).status_code == 200
                answered = answered + 1 if ok else 0
                assert time.monotonic() < deadline, "the topics were not loaded in 120 s"
                time.sleep(0 if ok else 0.2)
            yield server


@contextmanager
def bare(index: Path, workers: int = 1) -> Iterator[Server]:
    env = {"WHOKNOWS_INDEX_DIR": str(index)}
    with serve(["tests.benchmarks.bare_app:app"], env, {}, workers) as server:
        yield server


def ask(server: Server, query: str) -> tuple[str, dict[str, str]]:
    if server.headers:
        return "/v1/recommendations", {"query": query}
    return "/search", {"query": query}


def answered(server: Server, response: httpx.Response) -> bool:
    """A real answer: 200 with results (a 200 with nothing in it is broken, not fast)."""
    if response.status_code != 200:
        return False
    body = response.json()
    if server.headers:
        return bool(body["resources"]) and bool(body["people"])
    return bool(body["ids"])


@dataclass
class Load:
    latencies: list[float]
    errors: int
    seconds: float

    @property
    def throughput(self) -> float:
        return len(self.latencies) / self.seconds


async def _load(server: Server, queries: list[str], clients: int, seconds: float) -> Load:
    counter = itertools.count()
    latencies: list[float] = []
    errors = 0
    stop = time.monotonic() + seconds

    async def client(http: httpx.AsyncClient) -> None:
        nonlocal errors
        while time.monotonic() < stop:
            number = next(counter)
            path, body = ask(server, f"{queries[number % len(queries)]} {number}")
            start = time.perf_counter()
            try:
                response = await http.post(path, json=body, headers=server.headers)
                ok = answered(server, response)
            except httpx.HTTPError:
                ok = False
            if ok:
                latencies.append(time.perf_counter() - start)
            else:
                errors += 1

    limits = httpx.Limits(max_connections=clients)
    started = time.monotonic()
    async with httpx.AsyncClient(base_url=server.base, timeout=60, limits=limits) as http:
        await asyncio.gather(*(client(http) for _ in range(clients)))
    return Load(latencies, errors, time.monotonic() - started)


def load(server: Server, queries: list[str], clients: int, seconds: float) -> Load:
    return asyncio.run(_load(server, queries, clients, seconds))


def test_one_client_against_the_bare_loop(sample_index: Path, sample_queries: list[str]) -> None:
    encoder = Encoder(query_cache_size=0)
    passages = assembly.read(sample_index, encoder).parts.passages
    in_process = []
    for query in sample_queries:
        start = time.perf_counter()
        vector = encoder._encode([query], "query")  # the backend's own call, no cache
        passages.search(np.asarray(vector, dtype=np.float32), 10)
        in_process.append(time.perf_counter() - start)
    with whoknows(sample_index) as ours:
        load(ours, sample_queries, 1, 2)  # warm-up
        served = load(ours, sample_queries, 1, SECONDS / 3)
    with bare(sample_index) as theirs:
        load(theirs, sample_queries, 1, 2)
        floor = load(theirs, sample_queries, 1, SECONDS / 3)
    assert served.errors == floor.errors == 0 and served.latencies and floor.latencies
    o50, o99 = percentiles(served.latencies)
    b50, b99 = percentiles(floor.latencies)
    l50, l99 = percentiles(in_process)
    report(
        f"one client, unique queries, sample index ({encoder.backend})",
        {
            "bare loop in-process (encode + faiss) p50 / p99 ms": f"{l50:.1f} / {l99:.1f}",
            "bare HTTP service p50 / p99 ms": f"{b50:.1f} / {b99:.1f}",
            "whoknows POST /v1/recommendations p50 / p99 ms": f"{o50:.1f} / {o99:.1f}",
            "whoknows / bare loop (medians)": f"{o50 / l50:.2f}",
            "whoknows / bare HTTP service (medians)": f"{o50 / b50:.2f}",
        },
    )


def test_sixteen_clients_against_the_bare_service(
    sample_index: Path, sample_queries: list[str]
) -> None:
    with whoknows(sample_index, WORKERS) as ours:
        load(ours, sample_queries, CLIENTS, 3)
        used = ours.cpu_seconds()
        served = load(ours, sample_queries, CLIENTS, SECONDS)
        our_cpu = (ours.cpu_seconds() - used) / max(len(served.latencies), 1)
    with bare(sample_index, WORKERS) as theirs:
        load(theirs, sample_queries, CLIENTS, 3)
        used = theirs.cpu_seconds()
        floor = load(theirs, sample_queries, CLIENTS, SECONDS)
        bare_cpu = (theirs.cpu_seconds() - used) / max(len(floor.latencies), 1)
    assert served.latencies and floor.latencies
    assert floor.errors == 0, "the bare service failed requests: the comparison is void"
    o50, o99 = percentiles(served.latencies)
    b50, b99 = percentiles(floor.latencies)
    report(
        f"{CLIENTS} concurrent clients for {SECONDS:.0f} s, sample index, {WORKERS} worker(s)",
        {
            "bare service req/s, p50 / p99 ms, errors": f"{floor.throughput:.1f}, "
            f"{b50:.0f} / {b99:.0f}, {floor.errors}",
            "whoknows req/s, p50 / p99 ms, errors": f"{served.throughput:.1f}, "
            f"{o50:.0f} / {o99:.0f}, {served.errors}",
            "throughput whoknows / bare": f"{served.throughput / floor.throughput:.2f}",
            "p99 whoknows / bare": f"{o99 / b99:.2f}",
            # on a machine the services saturate, throughput follows CPU time per answer
            "server CPU ms per answer, whoknows / bare": f"{our_cpu * 1000:.1f} / "
            f"{bare_cpu * 1000:.1f}",
        },
    )
    assert served.errors == 0, "no request may fail under load"


@dataclass
class Reloaded:
    load: Load
    seconds: list[float]
    baseline: Load


def load_with_reloads(
    sample_index: Path, queries: list[str], folder: Path, seconds: float, every: float
) -> Reloaded:
    """CLIENTS clients for ``seconds`` while a copy of the sample index is rebuilt (a new
    version written as `whoknows build` does) and reloaded every ``every`` seconds."""
    index = folder / "index"
    shutil.copytree(sample_index, index)
    other = Recommender.load(index)
    reloads: list[float] = []

    def rebuild() -> None:
        other.save(index)
        manifest = json.loads((index / "manifest.json").read_text())
        manifest["created_at"] = datetime.now(UTC).isoformat(timespec="seconds")[:19] + "Z"
        (index / "manifest.tmp").write_text(json.dumps(manifest))
        os.replace(index / "manifest.tmp", index / "manifest.json")

    with whoknows(index) as ours:
        load(ours, queries, CLIENTS, 3)  # warm-up
        baseline = load(ours, queries, CLIENTS, every)  # the same service, no reload

        async def reloading() -> None:
            async with httpx.AsyncClient(base_url=ours.base, timeout=120) as http:
                for _ in range(int(seconds // every)):
                    await asyncio.sleep(every)
                    await asyncio.to_thread(rebuild)
                    start = time.perf_counter()
                    response = await http.post("/v1/admin/reload", headers=ours.headers)
                    assert response.status_code == 200, response.text
                    assert response.json()["changed"], response.text
                    reloads.append(time.perf_counter() - start)

        async def both() -> Load:
            results = await asyncio.gather(_load(ours, queries, CLIENTS, seconds), reloading())
            return results[0]

        return Reloaded(asyncio.run(both()), reloads, baseline)


def test_reloads_under_load_fail_no_request(
    sample_index: Path, sample_queries: list[str], tmp_path: Path
) -> None:
    """16 clients while the index is rebuilt and reloaded every 10 s."""
    done = load_with_reloads(sample_index, sample_queries, tmp_path, RELOAD_SECONDS, 10)
    served, reloads, baseline = done.load, done.seconds, done.baseline
    assert served.latencies and baseline.latencies and baseline.errors == 0
    p50, p99 = percentiles(served.latencies)
    b50, b99 = percentiles(baseline.latencies)
    report(
        f"{CLIENTS} clients for {RELOAD_SECONDS:.0f} s, reloaded every 10 s",
        {
            "requests answered": len(served.latencies),
            "failed requests": served.errors,
            "reloads (median s)": f"{len(reloads)} ({np.median(reloads):.2f})",
            "p50 / p99 ms": f"{p50:.0f} / {p99:.0f}",
            "without reloads, 10 s before: p50 / p99 ms": f"{b50:.0f} / {b99:.0f}",
            "p99 with reloads / without": f"{p99 / b99:.2f}",
        },
    )
    assert served.errors == 0 and len(reloads) == int(RELOAD_SECONDS // 10)
