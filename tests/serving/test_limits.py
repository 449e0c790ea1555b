from __future__ import annotations

import os
import threading
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from unittest.mock import patch

import anyio
import pytest
from fastapi import FastAPI, Request
from fastapi.testclient import TestClient
from pydantic import BaseModel
from starlette.types import Message, Receive, Scope, Send

from models.exceptions import ConfigurationError
from models.recommender import Recommender
from serving.answering import Slots
from serving.limits import (
    BodyLimitMiddleware,
    RateLimited,
    RateLimiter,
    install_body_limit,
)
from tests.serving.conftest import anonymous_client

REDIS = "redis://127.0.0.1:6379/0"


@pytest.fixture(params=["memory", "redis"])
def storage(request: pytest.FixtureRequest) -> str:
    """Each limiter test runs on both storages (Redis is on every machine of this kind)."""
    return "memory://" if request.param == "memory" else REDIS


@pytest.fixture
def namespace() -> str:
    """Keys of this test only: a shared Redis outlives it."""
    return f"whoknows-test-{uuid.uuid4().hex}"


def drain(limiter: RateLimiter, identity: str) -> int:
    """Hit until refused; how many were accepted."""
    accepted = 0
    while True:
        try:
            limiter.hit(identity)
        except RateLimited:
            return accepted
        accepted += 1
        assert accepted <= 10_000, "the limiter never refused"


# --- RateLimiter ---------------------------------------------------------------------


def test_per_minute_requests_are_accepted_then_refused(storage: str, namespace: str) -> None:
    limiter = RateLimiter(5, storage, namespace=namespace)
    assert drain(limiter, "key-a") == 5
    with pytest.raises(RateLimited) as refused:
        limiter.hit("key-a")
    assert 55 <= refused.value.retry_after <= 60, "the oldest request leaves in a minute"
    assert refused.value.per_minute == 5 and "5 requests a minute" in str(refused.value)


def test_callers_have_separate_allowances(storage: str, namespace: str) -> None:
    limiter = RateLimiter(2, storage, namespace=namespace)
    assert drain(limiter, "a") == 2
    assert drain(limiter, "b") == 2


def test_requests_leave_the_window_after_a_minute(monkeypatch: pytest.MonkeyPatch) -> None:
    now = [1_000_000.0]
    monkeypatch.setattr(time, "time", lambda: now[0])  # the memory storage's clock
    limiter = RateLimiter(3)
    limiter.hit("a")
    now[0] += 30
    limiter.hit("a")
    limiter.hit("a")
    with pytest.raises(RateLimited) as refused:
        limiter.hit("a")
    assert refused.value.retry_after == 30, "the first of the three leaves at 60 s"
    now[0] += 30.5
    limiter.hit("a")  # the first left the window: one more is accepted
    with pytest.raises(RateLimited):
        limiter.hit("a")


def test_workers_sharing_redis_share_one_allowance(namespace: str) -> None:
    workers = [RateLimiter(4, REDIS, namespace=namespace) for _ in range(3)]
    assert all(w.shared for w in workers)
    accepted = 0
    for number in range(12):
        try:
            workers[number % 3].hit("key-a")
        except RateLimited:
            continue
        accepted += 1
    assert accepted == 4, "three workers together accept the limit once, not three times"


def test_workers_in_memory_count_for_themselves(namespace: str) -> None:
    one, two = RateLimiter(2, namespace=namespace), RateLimiter(2, namespace=namespace)
    assert not one.shared
    assert drain(one, "key-a") == 2 and drain(two, "key-a") == 2


def test_zero_turns_limiting_off(storage: str, namespace: str) -> None:
    limiter = RateLimiter(0, storage, namespace=namespace)
    for _ in range(1000):
        limiter.hit("a")


def test_a_negative_limit_or_unknown_storage_is_a_configuration_error() -> None:
    with pytest.raises(ConfigurationError, match="0 \\(off\\) or a positive number"):
        RateLimiter(-1)
    with pytest.raises(ConfigurationError, match="cannot use 'carrier-pigeon://'"):
        RateLimiter(10, "carrier-pigeon://")


def test_an_unreachable_redis_lets_requests_through_and_says_so(
    caplog: pytest.LogCaptureFixture,
) -> None:
    limiter = RateLimiter(1, "redis://:secret@127.0.0.1:1/0")
    with caplog.at_level("ERROR", logger="whoknows.serving"):
        for _ in range(3):
            limiter.hit("a")  # not refused: the limit cannot be counted
    errors = [r.getMessage() for r in caplog.records if r.levelname == "ERROR"]
    assert len(errors) == 1, "logged once a minute, not once a request"
    assert "redis://:***@127.0.0.1:1/0 is unreachable" in errors[0]
    assert "secret" not in errors[0]


def test_concurrent_hits_never_exceed_the_limit(storage: str, namespace: str) -> None:
    limiter = RateLimiter(200, storage, namespace=namespace)
    accepted = 0
    count_lock = threading.Lock()
    start = threading.Barrier(8)

    def worker() -> None:
        nonlocal accepted
        start.wait()
        mine = 0
        for _ in range(50):
            try:
                limiter.hit("shared-key")
            except RateLimited:
                continue
            mine += 1
        with count_lock:
            accepted += mine

    threads = [threading.Thread(target=worker) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert accepted == 200


# --- body limit ----------------------------------------------------------------------

LIMIT = 1024


class Payload(BaseModel):
    text: str


@pytest.fixture
def body_app() -> FastAPI:
    app = FastAPI()
    app.state.calls = 0

    @app.post("/echo")
    def echo(payload: Payload, request: Request) -> dict[str, int]:
        request.app.state.calls += 1
        return {"length": len(payload.text)}

    @app.post("/raw")
    async def raw(request: Request) -> dict[str, int]:
        body = await request.body()
        request.app.state.calls += 1
        return {"length": len(body)}

    install_body_limit(app, LIMIT)
    return app


@pytest.fixture
def body_client(body_app: FastAPI) -> Iterator[TestClient]:
    with TestClient(body_app) as client:
        yield client


def chunks(total: int, size: int = 100) -> Iterator[bytes]:
    while total > 0:
        yield b"x" * min(size, total)
        total -= size


def test_a_body_within_the_limit_reaches_the_route(body_client: TestClient) -> None:
    response = body_client.post("/raw", content=b"x" * LIMIT)
    assert response.status_code == 200
    assert response.json() == {"length": LIMIT}


def test_a_declared_content_length_over_the_limit_is_refused_unread(
    body_app: FastAPI, body_client: TestClient
) -> None:
    response = body_client.post("/echo", json={"text": "x" * LIMIT})
    assert response.status_code == 413
    assert response.json() == {
        "detail": f"the request body is too large: at most {LIMIT} bytes are accepted"
    }
    assert body_app.state.calls == 0


def test_a_chunked_body_over_the_limit_is_refused(
    body_app: FastAPI, body_client: TestClient
) -> None:
    response = body_client.post("/raw", content=chunks(LIMIT + 1))
    assert "content-length" not in response.request.headers
    assert response.status_code == 413
    assert f"at most {LIMIT} bytes" in response.json()["detail"]
    assert body_app.state.calls == 0


def test_a_chunked_body_over_the_limit_is_refused_by_a_model_route(
    body_app: FastAPI, body_client: TestClient
) -> None:
    body = b'{"text": "' + b"x" * LIMIT + b'"}'
    response = body_client.post(
        "/echo", content=iter([body]), headers={"Content-Type": "application/json"}
    )
    assert response.status_code == 413
    assert response.json()["detail"].startswith("the request body is too large")
    assert body_app.state.calls == 0


def test_a_chunked_body_within_the_limit_reaches_the_route(body_client: TestClient) -> None:
    response = body_client.post("/raw", content=chunks(LIMIT))
    assert response.status_code == 200
    assert response.json() == {"length": LIMIT}


async def _run_streamed(
    middleware: BodyLimitMiddleware, body: list[bytes], headers: list[tuple[bytes, bytes]]
) -> tuple[list[Message], int]:
    """Feed ``body`` chunk by chunk; the messages sent back and the chunks pulled."""
    pending = [
        {"type": "http.request", "body": chunk, "more_body": i < len(body) - 1}
        for i, chunk in enumerate(body)
    ]
    pulled = 0
    sent: list[Message] = []

    async def receive() -> Message:
        nonlocal pulled
        pulled += 1
        return pending.pop(0) if pending else {"type": "http.disconnect"}

    async def send(message: Message) -> None:
        sent.append(message)

    scope = {"type": "http", "method": "POST", "path": "/", "headers": headers}
    await middleware(scope, receive, send)
    return sent, pulled


def test_a_streamed_body_is_passed_on_chunk_by_chunk_and_cut_at_the_limit() -> None:
    seen: list[bytes] = []

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                raise RuntimeError("client went away")  # what a careless app does
            seen.append(message["body"])
            if not message.get("more_body"):
                break
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"ok"})

    middleware = BodyLimitMiddleware(app, max_bytes=250)
    sent, pulled = anyio.run(_run_streamed, middleware, [b"a" * 100] * 5, [])
    assert seen == [b"a" * 100] * 2  # each chunk as it came, nothing held back
    assert pulled == 3  # the chunk that passed the limit, and nothing after it
    assert [m["type"] for m in sent] == ["http.response.start", "http.response.body"]
    assert sent[0]["status"] == 413


def test_a_declared_length_over_the_limit_is_refused_before_the_app_runs() -> None:
    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        raise AssertionError("the app ran")

    middleware = BodyLimitMiddleware(app, max_bytes=250)
    headers = [(b"content-length", b"251")]
    sent, pulled = anyio.run(_run_streamed, middleware, [b"a" * 251], headers)
    assert pulled == 0
    assert sent[0]["status"] == 413
    assert b"at most 250 bytes" in sent[1]["body"]


def test_the_limit_is_not_applied_to_other_scopes() -> None:
    calls: list[str] = []

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        calls.append(scope["type"])

    async def run() -> None:
        async def receive() -> Message:
            return {"type": "lifespan.startup"}

        async def send(message: Message) -> None:
            raise AssertionError("the middleware answered a lifespan scope")

        await BodyLimitMiddleware(app, max_bytes=0)({"type": "lifespan"}, receive, send)

    anyio.run(run)
    assert calls == ["lifespan"]


# --- recommendations computed at once --------------------------------------------------


def test_requests_past_the_concurrency_queue_instead_of_computing_side_by_side(
    tiny: Recommender,
) -> None:
    running, most = 0, 0
    lock = threading.Lock()
    original = tiny.recommend

    def slow(*args: object, **kwargs: object) -> object:
        nonlocal running, most
        with lock:
            running += 1
            most = max(most, running)
        time.sleep(0.05)
        try:
            return original(*args, **kwargs)  # type: ignore[arg-type]
        finally:
            with lock:
                running -= 1

    client = anonymous_client(tiny, concurrency=2, rate_limit=0)
    with client, patch.object(tiny, "recommend", slow):
        assert client.app.state.slots.size == 2  # type: ignore[attr-defined]

        def ask(number: int) -> int:
            body = {"query": f"kafka consumer lag {number}"}
            return client.post("/v1/recommendations", json=body).status_code

        with ThreadPoolExecutor(8) as pool:
            codes = list(pool.map(ask, range(8)))
    assert codes == [200] * 8
    assert most == 2, "eight requests at once, two computed at a time"


def test_the_default_concurrency_is_one_per_cpu() -> None:
    assert Slots().size == len(os.sched_getaffinity(0))
    assert Slots(3).size == 3
