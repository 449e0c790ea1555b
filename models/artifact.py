"""Index directories: plain files plus a manifest, written all-or-nothing.

An index directory holds JSON, JSONL and FAISS files only (no pickle), so it can
be inspected, versioned by DVC and logged to MLflow as it is. It is written to a
temporary sibling and renamed into place: a crash or Ctrl-C leaves either the
old directory or the new one, never half of one.
"""

from __future__ import annotations

import json
import os
import shutil
import time
import uuid
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from models.exceptions import ArtifactError, ArtifactFormatError, ArtifactNotFoundError

FORMAT = "whoknows-index"
FORMAT_VERSION = 2
MANIFEST = "manifest.json"
#: Directories whoknows writes, by the file that names their format: only these
#: (or empty folders) may be replaced by a new build.
MARKERS = {
    MANIFEST: FORMAT,
    "embeddings.json": "whoknows-embeddings",
    "processed.json": "whoknows-processed",
    "whoknows-finetune.json": "whoknows-model",
    "topic-model.json": "whoknows-topics",
}
LEFTOVER_SECONDS = 24 * 3600


@dataclass(frozen=True, slots=True)
class Manifest:
    """What an index directory holds and how it was made.

    Attributes:
        encoder: name, fingerprint, dimension and max_seq_length of the encoder.
        counts: documents, people, passages.
        data_hash: SHA-256 of the ingested records and build parameters.
        created_at: ISO-8601 UTC time of the build.
        index_kind: the vector index backend.
        params: the build and ranking parameters.
        search: how the approximate index was tuned (its search depth, the recall it
            measured against exact search, and the target); empty for exact search.
        format_version: layout version of the directory.
    """

    encoder: dict[str, Any]
    counts: dict[str, int]
    data_hash: str
    created_at: str
    index_kind: str
    params: dict[str, Any] = field(default_factory=dict)
    format_version: int = FORMAT_VERSION
    search: dict[str, Any] = field(default_factory=dict)

    @property
    def index_version(self) -> str:
        """A short label that changes with every build: time and data hash."""
        stamp = self.created_at.replace("-", "").replace(":", "")[:15]
        return f"{stamp}-{self.data_hash.removeprefix('sha256:')[:8]}"

    def to_dict(self) -> dict[str, Any]:
        """The manifest as written to manifest.json."""
        return {
            "format": FORMAT,
            "format_version": self.format_version,
            "index_version": self.index_version,
            "created_at": self.created_at,
            "encoder": self.encoder,
            "counts": self.counts,
            "data_hash": self.data_hash,
            "index_kind": self.index_kind,
            "search": self.search,
            "params": self.params,
        }

    def write(self, directory: Path) -> None:
        """Write manifest.json into a directory."""
        (directory / MANIFEST).write_text(json.dumps(self.to_dict(), indent=2) + "\n")

    @classmethod
    def read(cls, directory: Path) -> Manifest:
        """Read and check manifest.json of an index directory."""
        path = directory / MANIFEST
        if not path.is_file():
            hint = "" if directory.is_dir() else " (the directory does not exist)"
            raise ArtifactNotFoundError(
                f"no whoknows index at {directory}{hint}: {MANIFEST} is missing; "
                "build one with `whoknows build --out DIR`"
            )
        try:
            data = json.loads(path.read_text())
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise ArtifactFormatError(f"{path} is not valid JSON: {exc}") from exc
        if not isinstance(data, dict) or data.get("format") != FORMAT:
            raise ArtifactFormatError(f"{path} is not a whoknows index manifest")
        version = data.get("format_version")
        if version != FORMAT_VERSION:
            raise ArtifactFormatError(
                f"{path} has index format version {version}, this whoknows reads version "
                f"{FORMAT_VERSION}; rebuild the index with this version of whoknows"
            )
        try:
            return cls(
                encoder=dict(data["encoder"]),
                counts={k: int(v) for k, v in data["counts"].items()},
                data_hash=str(data["data_hash"]),
                created_at=str(data["created_at"]),
                index_kind=str(data["index_kind"]),
                params=dict(data.get("params") or {}),
                format_version=int(version),
                search=dict(data.get("search") or {}),
            )
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise ArtifactFormatError(f"{path} lacks a required field: {exc}") from exc


def check_replaceable(target: Path) -> None:
    """Refuse to overwrite anything but an index directory or an empty folder.

    Raises:
        ArtifactError: ``target`` is a file, or a folder holding something else.
    """
    if not target.exists():
        return
    if not target.is_dir():
        raise ArtifactError(f"{target} is a file; give a directory for the index")
    if any(target.iterdir()) and not _is_ours(target):
        raise ArtifactError(
            f"{target} is a non-empty folder that whoknows did not write; refusing to "
            "replace it. Choose a new or empty directory"
        )


@contextmanager
def atomic_directory(target: Path) -> Iterator[Path]:
    """Yield a temporary directory that replaces ``target`` only if the block succeeds.

    The old ``target`` (an index or an empty folder; anything else is refused
    before work starts) is moved aside, the new one renamed in, and the old one
    deleted. If the second rename fails the old one is put back; on any error
    the temporary directory is removed and ``target`` is as it was.
    """
    target = Path(target)
    check_replaceable(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    _remove_leftovers(target)
    token = uuid.uuid4().hex[:8]
    tmp = target.parent / f".{target.name}.tmp-{token}"
    old = target.parent / f".{target.name}.old-{token}"
    tmp.mkdir()
    try:
        yield tmp
        check_replaceable(target)  # it may have changed while the block ran
        for file in tmp.iterdir():
            _fsync(file)
        moved = False
        if target.exists():
            os.replace(target, old)
            moved = True
        try:
            os.replace(tmp, target)
        except BaseException:
            if moved:
                os.replace(old, target)
            raise
        _fsync_dir(target.parent)
        shutil.rmtree(old, ignore_errors=True)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def write_jsonl(path: Path, rows: Iterable[dict[str, Any]]) -> None:
    """Write one JSON object per line, UTF-8."""
    with path.open("w", encoding="utf-8") as handle:
        for row in rows:
            handle.write(json.dumps(row, ensure_ascii=False) + "\n")


def read_jsonl(path: Path) -> Iterator[dict[str, Any]]:
    """Read a JSONL file of an index directory (trusted: written by write_jsonl)."""
    if not path.is_file():
        raise ArtifactFormatError(f"the index is incomplete: {path} is missing")
    with path.open(encoding="utf-8") as handle:
        for number, line in enumerate(handle, start=1):
            try:
                yield json.loads(line)
            except json.JSONDecodeError as exc:
                raise ArtifactFormatError(f"{path}:{number}: corrupt line: {exc}") from exc


def _is_ours(directory: Path) -> bool:
    for marker, kind in MARKERS.items():
        try:
            if json.loads((directory / marker).read_text()).get("format") == kind:
                return True
        except (OSError, ValueError, AttributeError):
            continue
    return False


def _remove_leftovers(target: Path) -> None:
    """Delete temporary and old copies that a killed build left next to ``target``.

    Only copies untouched for a day go: a younger one may belong to a build
    that is still running.
    """
    cutoff = time.time() - LEFTOVER_SECONDS
    for stale in target.parent.glob(f".{target.name}.*-*"):
        if not stale.is_dir() or not (".tmp-" in stale.name or ".old-" in stale.name):
            continue
        try:
            if stale.stat().st_mtime < cutoff:
                shutil.rmtree(stale, ignore_errors=True)
        except OSError:
            continue


def _fsync_dir(directory: Path) -> None:
    # The renames are only durable once the parent directory's entry is on disk.
    try:
        handle = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(handle)
    finally:
        os.close(handle)


def _fsync(path: Path) -> None:
    if path.is_file():
        with path.open("rb") as handle:
            os.fsync(handle.fileno())
