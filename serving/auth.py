"""Who is calling: API keys, identity-provider tokens, and anonymous loopback access.

Every request to /v1 carries ``Authorization: Bearer <credential>``:

- an API key (``wk_...``), made with ``whoknows keys create`` and stored only as
  a hash; the key's groups and admin flag come from the store. A key made with
  ``--origins`` (one put in a web page) is accepted only from those browser
  origins: the request's Origin header, or its Referer's origin where a browser
  sends no Origin (a same-origin GET);
- or, when ``WHOKNOWS_JWT_KEY`` is set, a JWT from the organisation's identity
  provider, checked for signature, expiry, issuer and audience; its groups come
  from the ``WHOKNOWS_JWT_GROUPS_CLAIM`` claim and its subject names the person.

A groups claim that is missing or not a list of strings gives no groups at all
(fail closed: the caller sees public documents only). Requests without
credentials are refused unless ``WHOKNOWS_ANONYMOUS`` is on, and then only from
the loopback interface, as a caller of no group.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jwt

from models.exceptions import ConfigurationError
from pipelines.exceptions import StoreUnavailableError
from pipelines.store import Store
from pipelines.store.records import ApiKey, normalise_origin
from pipelines.store.store import SECRET_PREFIX, hash_secret
from serving.config import Settings
from serving.errors import Forbidden, Unauthenticated
from serving.outage import OutageLog

log = logging.getLogger("whoknows.serving")

LOOPBACK = frozenset({"127.0.0.1", "::1"})
#: While the database is unreachable, a key it confirmed this recently still works
#: (nobody can revoke a key meanwhile: revoking writes to that database).
KEY_GRACE_SECONDS = 600.0
#: How many confirmed keys are remembered for an outage.
KNOWN_KEYS = 10_000


@dataclass(frozen=True, slots=True)
class Caller:
    """An authenticated caller.

    Attributes:
        name: the key's name, ``jwt:<subject>``, or ``anonymous``.
        groups: the groups whose restricted documents the caller may see.
        admin: may manage people, read analytics.
        person: the person the caller is, when known (key bound to a person, or the
            token's subject).
        identity: what rate limiting counts against (the key, the subject, or the
            address for anonymous callers).
    """

    name: str
    groups: tuple[str, ...]
    admin: bool
    person: str | None
    identity: str


class Authenticator:
    """Turns a request's credentials into a :class:`Caller`.

    Args:
        settings: the JWT and anonymous-access settings.
        store: where API keys are kept.
    """

    def __init__(self, settings: Settings, store: Store) -> None:
        self.settings = settings
        self.store = store
        self._jwt_key = _verification_key(settings) if settings.jwt_key else None
        self._known: OrderedDict[str, tuple[ApiKey, float]] = OrderedDict()
        self._known_lock = threading.Lock()
        self._outage = OutageLog()

    def caller(
        self, authorization: str | None, client_host: str | None, origin: str | None = None
    ) -> Caller:
        """The caller behind an Authorization header, a client address and a browser origin.

        Raises:
            Unauthenticated: no usable credential (HTTP 401).
            Forbidden: a key restricted to origins, used from another (HTTP 403).
        """
        if not authorization:
            if self.settings.anonymous and client_host in LOOPBACK:
                return Caller("anonymous", (), False, None, f"anonymous:{client_host}")
            raise Unauthenticated(
                "authentication required: send 'Authorization: Bearer <API key or token>' "
                "(create a key with `whoknows keys create`)"
            )
        scheme, _, credential = authorization.partition(" ")
        credential = credential.strip()
        if scheme.lower() != "bearer" or not credential:
            raise Unauthenticated("the Authorization header must be 'Bearer <API key or token>'")
        if credential.startswith(SECRET_PREFIX):
            return self._from_key(credential, origin)
        if self._jwt_key is None:
            raise Unauthenticated("unknown API key (keys start with 'wk_'); tokens are not enabled")
        return self._from_token(credential)

    def _from_key(self, secret: str, origin: str | None) -> Caller:
        key = self._key(secret)
        if key is None:
            raise Unauthenticated("unknown or revoked API key")
        if key.origins is not None and origin not in key.origins:
            where = f"the request came from {origin}" if origin else "the request names no origin"
            raise Forbidden(
                f"the API key {key.name!r} may be used only from {', '.join(key.origins)}; {where}"
            )
        return Caller(key.name, tuple(key.groups), key.admin, key.person, f"key:{key.name}")

    def _key(self, secret: str) -> ApiKey | None:
        """The store's key for a secret; while the store is unreachable, the key it
        confirmed within KEY_GRACE_SECONDS (so that recommendations keep being served).

        Raises:
            StoreUnavailableError: unreachable, and the key not confirmed lately.
        """
        digest = hash_secret(secret)
        try:
            key = self.store.authenticate(secret)
        except StoreUnavailableError as exc:
            with self._known_lock:
                known = self._known.get(digest)
            if known is None or time.monotonic() - known[1] > KEY_GRACE_SECONDS:
                raise
            self._outage.failed("the database is unreachable; known keys still work: %s", exc)
            return known[0]
        with self._known_lock:
            if key is None:
                self._known.pop(digest, None)
            else:
                self._known[digest] = (key, time.monotonic())
                self._known.move_to_end(digest)
                while len(self._known) > KNOWN_KEYS:
                    self._known.popitem(last=False)
        return key

    def _from_token(self, token: str) -> Caller:
        settings = self.settings
        assert self._jwt_key is not None
        try:
            claims: dict[str, Any] = jwt.decode(
                token,
                self._jwt_key,
                algorithms=settings.jwt_algorithms,
                issuer=settings.jwt_issuer,
                audience=settings.jwt_audience,
                options={
                    "require": ["exp", "sub"],
                    "verify_aud": settings.jwt_audience is not None,
                    "verify_iss": settings.jwt_issuer is not None,
                },
            )
        except jwt.ExpiredSignatureError:
            raise Unauthenticated("the token has expired; get a new one") from None
        except jwt.PyJWTError as exc:
            raise Unauthenticated(f"the token was refused: {exc}") from None
        subject = str(claims["sub"])
        groups = _groups(claims.get(settings.jwt_groups_claim))
        admin = settings.jwt_admin_group is not None and settings.jwt_admin_group in groups
        return Caller(f"jwt:{subject}", groups, admin, subject, f"jwt:{subject}")


def request_origin(origin: str | None, referer: str | None) -> str | None:
    """The browser origin of a request: its Origin header, else its Referer's origin.

    Browsers send no Origin on a same-origin GET, but send the Referer; a client
    that is not a browser sends neither, and has no origin.
    """
    for value in (origin, referer):
        if value and value != "null":
            try:
                return normalise_origin(value if value is origin else _origin_of(value))
            except ValueError:
                return None
    return None


def _origin_of(url: str) -> str:
    scheme, _, rest = url.partition("://")
    return f"{scheme}://{rest.split('/', 1)[0].split('?', 1)[0].split('#', 1)[0]}"


def _groups(value: Any) -> tuple[str, ...]:
    """The groups of a claim: a list of non-empty strings, else none at all (fail closed)."""
    if not isinstance(value, list) or not all(isinstance(g, str) and g.strip() for g in value):
        if value is not None:
            log.warning("a token's groups claim is not a list of strings; treating it as none")
        return ()
    return tuple(sorted({g.strip() for g in value}))


def _verification_key(settings: Settings) -> str:
    """The verification key: the value itself, or the file named by ``@path``, checked now.

    A key that cannot be read or parsed stops the service at start-up, naming the
    setting, rather than refusing every caller's token later.

    Raises:
        ConfigurationError: the file is missing, or the key is not what the algorithms need.
    """
    value = settings.jwt_key or ""
    if value.startswith("@"):
        path = Path(value[1:]).expanduser()
        try:
            value = path.read_text(encoding="utf-8")
        except OSError as exc:
            raise ConfigurationError(
                f"WHOKNOWS_JWT_KEY names {path}, which cannot be read: {exc.strerror}"
            ) from None
    for name in settings.jwt_algorithms:
        try:
            jwt.get_algorithm_by_name(name).prepare_key(value)
        except (jwt.PyJWTError, NotImplementedError, ValueError) as exc:
            raise ConfigurationError(
                f"WHOKNOWS_JWT_KEY is not a usable {name} key ({exc}); give the identity "
                "provider's public key in PEM (or a shared secret for HS256)"
            ) from None
    return value
