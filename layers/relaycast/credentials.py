"""A relay's credentials at the moment of use: the client for their grant and a fresh access token."""

from __future__ import annotations

from typing import Any

from relaycast import clock, crypto
from relaycast.config import EventConfig
from relaycast.networks import TokenRejected, Tokens
from relaycast.networks.factory import client_for
from relaycast.settings import Settings
from relaycast.storage import Store

REFRESH_MARGIN = 120  # seconds before expiry when a token is refreshed first


def client_for_grant(settings: Settings, store: Store, grant: dict[str, Any], x: Any = None) -> Any:
    """The client that speaks for a grant: X's (shared by the function when given), or the relay's instance's."""
    if grant["network"] == "x" and x is not None:
        return x
    return client_for(settings, store, grant["network"], instance=grant.get("instance"))


def access_token(store: Store, settings: Settings, config: EventConfig, client: Any, grant: dict[str, Any]) -> str:
    """The relay's access token, refreshed (and re-sealed) when it is about to expire."""
    context = {"event_slug": config.slug, "relay_id": grant["relay_id"], "network": grant["network"]}
    tokens = crypto.unseal(grant["tokens"], **context)
    if int(grant.get("token_expires_at", 0)) - REFRESH_MARGIN > clock.epoch():
        return tokens["access_token"]
    if not tokens.get("refresh_token"):
        raise TokenRejected("access token expired and no refresh token was granted")
    fresh: Tokens = client.refresh(tokens["refresh_token"])
    kept = fresh.as_dict()
    # A provider may answer a refresh without a new refresh token (RFC 6749 §6): the old one stays valid.
    kept["refresh_token"] = kept["refresh_token"] or tokens["refresh_token"]
    blob = crypto.seal(kept, key_id=settings.token_key_id, **context)
    store.update_tokens(grant["relay_id"], grant["network"], blob, fresh.expires_at)
    return fresh.access_token
