"""The people path has one owner: what ranker training computes is what the service ranks."""

from __future__ import annotations

import numpy as np
import pytest

from models.recommender import Recommender
from models.results import Filters

#: What routing adds to a person's score, beside their expertise (models.routing).
ROUTING_SIGNALS = {"load", "cross_functional", "diversity"}

QUESTIONS = [
    "my kafka consumer group is lagging behind",
    "who can fix the shingles on top of our building",
    "who handles payslips and salary tax withholding?",
]


@pytest.mark.parametrize("question", QUESTIONS)
def test_training_features_score_people_exactly_as_the_service_does(
    tiny: Recommender, question: str
) -> None:
    served = tiny.recommend(question, limit_resources=1, limit_people=4).people
    (retrieval,) = tiny.retrieve([question])
    candidates = tiny.people_candidates(retrieval, tiny.rankers["evidence"])
    scores = tiny.rankers["people"].score(candidates.features)
    trained = {
        tiny.people[int(r)].id: float(s) for r, s in zip(candidates.rows, scores, strict=True)
    }
    for hit in served:
        # What routing added (load, diversity, ...) is reported apart from the expertise.
        routing = sum(v for k, v in hit.signals.items() if k in ROUTING_SIGNALS)
        assert hit.score - routing == pytest.approx(trained[hit.person.id], abs=1e-5)
    best = tiny.people[int(candidates.rows[int(np.argmax(scores))])].id
    assert served[0].person.id == best, "nothing is routed ahead of the best without a reason"


def test_training_sees_the_caller_s_filters_as_the_service_does(tiny: Recommender) -> None:
    facilities = Filters(departments=("Facilities",))
    served = tiny.recommend("kafka consumers", 1, 4, facilities).people
    (retrieval,) = tiny.retrieve(["kafka consumers"], facilities)
    candidates = tiny.people_candidates(retrieval, tiny.rankers["evidence"])
    assert {tiny.people[int(r)].department for r in candidates.rows} <= {"Facilities"}
    assert {h.person.id for h in served} <= {tiny.people[int(r)].id for r in candidates.rows}
