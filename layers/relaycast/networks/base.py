"""What every network adapter speaks: the typed errors, tokens, identities and posts (no adapter imported here)."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime

# The networks a relay can connect, with the name a relay reads.
NETWORK_NAMES = {"x": "X", "mastodon": "Mastodon", "bluesky": "Bluesky", "linkedin": "LinkedIn"}


class NetworkError(Exception):
    """The network refused the request; retrying the same request will not help."""


class TokenRejected(NetworkError):
    """401: the grant is revoked, expired beyond refresh, or broken."""


class NotRevocable(NetworkError):
    """The network offers the app no way to revoke a token (LinkedIn): it can only be deleted and checked."""


class CannotTell(NetworkError):
    """The network offers the app no way to read whether the relay's account did it (LinkedIn's reshares)."""


class Transient(NetworkError):
    """5xx, timeout or connection failure: retry later with backoff."""


class RateLimited(Transient):
    """429: retry after `reset_at` (epoch seconds)."""

    def __init__(self, message: str, reset_at: int):
        super().__init__(message)
        self.reset_at = reset_at


def post_id_of(address: str) -> str:
    """A post's id in relaycast's tables when the network's own is no number (a Bluesky at-uri, a link a LinkedIn
    relay shares): decimal, as on the other networks, 64 bits of the address's SHA-256."""
    return str(int.from_bytes(hashlib.sha256(address.encode()).digest()[:8], "big"))


def token_alone(token: str) -> str:
    """A token without what travels bound to it: a DPoP-bound token is "<token> <binding>" (a space is never in a
    token), the binding its proof key and servers."""
    return token.split(" ", 1)[0]


@dataclass(frozen=True)
class Tokens:
    access_token: str
    refresh_token: str | None
    expires_at: int
    scope: str

    def __repr__(self) -> str:  # tokens never reach a log line, even through a repr
        return f"Tokens(expires_at={self.expires_at}, scope={self.scope!r})"

    def as_dict(self) -> dict[str, object]:
        return {"access_token": self.access_token, "refresh_token": self.refresh_token, "scope": self.scope}


@dataclass(frozen=True)
class Identity:
    user_id: str
    username: str
    name: str = ""
    # The account's followers when the network's profile says (the reach of what is posted in its name); None
    # where no app may read it (LinkedIn's members).
    followers: int | None = None


def follower_count(value: object) -> int | None:
    """A profile's follower count as a network returns it: a whole number, or None when it says nothing usable."""
    return value if isinstance(value, int) and not isinstance(value, bool) and value >= 0 else None


@dataclass(frozen=True)
class Post:
    network: str
    post_id: str
    author: str
    author_id: str
    text: str
    created_at: datetime
    lang: str = "und"
    likes: int = 0
    reposts: int = 0
    replies: int = 0
    is_reply: bool = False
    url: str = ""  # where a reader opens it (on Mastodon also what the relay's own instance resolves)
