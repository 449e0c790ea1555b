"""The pipeline stages (ingest, embed, index) make the same index as one build."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from models.config import RecommenderConfig
from models.embeddings import Embeddings
from models.encoder import Encoder
from models.exceptions import ArtifactNotFoundError, ConfigurationError
from models.recommender import Recommender
from pipelines import build, ingest
from pipelines.ingest import processed

QUESTION = "How can I keep my smart speaker from listening all the time?"


def test_three_stages_equal_one_build(small_dataset: Path, tmp_path: Path, cache_dir: Path) -> None:
    documents, people = [small_dataset / "documents.jsonl"], [small_dataset / "people.jsonl"]
    processed.save(ingest.run(documents, people), tmp_path / "processed")
    build.embed(tmp_path / "processed", tmp_path / "embeddings", cache_dir=cache_dir)
    staged = build.index(tmp_path / "embeddings", tmp_path / "index")
    whole = build.run(documents, people, tmp_path / "whole", cache_dir=cache_dir).recommender
    assert staged.manifest.counts == whole.manifest.counts
    assert staged.manifest.data_hash == whole.manifest.data_hash
    a, b = staged.recommend(QUESTION), whole.recommend(QUESTION)
    assert [h.document.id for h in a.resources] == [h.document.id for h in b.resources]
    assert [h.person.id for h in a.people] == [h.person.id for h in b.people]
    assert (tmp_path / "index" / "ingest-report.json").is_file()
    loaded = Recommender.load(tmp_path / "index", encoder=staged.encoder)
    assert loaded.recommend(QUESTION).resources[0].document.id == a.resources[0].document.id


def test_embeddings_made_with_other_passages_are_refused(
    small_dataset: Path, tmp_path: Path, cache_dir: Path, encoder: Encoder
) -> None:
    processed.save(ingest.run([small_dataset / "documents.jsonl"]), tmp_path / "processed")
    build.embed(tmp_path / "processed", tmp_path / "embeddings", cache_dir=cache_dir)
    embeddings = Embeddings.load(tmp_path / "embeddings")
    wider = dataclasses.replace(RecommenderConfig(), passage_tokens=120)
    with pytest.raises(ConfigurationError, match="embed again"):
        Recommender.from_embeddings(embeddings, encoder=encoder, config=wider)


def test_stage_inputs_that_are_missing_are_named(tmp_path: Path) -> None:
    with pytest.raises(ArtifactNotFoundError, match="whoknows ingest"):
        build.embed(tmp_path / "nothing", tmp_path / "embeddings")
    with pytest.raises(ArtifactNotFoundError, match="whoknows embed"):
        build.index(tmp_path / "nothing", tmp_path / "index")
