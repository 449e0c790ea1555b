from __future__ import annotations

import json
from pathlib import Path

import pytest

from models.records import ResourceType
from pipelines import ingest
from pipelines.exceptions import IngestError
from tests.pipelines.pdf import make_pdf

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
