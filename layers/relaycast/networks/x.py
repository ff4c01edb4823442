"""X: OAuth 2.0 code + PKCE through authlib, the API v2 through tweepy.

Every request goes through tweepy's or authlib's one session, whose adapter routes X's host to the
configured base (the real API, or the local sandbox); errors become the typed errors of `networks`.
"""

from __future__ import annotations

import functools
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from relaycast import clock
from relaycast.networks.base import Identity, NetworkError, follower_count, Post, RateLimited, TokenRejected, Tokens, Transient
from relaycast.networks.oauth import busy_token_endpoint, pkce_session, still_accepted

if TYPE_CHECKING:
    import requests
    import tweepy
    from authlib.integrations.requests_client import OAuth2Session
    from requests.adapters import HTTPAdapter

# tweepy, authlib and requests load at the first call to X, not at import: a path that never calls X never loads them.

SCOPES = "tweet.read tweet.write users.read offline.access"
TWEEPY_HOST = "https://api.twitter.com"
TIMEOUT = (3.05, 10)
# has_reposted reads at most this many reposters (newest first); past them the answer stays unknown.
REPOSTERS_PAGE_SIZE = 100
REPOSTERS_MAX_PAGES = 10
NOT_FOUND = "/2/problems/resource-not-found"


@functools.cache
def _route_to() -> type[HTTPAdapter]:
    """The adapter class that sends tweepy's hard-wired host to the configured API base, with timeouts."""
    from requests.adapters import HTTPAdapter

    class RouteTo(HTTPAdapter):
        def __init__(self, base: str):
            super().__init__(max_retries=0)
            self.base = base.rstrip("/")

        def send(self, request: requests.PreparedRequest, **kwargs: Any) -> requests.Response:  # type: ignore[override]
            if request.url and request.url.startswith(TWEEPY_HOST):
                request.url = self.base + request.url[len(TWEEPY_HOST) :]
            kwargs["timeout"] = kwargs.get("timeout") or TIMEOUT
            return super().send(request, **kwargs)

    return RouteTo


class _Gone(NetworkError):
    """404: the post (or the resource of the path) does not exist."""


def _typed(error: Exception) -> NetworkError:
    import requests
    import tweepy

    if isinstance(error, tweepy.NotFound):
        return _Gone(str(error))
    if isinstance(error, tweepy.TooManyRequests):
        reset = error.response.headers.get("x-rate-limit-reset")
        return RateLimited(str(error), reset_at=int(reset) if reset else clock.epoch() + 900)
    if isinstance(error, tweepy.Unauthorized):
        return TokenRejected(str(error))
    if isinstance(error, tweepy.TwitterServerError | requests.Timeout | requests.ConnectionError):
        return Transient(str(error))
    return NetworkError(str(error))


class XNetwork:
    name = "x"
    mode = "approve-each"  # X forbids automated reposting across accounts that authorised one app
    scope = SCOPES
    authorize_params: dict[str, str] = {}  # extra authorisation parameters a provider may require

    def __init__(
        self,
        *,
        client_id: str,
        client_secret: str,
        bearer_token: str,
        api_base: str,
        authorize_url: str,
        token_url: str | None = None,
        revoke_url: str | None = None,
    ):
        self.client_id = client_id
        self.client_secret = client_secret
        self.bearer_token = bearer_token
        self.api_base = api_base.rstrip("/")
        self.authorize_url = authorize_url
        # X serves its OAuth endpoints under the API host; other servers (tests' oidc-provider) may not.
        self.token_url = token_url or f"{self.api_base}/2/oauth2/token"
        self.revoke_url = revoke_url or f"{self.api_base}/2/oauth2/revoke"

    # --- OAuth ----------------------------------------------------------------------------------
    def _oauth(self, redirect_uri: str | None = None) -> OAuth2Session:
        return pkce_session(self.client_id, self.client_secret, scope=self.scope, redirect_uri=redirect_uri,
                            auth_method="client_secret_basic", busy=busy_token_endpoint, default_timeout=TIMEOUT)

    def authorization_url(self, *, redirect_uri: str, state: str, code_verifier: str) -> str:
        url, _ = self._oauth(redirect_uri).create_authorization_url(
            self.authorize_url, state=state, code_verifier=code_verifier, **self.authorize_params
        )
        return url

    def _tokens(self, token: dict[str, Any]) -> Tokens:
        # authlib stamps expires_at with the wall clock; the relaycast clock is the one that counts.
        expires_at = clock.epoch() + int(token.get("expires_in", 7200))
        return Tokens(
            access_token=token["access_token"],
            refresh_token=token.get("refresh_token"),
            expires_at=expires_at,
            scope=token.get("scope", ""),
        )

    def exchange_code(self, *, redirect_uri: str, code: str, code_verifier: str) -> Tokens:
        import requests
        from authlib.integrations.base_client.errors import OAuthError

        try:
            token = self._oauth(redirect_uri).fetch_token(self.token_url, code=code, code_verifier=code_verifier)
        except OAuthError as error:
            raise NetworkError(f"code exchange refused: {error.error}") from None
        except (requests.Timeout, requests.ConnectionError) as error:
            raise Transient(f"token endpoint unreachable: {type(error).__name__}") from None
        return self._tokens(token)

    def refresh(self, refresh_token: str) -> Tokens:
        import requests
        from authlib.integrations.base_client.errors import OAuthError

        try:
            token = self._oauth().refresh_token(self.token_url, refresh_token=refresh_token)
        except OAuthError as error:
            raise TokenRejected(f"refresh refused: {error.error}") from None
        except (requests.Timeout, requests.ConnectionError) as error:
            raise Transient(f"token endpoint unreachable: {type(error).__name__}") from None
        return self._tokens(token)

    def revoke(self, token: str, hint: str) -> None:
        """RFC 7009 revocation; raises Transient when the provider could not be reached or failed."""
        import requests

        try:
            response = self._oauth().revoke_token(self.revoke_url, token=token, token_type_hint=hint)
        except (requests.Timeout, requests.ConnectionError) as error:
            raise Transient(f"revocation endpoint unreachable: {type(error).__name__}") from None
        if response.status_code >= 500:
            raise Transient(f"revocation endpoint answered {response.status_code}")
        if response.status_code >= 400:
            raise NetworkError(f"revocation refused with {response.status_code}")

    # --- API v2 ---------------------------------------------------------------------------------
    def _client(self, bearer: str) -> tweepy.Client:
        import tweepy

        client = tweepy.Client(bearer_token=bearer, wait_on_rate_limit=False)
        adapter = _route_to()(self.api_base)
        client.session.mount(TWEEPY_HOST, adapter)
        return client

    def _call(self, bearer: str, method: str, route: str, **kwargs: Any) -> dict[str, Any]:
        import requests
        import tweepy

        try:
            response = self._client(bearer).request(method, route, **kwargs)
        except (tweepy.TweepyException, requests.RequestException) as error:
            raise _typed(error) from None
        return response.json()

    def identity(self, access_token: str) -> Identity:
        data = self._call(access_token, "GET", "/2/users/me", params={"user.fields": "public_metrics"})["data"]
        return Identity(user_id=data["id"], username=data["username"], name=data.get("name", ""),
                        followers=follower_count((data.get("public_metrics") or {}).get("followers_count")))

    def token_works(self, access_token: str) -> bool:
        """Verification after revocation: True while the provider still accepts the token."""
        return still_accepted(self.identity, access_token)

    def search(self, query: str, since_id: str | None) -> Iterator[list[Post]]:
        """Recent search newer than since_id, page by page (newest first, as X returns them)."""
        params: dict[str, Any] = {
            "query": query,
            "max_results": 100,
            "tweet.fields": "created_at,author_id,public_metrics,lang,referenced_tweets,in_reply_to_user_id",
            "expansions": "author_id",
            "user.fields": "username,name",
        }
        if since_id:
            params["since_id"] = since_id
        while True:
            body = self._call(self.bearer_token, "GET", "/2/tweets/search/recent", params=params)
            users = {u["id"]: u for u in body.get("includes", {}).get("users", [])}
            page = [self._post(t, users) for t in body.get("data", [])]
            yield page
            next_token = body.get("meta", {}).get("next_token")
            if not next_token:
                return
            params["next_token"] = next_token

    @staticmethod
    def _post(tweet: dict[str, Any], users: dict[str, dict[str, Any]]) -> Post:
        author = users.get(tweet.get("author_id", ""), {})
        username = author.get("username", tweet.get("author_id", ""))
        metrics = tweet.get("public_metrics", {})
        refs = tweet.get("referenced_tweets") or []
        reply_to = tweet.get("in_reply_to_user_id")
        created = datetime.fromisoformat(tweet["created_at"].replace("Z", "+00:00")).astimezone(UTC)
        return Post(
            network="x",
            post_id=tweet["id"],
            author=username,
            author_id=tweet.get("author_id", ""),
            text=tweet["text"],
            created_at=created,
            lang=tweet.get("lang", "und"),
            likes=metrics.get("like_count", 0),
            reposts=metrics.get("retweet_count", 0),
            replies=metrics.get("reply_count", 0),
            # A reply to oneself is a thread (a live-tweet goes on), not a conversation fragment.
            is_reply=(reply_to != tweet.get("author_id")) if reply_to else any(r.get("type") == "replied_to" for r in refs),
            url=f"https://x.com/{username}/status/{tweet['id']}",
        )

    def repost(self, access_token: str, user_id: str, post_id: str) -> None:
        """Repost through the relay's account; reposting twice is harmless on X (it stays one repost)."""
        body = self._call(access_token, "POST", f"/2/users/{user_id}/retweets", json={"tweet_id": post_id})
        if not body.get("data", {}).get("retweeted"):
            raise NetworkError("X did not confirm the repost")

    def undo_repost(self, access_token: str, user_id: str, post_id: str) -> None:
        self._call(access_token, "DELETE", f"/2/users/{user_id}/retweets/{post_id}")

    def has_reposted(self, access_token: str, user_id: str, post_id: str) -> bool:
        """Whether `user_id` currently reposts `post_id`, read from the post's reposters (newest first) with
        the relay's token: the check before publishing again after an uncertain failure.

        False when the post does not exist (nothing of it can be reposted). Raises TokenRejected (401),
        RateLimited (429), Transient (5xx, network failure, or no answer within REPOSTERS_MAX_PAGES pages:
        unknown, never guessed) and NetworkError for other refusals.
        """
        params: dict[str, Any] = {"max_results": REPOSTERS_PAGE_SIZE}
        for _ in range(REPOSTERS_MAX_PAGES):
            try:
                body = self._call(access_token, "GET", f"/2/tweets/{post_id}/retweeted_by", params=params)
            except _Gone:
                return False
            users = body.get("data") or []
            if any(user.get("id") == user_id for user in users):
                return True
            errors = body.get("errors") or []
            if not users and errors:  # X answers a lookup of a missing post with 200 and `errors`
                if all(str(e.get("type", "")).endswith(NOT_FOUND) for e in errors):
                    return False
                raise NetworkError(f"X refused the reposters of {post_id}: {errors[0].get('title', '?')}")
            next_token = body.get("meta", {}).get("next_token")
            if not next_token:
                return False
            params["pagination_token"] = next_token
        raise Transient(f"{post_id} has more than {REPOSTERS_MAX_PAGES * REPOSTERS_PAGE_SIZE} reposters: "
                        "the relay's repost could not be confirmed or ruled out")
