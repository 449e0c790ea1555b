from __future__ import annotations

import threading
from collections.abc import Iterator

import anyio
import pytest
from fastapi import FastAPI, Request
from fastapi.testclient import TestClient
from pydantic import BaseModel
from starlette.types import Message, Receive, Scope, Send

from models.exceptions import ConfigurationError, WhoknowsError
from serving.limits import (
    BodyLimitMiddleware,
    RateLimited,
    RateLimiter,
    install_body_limit,
)


class FakeClock:
    """Monotonic seconds that move only when the test says so."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


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


def test_a_burst_of_per_minute_is_accepted_then_refused(clock: FakeClock) -> None:
    limiter = RateLimiter(6, clock=clock)
    assert drain(limiter, "key-a") == 6
    with pytest.raises(RateLimited) as refused:
        limiter.hit("key-a")
    assert refused.value.retry_after == 10  # one token every 10 s at 6 a minute
    assert refused.value.per_minute == 6
    assert isinstance(refused.value, WhoknowsError)
    assert "6 requests a minute" in str(refused.value)
    assert "retry in 10 s" in str(refused.value)


def test_tokens_come_back_at_per_minute_over_60_seconds(clock: FakeClock) -> None:
    limiter = RateLimiter(6, clock=clock)
    drain(limiter, "key-a")
    clock.advance(9.9)
    with pytest.raises(RateLimited):
        limiter.hit("key-a")
    clock.advance(0.1)
    limiter.hit("key-a")  # 10 s: one token back
    clock.advance(30)
    assert drain(limiter, "key-a") == 3


def test_retry_after_counts_the_part_of_a_token_already_back(clock: FakeClock) -> None:
    limiter = RateLimiter(6, clock=clock)
    drain(limiter, "key-a")
    clock.advance(4)  # 0.4 of a token back, 6 s to go
    with pytest.raises(RateLimited) as refused:
        limiter.hit("key-a")
    assert refused.value.retry_after == 6


def test_retry_after_is_at_least_one_second(clock: FakeClock) -> None:
    limiter = RateLimiter(6000, clock=clock)  # a token every 10 ms
    drain(limiter, "key-a")
    with pytest.raises(RateLimited) as refused:
        limiter.hit("key-a")
    assert refused.value.retry_after == 1


def test_one_request_a_minute_waits_a_whole_minute(clock: FakeClock) -> None:
    limiter = RateLimiter(1, clock=clock)
    limiter.hit("key-a")
    with pytest.raises(RateLimited) as refused:
        limiter.hit("key-a")
    assert refused.value.retry_after == 60


def test_a_bucket_never_holds_more_than_per_minute(clock: FakeClock) -> None:
    limiter = RateLimiter(6, clock=clock)
    limiter.hit("key-a")
    clock.advance(3600)
    assert drain(limiter, "key-a") == 6


def test_callers_have_separate_buckets(clock: FakeClock) -> None:
    limiter = RateLimiter(3, clock=clock)
    drain(limiter, "key-a")
    assert drain(limiter, "key-b") == 3


def test_zero_turns_limiting_off(clock: FakeClock) -> None:
    limiter = RateLimiter(0, clock=clock)
    for _ in range(1000):
        limiter.hit("key-a")
    assert limiter.tracked == 0


def test_a_negative_limit_is_a_configuration_error() -> None:
    with pytest.raises(ConfigurationError, match="-1"):
        RateLimiter(-1)


def test_buckets_idle_until_full_again_are_dropped(clock: FakeClock) -> None:
    limiter = RateLimiter(6, clock=clock)
    drain(limiter, "key-a")
    clock.advance(60)
    limiter.hit("key-b")
    assert limiter.tracked == 1
    assert drain(limiter, "key-a") == 6  # dropping a full bucket changes nothing


def test_a_bucket_still_refilling_is_kept(clock: FakeClock) -> None:
    limiter = RateLimiter(6, clock=clock)
    drain(limiter, "key-a")
    clock.advance(59)
    limiter.hit("key-b")
    assert limiter.tracked == 2
    assert drain(limiter, "key-a") == 5  # 5.9 tokens back, not a fresh 6


def test_the_number_of_buckets_is_capped_forgetting_the_least_recent(clock: FakeClock) -> None:
    limiter = RateLimiter(1, clock=clock, max_buckets=2)
    for identity in ("key-a", "key-b", "key-c"):
        limiter.hit(identity)
    assert limiter.tracked == 2
    limiter.hit("key-a")  # forgotten, so forgiven
    with pytest.raises(RateLimited):
        limiter.hit("key-a")
    with pytest.raises(RateLimited):
        limiter.hit("key-c")  # still remembered


def test_a_million_callers_stay_within_the_cap(clock: FakeClock) -> None:
    limiter = RateLimiter(10, clock=clock, max_buckets=100)
    for number in range(20_000):
        limiter.hit(f"10.0.{number // 256}.{number % 256}")
    assert limiter.tracked == 100


def test_concurrent_hits_never_spend_a_token_twice(clock: FakeClock) -> None:
    limiter = RateLimiter(1000, clock=clock)  # the clock stands still: no refill
    accepted = 0
    count_lock = threading.Lock()
    start = threading.Barrier(8)

    def worker() -> None:
        nonlocal accepted
        start.wait()
        mine = 0
        for _ in range(250):
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
    assert accepted == 1000


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
