"""Fine-tune the encoder on an organisation's documents (and judged pairs), log it to MLflow."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict
from pathlib import Path

from models.arrays import Progress
from models.finetune import FineTuneConfig, FineTuneResult, Pair, fine_tune, mine_pairs
from models.records import Document
from pipelines import tracking
from pipelines.evaluate import load_dataset
from pipelines.exceptions import PipelineError


def judged_pairs(
    dataset_dirs: Sequence[Path], documents: Sequence[Document], *, max_positive_chars: int = 1200
) -> list[Pair]:
    """(query, relevant document) pairs from judgments in the dataset format (e.g. feedback).

    Only the judged resources of queries count; a document must be among ``documents``.
    A folder needs only queries.jsonl and qrels_resources.tsv.
    """
    by_id = {d.id: d for d in documents}
    pairs = []
    for directory in dataset_dirs:
        dataset = load_dataset(directory, tasks=("resources",))
        for query_id, items in dataset.qrels["resources"].items():
            text = dataset.queries.get(query_id)
            for doc_id, grade in items.items():
                document = by_id.get(doc_id)
                if text and grade > 0 and document is not None:
                    positive = f"{document.title}\n\n{document.text}"[:max_positive_chars]
                    pairs.append(Pair(text, positive))
    return pairs


def run(
    documents: Sequence[Document],
    out: Path,
    *,
    base: Path | None = None,
    config: FineTuneConfig | None = None,
    judgments: Sequence[Path] = (),
    track: bool = True,
    progress: Progress | None = None,
) -> FineTuneResult:
    """Mine pairs, fine-tune ``base`` (None: the bundled encoder), write the model folder.

    Raises:
        PipelineError: the documents give fewer than two pairs.
    """
    config = config or FineTuneConfig()
    pairs = mine_pairs(documents, max_positive_chars=config.max_positive_chars)
    pairs += judged_pairs(judgments, documents, max_positive_chars=config.max_positive_chars)
    if len(pairs) < 2:
        raise PipelineError(
            f"only {len(pairs)} training pairs: fine-tuning needs documents with both a "
            "title and a text (or judged queries)"
        )
    result = fine_tune(base, pairs, out, config, progress=progress)
    if track:
        with tracking.run(f"train {Path(out).name}", tags={"whoknows.model": str(out)}) as mlflow:
            mlflow.log_params(
                tracking.flatten(
                    {"base": str(base or "default"), "documents": len(documents), **asdict(config)}
                )
            )
            mlflow.log_metrics(
                {
                    "pairs": float(result.pairs),
                    "steps": float(result.steps),
                    "train_loss": result.loss,
                    "train_seconds": result.seconds,
                }
            )
    return result
