"""The web component in Chromium: script size, and time from Enter to drawn results.

Run with `make bench`. Each of 20 questions is typed into <whoknows-search> on a
host page of another origin, as in the browser tests; the component marks the
moment Enter is pressed and the moment the results are drawn
(performance.measure "whoknows:results"). The same questions are also sent as a
bare fetch() from the page (20 other questions, not yet asked: the service
remembers recent query vectors), the HTTP call the component wraps.
"""

from __future__ import annotations

import statistics
from pathlib import Path

import pytest

from models.recommender import Recommender
from tests.benchmarks.conftest import report
from tests.browser import chromium, component, running_site

pytestmark = pytest.mark.benchmark

SCRIPT = Path(__file__).resolve().parents[2] / "serving" / "static" / "whoknows.js"


def test_enter_to_results_in_the_browser(
    sample: Recommender, sample_queries: list[str], tmp_path: Path
) -> None:
    questions = sample_queries[:20]
    with running_site(sample, tmp_path, limit=5) as site, chromium() as browser:
        page = browser.new_page(viewport={"width": 1280, "height": 900})
        page.goto(site.host_page())
        component(page).locator("select").wait_for()
        drawn = []
        for question in ["warm up the encoder", *questions]:
            page.evaluate("() => performance.clearMeasures()")
            component(page).locator("input[type=search]").fill(question)
            component(page).locator("input[type=search]").press("Enter")
            page.wait_for_function(
                "() => performance.getEntriesByName('whoknows:results').length > 0"
            )
            drawn.append(
                page.evaluate("() => performance.getEntriesByName('whoknows:results')[0].duration")
            )
            cards = component(page).locator("ol > li.card")
            assert cards.count() > 0, f"no results drawn for {question!r}"
        bare = page.evaluate(
            """async ([api, key, questions]) => {
                const times = [];
                const headers = {'Authorization': 'Bearer ' + key,
                                 'Content-Type': 'application/json'};
                for (const query of questions) {
                    const body = JSON.stringify({query, limit_resources: 5, limit_people: 5});
                    const start = performance.now();
                    const r = await fetch(api + '/v1/recommendations',
                                          {method: 'POST', headers, body});
                    const answer = await r.json();
                    times.push(performance.now() - start);
                    if (!r.ok || !answer.resources.length || !answer.people.length) {
                        throw new Error(`a broken answer to ${query}: ${r.status}`);
                    }
                }
                return times;
            }""",
            # Other questions: the service remembers recent query vectors.
            [site.service, component(page).get_attribute("api-key"), sample_queries[20:40]],
        )
    ours, http = statistics.median(drawn[1:]), statistics.median(bare)
    report(
        "web component in Chromium, sample index, 20 questions (after one warm-up)",
        {
            "whoknows.js bytes (uncompressed)": SCRIPT.stat().st_size,
            "Enter to results drawn, median / max ms": f"{ours:.1f} / {max(drawn[1:]):.1f}",
            "bare fetch of 20 other questions from the page, median ms": f"{http:.1f}",
            "ratio of medians": f"{ours / http:.2f}",
        },
    )
