"""Verifying that a request comes from Slack: its v0 signature, its age, and that it is new.

Slack signs every request with the app's signing secret: ``X-Slack-Signature`` is
``v0=`` and the hex HMAC-SHA256 of ``v0:<X-Slack-Request-Timestamp>:<raw body>``
(https://api.slack.com/authentication/verifying-requests-from-slack). The
signature is computed by the official SDK and compared in constant time; a
request more than five minutes from now is refused, and so is a second
delivery of the same signed request (a replay).
"""

from __future__ import annotations

import hmac
import time
from collections.abc import Callable

from slack_sdk.signature import SignatureVerifier

from pipelines.store import Store
from serving.errors import Unauthenticated
from serving.integrations.chat import MAX_AGE, remember_once


class SlackVerifier:
    """Checks Slack's signature, timestamp and novelty of a request.

    Args:
        signing_secret: the Slack app's signing secret.
        store: where answered requests are remembered (shared by every worker).
        clock: seconds since the epoch (tests).
    """

    def __init__(
        self, signing_secret: str, store: Store, clock: Callable[[], float] = time.time
    ) -> None:
        self._signer = SignatureVerifier(signing_secret)
        self._store = store
        self._clock = clock

    def verify(self, body: bytes, timestamp: str | None, signature: str | None) -> None:
        """Accept a request once, or say why not.

        Raises:
            Unauthenticated: unsigned, forged, too old (or from the future), or a replay.
        """
        if not timestamp or not signature:
            raise Unauthenticated(
                "not a Slack request: X-Slack-Request-Timestamp and X-Slack-Signature are missing"
            )
        try:
            sent = int(timestamp)
        except ValueError:
            raise Unauthenticated("X-Slack-Request-Timestamp is not a number") from None
        if abs(self._clock() - sent) > MAX_AGE.total_seconds():
            raise Unauthenticated(
                "the Slack request is more than 5 minutes old (or from the future): a replay, "
                "or a clock that is off"
            )
        try:
            expected = self._signer.generate_signature(timestamp=timestamp, body=body)
        except UnicodeDecodeError:
            raise Unauthenticated("not a Slack request: the body is not text") from None
        if expected is None or not hmac.compare_digest(expected, signature):
            raise Unauthenticated(
                "the Slack signature does not match: the request was not signed with "
                "WHOKNOWS_SLACK_SIGNING_SECRET"
            )
        remember_once(self._store, "slack", signature)
