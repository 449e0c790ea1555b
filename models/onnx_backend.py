"""ONNX Runtime for a sentence-transformers encoder: the same model, without torch at query time.

A sentence-transformers folder (Transformer, Pooling, Normalize) is exported once
with torch to an ONNX graph that includes the pooling and the normalisation, and
kept beside the weights (or in the cache folder where the model's folder is not
writable). Three backends come from it:

- ``torch``: sentence-transformers itself, the reference;
- ``onnx``: the fp32 export, the same vectors as torch;
- ``onnx-int8``: the export with only the MatMul weights quantised to int8, one
  scale per output channel. It keeps cosine about .996 to the torch vectors where
  quantising every weight falls to about .93, but moves dev-set metrics by up to
  .018 (CISI people RR@10): faster, not faithful enough to be the default
  (README, Performance).

Serving loads the ONNX file and the tokenizer's own ``tokenizer.json``, never torch:
a process that only answers queries starts in about a second.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import tempfile
import threading
import warnings
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from models.arrays import Vectors
from models.exceptions import EncoderLoadError

TORCH = "torch"
ONNX = "onnx"
ONNX_INT8 = "onnx-int8"
BACKENDS = (TORCH, ONNX, ONNX_INT8)
#: The backend used unless params.yaml (recommender.encoder_backend) says otherwise: the
#: fastest one whose vectors stay faithful to torch's (cosine >= .99 and every dev metric
#: within .005: README, Performance). int8 is faster but moves CISI people RR@10 by .018.
DEFAULT_BACKEND = ONNX
#: Where exports are kept inside a model folder (left out of its fingerprint).
EXPORT_FOLDER = "whoknows-onnx"
#: 2: exported with eager attention (11% faster under ONNX Runtime than the SDPA graph).
EXPORT_FORMAT_VERSION = 2
_FILES = {ONNX: "model.onnx", ONNX_INT8: "model-int8.onnx"}
_SPEC = "export.json"
_OPSET = 17
_TOKENIZE_BATCH = 256
_SUPPORTED_MODULES = ("Transformer", "Pooling", "Normalize")
log = logging.getLogger("whoknows.encoder")


@dataclass(frozen=True, slots=True)
class ExportSpec:
    """What an export needs besides the graph to encode as sentence-transformers does.

    Attributes:
        dimension: length of the vectors.
        max_seq_length: tokens read at most (longer inputs are truncated).
        lower_case: sentence-transformers lower-cases inputs first.
        inputs: the graph's input names (``token_type_ids`` only where the model has them).
        query_prompt: text put before every query (a model's "query" prompt).
        document_prompt: text put before every passage.
        fingerprint: the fingerprint of the weights exported.
    """

    dimension: int
    max_seq_length: int
    lower_case: bool
    inputs: tuple[str, ...]
    query_prompt: str
    document_prompt: str
    fingerprint: str
    format_version: int = EXPORT_FORMAT_VERSION

    @classmethod
    def read(cls, path: Path) -> ExportSpec:
        data = json.loads(path.read_text())
        data["inputs"] = tuple(data["inputs"])
        return cls(**data)


def export_folder(model_path: Path, fingerprint: str, cache_dir: Path) -> Path:
    """Where the exports of a model live: beside its weights if that folder is writable,
    else in the cache folder under the weights' fingerprint."""
    beside = model_path / EXPORT_FOLDER
    if beside.is_dir() or os.access(model_path, os.W_OK):
        return beside
    return cache_dir / "onnx" / fingerprint.removeprefix("sha256:")[:32]


def ensure_export(
    model_path: Path, fingerprint: str, backend: str, cache_dir: Path
) -> tuple[Path, ExportSpec]:
    """The ONNX file of a backend for this model, exporting it first if needed.

    Raises:
        EncoderLoadError: the model cannot be exported (modules ONNX does not cover,
            or a folder that cannot be written).
    """
    if backend not in _FILES:
        raise EncoderLoadError(f"{backend!r} is not an ONNX backend; choose one of {list(_FILES)}")
    folder = export_folder(model_path, fingerprint, cache_dir)
    spec_path, graph = folder / _SPEC, folder / _FILES[backend]
    spec = _current_spec(spec_path, fingerprint)
    if spec is not None and graph.is_file():
        return graph, spec
    with _export_lock(folder):
        spec = _current_spec(spec_path, fingerprint)
        if spec is None or not (folder / _FILES[ONNX]).is_file():
            log.info("exporting the encoder %s to ONNX (once) in %s", model_path, folder)
            spec = _export_fp32(model_path, fingerprint, folder / _FILES[ONNX])
            _write_atomic(spec_path, json.dumps(asdict(spec), indent=2).encode())
        if backend == ONNX_INT8 and not graph.is_file():
            log.info("quantising the encoder's MatMul weights to int8 (once)")
            _quantise(folder / _FILES[ONNX], graph)
    return graph, spec


def _current_spec(path: Path, fingerprint: str) -> ExportSpec | None:
    try:
        spec = ExportSpec.read(path)
    except (OSError, ValueError, TypeError, KeyError):
        return None
    if spec.fingerprint != fingerprint or spec.format_version != EXPORT_FORMAT_VERSION:
        return None  # other weights (a re-trained model in the same folder): export again
    return spec


@contextlib.contextmanager
def _export_lock(folder: Path) -> Iterator[None]:
    """One exporting process at a time per folder (others wait, then find it done)."""
    import fcntl

    try:
        folder.mkdir(parents=True, exist_ok=True)
        handle = (folder / ".lock").open("a")
    except OSError as exc:
        raise EncoderLoadError(
            f"cannot write the encoder's ONNX export to {folder}: {exc}"
        ) from exc
    with handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _write_atomic(path: Path, content: bytes) -> None:
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(content)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _export_fp32(model_path: Path, fingerprint: str, out: Path) -> ExportSpec:
    import torch

    from models.encoder import load_sentence_transformer

    # Eager attention traces to plain MatMul/Softmax, which ONNX Runtime runs 11% faster
    # than the traced SDPA graph (52 against 47 passages/s, the same vectors to 1e-7).
    model = load_sentence_transformer(model_path, "cpu", {"attn_implementation": "eager"})
    kinds = [type(module).__name__ for module in model]
    if not kinds or kinds[0] != "Transformer" or any(k not in _SUPPORTED_MODULES for k in kinds):
        raise EncoderLoadError(
            f"the encoder in {model_path} has the modules {kinds}; the ONNX backends cover "
            f"{' + '.join(_SUPPORTED_MODULES)} only: set encoder_backend: torch"
        )
    transformer = model[0]
    tokenizer = model.tokenizer
    sample = tokenizer(["a short example", "another"], padding=True, return_tensors="pt")
    inputs = tuple(
        name
        for name in ("input_ids", "attention_mask", "token_type_ids")
        if name in sample and name in tokenizer.model_input_names
    )
    model.eval()

    class Graph(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.model = model

        def forward(self, *tensors: torch.Tensor) -> torch.Tensor:
            features = dict(zip(inputs, tensors, strict=True))
            embedding: torch.Tensor = self.model(features)["sentence_embedding"]
            return embedding

    axes = {name: {0: "batch", 1: "tokens"} for name in inputs}
    axes["embedding"] = {0: "batch"}
    tmp = out.with_name(f".{out.name}.tmp")
    # The TorchScript exporter: the torch.export-based one needs onnxscript and does not
    # yet take this model's dynamic shapes as given. It warns that it is the legacy one,
    # of its own deprecated functions, and that shape checks in transformers' masking
    # code are traced as constants: every text runs alone and unpadded (OnnxModel.encode),
    # so those checks hold for every input, and the tests compare vectors across lengths.
    with torch.inference_mode(), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(
            Graph(),
            tuple(sample[name] for name in inputs),
            str(tmp),
            input_names=list(inputs),
            output_names=["embedding"],
            dynamic_axes=axes,
            opset_version=_OPSET,
            dynamo=False,
        )
    os.replace(tmp, out)
    prompts = dict(getattr(model, "prompts", None) or {})
    return ExportSpec(
        dimension=int(model.get_embedding_dimension() or 0),
        max_seq_length=int(model.max_seq_length or tokenizer.model_max_length),
        lower_case=bool(getattr(transformer, "do_lower_case", False)),
        inputs=inputs,
        query_prompt=str(prompts.get("query", "")),
        document_prompt=str(prompts.get("document", prompts.get("passage", ""))),
        fingerprint=fingerprint,
    )


def _quantise(source: Path, out: Path) -> None:
    from onnxruntime.quantization import QuantType, quantize_dynamic

    tmp = out.with_name(f".{out.name}.tmp")
    root = logging.getLogger()
    level = root.level
    root.setLevel(max(level, logging.WARNING))  # the quantiser logs every tensor at INFO
    try:
        quantize_dynamic(
            str(source),
            str(tmp),
            weight_type=QuantType.QInt8,
            per_channel=True,
            op_types_to_quantize=["MatMul"],
        )
    finally:
        root.setLevel(level)
    os.replace(tmp, out)


class OnnxModel:
    """Runs an exported encoder with ONNX Runtime and the model's fast tokenizer.

    A single text (a query) runs on one session spread over every thread: the
    shortest wait. Many texts (a build) run one per thread at once on a second,
    single-threaded session, made at the first such call: about 1.3x the throughput
    of spreading each text over the threads (README, Performance). Both give the same
    vector for a text.

    Args:
        graph: the ONNX file.
        spec: what the export recorded.
        tokenizer_file: the model's ``tokenizer.json``.
        threads: threads to use (None: one per CPU this process may use; ONNX Runtime's
            own default counts physical cores only).
    """

    def __init__(
        self, graph: Path, spec: ExportSpec, tokenizer_file: Path, threads: int | None = None
    ) -> None:
        from tokenizers import Tokenizer

        if not tokenizer_file.is_file():
            raise EncoderLoadError(
                f"the ONNX backends need the model's fast tokenizer ({tokenizer_file} is "
                "missing): set encoder_backend: torch"
            )
        self.graph = graph
        self.threads = threads or len(os.sched_getaffinity(0))
        self._session = self._open(self.threads)
        self._single: Any = None  # the one-thread session for many texts, when needed
        self._single_lock = threading.Lock()
        self.spec = spec
        self.tokenizer = Tokenizer.from_file(str(tokenizer_file))
        self.tokenizer.no_padding()
        self.tokenizer.no_truncation()
        self._truncating = Tokenizer.from_file(str(tokenizer_file))
        self._truncating.enable_truncation(spec.max_seq_length)
        self._truncating.no_padding()

    def _open(self, threads: int) -> Any:
        import onnxruntime

        options = onnxruntime.SessionOptions()
        options.graph_optimization_level = onnxruntime.GraphOptimizationLevel.ORT_ENABLE_ALL
        options.intra_op_num_threads = threads
        # Threads that spin while waiting for work steal the cores of requests running
        # beside them (a service answers many at once): let them sleep instead.
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        options.log_severity_level = 3
        try:
            return onnxruntime.InferenceSession(
                str(self.graph), options, providers=["CPUExecutionProvider"]
            )
        except Exception as exc:  # onnxruntime raises its own untyped errors
            raise EncoderLoadError(f"cannot load the ONNX encoder {self.graph}: {exc}") from exc

    def offsets(self, texts: Sequence[str]) -> list[list[tuple[int, int]]]:
        """Character spans of each text's tokens (no special tokens)."""
        encoded = self.tokenizer.encode_batch(list(texts), add_special_tokens=False)
        return [[(int(a), int(b)) for a, b in row.offsets] for row in encoded]

    def encode(self, texts: Sequence[str], role: str) -> Vectors:
        """Unit vectors of texts, as sentence-transformers would give them.

        One text per run: int8's activation scales are computed per run, so in a batch
        a text's vector would depend on its neighbours (and on their padding). Alone,
        each text has one vector whatever else is encoded, and without padding this
        is as fast as batching on CPU (README, Performance).
        """
        prompt = self.spec.query_prompt if role == "query" else self.spec.document_prompt
        prepared = [prompt + t for t in texts]
        if self.spec.lower_case:
            prepared = [t.lower() for t in prepared]
        out = np.empty((len(prepared), self.spec.dimension), dtype=np.float32)
        parallel = len(prepared) > 1 and self.threads > 1
        session = self._single_session() if parallel else self._session

        def run(item: Any) -> Vectors:
            return self._run(session, item)

        # ONNX Runtime releases the GIL: the pool's threads run side by side.
        pool = ThreadPoolExecutor(self.threads) if parallel else None
        with pool or contextlib.nullcontext():
            for start in range(0, len(prepared), _TOKENIZE_BATCH):
                encoded = self._truncating.encode_batch(prepared[start : start + _TOKENIZE_BATCH])
                vectors = pool.map(run, encoded) if pool else map(run, encoded)
                for row, vector in enumerate(vectors, start):
                    out[row] = vector
        norms = np.linalg.norm(out, axis=1, keepdims=True)
        result: Vectors = np.ascontiguousarray(out / np.maximum(norms, 1e-12), dtype=np.float32)
        return result

    def _run(self, session: Any, item: Any) -> Vectors:
        ids = np.array([item.ids], dtype=np.int64)
        feeds = {
            "input_ids": ids,
            "attention_mask": np.ones_like(ids),
            "token_type_ids": np.array([item.type_ids], dtype=np.int64),
        }
        vector: Vectors = session.run(None, {n: feeds[n] for n in self.spec.inputs})[0][0]
        return vector

    def _single_session(self) -> Any:
        with self._single_lock:
            if self._single is None:
                self._single = self._open(1)
            return self._single


def load(
    model_path: Path, fingerprint: str, backend: str, cache_dir: Path, threads: int | None = None
) -> OnnxModel:
    """The ONNX model of a backend, exported first if this is its first use."""
    graph, spec = ensure_export(model_path, fingerprint, backend, cache_dir)
    return OnnxModel(graph, spec, model_path / "tokenizer.json", threads)
