"""What the fault tests share: the service as a real process, and an index to serve.

The service runs as ``whoknows serve`` on a free port of 127.0.0.1, its output in a
log file; tests kill it, cut its database off or hand it a damaged index, and look
at what it answers and what it wrote.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from models.recommender import Recommender
from pipelines.store import Store
from tests.conftest import free_port

#: The longest wait for a process to start, load or stop: a bound, not an estimate.
WAIT_SECONDS = 120.0


def wait_until(check: Callable[[], bool], what: str, seconds: float = WAIT_SECONDS) -> None:
    """Poll ``check`` until it holds; fail naming ``what`` after ``seconds``."""
    deadline = time.monotonic() + seconds
    while not check():
        if time.monotonic() > deadline:
            pytest.fail(f"{what}: not within {seconds:.0f} s")
        time.sleep(0.1)


def api_key(database_url: str, name: str = "fault-tests") -> str:
    """A new API key in the store at ``database_url`` (migrated if new); its secret."""
    with Store(database_url) as store:
        _, secret = store.create_key(name, [])
    return secret


@dataclass
class Service:
    """A running ``whoknows serve``."""

    process: subprocess.Popen[bytes]
    base: str
    log: Path

    def output(self) -> str:
        """What the process wrote so far (stdout and stderr)."""
        return self.log.read_text(encoding="utf-8", errors="replace")

    def client(self, secret: str | None = None) -> httpx.Client:
        """An HTTP client of the service, with an API key if given."""
        headers = {"Authorization": f"Bearer {secret}"} if secret else {}
        return httpx.Client(base_url=self.base, headers=headers, timeout=30)

    def kill(self) -> None:
        """kill -9: no shutdown, no flush, no goodbye."""
        os.kill(self.process.pid, signal.SIGKILL)
        self.process.wait(timeout=30)


@contextmanager
def serve(index: Path, database_url: str, folder: Path, *, ready: bool = True) -> Iterator[Service]:
    """``whoknows serve`` of ``index`` with the store at ``database_url``, run in ``folder``.

    Yields once /readyz answers 200 (``ready``) or at all (not ``ready``: the index
    may be meant to fail); the process is stopped afterwards if it still runs.
    """
    port = free_port()
    log = folder / f"serve-{port}.log"
    env = {
        **os.environ,
        "WHOKNOWS_DATABASE_URL": database_url,
        "WHOKNOWS_RATE_LIMIT": "0",
        "WHOKNOWS_ANONYMOUS": "false",
    }
    command = [sys.executable, "-m", "pipelines.cli", "serve", "--index", str(index)]
    command += ["--host", "127.0.0.1", "--port", str(port)]
    with log.open("wb") as handle:
        process = subprocess.Popen(
            command, stdout=handle, stderr=subprocess.STDOUT, env=env, cwd=folder
        )
    service = Service(process, f"http://127.0.0.1:{port}", log)
    try:

        def answers() -> bool:
            if process.poll() is not None:
                pytest.fail(f"whoknows serve exited ({process.returncode}):\n{service.output()}")
            try:
                status = httpx.get(f"{service.base}/readyz", timeout=5).status_code
            except httpx.TransportError:
                return False
            if ready and status == 503 and "failed" in httpx.get(f"{service.base}/readyz").text:
                pytest.fail(f"the index failed to load:\n{service.output()}")
            return status == 200 or not ready

        wait_until(answers, f"whoknows serve answering on {service.base}")
        yield service
    finally:
        if process.poll() is None:
            process.terminate()
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=30)


@pytest.fixture
def tiny_index(tiny: Recommender, tmp_path: Path) -> Path:
    """The eight-document index, saved where a test may damage it."""
    return tiny.save(tmp_path / "index")
