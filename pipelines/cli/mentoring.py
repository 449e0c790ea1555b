"""The ``evaluate-mentoring`` command: mentor matching against who actually answered."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from models.embedding_cache import default_cache_dir
from pipelines.cli.common import (
    CacheOption,
    EncoderOption,
    ParamsOption,
    console,
    encoder_of,
    errors,
    out,
    progress,
)


def evaluate_mentoring(
    dataset_dir: Annotated[
        Path,
        typer.Argument(help="A Stack Exchange dataset folder (documents, people, queries, qrels)."),
    ],
    raw_dir: Annotated[
        Path,
        typer.Option(
            "--raw", help="Folder of the sites' data dumps (<site>/Posts.xml, Users.xml)."
        ),
    ],
    index: Annotated[
        Path | None,
        typer.Option(
            "--index",
            help="An index of the dataset's documents; without it one is built in memory.",
            show_default=False,
        ),
    ] = None,
    out_file: Annotated[
        Path | None, typer.Option("--out", help="Write the numbers as JSON here.")
    ] = None,
    markdown: Annotated[
        Path | None, typer.Option("--markdown", help="Write the comparison (Markdown) here.")
    ] = None,
    min_questions: Annotated[
        int, typer.Option(min=1, help="Later questions a person must have asked to be a learner.")
    ] = 2,
    params: ParamsOption = None,
    encoder: EncoderOption = None,
    cache_dir: CacheOption = default_cache_dir(),
) -> None:
    """Match learners with mentors from the knowledge base; score against who answered later."""
    from models.recommender import Recommender
    from pipelines import mentoring
    from pipelines.build import build_dataset
    from pipelines.exceptions import DatasetError
    from pipelines.params import load_params

    with errors():
        if not raw_dir.is_dir():  # before minutes of building
            raise DatasetError(f"{raw_dir} is not a folder of <site>/Posts.xml and Users.xml")
        settings = load_params(params)
        model = encoder_of(encoder, settings)
        with progress() as bars:
            if index is not None:
                recommender = Recommender.load(index, model_path=model)
            else:
                recommender = build_dataset(
                    dataset_dir,
                    config=settings.config,
                    model_path=model,
                    cache_dir=cache_dir,
                    progress=bars,
                )
            evaluation = mentoring.run(
                dataset_dir, raw_dir, recommender, min_questions=min_questions, progress=bars
            )
        table = mentoring.markdown_table(evaluation)
        if markdown is not None:
            markdown.write_text(table, encoding="utf-8")
        if out_file is not None:
            out_file.write_text(json.dumps(evaluation.to_dict(), indent=2) + "\n", encoding="utf-8")
    out.print(table, markup=False, highlight=False)
    if evaluation.milliseconds:
        ms = sorted(evaluation.milliseconds)
        console.print(
            f"matches: median {ms[len(ms) // 2]:.1f} ms, slowest {ms[-1]:.1f} ms per learner "
            "(after the first call, which computes the caches)",
            highlight=False,
        )
