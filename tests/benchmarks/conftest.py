"""Benchmarks measure; they never assert on time. Run them with `make bench`."""

from __future__ import annotations

import json

import pytest

from tests.conftest import SAMPLE


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


def report(name: str, lines: dict[str, object]) -> None:
    """Print a result block that the README's Performance section quotes."""
    print(f"\n== {name}")
    for key, value in lines.items():
        print(f"   {key}: {value}")
