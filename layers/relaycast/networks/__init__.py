"""One small interface per network: authorisation, identity, source, publish, undo, revoke.

The package's name gives the shared types (`base`); the adapters are `x` and `mastodon`, and `factory` builds
the client for a network. Nothing here imports an adapter, so the adapters can import these types freely.
"""

from relaycast.networks.base import (
    NETWORK_NAMES,
    CannotTell,
    Identity,
    NetworkError,
    NotRevocable,
    Post,
    RateLimited,
    TokenRejected,
    Tokens,
    Transient,
)

__all__ = ["NETWORK_NAMES", "CannotTell", "Identity", "NetworkError", "NotRevocable", "Post", "RateLimited", "TokenRejected",
           "Tokens", "Transient"]
