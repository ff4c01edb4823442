"""The OAuth 2.0 client every network shares: authorization code with PKCE (S256), refresh and revocation."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from relaycast.networks.base import TokenRejected, Transient

if TYPE_CHECKING:
    import requests
    from authlib.integrations.requests_client import OAuth2Session

TOKEN_RESPONSE_HOOKS = ("access_token_response", "refresh_token_response")


def pkce_session(
    client_id: str,
    client_secret: str,
    *,
    scope: str,
    redirect_uri: str | None,
    auth_method: str,
    busy: Callable[[requests.Response], requests.Response],
    **options: object,
) -> OAuth2Session:
    """A session that authenticates the app with `auth_method` at the token and revocation endpoints.

    `busy` reads each token answer first: a rate limit or a failing server answers with no token and no OAuth
    error, which authlib would otherwise misread, so the hook raises the network's own typed error.
    """
    from authlib.integrations.requests_client import OAuth2Session  # loaded by the paths that call a network

    session = OAuth2Session(
        client_id,
        client_secret,
        scope=scope,
        redirect_uri=redirect_uri,
        code_challenge_method="S256",
        token_endpoint_auth_method=auth_method,
        revocation_endpoint_auth_method=auth_method,
        **options,
    )
    for hook in TOKEN_RESPONSE_HOOKS:
        session.register_compliance_hook(hook, busy)
    return session


def busy_token_endpoint(response: requests.Response) -> requests.Response:
    """A 429 or 5xx from a token endpoint carries no token and no OAuth error (X answers a problem document): the
    endpoint is busy, not refusing, so the connect or the refresh is tried again later."""
    if response.status_code == 429 or response.status_code >= 500:
        raise Transient(f"token endpoint answered {response.status_code}")
    return response


def still_accepted(identity: Callable[[str], Any], access_token: str) -> bool:
    """The end's verification: True while the network still answers `identity` with this token."""
    try:
        identity(access_token)
        return True
    except TokenRejected:
        return False
