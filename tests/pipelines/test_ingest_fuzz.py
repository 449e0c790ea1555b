"""Ingestion fuzzed with Hypothesis: whatever the files hold, ingestion does not crash,
reports every input it skips with a reason, and ingests every good one."""

from __future__ import annotations

import io
import json
from collections.abc import Sequence
from datetime import date
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pypdf import PdfReader, PdfWriter

from models.records import ResourceType
from pipelines import ingest
from pipelines.ingest import IngestResult
from pipelines.ingest.files import FRONT_MATTER_FIELDS
from pipelines.ingest.limits import IngestConfig, Limits
from tests.pipelines.pdf import make_pdf

FUZZ = settings(
    max_examples=50,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
GOOD = "# A good page\n\nEverything here is fine.\n"
DOCUMENT_LISTS = ("authors", "tags", "allowed_groups")
PERSON_LISTS = ("skills", "groups", "can_mentor", "wants_to_learn")
PDF = make_pdf("Quarterly churn fell by two points", title="Churn")

scalars = (
    st.none()
    | st.booleans()
    | st.integers(-(10**6), 10**6)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=12)
    | st.dates()
)
json_scalars = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=12)
)


def nested(leaves: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    """A leaf, a short list of leaves, or small lists and mappings nested around them."""
    return (
        leaves
        | st.lists(leaves, min_size=1, max_size=3)
        | st.recursive(
            leaves,
            lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner),
            max_leaves=6,
        )
    )


values = nested(scalars)
json_values = nested(json_scalars)
words = st.text(st.characters(categories=["L", "N"]), min_size=1, max_size=8)
#: A valid value of each field, so that one wrong field is not hidden by another.
VALID: dict[str, st.SearchStrategy[Any]] = {
    "id": words,
    "title": words,
    "department": words,
    "url": words,
    "type": st.sampled_from([t.value for t in ResourceType]),
    "created": st.dates().map(date.isoformat),
    **{name: st.lists(words, max_size=3) | words for name in (*DOCUMENT_LISTS, *PERSON_LISTS)},
    "name": words,
    "opt_out": st.booleans(),
}


@st.composite
def records(draw: st.DrawFn, names: Sequence[str], wrong: st.SearchStrategy[Any]) -> Any:
    """A record of valid values but for one field, which holds any value at all."""
    record = draw(st.fixed_dictionaries({}, optional={name: VALID[name] for name in names}))
    record[draw(st.sampled_from(names))] = draw(wrong)
    return record


def folder(factory: pytest.TempPathFactory) -> Path:
    """A fresh folder of documents holding one good page (``docs/good.md``)."""
    root = factory.mktemp("fuzz") / "docs"
    root.mkdir()
    (root / "good.md").write_text(GOOD, encoding="utf-8")
    return root


def follows_the_list_rule(value: Any) -> bool:
    """A list field's value as ingestion accepts it: a list of strings, or one string."""
    return (
        value is None
        or isinstance(value, str)
        or (isinstance(value, list) and all(isinstance(v, str) for v in value))
    )


def breaks_a_rule(record: dict[str, Any], lists: Sequence[str]) -> bool:
    """Whether a record has a list field or an id that ingestion must refuse."""
    wrong_id = record.get("id") is not None and not isinstance(record["id"], str)
    return wrong_id or not all(follows_the_list_rule(record.get(f)) for f in lists)


def check_accounted(
    result: IngestResult, files: Sequence[Path], jsonl: Sequence[Path] = ()
) -> None:
    """Every input became a document or is reported as skipped, once, with a reason."""
    for problem in result.report.skipped + result.report.warnings:
        assert problem.kind and problem.message, problem
    skipped = [p for p in result.report.skipped if p.source in {str(f) for f in files}]
    assert len({p.source for p in skipped}) == len(skipped), "a file is skipped once"
    records = 0
    for path in jsonl:
        records += sum(1 for line in path.read_bytes().split(b"\n") if line.strip())
        skipped += [p for p in result.report.skipped if p.source == str(path)]
    assert len(result.documents) == len(files) + records - len(skipped)
    for document in result.documents:
        assert isinstance(document.id, str) and document.id
        for name in DOCUMENT_LISTS:
            assert all(isinstance(v, str) for v in getattr(document, name))


@FUZZ
@given(
    content=st.binary(max_size=2_000),
    suffix=st.sampled_from([".txt", ".md", ".html", ".pdf"]),
)
def test_random_bytes_in_any_format(
    tmp_path_factory: pytest.TempPathFactory, content: bytes, suffix: str
) -> None:
    root = folder(tmp_path_factory)
    (root / f"random{suffix}").write_bytes(content)
    (root / "pdf-like.pdf").write_bytes(b"%PDF-1.4\n" + content)
    result = ingest.run([root])
    assert "docs/good.md" in {d.id for d in result.documents}
    check_accounted(result, [root / "good.md", root / f"random{suffix}", root / "pdf-like.pdf"])


@FUZZ
@given(lines=st.lists(st.binary(max_size=200) | json_values.map(json.dumps).map(str.encode)))
def test_random_jsonl_lines(tmp_path_factory: pytest.TempPathFactory, lines: list[bytes]) -> None:
    path = tmp_path_factory.mktemp("fuzz") / "docs.jsonl"
    good = json.dumps({"id": "\x00good", "title": "Good", "text": "fine"}).encode()
    path.write_bytes(b"\n".join([good, *lines]))
    result = ingest.run([path])
    assert result.documents[0].id == "\x00good"
    check_accounted(result, [], [path])


@FUZZ
@given(cut=st.integers(0, len(PDF) - 1), flips=st.lists(st.integers(0, len(PDF) - 1), max_size=4))
def test_truncated_and_damaged_pdfs(
    tmp_path_factory: pytest.TempPathFactory, cut: int, flips: list[int]
) -> None:
    root = folder(tmp_path_factory)
    (root / "truncated.pdf").write_bytes(PDF[:cut])
    damaged = bytearray(PDF)
    for at in flips:
        damaged[at] ^= 0xFF
    (root / "damaged.pdf").write_bytes(bytes(damaged))
    result = ingest.run([root])
    check_accounted(result, [root / n for n in ("good.md", "truncated.pdf", "damaged.pdf")])
    if not flips:
        assert "docs/damaged.pdf" in {d.id for d in result.documents}


def test_encrypted_pdfs(tmp_path: Path) -> None:
    root = tmp_path / "docs"
    root.mkdir()
    for name, password in (("locked.pdf", "secret"), ("owner-only.pdf", "")):
        writer = PdfWriter(clone_from=PdfReader(io.BytesIO(PDF)))
        writer.encrypt(user_password=password, owner_password="owner", algorithm="RC4-128")
        buffer = io.BytesIO()
        writer.write(buffer)
        (root / name).write_bytes(buffer.getvalue())
    result = ingest.run([root])
    assert [d.id for d in result.documents] == ["docs/owner-only.pdf"]
    (problem,) = result.report.skipped
    assert problem.source.endswith("locked.pdf") and "encrypted" in problem.message


@FUZZ
@given(
    text=st.text(max_size=300),
    at=st.integers(0, 300),
    bad=st.sampled_from([b"\xff", b"\xc3", b"\xed\xa0\x80", b"\xf4\x90\x80\x80", b"\x80"]),
    suffix=st.sampled_from([".txt", ".md", ".html", ".jsonl"]),
)
def test_invalid_utf8_is_skipped_as_such(
    tmp_path_factory: pytest.TempPathFactory, text: str, at: int, bad: bytes, suffix: str
) -> None:
    root = folder(tmp_path_factory)
    if suffix == ".jsonl":
        text = json.dumps({"id": "x", "text": text}, ensure_ascii=False)
        path = root.parent / "bad.jsonl"
    else:
        path = root / f"bad{suffix}"
    at = min(at, len(text))  # between two characters
    path.write_bytes(text[:at].encode() + bad + text[at:].encode())
    result = ingest.run([root, path] if suffix == ".jsonl" else [root])
    assert [d.id for d in result.documents] == ["docs/good.md"]
    (problem,) = result.report.skipped
    assert (problem.source, problem.kind) == (str(path), "invalid UTF-8")


def test_deeply_nested_html_markdown_json_and_yaml(tmp_path: Path) -> None:
    root = tmp_path / "docs"
    root.mkdir()
    depth = 10_000
    (root / "divs.html").write_text("<div>" * depth + "deep text" + "</div>" * depth)
    (root / "unclosed.html").write_text("<title>Open</title>" + "<b><i>" * depth + "bold")
    (root / "nav.html").write_text("<nav>" + "<div>" * depth + "</nav><p>after the menu</p>")
    (root / "quotes.md").write_text("> " * depth + "quoted\n\nplain paragraph\n")
    (root / "lists.md").write_text("".join("  " * i + "- item\n" for i in range(500)))
    (root / "yaml.md").write_text("---\ntags: " + "[" * depth + "]" * depth + "\n---\nbody\n")
    jsonl = tmp_path / "deep.jsonl"
    jsonl.write_text(
        "[" * depth * 10 + "\n" + json.dumps({"id": "flat", "title": "t"}) + "\n"
        '{"id": "nested", "title": "t", "tags": ' + "[" * 400 + "]" * 400 + "}\n"
    )
    result = ingest.run([root, jsonl])
    by_id = {d.id: d for d in result.documents}
    assert by_id["docs/divs.html"].text == "deep text"
    assert by_id["docs/unclosed.html"].text == "bold"
    assert by_id["docs/nav.html"].text == "after the menu"
    assert "plain paragraph" in by_id["docs/quotes.md"].text
    assert "item" in by_id["docs/lists.md"].text and "flat" in by_id
    assert {(Path(p.source).name, p.line, p.kind) for p in result.report.skipped} == {
        ("yaml.md", None, "invalid front matter"),
        ("deep.jsonl", 1, "invalid JSON"),
        ("deep.jsonl", 3, "invalid field"),
    }


@FUZZ
@given(meta=records(sorted(FRONT_MATTER_FIELDS), values))
def test_front_matter_of_any_types(
    tmp_path_factory: pytest.TempPathFactory, meta: dict[str, Any]
) -> None:
    root = folder(tmp_path_factory)
    front = yaml.safe_dump(meta, allow_unicode=True)
    (root / "page.md").write_text(f"---\n{front}---\nSome body text.\n", encoding="utf-8")
    read = yaml.safe_load(front) or {}
    result = ingest.run([root])
    check_accounted(result, [root / "good.md", root / "page.md"])
    page = [d for d in result.documents if d.id != "docs/good.md"]
    if breaks_a_rule(read, DOCUMENT_LISTS):
        assert not page, f"{read} was ingested"
    for document in page:
        assert "Some body text." in document.text
        if isinstance(read.get("tags"), list):
            assert document.tags == tuple(t.strip() for t in read["tags"] if t.strip())


@FUZZ
@given(
    documents=st.lists(records(sorted(FRONT_MATTER_FIELDS), json_values), max_size=4),
    people=st.lists(records(["id", "name", *PERSON_LISTS, "opt_out"], json_values), max_size=4),
)
def test_jsonl_records_of_any_types(
    tmp_path_factory: pytest.TempPathFactory,
    documents: list[dict[str, Any]],
    people: list[dict[str, Any]],
) -> None:
    folder = tmp_path_factory.mktemp("fuzz")
    docs, folks = folder / "docs.jsonl", folder / "people.jsonl"
    good = {"id": "\x00good", "title": "Good"}
    docs.write_text("".join(json.dumps(r) + "\n" for r in [good, *documents]))
    folks.write_text("".join(json.dumps(r) + "\n" for r in people))
    result = ingest.run([docs])
    assert result.documents[0].id == "\x00good"
    check_accounted(result, [], [docs])
    skipped = {p.line for p in result.report.skipped}
    for line, record in enumerate(documents, start=2):
        if breaks_a_rule(record, DOCUMENT_LISTS):
            assert line in skipped, record
    result = ingest.run([docs], [folks])
    skipped = {p.line for p in result.report.skipped if p.source == str(folks)}
    assert len(result.people) == len(people) - len(skipped)
    for line, record in enumerate(people, start=1):
        if breaks_a_rule(record, PERSON_LISTS):
            assert line in skipped, record
    for person in result.people:
        assert isinstance(person.id, str)
        for name in PERSON_LISTS:
            assert all(isinstance(v, str) for v in getattr(person, name))


@FUZZ
@given(
    size=st.integers(150, 250),
    suffix=st.sampled_from([".txt", ".md", ".html", ".jsonl"]),
    oversize=st.sampled_from(["skip", "truncate"]),
)
def test_files_around_the_size_limit(
    tmp_path_factory: pytest.TempPathFactory, size: int, suffix: str, oversize: str
) -> None:
    limits = Limits(IngestConfig(max_document_chars=200, oversize=oversize))
    root = folder(tmp_path_factory)
    text = ("lorem ipsum " * 30)[: size - 1] + "x"
    if suffix == ".jsonl":
        path = root.parent / "docs.jsonl"
        path.write_text(json.dumps({"id": "sized", "title": "t", "text": text}) + "\n")
    else:
        path = root / f"sized{suffix}"
        path.write_text(text)
    (root / "huge.txt").write_bytes(b"0123456789" * 100_000)
    result = ingest.run([root, path], limits=limits)
    kept = {d.id: d for d in result.documents}
    sized = kept.get("sized" if suffix == ".jsonl" else f"docs/sized{suffix}")
    if oversize == "truncate":
        assert sized is not None and len(sized.text) <= 200
        assert len(kept["docs/huge.txt"].text) == 200
        cut = {Path(p.source).name for p in result.report.warnings if p.kind == "truncated"}
        assert cut == ({"huge.txt", path.name} if size > 200 else {"huge.txt"})
        assert not result.report.skipped
    else:
        assert (sized is not None) == (size <= 200)
        too_large = {Path(p.source).name for p in result.report.skipped if p.kind == "too large"}
        assert too_large == ({"huge.txt", path.name} if size > 200 else {"huge.txt"})
        assert all("ingest.max_document_chars" in p.message for p in result.report.skipped)
    assert "docs/good.md" in kept


@FUZZ
@given(
    sources=st.lists(
        st.lists(st.sampled_from(["a", "b", "c", "docs/good.md"]), max_size=5),
        min_size=2,
        max_size=3,
    ),
    pages=st.lists(st.sampled_from(["a", "b", "c", None]), max_size=3),
)
def test_duplicate_ids_across_sources_keep_the_first(
    tmp_path_factory: pytest.TempPathFactory, sources: list[list[str]], pages: list[str | None]
) -> None:
    root = folder(tmp_path_factory)
    paths: list[Path] = [root]
    order: list[tuple[str, str]] = [("docs/good.md", "A good page")]
    for index, page in enumerate(pages):
        front = f"---\nid: {page}\n---\n" if page is not None else ""
        (root / f"page{index}.md").write_text(f"{front}# page{index}\n\ntext\n")
        order.append((page or f"docs/page{index}.md", f"page{index}"))
    for number, ids in enumerate(sources):
        path = root.parent / f"source{number}.jsonl"
        rows = [{"id": i, "title": f"{path.name}:{line}"} for line, i in enumerate(ids, start=1)]
        path.write_text("".join(json.dumps(r) + "\n" for r in rows))
        paths.append(path)
        order += [(r["id"], r["title"]) for r in rows]
    result = ingest.run(paths)
    first: dict[str, str] = {}
    for document_id, title in order:
        first.setdefault(document_id, title)
    assert {d.id: d.title for d in result.documents} == first
    duplicates = [p for p in result.report.skipped if p.kind == "duplicate id"]
    assert len(duplicates) == len(order) - len(first) == len(result.report.skipped)
    assert all("first seen at" in p.message for p in duplicates)
