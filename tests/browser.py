"""A real browser against a real service: what the browser tests and the web benchmark share.

The service runs in a thread on 127.0.0.1 with the given index; a host page is
served from another port (another origin) and embeds <whoknows-search> with a key
restricted to that origin, as an intranet page would.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import jwt
import pytest
import uvicorn
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from models.recommender import Recommender
from pipelines.store import Store
from serving.app import create_app
from serving.config import Settings

CHROMIUM = os.environ.get("WHOKNOWS_CHROMIUM", "/usr/bin/chromium")
FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
]


@dataclass(frozen=True)
class Site:
    """The service, a host page on another origin, and the key that page carries.

    Attributes:
        service: the service's base URL.
        host: the base URL of the host pages (another origin).
        store: the service's store.
        key_name: the name of the key the host page carries.
        app: the served app (its state can be changed by a test).
        signer: the identity provider's private key, whose tokens the service accepts.
        folder: where the host pages are (a test may add its own).
    """

    service: str
    host: str
    store: Store
    key_name: str
    app: Any
    signer: rsa.RSAPrivateKey
    folder: Path

    def host_page(self, name: str = "host.html") -> str:
        """The URL of a host page: host.html (the component) or framed.html (/embed)."""
        return f"{self.host}/{name}"

    def token(self, subject: str, groups: list[str], seconds: int = 300) -> str:
        """A token of the identity provider for a person, as a host's back end gets one."""
        now = int(time.time())
        claims = {"sub": subject, "groups": groups, "iat": now, "exp": now + seconds}
        return jwt.encode(claims, self.signer, algorithm="RS256")


@contextmanager
def running_site(recommender: Recommender, folder: Path, limit: int = 3) -> Iterator[Site]:
    """The service on the recommender and host pages in ``folder``, until the block ends."""
    host_server = ThreadingHTTPServer(
        ("127.0.0.1", 0),
        lambda *a: SimpleHTTPRequestHandler(*a, directory=str(folder)),
    )
    host = f"http://127.0.0.1:{host_server.server_address[1]}"
    threading.Thread(target=host_server.serve_forever, daemon=True).start()
    store = Store(f"sqlite:///{folder / 'whoknows.db'}")
    signer = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    public = signer.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    settings = Settings(
        rate_limit=0, frame_ancestors=["'self'", host], jwt_key=public.decode("ascii")
    )
    app = create_app(settings, recommender=recommender, store=store)
    config = uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.05)
    assert server.started, "the service did not start"
    service = f"http://127.0.0.1:{server.servers[0].sockets[0].getsockname()[1]}"
    _, secret = store.create_key("intranet", [], origins=[host])
    _, own = store.create_key("embed", [], origins=[service])
    (folder / "host.html").write_text(
        f"""<!doctype html><html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1"><title>Intranet</title>
<script type="module" src="{service}/static/whoknows.js"></script></head>
<body><main><h1>Intranet</h1>
<whoknows-search api="{service}" api-key="{secret}" limit="{limit}"></whoknows-search>
</main></body></html>""",
        encoding="utf-8",
    )
    (folder / "framed.html").write_text(
        f"""<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Portal</title></head>
<body><h1>Portal</h1><iframe id="wk" title="whoknows" style="width:100%;height:900px;border:0"
src="{service}/embed?limit=2&q=qubit%20decoherence#api-key={own}"></iframe></body></html>""",
        encoding="utf-8",
    )
    try:
        yield Site(service, host, store, "intranet", app, signer, folder)
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        host_server.shutdown()
        host_server.server_close()
        store.close()


@contextmanager
def chromium() -> Iterator[Any]:
    """Debian's Chromium, headless, driven by Playwright."""
    from playwright.sync_api import sync_playwright

    if not Path(CHROMIUM).is_file():
        pytest.fail(f"no Chromium at {CHROMIUM}: `make test` installs Debian's chromium package")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
        try:
            yield browser
        finally:
            browser.close()


def component(page: Any) -> Any:
    """The <whoknows-search> element (Playwright's locators pierce its shadow root)."""
    return page.locator("whoknows-search")


def ask(page: Any, question: str) -> None:
    """Type a question, press Enter, and wait for the first result."""
    component(page).locator("input[type=search]").fill(question)
    component(page).locator("input[type=search]").press("Enter")
    component(page).locator("li.card").first.wait_for(timeout=20_000)


def serious_violations(page: Any) -> list[tuple[str, str, int]]:
    """axe-core's serious and critical accessibility violations on the page as it is
    now: (rule, impact, how many elements)."""
    from axe_playwright_python.sync_playwright import Axe

    results = Axe().run(page)
    return [
        (v["id"], v["impact"], len(v["nodes"]))
        for v in results.response["violations"]
        if v["impact"] in ("serious", "critical")
    ]
