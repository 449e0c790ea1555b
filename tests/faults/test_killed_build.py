"""kill -9 of ``whoknows build`` at random points of a build of the bundled sample.

The build replaces an index directory that already holds a good index (the
eight-document one) and caches its embeddings in a folder of its own. It is killed
three times, each at a seeded random moment of one phase: while it starts, reads or
splits the sources; while it embeds, once a batch of passages is cached; while it
writes the new index. After each kill the old index must be there byte for byte and
answer, and the embedding cache must open; then a build run to its end must succeed,
embedding nothing the killed builds had already embedded.
"""

from __future__ import annotations

import hashlib
import os
import random
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from models.embedding_cache import EmbeddingCache
from models.encoder import Encoder
from models.recommender import Recommender
from pipelines.build import CACHE_FILE
from tests.conftest import SAMPLE
from tests.faults.conftest import WAIT_SECONDS

pytestmark = pytest.mark.slow

SEED = 15
#: Tries at killing a build while it writes (a write lasts some tens of milliseconds:
#: the build may finish first on a busy machine).
WRITE_KILL_TRIES = 3
#: Where a build is killed: after which line of its output (None: from its start),
#: and a random wait in this range of seconds.
KILL_POINTS: tuple[tuple[str, str | None, tuple[float, float]], ...] = (
    ("starting, reading or splitting the sources", None, (0.2, 2.0)),
    ("embedding, after a batch of passages was cached", r"embed passages: [1-9]\d*/", (0, 1)),
)


class Build:
    """``whoknows build`` of the sample as a process, its output read as it comes."""

    def __init__(self, out: Path, cache: Path, folder: Path) -> None:
        command = [sys.executable, "-m", "pipelines.cli", "build", "--no-track"]
        command += ["-d", str(SAMPLE / "documents.jsonl"), "-p", str(SAMPLE / "people.jsonl")]
        command += ["--out", str(out), "--cache-dir", str(cache)]
        env = {**os.environ, "WHOKNOWS_DATABASE_URL": f"sqlite:///{folder / 'whoknows.db'}"}
        self.process = subprocess.Popen(
            command,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            env=env,
            cwd=folder,
            text=True,
        )
        self.lines: list[str] = []
        self._ended = False
        self._changed = threading.Condition()
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            with self._changed:
                self.lines.append(line.rstrip("\n"))
                self._changed.notify_all()
        with self._changed:
            self._ended = True
            self._changed.notify_all()

    def output(self) -> str:
        """What the build printed so far."""
        with self._changed:
            return "\n".join(self.lines)

    def wait_for(self, pattern: str) -> None:
        """Wait until the build prints a line matching ``pattern`` (a regex)."""
        found = re.compile(pattern)
        with self._changed:
            self._changed.wait_for(
                lambda: self._ended or any(found.match(line) for line in self.lines),
                timeout=WAIT_SECONDS,
            )
        if not any(found.match(line) for line in self.lines):
            self.kill()
            pytest.fail(f"the build never printed {pattern!r}:\n{self.output()}")

    def kill(self) -> int:
        """kill -9; the exit code (-9 if it was still running)."""
        if self.process.poll() is None:
            os.kill(self.process.pid, signal.SIGKILL)
        return self.finish()

    def finish(self) -> int:
        """Wait for the end of the process and of its output; the exit code."""
        code = self.process.wait(timeout=WAIT_SECONDS)
        self._reader.join(timeout=WAIT_SECONDS)
        if self.process.stdout is not None:
            self.process.stdout.close()
        return code

    def to_embed(self, stage: str) -> int:
        """How many texts the build found missing from the cache at ``stage``."""
        for line in self.lines:
            match = re.fullmatch(rf"{stage}: 0/(\d+)", line)
            if match:
                return int(match.group(1))
        pytest.fail(f"the build printed no {stage!r} total:\n{self.output()}")


def contents(directory: Path) -> dict[str, str]:
    """Every file under ``directory`` by relative path, with its SHA-256."""
    return {
        str(path.relative_to(directory)): hashlib.sha256(path.read_bytes()).hexdigest()
        for path in sorted(directory.rglob("*"))
        if path.is_file()
    }


def kill_while_writing(build: Build, folder: Path, rng: random.Random) -> None:
    """Kill the build at a random moment of the first milliseconds of its new index
    directory (the write of an index lasts some tens of them)."""
    before = set(folder.glob(".index.tmp-*"))
    deadline = time.monotonic() + WAIT_SECONDS
    while not set(folder.glob(".index.tmp-*")) - before:
        if build.process.poll() is not None or time.monotonic() > deadline:
            return
        time.sleep(0.001)
    time.sleep(rng.uniform(0.0, 0.005))
    build.kill()


@pytest.fixture
def launch(tmp_path: Path) -> Iterator[Callable[[Path, Path], Build]]:
    """Start builds run in ``tmp_path``; any still running at the end is killed."""
    started: list[Build] = []

    def start(out: Path, cache: Path) -> Build:
        started.append(Build(out, cache, tmp_path))
        return started[-1]

    yield start
    for build in started:
        if build.process.poll() is None:
            build.kill()


def test_a_build_killed_at_random_points_leaves_the_old_index_serving_and_its_cache_reused(
    tiny: Recommender, encoder: Encoder, tmp_path: Path, launch: Callable[[Path, Path], Build]
) -> None:
    rng = random.Random(SEED)
    out = tiny.save(tmp_path / "index")
    cache = tmp_path / "cache"
    previous = (tiny.index_version, contents(out))
    cached: list[int] = []

    def check_after_kill(where: str) -> None:
        version, files = previous
        assert contents(out) == files, f"killed while {where}, the index directory changed"
        old = Recommender.load(out, encoder=encoder)
        assert old.index_version == version
        answer = old.recommend("kafka consumer lag")
        assert answer.resources, f"the old index answers nothing after a kill while {where}"
        with EmbeddingCache(cache / CACHE_FILE) as opened:
            cached.append(len(opened))
        assert not list(cache.glob("*.damaged-*")), f"a kill while {where} damaged the cache"

    for where, after, (low, high) in KILL_POINTS:
        build = launch(out, cache)
        if after is not None:
            build.wait_for(after)
        time.sleep(rng.uniform(low, high))
        assert build.kill() == -signal.SIGKILL, f"ended before the kill:\n{build.output()}"
        check_after_kill(where)
    assert cached[1] > cached[0], f"the build killed while embedding cached nothing: {cached}"

    for _ in range(WRITE_KILL_TRIES):
        build = launch(out, cache)
        kill_while_writing(build, tmp_path, rng)
        if build.finish() == -signal.SIGKILL:
            break
        # it finished first: what it wrote is the index the next try must leave alone
        assert build.process.returncode == 0, build.output()
        previous = (Recommender.load(out, encoder=encoder).index_version, contents(out))
    assert build.process.returncode == -signal.SIGKILL, (
        f"no build could be killed while writing in {WRITE_KILL_TRIES} tries"
    )
    assert set(tmp_path.glob(".index.tmp-*")), "the killed build had written nothing aside"
    check_after_kill("writing the new index")

    final = launch(out, cache)
    assert final.finish() == 0, final.output()
    built = Recommender.load(out, encoder=encoder)
    assert built.manifest.counts["documents"] == 320 and built.index_version != tiny.index_version
    assert built.recommend("kafka consumer lag").resources
    # every passage and profile came from what the killed builds cached
    assert final.to_embed("embed passages") == 0, final.output()
    assert final.to_embed("embed profiles") == 0, final.output()
    with EmbeddingCache(cache / CACHE_FILE) as opened:
        assert len(opened) == cached[-1] >= built.manifest.counts["passages"]
