"""The expertise map on a small organisation whose silo, fragile topic and shared topic are known.

Three subjects, each clearly apart in meaning:

- quantum computing, written in Research by Ruth (q1, q2, q4) and Raj (q3, q4,
  months earlier); Fay of Finance only *asked* q3. q5 is restricted to the
  group lab-secret and written by Sam of Security alone.
  Bus factor 2 (Ruth leaves: 2 of 4 orphaned, not most; then Raj): a silo of Research.
- payroll, written in Finance four years earlier, Fay four documents and Finn one:
  bus factor 1, fragile (and a Finance silo).
- Kafka pipelines, written half by Data (Dana k1 k3, Dirk k5) and half by
  Engineering (Erin k2 k3, Eli k4); k6 by Olga, who opted out.
  Bus factor 2 (k6 has no shown expert; Dana then Erin leave: 4 of 6), no silo.
"""

from __future__ import annotations

import dataclasses
import json
import time
from pathlib import Path

import numpy as np
import pytest

from models.encoder import Encoder
from models.exceptions import (
    ArtifactError,
    ArtifactFormatError,
    ArtifactNotFoundError,
    ConfigurationError,
)
from models.recommender import Recommender
from models.records import Contribution, Document, Person
from models.topic_model import topic_count
from models.topic_parts import bus_factor, class_tfidf
from models.topics import (
    ExpertiseMap,
    Topic,
    TopicConfig,
    TopicModel,
    expertise_map,
    fit_topics,
)

SECRET = ("lab-secret",)
CONFIG = TopicConfig(count=3)


def _doc(
    id: str,
    title: str,
    text: str,
    department: str,
    created: str,
    *contributions: Contribution,
    allowed_groups: tuple[str, ...] = (),
) -> Document:
    return Document(
        id,
        title,
        text,
        department=department,
        authors=tuple(c.person for c in contributions),
        contributions=contributions,
        created=created,
        allowed_groups=allowed_groups,
    )


def _wrote(person: str, created: str, role: str = "author") -> Contribution:
    return Contribution(person, role, created=created)


def organisation() -> tuple[list[Document], list[Person]]:
    """The documents and people of the module docstring."""
    people = [
        Person("ruth", "Ruth", department="Research"),
        Person("raj", "Raj", department="Research"),
        Person("fay", "Fay", department="Finance"),
        Person("finn", "Finn", department="Finance"),
        Person("dana", "Dana", department="Data"),
        Person("erin", "Erin", department="Engineering"),
        Person("eli", "Eli", department="Engineering"),
        Person("dirk", "Dirk", department="Data"),
        Person("olga", "Olga", department="Legal", opt_out=True),
        Person("sam", "Sam", department="Security"),
    ]
    june, may = "2024-06-01", "2024-05-01"
    documents = [
        _doc("q1", "Qubit decoherence", "Superconducting qubit coherence times and "
             "quantum noise in the dilution refrigerator.", "Research", may,
             _wrote("ruth", may)),
        _doc("q2", "Calibrating two-qubit gates", "Tune the qubit pulse amplitude so the "
             "entangling quantum gate reaches high fidelity.", "Research", "2024-05-20",
             _wrote("ruth", "2024-05-20")),
        _doc("q3", "How does quantum error correction work?", "Surface codes protect a "
             "logical qubit with many physical qubit measurements.", "Research", "2024-01-10",
             _wrote("fay", "2024-01-10", "asked"), _wrote("raj", "2024-01-15", "answered")),
        _doc("q4", "Measuring qubit readout", "Quantum readout resonators report each qubit "
             "state; calibrate the discriminator.", "Research", "2024-01-12",
             _wrote("raj", "2024-01-15", "answered"), _wrote("ruth", june, "accepted_answer")),
        _doc("q5", "Majorana qubit research", "Majorana zero modes for topological qubit "
             "designs: Majorana braiding, Majorana wires, Majorana quantum gates.",
             "Security", "2024-03-01", _wrote("sam", "2024-03-01"), allowed_groups=SECRET),
        _doc("p1", "Running the monthly payroll", "Payroll runs close on the 25th; salary "
             "payments and payslips go out after tax withholding.", "Finance", "2020-01-10",
             _wrote("fay", "2020-01-10")),
        _doc("p2", "Payroll tax withholding", "Withhold income tax from each salary in the "
             "payroll system before payslips are issued.", "Finance", "2020-02-10",
             _wrote("fay", "2020-02-10")),
        _doc("p3", "Correcting a wrong payslip", "A payslip with a wrong salary is fixed by "
             "an off-cycle payroll run.", "Finance", "2020-03-10", _wrote("fay", "2020-03-10")),
        _doc("p4", "Payroll year-end", "At year end the payroll team files salary and tax "
             "statements for every employee.", "Finance", "2020-04-10",
             _wrote("fay", "2020-04-10")),
        _doc("p5", "Salary advances", "Employees may ask payroll for a salary advance, "
             "repaid through later payslips.", "Finance", "2020-02-20",
             _wrote("finn", "2020-02-20")),
        _doc("k1", "Kafka consumer lag", "Consumer lag grows when Kafka partitions are "
             "unbalanced; rebalance the consumer group.", "Data", june, _wrote("dana", june)),
        _doc("k2", "Kafka broker upgrades", "Roll Kafka brokers one at a time so topics keep "
             "their partitions in sync.", "Engineering", june, _wrote("erin", june)),
        _doc("k3", "Streaming pipeline design", "Kafka topics feed the streaming pipeline; "
             "consumers write partitions to the warehouse.", "Data", june,
             _wrote("dana", june), _wrote("erin", june)),
        _doc("k4", "Kafka topic retention", "Set Kafka retention per topic so consumers can "
             "replay partitions.", "Engineering", june, _wrote("eli", june)),
        _doc("k5", "Schema registry for Kafka", "Kafka producers register Avro schemas so "
             "consumers decode messages.", "Data", june, _wrote("dirk", june)),
        _doc("k6", "Kafka security settings", "Enable TLS between Kafka brokers, producers "
             "and consumers.", "Engineering", june, _wrote("olga", june)),
    ]  # fmt: skip
    return documents, people


@pytest.fixture(scope="module")
def org(encoder: Encoder) -> Recommender:
    documents, people = organisation()
    return Recommender.build(documents, people, encoder=encoder)


@pytest.fixture(scope="module")
def model(org: Recommender) -> TopicModel:
    return TopicModel.fit(org.document_vectors(), [d.id for d in org.documents], CONFIG)


def topic_of(found: ExpertiseMap, model: TopicModel, document: str) -> Topic:
    wanted = model.topic_of(document)
    (topic,) = [t for t in found.topics if t.id == wanted]
    return topic


def people_in(found: ExpertiseMap) -> set[str]:
    return {e.id for t in found.topics for e in t.experts}


def test_the_three_subjects_are_three_topics(model: TopicModel) -> None:
    groups = [{model.topic_of(f"{s}{i}") for i in range(1, 6)} for s in "qpk"]
    assert all(len(g) == 1 for g in groups)
    assert len(set.union(*groups)) == 3
    assert model.topic_of("k6") == model.topic_of("k1")
    assert model.sizes() == sorted(model.sizes(), reverse=True), "topic 0 is the largest"


def test_the_silo_the_fragile_topic_and_the_shared_topic(
    org: Recommender, model: TopicModel
) -> None:
    found = expertise_map(org, model, CONFIG, groups=())  # a caller outside lab-secret
    quantum, payroll, kafka = (topic_of(found, model, d) for d in ("q1", "p1", "k1"))

    assert (quantum.bus_factor, quantum.silo, quantum.fragile) == (2, "Research", False)
    assert [e.id for e in quantum.experts] == ["ruth", "raj"], "Fay only asked"
    assert {d.name for d in quantum.departments} == {"Research"}

    # Four years older than the rest, yet its writers are active: age counts per department.
    assert (payroll.bus_factor, payroll.fragile, payroll.silo) == (1, True, "Finance")
    assert [(e.id, e.documents) for e in payroll.experts] == [("fay", 4), ("finn", 1)]

    assert (kafka.bus_factor, kafka.silo, kafka.fragile) == (2, None, False)
    shares = {d.name: (d.expertise, d.documents) for d in kafka.departments}
    assert shares == {"Data": (0.5, 0.5), "Engineering": (0.5, 0.5)}

    assert [t.id for t in found.fragile()] == [payroll.id]
    assert {t.silo for t in found.silos()} == {"Research", "Finance"}
    engineering = found.heat[found.departments.index("Engineering")]
    assert engineering[found.topics.index(kafka)] == 0.5
    assert engineering[found.topics.index(payroll)] == 0.0


def test_labels_are_each_topic_s_distinctive_words(org: Recommender, model: TopicModel) -> None:
    found = expertise_map(org, model, CONFIG)
    for document, word in (("q1", "qubit"), ("p1", "payroll"), ("k1", "kafka")):
        topic = topic_of(found, model, document)
        assert topic.terms[0] == word
        assert topic.label.startswith(f"{word} · ") and len(topic.terms) == CONFIG.label_terms
    everywhere = [set(t.terms) for t in found.topics]
    assert not set.intersection(*everywhere), "a word shared by all topics is not distinctive"


def test_a_restricted_document_counts_only_for_its_groups(
    org: Recommender, model: TopicModel
) -> None:
    member = expertise_map(org, model, CONFIG, groups=SECRET)
    quantum = topic_of(member, model, "q5")
    assert "sam" in {e.id for e in quantum.experts} and "majorana" in quantum.terms
    assert quantum.documents == 5 and "Security" in member.departments

    for outsider in ((), ("finance",)):
        found = expertise_map(org, model, CONFIG, groups=outsider)
        assert "sam" not in people_in(found)
        assert not any("majorana" in t.terms for t in found.topics)
        assert "Security" not in found.departments
        assert topic_of(found, model, "q1").documents == 4
        assert "majorana" not in json.dumps(found.to_dict()).lower()
    assert "sam" in people_in(expertise_map(org, model, CONFIG))  # trusted: sees everything


def test_an_opted_out_person_never_appears(org: Recommender, model: TopicModel) -> None:
    for groups in (None, (), SECRET):
        found = expertise_map(org, model, CONFIG, groups=groups)
        assert "olga" not in people_in(found)
        assert "Legal" not in found.departments
        assert "Olga" not in json.dumps(found.to_dict())
        # k6 counts as a document, but without an expert: a bus factor of 2, not 3.
        assert topic_of(found, model, "k6").bus_factor == 2


def test_an_expert_gone_too_long_does_not_hold_a_topic_up(
    org: Recommender, model: TopicModel
) -> None:
    # Raj's last contribution is 138 days before Research's newest.
    for days, factor in ((None, 2), (365.0, 2), (90.0, 1)):
        config = dataclasses.replace(CONFIG, active_days=days)
        quantum = topic_of(expertise_map(org, model, config, groups=()), model, "q1")
        assert quantum.bus_factor == factor, days
        raj = next(e for e in quantum.experts if e.id == "raj")
        assert raj.active == (factor == 2)


def test_a_model_of_another_index_is_refused(org: Recommender, model: TopicModel) -> None:
    other = TopicModel.fit(org.document_vectors()[:-1], [d.id for d in org.documents][:-1], CONFIG)
    with pytest.raises(ArtifactFormatError, match="fitted on 15 documents"):
        expertise_map(org, other, CONFIG)


def test_save_and_load_round_trip_and_refusals(model: TopicModel, tmp_path: Path) -> None:
    target = tmp_path / "topics"
    model.save(target, extras={"topics.md": "# topics\n"})
    model.save(target)  # a second save replaces the first
    loaded = TopicModel.load(target)
    assert loaded.document_ids == model.document_ids
    assert np.array_equal(loaded.assignments, model.assignments)
    assert np.allclose(loaded.centroids, model.centroids)
    assert (loaded.count, loaded.silhouette, loaded.seed) == (3, model.silhouette, 0)
    assert not (target / "topics.md").exists()
    assert not list(tmp_path.glob(".topics.*")), "no leftovers"

    with pytest.raises(ArtifactNotFoundError, match="whoknows topics"):
        TopicModel.load(tmp_path / "nowhere")
    np.save(target / "assignments.npy", np.full(3, 7, dtype=np.int64))
    with pytest.raises(ArtifactFormatError, match="3 assignments for 16 documents"):
        TopicModel.load(target)
    (target / "topic-model.json").write_text("{not json")
    with pytest.raises(ArtifactFormatError, match="damaged"):
        TopicModel.load(target)

    foreign = tmp_path / "notes"
    foreign.mkdir()
    (foreign / "mine.txt").write_text("keep me")
    with pytest.raises(ArtifactError, match="refusing to replace"):
        model.save(foreign)
    assert (foreign / "mine.txt").read_text() == "keep me"


def test_the_count_is_chosen_when_not_given(org: Recommender) -> None:
    vectors, ids = org.document_vectors(), [d.id for d in org.documents]
    chosen = TopicModel.fit(vectors, ids, TopicConfig(count=None))
    assert chosen.count == 3 and chosen.silhouette is not None and chosen.silhouette > 0
    assert [topic_count(n, None) for n in (3, 1934, 20_000)] == [2, 31, 50]
    assert topic_count(5, 10) == 5, "never more topics than documents"


def test_restricted_documents_neither_place_nor_number_the_topics(org: Recommender) -> None:
    vectors, ids = org.document_vectors(), [d.id for d in org.documents]
    fitted = fit_topics(org, CONFIG)
    assert fitted.fitted_on == 15 and fitted.topic_of("q5") == fitted.topic_of("q1")
    moved = vectors.copy()
    moved[ids.index("q5")] = vectors[ids.index("p1")]  # a restricted document anywhere else
    again = TopicModel.fit(moved, ids, CONFIG, fit_on=org.visible_documents(()))
    assert np.array_equal(np.delete(again.assignments, 4), np.delete(fitted.assignments, 4))
    # Numbered by public documents: nobody can tell from the ids where hidden ones are.
    found = expertise_map(org, fitted, CONFIG, groups=())
    assert [(t.id, t.documents) for t in found.topics] == [(0, 6), (1, 5), (2, 4)]


def test_the_greedy_bus_factor() -> None:
    from scipy import sparse

    def factor(rows: list[list[int]]) -> int:
        return bus_factor(sparse.csr_array(np.array(rows, dtype=float)))

    assert factor([[1, 0], [1, 0], [0, 1], [1, 1]]) == 2
    assert factor([[1, 1], [1, 1], [1, 1]]) == 2  # two who both know everything
    assert factor([[1, 0], [1, 0], [1, 0], [0, 1]]) == 1
    assert factor([[0, 0], [0, 0], [1, 0]]) == 0  # most documents have no expert already
    assert factor([[0, 0], [1, 0]]) == 1  # half is not most
    assert bus_factor(sparse.csr_array((0, 3))) == 0


def test_class_tfidf_prefers_a_topic_s_own_words() -> None:
    from scipy import sparse

    counts = sparse.csr_array(np.array([[4.0, 4.0, 0.0], [0.0, 4.0, 4.0]]))
    scores = class_tfidf(counts).toarray()
    assert scores[0, 0] > scores[0, 1] and scores[1, 2] > scores[1, 1]
    # A word in every topic still scores, but below each topic's own word.
    assert scores[0, 1] == pytest.approx(0.5 * np.log1p(8 / 8))


def test_the_map_is_fast_once_the_index_is_read(org: Recommender, model: TopicModel) -> None:
    expertise_map(org, model, CONFIG)
    started = time.perf_counter()
    for groups in ((), SECRET, None):
        expertise_map(org, model, CONFIG, groups=groups)
    assert time.perf_counter() - started < 0.5


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"silo_share": 0.5}, "silo_share must be above 0.5"),
        ({"count": 0}, "count must be a whole number"),
        ({"active_days": -1}, "active_days must be a number > 0"),
        ({"label_terms": True}, "label_terms must be a whole number"),
        ({"clusters": 4}, "unknown topics parameter.*clusters"),
    ],
)
def test_bad_parameters_are_named(values: dict[str, object], message: str) -> None:
    with pytest.raises(ConfigurationError, match=message):
        TopicConfig.from_dict(values)


def test_to_dict_is_json_ready(org: Recommender, model: TopicModel) -> None:
    data = json.loads(json.dumps(expertise_map(org, model, CONFIG).to_dict()))
    assert set(data) == {"documents", "topics", "departments", "heat", "silos", "fragile"}
    assert data["documents"] == 16 and len(data["heat"]) == len(data["departments"])
    topic = data["topics"][0]
    assert set(topic) == {
        "id", "label", "terms", "documents", "people", "departments", "experts",
        "bus_factor", "silo", "fragile",
    }  # fmt: skip
    assert set(topic["experts"][0]) == {"id", "name", "department", "weight", "documents", "active"}


def test_restricted_documents_never_place_topics_even_when_most(encoder: Encoder) -> None:
    documents, people = organisation()
    public = {d.id for d in documents[:4]}
    closed = [
        d if d.id in public else dataclasses.replace(d, allowed_groups=("board",))
        for d in documents
    ]
    index = Recommender.build(closed, people, encoder=encoder)
    fitted = fit_topics(index, CONFIG)
    assert fitted.fitted_on == 4, "only the public documents placed the topics"
    assert fitted.count <= 4
