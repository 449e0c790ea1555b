"""The administrators' dashboard in a real browser (Debian's Chromium, driven by Playwright).

The service serves the sample index with two weeks of logged use: the page asks
for an admin key, then shows the heat map, silos and fragile topics, the gap
queue and the charts; axe-core checks accessibility; the page is photographed
at desktop and phone width (test-artifacts/screenshots/dashboard-*.png).
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from models.recommender import Recommender
from pipelines.store import FeedbackEvent, LoggedItem, RecommendationLog
from pipelines.store.records import utcnow
from tests.browser import Site, chromium, running_site, serious_violations
from tests.conftest import ROOT

pytestmark = pytest.mark.slow

ARTIFACTS = Path(os.environ.get("WHOKNOWS_TEST_ARTIFACTS", ROOT / "test-artifacts")) / "screenshots"
GAP = "visitor parking permits"


def used(site: Site, recommender: Recommender) -> None:
    """Fourteen days of questions: answered ones with feedback, and a recurring gap."""
    people = [p for p in recommender.people if not p.opt_out][:12]
    documents = list(recommender.documents)[:6]
    now = utcnow()
    for day in range(14):
        for n in range(1 + day % 4):
            rec_id = uuid.uuid4().hex
            person = people[(day + n) % len(people)]
            asker = people[(day * 3 + n + 1) % len(people)]
            items = (
                LoggedItem("resource", documents[n % len(documents)].id, 1),
                LoggedItem("person", person.id, 1, person.department),
            )
            when = now - timedelta(days=13 - day, hours=n)
            site.store.log_recommendation(
                RecommendationLog(
                    rec_id,
                    when,
                    "dashboard-test",
                    asker.id,
                    asker.department,
                    "how do qubits decohere",
                    "v",
                    0.7,
                    items,
                    0.6,
                )  # fmt: skip
            )
            if n % 2 == 0:
                site.store.add_feedback(
                    FeedbackEvent(rec_id, person.id, "person", "contacted", "dashboard-test", when)
                )
        if day % 3 == 0:
            site.store.log_recommendation(
                RecommendationLog(
                    uuid.uuid4().hex,
                    now - timedelta(days=13 - day),
                    "dashboard-test",
                    None,
                    None,
                    GAP,
                    "v",
                    0.1,
                    (),
                    None,
                )  # fmt: skip
            )


@pytest.fixture(scope="module")
def site(sample: Recommender, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    with running_site(sample, tmp_path_factory.mktemp("dashboard")) as running:
        used(running, sample)
        yield running


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    with chromium() as launched:
        yield launched


def open_dashboard(browser: Any, site: Site, width: int = 1280, height: int = 900) -> Any:
    """A new page at /dashboard, signed in with a new admin key, everything shown."""
    _, secret = site.store.create_key(f"admin-{uuid.uuid4().hex[:8]}", [], admin=True)
    page = browser.new_context(viewport={"width": width, "height": height}).new_page()
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.goto(site.service + "/dashboard")
    page.locator("#key-input").fill(secret)
    page.locator("#key button").click()
    for section in ("#usage", "#map", "#gaps", "#silos", "#fragile"):
        page.locator(section).wait_for(state="visible", timeout=30_000)
    assert not errors, errors
    return page


def test_the_dashboard_shows_the_map_the_gaps_and_the_charts(browser: Any, site: Site) -> None:
    page = open_dashboard(browser, site)
    topics = page.locator("#heat tbody tr")
    assert topics.count() >= 2
    header = page.locator("#heat thead th").all_inner_texts()
    assert header[:2] == ["Topic", "Documents"] and "Bus factor" in header
    assert page.locator("#gap-table tbody tr").first.inner_text().startswith(GAP)
    assert "5" in page.locator("#gap-table tbody tr").first.locator("td").nth(1).inner_text()
    assert page.locator("figure.chart").count() == 7
    questions = page.locator("figure.chart").first
    assert questions.locator("h3").inner_text() == "Questions asked"
    assert questions.locator("svg path").nth(0).get_attribute("d")
    rows = questions.locator("details table tbody tr").count()
    assert rows == 30, "one point per day of the last 30"
    page.context.close()


def test_a_key_that_is_not_an_admin_s_is_told_so(browser: Any, site: Site) -> None:
    _, secret = site.store.create_key(f"plain-{uuid.uuid4().hex[:8]}", [])
    page = browser.new_context().new_page()
    page.goto(site.service + "/dashboard")
    page.locator("#key-input").fill(secret)
    page.locator("#key button").click()
    page.locator("#error").wait_for(state="visible")
    assert "not an administrator" in page.locator("#error").inner_text()
    assert page.locator("#key").is_visible() and page.locator("#map").is_hidden()
    page.context.close()


def test_no_serious_accessibility_violation(browser: Any, site: Site) -> None:
    page = open_dashboard(browser, site)
    page.locator("figure.chart summary").first.click()
    serious = serious_violations(page)
    assert serious == [], serious
    page.context.close()


@pytest.mark.parametrize(("name", "width", "height"), [("desktop", 1280, 900), ("phone", 390, 844)])
def test_screenshots_at_desktop_and_phone_width(
    browser: Any, site: Site, name: str, width: int, height: int
) -> None:
    page = open_dashboard(browser, site, width, height)
    overflow = page.evaluate("() => document.documentElement.scrollWidth > window.innerWidth")
    assert not overflow, "nothing runs off the side of the screen (tables scroll inside)"
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS / f"dashboard-{name}.png"
    page.screenshot(path=str(path), full_page=True)
    page.context.close()
    assert path.stat().st_size > 10_000
