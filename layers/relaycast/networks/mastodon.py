"""Mastodon: one app per instance, OAuth 2.0 code + PKCE through authlib, the REST API through Mastodon.py.

The instance is the relay's own (user input): every request, OAuth or API, goes through the `netguard`
session of that one instance (pinned public addresses, or the local runtime's sandbox). The app is
registered on the instance at its first connect and cached in the table (`INSTANCE#<host>` / `APP`),
its client secret sealed like a token. Errors become the typed errors of `networks`.

Mastodon access tokens do not expire and come without a refresh token: `Tokens.expires_at` is set far
in the future (so `publish` never tries to refresh) and `refresh` refuses when there is nothing to refresh.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from datetime import UTC, datetime
from html.parser import HTMLParser
from typing import Any, Protocol, TypeVar
from urllib.parse import urlsplit

import requests
from authlib.integrations.base_client.errors import OAuthError
from authlib.integrations.requests_client import OAuth2Session
from mastodon import Mastodon
from mastodon.errors import (
    MastodonError,
    MastodonNetworkError,
    MastodonNotFoundError,
    MastodonRatelimitError,
    MastodonServerError,
    MastodonUnauthorizedError,
)

from relaycast import clock, crypto
from relaycast.netguard import GuardRefused, NetGuard, parse_instance, protect
from relaycast.networks.base import Identity, NetworkError, follower_count, Post, RateLimited, TokenRejected, Tokens, Transient
from relaycast.networks.oauth import pkce_session, still_accepted

# Granular scopes (Mastodon ≥ 3.x): verify_credentials needs read:accounts (`profile` exists only from 4.3),
# search with resolve=true needs read:search, reading a status with a token (has_reposted) needs
# read:statuses, reblog and unreblog need write:statuses.
SCOPES = "read:accounts read:search read:statuses write:statuses"
MODES = ("auto", "approve-each", "share-link")
CLIENT_NAME = "relaycast"
NO_EXPIRY = 4_102_444_800  # 2100-01-01: Mastodon tokens live until revoked
RATE_WINDOW = 300  # Mastodon's limits are per 5 minutes: the fallback when no reset header came
APP_KIND = "instance_app"
PAGE_SIZE = 40  # Mastodon's largest timeline page
MAX_PAGES = 10  # per poll: a tag with a long history is read over several polls
_STATUS_PATH = re.compile(r"^/(?:@[^/]+|users/[^/]+/statuses)/([0-9]{1,25})/?$")

T = TypeVar("T")


class _Gone(NetworkError):
    """404 on a status: it was deleted (or never reached the relay's instance)."""


class _SealSettings(Protocol):
    token_key_id: str

    def event(self) -> Any: ...


def _reset_at(headers: Mapping[str, str]) -> int:
    """X-RateLimit-Reset is an ISO 8601 instant on Mastodon (epoch seconds on some other servers)."""
    value = (headers.get("X-RateLimit-Reset") or "").strip()
    if value.isdigit():
        return int(value)
    try:
        return int(datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp())
    except ValueError:
        return clock.epoch() + RATE_WINDOW


def _checked(response: requests.Response, what: str) -> requests.Response:
    """A raw answer (app registration, revocation) as a typed error; a 401 there is the app's, not a relay's."""
    status = response.status_code
    if status == 429:
        raise RateLimited(f"{what}: rate limited", reset_at=_reset_at(response.headers))
    if status >= 500:
        raise Transient(f"{what}: the instance answered {status}")
    if status >= 400:
        raise NetworkError(f"{what}: refused with {status}")
    return response


def _limits(response: requests.Response) -> requests.Response:
    """Token endpoint answers that are not OAuth errors: a rate limit, an instance failing."""
    if response.status_code == 429 or response.status_code >= 500:
        _checked(response, "token endpoint")
    return response


@contextmanager
def _transport(what: str) -> Iterator[None]:
    """requests' failures, typed: the guard's refusals are final, the network's are transient."""
    try:
        yield
    except GuardRefused as error:
        raise NetworkError(f"{what}: {error}") from None
    except requests.HTTPError as error:
        status = error.response.status_code if error.response is not None else 0
        raise (Transient if status >= 500 else NetworkError)(f"{what}: the instance answered {status}") from None
    except (requests.Timeout, requests.ConnectionError) as error:
        raise Transient(f"{what}: unreachable ({type(error).__name__})") from None


def register_app(host: str, redirect_uri: str, website: str, session: requests.Session) -> tuple[str, str]:
    """Register relaycast on an instance (POST /api/v1/apps); returns (client_id, client_secret)."""
    if getattr(session, "instance", None) != host:
        raise ValueError("register_app needs the guarded session of that instance")
    body = {"client_name": CLIENT_NAME, "redirect_uris": [redirect_uri], "scopes": SCOPES, "website": website}
    with _transport("app registration"):
        response = session.post(f"{session.base_url}/api/v1/apps", json=body)  # type: ignore[attr-defined]
    _checked(response, "app registration")
    try:
        answer = response.json()
        return str(answer["client_id"]), str(answer["client_secret"])
    except (ValueError, KeyError, TypeError):
        raise NetworkError("app registration: the instance's answer is not an app") from None


def _app_context(host: str) -> dict[str, str]:
    # Bound to the instance: a secret copied to another instance's item would not decrypt.
    return {"relay_id": f"app:{host}", "network": "mastodon"}


def _event_slug(settings_like: Any) -> str:
    return getattr(settings_like, "event_slug", None) or settings_like.event().slug


def mastodon_app_for(
    store: Any,
    settings_like: _SealSettings,
    host: str,
    redirect_uri: str | None = None,
    *,
    guard: NetGuard | None = None,
    website: str | None = None,
) -> tuple[str, str]:
    """relaycast's (client_id, client_secret) on `host`, registered once and cached in the table.

    Concurrent first connects may both register; the conditional write keeps one app and the other
    caller reads it back (its own registration stays unused on the instance). Without `redirect_uri`
    (revocation, publishing) only a cached app can be returned. A cached app keeps the redirect URI it
    was registered with (the stack's API URL is fixed for its life). Raises InstanceRejected, with a
    message for the relay, when the instance's name or addresses are not public.
    """
    host = parse_instance(host)
    key = {"pk": f"INSTANCE#{host}", "sk": "APP"}
    slug = _event_slug(settings_like)
    item = store.get(**key)
    if item is None:
        if not redirect_uri:
            raise NetworkError(f"no relaycast app is registered on {host}")
        guard = guard or NetGuard.from_env()
        guard.check(host)  # the relay learns why an instance is refused, not just that it failed
        origin = urlsplit(redirect_uri)
        client_id, secret = register_app(host, redirect_uri, website or f"{origin.scheme}://{origin.netloc}",
                                         guard.session(host))
        blob = crypto.seal({"client_secret": secret}, key_id=settings_like.token_key_id, event_slug=slug,
                           **_app_context(host))
        stored = {**key, "kind": APP_KIND, "host": host, "client_id": client_id, "client_secret": blob,
                  "redirect_uri": redirect_uri, "registered_at": clock.now().isoformat()}
        if store.put_new(stored):
            return client_id, secret
        item = store.get(**key)  # another connect registered first: use its app
        if item is None:
            raise Transient(f"the app of {host} vanished while it was being stored")
    sealed = crypto.unseal(item["client_secret"], event_slug=slug, **_app_context(host))
    return str(item["client_id"]), sealed["client_secret"]


class MastodonNetwork:
    name = "mastodon"
    scope = SCOPES
    authorize_params: dict[str, str] = {}  # extra authorisation parameters (e.g. {"lang": "fr"})

    def __init__(
        self,
        *,
        instance: str,
        client_id: str,
        client_secret: str,
        mode: str = "auto",
        guard: NetGuard | None = None,
    ):
        if mode not in MODES:
            raise ValueError(f"mode must be one of {MODES}")
        self.instance = parse_instance(instance)
        self.client_id = client_id
        self.client_secret = client_secret
        self.mode = mode
        self.guard = guard or NetGuard.from_env()
        self.base_url = self.guard.base_url(self.instance)
        # One adapter per client: the instance is resolved and checked once, every request pinned to it.
        self._adapter = self.guard.adapter(self.instance)
        self._http: requests.Session | None = None
        self._last_headers: Mapping[str, str] = {}
        self._public: Mastodon | None = None

    def __repr__(self) -> str:  # never the secret
        return f"MastodonNetwork(instance={self.instance!r}, mode={self.mode!r})"

    @property
    def token_url(self) -> str:
        return f"{self.base_url}/oauth/token"

    @property
    def revoke_url(self) -> str:
        return f"{self.base_url}/oauth/revoke"

    # --- OAuth ----------------------------------------------------------------------------------
    def _oauth(self, redirect_uri: str | None = None) -> OAuth2Session:
        # Mastodon documents the credentials in the body (client_secret_post) for token and revoke.
        session = pkce_session(self.client_id, self.client_secret, scope=self.scope, redirect_uri=redirect_uri,
                               auth_method="client_secret_post", busy=_limits)
        return protect(session, self._adapter)  # type: ignore[return-value]

    def authorization_url(self, *, redirect_uri: str, state: str, code_verifier: str) -> str:
        url, _ = self._oauth(redirect_uri).create_authorization_url(
            f"{self.base_url}/oauth/authorize", state=state, code_verifier=code_verifier, **self.authorize_params
        )
        return url

    def _tokens(self, token: Mapping[str, Any]) -> Tokens:
        expires_in = token.get("expires_in")
        return Tokens(
            access_token=token["access_token"],
            refresh_token=token.get("refresh_token"),
            expires_at=clock.epoch() + int(expires_in) if expires_in else NO_EXPIRY,
            scope=token.get("scope", self.scope),
        )

    def exchange_code(self, *, redirect_uri: str, code: str, code_verifier: str) -> Tokens:
        try:
            with _transport("token endpoint"):
                token = self._oauth(redirect_uri).fetch_token(self.token_url, code=code, code_verifier=code_verifier)
        except OAuthError as error:
            raise NetworkError(f"code exchange refused: {error.error}") from None
        return self._tokens(token)

    def refresh(self, refresh_token: str | None) -> Tokens:
        """Mastodon issues no refresh token (its tokens live until revoked): refused unless one was given."""
        if not refresh_token:
            raise TokenRejected("Mastodon issued no refresh token")
        try:
            with _transport("token endpoint"):
                token = self._oauth().refresh_token(self.token_url, refresh_token=refresh_token)
        except OAuthError as error:
            raise TokenRejected(f"refresh refused: {error.error}") from None
        return self._tokens(token)

    def revoke(self, token: str, hint: str) -> None:
        """POST /oauth/revoke with the app's credentials; raises Transient when the instance failed."""
        with _transport("revocation endpoint"):
            response = self._oauth().revoke_token(self.revoke_url, token=token, token_type_hint=hint)
        _checked(response, "revocation")

    # --- REST API -------------------------------------------------------------------------------
    def _session(self) -> requests.Session:
        if self._http is None:
            self._http = protect(requests.Session(), self._adapter)
            # Mastodon.py drops the response of a 429: keep the headers to read its reset time.
            self._http.hooks["response"].append(self._remember)
        return self._http

    def _remember(self, response: requests.Response, *args: Any, **kwargs: Any) -> None:
        self._last_headers = response.headers

    def _api(self, access_token: str | None, action: Callable[[Mastodon], T]) -> T:
        """A Mastodon.py call with the relay's token (None: a public read, as the app)."""
        client = self._public if access_token is None else None
        if client is None:
            client = Mastodon(
                access_token=access_token,
                api_base_url=self.base_url,
                session=self._session(),
                ratelimit_method="throw",  # never sleep inside a Lambda: the caller retries after reset_at
                request_timeout=self.guard.timeout,  # type: ignore[arg-type]
                version_check_mode="none",
                user_agent=CLIENT_NAME,
            )
        if access_token is None:
            # Kept: before an anonymous timeline read it asks the instance (once) whether it allows one.
            self._public = client
        try:
            return action(client)
        except MastodonError as error:
            raise self._typed(error) from None

    def _typed(self, error: MastodonError) -> NetworkError:
        if isinstance(error, MastodonRatelimitError):
            return RateLimited("rate limited by the instance", reset_at=_reset_at(self._last_headers))
        if isinstance(error, MastodonUnauthorizedError):
            return TokenRejected("the instance refused the token")
        if isinstance(error, MastodonNotFoundError):
            return _Gone("the instance does not know that status")
        if isinstance(error, MastodonServerError):
            return Transient(f"the instance answered {_status(error)}")
        if isinstance(error, MastodonNetworkError):
            cause = error.__context__
            if isinstance(cause, GuardRefused):
                return NetworkError(f"refused: {cause}")
            if isinstance(cause, requests.Timeout | requests.ConnectionError):
                return Transient(f"instance unreachable ({type(cause).__name__})")
            return NetworkError("the request could not be completed")
        return NetworkError(f"the instance refused the request ({_status(error)}: {_message(error)})")

    def identity(self, access_token: str) -> Identity:
        account = self._api(access_token, lambda m: m.account_verify_credentials())
        acct = str(account["acct"])
        username = acct if "@" in acct else f"{acct}@{self.instance}"
        return Identity(user_id=str(account["id"]), username=username, name=account.get("display_name") or "",
                        followers=follower_count(account.get("followers_count")))

    def token_works(self, access_token: str) -> bool:
        """Verification after revocation: True while the instance still accepts the token."""
        return still_accepted(self.identity, access_token)

    def local_status_id(self, access_token: str, post: str) -> str:
        """The id of a post on the relay's instance: an id as is, a URL of this instance parsed, any other
        URL resolved by the instance (search with resolve=true fetches it over ActivityPub)."""
        post = post.strip()
        if post.isdigit():
            return post
        parts = urlsplit(post)
        if parts.scheme != "https" or not parts.hostname:
            raise NetworkError("not a status id or https URL")
        match = _STATUS_PATH.match(parts.path)
        if parts.hostname == self.instance and match:
            return match.group(1)
        found = self._api(access_token, lambda m: m.search_v2(post, resolve=True, result_type="statuses",
                                                              exclude_unreviewed=False, limit=1))
        statuses = found.get("statuses") or []
        if not statuses:
            raise _Gone("the instance could not find that post")
        return str(statuses[0]["id"])

    def repost(self, access_token: str, user_id: str, post_id: str) -> None:
        """Reblog through the relay's account (the token names it; `user_id` is kept for the interface).
        Mastodon answers a second reblog with the existing one, so repeating is harmless."""
        status_id = self.local_status_id(access_token, post_id)
        try:
            result = self._api(access_token, lambda m: m.status_reblog(status_id))
        except NetworkError as error:
            if type(error) is NetworkError and "(422" in str(error) and "already" in str(error).lower():
                return  # servers that answer 422 instead of the existing reblog
            raise
        if not (result.get("reblog") or result.get("reblogged")):
            raise NetworkError("the instance did not confirm the reblog")

    def has_reposted(self, access_token: str, user_id: str, post_id: str) -> bool:
        """Whether the token's account currently reblogs the post (the status's `reblogged` as that account
        sees it; `user_id` is kept for the interface): the check before publishing again after an uncertain
        failure. False when the post no longer exists. Raises like `repost` (a grant without read:statuses
        gets the instance's 403 as a NetworkError)."""
        try:
            status_id = self.local_status_id(access_token, post_id)
            status = self._api(access_token, lambda m: m.status(status_id))
        except _Gone:
            return False
        reblogged = status.get("reblogged")
        if not isinstance(reblogged, bool):  # only sent to an authenticated viewer: never guess without it
            raise NetworkError("the instance did not say whether the account reblogged the status")
        return reblogged

    def tag_timeline(self, hashtag: str, since_id: str | None) -> Iterator[list[Post]]:
        """The instance's public timeline of a hashtag newer than since_id, page by page (oldest pages first,
        each newest first, as X's search is read), at most MAX_PAGES per call: the cursor catches up."""
        min_id = since_id or "0"
        for _ in range(MAX_PAGES):
            statuses = self._api(None, lambda m: m.timeline_hashtag(hashtag, min_id=min_id, limit=PAGE_SIZE))
            page = [self._post(s) for s in statuses if not s.get("reblog") and s.get("visibility") in ("public", "unlisted")]
            if not statuses:
                return
            yield page
            min_id = str(max(int(s["id"]) for s in statuses))
            if len(statuses) < PAGE_SIZE:
                return

    def _post(self, status: Mapping[str, Any]) -> Post:
        account = status.get("account") or {}
        acct = str(account.get("acct", "")).lower()
        created = status.get("created_at")
        if isinstance(created, str):
            created = datetime.fromisoformat(created.replace("Z", "+00:00"))
        return Post(
            network="mastodon",
            post_id=str(status["id"]),
            author=acct if "@" in acct else f"{acct}@{self.instance}",  # the same name whatever instance reads it
            author_id=str(account.get("id", "")),
            text=plain_text(str(status.get("content") or "")),
            created_at=created.astimezone(UTC) if isinstance(created, datetime) else clock.now(),
            lang=status.get("language") or "und",
            likes=int(status.get("favourites_count") or 0),
            reposts=int(status.get("reblogs_count") or 0),
            replies=int(status.get("replies_count") or 0),
            # A reply to oneself is a thread going on, not a conversation fragment (as on X).
            is_reply=bool(status.get("in_reply_to_id")) and status.get("in_reply_to_account_id") != account.get("id"),
            url=str(status.get("url") or status.get("uri") or ""),
        )

    def undo_repost(self, access_token: str, user_id: str, post_id: str) -> None:
        """Unreblog; a post that no longer exists has no reblog left to undo."""
        try:
            status_id = self.local_status_id(access_token, post_id)
            self._api(access_token, lambda m: m.status_unreblog(status_id))
        except _Gone:
            return


class _Text(HTMLParser):
    """A status's HTML as the text a reader sees: paragraphs and line breaks kept, links as their text."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []

    def handle_starttag(self, tag: str, attrs: Any) -> None:
        if tag == "br":
            self.parts.append("\n")

    def handle_endtag(self, tag: str) -> None:
        if tag == "p":
            self.parts.append("\n\n")

    def handle_data(self, data: str) -> None:
        self.parts.append(data)


def plain_text(html: str) -> str:
    parser = _Text()
    parser.feed(html)
    parser.close()
    return re.sub(r"\n{3,}", "\n\n", "".join(parser.parts)).strip()


def _status(error: MastodonError) -> Any:
    return error.args[1] if len(error.args) > 1 else "?"


def _message(error: MastodonError) -> str:
    return str(error.args[3] if len(error.args) > 3 and error.args[3] else error.args[0])[:200]


__all__ = ["MODES", "MastodonNetwork", "NO_EXPIRY", "SCOPES", "mastodon_app_for", "plain_text", "register_app"]
