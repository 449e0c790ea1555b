"""Judgments mined from an organisation's own history, with no hand labels.

Two kinds of history are free judgments:

- **Question threads.** A document with an ``asked`` contribution and answers is
  a question someone once asked: its title and question (the text before the
  first answer) become a query, and those who answered it the relevant people
  (the accepted answer grade 2; other answers grade 1 unless voted below zero;
  with no accepted answer, the clearly top-voted one is grade 2). The asker is
  not relevant to their own question.
- **Links between documents.** A document that links to, cites or duplicates an
  older one makes the older one relevant to it (grade 2 for a duplicate, 1
  otherwise): Stack Exchange post links (PostLinks.xml), the citation lists of
  the CACM and CISI collections (their ``.X`` fields: CACM's direct citations,
  CISI's pairs sharing at least two references), and, for any source, a
  document whose text names another document's URL. Where the corpus has no
  question threads, the authors of the linked documents become the query's
  relevant people (as the CACM and CISI sets derive theirs).

Every query is strictly as of its time: it carries its document's creation date
and its own id (``as_of``, ``exclude`` in queries.jsonl), and ranker training
lets only documents created before that moment, other than its own, answer it,
with activity counted from that moment (``models.records.AsOf``). A pair whose
relevant document is not older than the query is dropped: it could not have
been found then.

The result is an evaluation-set directory (documents.jsonl, people.jsonl,
queries.jsonl, qrels_resources.tsv, qrels_people.tsv, and mining.json with the
counts) that ``whoknows train-ranker`` and ``whoknows compare`` read like any other.
"""

from __future__ import annotations

import json
import random
import re
import time
import xml.etree.ElementTree as ElementTree
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from models.artifact import write_jsonl
from models.finetune import ACCEPTED_MARK, ANSWER_MARK
from models.records import AsOf, Document, parse_date
from pipelines import ingest
from pipelines.exceptions import PipelineError
from pipelines.ingest import IngestResult

MINING_FILE = "mining.json"
#: Most characters of a mined query (the service cuts queries longer than its own limit).
QUERY_CHARS = 1000
ANSWER_ROLES = frozenset({"answered", "accepted_answer"})
#: Stack Exchange PostLinks LinkTypeId of a duplicate (1 is a plain link).
DUPLICATE_LINK = "3"
#: CACM's kind of ``.X`` line for a direct citation; CISI's least count of shared references.
CACM_CITATION = 5
CISI_SHARED = 2
_URL = re.compile(r"https?://[^\s<>\"')\]]+")


@dataclass(frozen=True, slots=True)
class Link:
    """One document linking to, citing or duplicating another (direction unknown
    where ``source`` and ``target`` are interchangeable)."""

    source: str
    target: str
    grade: int = 1


@dataclass(slots=True)
class MinedQuery:
    """A query of the past, with what its history says was relevant to it."""

    id: str
    document: str
    text: str
    as_of: str | None
    people: dict[str, int] = field(default_factory=dict)
    resources: dict[str, int] = field(default_factory=dict)

    def as_of_moment(self) -> AsOf:
        """When it was asked, and the document it leaves out (its own)."""
        return AsOf(parse_date(self.as_of), frozenset({self.document}))

    def to_dict(self) -> dict[str, Any]:
        """The queries.jsonl line."""
        return {
            "id": self.id,
            "text": self.text,
            "as_of": self.as_of,
            "exclude": [self.document],
            "document": self.document,
        }


@dataclass(frozen=True, slots=True)
class Mining:
    """What was mined, and from how much."""

    queries: list[MinedQuery]
    documents: int
    threads: int
    links: int
    seconds: float
    capped_from: int

    def counts(self) -> dict[str, Any]:
        """The counts written to mining.json and printed."""
        return {
            "documents": self.documents,
            "threads": self.threads,
            "links": self.links,
            "queries": len(self.queries),
            "people_queries": sum(1 for q in self.queries if q.people),
            "resource_queries": sum(1 for q in self.queries if q.resources),
            "people_judgments": sum(len(q.people) for q in self.queries),
            "resource_judgments": sum(len(q.resources) for q in self.queries),
            "capped_from": self.capped_from,
            "seconds": round(self.seconds, 2),
        }


def mine(
    documents: Sequence[Document],
    links: Iterable[Link] = (),
    *,
    max_queries: int | None = None,
    seed: int = 0,
) -> Mining:
    """Mine people judgments from question threads and resource judgments from links.

    Args:
        documents: the knowledge base.
        links: links between its documents (from raw files); links named in the
            documents' text by URL are found here.
        max_queries: keep at most this many queries (queries with resource
            judgments first, the rest sampled with ``seed``); None: all.
        seed: the sample's seed.
    """
    started = time.perf_counter()
    by_id = {d.id: d for d in documents}
    queries: dict[str, MinedQuery] = {}

    def query_of(document: Document) -> MinedQuery:
        found = queries.get(document.id)
        if found is None:
            created = parse_date(document.created)
            found = MinedQuery(
                id=f"mined:{document.id}",
                document=document.id,
                text=question_text(document),
                as_of=None if created is None else created.isoformat(),
            )
            queries[document.id] = found
        return found

    threads = 0
    for document in documents:
        judged = thread_judgments(document)
        if judged:
            threads += 1
            query_of(document).people.update(judged)
    all_links = _unique(list(links) + list(links_in_text(documents)))
    used = 0
    for link in all_links:
        pair = _ordered(by_id.get(link.source), by_id.get(link.target))
        if pair is None:
            continue
        used += 1
        for newer, older in pair:
            query = query_of(newer)
            query.resources[older.id] = max(query.resources.get(older.id, 0), link.grade)
    if threads == 0:  # no threads: who wrote what is relevant is the relevant people
        for query in queries.values():
            for document_id, grade in query.resources.items():
                for person in _writers(by_id[document_id]):
                    if person not in _writers(by_id[query.document]):
                        query.people[person] = max(query.people.get(person, 0), grade)
    found = [q for q in queries.values() if q.text.strip() and (q.people or q.resources)]
    total = len(found)
    if max_queries is not None and total > max_queries:
        with_resources = [q for q in found if q.resources]
        rest = [q for q in found if not q.resources]
        random.Random(seed).shuffle(with_resources)
        random.Random(seed).shuffle(rest)
        found = sorted((with_resources + rest)[:max_queries], key=lambda q: q.id)
    return Mining(found, len(documents), threads, used, time.perf_counter() - started, total)


def thread_judgments(document: Document) -> dict[str, int]:
    """The relevant people of a question thread: person -> grade (empty if not a thread)."""
    roles = document.roles()
    askers = {c.person for c in roles if c.role == "asked"}
    answers = [c for c in roles if c.role in ANSWER_ROLES and c.person not in askers]
    if not askers or not answers:
        return {}
    grades: dict[str, int] = {}
    for answer in answers:
        if answer.role == "accepted_answer":
            grades[answer.person] = 2
        elif answer.score is None or answer.score >= 0:
            grades.setdefault(answer.person, 1)
    if 2 not in grades.values():
        scores = sorted(((a.score or 0.0, a.person) for a in answers), reverse=True)
        top, runner_up = scores[0][0], scores[1][0] if len(scores) > 1 else 0.0
        if top > 0 and top >= 2 * max(runner_up, 0.0):
            grades[scores[0][1]] = 2
    return grades


def question_text(document: Document) -> str:
    """What was asked: the title and the text before the first answer.

    A thread whose answers are not marked in its text (the normalised format marks
    them ``Accepted answer:`` and ``Answer:``) gives its title alone, so that no
    answer's words leak into the query.
    """
    text = document.text
    cut = min((i for i in (text.find(ACCEPTED_MARK), text.find(ANSWER_MARK)) if i >= 0), default=-1)
    if cut >= 0:
        body = text[:cut]
    elif thread_judgments(document):
        body = ""
    else:
        body = text
    title = document.title.strip()
    joined = f"{title}\n\n{body.strip()}" if title and body.strip() else title or body.strip()
    return joined[:QUERY_CHARS]


def links_in_text(documents: Sequence[Document]) -> Iterator[Link]:
    """Links by URL: a document whose text names another document's ``url``."""
    known = {_normal_url(d.url): d.id for d in documents if d.url}
    if not known:
        return
    for document in documents:
        for match in _URL.finditer(document.text):
            target = known.get(_normal_url(match.group(0)))
            if target is not None and target != document.id:
                yield Link(document.id, target)


def links_from_raw(raw: Path) -> list[Link]:
    """Links from original files under ``raw``: every ``PostLinks.xml`` (Stack
    Exchange; ids ``<folder>:q<PostId>``), ``cacm.all`` (``cacm:d<n>``) and
    ``CISI.ALL`` (``cisi:d<n>``), anywhere below it.

    Raises:
        PipelineError: ``raw`` is not a folder, or holds none of these files.
    """
    if not raw.is_dir():
        raise PipelineError(f"{raw} is not a folder of raw files")
    links: list[Link] = []
    found = False
    for path in sorted(raw.rglob("*")):
        if path.name == "PostLinks.xml":
            found = True
            links += _post_links(path, path.parent.name)
        elif path.name.lower() == "cacm.all":
            found = True
            links += _citations(path, "cacm")
        elif path.name.upper() == "CISI.ALL":
            found = True
            links += _citations(path, "cisi")
    if not found:
        raise PipelineError(f"{raw} holds no PostLinks.xml, cacm.all or CISI.ALL")
    return links


def read_sources(sources: Sequence[Path], people: Sequence[Path] = ()) -> IngestResult:
    """The records to mine: an evaluation-set folder (documents.jsonl and
    people.jsonl), or documents and people as ``whoknows build`` takes them."""
    if len(sources) == 1 and (sources[0] / "documents.jsonl").is_file():
        folder = sources[0]
        found = [folder / "people.jsonl"] if (folder / "people.jsonl").is_file() else []
        return ingest.run([folder / "documents.jsonl"], [*found, *people])
    return ingest.run(sources, people)


def write(out: Path, records: IngestResult, mining: Mining, sources: Sequence[str]) -> None:
    """Write the mined judgments as an evaluation-set folder."""
    out.mkdir(parents=True, exist_ok=True)
    write_jsonl(out / "documents.jsonl", (d.to_dict() for d in records.documents))
    write_jsonl(out / "people.jsonl", (p.to_dict() for p in records.people))
    write_jsonl(out / "queries.jsonl", (q.to_dict() for q in mining.queries))
    for task in ("resources", "people"):
        column = "doc_id" if task == "resources" else "person_id"
        lines = [f"query_id\t{column}\tgrade"]
        for query in mining.queries:
            judged = query.resources if task == "resources" else query.people
            lines += [f"{query.id}\t{item}\t{grade}" for item, grade in sorted(judged.items())]
        (out / f"qrels_{task}.tsv").write_text("\n".join(lines) + "\n", encoding="utf-8")
    report = {**mining.counts(), "sources": list(sources)}
    (out / MINING_FILE).write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")


def _writers(document: Document) -> set[str]:
    return {c.person for c in document.roles() if c.role != "asked"}


def _ordered(
    first: Document | None, second: Document | None
) -> list[tuple[Document, Document]] | None:
    """(newer, older) pairs of a link: one if both are dated and differ, both ways
    if either is undated, none if they are the same moment or unknown."""
    if first is None or second is None or first.id == second.id:
        return None
    a, b = parse_date(first.created), parse_date(second.created)
    if a is None or b is None:
        return [(first, second), (second, first)]
    if a == b:
        return None
    return [(first, second)] if a > b else [(second, first)]


def _unique(links: Sequence[Link]) -> list[Link]:
    best: dict[frozenset[str], Link] = {}
    for link in links:
        key = frozenset((link.source, link.target))
        if key not in best or link.grade > best[key].grade:
            best[key] = link
    return list(best.values())


def _normal_url(url: str) -> str:
    return url.strip().rstrip("/.,;:").removeprefix("https://").removeprefix("http://")


def _post_links(path: Path, site: str) -> list[Link]:
    links = []
    for _, element in ElementTree.iterparse(path):
        if element.tag == "row":
            post, related = element.get("PostId"), element.get("RelatedPostId")
            if post and related:
                grade = 2 if element.get("LinkTypeId") == DUPLICATE_LINK else 1
                links.append(Link(f"{site}:q{post}", f"{site}:q{related}", grade))
            element.clear()
    return links


def _citations(path: Path, prefix: str) -> list[Link]:
    """The ``.X`` lines of a SMART collection: (other document, kind, this document).

    In CACM the middle column is the kind of link: 5 is a direct citation (4 and 6,
    bibliographic coupling and co-citation, are left out). In CISI it counts the
    references two documents share: at least CISI_SHARED makes a link, and at least
    twice that a grade-2 one.
    """
    links = []
    field_name = ""
    for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
        if line.startswith("."):
            field_name = line[:2]
            continue
        parts = line.split()
        if field_name != ".X" or len(parts) != 3 or not all(p.isdigit() for p in parts):
            continue
        other, kind, this = parts[0], int(parts[1]), parts[2]
        if other == this:
            continue
        if prefix == "cacm" and kind == CACM_CITATION:
            links.append(Link(f"{prefix}:d{this}", f"{prefix}:d{other}"))
        elif prefix != "cacm" and kind >= CISI_SHARED:
            grade = 2 if kind >= 2 * CISI_SHARED else 1
            links.append(Link(f"{prefix}:d{this}", f"{prefix}:d{other}", grade))
    return links
