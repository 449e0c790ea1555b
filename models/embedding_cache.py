"""A persistent cache of embeddings keyed by content hash.

Rebuilding an index after a small change should cost only the changed passages.
Each vector is stored under the SHA-256 of (encoder fingerprint, role, text), so
an unchanged passage is never embedded twice and a different model or prompt
never reuses another's vectors. SQLite gives atomic commits: an interrupted
build keeps every batch it finished.
"""

from __future__ import annotations

import hashlib
import logging
import os
import sqlite3
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import numpy.typing as npt

_SCHEMA = """
CREATE TABLE IF NOT EXISTS embeddings (
    key BLOB PRIMARY KEY,
    vector BLOB NOT NULL
) WITHOUT ROWID
"""
_LOOKUP_CHUNK = 500
_LOCK_TIMEOUT_S = 120.0
log = logging.getLogger("whoknows.cache")


def content_key(fingerprint: str, role: str, text: str) -> bytes:
    """The cache key of one text for one encoder and role (query or document)."""
    digest = hashlib.sha256()
    for part in (fingerprint, role, text):
        digest.update(part.encode("utf-8", "surrogatepass"))
        digest.update(b"\x00")
    return digest.digest()


def default_cache_dir() -> Path:
    """Where embeddings (and downloaded models) are cached unless a setting says otherwise."""
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "whoknows"


class EmbeddingCache:
    """Float32 vectors in one SQLite file.

    Args:
        path: the database file; its folder is created if needed.
    """

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        try:
            self._db = self._open()
        except sqlite3.DatabaseError as exc:
            # A cache only saves time: set a damaged one aside and start afresh.
            aside = self.path.with_name(f"{self.path.name}.damaged-{int(time.time())}")
            log.warning(
                "embedding cache %s is unreadable (%s); moved it to %s", self.path, exc, aside
            )
            self.path.replace(aside)
            self._db = self._open()

    def _open(self) -> sqlite3.Connection:
        # Another build may hold the write lock for a while: wait rather than fail.
        db = sqlite3.connect(self.path, check_same_thread=False, timeout=_LOCK_TIMEOUT_S)
        try:
            db.execute("PRAGMA journal_mode=WAL")
            db.execute("PRAGMA synchronous=NORMAL")
            db.execute(_SCHEMA)
            db.commit()
        except sqlite3.DatabaseError:
            db.close()
            raise
        return db

    def __enter__(self) -> EmbeddingCache:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def get_many(
        self, keys: Sequence[bytes], dimension: int
    ) -> dict[bytes, npt.NDArray[np.float32]]:
        """The cached vectors among ``keys``; missing keys are absent from the result."""
        found: dict[bytes, npt.NDArray[np.float32]] = {}
        for i in range(0, len(keys), _LOOKUP_CHUNK):
            chunk = list(keys[i : i + _LOOKUP_CHUNK])
            marks = ",".join("?" * len(chunk))
            rows = self._db.execute(
                f"SELECT key, vector FROM embeddings WHERE key IN ({marks})", chunk
            )
            for key, blob in rows:
                vector = np.frombuffer(blob, dtype=np.float32)
                if vector.shape[0] == dimension:
                    found[key] = vector
        return found

    def put_many(self, keys: Sequence[bytes], vectors: npt.NDArray[np.float32]) -> None:
        """Store vectors (one row per key) in one transaction."""
        rows = [
            (key, np.ascontiguousarray(v, dtype=np.float32).tobytes())
            for key, v in zip(keys, vectors, strict=True)
        ]
        with self._transaction():
            self._db.executemany("INSERT OR REPLACE INTO embeddings VALUES (?, ?)", rows)

    def __len__(self) -> int:
        (count,) = self._db.execute("SELECT COUNT(*) FROM embeddings").fetchone()
        return int(count)

    def close(self) -> None:
        """Close the database; the object must not be used afterwards."""
        self._db.close()

    @contextmanager
    def _transaction(self) -> Iterator[None]:
        try:
            yield
            self._db.commit()
        except BaseException:
            self._db.rollback()
            raise
