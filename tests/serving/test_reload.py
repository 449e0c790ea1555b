"""POST /v1/admin/reload: a new index served without a restart, atomically."""

from __future__ import annotations

import gc
import shutil
import threading
import time
import weakref
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from models.encoder import Encoder
from models.recommender import Recommender
from pipelines.store import Store
from serving.app import create_app
from serving.config import Settings
from serving.state import IndexState
from tests.serving.conftest import LOOPBACK, bearer


@dataclass
class Served:
    client: TestClient
    directory: Path
    admin: dict[str, str]
    user: dict[str, str]
    state: IndexState


@pytest.fixture
def served(sample_index: Path, tmp_path: Path, encoder: Encoder) -> Iterator[Served]:
    """The app loading a copy of the sample index from disk, with an admin and a user key."""
    directory = tmp_path / "index"
    shutil.copytree(sample_index, directory)
    store = Store("sqlite://")
    _, admin = store.create_key("ops", [], admin=True)
    _, user = store.create_key("portal", [])
    settings = Settings(index_dir=directory, encoder_path=None, rate_limit=0)
    with TestClient(create_app(settings, store=store), client=LOOPBACK) as client:
        state: IndexState = client.app.state.index  # type: ignore[attr-defined]
        assert state.wait(120)
        yield Served(client, directory, bearer(admin), bearer(user), state)


def _version(client: TestClient) -> str:
    ready = client.get("/readyz")
    assert ready.status_code == 200, ready.text
    version: str = ready.json()["index_version"]
    return version


def test_a_new_index_is_served_without_a_restart_and_none_fails(
    served: Served, tiny: Recommender
) -> None:
    client = served.client
    before = _version(client)
    old = weakref.ref(served.state.recommender)
    tiny.save(served.directory)  # the build replaces the directory in one rename
    answers: list[int] = []
    stop = threading.Event()

    def ask() -> None:
        while not stop.is_set():
            found = client.post(
                "/v1/recommendations", json={"query": "kafka consumer lag"}, headers=served.user
            )
            answers.append(found.status_code)

    askers = [threading.Thread(target=ask) for _ in range(3)]
    for thread in askers:
        thread.start()
    time.sleep(0.3)  # questions are in flight on the old index when the reload starts
    reloaded = client.post("/v1/admin/reload", headers=served.admin)
    time.sleep(0.3)
    stop.set()
    for thread in askers:
        thread.join()
    assert reloaded.status_code == 200, reloaded.text
    body = reloaded.json()
    assert body["previous_version"] == before
    assert body["index_version"] == tiny.index_version != before
    assert body["changed"] is True and body["seconds"] > 0
    assert answers and set(answers) == {200}, answers
    assert _version(client) == tiny.index_version
    metrics = client.get("/metrics").text
    assert f'version="{tiny.index_version}"' in metrics and before not in metrics
    # the eight-document index answers now, and its own expertise map with it
    found = client.post("/v1/recommendations", json={"query": "kafka"}, headers=served.user)
    assert {r["id"] for r in found.json()["resources"]} <= {d.id for d in tiny.documents}
    mapped = client.get("/v1/insights/topics", headers=served.user)
    assert mapped.status_code == 200, mapped.text
    # memory returns to one index: nothing holds the old one once its requests are done
    answers.clear()
    gc.collect()
    assert old() is None


def test_reloading_the_same_index_changes_nothing(served: Served) -> None:
    before = _version(served.client)
    again = served.client.post("/v1/admin/reload", headers=served.admin)
    assert again.status_code == 200
    assert again.json() == {
        "index_version": before,
        "previous_version": before,
        "changed": False,
        "seconds": 0.0,
    }


def test_a_broken_new_index_leaves_the_old_one_serving(served: Served) -> None:
    before = _version(served.client)
    (served.directory / "manifest.json").write_text("{not json", encoding="utf-8")
    refused = served.client.post("/v1/admin/reload", headers=served.admin)
    assert refused.status_code == 409
    assert f"still serving {before}" in refused.json()["detail"]
    assert _version(served.client) == before
    asked = served.client.post(
        "/v1/recommendations", json={"query": "staking"}, headers=served.user
    )
    assert asked.status_code == 200


def test_only_an_administrator_may_reload(served: Served) -> None:
    assert served.client.post("/v1/admin/reload", headers=served.user).status_code == 403
    assert served.client.post("/v1/admin/reload").status_code == 401


def test_one_reload_at_a_time(served: Served, tiny: Recommender) -> None:
    tiny.save(served.directory)
    results: list[int] = []
    both = [
        threading.Thread(
            target=lambda: results.append(
                served.client.post("/v1/admin/reload", headers=served.admin).status_code
            )
        )
        for _ in range(2)
    ]
    for thread in both:
        thread.start()
    for thread in both:
        thread.join()
    # the second either found the first running (409) or found nothing new to load (200)
    assert sorted(results) in ([200, 200], [200, 409])
    assert _version(served.client) == tiny.index_version


def test_a_watched_directory_is_reloaded_by_itself(
    sample_index: Path, tmp_path: Path, tiny: Recommender
) -> None:
    directory = tmp_path / "index"
    shutil.copytree(sample_index, directory)
    settings = Settings(index_dir=directory, anonymous=True, rate_limit=0, watch_seconds=0.2)
    with TestClient(create_app(settings, store=Store("sqlite://")), client=LOOPBACK) as client:
        state: IndexState = client.app.state.index  # type: ignore[attr-defined]
        assert state.wait(120)
        before = _version(client)
        tiny.save(directory)
        deadline = time.monotonic() + 120
        while _version(client) == before and time.monotonic() < deadline:
            time.sleep(0.2)
        assert _version(client) == tiny.index_version
        found = client.post("/v1/recommendations", json={"query": "roof tiles"})
        assert found.status_code == 200
        assert found.json()["resources"][0]["id"] in {d.id for d in tiny.documents}


def test_without_watching_a_new_build_waits_for_a_reload(served: Served, tiny: Recommender) -> None:
    before = _version(served.client)
    tiny.save(served.directory)
    time.sleep(1.0)
    assert _version(served.client) == before
