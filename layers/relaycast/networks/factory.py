"""The client for a network: X's app-wide client, the Mastodon source of the rounds, a relay's instance."""

from __future__ import annotations

from typing import TYPE_CHECKING

from relaycast.networks.base import NetworkError
from relaycast.networks.x import XNetwork
from relaycast.settings import Settings
from relaycast.storage import Store

if TYPE_CHECKING:
    from relaycast.networks.mastodon import MastodonNetwork


def x_network(settings: Settings) -> XNetwork:
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
    from relaycast.networks.mastodon import MastodonNetwork  # Mastodon.py loads only where Mastodon is used

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
