"""The client for a network: X's app-wide client, the Mastodon source of the rounds, a relay's instance."""

from __future__ import annotations

from typing import TYPE_CHECKING

from relaycast.networks.base import NetworkError
from relaycast.networks.x import XNetwork
from relaycast.settings import Settings
from relaycast.storage import Store

if TYPE_CHECKING:
    from relaycast.networks.bluesky import BlueskyGrants, BlueskySource
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


def bluesky_grants(settings: Settings) -> BlueskyGrants:
    """relaycast as a Bluesky OAuth client: its `client_id` is the hosted metadata document's URL, its key the
    stack's (`private_key_jwt`)."""
    import json

    from relaycast.netguard import NetGuard
    from relaycast.networks.bluesky import CLIENT_METADATA_PATH, BlueskyGrants, BlueskyNetwork

    key = settings.secret().bluesky_client_key
    if not key or not settings.hosted_page_url:
        raise NetworkError("Bluesky is not set up for this stack (no client key or no hosted page URL)")
    client_id = settings.hosted_page_url.rstrip("/") + "/" + CLIENT_METADATA_PATH
    return BlueskyGrants(BlueskyNetwork(client_id=client_id, client_key=json.loads(key), guard=NetGuard.from_env(),
                                        plc=settings.bluesky_plc))


def bluesky_source(settings: Settings, session: dict[str, str] | None = None) -> BlueskySource | None:
    """The event's own account reading its tags, when the event is on Bluesky and the account is in the secret."""
    secret = settings.secret()
    if "bluesky" not in settings.event().networks or not (secret.bluesky_identifier and secret.bluesky_app_password):
        return None
    from relaycast.netguard import NetGuard
    from relaycast.networks.bluesky import BlueskySource

    return BlueskySource(service=settings.bluesky_service, identifier=secret.bluesky_identifier,
                         app_password=secret.bluesky_app_password, guard=NetGuard.from_env(), session=session)


def client_for(settings: Settings, store: Store, network: str, *, instance: str | None = None, redirect_uri: str | None = None):
    """The client for one network; Mastodon's is per instance, its app registered once (at the first connect);
    Bluesky's carries each grant's servers and key in its tokens."""
    if network == "x":
        return x_network(settings)
    if network == "mastodon" and instance:
        from relaycast.networks.mastodon import MastodonNetwork, mastodon_app_for

        client_id, client_secret = mastodon_app_for(store, settings, instance, redirect_uri)
        return MastodonNetwork(instance=instance, client_id=client_id, client_secret=client_secret, mode=settings.event().mode(network))
    if network == "bluesky":
        return bluesky_grants(settings)
    if network == "linkedin":
        from relaycast.networks.linkedin import LinkedInNetwork

        secret = settings.secret()
        if not (secret.linkedin_client_id and secret.linkedin_client_secret):
            raise NetworkError("LinkedIn is not set up for this stack (no app credentials in its secret)")
        return LinkedInNetwork(client_id=secret.linkedin_client_id, client_secret=secret.linkedin_client_secret,
                               oauth_base=settings.linkedin_oauth_base, api_base=settings.linkedin_api_base)
    raise NetworkError(f"no client for {network}")
