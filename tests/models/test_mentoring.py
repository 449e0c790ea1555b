"""Mentor matching on a small organisation where the right pairs are known."""

from __future__ import annotations

import pytest

from models import mentoring
from models.encoder import Encoder
from models.exceptions import InvalidQueryError, UnknownPersonError
from models.mentoring import CROSS_BONUS, matches
from models.recommender import Recommender
from models.records import Contribution, Document, Person

DAY = "2024-03-{:02d}"


def _thread(
    doc_id: str,
    title: str,
    text: str,
    department: str,
    asker: str | None,
    answerers: tuple[str, ...],
    *,
    day: int = 1,
    allowed_groups: tuple[str, ...] = (),
) -> Document:
    """A question and its answers, as a Q&A site or a help channel records them."""
    contributions = [Contribution(asker, "asked", created=DAY.format(day))] if asker else []
    contributions += [Contribution(a, "answered", created=DAY.format(day)) for a in answerers]
    return Document(
        doc_id,
        title,
        text,
        department=department,
        authors=tuple(c.person for c in contributions),
        contributions=tuple(contributions),
        tags=("qec",) if doc_id.startswith("x") else (),
        created=DAY.format(day),
        allowed_groups=allowed_groups,
    )


def organisation() -> tuple[list[Document], list[Person]]:
    """Who should mentor whom is known:

    - ana (Physics) asked about quantum error correction; mo (Engineering) answered
      five such questions, two of them hers; sam (Physics) answered one.
    - opt (Engineering) answered as many, but opted out.
    - bea (Ops, a department without documents) asked about Kubernetes rollouts; kim
      (Ops) answered three such questions, raj (Engineering) two of the same three.
    - una asked about satellite orbits; only zed wrote about them, in a document
      restricted to the ``orbital`` group.
    - dan wants to learn payroll tax withholding, which eve offers to mentor; neither
      wrote anything.
    """
    qec = "How do surface codes correct bit flip and phase flip errors on logical qubits?"
    kube = "Kubernetes deployment rollout is stuck with pods in CrashLoopBackOff."
    documents = [
        _thread("x1", "Surface code decoding", qec, "Physics", "ana", ("mo",), day=2),
        _thread("x2", "Logical qubit error rates", qec, "Physics", "ana", ("mo", "opt"), day=3),
        _thread("x3", "Stabilizer measurements", qec, "Engineering", "ty", ("mo", "opt"), day=4),
        _thread(
            "x4",
            "Quantum error correction threshold",
            qec,
            "Engineering",
            "ty",
            ("mo", "opt"),
            day=5,
        ),
        _thread("x5", "Syndrome extraction circuits", qec, "Engineering", "ty", ("mo", "opt")),
        _thread(
            "x6",
            "Correcting phase flips with a repetition code",
            qec,
            "Physics",
            "ty",
            ("sam",),
            day=6,
        ),
        _thread("y1", "Rollout stuck", kube, "Platform", "bea", ()),
        _thread("y2", "Kubernetes rollout hangs", kube, "Platform", "ty", ("kim", "raj")),
        _thread(
            "y3", "Pods in CrashLoopBackOff after deploy", kube, "Platform", "ty", ("kim", "raj")
        ),
        _thread("y4", "Deployment rollout never finishes", kube, "Platform", "ty", ("kim",)),
        _thread(
            "z1",
            "Orbit determination",
            "How do I estimate a satellite orbit from radar tracking data?",
            "Space",
            "una",
            (),
        ),
        _thread(
            "z2",
            "Satellite orbit determination with Kalman filters",
            "Estimate the satellite orbit from radar tracking with an extended Kalman filter.",
            "Engineering",
            None,
            ("zed",),
            allowed_groups=("orbital",),
        ),
        _thread(
            "p1",
            "Office plants",
            "Water the office plants on Fridays.",
            "Physics",
            "ty",
            ("sam",),
            day=7,
        ),
    ]
    people = [
        Person("ana", "Ana", department="Physics"),
        Person("mo", "Mo", department="Engineering"),
        Person("sam", "Sam", department="Physics"),
        Person("opt", "Opt Out", department="Engineering", opt_out=True),
        Person("ty", "Ty", department="Engineering"),
        Person("bea", "Bea", department="Ops"),
        Person("kim", "Kim", department="Ops"),
        Person("raj", "Raj", department="Engineering"),
        Person("una", "Una", department="Space"),
        Person("zed", "Zed", department="Engineering"),
        Person("dan", "Dan", department="Finance", wants_to_learn=("payroll tax withholding",)),
        Person("eve", "Eve", department="HR", can_mentor=("payroll and tax withholding",)),
    ]
    return documents, people


@pytest.fixture(scope="module")
def org(encoder: Encoder) -> Recommender:
    documents, people = organisation()
    return Recommender.build(documents, people, encoder=encoder)


def ids(found: list[mentoring.Match]) -> list[str]:
    return [m.person.id for m in found]


def test_the_colleague_who_answered_the_learner_s_topic_is_their_mentor(
    org: Recommender,
) -> None:
    found = matches(org, "ana", "learn")
    assert ids(found)[0] == "mo"
    assert ids(found).index("mo") < ids(found).index("sam")
    best = found[0]
    assert best.crosses is True
    assert found[ids(found).index("sam")].crosses is False
    assert {d.id for d in best.evidence} <= {"x1", "x2", "x3", "x4", "x5"}
    assert best.evidence, "the match shows the mentor's documents"
    assert best.signals["history"] == 2  # mo answered both of ana's questions
    assert "qec" in best.topics
    assert "Ana" in best.reason and "2 times before" in best.reason
    assert best.score == pytest.approx(
        sum(best.signals[k] for k in ("fit", "reciprocity", "capacity", "cross_functional"))
    )
    shown = best.to_dict()
    assert shown["person"]["id"] == "mo" and shown["evidence"][0]["id"].startswith("x")


def test_cross_functional_prefers_another_department_at_comparable_evidence(
    org: Recommender,
) -> None:
    # kim (same department as bea) answered one more rollout question than raj.
    assert ids(matches(org, "bea", "learn"))[:2] == ["kim", "raj"]
    across = matches(org, "bea", "learn", cross_functional=True)
    assert ids(across)[:2] == ["raj", "kim"]
    assert across[0].crosses is True and across[1].crosses is False
    assert across[0].signals["cross_functional"] == pytest.approx(CROSS_BONUS)
    assert across[1].signals["cross_functional"] == 0.0


def test_a_learner_who_asked_nothing_gets_the_most_active_of_their_department(
    org: Recommender,
) -> None:
    # sam asked nothing; of Physics' documents mo wrote two (opt, hidden, two too).
    found = matches(org, "sam", "learn")
    assert ids(found) == ["mo"]
    assert found[0].reason == "One of the most active in Physics (2 documents there)"
    assert {d.id for d in found[0].evidence} == {"x1", "x2"}
    assert found[0].topics == ("qec",), "what mo writes about there"


def test_declared_topics_pair_people_without_any_document(org: Recommender) -> None:
    mentors = matches(org, "dan", "learn")
    assert ids(mentors)[0] == "eve"
    assert mentors[0].topics[0] == "payroll and tax withholding"
    assert "offers to mentor" in mentors[0].reason
    assert ids(matches(org, "eve", "mentor")) == ["dan"]


def test_a_mentor_is_offered_the_learners_who_want_what_they_know(org: Recommender) -> None:
    learners = matches(org, "mo", "mentor")
    assert "ana" in ids(learners)
    assert not {"bea", "dan", "una"} & set(ids(learners)), "they want something else"
    ana = learners[ids(learners).index("ana")]
    assert {d.id for d in ana.evidence} == {"x1", "x2"}, "her questions"
    # A pair scores the same from both sides (capacity and cross-functional aside).
    mo = matches(org, "ana", "learn")[0]
    assert ana.signals["fit"] == pytest.approx(mo.signals["fit"])
    assert ana.signals["reciprocity"] == pytest.approx(mo.signals["reciprocity"])


def test_a_restricted_document_matches_only_for_callers_who_may_see_it(
    org: Recommender,
) -> None:
    outsider = matches(org, "una", "learn", groups=())
    assert "zed" not in ids(outsider)
    assert all(d.visible_to(()) for m in outsider for d in m.evidence)
    member = matches(org, "una", "learn", groups=("orbital",))
    assert ids(member)[0] == "zed"
    assert [d.id for d in member[0].evidence] == ["z2"]
    assert "zed" in ids(matches(org, "una", "learn"))  # trusted caller
    assert matches(org, "zed", "mentor", groups=()) == []
    assert ids(matches(org, "zed", "mentor", groups=("orbital",))) == ["una"]


def test_opted_out_people_and_the_person_themself_never_appear(org: Recommender) -> None:
    for person in ("ana", "bea", "ty", "sam", "mo"):
        for goal in mentoring.GOALS:
            found = ids(matches(org, person, goal, limit=mentoring.MAX_MATCHES))
            assert "opt" not in found
            assert person not in found
    with pytest.raises(UnknownPersonError):
        matches(org, "opt", "learn")


def test_recent_exposure_lowers_a_mentor(org: Recommender) -> None:
    calm = matches(org, "ana", "learn")[0]
    busy = matches(org, "ana", "learn", load={"mo": 30.0, "sam": 1.0, "kim": 1.0})
    mo = busy[ids(busy).index("mo")]
    assert mo.signals["capacity"] < 0
    assert mo.score == pytest.approx(calm.score + mo.signals["capacity"])
    assert "asked much lately" in mo.reason


def test_bad_arguments_name_their_field(org: Recommender) -> None:
    with pytest.raises(InvalidQueryError) as goal:
        matches(org, "ana", "teach")  # type: ignore[arg-type]
    assert goal.value.field == "goal"
    for limit in (0, mentoring.MAX_MATCHES + 1):
        with pytest.raises(InvalidQueryError) as bad:
            matches(org, "ana", "learn", limit=limit)
        assert bad.value.field == "limit"
    with pytest.raises(UnknownPersonError):
        matches(org, "nobody", "learn")
    assert len(matches(org, "ana", "learn", limit=2)) == 2
