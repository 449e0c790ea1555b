"""A corrupted index is refused with a clear message: the operator reads what is wrong
and where (the exception, the server log); the public (/readyz, every 503) reads what
failed in words, with Retry-After, and no path or FAISS internals."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import httpx
import pytest

from models.encoder import Encoder
from models.exceptions import ArtifactError
from models.recommender import Recommender
from tests.faults.conftest import api_key, serve, wait_until

pytestmark = pytest.mark.slow


def truncate_passages(index: Path) -> str:
    faiss_file = index / "passages.faiss"
    faiss_file.write_bytes(faiss_file.read_bytes()[: faiss_file.stat().st_size // 2])
    return faiss_file.name


def garble_manifest(index: Path) -> str:
    (index / "manifest.json").write_bytes(b"\x00\xff{garbage")
    return "manifest.json"


def remove_profiles(index: Path) -> str:
    (index / "profiles.faiss").unlink()
    return "profiles.faiss"


DAMAGES: dict[str, Callable[[Path], str]] = {
    "truncated passages.faiss": truncate_passages,
    "garbage manifest.json": garble_manifest,
    "missing profiles.faiss": remove_profiles,
}


@pytest.mark.parametrize("damage", DAMAGES)
def test_loading_a_damaged_index_names_the_file(
    damage: str, tiny_index: Path, encoder: Encoder
) -> None:
    damaged = DAMAGES[damage](tiny_index)
    with pytest.raises(ArtifactError) as refused:
        Recommender.load(tiny_index, encoder=encoder)
    assert str(tiny_index / damaged) in str(refused.value)


@pytest.mark.parametrize("damage", DAMAGES)
def test_the_service_refuses_a_damaged_index_in_words_and_logs_the_detail(
    damage: str, tiny_index: Path, tmp_path: Path
) -> None:
    damaged = DAMAGES[damage](tiny_index)
    database_url = f"sqlite:///{tmp_path / 'whoknows.db'}"
    secret = api_key(database_url)
    with serve(tiny_index, database_url, tmp_path, ready=False) as service:
        readyz = f"{service.base}/readyz"
        wait_until(
            lambda: httpx.get(readyz, timeout=30).json()["status"] != "loading",
            "the damaged index refused",
        )
        ready = httpx.get(readyz, timeout=30)  # public: no credentials
        with service.client(secret) as http:
            asked = http.post("/v1/recommendations", json={"query": "kafka consumer lag"})
        for answer in (ready, asked):
            assert answer.status_code == 503, answer.text
            assert int(answer.headers.get("retry-after", "0")) > 0, answer.headers
            detail = answer.json()["detail"]
            assert "index" in detail, detail  # what failed, in words
            for internal in (str(tmp_path), damaged, ".cpp", "faiss::", "Error in"):
                assert internal not in answer.text, f"{internal!r} is public: {answer.text}"
        assert ready.json()["status"] == "failed"
        assert httpx.get(f"{service.base}/healthz", timeout=30).status_code == 200
        log = service.output()
        assert str(tiny_index / damaged) in log, f"the log does not name {damaged}:\n{log}"
