"""One small interface per network: authorisation, identity, source, publish, undo, revoke."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from relaycast.networks.mastodon import MastodonNetwork
    from relaycast.networks.x import XNetwork
    from relaycast.settings import Settings
    from relaycast.storage import Store

# The networks a relay can connect, with the name a relay reads.
NETWORK_NAMES = {"x": "X", "mastodon": "Mastodon"}


class NetworkError(Exception):
    """The network refused the request; retrying the same request will not help."""


class TokenRejected(NetworkError):
    """401: the grant is revoked, expired beyond refresh, or broken."""


class Transient(NetworkError):
    """5xx, timeout or connection failure: retry later with backoff."""


class RateLimited(Transient):
    """429: retry after `reset_at` (epoch seconds)."""

    def __init__(self, message: str, reset_at: int):
        super().__init__(message)
        self.reset_at = reset_at


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
    url: str = ""


def x_network(settings: Settings) -> XNetwork:
    from relaycast.networks.x import XNetwork

    secret = settings.secret()
    return XNetwork(
        client_id=secret.x_client_id,
        client_secret=secret.x_client_secret,
        bearer_token=secret.x_bearer_token,
        api_base=settings.x_api_base,
        authorize_url=settings.x_authorize_url,
    )


def mastodon_source(settings: Settings) -> MastodonNetwork | None:
    """The instance whose public tag timelines the rounds read, when the event is on Mastodon (no app needed)."""
    config = settings.event()
    if "mastodon" not in config.networks or not config.mastodon_source:
        return None
    from relaycast.networks.mastodon import MastodonNetwork

    return MastodonNetwork(instance=config.mastodon_source, client_id="", client_secret="")


def client_for(settings: Settings, store: Store, network: str, *, instance: str | None = None, redirect_uri: str | None = None):
    """The client for one network; Mastodon's is per instance, its app registered once (at the first connect)."""
    if network == "x":
        return x_network(settings)
    if network == "mastodon" and instance:
        from relaycast.networks.mastodon import MastodonNetwork, mastodon_app_for

        client_id, client_secret = mastodon_app_for(store, settings, instance, redirect_uri)
        return MastodonNetwork(instance=instance, client_id=client_id, client_secret=client_secret, mode=settings.event().mode(network))
    raise NetworkError(f"no client for {network}")
