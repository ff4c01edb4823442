"""LinkedIn (a target only): OAuth 2.0 through authlib, OpenID Connect userinfo, and the Posts API's reshare.

LinkedIn's User Agreement (§8.2) forbids bots that share or re-share posts and its API terms forbid
automated posting, so relaycast only ever reshares on a relay's own click (approve-each) or hands them a link
(share-link); the policy table holds that, this adapter does one reshare per call. Ordinary apps get 60-day
tokens without refresh and LinkedIn has no revocation endpoint for them: at the end relaycast deletes the
token, asks the introspection endpoint what it still is, and tells the relay where to remove the app.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any
from urllib.parse import quote, unquote, urlsplit

from relaycast import clock
from relaycast.networks.base import (CannotTell, Identity, NetworkError, NotRevocable, RateLimited, TokenRejected, Tokens,
                                     Transient)
from relaycast.networks.oauth import busy_token_endpoint, pkce_session

if TYPE_CHECKING:
    import requests
    from authlib.integrations.requests_client import OAuth2Session

SCOPES = "openid profile w_member_social"
API_VERSION = "202601"  # the Posts API's LinkedIn-Version (YYYYMM)
TIMEOUT = (3.05, 10)
# A post a reshare may name: a share or a ugcPost (an activity URN is not accepted as a reshare's parent).
POST_URN = re.compile(r"urn:li:(share|ugcPost):(\d{1,25})")


def post_urn(text: str) -> str:
    """The share or ugcPost URN of a LinkedIn post, from its URN or a URL holding it (`…/feed/update/urn:li:share:…`)."""
    match = POST_URN.search(unquote(text or ""))
    if not match:
        raise NetworkError("not a LinkedIn post link with a share or ugcPost id (copy the post's link from its menu)")
    return match.group(0)


class LinkedInNetwork:
    name = "linkedin"
    mode = "approve-each"
    scope = SCOPES
    authorize_params: dict[str, str] = {}

    def __init__(self, *, client_id: str, client_secret: str, oauth_base: str = "https://www.linkedin.com",
                 api_base: str = "https://api.linkedin.com", version: str = API_VERSION):
        self.client_id, self.client_secret, self.version = client_id, client_secret, version
        self.oauth_base, self.api_base = oauth_base.rstrip("/"), api_base.rstrip("/")
        self.authorize_url = f"{self.oauth_base}/oauth/v2/authorization"
        self.token_url = f"{self.oauth_base}/oauth/v2/accessToken"
        self.introspect_url = f"{self.oauth_base}/oauth/v2/introspectToken"

    def __repr__(self) -> str:  # never the secret
        return f"LinkedInNetwork(client_id={self.client_id!r})"

    # ---- OAuth -------------------------------------------------------------------------------------

    def _oauth(self, redirect_uri: str | None = None) -> OAuth2Session:
        return pkce_session(self.client_id, self.client_secret, scope=self.scope, redirect_uri=redirect_uri,
                            auth_method="client_secret_post", busy=busy_token_endpoint, default_timeout=TIMEOUT)

    def authorization_url(self, *, redirect_uri: str, state: str, code_verifier: str | None = None) -> str:
        """LinkedIn's web flow takes no PKCE: the state and the client secret carry it."""
        url, _ = self._oauth(redirect_uri).create_authorization_url(self.authorize_url, state=state)
        return url

    def exchange_code(self, *, redirect_uri: str, code: str, code_verifier: str | None = None) -> Tokens:
        import requests
        from authlib.integrations.base_client.errors import OAuthError

        try:
            token = self._oauth(redirect_uri).fetch_token(self.token_url, code=code, grant_type="authorization_code")
        except OAuthError as error:
            raise NetworkError(f"code exchange refused: {error.error}") from None
        except (requests.Timeout, requests.ConnectionError) as error:
            raise Transient(f"token endpoint unreachable: {type(error).__name__}") from None
        granted = set(str(token.get("scope", "")).replace(",", " ").split())
        return Tokens(access_token=token["access_token"], refresh_token=None,
                      expires_at=clock.epoch() + int(token.get("expires_in", 60 * 24 * 3600)), scope=" ".join(sorted(granted)))

    def refresh(self, refresh_token: str | None) -> Tokens:
        raise TokenRejected("LinkedIn gives ordinary apps no refresh token: the relay connects again after 60 days")

    def revoke(self, token: str, hint: str) -> None:
        raise NotRevocable("LinkedIn offers no revocation endpoint: the token is deleted and checked by introspection")

    def token_status(self, access_token: str) -> str:
        """What LinkedIn's introspection says of the token: active, revoked, expired (or inactive when unknown)."""
        import requests

        try:
            response = requests.post(self.introspect_url, timeout=TIMEOUT, data={
                "client_id": self.client_id, "client_secret": self.client_secret, "token": access_token})
        except requests.RequestException as error:
            raise Transient(f"introspection unreachable: {type(error).__name__}") from None
        if response.status_code != 200:
            raise Transient(f"introspection answered {response.status_code}")
        body = response.json()
        return str(body.get("status") or ("active" if body.get("active") else "inactive"))

    def token_works(self, access_token: str) -> bool:
        return self.token_status(access_token) == "active"

    # ---- API ---------------------------------------------------------------------------------------

    def _call(self, access_token: str, method: str, path: str, **kwargs: Any) -> requests.Response:
        import requests

        headers = {"Authorization": f"Bearer {access_token}", "LinkedIn-Version": self.version,
                   "X-Restli-Protocol-Version": "2.0.0"}
        try:
            response = requests.request(method, f"{self.api_base}{path}", headers=headers, timeout=TIMEOUT,
                                        allow_redirects=False, **kwargs)
        except requests.RequestException as error:
            raise Transient(f"{method} {path}: {type(error).__name__}") from None
        if response.status_code == 429:
            raise RateLimited(f"{path}: 429", reset_at=clock.epoch() + 3600)  # LinkedIn names no reset: its day
        if response.status_code == 401:
            raise TokenRejected(f"{path}: 401")
        if response.status_code >= 500:
            raise Transient(f"{path}: {response.status_code}")
        return response

    def identity(self, access_token: str) -> Identity:
        response = self._call(access_token, "GET", "/v2/userinfo")
        if response.status_code != 200:
            raise NetworkError(f"userinfo refused: {response.status_code}")
        body = response.json()
        return Identity(user_id=str(body["sub"]), username=str(body.get("name", "")), name=str(body.get("name", "")))

    def reshare(self, access_token: str, member_id: str, parent: str) -> str:
        """One reshare of `parent` by the member (no commentary: the original post as is); returns its URN."""
        body = {**self._post_body(member_id), "reshareContext": {"parent": post_urn(parent)}}
        return self._created(self._call(access_token, "POST", "/rest/posts", json=body), "reshare")

    # ---- what the pipeline calls (every adapter's words) -------------------------------------------

    def repost(self, access_token: str, user_id: str, post: str) -> str:
        """One share through the relay's account: a LinkedIn post reshared, another network's post shared as its
        link; returns the new post's URN (what its undo deletes)."""
        if POST_URN.search(unquote(post)):
            return self.reshare(access_token, user_id, post)
        return self.share_link(access_token, user_id, post)

    def has_reposted(self, access_token: str, user_id: str, post: str) -> bool:
        """LinkedIn lets an ordinary app read no member's posts: after an uncertain failure it cannot be told, and
        relaycast never reshares twice to find out."""
        raise CannotTell("LinkedIn does not let relaycast read whether the reshare was made")

    def undo_repost(self, access_token: str, user_id: str, made: str) -> None:
        self.delete(access_token, made)

    def share_link(self, access_token: str, member_id: str, url: str) -> str:
        """A post of the member that shares `url` (another network's post) as an article: no commentary, nothing of
        its text copied; the title names where it comes from. Returns the new post's URN."""
        parts = urlsplit(url)
        if parts.scheme != "https" or not parts.hostname:
            raise NetworkError("only an https link can be shared on LinkedIn")
        body = {**self._post_body(member_id),
                "content": {"article": {"source": url, "title": f"Shared from {parts.hostname.removeprefix('www.')}"}}}
        return self._created(self._call(access_token, "POST", "/rest/posts", json=body), "share")

    def _post_body(self, member_id: str) -> dict[str, Any]:
        return {"author": f"urn:li:person:{member_id}", "commentary": "", "visibility": "PUBLIC",
                "distribution": {"feedDistribution": "MAIN_FEED", "targetEntities": [], "thirdPartyDistributionChannels": []},
                "lifecycleState": "PUBLISHED", "isReshareDisabledByAuthor": False}

    @staticmethod
    def _created(response: requests.Response, what: str) -> str:
        urn = response.headers.get("x-restli-id", "")
        if response.status_code != 201 or not POST_URN.fullmatch(urn):
            raise NetworkError(f"{what} refused: {response.status_code} {response.text[:200]}")
        return urn

    def delete(self, access_token: str, urn: str) -> None:
        """Undo a reshare: delete the post it made (a post already gone is fine)."""
        response = self._call(access_token, "DELETE", f"/rest/posts/{quote(post_urn(urn), safe='')}")
        if response.status_code not in (204, 404):
            raise NetworkError(f"delete refused: {response.status_code}")
