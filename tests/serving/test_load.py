"""Load, in the suite: 16 clients against the served sample, with and without reloads.

Bounded for CI (WHOKNOWS_LOAD_SECONDS, default 10 s each; the issue's full run is
60 s: ``WHOKNOWS_LOAD_SECONDS=60 WHOKNOWS_RELOAD_EVERY=10``). Only 127.0.0.1. The
percentiles are printed (``-s``); what is asserted is that no request fails. The
figures against a bare service are in tests/benchmarks/test_load.py (make bench).
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

from tests.benchmarks.test_load import CLIENTS, load, load_with_reloads, whoknows

pytestmark = pytest.mark.slow

SECONDS = float(os.environ.get("WHOKNOWS_LOAD_SECONDS", "10"))
RELOAD_EVERY = float(os.environ.get("WHOKNOWS_RELOAD_EVERY", "3"))


def test_sixteen_clients_get_every_answer(sample_index: Path, sample_queries: list[str]) -> None:
    with whoknows(sample_index) as server:
        served = load(server, sample_queries, CLIENTS, SECONDS)
    p50, p90, p99 = 1000 * np.percentile(served.latencies, [50, 90, 99])
    print(
        f"\n{CLIENTS} clients, {SECONDS:.0f} s: {len(served.latencies)} answers "
        f"({served.throughput:.1f}/s), {served.errors} failed, p50 / p90 / p99 "
        f"{p50:.0f} / {p90:.0f} / {p99:.0f} ms"
    )
    assert served.errors == 0 and len(served.latencies) > CLIENTS


def test_sixteen_clients_get_every_answer_while_the_index_is_reloaded(
    sample_index: Path, sample_queries: list[str], tmp_path: Path
) -> None:
    done = load_with_reloads(sample_index, sample_queries, tmp_path, SECONDS, RELOAD_EVERY)
    p50, p99 = 1000 * np.percentile(done.load.latencies, [50, 99])
    print(
        f"\n{CLIENTS} clients, {SECONDS:.0f} s, reloaded every {RELOAD_EVERY:.0f} s: "
        f"{len(done.load.latencies)} answers, {done.load.errors} failed, "
        f"{len(done.seconds)} reloads, p50 / p99 {p50:.0f} / {p99:.0f} ms"
    )
    assert done.load.errors == 0 and len(done.seconds) == int(SECONDS // RELOAD_EVERY)
