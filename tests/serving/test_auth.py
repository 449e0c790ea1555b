"""Who may call the API, as a user sees it through the real app.

Credentials (none, API keys, identity-provider tokens), the groups a token grants,
and the limits wrapped around every request: rate, body size, CORS, and the metrics
that count them.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from fastapi import FastAPI
from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families

from models.exceptions import ConfigurationError
from models.recommender import Recommender
from pipelines.store import Store
from serving.app import create_app
from serving.config import Settings
from tests.conftest import tiny_records
from tests.serving.conftest import LOOPBACK, PAYROLL, bearer

QUERY = {"query": "kafka consumer lag"}
RECOMMEND = "/v1/recommendations"
PUBLIC = "/v1/resources/d1"
ISSUER = "https://idp.example"
AUDIENCE = "whoknows"
#: The one document of the restricted index that only the finance group may see.
#: A client address off the loopback interface.
REMOTE = ("10.1.2.3", 4000)
INTRANET = "https://intranet.example"
#: Marks a claim to leave out of a token.
OMIT = object()

#: Makes a token from the identity provider's key and somebody else's.
MakeToken = Callable[[rsa.RSAPrivateKey, rsa.RSAPrivateKey], str]


# --- the app ---------------------------------------------------------------------------


class Response(Protocol):
    """What a test reads of TestClient's answer (httpx's, or httpx2's where installed)."""

    @property
    def status_code(self) -> int: ...
    @property
    def headers(self) -> Mapping[str, str]: ...
    @property
    def text(self) -> str: ...
    def json(self) -> Any: ...


@dataclass
class Service:
    """The real app behind a TestClient, with the store that holds its keys."""

    client: TestClient
    store: Store

    def key(self, name: str, groups: tuple[str, ...] = (), *, admin: bool = False) -> str:
        """A new API key's secret."""
        _, secret = self.store.create_key(name, groups, admin=admin)
        return secret


class Serve(Protocol):
    """Start the app over the tiny index with some settings."""

    def __call__(self, address: tuple[str, int] = LOOPBACK, **settings: Any) -> Service: ...


def make_app(recommender: Recommender, store: Store, **settings: Any) -> FastAPI:
    """The real app over an in-memory store; settings from the arguments only, never .env."""
    return create_app(Settings(_env_file=None, **settings), recommender=recommender, store=store)


@pytest.fixture
def serve(tiny: Recommender) -> Iterator[Serve]:
    """Start apps over the tiny index, each with its own store; stopped after the test."""
    with ExitStack() as stack:

        def start(address: tuple[str, int] = LOOPBACK, **settings: Any) -> Service:
            store = stack.enter_context(Store("sqlite://"))
            client = TestClient(make_app(tiny, store, **settings), client=address)
            return Service(stack.enter_context(client), store)

        yield start


def assert_unauthenticated(response: Response) -> None:
    """A 401 a client can act on: a JSON reason and the scheme to use."""
    assert response.status_code == 401, response.text
    assert response.headers["www-authenticate"] == "Bearer"
    detail = response.json()["detail"]
    assert isinstance(detail, str) and detail


# --- tokens ----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def signing_key() -> rsa.RSAPrivateKey:
    """The identity provider's private key."""
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@pytest.fixture(scope="module")
def other_key() -> rsa.RSAPrivateKey:
    """Somebody else's private key."""
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def public_pem(key: rsa.RSAPrivateKey) -> str:
    return (
        key.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode("ascii")
    )


def claims(**overrides: object) -> dict[str, object]:
    """A valid token's claims for 'ada'; OMIT drops one."""
    now = int(time.time())
    values: dict[str, object] = {
        "sub": "ada",
        "iss": ISSUER,
        "aud": AUDIENCE,
        "iat": now,
        "exp": now + 300,
        "groups": ["data"],
    }
    values.update(overrides)
    return {name: value for name, value in values.items() if value is not OMIT}


def rs256(key: rsa.RSAPrivateKey, **overrides: object) -> str:
    return jwt.encode(claims(**overrides), key, algorithm="RS256")


def _b64(data: bytes) -> bytes:
    return base64.urlsafe_b64encode(data).rstrip(b"=")


def hs256(secret: str, **overrides: object) -> str:
    """An HS256 token made by hand: PyJWT itself refuses a PEM key as an HMAC secret."""
    header = _b64(json.dumps({"alg": "HS256", "typ": "JWT"}).encode())
    payload = _b64(json.dumps(claims(**overrides)).encode())
    signature = hmac.new(secret.encode(), header + b"." + payload, hashlib.sha256).digest()
    return (header + b"." + payload + b"." + _b64(signature)).decode("ascii")


def jwt_settings(key: rsa.RSAPrivateKey, **extra: Any) -> dict[str, Any]:
    return {
        "jwt_key": public_pem(key),
        "jwt_issuer": ISSUER,
        "jwt_audience": AUDIENCE,
        "rate_limit": 0,
        **extra,
    }


# --- an index with a restricted document ---------------------------------------------


@pytest.fixture(scope="module")
def idp(restricted: Recommender, signing_key: rsa.RSAPrivateKey) -> Iterator[TestClient]:
    """The app over the restricted index, trusting the identity provider's tokens."""
    settings = jwt_settings(signing_key, jwt_admin_group="admins")
    with Store("sqlite://") as store:
        app = make_app(restricted, store, **settings)
        with TestClient(app, client=LOOPBACK) as client:
            yield client


# --- 1. authentication is required -----------------------------------------------------


@pytest.mark.parametrize(("method", "path"), [("POST", RECOMMEND), ("GET", PUBLIC)])
def test_no_credentials_is_401_by_default(serve: Serve, method: str, path: str) -> None:
    service = serve()
    assert_unauthenticated(service.client.request(method, path, json=QUERY))


def test_the_401_says_how_to_get_a_key(serve: Serve) -> None:
    detail = serve().client.post(RECOMMEND, json=QUERY).json()["detail"]
    assert "Authorization: Bearer" in detail and "whoknows keys create" in detail


def test_anonymous_access_lets_loopback_callers_in(serve: Serve) -> None:
    response = serve(anonymous=True).client.post(RECOMMEND, json=QUERY)
    assert response.status_code == 200, response.text
    assert response.json()["resources"][0]["id"] in {"d1", "d2"}


def test_anonymous_access_is_refused_off_the_loopback_interface(serve: Serve) -> None:
    assert_unauthenticated(serve(anonymous=True, address=REMOTE).client.post(RECOMMEND, json=QUERY))


@pytest.mark.parametrize(
    "header", ["Basic x", "Bearer ", "Bearer", "Token wk_abc", "wk_abc", "Bearer  \t"]
)
def test_a_malformed_header_is_401_even_when_anonymous_access_is_on(
    serve: Serve, header: str
) -> None:
    # Anonymous access is on, so a header taken for "no header" would answer 200.
    client = serve(anonymous=True).client
    assert client.get(PUBLIC).status_code == 200
    response = client.get(PUBLIC, headers={"Authorization": header})
    assert_unauthenticated(response)
    assert "Bearer <API key or token>" in response.json()["detail"]


# --- 2. API keys -----------------------------------------------------------------------


def test_a_created_key_is_let_in(serve: Serve) -> None:
    service = serve()
    response = service.client.post(RECOMMEND, json=QUERY, headers=bearer(service.key("ci-bot")))
    assert response.status_code == 200, response.text
    assert response.json()["resources"]


def test_a_revoked_key_is_401(serve: Serve) -> None:
    service = serve()
    secret = service.key("leaver")
    assert service.client.get(PUBLIC, headers=bearer(secret)).status_code == 200
    service.store.revoke_key("leaver")
    response = service.client.get(PUBLIC, headers=bearer(secret))
    assert_unauthenticated(response)
    assert "revoked" in response.json()["detail"]


@pytest.mark.parametrize("credential", ["wk_not-a-real-key", "wk_"])
def test_an_unknown_key_is_401(serve: Serve, credential: str) -> None:
    service = serve()
    real = service.key("real")
    assert service.client.get(PUBLIC, headers=bearer(real)).status_code == 200
    assert_unauthenticated(service.client.get(PUBLIC, headers=bearer(credential)))
    # a key differing in one character is another key
    assert_unauthenticated(service.client.get(PUBLIC, headers=bearer(real[:-1] + "?")))


def test_a_token_is_401_when_tokens_are_not_enabled(
    serve: Serve, signing_key: rsa.RSAPrivateKey
) -> None:
    response = serve().client.get(PUBLIC, headers=bearer(rs256(signing_key)))
    assert_unauthenticated(response)
    assert "tokens are not enabled" in response.json()["detail"]


# --- 3. tokens from the identity provider ----------------------------------------------


def test_a_signed_token_is_let_in(idp: TestClient, signing_key: rsa.RSAPrivateKey) -> None:
    response = idp.post(RECOMMEND, json=QUERY, headers=bearer(rs256(signing_key)))
    assert response.status_code == 200, response.text
    assert response.json()["resources"][0]["id"] in {"d1", "d2"}


def _expired(key: rsa.RSAPrivateKey, _: rsa.RSAPrivateKey) -> str:
    return rs256(key, exp=int(time.time()) - 120, iat=int(time.time()) - 600)


BAD_TOKENS: dict[str, MakeToken] = {
    "expired": _expired,
    "wrong issuer": lambda key, _: rs256(key, iss="https://evil.example"),
    "no issuer": lambda key, _: rs256(key, iss=OMIT),
    "wrong audience": lambda key, _: rs256(key, aud="another-service"),
    "no audience": lambda key, _: rs256(key, aud=OMIT),
    "no expiry": lambda key, _: rs256(key, exp=OMIT),
    "no subject": lambda key, _: rs256(key, sub=OMIT),
    "another key": lambda _, other: rs256(other),
    "alg none": lambda *_: jwt.encode(claims(), "", algorithm="none"),
    "HS256 with the public key": lambda key, _: hs256(public_pem(key)),
    "tampered": lambda key, _: rs256(key)[:-4] + "AAAA",
    "not a token": lambda *_: "hello.world",
}


@pytest.mark.parametrize("kind", list(BAD_TOKENS))
def test_a_bad_token_is_401(
    idp: TestClient,
    signing_key: rsa.RSAPrivateKey,
    other_key: rsa.RSAPrivateKey,
    kind: str,
) -> None:
    assert idp.get(PUBLIC, headers=bearer(rs256(signing_key))).status_code == 200
    token = BAD_TOKENS[kind](signing_key, other_key)
    assert_unauthenticated(idp.get(PUBLIC, headers=bearer(token)))


def test_an_expired_token_says_to_get_a_new_one(
    idp: TestClient, signing_key: rsa.RSAPrivateKey
) -> None:
    response = idp.get(PUBLIC, headers=bearer(_expired(signing_key, signing_key)))
    assert_unauthenticated(response)
    assert "expired" in response.json()["detail"]


def test_the_key_can_be_read_from_a_file(
    serve: Serve, signing_key: rsa.RSAPrivateKey, tmp_path: Path
) -> None:
    pem = tmp_path / "idp.pem"
    pem.write_text(public_pem(signing_key), encoding="utf-8")
    settings = jwt_settings(signing_key) | {"jwt_key": f"@{pem}"}
    client = serve(**settings).client
    assert client.get(PUBLIC, headers=bearer(rs256(signing_key))).status_code == 200


def test_a_token_of_the_group_sees_its_restricted_document(
    idp: TestClient, signing_key: rsa.RSAPrivateKey
) -> None:
    response = idp.get(
        f"/v1/resources/{PAYROLL}", headers=bearer(rs256(signing_key, groups=["finance"]))
    )
    assert response.status_code == 200, response.text
    assert response.json()["id"] == PAYROLL


@pytest.mark.parametrize(
    "groups",
    [OMIT, "finance", ["finance", 7], ["finance", ""], {"finance": True}, ["data"], []],
    ids=["missing", "a string", "a non-string", "a blank", "an object", "another group", "none"],
)
def test_without_a_list_of_the_group_the_restricted_document_is_404(
    idp: TestClient, signing_key: rsa.RSAPrivateKey, groups: object
) -> None:
    headers = bearer(rs256(signing_key, groups=groups))
    # authenticated: public documents are there; the restricted one is hidden as missing
    assert idp.get(PUBLIC, headers=headers).status_code == 200
    response = idp.get(f"/v1/resources/{PAYROLL}", headers=headers)
    assert response.status_code == 404, response.text
    assert response.json()["detail"] == f"no resource with id {PAYROLL!r}"


def test_a_restricted_document_is_recommended_to_its_group_only(
    idp: TestClient, signing_key: rsa.RSAPrivateKey
) -> None:
    query = {"query": "payroll salary payslips tax", "limit_resources": 10}

    def found(groups: object) -> set[str]:
        headers = bearer(rs256(signing_key, groups=groups))
        response = idp.post(RECOMMEND, json=query, headers=headers)
        assert response.status_code == 200, response.text
        return {r["id"] for r in response.json()["resources"]}

    assert PAYROLL in found(["finance"])
    assert PAYROLL not in found("finance")


def test_the_admin_group_may_read_analytics(
    idp: TestClient, signing_key: rsa.RSAPrivateKey
) -> None:
    def queries() -> int:
        admin = idp.get("/v1/analytics", headers=bearer(rs256(signing_key, groups=["admins"])))
        assert admin.status_code == 200, admin.text
        count: int = admin.json()["queries"]
        return count

    before = queries()
    asked = idp.post(RECOMMEND, json=QUERY, headers=bearer(rs256(signing_key, groups=["hr"])))
    assert asked.status_code == 200, asked.text
    assert queries() == before + 1, "the admin reads the service's own log"


@pytest.mark.parametrize("groups", [["finance"], OMIT, "admins"], ids=["other", "none", "string"])
def test_others_may_not_read_analytics(
    idp: TestClient, signing_key: rsa.RSAPrivateKey, groups: object
) -> None:
    response = idp.get("/v1/analytics", headers=bearer(rs256(signing_key, groups=groups)))
    assert response.status_code == 403, response.text
    assert "jwt:ada is not an administrator" in response.json()["detail"]


# --- 4. rate limiting ------------------------------------------------------------------


def test_the_request_after_the_limit_is_429_for_that_key_only(serve: Serve) -> None:
    service = serve(rate_limit=3)
    busy, quiet = bearer(service.key("busy")), bearer(service.key("quiet"))
    for _ in range(3):
        assert service.client.get(PUBLIC, headers=busy).status_code == 200
    refused = service.client.get(PUBLIC, headers=busy)
    assert refused.status_code == 429, refused.text
    assert int(refused.headers["retry-after"]) >= 1
    assert "rate limit of 3 requests a minute" in refused.json()["detail"]
    assert service.client.post(RECOMMEND, json=QUERY, headers=quiet).status_code == 200


def test_refused_credentials_are_limited_per_address_not_per_key(serve: Serve) -> None:
    service = serve(rate_limit=3)
    key = bearer(service.key("ci-bot"))
    for _ in range(3):
        assert_unauthenticated(service.client.get(PUBLIC, headers=bearer("wk_guess")))
    guessing = service.client.get(PUBLIC, headers=bearer("wk_guess"))
    assert guessing.status_code == 429, "guessing keys is throttled too"
    for _ in range(3):
        assert service.client.get(PUBLIC, headers=key).status_code == 200


def test_an_unreadable_token_key_stops_the_start_with_the_setting_named(
    tiny: Recommender, tmp_path: Path
) -> None:
    for key in (f"@{tmp_path / 'missing.pem'}", "not a pem at all"):
        app = make_app(tiny, Store("sqlite://"), jwt_key=key)
        with pytest.raises(ConfigurationError, match="WHOKNOWS_JWT_KEY"), TestClient(app):
            pass


# --- 5. body size ----------------------------------------------------------------------


def test_a_body_over_the_limit_is_413(serve: Serve) -> None:
    service = serve(max_body_bytes=2048)
    key = bearer(service.key("ci-bot"))
    large = {"query": "kafka " * 850}  # about 5 kB; a 422 (query too long) if it got through
    assert len(json.dumps(large)) > 5000
    response = service.client.post(RECOMMEND, json=large, headers=key)
    assert response.status_code == 413, response.text
    assert "at most 2048 bytes" in response.json()["detail"]
    assert service.client.post(RECOMMEND, json=QUERY, headers=key).status_code == 200


# --- 6. CORS ---------------------------------------------------------------------------


def preflight(client: TestClient, origin: str) -> Response:
    return client.options(
        RECOMMEND,
        headers={
            "Origin": origin,
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "authorization, content-type",
        },
    )


def test_no_cross_origin_calls_by_default(serve: Serve) -> None:
    response = preflight(serve().client, INTRANET)
    assert "access-control-allow-origin" not in response.headers


def test_a_listed_origin_may_call_from_a_browser(serve: Serve) -> None:
    client = serve(cors_origins=[INTRANET]).client
    allowed = preflight(client, INTRANET)
    assert allowed.status_code == 200
    assert allowed.headers["access-control-allow-origin"] == INTRANET
    assert "authorization" in allowed.headers["access-control-allow-headers"].lower()
    # the widget can read a refusal too
    refused = client.post(RECOMMEND, json=QUERY, headers={"Origin": INTRANET})
    assert refused.status_code == 401
    assert refused.headers["access-control-allow-origin"] == INTRANET


def test_an_unlisted_origin_may_not(serve: Serve) -> None:
    client = serve(cors_origins=[INTRANET]).client
    assert "access-control-allow-origin" not in preflight(client, "https://evil.example").headers
    response = client.post(RECOMMEND, json=QUERY, headers={"Origin": "https://evil.example"})
    assert "access-control-allow-origin" not in response.headers


# --- 7. metrics ------------------------------------------------------------------------


def scrape(client: TestClient) -> dict[str, list[tuple[dict[str, str], float]]]:
    """Each sample name of GET /metrics (text format) with its labels and values."""
    response = client.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    found: dict[str, list[tuple[dict[str, str], float]]] = {}
    for family in text_string_to_metric_families(response.text):
        for sample in family.samples:
            found.setdefault(sample.name, []).append((sample.labels, sample.value))
    return found


def test_requests_are_counted_by_route_template(serve: Serve) -> None:
    service = serve()
    key = bearer(service.key("ci-bot"))
    for _ in range(2):
        assert service.client.post(RECOMMEND, json=QUERY, headers=key).status_code == 200
    assert service.client.post(RECOMMEND, json=QUERY).status_code == 401
    assert service.client.get(PUBLIC, headers=key).status_code == 200
    requests = {
        (labels["method"], labels["route"], labels["status"]): value
        for labels, value in scrape(service.client)["whoknows_http_requests_total"]
    }
    assert requests[("POST", RECOMMEND, "200")] == 2
    assert requests[("POST", RECOMMEND, "401")] == 1
    assert requests[("GET", "/v1/resources/{resource_id:path}", "200")] == 1
    assert all(not route.endswith("/d1") for _, route, _ in requests)


def test_the_index_size_is_exported(serve: Serve) -> None:
    documents, _ = tiny_records()
    gauge = scrape(serve().client)["whoknows_index_documents"]
    assert gauge == [({}, float(len(documents)))]
