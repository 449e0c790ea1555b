"""Fine-tuning the encoder on an organisation's own documents, on CPU.

Pairs are mined from the data itself: a document's title (a question, a
report's subject) and its text (the thread that answers it, the report's
body), and, for a Q&A thread, the question (title and body) and its accepted
answer; judged or clicked (query, document) pairs from feedback can be added.
The sentence-transformer learns with in-batch negatives
(MultipleNegativesRankingLoss): each anchor must be closer to its own positive
than to the other positives of its batch, and no batch holds the same text
twice (it would be its own false negative). Near duplicates are not caught: a
thread's two pairs (its title and whole text, its question and accepted
answer) can share a batch. The result is an ordinary local
model folder that ``whoknows build --encoder`` accepts.
"""

from __future__ import annotations

import json
import random
import shutil
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from models.arrays import Progress
from models.artifact import atomic_directory
from models.encoder import Encoder
from models.exceptions import ConfigurationError
from models.onnx_backend import TORCH
from models.records import Document

MANIFEST = "whoknows-finetune.json"
FORMAT = "whoknows-model"


@dataclass(frozen=True, slots=True)
class FineTuneConfig:
    """Fine-tuning parameters (params.yaml, section ``train``).

    Attributes:
        epochs: passes over the pairs.
        batch_size: pairs per step; every other positive of a batch is a negative.
        learning_rate: AdamW learning rate.
        warmup_ratio: share of the steps with a rising learning rate.
        max_pairs: most pairs to train on (a seeded sample beyond that).
        max_positive_chars: how much of a document's text a positive keeps.
        seed: seeds the sample, the shuffling and the initialisation.
    """

    epochs: int = 1
    batch_size: int = 32
    learning_rate: float = 2e-5
    warmup_ratio: float = 0.1
    max_pairs: int = 20_000
    max_positive_chars: int = 1200
    seed: int = 0

    def __post_init__(self) -> None:
        if self.epochs < 1 or self.batch_size < 2 or self.max_pairs < 2:
            raise ConfigurationError(
                "fine-tuning needs epochs >= 1, batch_size >= 2 (in-batch negatives) "
                "and max_pairs >= 2"
            )
        if not 0 < self.learning_rate < 1 or not 0 <= self.warmup_ratio < 1:
            raise ConfigurationError("learning_rate must be in (0, 1), warmup_ratio in [0, 1)")


@dataclass(frozen=True, slots=True)
class Pair:
    """What a query looks like (anchor), and the text it should find (positive)."""

    anchor: str
    positive: str


@dataclass(frozen=True, slots=True)
class FineTuneResult:
    """A fine-tuned model folder and how it was made."""

    path: Path
    pairs: int
    steps: int
    loss: float
    seconds: float


#: How a thread's text marks its accepted answer and the other answers
#: (the normalised Stack Exchange format of ../shared/data and data/sample).
ACCEPTED_MARK = "\n\nAccepted answer:\n"
ANSWER_MARK = "\n\nAnswer:\n"


def mine_pairs(documents: Sequence[Document], *, max_positive_chars: int = 1200) -> list[Pair]:
    """Pairs of what someone asks and the text that answers it.

    Every document gives (title, text); a thread with an accepted answer also
    gives (question title and body, accepted answer), the shape of a real query.
    """
    pairs = []
    for document in documents:
        title, text = document.title.strip(), document.text.strip()
        if title and text and title != text:
            pairs.append(Pair(title, text[:max_positive_chars]))
        question, mark, rest = document.text.partition(ACCEPTED_MARK)
        answer = rest.split(ANSWER_MARK, 1)[0].strip()
        if mark and title and answer:
            anchor = f"{title}\n\n{question.strip()}"[:max_positive_chars]
            pairs.append(Pair(anchor, answer[:max_positive_chars]))
    return pairs


def fine_tune(
    base: Path | None,
    pairs: Sequence[Pair],
    out: Path,
    config: FineTuneConfig | None = None,
    *,
    progress: Progress | None = None,
) -> FineTuneResult:
    """Fine-tune a model folder (None: the bundled default) on pairs; save the result.

    The base model is loaded afresh and left untouched on disk. The new folder
    is written all at once: an interrupted run leaves no half model.

    A batch larger than the pairs shrinks to their number.

    Raises:
        ConfigurationError: fewer than two pairs.
    """
    config = config or FineTuneConfig()
    if len(pairs) < 2:
        raise ConfigurationError(
            f"fine-tuning needs at least 2 pairs, the data gave {len(pairs)}: "
            "documents need both a title and a text"
        )
    import torch
    from datasets import Dataset
    from sentence_transformers import (
        SentenceTransformerTrainer,
        SentenceTransformerTrainingArguments,
    )
    from sentence_transformers.base.sampler import BatchSamplers
    from sentence_transformers.sentence_transformer.losses import MultipleNegativesRankingLoss
    from transformers import TrainerCallback

    chosen = list(pairs)
    if len(chosen) > config.max_pairs:
        chosen = random.Random(config.seed).sample(chosen, config.max_pairs)
    batch = min(config.batch_size, len(chosen))
    torch.manual_seed(config.seed)
    encoder = Encoder(base, backend=TORCH)  # training needs the torch model itself
    model = encoder.model
    data = Dataset.from_dict(
        {"anchor": [p.anchor for p in chosen], "positive": [p.positive for p in chosen]}
    )
    started = time.perf_counter()

    class _Progress(TrainerCallback):
        def on_step_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
            if progress is not None:
                progress("fine-tune", int(state.global_step), int(state.max_steps))

    with atomic_directory(out) as tmp:
        arguments = SentenceTransformerTrainingArguments(
            output_dir=str(tmp / "trainer"),
            num_train_epochs=config.epochs,
            per_device_train_batch_size=batch,
            learning_rate=config.learning_rate,
            warmup_steps=config.warmup_ratio,
            save_strategy="no",
            report_to="none",
            seed=config.seed,
            use_cpu=True,
            disable_tqdm=progress is not None,
            logging_strategy="no",
            dataloader_drop_last=True,
            batch_sampler=BatchSamplers.NO_DUPLICATES,
        )
        trainer = SentenceTransformerTrainer(
            model=model,
            args=arguments,
            train_dataset=data,
            loss=MultipleNegativesRankingLoss(model),
            callbacks=[_Progress()],
        )
        output = trainer.train()
        if int(output.global_step) == 0:
            raise ConfigurationError(
                f"no training step was possible: {len(chosen)} pairs make no full batch of "
                f"{batch} distinct texts; add documents or lower batch_size"
            )
        shutil.rmtree(tmp / "trainer", ignore_errors=True)
        model.save(str(tmp), create_model_card=False)
        manifest = {
            "format": FORMAT,
            "base": {"name": encoder.info.name, "fingerprint": encoder.info.fingerprint},
            "pairs": len(chosen),
            "steps": int(output.global_step),
            "loss": float(output.training_loss),
            "config": asdict(config),
        }
        (tmp / MANIFEST).write_text(json.dumps(manifest, indent=2) + "\n")
    return FineTuneResult(
        out,
        len(chosen),
        int(output.global_step),
        float(output.training_loss),
        time.perf_counter() - started,
    )
