"""Cut data/sample from the Stack Exchange dev set (run once; the output is committed).

    python data/sample/make_sample.py ../shared/data/stackexchange-dev data/sample

Per department (Stack Exchange site) it keeps the threads judged relevant to a
dev query, a few threads by each of some judged experts, and fills up with a
seeded random choice of short threads. People are everyone who contributed to
a kept thread; queries are the dev queries whose judged items survived the cut.
"""

from __future__ import annotations

import json
import random
import sys
from collections import defaultdict
from pathlib import Path

PER_DEPARTMENT = 80
EXPERT_QUERIES_PER_DEPARTMENT = 12
MAX_CHARS = 4000
SEED = 20261123


def main(source: Path, target: Path) -> None:
    rng = random.Random(SEED)
    docs = [json.loads(line) for line in (source / "documents.jsonl").open(encoding="utf-8")]
    people = {p["id"]: p for p in map(json.loads, (source / "people.jsonl").open(encoding="utf-8"))}
    queries = {
        q["id"]: q for q in map(json.loads, (source / "queries.jsonl").open(encoding="utf-8"))
    }
    qrels = {name: _qrels(source / f"qrels_{name}.tsv") for name in ("resources", "people")}
    by_id = {d["id"]: d for d in docs}

    chosen: dict[str, set[str]] = defaultdict(set)
    for _query, items in qrels["resources"].items():
        for doc_id in items:
            if doc_id in by_id:
                chosen[by_id[doc_id]["department"]].add(doc_id)
    answered: dict[str, list[dict]] = defaultdict(list)
    for d in docs:
        for c in d.get("contributions") or []:
            if c["role"] in ("answered", "accepted_answer"):
                answered[c["person"]].append(d)
    expert_queries: dict[str, int] = defaultdict(int)
    for query_id in sorted(qrels["people"]):
        department = queries[query_id]["department"]
        if expert_queries[department] >= EXPERT_QUERIES_PER_DEPARTMENT:
            continue
        experts = [p for p, grade in qrels["people"][query_id].items() if grade == 2]
        threads = [d for p in experts for d in answered.get(p, []) if len(d["text"]) < MAX_CHARS]
        if not threads:
            continue
        expert_queries[department] += 1
        for d in sorted(threads, key=lambda d: len(d["text"]))[:2]:
            chosen[d["department"]].add(d["id"])
    for department in sorted({d["department"] for d in docs}):
        pool = [
            d["id"] for d in docs if d["department"] == department and len(d["text"]) < MAX_CHARS
        ]
        rng.shuffle(pool)
        for doc_id in pool:
            if len(chosen[department]) >= PER_DEPARTMENT:
                break
            chosen[department].add(doc_id)

    keep = {doc_id for ids in chosen.values() for doc_id in ids}
    kept_docs = [d for d in docs if d["id"] in keep]
    contributors = {c["person"] for d in kept_docs for c in d.get("contributions") or []}
    contributors |= {a for d in kept_docs for a in d.get("authors") or []}
    kept_people = [people[p] for p in sorted(contributors) if p in people]
    kept_qrels = {
        "resources": _cut(qrels["resources"], keep),
        "people": _cut(qrels["people"], contributors),
    }
    kept_queries = sorted(set(kept_qrels["resources"]) | set(kept_qrels["people"]))

    target.mkdir(parents=True, exist_ok=True)
    _write_jsonl(target / "documents.jsonl", kept_docs)
    _write_jsonl(target / "people.jsonl", kept_people)
    _write_jsonl(target / "queries.jsonl", [queries[q] for q in kept_queries])
    for name, table in kept_qrels.items():
        with (target / f"qrels_{name}.tsv").open("w", encoding="utf-8") as handle:
            handle.write(f"query_id\t{'doc_id' if name == 'resources' else 'person_id'}\tgrade\n")
            for query_id in sorted(table):
                for item, grade in sorted(table[query_id].items()):
                    handle.write(f"{query_id}\t{item}\t{grade}\n")
    print(
        f"{len(kept_docs)} documents, {len(kept_people)} people, {len(kept_queries)} queries "
        f"({len(kept_qrels['resources'])} with resource and {len(kept_qrels['people'])} with "
        "people judgments)"
    )


def _qrels(path: Path) -> dict[str, dict[str, int]]:
    table: dict[str, dict[str, int]] = defaultdict(dict)
    for line in path.read_text(encoding="utf-8").splitlines()[1:]:
        query_id, item, grade = line.split("\t")
        table[query_id][item] = int(grade)
    return table


def _cut(table: dict[str, dict[str, int]], keep: set[str]) -> dict[str, dict[str, int]]:
    out = {q: {i: g for i, g in items.items() if i in keep} for q, items in table.items()}
    return {q: items for q, items in out.items() if items}


def _write_jsonl(path: Path, rows: list[dict]) -> None:
    with path.open("w", encoding="utf-8") as handle:
        for row in rows:
            handle.write(json.dumps(row, ensure_ascii=False) + "\n")


if __name__ == "__main__":
    main(Path(sys.argv[1]), Path(sys.argv[2]))
