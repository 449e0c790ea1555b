"""The web component in a real browser (Debian's Chromium, driven by Playwright).

A host page on another origin (another port of 127.0.0.1) embeds
<whoknows-search> from the service, which serves the sample index: a person asks
with the mouse and with the keyboard alone, gives feedback that reaches the
database, opens a colleague's profile; axe-core checks accessibility; the page
is photographed at desktop and phone width (test-artifacts/screenshots/).
"""

from __future__ import annotations

import os
import re
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from models.recommender import Recommender
from pipelines.store.schema import feedback
from serving.limits import RateLimiter
from tests.browser import Site, chromium, component, running_site, serious_violations
from tests.browser import ask as browser_ask
from tests.conftest import ROOT

pytestmark = pytest.mark.slow

ARTIFACTS = Path(os.environ.get("WHOKNOWS_TEST_ARTIFACTS", ROOT / "test-artifacts")) / "screenshots"
QUESTION = "How do I run a circuit on real IBM quantum hardware?"


@pytest.fixture(scope="module")
def site(sample: Recommender, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    with running_site(sample, tmp_path_factory.mktemp("host")) as running:
        yield running


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    with chromium() as launched:
        yield launched


@pytest.fixture
def page(browser: Any) -> Iterator[Any]:
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    opened = context.new_page()
    errors: list[str] = []
    opened.on("pageerror", lambda error: errors.append(str(error)))
    yield opened
    context.close()
    assert not errors, f"the page raised: {errors}"


def ask(page: Any, question: str = QUESTION) -> None:
    browser_ask(page, question)


def feedback_rows(site: Site) -> list[Any]:
    with site.store.engine.connect() as connection:
        return list(connection.execute(select(feedback)).all())


def active(page: Any) -> str:
    """What has the keyboard focus, inside the component's shadow root."""
    return str(
        page.evaluate(
            """() => {
                const el = document.querySelector('whoknows-search').shadowRoot.activeElement;
                return el ? `${el.tagName}:${el.getAttribute('type') || ''}:${el.textContent}` : '';
            }"""
        )
    )


def test_a_host_page_on_another_origin_asks_and_records_feedback(page: Any, site: Site) -> None:
    page.goto(site.host_page())
    ask(page)
    cards = component(page).locator("li.card")
    assert cards.count() == 6, "three resources and three colleagues (limit=3)"
    first = cards.first
    assert "Grover" in first.locator(".title").inner_text()
    first.locator("summary").click()
    assert "Found by" in first.locator("details").inner_text()
    helpful = first.get_by_role("button", name="Helpful", exact=True)
    helpful.click()
    page.wait_for_function(
        "() => document.querySelector('whoknows-search').shadowRoot"
        ".querySelector('li.card button[aria-pressed=true]')"
    )
    rows = feedback_rows(site)
    assert [(r.action, r.item_kind, r.caller) for r in rows][-1] == (
        "helpful",
        "resource",
        site.key_name,
    )
    assert "recorded" in component(page).locator(".status").inner_text()


def test_the_same_flow_with_the_keyboard_alone(page: Any, site: Site) -> None:
    page.goto(site.host_page())
    page.keyboard.press("Tab")
    assert active(page).startswith("INPUT:search"), "the question box takes the first Tab"
    page.keyboard.type("who can explain quantum teleportation?")
    page.keyboard.press("Enter")
    component(page).locator("li.card").first.wait_for(timeout=20_000)
    before = len(feedback_rows(site))
    for _ in range(60):  # through filters, links and disclosures to a colleague's buttons
        page.keyboard.press("Tab")
        if active(page) == "BUTTON:button:Contacted":
            break
    assert active(page) == "BUTTON:button:Contacted", "every control is reachable by Tab"
    page.keyboard.press("Space")
    page.wait_for_function(
        "() => document.querySelector('whoknows-search').shadowRoot"
        ".querySelector('button[aria-pressed=true]')"
    )
    assert feedback_rows(site)[-1].action == "contacted" and len(feedback_rows(site)) == before + 1
    for _ in range(30):  # back to a colleague's name, which opens their profile
        page.keyboard.press("Shift+Tab")
        if component(page).locator("button.link:focus").count():
            break
    page.keyboard.press("Enter")
    dialog = component(page).locator("dialog[open]")
    dialog.wait_for(timeout=10_000)
    assert "Strongest documents" in dialog.inner_text()
    assert active(page) == "BUTTON:button:Close", "the profile takes the focus"
    page.keyboard.press("Escape")
    assert component(page).locator("dialog[open]").count() == 0
    assert active(page).startswith("BUTTON:button:"), "the focus returns to the colleague"


def test_no_serious_accessibility_violation(page: Any, site: Site) -> None:
    page.goto(site.host_page())
    ask(page)
    component(page).locator("summary").first.click()
    serious = serious_violations(page)
    assert serious == [], serious
    component(page).locator("button.link").first.click()
    component(page).locator("dialog[open]").wait_for()
    with_dialog = serious_violations(page)
    assert with_dialog == [], with_dialog


@pytest.mark.parametrize(("name", "width", "height"), [("desktop", 1280, 900), ("phone", 390, 844)])
def test_screenshots_at_desktop_and_phone_width(
    browser: Any, site: Site, name: str, width: int, height: int
) -> None:
    context = browser.new_context(viewport={"width": width, "height": height})
    page = context.new_page()
    page.goto(site.host_page())
    ask(page)
    overflow = page.evaluate("() => document.documentElement.scrollWidth > window.innerWidth")
    assert not overflow, "nothing runs off the side of the screen"
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)
    component(page).locator("button.link").first.click()
    component(page).locator("dialog[open]").wait_for()
    page.screenshot(path=str(ARTIFACTS / f"{name}-profile.png"))
    context.close()
    assert (ARTIFACTS / f"{name}.png").stat().st_size > 10_000


def test_another_origin_cannot_use_the_key(page: Any, site: Site) -> None:
    # The service's own origin is not the key's: the same page served from there is refused.
    page.goto(site.host_page())
    secret = component(page).get_attribute("api-key")
    page.goto(f"{site.service}/healthz")
    status = page.evaluate(
        """async ([url, key]) => (await fetch(url + '/v1/recommendations', {method: 'POST',
            headers: {'Authorization': 'Bearer ' + key, 'Content-Type': 'application/json'},
            body: JSON.stringify({query: 'qubits'})})).status""",
        [site.service, secret],
    )
    assert status == 403


def test_errors_are_said_in_words(page: Any, site: Site) -> None:
    page.goto(site.host_page())
    # The component's own call for the filters must be made before the limit is cut.
    component(page).locator("select option:nth-child(2)").wait_for(state="attached")
    unlimited = site.app.state.limiter
    site.app.state.limiter = RateLimiter(1)  # one request a minute: the next one waits
    try:
        ask(page, "anything")  # the minute's one request
        component(page).locator("input[type=search]").press("Enter")
        error = component(page).locator(".error")
        error.wait_for()
        text = error.inner_text()
        assert re.search(r"Too many questions at once: try again in \d+ seconds\.", text), text
    finally:
        site.app.state.limiter = unlimited
    page.route("**/v1/recommendations", lambda route: route.abort())
    component(page).locator("input[type=search]").press("Enter")
    page.wait_for_function(
        "() => document.querySelector('whoknows-search').shadowRoot.querySelector('.error')"
        ".textContent.includes('Cannot reach whoknows')"
    )


def test_the_own_page_asks_for_a_key_when_one_is_needed(page: Any, site: Site) -> None:
    _, secret = site.store.create_key(f"person-{time.monotonic_ns()}", [])
    page.goto(site.service + "/")
    component(page).locator(".key").wait_for()
    assert "needs you to sign in" in component(page).locator(".error").inner_text()
    component(page).locator(".key input").fill(secret)
    component(page).locator(".key button").click()
    component(page).locator("input[type=search]").fill(QUESTION)
    component(page).locator("input[type=search]").press("Enter")
    component(page).locator("li.card").first.wait_for(timeout=20_000)
    assert component(page).locator(".key").is_hidden()


def test_the_framed_page_answers_inside_an_allowed_portal(page: Any, site: Site) -> None:
    page.goto(site.host_page("framed.html"))
    frame = page.frame_locator("#wk")
    frame.locator("whoknows-search li.card").first.wait_for(timeout=20_000)
    assert frame.locator("whoknows-search li.card").count() == 4, "limit=2: two of each"


def test_nothing_is_requested_from_any_other_host(browser: Any, site: Site) -> None:
    context = browser.new_context()
    page = context.new_page()
    hosts: set[str] = set()
    page.on("request", lambda request: hosts.add(request.url.split("/")[2].split(":")[0]))
    page.goto(site.host_page())
    ask(page)
    component(page).locator("button.link").first.click()
    component(page).locator("dialog[open]").wait_for()
    page.goto(site.service + "/")
    page.goto(site.host_page("framed.html"))
    page.frame_locator("#wk").locator("whoknows-search li.card").first.wait_for(timeout=20_000)
    context.close()
    assert hosts == {"127.0.0.1"}


def test_the_api_docs_work_without_reaching_a_cdn(page: Any, site: Site) -> None:
    hosts: set[str] = set()
    page.on("request", lambda request: hosts.add(request.url.split("/")[2].split(":")[0]))
    page.goto(site.service + "/docs")
    page.locator(
        ".swagger-ui .opblock-summary-path", has_text="/v1/recommendations"
    ).first.wait_for(timeout=20_000)
    assert hosts == {"127.0.0.1"}


def test_a_host_back_end_s_token_is_used_and_refreshed(page: Any, site: Site) -> None:
    page.goto(site.host_page())
    component(page).locator("select").wait_for()
    expired = site.token("ada", ["staff"], seconds=-60)
    page.evaluate(
        "(token) => { document.querySelector('whoknows-search').token = token; }", expired
    )
    component(page).locator("input[type=search]").fill(QUESTION)
    component(page).locator("input[type=search]").press("Enter")
    error = component(page).locator(".error")
    error.wait_for()
    assert "did not accept your credentials (the token has expired" in error.inner_text()
    fresh = site.token("ada", ["staff"])
    page.evaluate("(token) => { document.querySelector('whoknows-search').token = token; }", fresh)
    ask(page)
    component(page).locator("li.card").first.get_by_role(
        "button", name="Helpful", exact=True
    ).click()
    page.wait_for_function(
        "() => document.querySelector('whoknows-search').shadowRoot"
        ".querySelector('li.card button[aria-pressed=true]')"
    )
    assert feedback_rows(site)[-1].caller == "jwt:ada", "the token, not the page's key, asked"


def test_a_token_set_after_the_element_loads_is_heard(page: Any, site: Site) -> None:
    # A host whose back end answers a little after the page has drawn the element.
    token = site.token("bob", [])
    (site.folder / "token.html").write_text(
        f"""<!doctype html><html lang="en"><head><meta charset="utf-8"><title>LMS</title>
<script type="module" src="{site.service}/static/whoknows.js"></script></head>
<body><main><h1>Learning</h1><whoknows-search api="{site.service}"></whoknows-search>
<script type="module">
  setTimeout(() => {{ document.querySelector("whoknows-search").token = "{token}"; }}, 800);
</script></main></body></html>""",
        encoding="utf-8",
    )
    page.goto(site.host_page("token.html"))
    component(page).locator("select option", has_text="Quantum Computing").wait_for(
        state="attached", timeout=20_000
    )
    assert component(page).locator(".error").is_hidden(), "the sign-in error went with the token"
    ask(page)


def test_asking_across_departments_is_sent(page: Any, site: Site) -> None:
    page.goto(site.host_page())
    component(page).locator("select option:nth-child(2)").wait_for(state="attached")
    component(page).get_by_label("Prefer colleagues from other departments").check()
    with page.expect_request("**/v1/recommendations") as sent:
        ask(page)
    assert sent.value.post_data_json["cross_functional"] is True
