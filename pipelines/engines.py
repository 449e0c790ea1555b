"""Embedding on an existing distributed engine: Ray Data across a Ray cluster.

    whoknows build --engine ray --ray-address 10.0.0.5:6379 ...

The build stays the same: the passages missing from the embedding cache are
sent to the cluster in chunks, each worker loads the same encoder (the same
model folder and backend, so whoknows must be installed on every node and the
model folder readable there), and the vectors come back in order. Every text is
embedded alone (models.onnx_backend), so a vector does not depend on which
worker or batch made it: the index is the one a local build gives.

On one machine Ray only adds its start-up and scheduling to the same two cores;
it pays off when the cluster has more cores than the machine running the build.
"""

from __future__ import annotations

import logging
import os
import socket
from pathlib import Path
from typing import Any

import numpy as np

from models.arrays import Vectors
from models.encoder import Encoder
from models.exceptions import ConfigurationError

ENGINES = ("local", "ray")
#: Texts per call of a worker: large enough to amortise Ray's per-batch cost.
BATCH = 64
log = logging.getLogger("whoknows.build")


class _Embedder:
    """A Ray Data actor: one encoder per worker process, loaded once."""

    def __init__(self, model_path: str, backend: str, export_dir: str | None) -> None:
        export = Path(export_dir) if export_dir else None
        # One thread per actor: Ray runs one actor per CPU it was given.
        self.encoder = Encoder(
            Path(model_path), backend=backend, export_dir=export, query_cache_size=0, threads=1
        )

    def __call__(self, batch: dict[str, Any]) -> dict[str, Any]:
        texts = [str(t) for t in batch["text"]]
        return {"row": batch["row"], "vector": list(self.encoder.encode_uncached(texts))}


class RayEngine:
    """Embeds texts with Ray Data on a Ray cluster.

    Args:
        encoder: the local encoder; workers load the same model folder and backend.
        address: the cluster (``host:port`` of its head, or ``auto``); None starts a
            local Ray for the time of the build.
        workers: actors to run (default: the CPUs the cluster has).
        export_dir: where workers keep ONNX exports if the model folder is read-only.
    """

    def __init__(
        self,
        encoder: Encoder,
        address: str | None = None,
        *,
        workers: int | None = None,
        export_dir: Path | None = None,
    ) -> None:
        try:
            import ray
        except ImportError as exc:
            raise ConfigurationError(
                "the ray engine needs Ray Data: pip install 'whoknows[ray]' (or 'ray[data]')"
            ) from exc
        self._ray = ray
        if address not in (None, "auto"):
            _check_reachable(address)
        self.model_path = str(encoder.path)
        self.backend = encoder.backend
        self.export_dir = str(export_dir) if export_dir else None
        try:
            if not ray.is_initialized():
                ray.init(
                    address=address,
                    log_to_driver=False,
                    logging_level=logging.WARNING,
                    include_dashboard=False if address is None else None,
                    runtime_env={"env_vars": {"HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}},
                )
        except (ConnectionError, RuntimeError, ValueError) as exc:
            where = address or "a local Ray"
            raise ConfigurationError(f"cannot reach the Ray cluster at {where}: {exc}") from exc
        resources: dict[str, float] = ray.cluster_resources()  # type: ignore[no-untyped-call]
        cpus = int(resources.get("CPU", os.cpu_count() or 1))
        self.workers = max(1, workers or cpus)
        log.info("embedding on Ray with %d workers (%s)", self.workers, address or "local")

    def __call__(self, texts: list[str]) -> Vectors:
        """Vectors of the texts, in their order."""
        import ray.data

        rows = [{"row": i, "text": t} for i, t in enumerate(texts)]
        dataset = ray.data.from_items(
            rows, override_num_blocks=max(1, min(len(rows), 4 * self.workers))
        )
        embedded = dataset.map_batches(
            _Embedder,
            fn_constructor_args=(self.model_path, self.backend, self.export_dir),
            batch_size=BATCH,
            concurrency=self.workers,
            num_cpus=1,
            batch_format="numpy",
        )
        out = np.empty((len(texts), 0), dtype=np.float32)
        for batch in embedded.iter_batches(batch_size=None, batch_format="numpy"):
            vectors = np.stack(list(batch["vector"])).astype(np.float32)
            if out.shape[1] == 0:
                out = np.empty((len(texts), vectors.shape[1]), dtype=np.float32)
            out[np.asarray(batch["row"], dtype=np.int64)] = vectors
        return out

    def close(self) -> None:
        """Disconnect from the cluster (a local Ray started for the build stops)."""
        if self._ray.is_initialized():
            self._ray.shutdown()


def _check_reachable(address: str) -> None:
    """Fail fast: Ray itself retries an unreachable head for minutes."""
    host, _, port = address.removeprefix("ray://").rpartition(":")
    if not host or not port.isdigit():
        raise ConfigurationError(f"a Ray address is host:port, not {address!r}")
    try:
        socket.create_connection((host, int(port)), timeout=5).close()
    except OSError as exc:
        raise ConfigurationError(
            f"cannot reach the Ray cluster at {address}: {exc.strerror or exc}; "
            "start one with `ray start --head` or check --ray-address"
        ) from exc
