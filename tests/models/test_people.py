"""The people path has one owner: what ranker training computes is what the service ranks."""

from __future__ import annotations

import numpy as np
import pytest

from models.recommender import Recommender
from models.results import Filters

QUESTIONS = [
    "my kafka consumer group is lagging behind",
    "who can fix the shingles on top of our building",
    "who handles payslips and salary tax withholding?",
]


@pytest.mark.parametrize("question", QUESTIONS)
def test_training_features_rank_people_exactly_as_the_service_does(
    tiny: Recommender, question: str
) -> None:
    served = tiny.recommend(question, limit_resources=1, limit_people=4).people
    (retrieval,) = tiny.retrieve([question])
    candidates = tiny.people_candidates(retrieval, tiny.rankers["evidence"])
    scores = tiny.rankers["people"].score(candidates.features)
    order = np.argsort(-scores, kind="stable")[:4]
    assert [tiny.people[int(candidates.rows[i])].id for i in order] == [h.person.id for h in served]
    assert [float(scores[i]) for i in order] == pytest.approx([h.score for h in served], abs=1e-5)


def test_training_sees_the_caller_s_filters_as_the_service_does(tiny: Recommender) -> None:
    facilities = Filters(departments=("Facilities",))
    served = tiny.recommend("kafka consumers", 1, 4, facilities).people
    (retrieval,) = tiny.retrieve(["kafka consumers"], facilities)
    candidates = tiny.people_candidates(retrieval, tiny.rankers["evidence"])
    assert {tiny.people[int(r)].department for r in candidates.rows} <= {"Facilities"}
    assert {h.person.id for h in served} <= {tiny.people[int(r)].id for r in candidates.rows}
