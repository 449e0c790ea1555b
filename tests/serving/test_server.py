"""The server under `whoknows serve`: stalled connections are closed, overload is refused."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import pytest
from fastapi.testclient import TestClient

from models.recommender import Recommender
from serving.app import create_app
from serving.config import Settings
from tests.conftest import free_port
from tests.serving.conftest import LOOPBACK

ROOT = Path(__file__).resolve().parents[2]


def closed_by_server(connection: socket.socket, seconds: float) -> bool:
    """Whether the server closes the connection within ``seconds`` (reads until EOF)."""
    connection.settimeout(seconds)
    try:
        while connection.recv(4096):
            pass
    except TimeoutError:
        return False
    except ConnectionResetError:
        return True
    return True


def test_fifty_stalled_clients_are_disconnected_and_others_still_answered(
    tiny: Recommender, tmp_path: Path
) -> None:
    index = tiny.save(tmp_path / "index")
    port = free_port()
    env = {
        **os.environ,
        "WHOKNOWS_READ_TIMEOUT": "2",
        "WHOKNOWS_ANONYMOUS": "true",
        "WHOKNOWS_RATE_LIMIT": "0",
        "WHOKNOWS_DATABASE_URL": f"sqlite:///{tmp_path}/store.db",
    }
    command = [sys.executable, "-m", "pipelines.cli", "serve", "--index", str(index)]
    command += ["--host", "127.0.0.1", "--port", str(port), "--log-level", "warning"]
    log = tmp_path / "serve.log"
    with log.open("wb") as handle:
        process = subprocess.Popen(
            command, env=env, cwd=tmp_path, stdout=handle, stderr=subprocess.STDOUT
        )
    base = f"http://127.0.0.1:{port}"
    stalled: list[socket.socket] = []
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"{base}/readyz", timeout=5).status_code == 200:
                    break
            except httpx.TransportError:
                time.sleep(0.2)
        else:
            pytest.fail(f"whoknows serve did not get ready:\n{log.read_text()}")
        body_start = (
            b"POST /v1/recommendations HTTP/1.1\r\nHost: x\r\nContent-Type: application/json"
            b'\r\nContent-Length: 100\r\n\r\n{"query": '
        )
        for n in range(50):
            connection = socket.create_connection(("127.0.0.1", port), timeout=5)
            # nothing at all; half the headers; the headers and a tenth of the body
            connection.sendall([b"", b"POST /v1/recommendations HTTP/1.1\r\nHo", body_start][n % 3])
            stalled.append(connection)
        started = time.monotonic()
        answer = httpx.post(f"{base}/v1/recommendations", json={"query": "kafka"}, timeout=10)
        assert answer.status_code == 200, "stalled clients must not keep others waiting"
        deadline = started + 10
        still_open = [
            c for c in stalled if not closed_by_server(c, max(0.1, deadline - time.monotonic()))
        ]
        assert not still_open, f"{len(still_open)} of 50 stalled connections kept open"
        assert time.monotonic() - started < 15
        again = httpx.post(f"{base}/v1/recommendations", json={"query": "lag"}, timeout=10)
        assert again.status_code == 200
    finally:
        for connection in stalled:
            connection.close()
        process.terminate()
        process.wait(timeout=30)


def test_past_its_queue_the_service_refuses_at_once_with_retry_after(tiny: Recommender) -> None:
    settings = Settings(anonymous=True, rate_limit=0, concurrency=1, queue=1, queue_seconds=0.5)
    app = create_app(settings, recommender=tiny)
    with TestClient(app, client=LOOPBACK) as client:
        slots = app.state.slots
        with slots:  # the one slot is busy
            waiting: list[httpx.Response] = []
            queued = threading.Thread(
                target=lambda: waiting.append(
                    client.post("/v1/recommendations", json={"query": "kafka"})
                )
            )
            queued.start()
            deadline = time.monotonic() + 5
            while slots._waiting == 0 and time.monotonic() < deadline:
                time.sleep(0.01)
            started = time.monotonic()
            refused = client.post("/v1/recommendations", json={"query": "lag"})
            assert time.monotonic() - started < 0.4, "past the queue: refused at once"
            assert refused.status_code == 503 and refused.headers["retry-after"] == "1"
            assert "at capacity" in refused.json()["detail"]
            queued.join(timeout=5)
        assert waiting[0].status_code == 503 and "within 0.5 s" in waiting[0].json()["detail"]
        assert client.post("/v1/recommendations", json={"query": "kafka"}).status_code == 200
