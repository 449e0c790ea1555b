from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from models.artifact import FORMAT_VERSION, Manifest, atomic_directory, check_replaceable
from models.exceptions import ArtifactError, ArtifactFormatError, ArtifactNotFoundError


def manifest() -> Manifest:
    return Manifest(
        encoder={"name": "m", "fingerprint": "sha256:ab", "dimension": 3, "max_seq_length": 8},
        counts={"documents": 1, "people": 0, "passages": 1},
        data_hash="sha256:0123456789abcdef",
        created_at="2026-11-23T10:00:00Z",
        index_kind="flat",
    )


def test_directory_is_replaced_only_when_the_block_succeeds(tmp_path: Path) -> None:
    target = tmp_path / "index"
    with atomic_directory(target) as tmp:
        manifest().write(tmp)
        (tmp / "a.txt").write_text("first")
    with pytest.raises(RuntimeError), atomic_directory(target) as tmp:
        (tmp / "a.txt").write_text("second")
        raise RuntimeError("crash mid-write")
    assert (target / "a.txt").read_text() == "first"
    assert [p.name for p in tmp_path.iterdir()] == ["index"], "no temporary directory is left"
    with atomic_directory(target) as tmp:
        manifest().write(tmp)
        (tmp / "b.txt").write_text("third")
    assert sorted(p.name for p in target.iterdir()) == ["b.txt", "manifest.json"]


def test_manifest_round_trip_and_version_label(tmp_path: Path) -> None:
    manifest().write(tmp_path)
    loaded = Manifest.read(tmp_path)
    assert loaded == manifest()
    assert loaded.index_version == "20261123T100000-01234567"
    assert json.loads((tmp_path / "manifest.json").read_text())["format_version"] == FORMAT_VERSION


def test_missing_index_says_how_to_make_one(tmp_path: Path) -> None:
    with pytest.raises(ArtifactNotFoundError, match="whoknows build"):
        Manifest.read(tmp_path / "absent")


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("{not json", "not valid JSON"),
        ('{"format": "other"}', "not a whoknows index"),
        ('{"format": "whoknows-index", "format_version": 99}', "version 99"),
        ('{"format": "whoknows-index", "format_version": 2}', "lacks a required field"),
        ('{"format": "whoknows-index", "format_version": 1}', "rebuild the index"),
    ],
)
def test_damaged_manifests_are_explained(tmp_path: Path, content: str, message: str) -> None:
    (tmp_path / "manifest.json").write_text(content)
    with pytest.raises(ArtifactFormatError, match=message):
        Manifest.read(tmp_path)


def test_a_folder_that_is_not_an_index_is_never_replaced(tmp_path: Path) -> None:
    precious = tmp_path / "notes"
    precious.mkdir()
    (precious / "thesis.txt").write_text("years of work")
    with (
        pytest.raises(ArtifactError, match="whoknows did not write; refusing"),
        atomic_directory(precious),
    ):
        pass
    assert (precious / "thesis.txt").read_text() == "years of work"
    with pytest.raises(ArtifactError, match="is a file"):
        check_replaceable(precious / "thesis.txt")


def test_a_failed_swap_puts_the_old_index_back(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    target = tmp_path / "index"
    with atomic_directory(target) as tmp:
        manifest().write(tmp)
    real_replace = os.replace
    calls: list[str] = []

    def flaky(src: str | os.PathLike[str], dst: str | os.PathLike[str]) -> None:
        calls.append(str(src))
        if len(calls) == 2:  # the new directory moving into place
            raise KeyboardInterrupt
        real_replace(src, dst)

    monkeypatch.setattr(os, "replace", flaky)
    with pytest.raises(KeyboardInterrupt), atomic_directory(target) as tmp:
        (tmp / "manifest.json").write_text("new")
    monkeypatch.setattr(os, "replace", real_replace)
    assert Manifest.read(target) == manifest()
    assert [p.name for p in tmp_path.iterdir()] == ["index"]
