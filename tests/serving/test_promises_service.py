"""What the README promises of the service and had no test of its own: the 503s and
their Retry-After, the default limits, tokens' subjects and groups claim, admin keys'
groups, the anonymous-access warning, the analytics window and how fast a privacy
request reaches another worker."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from fastapi.testclient import TestClient

from models.encoder import Encoder
from models.recommender import Recommender
from pipelines.store import Store
from serving.app import create_app
from serving.config import Settings
from tests.conftest import tiny_records
from tests.faults.conftest import serve
from tests.serving.conftest import LOOPBACK, PAYROLL, bearer

KAFKA = {"query": "kafka consumer lag", "limit_people": 4, "limit_resources": 8}
#: The one document of the restricted index that only the finance group may see.
ISSUER = "https://idp.example"
AUDIENCE = "whoknows"


def people_in(client: TestClient, headers: dict[str, str] | None = None) -> set[str]:
    """The ids of the people recommended for the Kafka question (asserted 200)."""
    answer = client.post("/v1/recommendations", json=KAFKA, headers=headers or {})
    assert answer.status_code == 200, answer.text
    return {person["id"] for person in answer.json()["people"]}


# --- 503 and Retry-After ---------------------------------------------------------------


def test_while_the_index_loads_every_answer_is_503_with_retry_after_5(
    tiny: Recommender, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    release = threading.Event()

    def slow_load(*args: object, **kwargs: object) -> Recommender:
        assert release.wait(60), "the test never let the index load"
        return tiny

    monkeypatch.setattr(Recommender, "load", slow_load)
    settings = Settings(_env_file=None, index_dir=tmp_path, anonymous=True, rate_limit=0)
    try:
        with TestClient(create_app(settings), client=LOOPBACK) as client:
            ready = client.get("/readyz")
            asked = client.post("/v1/recommendations", json=KAFKA)
            for answer in (ready, asked):
                assert answer.status_code == 503, answer.text
                assert answer.headers["retry-after"] == "5", answer.headers
            assert ready.json()["status"] == "loading"
            assert asked.json()["detail"].startswith("the index is still loading")
            release.set()
            deadline = time.monotonic() + 30
            while client.get("/readyz").status_code != 200 and time.monotonic() < deadline:
                time.sleep(0.05)
            assert people_in(client), "loaded, it answers"
    finally:
        release.set()


def test_a_database_that_cannot_be_opened_is_503_with_retry_after_30(
    tiny: Recommender, tmp_path: Path
) -> None:
    unreachable = f"sqlite:///{tmp_path / 'no such folder' / 'whoknows.db'}"
    settings = Settings(_env_file=None, database_url=unreachable, anonymous=True, rate_limit=0)
    with TestClient(create_app(settings, recommender=tiny), client=LOOPBACK) as client:
        answers = [
            client.post("/v1/recommendations", json=KAFKA),
            client.get("/v1/filters"),
            client.get("/v1/resources/d1"),
            client.get("/v1/analytics"),
            client.post("/v1/people/ada/opt-out"),
        ]
        for answer in answers:
            assert answer.status_code == 503, answer.text
            assert answer.headers["retry-after"] == "30", answer.headers
            assert answer.json()["detail"] == (
                "the database could not be opened; the server log has the details"
            )
            assert str(tmp_path) not in answer.text, "a path is for the log"


@pytest.mark.slow
def test_over_http_a_database_down_at_start_is_503_with_retry_after_30_and_logged(
    tiny: Recommender, tmp_path: Path
) -> None:
    index = tiny.save(tmp_path / "index")
    unreachable = f"sqlite:///{tmp_path / 'no such folder' / 'whoknows.db'}"
    with serve(index, unreachable, tmp_path) as service, service.client("wk_any") as http:
        answer = http.post("/v1/recommendations", json=KAFKA)
        assert answer.status_code == 503, answer.text
        assert answer.headers["retry-after"] == "30", answer.headers
        assert answer.json()["detail"].startswith("the database could not be opened")
        assert "cannot open the database:" in service.output()


# --- default limits --------------------------------------------------------------------


@pytest.fixture
def defaults(tiny: Recommender) -> Iterator[TestClient]:
    """The app with every limit at its default (nothing from the environment's .env)."""
    with (
        Store("sqlite://") as store,
        TestClient(
            create_app(Settings(_env_file=None, anonymous=True), recommender=tiny, store=store),
            client=LOOPBACK,
        ) as client,
    ):
        yield client


def test_the_default_rate_limit_is_120_requests_a_minute(defaults: TestClient) -> None:
    for number in range(1, 121):
        answer = defaults.get("/v1/filters")
        assert answer.status_code == 200, f"request {number}: {answer.text}"
    refused = defaults.get("/v1/filters")
    assert refused.status_code == 429, refused.text
    assert int(refused.headers["retry-after"]) >= 1


def test_the_default_body_limit_is_64_kib(defaults: TestClient) -> None:
    def body_of(size: int) -> bytes:
        head, tail = b'{"query": "', b'"}'
        return head + b"k" * (size - len(head) - len(tail)) + tail

    headers = {"Content-Type": "application/json"}
    within = defaults.post("/v1/recommendations", content=body_of(65536), headers=headers)
    assert within.status_code == 422, "read, and refused for its over-long query"
    over = defaults.post("/v1/recommendations", content=body_of(65537), headers=headers)
    assert over.status_code == 413, over.text


# --- tokens and groups -----------------------------------------------------------------


@pytest.fixture(scope="module")
def signing_key() -> rsa.RSAPrivateKey:
    """The identity provider's private key."""
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def token(key: rsa.RSAPrivateKey, subject: str, **claims: Any) -> dict[str, str]:
    """The Authorization header of a valid token for ``subject`` with more claims."""
    now = int(time.time())
    payload = {"sub": subject, "iss": ISSUER, "aud": AUDIENCE, "iat": now, "exp": now + 300}
    return bearer(jwt.encode(payload | claims, key, algorithm="RS256"))


def token_settings(key: rsa.RSAPrivateKey) -> dict[str, Any]:
    public = key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return {
        "jwt_key": public.decode("ascii"),
        "jwt_issuer": ISSUER,
        "jwt_audience": AUDIENCE,
        "rate_limit": 0,
    }


def test_a_person_opts_out_with_a_token_whose_subject_is_them(
    encoder: Encoder, signing_key: rsa.RSAPrivateKey
) -> None:
    documents, people = tiny_records()
    recommender = Recommender.build(documents, people, encoder=encoder)  # changed by the test
    settings = Settings(_env_file=None, **token_settings(signing_key))
    ada, cy = token(signing_key, "ada"), token(signing_key, "cy")
    with (
        Store("sqlite://") as store,
        TestClient(create_app(settings, recommender=recommender, store=store)) as client,
    ):
        assert "ada" in people_in(client, cy)
        refused = client.post("/v1/people/ada/opt-out", headers=cy)
        assert refused.status_code == 403, "a token of someone else may not"
        assert "ada" in people_in(client, cy)
        opted = client.post("/v1/people/ada/opt-out", headers=ada)
        assert opted.status_code == 200, opted.text
        assert "ada" not in people_in(client, cy)
        assert client.get("/v1/people/ada", headers=cy).status_code == 404


def test_the_groups_claim_is_the_one_named_by_the_setting(
    restricted: Recommender, signing_key: rsa.RSAPrivateKey, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("WHOKNOWS_JWT_GROUPS_CLAIM", "roles")
    settings = Settings(_env_file=None, **token_settings(signing_key))
    with (
        Store("sqlite://") as store,
        TestClient(create_app(settings, recommender=restricted, store=store)) as client,
    ):
        read = f"/v1/resources/{PAYROLL}"
        by_roles = client.get(read, headers=token(signing_key, "dee", roles=["finance"]))
        assert by_roles.status_code == 200, by_roles.text
        by_groups = client.get(read, headers=token(signing_key, "dee", groups=["finance"]))
        assert by_groups.status_code == 404, "the default claim is not read once renamed"


def test_admin_keys_see_only_what_their_groups_allow(restricted: Recommender) -> None:
    payroll = {"query": "salary run payslips tax withholding", "limit_resources": 10}
    with Store("sqlite://") as store:
        _, admin = store.create_key("ops", [], admin=True)
        _, finance_admin = store.create_key("finance-ops", ["finance"], admin=True)
        app = create_app(
            Settings(_env_file=None, rate_limit=0), recommender=restricted, store=store
        )
        with TestClient(app, client=LOOPBACK) as client:

            def found(key: str) -> set[str]:
                asked = client.post("/v1/recommendations", json=payroll, headers=bearer(key))
                assert asked.status_code == 200, asked.text
                return {resource["id"] for resource in asked.json()["resources"]}

            assert PAYROLL in found(finance_admin)
            assert found(admin) and PAYROLL not in found(admin)
            read = f"/v1/resources/{PAYROLL}"
            assert client.get(read, headers=bearer(finance_admin)).status_code == 200
            assert client.get(read, headers=bearer(admin)).status_code == 404
            # still an administrator: admin routes answer
            assert client.get("/v1/analytics", headers=bearer(admin)).status_code == 200


# --- the log, analytics and privacy ------------------------------------------------------


@pytest.mark.parametrize("anonymous", [True, False])
def test_anonymous_access_is_announced_in_the_log_at_start(
    tiny: Recommender, caplog: pytest.LogCaptureFixture, anonymous: bool
) -> None:
    settings = Settings(_env_file=None, anonymous=anonymous)
    with (
        caplog.at_level(logging.WARNING, logger="whoknows.serving"),
        Store("sqlite://") as store,
        TestClient(create_app(settings, recommender=tiny, store=store)),
    ):
        pass
    said = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    announced = [line for line in said if "anonymous access is ON" in line]
    assert bool(announced) is anonymous, said


def test_analytics_cover_the_last_30_days_by_default(tiny: Recommender) -> None:
    with Store("sqlite://") as store:
        _, admin = store.create_key("ops", [], admin=True)
        app = create_app(Settings(_env_file=None, rate_limit=0), recommender=tiny, store=store)
        with TestClient(app, client=LOOPBACK) as client:
            before = datetime.now().astimezone()
            answer = client.get("/v1/analytics", headers=bearer(admin))
            after = datetime.now().astimezone()
    assert answer.status_code == 200, answer.text
    start = datetime.fromisoformat(answer.json()["start"])
    end = datetime.fromisoformat(answer.json()["end"])
    assert before - timedelta(seconds=1) <= end <= after + timedelta(seconds=1)
    assert end - start == timedelta(days=30)


def test_a_privacy_request_reaches_another_worker_within_a_second_by_default(
    encoder: Encoder,
) -> None:
    documents, people = tiny_records()
    with Store("sqlite://") as store:  # the database both workers share; no Redis
        _, ada = store.create_key("ada", [], person="ada")
        _, cy = store.create_key("cy", [], person="cy")
        first, second = (
            create_app(
                Settings(_env_file=None, rate_limit=0),
                recommender=Recommender.build(documents, people, encoder=encoder),
                store=store,
            )
            for _ in range(2)
        )
        with (
            TestClient(first, client=LOOPBACK) as one,
            TestClient(second, client=LOOPBACK) as two,
        ):
            assert "ada" in people_in(two, bearer(cy))  # the other worker has looked just now
            assert one.post("/v1/people/ada/opt-out", headers=bearer(ada)).status_code == 200
            asked = time.monotonic()
            while "ada" in people_in(two, bearer(cy)):
                assert time.monotonic() - asked < 1.25, "still recommended by the other worker"
                time.sleep(0.05)
