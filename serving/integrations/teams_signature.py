"""Verifying that a request comes from a Microsoft Teams outgoing webhook.

Teams signs the raw body with the webhook's security token: the Authorization
header is ``HMAC <base64 of HMAC-SHA256(body), keyed with the base64-decoded
token>``. The signature is compared in constant time; then the message's own
timestamp must be within five minutes, and the message must not have been
answered before (a replay).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
from collections.abc import Callable
from datetime import datetime
from typing import Any

from pipelines.store import Store
from pipelines.store.records import utcnow
from serving.errors import Unauthenticated
from serving.integrations.chat import MAX_AGE, remember_once


class TeamsVerifier:
    """Checks a Teams outgoing webhook's signature, the message's age and novelty.

    Args:
        security_token: the token Teams showed when the webhook was created (base64).
        store: where answered messages are remembered (shared by every worker).
        clock: the current time (tests).

    Raises:
        ValueError: the token is not base64.
    """

    def __init__(
        self, security_token: str, store: Store, clock: Callable[[], datetime] = utcnow
    ) -> None:
        try:
            self._key = base64.b64decode(security_token, validate=True)
        except binascii.Error:
            raise ValueError(
                "WHOKNOWS_TEAMS_SECURITY_TOKEN is not base64: paste the token Teams showed "
                "when the outgoing webhook was created"
            ) from None
        self._store = store
        self._clock = clock

    def verify(self, body: bytes, authorization: str | None) -> dict[str, Any]:
        """The message, once it is known to be Teams', recent and new.

        Raises:
            Unauthenticated: unsigned, forged, not a message, too old, or a replay.
        """
        scheme, _, signature = (authorization or "").partition(" ")
        if scheme != "HMAC" or not signature.strip():
            raise Unauthenticated("not a Teams request: no 'Authorization: HMAC ...' header")
        expected = base64.b64encode(hmac.new(self._key, body, hashlib.sha256).digest()).decode()
        if not hmac.compare_digest(expected, signature.strip()):
            raise Unauthenticated(
                "the Teams signature does not match: the request was not signed with "
                "WHOKNOWS_TEAMS_SECURITY_TOKEN"
            )
        try:
            message = json.loads(body)
            sent = datetime.fromisoformat(str(message["timestamp"]).replace("Z", "+00:00"))
            message_id = str(message["id"])
        except (ValueError, KeyError, TypeError):
            raise Unauthenticated("not a Teams message: it has no id or timestamp") from None
        if sent.tzinfo is None or abs(self._clock() - sent) > MAX_AGE:
            raise Unauthenticated(
                "the Teams message is more than 5 minutes old (or from the future): a replay, "
                "or a clock that is off"
            )
        remember_once(self._store, "teams", f"{message_id}:{signature.strip()}")
        if not isinstance(message, dict):
            raise Unauthenticated("not a Teams message")
        return message
