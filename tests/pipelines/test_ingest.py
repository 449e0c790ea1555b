from __future__ import annotations

import json
import logging
import re
import tracemalloc
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from models.exceptions import ArtifactFormatError, ConfigurationError
from models.records import ResourceType
from pipelines import ingest
from pipelines.cli import app
from pipelines.exceptions import IngestError
from pipelines.ingest import processed
from pipelines.ingest.limits import IngestConfig, Limits
from pipelines.params import load_params
from tests.pipelines.pdf import make_pdf

runner = CliRunner()

PEOPLE = [
    {
        "id": "p1",
        "name": "Ada Lovelace",
        "department": "Data",
        "bio": "pipelines",
        "skills": ["kafka", "spark"],
    },
    {"id": "p2", "name": "Bob Builder", "department": "Facilities"},
]


def write_jsonl(path: Path, rows: list[object]) -> Path:
    path.write_text("".join((r if isinstance(r, str) else json.dumps(r)) + "\n" for r in rows))
    return path


@pytest.fixture
def people_file(tmp_path: Path) -> Path:
    return write_jsonl(tmp_path / "people.jsonl", PEOPLE)


def test_good_jsonl_records_are_read_in_full(tmp_path: Path, people_file: Path) -> None:
    docs = write_jsonl(
        tmp_path / "docs.jsonl",
        [
            {
                "id": "d1",
                "title": "Kafka",
                "text": "lag",
                "authors": ["p1"],
                "tags": ["kafka"],
                "contributions": [
                    {"person": "p2", "role": "asked", "score": 3, "created": "2021-04-27T15:53:15"}
                ],
                "created": "2021-04-27",
                "department": "Data",
                "source": "https://x/q/1",
                "type": "Best Practice",
                "allowed_groups": ["eng"],
            }
        ],
    )
    result = ingest.run([docs], [people_file])
    (document,) = result.documents
    assert document.authors == ("p1", "p2")
    assert document.type is ResourceType.BEST_PRACTICE
    assert document.url == "https://x/q/1" and document.allowed_groups == ("eng",)
    assert document.created == "2021-04-27"
    assert result.report.summary() == "1 documents and 2 people ingested, none skipped"


def test_bad_records_are_reported_with_line_and_field_and_skipped(
    tmp_path: Path, people_file: Path
) -> None:
    path = tmp_path / "docs.jsonl"
    lines = [
        json.dumps({"id": "ok", "title": "fine", "text": "x", "authors": ["p1"]}),
        json.dumps({"title": "no id", "text": "x"}),
        json.dumps({"id": "ok", "title": "dup", "text": "y"}),
        "{broken json",
        json.dumps({"id": "u", "title": "t", "text": "x", "authors": ["p9"]}),
        json.dumps({"id": "t", "title": "t", "text": "x", "type": "memo"}),
        json.dumps({"id": "c", "title": "t", "text": "x", "created": "last tuesday"}),
        json.dumps({"id": "e", "title": "", "text": "  "}),
        "[1, 2]",
    ]
    path.write_bytes(("\n".join(lines) + "\n").encode() + b'{"id": "bad", "title": "caf\xe9"}\n')
    result = ingest.run([path], [people_file])
    assert [d.id for d in result.documents] == ["ok"]
    where = {(p.line, p.kind, p.field) for p in result.report.skipped}
    assert where == {
        (2, "missing id", "id"),
        (3, "duplicate id", "id"),
        (4, "invalid JSON", None),
        (5, "unknown author", "authors[0]"),
        (6, "invalid type", "type"),
        (7, "invalid date", "created"),
        (8, "empty", "text"),
        (9, "invalid JSON", None),
        (10, "invalid UTF-8", None),
    }
    unknown = next(p for p in result.report.skipped if p.kind == "unknown author")
    assert str(unknown).startswith(f"{path}:5 [authors[0]]: unknown person 'p9'")
    assert result.report.summary().startswith(
        "1 documents and 2 people ingested, 9 skipped: 2 invalid JSON"
    )


def test_strict_turns_any_skip_into_an_error(tmp_path: Path, people_file: Path) -> None:
    docs = write_jsonl(tmp_path / "docs.jsonl", [{"id": "a", "title": "t"}, {"title": "no id"}])
    result = ingest.run([docs], [people_file])
    with pytest.raises(
        IngestError, match=r"strict mode: .*1 skipped: 1 missing id\n.*docs.jsonl:2"
    ):
        result.raise_if_skipped()


def test_people_from_csv_with_bad_rows(tmp_path: Path) -> None:
    path = tmp_path / "people.csv"
    path.write_bytes(
        b"id,name,title,department,bio,skills,location\n"
        b'p1,Ada,Engineer,Data,"Builds pipelines,\nand more",kafka;spark,Berlin\n'
        b",Nobody,,,,,\n"
        b"p1,Ada again,,,,,\n"
        b"p3,Caf\xe9,,,,,\n"
        b"p4,Too,many,fields,a,b,c,d\n"
        b"p5,Eve,,Security,,,\n"
    )
    docs = write_jsonl(tmp_path / "d.jsonl", [{"id": "d", "title": "t", "authors": ["Eve"]}])
    result = ingest.run([docs], [path])
    assert [p.id for p in result.people] == ["p1", "p5"]
    assert result.people[0].skills == ("kafka", "spark") and "\n" in result.people[0].bio
    assert {(p.line, p.kind) for p in result.report.skipped} == {
        (4, "missing id"),
        (5, "duplicate id"),
        (6, "invalid UTF-8"),
        (7, "invalid CSV"),
    }
    assert result.documents[0].authors == ("p5",), "an author may be named by a unique full name"


def test_csv_without_an_id_column_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "people.csv"
    path.write_text("name,title\nAda,Engineer\n")
    docs = write_jsonl(tmp_path / "d.jsonl", [{"id": "d", "title": "t"}])
    result = ingest.run([docs], [path])
    assert "no 'id' column" in str(result.report.skipped[0])


def test_a_folder_of_markdown_text_html_and_pdf(tmp_path: Path, people_file: Path) -> None:
    root = tmp_path / "wiki"
    (root / "guides").mkdir(parents=True)
    (root / "guides" / "kafka.md").write_text(
        "---\ntitle: Kafka guide\nauthors: [p1]\ntype: wiki\ntags: kafka, ops\n"
        "created: 2024-03-01\nallowed_groups: [eng]\nowner: ada\n---\n"
        "# Ignored heading\n\nUse **consumer groups**.\n"
    )
    (root / "notes.txt").write_text("Plain notes about roofs.\n")
    (root / "page.html").write_text(
        "<html><head><title>Heating</title><script>var x=1;</script></head>"
        "<body><nav>menu</nav><h1>Boilers</h1><p>Bleed the radiators.</p></body></html>"
    )
    (root / "report.pdf").write_bytes(
        make_pdf("Quarterly churn fell by two points", title="Churn Q3")
    )
    (root / "report.pdf.yaml").write_text("type: report\nauthors: [p2]\ndepartment: Finance\n")
    (root / "broken.pdf").write_bytes(b"%PDF-1.4 this is not a pdf")
    (root / "latin1.md").write_bytes(b"caf\xe9\n")
    (root / "bad-yaml.md").write_text("---\ntitle: [unclosed\n---\nbody\n")
    (root / "unknown-author.md").write_text("---\nauthors: [zed]\n---\nbody\n")
    (root / "image.png").write_bytes(b"\x89PNG")
    (root / ".hidden.md").write_text("secret")
    result = ingest.run([root], [people_file])
    by_id = {d.id: d for d in result.documents}
    assert set(by_id) == {
        "wiki/guides/kafka.md",
        "wiki/notes.txt",
        "wiki/page.html",
        "wiki/report.pdf",
    }
    kafka = by_id["wiki/guides/kafka.md"]
    assert (kafka.title, kafka.type, kafka.authors, kafka.tags) == (
        "Kafka guide",
        ResourceType.WIKI,
        ("p1",),
        ("kafka", "ops"),
    )
    assert "consumer groups" in kafka.text and "**" not in kafka.text
    assert kafka.allowed_groups == ("eng",) and kafka.created == "2024-03-01"
    assert by_id["wiki/notes.txt"].title == "Notes"
    html = by_id["wiki/page.html"]
    assert html.title == "Heating" and "Bleed the radiators." in html.text
    assert "var x" not in html.text and "menu" not in html.text
    pdf = by_id["wiki/report.pdf"]
    assert (pdf.title, pdf.type, pdf.authors, pdf.department) == (
        "Churn Q3",
        ResourceType.REPORT,
        ("p2",),
        "Finance",
    )
    assert "churn fell" in pdf.text
    kinds = {Path(p.source).name: p.kind for p in result.report.skipped}
    assert kinds == {
        "broken.pdf": "broken PDF",
        "latin1.md": "invalid UTF-8",
        "bad-yaml.md": "invalid front matter",
        "unknown-author.md": "unknown author",
    }
    assert "line 2" in next(
        str(p) for p in result.report.skipped if p.kind == "invalid front matter"
    )
    assert [w.field for w in result.report.warnings] == ["owner"]
    assert result.report.ignored_files == {".png": 1}


def test_missing_paths_and_unsupported_formats_fail_at_once(
    tmp_path: Path, people_file: Path
) -> None:
    with pytest.raises(IngestError, match="does not exist"):
        ingest.run([tmp_path / "absent.jsonl"], [people_file])
    (tmp_path / "doc.docx").write_bytes(b"PK")
    with pytest.raises(IngestError, match="unsupported file type '.docx'"):
        ingest.run([tmp_path / "doc.docx"], [people_file])
    with pytest.raises(IngestError, match="people file"):
        ingest.run([tmp_path / "doc.docx"], [tmp_path / "people.xlsx"])


def test_nothing_usable_is_an_error(tmp_path: Path, people_file: Path) -> None:
    docs = write_jsonl(tmp_path / "docs.jsonl", [{"title": "no id"}])
    with pytest.raises(IngestError, match="no documents could be ingested"):
        ingest.run([docs], [people_file])


def test_without_people_authors_are_not_checked(tmp_path: Path) -> None:
    docs = write_jsonl(tmp_path / "docs.jsonl", [{"id": "a", "title": "t", "authors": ["anyone"]}])
    result = ingest.run([docs])
    assert result.documents[0].authors == ("anyone",)
    assert result.report.warnings[0].kind == "no people"


def test_the_bundled_sample_ingests_cleanly() -> None:
    root = Path(__file__).resolve().parents[2] / "data" / "sample"
    result = ingest.run([root / "documents.jsonl"], [root / "people.jsonl"])
    assert not result.report.skipped
    assert len(result.documents) >= 300
    assert len({d.department for d in result.documents}) == 4


def test_unpaired_surrogate_escapes_skip_only_their_record(
    tmp_path: Path, people_file: Path
) -> None:
    path = tmp_path / "docs.jsonl"
    path.write_text(
        '{"id": "ok", "title": "fine"}\n{"id": "bad", "title": "x", "tags": ["\\ud800"]}\n'
    )
    result = ingest.run([path], [people_file])
    assert [d.id for d in result.documents] == ["ok"]
    (problem,) = result.report.skipped
    assert (problem.line, problem.kind, problem.field) == (2, "invalid UTF-8", "tags[0]")


def test_pdf_sidecar_may_start_with_a_yaml_document_marker(
    tmp_path: Path, people_file: Path
) -> None:
    root = tmp_path / "reports"
    root.mkdir()
    (root / "annual.pdf").write_bytes(make_pdf("Revenue grew"))
    (root / "annual.pdf.yaml").write_text("---\ntitle: Annual report\ntype: report\n")
    (document,) = ingest.run([root], [people_file]).documents
    assert (document.title, document.type) == ("Annual report", ResourceType.REPORT)


def test_folder_ids_do_not_depend_on_how_the_folder_was_named(
    tmp_path: Path, people_file: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = tmp_path / "wiki"
    root.mkdir()
    (root / "a.md").write_text("# A\n\ntext\n")
    monkeypatch.chdir(root)
    relative = ingest.run([Path(".")], [people_file]).documents[0].id
    absolute = ingest.run([root], [people_file]).documents[0].id
    assert relative == absolute == "wiki/a.md"


def test_a_person_repeated_across_files_names_the_first_file(tmp_path: Path) -> None:
    first = write_jsonl(tmp_path / "a.jsonl", [{"id": "p1", "name": "Ada"}])
    second = tmp_path / "b.csv"
    second.write_text("id,name\np1,Ada again\n")
    docs = write_jsonl(tmp_path / "d.jsonl", [{"id": "d", "title": "t"}])
    (problem,) = ingest.run([docs], [first, second]).report.skipped
    assert str(problem) == f"{second}:2 [id]: duplicate person id 'p1', first seen at {first}:1"


def test_a_blank_group_is_refused_rather_than_made_public(tmp_path: Path) -> None:
    path = write_jsonl(
        tmp_path / "docs.jsonl",
        [
            {"id": "open", "title": "t", "text": "x", "allowed_groups": []},
            {"id": "shut", "title": "t", "text": "x", "allowed_groups": ["finance", " "]},
            {"id": "blank", "title": "t", "text": "x", "allowed_groups": "  "},
            {"id": "kept", "title": "t", "text": "x", "allowed_groups": "finance; hr"},
        ],
    )
    result = ingest.run([path], [])
    assert {d.id: d.allowed_groups for d in result.documents} == {
        "open": (),
        "kept": ("finance", "hr"),
    }
    assert {(p.line, p.field) for p in result.report.skipped} == {
        (2, "allowed_groups"),
        (3, "allowed_groups"),
    }


def test_opt_out_is_read_from_json_and_csv(tmp_path: Path) -> None:
    people = write_jsonl(
        tmp_path / "people.jsonl",
        [{"id": "a", "name": "A", "opt_out": True}, {"id": "b", "name": "B"}],
    )
    csv = tmp_path / "more.csv"
    csv.write_text("id,name,opt_out\nc,C,yes\nd,D,no\ne,E,maybe\n")
    docs = write_jsonl(tmp_path / "docs.jsonl", [{"id": "d1", "title": "t", "text": "x"}])
    result = ingest.run([docs], [people, csv])
    assert {p.id: p.opt_out for p in result.people} == {
        "a": True,
        "b": False,
        "c": True,
        "d": False,
    }
    assert [(p.line, p.field) for p in result.report.skipped] == [(4, "opt_out")]


def test_chat_ids_and_groups_are_read_from_json_and_csv(tmp_path: Path) -> None:
    people = write_jsonl(
        tmp_path / "people.jsonl",
        [{"id": "a", "name": "A", "slack_id": " U1 ", "teams_id": "aad-a", "groups": ["eng", " "]}],
    )
    csv = tmp_path / "more.csv"
    csv.write_text("id,name,slack_id,groups\nb,B,U2,eng; ops\nc,C,,\n")
    docs = write_jsonl(tmp_path / "docs.jsonl", [{"id": "d1", "title": "t", "text": "x"}])
    result = ingest.run([docs], [people, csv])
    found = {p.id: (p.slack_id, p.teams_id, p.groups) for p in result.people}
    assert found == {
        "a": ("U1", "aad-a", ("eng",)),
        "b": ("U2", None, ("eng", "ops")),
        "c": (None, None, ()),
    }
    assert not result.report.skipped


# Size limits (params.yaml ingest:), one rule for list fields and ids, empty files,
# pypdf's warnings, deeply nested input.


def small(chars: int = 1_000, passages: int = 2_000, oversize: str = "skip") -> Limits:
    return Limits(IngestConfig(chars, passages, oversize))


def test_a_file_over_the_character_limit_is_skipped_without_being_read_whole(
    tmp_path: Path,
) -> None:
    root = tmp_path / "wiki"
    root.mkdir()
    (root / "huge.txt").write_bytes(b"word " * 4_000_000)  # 20 MB
    (root / "fine.txt").write_text("a short note")
    tracemalloc.start()
    try:
        result = ingest.run([root], limits=small(1_000))
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert [d.id for d in result.documents] == ["wiki/fine.txt"]
    (problem,) = result.report.skipped
    assert (Path(problem.source).name, problem.kind, problem.field) == (
        "huge.txt",
        "too large",
        "text",
    )
    assert "ingest.max_document_chars (1,000)" in problem.message
    assert "oversize: truncate" in problem.message
    assert peak < 2_000_000, f"{peak:,} bytes allocated: the whole file was read"


def test_truncate_keeps_the_beginning_of_an_oversize_file_and_warns(tmp_path: Path) -> None:
    path = tmp_path / "long.md"
    path.write_text("# Long\n\n" + "caf\u00e9 " * 2_000)
    result = ingest.run([path], limits=small(1_000, oversize="truncate"))
    (document,) = result.documents
    assert document.title == "Long" and document.text.startswith("Long\n\ncaf\u00e9")
    assert len(document.text) <= 1_000
    (warning,) = [w for w in result.report.warnings if w.kind == "truncated"]
    assert warning.source == str(path) and "first 1,000 characters" in warning.message
    assert not result.report.skipped


def test_the_limit_counts_characters_not_bytes(tmp_path: Path) -> None:
    path = tmp_path / "accents.txt"
    path.write_text("\u00e9t\u00e9 " * 250, encoding="utf-8")  # 1,750 bytes, 1,000 characters
    (document,) = ingest.run([path], limits=small(1_000)).documents
    assert document.text == ("\u00e9t\u00e9 " * 250).strip()


def test_a_jsonl_record_over_the_limit_is_skipped_and_a_huge_line_is_not_read(
    tmp_path: Path,
) -> None:
    path = write_jsonl(
        tmp_path / "docs.jsonl",
        [
            {"id": "big", "title": "t", "text": "x" * 1_001},
            {"id": "huge", "title": "t", "text": "y " * 1_000_000},
            {"id": "ok", "title": "t", "text": "x" * 1_000},
        ],
    )
    tracemalloc.start()
    try:
        result = ingest.run([path], limits=small(1_000))
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert [d.id for d in result.documents] == ["ok"]
    first, second = result.report.skipped
    assert (first.line, first.kind, first.field) == (1, "too large", "text")
    assert "document 'big': the text has 1,001 characters" in first.message
    assert (second.line, second.kind) == (2, "too large")
    assert "not read" in second.message and "ingest.max_document_chars" in second.message
    assert peak < 1_000_000, f"{peak:,} bytes allocated: the 2 MB line was read"
    truncated = ingest.run([path], limits=small(1_000, oversize="truncate"))
    assert {d.id: len(d.text) for d in truncated.documents} == {"big": 1_000, "ok": 1_000}
    assert [p.line for p in truncated.report.skipped] == [2], "a huge line is never parsed"


def test_a_document_over_the_passage_limit_is_skipped_or_cut_to_its_first_passages(
    tmp_path: Path,
) -> None:
    # 3 passages of 200 tokens overlapping by 40 hold 520 tokens: 520 plain words here.
    path = write_jsonl(
        tmp_path / "docs.jsonl",
        [
            {"id": "fits", "title": "t", "text": " ".join(["word"] * 520)},
            {"id": "over", "title": "t", "text": " ".join(["word"] * 700)},
        ],
    )
    result = ingest.run([path], limits=small(100_000, passages=3))
    assert [d.id for d in result.documents] == ["fits"]
    (problem,) = result.report.skipped
    assert "about 5 passages, more than ingest.max_document_passages (3)" in problem.message
    cut = ingest.run([path], limits=small(100_000, passages=3, oversize="truncate"))
    assert [len(d.text.split()) for d in cut.documents] == [520, 520]
    assert "first 3 passages" in next(w.message for w in cut.report.warnings if w.line == 2)


def test_a_pdf_is_read_no_further_than_the_page_that_passes_the_limit(tmp_path: Path) -> None:
    path = tmp_path / "report.pdf"
    path.write_bytes(make_pdf("Quarterly churn fell by two points " * 5))
    (problem,) = ingest.run(
        [path, write_jsonl(tmp_path / "d.jsonl", [{"id": "d", "title": "t"}])], limits=small(50)
    ).report.skipped
    assert (problem.kind, problem.source) == ("too large", str(path))
    assert "on page 1 of 1" in problem.message


@pytest.mark.parametrize("field", ["authors", "tags", "allowed_groups"])
@pytest.mark.parametrize(
    ("value", "kept"),
    [
        (["a", "b"], ("a", "b")),
        ("a; b", ("a", "b")),
        ("a", ("a",)),
        (5, None),
        ([5], None),
        (["a", True], None),
        ([None], None),
        ({"a": "b"}, None),
    ],
)
def test_every_document_list_field_follows_one_rule(
    tmp_path: Path, field: str, value: object, kept: tuple[str, ...] | None
) -> None:
    record = {"id": "d", "title": "t", "text": "x", field: value}
    jsonl = write_jsonl(tmp_path / "docs.jsonl", [record, {"id": "other", "title": "t"}])
    root = tmp_path / "wiki"
    root.mkdir()
    (root / "page.md").write_text(
        "---\n" + yaml.safe_dump({field: value}) + "---\nbody\n", encoding="utf-8"
    )
    result = ingest.run([jsonl, root])
    found = {d.id: getattr(d, field) for d in result.documents}
    if kept is None:
        assert set(found) == {"other"}
        problems = {(Path(p.source).name, p.kind) for p in result.report.skipped}
        assert problems == {("docs.jsonl", "invalid field"), ("page.md", "invalid field")}
        for problem in result.report.skipped:
            assert problem.field is not None and problem.field.startswith(field)
            assert "must be a" in problem.message and field in problem.message
    else:
        assert found == {"d": kept, "other": (), "wiki/page.md": kept}


@pytest.mark.parametrize("field", ["skills", "groups", "can_mentor", "wants_to_learn"])
def test_every_person_list_field_follows_the_same_rule(tmp_path: Path, field: str) -> None:
    people = write_jsonl(
        tmp_path / "people.jsonl",
        [
            {"id": "list", "name": "A", field: ["x", "y"]},
            {"id": "text", "name": "B", field: "x; y"},
            {"id": "number", "name": "C", field: 5},
            {"id": "numbers", "name": "D", field: [5]},
            {"id": "flag", "name": "E", field: [False]},
        ],
    )
    csv = tmp_path / "more.csv"
    csv.write_text(f"id,name,{field}\ncell,F,x|y\n")
    docs = write_jsonl(tmp_path / "docs.jsonl", [{"id": "d", "title": "t"}])
    result = ingest.run([docs], [people, csv])
    assert {p.id: getattr(p, field) for p in result.people} == {
        "list": ("x", "y"),
        "text": ("x", "y"),
        "cell": ("x", "y"),
    }
    assert [(p.line, p.field) for p in result.report.skipped] == [
        (3, field),
        (4, f"{field}[0]"),
        (5, f"{field}[0]"),
    ]


def test_an_id_that_is_not_a_string_is_refused_with_how_to_fix_it(tmp_path: Path) -> None:
    docs = write_jsonl(
        tmp_path / "docs.jsonl",
        [{"id": 5, "title": "t"}, {"id": "5", "title": "t"}, {"id": 1.5, "title": "t"}],
    )
    people = write_jsonl(tmp_path / "people.jsonl", [{"id": 7, "name": "A"}])
    root = tmp_path / "wiki"
    root.mkdir()
    (root / "octal.md").write_text("---\nid: 0012\n---\nbody\n")
    result = ingest.run([docs, root], [people])
    assert [d.id for d in result.documents] == ["5"] and not result.people
    where = {(Path(p.source).name, p.line, p.kind, p.field) for p in result.report.skipped}
    assert where == {
        ("people.jsonl", 1, "invalid id", "id"),
        ("docs.jsonl", 1, "invalid id", "id"),
        ("docs.jsonl", 3, "invalid id", "id"),
        ("octal.md", None, "invalid id", "id"),
    }
    octal = next(p for p in result.report.skipped if p.source.endswith("octal.md"))
    assert "not the number 10" in octal.message and "quotes" in octal.message


def test_empty_and_blank_files_are_skipped_as_empty(tmp_path: Path) -> None:
    root = tmp_path / "wiki"
    root.mkdir()
    (root / "zero.txt").write_bytes(b"")
    (root / "blank.md").write_text(" \n\t\n")
    (root / "bom.txt").write_bytes(b"\xef\xbb\xbf\n")
    (root / "only-front-matter.md").write_text("---\ntitle: Nothing here\n---\n")
    (root / "only-script.html").write_text("<html><script>var x;</script></html>")
    (root / "kept.txt").write_text("text")
    result = ingest.run([root])
    assert [d.id for d in result.documents] == ["wiki/kept.txt"]
    assert {Path(p.source).name: p.kind for p in result.report.skipped} == {
        "zero.txt": "empty",
        "blank.md": "empty",
        "bom.txt": "empty",
        "only-front-matter.md": "empty",
        "only-script.html": "empty",
    }
    zero = next(p for p in result.report.skipped if p.source.endswith("zero.txt"))
    assert "empty (0 bytes)" in zero.message


def test_pypdf_warnings_go_to_the_report_of_their_file_not_to_the_log(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "damaged.pdf"
    good = make_pdf("Revenue grew")
    path.write_bytes(re.sub(rb"startxref\n\d+", b"startxref\n9999", good))
    with caplog.at_level(logging.WARNING):
        result = ingest.run([path])
    assert "Revenue grew" in result.documents[0].text
    pdf = [w for w in result.report.warnings if w.kind == "PDF warning"]
    assert pdf and all(w.source == str(path) for w in pdf)
    assert any("startxref" in w.message for w in pdf)
    assert not [r for r in caplog.records if r.name.startswith("pypdf")]
    assert "startxref" not in capsys.readouterr().err


def test_deeply_nested_json_and_front_matter_are_skipped_not_a_crash(tmp_path: Path) -> None:
    path = tmp_path / "docs.jsonl"
    path.write_text(
        "[" * 100_000
        + "\n"
        + json.dumps({"id": "a", "title": "t", "extra": json.loads("[" * 500 + "]" * 500)})
        + "\n"
    )
    root = tmp_path / "wiki"
    root.mkdir()
    (root / "deep.md").write_text("---\ntags: " + "[" * 3_000 + "]" * 3_000 + "\n---\nbody\n")
    result = ingest.run([path, root])
    assert [d.id for d in result.documents] == ["a"]
    assert {(Path(p.source).name, p.kind) for p in result.report.skipped} == {
        ("docs.jsonl", "invalid JSON"),
        ("deep.md", "invalid front matter"),
    }


def test_processed_records_refuse_a_string_where_a_list_belongs(tmp_path: Path) -> None:
    docs = write_jsonl(tmp_path / "docs.jsonl", [{"id": "d", "title": "t", "authors": ["p1"]}])
    out = processed.save(ingest.run([docs]), tmp_path / "processed")
    line = json.loads((out / processed.DOCUMENTS).read_text())
    (out / processed.DOCUMENTS).write_text(json.dumps({**line, "authors": "p1"}) + "\n")
    with pytest.raises(ArtifactFormatError, match="authors must be a list of strings"):
        processed.load(out)


def test_the_ingest_parameters_are_read_from_params_yaml_and_checked(tmp_path: Path) -> None:
    root = Path(__file__).resolve().parents[2]
    assert load_params(root / "params.yaml").ingest == IngestConfig()
    params = tmp_path / "params.yaml"
    params.write_text(
        "recommender:\n  passage_tokens: 100\n  passage_overlap: 20\n"
        "ingest:\n  max_document_chars: 500\n  oversize: truncate\n"
    )
    limits = load_params(params).limits()
    assert limits == Limits(IngestConfig(500, 2_000, "truncate"), 100, 20)
    assert limits.max_tokens == 100 + 1_999 * 80
    for text, message in [
        ("ingest:\n  max_chars: 5\n", "unknown ingest parameter.*max_chars"),
        ("ingest:\n  max_document_chars: 0\n", "ingest.max_document_chars must be a whole"),
        ("ingest:\n  max_document_passages: 2.5\n", "ingest.max_document_passages must be"),
        ("ingest:\n  oversize: cut\n", "ingest.oversize must be one of skip, truncate"),
    ]:
        params.write_text(text)
        with pytest.raises(ConfigurationError, match=message):
            load_params(params)


def test_whoknows_ingest_and_build_apply_the_limits_of_params(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)  # no ./whoknows.db to read erasures from
    docs = write_jsonl(
        tmp_path / "docs.jsonl",
        [
            {"id": "long", "title": "t", "text": "x" * 200},
            {"id": "short", "title": "t", "text": "x" * 50},
        ],
    )
    params = tmp_path / "params.yaml"
    params.write_text("ingest:\n  max_document_chars: 100\n")
    out = tmp_path / "processed"
    done = runner.invoke(app, ["ingest", "-d", str(docs), "-o", str(out), "--params", str(params)])
    assert done.exit_code == 0, done.output
    report = json.loads((out / processed.REPORT).read_text())
    assert [(p["line"], p["kind"]) for p in report["skipped"]] == [(1, "too large")]
    assert "ingest.max_document_chars (100)" in report["skipped"][0]["message"]
    # build ingests before it embeds: nothing left to index fails at once.
    params.write_text("ingest:\n  max_document_chars: 10\n")
    built = runner.invoke(
        app,
        [
            "build",
            "-d",
            str(docs),
            "-o",
            str(tmp_path / "index"),
            "--params",
            str(params),
            "--no-track",
        ],
    )
    assert built.exit_code == 1
    assert "no documents could be ingested" in built.output
    assert "ingest.max_document_chars" in built.output
