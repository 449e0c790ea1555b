"""The ONNX backends: the torch model's vectors, its tokens, without torch at query time."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from models import onnx_backend
from models.embedding_cache import EmbeddingCache
from models.encoder import (
    Encoder,
    check_compatible,
    default_model_path,
    encoder_entry,
    model_fingerprint,
    recorded_backend,
)
from models.exceptions import ConfigurationError, EncoderLoadError, EncoderMismatchError

ROOT = Path(__file__).resolve().parents[2]
TEXTS = [
    "How do I reset an Alexa device to factory settings?",
    "Grover's algorithm finds a marked item among N in about sqrt(N) oracle calls; "
    "the amplitude of the marked state grows with each iteration. " * 6,
    "Café crème, naïve façade — über-schnell: 量子コンピュータ 🚀 tabs\tand  spaces",
    "x",
]


@pytest.fixture(scope="module")
def torch_encoder() -> Encoder:
    return Encoder(backend="torch")


@pytest.fixture(scope="module")
def fp32_encoder() -> Encoder:
    return Encoder(backend="onnx")


def _cosines(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return np.asarray((a * b).sum(axis=1))


def test_fp32_export_gives_the_torch_vectors(torch_encoder: Encoder, fp32_encoder: Encoder) -> None:
    for method in ("encode_queries", "encode_documents"):
        ours, reference = (getattr(e, method)(TEXTS) for e in (fp32_encoder, torch_encoder))
        np.testing.assert_allclose(ours, reference, atol=2e-5)


@pytest.fixture(scope="module")
def int8_encoder() -> Encoder:
    return Encoder(backend="onnx-int8")


def test_int8_vectors_stay_close_to_torchs(
    torch_encoder: Encoder, int8_encoder: Encoder, encoder: Encoder
) -> None:
    assert encoder.backend == "onnx", "fp32 ONNX is the default backend"
    encoder = int8_encoder
    ours, reference = encoder.encode_documents(TEXTS), torch_encoder.encode_documents(TEXTS)
    cosines = _cosines(ours, reference)
    assert cosines.min() >= 0.98 and cosines.mean() >= 0.99
    assert cosines.max() < 0.99999, "quantised weights must give (slightly) other vectors"
    folder = onnx_backend.export_folder(default_model_path(), encoder.info.fingerprint, ROOT)
    int8, fp32 = (folder / name for name in ("model-int8.onnx", "model.onnx"))
    # The MatMul weights (42 of the 90 MB) shrink to a quarter; the embeddings stay fp32.
    assert int8.stat().st_size < 0.7 * fp32.stat().st_size


def test_passages_are_cut_at_the_same_tokens(torch_encoder: Encoder, encoder: Encoder) -> None:
    assert encoder.token_offsets(TEXTS) == torch_encoder.token_offsets(TEXTS)
    assert encoder.count_tokens(TEXTS) == torch_encoder.count_tokens(TEXTS)
    assert encoder.info.max_seq_length == torch_encoder.info.max_seq_length == 256


def test_batching_does_not_change_a_vector(encoder: Encoder, int8_encoder: Encoder) -> None:
    # int8 scales activations per run: in a batch a vector would depend on its neighbours
    for model in (encoder, int8_encoder):
        alone = np.vstack([model.encode_uncached([t]) for t in TEXTS])
        np.testing.assert_allclose(model.encode_uncached(TEXTS), alone, atol=1e-6)


def test_each_backend_caches_its_own_vectors(tmp_path: Path, fp32_encoder: Encoder) -> None:
    cache = EmbeddingCache(tmp_path / "cache.sqlite")
    torch_like = Encoder(backend="onnx", cache=cache)
    quantised = Encoder(backend="onnx-int8", cache=cache)
    torch_like.encode_documents(["one shared text"])
    calls: list[str] = []
    original = quantised._encode

    def counting(texts: list[str], role: str) -> np.ndarray:
        calls.extend(texts)
        return original(texts, role)

    quantised._encode = counting  # type: ignore[method-assign]
    quantised.encode_documents(["one shared text"])
    assert calls == ["one shared text"], "an fp32 vector must not stand in for an int8 one"
    cache.close()


def _model_copy(tmp_path: Path, prompts: dict[str, str] | None = None) -> Path:
    """A model folder whose weights are links to the bundled ones (no 90 MB copy)."""
    source, copy = default_model_path(), tmp_path / "model"
    copy.mkdir()
    for item in source.iterdir():
        if item.is_dir() and item.name != onnx_backend.EXPORT_FOLDER:
            shutil.copytree(item, copy / item.name)
        elif item.is_file():
            (copy / item.name).symlink_to(item)
    if prompts is not None:
        settings = copy / "config_sentence_transformers.json"
        data = json.loads(settings.read_text())
        settings.unlink()
        settings.write_text(json.dumps({**data, "prompts": prompts, "default_prompt_name": None}))
    return copy


def test_prompts_of_an_asymmetric_model_are_exported(tmp_path: Path) -> None:
    folder = _model_copy(tmp_path, {"query": "query: ", "document": "passage: "})
    text = ["kafka consumer lag"]
    onnx, torch = Encoder(folder, backend="onnx"), Encoder(folder, backend="torch")
    np.testing.assert_allclose(onnx.encode_queries(text), torch.encode_queries(text), atol=2e-5)
    np.testing.assert_allclose(onnx.encode_documents(text), torch.encode_documents(text), atol=2e-5)
    assert float(onnx.encode_queries(text)[0] @ onnx.encode_documents(text)[0]) < 0.999
    assert (folder / onnx_backend.EXPORT_FOLDER / "export.json").is_file(), "kept beside it"


def test_new_weights_in_the_same_folder_are_exported_again(tmp_path: Path) -> None:
    folder = _model_copy(tmp_path)
    first = Encoder(folder, backend="onnx")
    spec_file = folder / onnx_backend.EXPORT_FOLDER / "export.json"
    spec = json.loads(spec_file.read_text())
    assert spec["fingerprint"] == first.info.fingerprint == model_fingerprint(folder)
    spec_file.write_text(json.dumps({**spec, "fingerprint": "sha256:old-weights"}))
    again = Encoder(folder, backend="onnx")
    assert json.loads(spec_file.read_text())["fingerprint"] == again.info.fingerprint
    np.testing.assert_allclose(again.encode_queries(["x"]), first.encode_queries(["x"]), atol=1e-6)


def test_a_read_only_model_folder_exports_to_the_cache(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = _model_copy(tmp_path)
    monkeypatch.setattr(onnx_backend.os, "access", lambda path, mode: False)
    encoder = Encoder(folder, backend="onnx", export_dir=tmp_path / "cache")
    assert not (folder / onnx_backend.EXPORT_FOLDER).exists()
    exported = list((tmp_path / "cache" / "onnx").glob("*/model.onnx"))
    assert len(exported) == 1 and encoder.encode_queries(["x"]).shape == (1, 384)


def test_unknown_backends_are_refused(encoder: Encoder, tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError, match="unknown encoder backend 'onnx-int4'"):
        Encoder(backend="onnx-int4")
    entry = encoder_entry(encoder)
    assert entry["backend"] == "onnx" and recorded_backend(entry) == "onnx"
    assert recorded_backend({k: v for k, v in entry.items() if k != "backend"}) == "torch"
    with pytest.raises(EncoderLoadError, match="backend 'onnx-int4'"):
        recorded_backend({**entry, "backend": "onnx-int4"})
    with pytest.raises(EncoderMismatchError, match="'onnx-int4' encoder backend"):
        check_compatible({**entry, "backend": "onnx-int4"}, encoder, tmp_path)


def test_faithful_backends_query_each_others_indexes_and_int8_only_its_own(
    encoder: Encoder, torch_encoder: Encoder, int8_encoder: Encoder, tmp_path: Path
) -> None:
    check_compatible(encoder_entry(torch_encoder), encoder, tmp_path)
    check_compatible(encoder_entry(encoder), torch_encoder, tmp_path)
    check_compatible(encoder_entry(int8_encoder), int8_encoder, tmp_path)
    for built, asking in ((int8_encoder, encoder), (encoder, int8_encoder)):
        with pytest.raises(EncoderMismatchError, match="beyond the bound"):
            check_compatible(encoder_entry(built), asking, tmp_path)


def test_the_service_starts_and_answers_without_torch_scikit_learn_or_scipy_stats() -> None:
    script = (
        "import sys\n"
        "import serving.app, pipelines.cli\n"
        "from models.encoder import Encoder\n"
        "assert Encoder().encode_queries(['who knows kafka?']).shape == (1, 384)\n"
        "print(sorted(m for m in ('torch', 'sklearn', 'scipy.stats', 'sentence_transformers')"
        " if m in sys.modules))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, check=True
    )
    assert out.stdout.strip() == "[]", "each costs about a second of start-up"
