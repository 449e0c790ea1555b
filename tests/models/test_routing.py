from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import sparse

from models.recommender import Recommender
from models.routing import (
    CROSS_BONUS,
    DIVERSITY,
    HALF_LIFE_DAYS,
    LOAD_CAP,
    Asking,
    decayed,
    exposure_weight,
    route,
    typical_exposure,
)

DEPARTMENTS = ["Data", "Facilities", "Data", "Finance"]


def plain(scores: list[float], **overrides: object) -> list[int]:
    options: dict[str, object] = {
        "asker": None,
        "asker_department": None,
        "cross_functional": False,
        "load_balance": 0.0,
        "limit": 4,
        "typical": 0.0,
    }
    options.update(overrides)
    exposure = options.pop("exposure", np.zeros(len(scores)))
    votes = options.pop("votes", None)
    routed = route(
        np.array(scores),
        DEPARTMENTS,
        np.asarray(exposure),
        votes,
        **options,  # type: ignore[arg-type]
    )
    return [int(i) for i in routed.order]


def test_without_asker_load_or_overlap_the_order_is_the_score_order() -> None:
    assert plain([0.1, 0.9, 0.5, 0.3]) == [1, 2, 3, 0]


def test_the_asker_is_never_listed() -> None:
    assert plain([0.1, 0.9, 0.5, 0.3], asker=1) == [2, 3, 0]


def test_across_functions_a_comparable_colleague_elsewhere_comes_first() -> None:
    scores = [1.0, 0.9, 0.2, 0.1]  # Data, Facilities, Data, Finance
    assert plain(scores, asker_department="Data")[0] == 0
    across = route(
        np.array(scores),
        DEPARTMENTS,
        np.zeros(4),
        None,
        typical=0.0,
        asker=None,
        asker_department="Data",
        cross_functional=True,
        load_balance=0.0,
        limit=4,
    )
    assert [int(i) for i in across.order][:2] == [1, 0]
    assert across.crosses == [False, True, False, True]
    spread = float(np.std(scores))
    assert across.adjustments["cross_functional"][1] == pytest.approx(CROSS_BONUS * spread)
    # A much stronger colleague of the same department still comes first.
    assert plain([3.0, 0.9, 0.2, 0.1], asker_department="Data", cross_functional=True)[0] == 0


def test_load_lowers_the_much_asked_gently_and_never_past_the_cap() -> None:
    scores = np.array([1.0, 0.95, 0.2, 0.1])
    exposure = np.array([9.0, 1.0, 0.0, 0.0])
    typical = 2.0  # the organisation's: most people asked were asked twice
    routed = route(
        scores,
        DEPARTMENTS,
        exposure,
        None,
        typical=typical,
        asker=None,
        asker_department=None,
        cross_functional=False,
        load_balance=4.0,
        limit=4,
    )
    assert int(routed.order[0]) == 1, "a comparable colleague takes the load"
    spread = float(np.std(scores))
    expected = -min(4.0 * math.log1p(9.0 / typical), LOAD_CAP) * spread
    assert routed.adjustments["load"][0] == pytest.approx(expected)
    assert routed.adjustments["load"][2] == 0.0, "no exposure, no load"
    far = [10.0, 0.95, 0.2, 0.1]
    assert plain(far, exposure=exposure, load_balance=100.0, typical=typical)[0] == 0, (
        "the cap keeps a clear best"
    )


def test_load_is_measured_against_the_organisation_not_the_candidates() -> None:
    scores = [3.0, 2.9, 1.0, 0.5]
    # One recommendation long ago, where people are typically asked 5 times: next to
    # nothing, although this candidate is the only one of the question with any.
    faint = plain(scores, exposure=[0.016, 0, 0, 0], load_balance=4.0, typical=5.0)
    assert faint == [0, 1, 2, 3]
    # Asked ten times the typical: the comparable colleague is asked first.
    heavy = plain(scores, exposure=[50.0, 0, 0, 0], load_balance=4.0, typical=5.0)
    assert heavy[0] == 1
    assert plain(scores, exposure=[0.016, 0.016, 0, 0], load_balance=4.0, typical=5.0)[:2] == [
        0,
        1,
    ]


def test_the_typical_exposure_is_the_mean_of_those_with_any() -> None:
    assert typical_exposure([0.0, 2.0, 4.0, 0.0]) == pytest.approx(3.0)
    assert typical_exposure([]) == 0.0 and typical_exposure([0.0]) == 0.0


def test_a_near_copy_of_a_listed_colleague_yields_to_other_evidence() -> None:
    # Candidates 0 and 1 vote for the same documents; 2 for another.
    votes = sparse.csc_array(
        np.array([[1.0, 1.0, 0.0, 0.0], [0.5, 0.5, 0.0, 0.0], [0.0, 0.0, 1.0, 1.0]])
    )
    scores = [1.0, 0.95, 0.9, 0.1]
    order = plain(scores, votes=votes)
    assert order[:2] == [0, 2], "the backup offered has other evidence"
    spread = float(np.std(scores))
    routed = route(
        np.array(scores),
        DEPARTMENTS,
        np.zeros(4),
        votes,
        typical=0.0,
        asker=None,
        asker_department=None,
        cross_functional=False,
        load_balance=0.0,
        limit=4,
    )
    assert routed.adjustments["diversity"][1] == pytest.approx(-DIVERSITY * spread)


def test_exposure_weighs_position_and_age() -> None:
    assert exposure_weight(1) == 1.0 and exposure_weight(3) == pytest.approx(0.5)
    assert decayed(2.0, HALF_LIFE_DAYS) == pytest.approx(1.0)
    assert decayed(2.0, -5) == 2.0


def test_the_recommender_routes_with_who_asks(tiny: Recommender) -> None:
    question = "my kafka consumer group is lagging behind"
    plain_people = [h.person.id for h in tiny.recommend(question, 1, 4).people]
    assert plain_people[0] == "ada"
    asked_by_ada = tiny.recommend(question, 1, 4, asking=Asking(asker="ada"))
    assert "ada" not in [h.person.id for h in asked_by_ada.people], "never recommended to herself"
    assert {h.person.id: h.crosses for h in asked_by_ada.people}.get("cy") is False
    across = tiny.recommend(question, 1, 4, asking=Asking(asker="cy", cross_functional=True))
    for hit in across.people:
        assert hit.crosses == (hit.person.department != "Data")
        if hit.crosses:
            assert hit.signals["cross_functional"] > 0
    loaded = tiny.recommend(question, 1, 4, asking=Asking(exposure={"ada": 50.0, "cy": 1.0}))
    ada = next(h for h in loaded.people if h.person.id == "ada")
    assert ada.signals["load"] < 0
