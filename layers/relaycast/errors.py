"""Why a relay's request cannot be honoured: one type per reason, each with an English message.

The domain raises them and knows nothing of HTTP; the hosted app answers each type with its own status and page.
"""

from __future__ import annotations

from typing import Any

from relaycast.i18n import translate


class RelayError(Exception):
    """A request a relay's browser sent that cannot be honoured.

    The message is English with %(name)s parameters; `in_language` renders it for the relay.
    """

    def __init__(self, message: str, /, **params: Any):
        super().__init__(message % params if params else message)
        self.message, self.params = message, params

    def in_language(self, lang: str) -> str:
        return translate(lang, self.message, **self.params)


class InvalidRequest(RelayError):
    """The request is malformed, incomplete, or names something it cannot (a post, a time zone, an answer)."""


class Forbidden(RelayError):
    """The link or the answer does not allow this: a bad signature, a declined consent, a missing permission."""


class NotFound(RelayError):
    """Nothing is here for this request: an unknown network, link target or post."""


class Conflict(RelayError):
    """The request contradicts what is already so: decided already, not connected, connected elsewhere."""


class CapacityReached(Conflict):
    """The network takes no more relays for this event: every seat it can serve is taken."""


class Expired(RelayError):
    """What the request asks for was open once and no longer is."""


class TooLarge(RelayError):
    """The request is larger than any the hosted page sends."""


class UpstreamFailed(RelayError):
    """A network (or an instance) answered, but not with anything relaycast can use."""


class Unavailable(RelayError):
    """A network could not be reached, or is busy: trying again later may work."""


class RateLimited(RelayError):
    """Too many of these requests, from this address, relay or event, for now: `retry_after` seconds until one
    is taken again."""

    def __init__(self, message: str, /, *, retry_after: int, **params: Any):
        self.retry_after = max(1, int(retry_after))
        super().__init__(message, minutes=-(-self.retry_after // 60), **params)
