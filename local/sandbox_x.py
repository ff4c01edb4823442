"""A local sandbox of the X API v2 subset relaycast uses, served over real HTTP on loopback.

`SandboxX` is a small Flask application run by werkzeug in a background thread. Its OAuth 2.0 part is
built on authlib's server components (authorization code grant with PKCE S256, refresh token grant with
rotation, RFC 7009 revocation, bearer-token resource protection); its API part serves recent search and
reposts with X-shaped bodies and errors. The sandbox, not relaycast, is the source of truth of a run:
who reposted what and when, how many posts were read (billable), which tokens were revoked.

Paths are X's: ``GET|POST /i/oauth2/authorize`` (consent page), ``POST /2/oauth2/token``,
``POST /2/oauth2/revoke``, ``GET /2/users/me``, ``GET /2/tweets/search/recent``,
``POST /2/users/{id}/retweets``, ``DELETE /2/users/{id}/retweets/{source_tweet_id}``,
``GET /2/tweets/{id}/retweeted_by``. One host serves
both the authorize page (x.com) and the API (api.x.com): point ``X_AUTHORIZE_URL`` at
``authorize_url`` and ``X_API_BASE`` at ``base_url``.

Time is read only through ``relaycast.clock.now()``: a simulated clock drives token expiry (2 hours),
the 7-day window of recent search, post visibility (a post exists once its ``created_at`` has passed)
and the rate-limit windows.

Rules worth knowing (all documented behaviour of X unless noted):

* One confidential client, authenticated with ``client_secret_basic`` at the token and revocation
  endpoints. Accepted redirect URIs: any ``http(s)://127.0.0.1:<port>/…`` or ``http(s)://localhost:<port>/…``
  URL whose path ends with ``/callback/x`` (pass ``redirect_uri_pattern`` to change it).
* PKCE is mandatory for every client and only ``S256`` is accepted (X also accepts ``plain``; the
  sandbox is stricter). Authorization codes live 30 seconds (``code_ttl``) and are single-use.
* A refresh token is issued only when the scope includes ``offline.access``; refresh tokens rotate
  (the old one is dead once used); an access token lives 2 hours (``access_token_ttl``).
* Revocation (sandbox choice, the strict reading of RFC 7009): revoking a refresh token ends the whole
  grant (the refresh token and every access token issued under it); revoking an access token ends only
  that access token. Unknown, expired or already dead tokens get 200 and change nothing.
* Recent search sees posts whose ``created_at`` is within the last 7 days and not in the future; a
  ``since_id`` older than 7 days is a 400, as on X.
* ``retweeted_by`` lists the users who currently repost a post, newest repost first (``max_results`` 1-100,
  default 100; ``pagination_token`` from ``meta.next_token``; 75 requests per 15 minutes per user or app,
  ``reposters_limit``); a post that does not exist (or not yet) is a 200 whose ``errors`` holds a
  ``resource-not-found`` problem, X's partial-error shape for lookups.
* ``fail_next`` injects faults (an error before or after the route acts, a dropped connection, a 429):
  the faults a client must survive without publishing twice.

The consent page has stable hooks for browser tests: ``#username`` (text field), ``#allow`` ("Authorize
app", ``decision=allow``) and ``#deny`` ("Cancel", ``decision=deny``); a scripted relay posts the hidden
fields plus ``username`` (a post without ``decision`` counts as consent). The username is the login: an
unknown username creates the user (usernames are case-insensitive, as on X).
"""

from __future__ import annotations

import base64
import binascii
import html
import json
import re
import secrets
import socket
import threading
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from dataclasses import asdict, dataclass, field, replace
from datetime import UTC, datetime, timedelta
from functools import wraps
from typing import Any
from urllib.parse import urlsplit

import requests
from authlib.common.security import generate_token
from authlib.integrations.flask_oauth2 import AuthorizationServer, ResourceProtector
from authlib.oauth2 import OAuth2Error
from authlib.oauth2.rfc6749 import (
    AuthorizationCodeMixin,
    ClientMixin,
    InvalidRequestError,
    TokenMixin,
    grants,
    list_to_scope,
    scope_to_list,
)
from authlib.oauth2.rfc6750 import BearerTokenGenerator, BearerTokenValidator, InsufficientScopeError
from authlib.oauth2.rfc7009 import RevocationEndpoint
from authlib.oauth2.rfc7636 import CodeChallenge
from flask import Flask, Response, g, request
from werkzeug.exceptions import HTTPException
from werkzeug.serving import WSGIRequestHandler, make_server

from relaycast import clock
from relaycast_local.feed import Post, hashtags_of, snowflake_id, snowflake_time

__all__ = [
    "GrantView",
    "RepostRecord",
    "RequestRecord",
    "Revocation",
    "RevocationRequest",
    "SandboxUser",
    "SandboxX",
    "SearchRecord",
    "UnrepostRecord",
    "X_SCOPES",
    "route_session_to",
    "route_tweepy_to",
]

#: X's OAuth 2.0 scopes, with the sandbox's own one-line descriptions (shown on the consent page).
X_SCOPES: dict[str, str] = {
    "tweet.read": "See posts, including those from protected accounts you can see.",
    "tweet.write": "Post and repost for you.",
    "tweet.moderate.write": "Hide and unhide replies to your posts.",
    "users.read": "See any account you can see.",
    "follows.read": "See who you follow and who follows you.",
    "follows.write": "Follow and unfollow accounts for you.",
    "offline.access": "Stay connected until you revoke access.",
    "space.read": "See Spaces you can see.",
    "mute.read": "See accounts you muted.",
    "mute.write": "Mute and unmute accounts for you.",
    "like.read": "See posts you liked.",
    "like.write": "Like and unlike posts for you.",
    "list.read": "See lists you can see.",
    "list.write": "Create and manage lists for you.",
    "block.read": "See accounts you blocked.",
    "block.write": "Block and unblock accounts for you.",
    "bookmark.read": "See your bookmarks.",
    "bookmark.write": "Create and delete bookmarks for you.",
    "dm.read": "Read your direct messages.",
    "dm.write": "Send direct messages for you.",
    "media.write": "Upload media for you.",
}

PROBLEM_BASE = "https://api.x.com/2/problems/"
SANDBOX_WORKER = 9  # snowflake worker bits of posts created by the sandbox (reposts)
_DEFAULT_REDIRECT = re.compile(r"^https?://(127\.0\.0\.1|localhost)(:\d{1,5})?/([^?#]*/)?callback/x$")
_USERNAME = re.compile(r"^[A-Za-z0-9_]{1,15}$")
_ID = re.compile(r"^[0-9]{1,19}$")

_TWEET_FIELDS = frozenset({
    "article", "attachments", "author_id", "card_uri", "community_id", "context_annotations",
    "conversation_id", "created_at", "display_text_range", "edit_controls", "edit_history_tweet_ids",
    "entities", "geo", "id", "in_reply_to_user_id", "lang", "media_metadata", "non_public_metrics",
    "note_tweet", "organic_metrics", "possibly_sensitive", "promoted_metrics", "public_metrics",
    "referenced_tweets", "reply_settings", "scopes", "source", "text", "withheld",
})
_USER_FIELDS = frozenset({
    "affiliation", "connection_status", "created_at", "description", "entities", "id", "location",
    "most_recent_tweet_id", "name", "pinned_tweet_id", "profile_banner_url", "profile_image_url",
    "protected", "public_metrics", "receives_your_dm", "subscription_type", "url", "username",
    "verified", "verified_type", "withheld",
})
_EXPANSIONS = frozenset({
    "article.cover_media", "article.media_entities", "attachments.media_keys",
    "attachments.media_source_tweet", "attachments.poll_ids", "author_id", "edit_history_tweet_ids",
    "entities.mentions.username", "geo.place_id", "in_reply_to_user_id", "entities.note.mentions.username",
    "referenced_tweets.id", "referenced_tweets.id.attachments.media_keys", "referenced_tweets.id.author_id",
})


# --------------------------------------------------------------------------------------------------
# Truth records (immutable views handed to reports and tests)
# --------------------------------------------------------------------------------------------------


class _Record:
    """Attribute access, plus read-only mapping access (`r["user_id"]`, `r.get(...)`) and `to_dict()`."""

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)  # type: ignore[call-overload]

    def __getitem__(self, key: str) -> Any:
        if key not in self.__dataclass_fields__:  # type: ignore[attr-defined]
            raise KeyError(key)
        return getattr(self, key)

    def get(self, key: str, default: Any = None) -> Any:
        return getattr(self, key) if key in self.__dataclass_fields__ else default  # type: ignore[attr-defined]

    def keys(self) -> list[str]:
        return list(self.__dataclass_fields__)  # type: ignore[attr-defined]


@dataclass(frozen=True)
class SandboxUser(_Record):
    id: str
    username: str
    name: str
    created_at: datetime


@dataclass(frozen=True)
class RepostRecord(_Record):
    """One successful `POST /2/users/{id}/retweets`; `duplicate` when the post was already reposted."""

    at: datetime
    user_id: str
    username: str
    tweet_id: str
    duplicate: bool
    retweet_id: str  # id of the repost (the "RT @…" post) in the sandbox


@dataclass(frozen=True)
class UnrepostRecord(_Record):
    at: datetime
    user_id: str
    username: str
    tweet_id: str
    was_reposted: bool


@dataclass(frozen=True)
class Revocation(_Record):
    """An effective revocation. `whole_grant` when the grant (all its tokens) ended."""

    at: datetime
    grant_id: str
    user_id: str
    username: str
    token_type: str  # "access_token" | "refresh_token"
    token: str = field(repr=False)  # kept out of repr so reports and logs do not print it
    whole_grant: bool = False


@dataclass(frozen=True)
class RevocationRequest(_Record):
    """A call of the revocation endpoint by an authenticated client; `matched` is None when nothing
    live was found (unknown, expired or already dead token)."""

    at: datetime
    token: str = field(repr=False)
    token_type_hint: str | None = None
    matched: str | None = None  # "access_token" | "refresh_token" | None
    grant_id: str | None = None


@dataclass(frozen=True)
class GrantView(_Record):
    """One authorization (consent) and the chain of tokens issued from it."""

    grant_id: str
    user_id: str
    username: str
    scope: str
    created_at: datetime
    revoked_at: datetime | None
    active: bool  # some token of the grant still works


@dataclass(frozen=True)
class SearchRecord(_Record):
    at: datetime
    actor: str  # "app" or a user id
    query: str
    since_id: str | None
    next_token: str | None
    max_results: int
    result_count: int


@dataclass(frozen=True)
class RequestRecord(_Record):
    """One request and the status it got; 0 when the connection was dropped without an answer."""

    at: datetime
    method: str
    path: str
    status: int


# --------------------------------------------------------------------------------------------------
# OAuth models (authlib mixins) — mutable, guarded by the sandbox lock
# --------------------------------------------------------------------------------------------------


@dataclass
class _Client(ClientMixin):
    client_id: str
    client_secret: str
    redirect_uri_pattern: re.Pattern[str]

    def get_client_id(self) -> str:
        return self.client_id

    def get_default_redirect_uri(self) -> None:
        return None  # X requires redirect_uri on every authorization request

    def get_allowed_scope(self, scope: str | None) -> str | None:
        if not scope:
            return None
        return list_to_scope([s for s in scope_to_list(scope) if s in X_SCOPES])

    def check_redirect_uri(self, redirect_uri: str) -> bool:
        return bool(self.redirect_uri_pattern.match(redirect_uri))

    def check_client_secret(self, client_secret: str) -> bool:
        return secrets.compare_digest(self.client_secret, client_secret)

    def check_endpoint_auth_method(self, method: str, endpoint: str) -> bool:
        return method == "client_secret_basic"

    def check_response_type(self, response_type: str) -> bool:
        return response_type == "code"

    def check_grant_type(self, grant_type: str) -> bool:
        return grant_type in ("authorization_code", "refresh_token")


@dataclass
class _AuthCode(AuthorizationCodeMixin):
    code: str
    client_id: str
    redirect_uri: str
    scope: str
    user_id: str
    code_challenge: str
    code_challenge_method: str
    expires_at: datetime

    def get_redirect_uri(self) -> str:
        return self.redirect_uri

    def get_scope(self) -> str:
        return self.scope

    def is_expired(self) -> bool:
        return clock.now() >= self.expires_at


@dataclass
class _Grant:
    id: str
    client_id: str
    user_id: str
    scope: str
    created_at: datetime
    revoked_at: datetime | None = None


@dataclass
class _Token(TokenMixin):
    access_token: str
    refresh_token: str | None
    grant: _Grant
    scope: str
    issued_at: datetime
    expires_in: int
    access_revoked_at: datetime | None = None
    refresh_rotated_at: datetime | None = None
    is_app = False

    @property
    def user_id(self) -> str:
        return self.grant.user_id

    def check_client(self, client: ClientMixin) -> bool:
        return self.grant.client_id == client.get_client_id()

    def get_scope(self) -> str:
        return self.scope

    def get_expires_in(self) -> int:
        return self.expires_in

    def is_expired(self) -> bool:
        return clock.now() >= self.issued_at + timedelta(seconds=self.expires_in)

    def is_revoked(self) -> bool:
        return self.access_revoked_at is not None or self.grant.revoked_at is not None

    def access_active(self) -> bool:
        return not self.is_expired() and not self.is_revoked()

    def refresh_active(self) -> bool:
        return (self.refresh_token is not None and self.refresh_rotated_at is None
                and self.grant.revoked_at is None)


class _AppToken:
    """The app-only bearer token: no user, no scope, never expires."""

    is_app = True
    user_id = None

    def get_scope(self) -> str:
        return ""

    def is_expired(self) -> bool:
        return False

    def is_revoked(self) -> bool:
        return False


# --------------------------------------------------------------------------------------------------
# authlib grants, endpoint and validator wired to the sandbox (reached through `server.sandbox`)
# --------------------------------------------------------------------------------------------------


class _S256Only(CodeChallenge):
    """PKCE required for every client (authlib's `required=True` only binds public clients), S256 only."""

    SUPPORTED_CODE_CHALLENGE_METHOD = ["S256"]
    DEFAULT_CODE_CHALLENGE_METHOD = "S256"

    def validate_code_challenge(self, grant: Any, redirect_uri: str) -> None:
        data = grant.request.payload.data
        if not data.get("code_challenge"):
            raise InvalidRequestError("Missing 'code_challenge': PKCE is required.")
        if data.get("code_challenge_method") != "S256":
            raise InvalidRequestError("'code_challenge_method' must be 'S256'.")
        super().validate_code_challenge(grant, redirect_uri)


class _CodeGrant(grants.AuthorizationCodeGrant):
    TOKEN_ENDPOINT_AUTH_METHODS = ["client_secret_basic"]

    def save_authorization_code(self, code: str, req: Any) -> None:
        self.server.sandbox._save_code(code, req)

    def query_authorization_code(self, code: str, client: ClientMixin) -> _AuthCode | None:
        return self.server.sandbox._query_code(code, client)

    def delete_authorization_code(self, authorization_code: _AuthCode) -> None:
        self.server.sandbox._codes.pop(authorization_code.code, None)

    def authenticate_user(self, authorization_code: _AuthCode) -> SandboxUser | None:
        return self.server.sandbox._users_by_id.get(authorization_code.user_id)


class _RefreshGrant(grants.RefreshTokenGrant):
    TOKEN_ENDPOINT_AUTH_METHODS = ["client_secret_basic"]
    INCLUDE_NEW_REFRESH_TOKEN = True  # rotation

    def authenticate_refresh_token(self, refresh_token: str) -> _Token | None:
        token = self.server.sandbox._by_refresh.get(refresh_token)
        return token if token is not None and token.refresh_active() else None

    def authenticate_user(self, refresh_token: _Token) -> SandboxUser | None:
        return self.server.sandbox._users_by_id.get(refresh_token.user_id)

    def revoke_old_credential(self, refresh_token: _Token) -> None:
        refresh_token.refresh_rotated_at = clock.now()


class _Revocation(RevocationEndpoint):
    CLIENT_AUTH_METHODS = ["client_secret_basic"]

    def query_token(self, token_string: str, token_type_hint: str | None) -> tuple[str, _Token] | None:
        return self.server.sandbox._find_live_token(token_string, token_type_hint)

    def authenticate_token(self, req: Any, client: ClientMixin) -> tuple[str, _Token] | None:
        self.check_params(req, client)
        found = self.query_token(req.form["token"], req.form.get("token_type_hint"))
        self.server.sandbox._note_revocation_request(req.form["token"], req.form.get("token_type_hint"), found)
        if found and not found[1].check_client(client):
            return None  # a token of another client: nothing to do, still 200 (RFC 7009 §2.2)
        return found

    def revoke_token(self, token: tuple[str, _Token], req: Any) -> None:
        kind, tok = token
        self.server.sandbox._revoke(kind, tok)

    def create_endpoint_response(self, req: Any) -> tuple[int, Any, list]:
        status, _body, headers = super().create_endpoint_response(req)
        return status, {"revoked": True}, headers


class _XTokenGenerator(BearerTokenGenerator):
    """X's token response: lower-case `bearer`, refresh token only with `offline.access`."""

    def generate(self, grant_type: str, client: ClientMixin, user: Any = None, scope: str | None = None,
                 expires_in: int | None = None, include_refresh_token: bool = True) -> dict[str, Any]:
        allowed = self.get_allowed_scope(client, scope)
        include = include_refresh_token and "offline.access" in scope_to_list(allowed or "")
        token = super().generate(grant_type, client, user, scope, expires_in, include)
        token["token_type"] = "bearer"
        return token


class _Validator(BearerTokenValidator):
    def __init__(self, sandbox: SandboxX) -> None:
        super().__init__()
        self._sandbox = sandbox

    def authenticate_token(self, token_string: str) -> _Token | _AppToken | None:
        return self._sandbox._lookup_bearer(token_string)

    def validate_token(self, token: Any, scopes: Any, req: Any) -> None:
        if token is not None and token.is_app:
            return  # app-only: scopes do not apply; each endpoint decides whether it is allowed
        super().validate_token(token, scopes, req)


class _QuietHandler(WSGIRequestHandler):
    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        pass


def _x_token(kind: str) -> str:
    """A token shaped like X's: base64url of `<random>:<ms>:1:0:<at|rt>:1`."""
    raw = f"{generate_token(40)}:{int(clock.now().timestamp() * 1000)}:1:0:{kind}:1"
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


# --------------------------------------------------------------------------------------------------
# Errors
# --------------------------------------------------------------------------------------------------


class _XError(Exception):
    def __init__(self, status: int, body: dict[str, Any], headers: Mapping[str, str] | None = None) -> None:
        super().__init__(body.get("detail") or body.get("title"))
        self.status, self.body, self.headers = status, body, dict(headers or {})


def _about_blank(status: int, title: str, detail: str | None = None) -> _XError:
    return _XError(status, {"title": title, "detail": detail or title, "type": "about:blank", "status": status})


def _invalid_request(parameter: str, value: str, message: str) -> _XError:
    return _XError(400, {
        "errors": [{"parameters": {parameter: [value]}, "message": message}],
        "title": "Invalid Request",
        "detail": "One or more parameters to your request was invalid.",
        "type": PROBLEM_BASE + "invalid-request",
        "status": 400,
    })


def _unsupported_app_auth() -> _XError:
    return _XError(403, {
        "title": "Unsupported Authentication",
        "detail": "Authenticating with OAuth 2.0 Application-Only is forbidden for this endpoint.  Supported "
                  "authentication types are [OAuth 1.0a User Context, OAuth 2.0 User Context].",
        "type": PROBLEM_BASE + "unsupported-authentication",
        "status": 403,
    })


# --------------------------------------------------------------------------------------------------
# Recent search query language (the subset a hashtag poller needs)
# --------------------------------------------------------------------------------------------------

_QUERY_TOKEN = re.compile(r'\s*(-?\(|\)|-?"[^"]*"|[^\s()"]+)')
_Matcher = Callable[[Post], bool]


class _QueryError(ValueError):
    pass


def _compile_query(query: str) -> _Matcher:
    """Compile a recent-search query. Supported: `#tag`, `@user`, `from:`, `lang:`, `is:retweet|reply|quote`,
    `has:links|hashtags|mentions`, keywords, "exact phrases", `-` negation, implicit AND, `OR`, parentheses
    (AND binds tighter than OR, as on X)."""
    if query.count('"') % 2:
        raise _QueryError("unbalanced quotes")
    tokens = _QUERY_TOKEN.findall(query)
    if "".join(tokens).replace(" ", "") != re.sub(r"\s+", "", query):
        raise _QueryError("unexpected characters")
    pos = 0
    positives = 0

    def peek() -> str | None:
        return tokens[pos] if pos < len(tokens) else None

    def take() -> str:
        nonlocal pos
        pos += 1
        return tokens[pos - 1]

    def parse_or() -> _Matcher:
        parts = [parse_and()]
        while peek() == "OR":
            take()
            parts.append(parse_and())
        if len(parts) == 1:
            return parts[0]
        return lambda p, parts=tuple(parts): any(m(p) for m in parts)

    def parse_and() -> _Matcher:
        parts = []
        while peek() not in (None, ")", "OR"):
            parts.append(parse_unary())
        if not parts:
            raise _QueryError(f"no viable alternative at input '{peek() or '<EOF>'}' (at position {pos + 1})")
        if len(parts) == 1:
            return parts[0]
        return lambda p, parts=tuple(parts): all(m(p) for m in parts)

    def parse_unary() -> _Matcher:
        nonlocal positives
        tok = take()
        if tok in ("(", "-("):
            inner = parse_or()
            if peek() != ")":
                raise _QueryError("missing ')'")
            take()
            return (lambda p, m=inner: not m(p)) if tok == "-(" else inner
        negated = tok.startswith("-") and len(tok) > 1
        atom = _atom(tok[1:] if negated else tok)
        if not negated:
            positives += 1
        return (lambda p, m=atom: not m(p)) if negated else atom

    matcher = parse_or()
    if pos != len(tokens):
        raise _QueryError(f"extraneous input '{tokens[pos]}' (at position {pos + 1})")
    if positives == 0:
        raise _QueryError("a query needs at least one term that is not negated")
    return matcher


def _word(text: str) -> re.Pattern[str]:
    return re.compile(r"(?<!\w)" + re.escape(text.casefold()) + r"(?!\w)")


def _atom(tok: str) -> _Matcher:
    if tok.startswith('"'):
        phrase = tok.strip('"').casefold()
        return lambda p: phrase in p.text.casefold()
    if tok.startswith("#"):
        tag = tok[1:].casefold()
        if not tag:
            raise _QueryError("empty hashtag")
        return lambda p: any(t.casefold() == tag for t in p.hashtags)
    if tok.startswith("@"):
        pattern = _word("@" + tok[1:])
        return lambda p: bool(pattern.search(p.text.casefold()))
    if ":" in tok and not tok.startswith(("http://", "https://")):
        op, _, value = tok.partition(":")
        value_cf = value.casefold()
        if op == "from":
            return lambda p: p.username.casefold() == value_cf.lstrip("@")
        if op == "lang":
            return lambda p: p.lang.casefold() == value_cf
        if op == "is":
            checks = {
                "retweet": lambda p: p.is_retweet,
                "reply": lambda p: p.is_reply,
                "quote": lambda p: False,
            }
            if value_cf not in checks:
                raise _QueryError(f"Reference to invalid operator 'is:{value}'")
            return checks[value_cf]
        if op == "has":
            checks = {
                "links": lambda p: "http://" in p.text or "https://" in p.text,
                "hashtags": lambda p: bool(p.hashtags),
                "mentions": lambda p: bool(re.search(r"(?<!\w)@\w", p.text)),
            }
            if value_cf not in checks:
                raise _QueryError(f"Reference to invalid operator 'has:{value}'")
            return checks[value_cf]
        raise _QueryError(f"Reference to invalid operator '{op}'")
    pattern = _word(tok)
    return lambda p: bool(pattern.search(p.text.casefold()))


def _encode_cursor(post_id: str) -> str:
    return base64.b32hexencode(post_id.encode()).decode().rstrip("=").lower()


def _decode_cursor(token: str) -> str:
    padded = token.upper() + "=" * (-len(token) % 8)
    value = base64.b32hexdecode(padded).decode()
    if not _ID.match(value):
        raise ValueError(token)
    return value


def _drop_connection() -> None:
    """Close the request's connection without an answer (werkzeug's server; nothing to do under a test client)."""
    sock = request.environ.get("werkzeug.socket")
    if sock is not None:
        try:
            sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass  # already closed by the client


def _iso(at: datetime) -> str:
    return at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{at.microsecond // 1000:03d}Z"


def _parse_time(value: str) -> datetime:
    at = datetime.fromisoformat(value.replace("Z", "+00:00"))
    if at.tzinfo is None:
        raise ValueError(value)
    return at


def _csv(name: str, value: str | None, allowed: frozenset[str]) -> set[str]:
    if value is None:
        return set()
    items = [v for v in value.split(",")]
    for item in items:
        if item not in allowed:
            raise _invalid_request(
                name, item,
                f"The `{name}` query parameter value [{item}] is not one of [{','.join(sorted(allowed))}]")
    return set(items)


@dataclass
class _RateWindow:
    limit: int
    period: timedelta
    started: datetime | None = None
    used: int = 0

    def hit(self, now: datetime) -> tuple[bool, int, int]:
        """Count one request; returns (allowed, remaining, reset epoch seconds)."""
        if self.started is None or now >= self.started + self.period:
            self.started, self.used = now, 0
        reset = int((self.started + self.period).timestamp())
        if self.used >= self.limit:
            return False, 0, reset
        self.used += 1
        return True, self.limit - self.used, reset


@dataclass
class _Fault:
    method: str
    path_prefix: str
    status: int
    remaining: int
    after: bool = False  # the route acts first; only its answer is lost
    drop: bool = False  # no answer: the connection is closed
    reset_at: int | None = None  # a 429's x-rate-limit-reset (epoch seconds)


# --------------------------------------------------------------------------------------------------
# The sandbox
# --------------------------------------------------------------------------------------------------


class SandboxX:
    """A local X API v2 (subset) with an authlib OAuth 2.0 server, on a free loopback port.

    Use as a context manager (``with SandboxX() as x: x.base_url``) or ``start()`` / ``stop()``. The
    Flask app is ``app`` (a WSGI app usable without HTTP too). Every truth attribute is a copy taken
    under the sandbox lock, safe to read while requests are served.
    """

    def __init__(
        self,
        *,
        client_id: str | None = None,
        client_secret: str | None = None,
        bearer_token: str | None = None,
        app_name: str = "relaycast",
        redirect_uri_pattern: str | re.Pattern[str] | None = None,
        access_token_ttl: timedelta = timedelta(hours=2),
        code_ttl: timedelta = timedelta(seconds=30),
        repost_limit: tuple[int, timedelta] | None = (50, timedelta(minutes=15)),
        search_limit: tuple[int, timedelta] | None = (450, timedelta(minutes=15)),
        reposters_limit: tuple[int, timedelta] | None = (75, timedelta(minutes=15)),
        host: str = "127.0.0.1",
        port: int = 0,
    ) -> None:
        self.client_id = client_id or generate_token(34)
        self.client_secret = client_secret or generate_token(50)
        self.bearer_token = bearer_token or "AAAAAAAAAAAAAAAAAAAAA" + generate_token(80)
        self.app_name = app_name
        self.access_token_ttl = access_token_ttl
        self.code_ttl = code_ttl
        self._repost_limit = repost_limit
        self._search_limit = search_limit
        self._reposters_limit = reposters_limit
        self._host, self._port = host, port
        pattern = redirect_uri_pattern or _DEFAULT_REDIRECT
        self._client = _Client(self.client_id, self.client_secret,
                               re.compile(pattern) if isinstance(pattern, str) else pattern)

        self._lock = threading.RLock()
        self._users: dict[str, SandboxUser] = {}  # by lower-cased username
        self._users_by_id: dict[str, SandboxUser] = {}
        self._posts: dict[str, Post] = {}
        self._codes: dict[str, _AuthCode] = {}
        self._grants: dict[str, _Grant] = {}
        self._by_access: dict[str, _Token] = {}
        self._by_refresh: dict[str, _Token] = {}
        self._retweets: dict[tuple[str, str], str] = {}  # (user_id, tweet_id) -> repost id
        self._repost_log: list[RepostRecord] = []
        self._unrepost_log: list[UnrepostRecord] = []
        self._revocations: list[Revocation] = []
        self._revocation_requests: list[RevocationRequest] = []
        self._search_log: list[SearchRecord] = []
        self._request_log: list[RequestRecord] = []
        self._search_reads = 0
        self._calls: Counter[str] = Counter()  # requests per route name, whatever their answer
        self._read_ids: set[str] = set()
        self._rate_windows: dict[tuple[str, str], _RateWindow] = {}
        self._faults: list[_Fault] = []
        self._id_seq: tuple[int, int] = (0, 0)
        self._next_user_id = 1_400_000_000_000_000_000

        self._server: Any = None
        self._thread: threading.Thread | None = None
        self.base_url: str | None = None
        self.app = self._build_app()

    # ---- lifecycle ------------------------------------------------------------------------------

    def start(self) -> str:
        """Serve on the loopback port (a free one by default) in a daemon thread; returns the base URL."""
        if self._server is not None:
            return self.base_url  # type: ignore[return-value]
        server = make_server(self._host, self._port, self.app, threaded=True, request_handler=_QuietHandler)
        self._server = server
        self.base_url = f"http://{self._host}:{server.server_port}"
        # A short poll interval keeps stop() fast (shutdown waits for the loop to notice).
        self._thread = threading.Thread(target=lambda: server.serve_forever(poll_interval=0.05),
                                        name="sandbox-x", daemon=True)
        self._thread.start()
        return self.base_url

    def stop(self) -> None:
        if self._server is None:
            return
        self._server.shutdown()
        self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self._server = self._thread = None

    def __enter__(self) -> SandboxX:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def authorize_url(self) -> str:
        return f"{self._require_base()}/i/oauth2/authorize"

    @property
    def token_url(self) -> str:
        return f"{self._require_base()}/2/oauth2/token"

    @property
    def revoke_url(self) -> str:
        return f"{self._require_base()}/2/oauth2/revoke"

    def _require_base(self) -> str:
        if self.base_url is None:
            raise RuntimeError("the sandbox is not started")
        return self.base_url

    # ---- loading ----------------------------------------------------------------------------------

    def add_user(self, username: str, name: str | None = None, user_id: str | None = None) -> SandboxUser:
        """Create a user (or return the existing one with that username, case-insensitive)."""
        with self._lock:
            existing = self._users.get(username.lower())
            if existing is not None:
                return existing
            if user_id is None:
                self._next_user_id += 1
                while str(self._next_user_id) in self._users_by_id:
                    self._next_user_id += 1
                user_id = str(self._next_user_id)
            elif user_id in self._users_by_id:
                raise ValueError(f"user id {user_id} already belongs to @{self._users_by_id[user_id].username}")
            user = SandboxUser(user_id, username, name or username, clock.now())
            self._users[username.lower()] = user
            self._users_by_id[user_id] = user
            return user

    def add_posts(self, posts: Iterable[Post | Mapping[str, Any]]) -> int:
        """Load posts (feed `Post`s or dicts like `Post.to_dict()`); their authors become users.
        A post becomes visible to search once the clock passes its `created_at`. Returns the count."""
        count = 0
        with self._lock:
            for item in posts:
                post = item if isinstance(item, Post) else Post.from_mapping(item)
                if not _ID.match(post.id):
                    raise ValueError(f"post id must be 1-19 digits: {post.id!r}")
                author = self._users_by_id.get(post.author_id)
                if author is None:
                    self.add_user(post.username, post.name or post.username, post.author_id)
                elif author.username.lower() != post.username.lower():
                    raise ValueError(f"author id {post.author_id} is @{author.username}, not @{post.username}")
                self._posts[post.id] = post
                count += 1
        return count

    def fail_next(self, method: str, path_prefix: str, status: int = 503, times: int = 1, *,
                  after: bool = False, drop: bool = False, reset_at: int | None = None) -> None:
        """Make the next `times` requests of `method` whose path starts with `path_prefix` fail.

        * By default the answer is `status` (an X-shaped problem body) and the route does not run: nothing
          is recorded (a 5xx, or a 429, before acting).
        * ``after=True``: the route runs first (a repost is recorded, the truth changes) and its answer is
          replaced by `status`: the platform acted but the client sees an error.
        * ``drop=True``: no answer at all, the connection is closed (the client sees a connection error, as
          on a time-out); with ``after=True`` the route has acted before. The request log shows status 0.
        * A 429 carries ``x-rate-limit-limit/remaining/reset``; the reset is `reset_at` (epoch seconds),
          by default 15 minutes from now.

        Faults queue in order; each matching request uses up one of the first matching fault's `times`.
        """
        with self._lock:
            self._faults.append(_Fault(method.upper(), path_prefix, status, times, after, drop, reset_at))

    def clear_faults(self) -> None:
        """Forget every fault not yet used (between examples of a property-based test)."""
        with self._lock:
            self._faults.clear()

    def reset_rate_limits(self) -> None:
        """Start every rate window over (when a test's clock starts over, a kept window would never turn)."""
        with self._lock:
            self._rate_windows.clear()

    # ---- truth ------------------------------------------------------------------------------------

    @property
    def users(self) -> dict[str, SandboxUser]:
        with self._lock:
            return {u.username: u for u in self._users.values()}

    @property
    def users_by_id(self) -> dict[str, SandboxUser]:
        with self._lock:
            return dict(self._users_by_id)

    @property
    def posts(self) -> dict[str, Post]:
        with self._lock:
            return dict(self._posts)

    @property
    def retweets(self) -> set[tuple[str, str]]:
        """Current reposts as (user_id, tweet_id)."""
        with self._lock:
            return set(self._retweets)

    @property
    def repost_log(self) -> list[RepostRecord]:
        with self._lock:
            return list(self._repost_log)

    @property
    def unrepost_log(self) -> list[UnrepostRecord]:
        with self._lock:
            return list(self._unrepost_log)

    @property
    def search_reads(self) -> int:
        """Posts returned by search responses in total (X's billable post reads)."""
        with self._lock:
            return self._search_reads

    @property
    def unique_posts_read(self) -> int:
        with self._lock:
            return len(self._read_ids)

    @property
    def read_post_ids(self) -> frozenset[str]:
        with self._lock:
            return frozenset(self._read_ids)

    @property
    def calls(self) -> Counter[str]:
        """Requests received per route name (``retweet``, ``unretweet``, ``retweeted_by``, ``search_recent``,
        ``users_me``, ``token``, ``revoke``, ``authorize``), injected faults included."""
        with self._lock:
            return Counter(self._calls)

    @property
    def search_log(self) -> list[SearchRecord]:
        with self._lock:
            return list(self._search_log)

    @property
    def request_log(self) -> list[RequestRecord]:
        with self._lock:
            return list(self._request_log)

    @property
    def revocations(self) -> list[Revocation]:
        with self._lock:
            return list(self._revocations)

    @property
    def revocation_requests(self) -> list[RevocationRequest]:
        """Every authenticated call of the revocation endpoint (effective or not)."""
        with self._lock:
            return list(self._revocation_requests)

    @property
    def grants(self) -> list[GrantView]:
        with self._lock:
            return [self._grant_view(g) for g in self._grants.values()]

    def active_grants(self, username: str | None = None) -> list[GrantView]:
        """Grants with at least one working token (optionally of one user)."""
        return [g for g in self.grants if g.active and (username is None or g.username.lower() == username.lower())]

    def remove_app(self, username: str) -> int:
        """The user removes the app in X's settings: every grant of theirs ends, with each token of it (no call
        of the revocation endpoint, so no fault queued for it applies). Returns how many grants ended."""
        with self._lock:
            user = self._users.get(username.lower())
            ended = [g for g in self._grants.values() if user and g.user_id == user.id and g.revoked_at is None]
            for grant in ended:
                grant.revoked_at = clock.now()
            return len(ended)

    def issued_tokens(self) -> list[str]:
        """Every access and refresh token issued so far (oldest first), dead or alive."""
        with self._lock:
            tokens: list[str] = []
            for record in self._by_access.values():
                tokens.append(record.access_token)
                if record.refresh_token:
                    tokens.append(record.refresh_token)
            return tokens

    def tokens_of_grant(self, token: str) -> list[str]:
        """Every access and refresh token of the grant (the chain of refreshes) that issued `token`; [] if unknown."""
        with self._lock:
            record = self._by_access.get(token) or self._by_refresh.get(token)
            if record is None:
                return []
            chain = [t for t in self._by_access.values() if t.grant is record.grant]
            return [s for t in chain for s in (t.access_token, t.refresh_token) if s]

    def is_token_active(self, token: str) -> bool:
        """Whether an access or refresh token (or the app bearer token) would be accepted now."""
        with self._lock:
            if token == self.bearer_token:
                return True
            if token in self._by_access:
                return self._by_access[token].access_active()
            if token in self._by_refresh:
                return self._by_refresh[token].refresh_active()
            return False

    def _grant_view(self, grant: _Grant) -> GrantView:
        tokens = [t for t in self._by_access.values() if t.grant is grant]
        active = grant.revoked_at is None and any(t.access_active() or t.refresh_active() for t in tokens)
        user = self._users_by_id[grant.user_id]
        return GrantView(grant.id, grant.user_id, user.username, grant.scope, grant.created_at, grant.revoked_at,
                         active)

    # ---- OAuth storage (called by the authlib classes, under the lock) -------------------------------

    def _save_code(self, code: str, req: Any) -> None:
        data = req.payload.data
        self._codes[code] = _AuthCode(
            code=code,
            client_id=req.client.get_client_id(),
            redirect_uri=req.payload.redirect_uri,
            scope=req.scope,
            user_id=req.user.id,
            code_challenge=data.get("code_challenge"),
            code_challenge_method=data.get("code_challenge_method"),
            expires_at=clock.now() + self.code_ttl,
        )

    def _query_code(self, code: str, client: ClientMixin) -> _AuthCode | None:
        item = self._codes.get(code)
        if item is None or item.client_id != client.get_client_id():
            return None
        if item.is_expired():
            self._codes.pop(code, None)
            return None
        return item

    def _save_token(self, token: dict[str, Any], req: Any) -> None:
        now = clock.now()
        old = req.refresh_token
        if old is not None:  # refresh grant: same authorization
            grant = old.grant
        else:
            grant = _Grant(generate_token(24), req.client.get_client_id(), req.user.id, token.get("scope", ""), now)
            self._grants[grant.id] = grant
        record = _Token(token["access_token"], token.get("refresh_token"), grant, token.get("scope", ""), now,
                        int(token["expires_in"]))
        self._by_access[record.access_token] = record
        if record.refresh_token:
            self._by_refresh[record.refresh_token] = record

    def _find_live_token(self, token: str, hint: str | None) -> tuple[str, _Token] | None:
        order = ("refresh_token", "access_token") if hint == "refresh_token" else ("access_token", "refresh_token")
        for kind in order:
            if kind == "access_token" and token in self._by_access and self._by_access[token].access_active():
                return kind, self._by_access[token]
            if kind == "refresh_token" and token in self._by_refresh and self._by_refresh[token].refresh_active():
                return kind, self._by_refresh[token]
        return None

    def _note_revocation_request(self, token: str, hint: str | None, found: tuple[str, _Token] | None) -> None:
        self._revocation_requests.append(RevocationRequest(
            clock.now(), token, hint, found[0] if found else None, found[1].grant.id if found else None))

    def _revoke(self, kind: str, token: _Token) -> None:
        now = clock.now()
        grant = token.grant
        user = self._users_by_id[grant.user_id]
        if kind == "refresh_token":
            grant.revoked_at = now
            token_string = token.refresh_token or ""
        else:
            token.access_revoked_at = now
            token_string = token.access_token
        self._revocations.append(Revocation(now, grant.id, user.id, user.username, kind, token_string,
                                            whole_grant=kind == "refresh_token"))

    def _lookup_bearer(self, token_string: str) -> _Token | _AppToken | None:
        if secrets.compare_digest(token_string.encode(), self.bearer_token.encode()):
            return _AppToken()
        return self._by_access.get(token_string)

    # ---- the Flask app --------------------------------------------------------------------------------

    def _build_app(self) -> Flask:
        app = Flask(__name__)
        app.config.update(OAUTH2_SCOPES_SUPPORTED=list(X_SCOPES))
        server = AuthorizationServer(app, query_client=self._query_client, save_token=self._save_token)
        server.sandbox = self  # type: ignore[attr-defined]
        server.register_token_generator("default", _XTokenGenerator(
            lambda **_: _x_token("at"), lambda **_: _x_token("rt"),
            lambda client, grant_type: int(self.access_token_ttl.total_seconds())))
        server.register_grant(_CodeGrant, [_S256Only(required=True)])
        server.register_grant(_RefreshGrant)
        server.register_endpoint(_Revocation)
        protector = ResourceProtector()
        protector.register_token_validator(_Validator(self))
        self._oauth, self._protector = server, protector

        def locked(view: Callable[..., Response]) -> Callable[..., Response]:
            @wraps(view)
            def wrapper(*args: Any, **kwargs: Any) -> Response:
                with self._lock:
                    try:
                        return view(*args, **kwargs)
                    except _XError as err:
                        return self._problem(err)
            return wrapper

        @app.before_request
        def inject_faults() -> Response | None:
            with self._lock:
                if request.endpoint:
                    self._calls[request.endpoint] += 1
                g.fault = fault = self._take_fault(request.method, request.path)
            if fault is None or fault.after:
                return None
            # Answered here, the route never runs; a dropped one is cut in log_request.
            return Response(status=204) if fault.drop else self._problem(self._fault_error(fault))

        @app.after_request
        def log_request(response: Response) -> Response:
            fault: _Fault | None = g.get("fault")
            if fault is not None and fault.after and not fault.drop:
                response = self._problem(self._fault_error(fault))
            dropped = fault is not None and fault.drop
            with self._lock:
                self._request_log.append(RequestRecord(clock.now(), request.method, request.path,
                                                       0 if dropped else response.status_code))
            if dropped:
                _drop_connection()
            return response

        @app.errorhandler(HTTPException)
        def http_error(err: HTTPException) -> Response:
            return self._problem(_about_blank(err.code or 500, err.name, err.description))

        @app.errorhandler(Exception)
        def internal_error(err: Exception) -> Response:
            app.logger.exception("sandbox X failed on %s %s", request.method, request.path)
            return self._problem(_XError(500, {"title": "Internal Server Error", "detail": repr(err),
                                               "type": PROBLEM_BASE + "internal-error", "status": 500}))

        app.add_url_rule("/i/oauth2/authorize", "authorize", locked(self._authorize), methods=["GET", "POST"])
        app.add_url_rule("/2/oauth2/token", "token", locked(lambda: server.create_token_response()),
                         methods=["POST"])
        app.add_url_rule("/2/oauth2/revoke", "revoke",
                         locked(lambda: server.create_endpoint_response(_Revocation.ENDPOINT_NAME)),
                         methods=["POST"])
        app.add_url_rule("/2/users/me", "users_me", locked(self._users_me), methods=["GET"])
        app.add_url_rule("/2/tweets/search/recent", "search_recent", locked(self._search_recent), methods=["GET"])
        app.add_url_rule("/2/users/<user_id>/retweets", "retweet", locked(self._retweet), methods=["POST"])
        app.add_url_rule("/2/users/<user_id>/retweets/<source_tweet_id>", "unretweet", locked(self._unretweet),
                         methods=["DELETE"])
        app.add_url_rule("/2/tweets/<tweet_id>/retweeted_by", "retweeted_by", locked(self._retweeted_by),
                         methods=["GET"])
        return app

    def _query_client(self, client_id: str) -> _Client | None:
        return self._client if client_id == self.client_id else None

    # ---- responses -------------------------------------------------------------------------------------

    @staticmethod
    def _json(body: Any, status: int = 200, headers: Mapping[str, str] | None = None) -> Response:
        return Response(json.dumps(body, ensure_ascii=False), status=status, headers=dict(headers or {}),
                        content_type="application/json; charset=utf-8")

    @staticmethod
    def _problem(err: _XError) -> Response:
        return Response(json.dumps(err.body, ensure_ascii=False), status=err.status, headers=err.headers,
                        content_type="application/problem+json")

    def _take_fault(self, method: str, path: str) -> _Fault | None:
        """The first queued fault matching the request, with one use taken (under the lock)."""
        fault = next((f for f in self._faults if method == f.method and path.startswith(f.path_prefix)), None)
        if fault is not None:
            fault.remaining -= 1
            self._faults = [f for f in self._faults if f.remaining > 0]
        return fault

    def _fault_error(self, fault: _Fault) -> _XError:
        titles = {429: "Too Many Requests", 500: "Internal Server Error", 502: "Bad Gateway",
                  503: "Service Unavailable", 504: "Gateway Timeout"}
        err = _about_blank(fault.status, titles.get(fault.status, "Error"))
        if fault.status == 429:
            reset = fault.reset_at or int((clock.now() + timedelta(minutes=15)).timestamp())
            err.headers.update({"x-rate-limit-limit": "0", "x-rate-limit-remaining": "0",
                                "x-rate-limit-reset": str(reset)})
        return err

    # ---- authorization page ----------------------------------------------------------------------------

    def _authorize(self) -> Response:
        server = self._oauth
        if request.method == "GET":
            try:
                grant = server.get_consent_grant(end_user=None)
            except OAuth2Error as error:
                return self._authorization_error(error)
            return self._consent_page(grant)

        decision = request.form.get("decision")
        username = (request.form.get("username") or "").strip().lstrip("@")
        try:
            grant = server.get_consent_grant(end_user=None)
        except OAuth2Error as error:
            return self._authorization_error(error)
        # Only an explicit "Cancel" denies: a browser's implicit submission (Enter in the username field)
        # sends the default button, "Authorize app"; a script that omits the button is taken as consent.
        if decision in ("deny", "cancel"):
            return server.create_authorization_response(grant_user=None, grant=grant)
        if not _USERNAME.match(username):
            return self._consent_page(grant, error="Enter a valid username (letters, digits, _; at most 15).",
                                      status=400)
        user = self.add_user(username)
        return server.create_authorization_response(grant_user=user, grant=grant)

    def _authorization_error(self, error: OAuth2Error) -> Response:
        if getattr(error, "redirect_uri", None):
            return self._oauth.handle_error_response(None, error)
        body = (f"<h1>Something went wrong</h1><p>{html.escape(error.error)}: "
                f"{html.escape(error.description or '')}</p>")
        return Response(self._page("Something went wrong", body), status=400, content_type="text/html; charset=utf-8")

    def _consent_page(self, grant: Any, error: str | None = None, status: int = 200) -> Response:
        data = grant.request.payload.data
        hidden = "".join(
            f'<input type="hidden" name="{html.escape(k)}" value="{html.escape(data.get(k, ""))}">'
            for k in ("response_type", "client_id", "redirect_uri", "scope", "state", "code_challenge",
                      "code_challenge_method") if data.get(k) is not None)
        scopes = scope_to_list(grant.request.scope or "")
        items = "".join(f"<li><strong>{html.escape(s)}</strong> — {html.escape(X_SCOPES.get(s, s))}</li>"
                        for s in scopes)
        host = urlsplit(grant.redirect_uri).netloc
        app = html.escape(self.app_name)
        body = f"""
<h1>{app} wants to access your X account</h1>
<p class="note">Local X sandbox: no real account is involved.</p>
{f'<p class="error" role="alert">{html.escape(error)}</p>' if error else ''}
<form method="post" action="/i/oauth2/authorize">
  {hidden}
  <label for="username">Username</label>
  <input id="username" name="username" autocomplete="username" pattern="@?[A-Za-z0-9_]{{1,15}}" required>
  <h2>Things this app will be able to do</h2>
  <ul id="scopes">{items}</ul>
  <p class="note">You will be sent back to {html.escape(host)}. You can revoke access at any time.</p>
  <button id="allow" type="submit" name="decision" value="allow">Authorize app</button>
  <button id="deny" type="submit" name="decision" value="deny" formnovalidate>Cancel</button>
</form>"""
        return Response(self._page(f"Authorize {app}", body), status=status, content_type="text/html; charset=utf-8")

    @staticmethod
    def _page(title: str, body: str) -> str:
        return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>{html.escape(title)}</title>
<style>
body {{ font-family: system-ui, sans-serif; background: #f5f8fa; color: #0f1419; margin: 0; }}
main {{ max-width: 32rem; margin: 3rem auto; background: #fff; padding: 2rem; border-radius: 1rem; }}
h1 {{ font-size: 1.4rem; }} h2 {{ font-size: 1rem; margin-top: 1.5rem; }}
label {{ display: block; font-weight: 600; margin-top: 1rem; }}
input {{ width: 100%; padding: .6rem; font-size: 1rem; box-sizing: border-box; }}
button {{ margin-top: 1rem; padding: .6rem 1.2rem; border-radius: 2rem; border: 1px solid #0f1419;
         font-size: 1rem; }}
#allow {{ background: #0f1419; color: #fff; }} #deny {{ background: #fff; }}
.note {{ color: #536471; font-size: .9rem; }} .error {{ color: #b00020; }}
</style></head><body><main>{body}</main></body></html>"""

    # ---- API helpers --------------------------------------------------------------------------------------

    def _authenticate(self, scopes: str | None, *, allow_app: bool) -> _Token | _AppToken:
        try:
            token = self._protector.acquire_token([scopes] if scopes else None)
        except InsufficientScopeError:
            raise _about_blank(403, "Forbidden", f"This endpoint needs the OAuth 2.0 scopes: {scopes}.") from None
        except OAuth2Error:
            raise _about_blank(401, "Unauthorized") from None
        if token.is_app and not allow_app:
            raise _unsupported_app_auth()
        return token

    def _rate(self, bucket: str, actor: str, limit: tuple[int, timedelta] | None) -> dict[str, str]:
        if limit is None:
            return {}
        window = self._rate_windows.setdefault((bucket, actor), _RateWindow(*limit))
        allowed, remaining, reset = window.hit(clock.now())
        headers = {"x-rate-limit-limit": str(window.limit), "x-rate-limit-remaining": str(remaining),
                   "x-rate-limit-reset": str(reset)}
        if not allowed:
            raise _XError(429, {"title": "Too Many Requests", "detail": "Too Many Requests", "type": "about:blank",
                                "status": 429}, headers)
        return headers

    def _visible(self, post: Post, now: datetime) -> bool:
        return now - timedelta(days=7) <= post.created_at <= now

    def _new_post_id(self, at: datetime) -> str:
        ms = int(at.timestamp() * 1000)
        last_ms, seq = self._id_seq
        seq = seq + 1 if ms == last_ms else 0
        self._id_seq = (ms, seq)
        return snowflake_id(at, seq, worker=SANDBOX_WORKER)

    def _user_object(self, user: SandboxUser, fields: set[str]) -> dict[str, Any]:
        out: dict[str, Any] = {"id": user.id, "name": user.name, "username": user.username}
        if "created_at" in fields:
            out["created_at"] = _iso(user.created_at)
        if "description" in fields:
            out["description"] = ""
        if "protected" in fields:
            out["protected"] = False
        if "verified" in fields:
            out["verified"] = False
        if "profile_image_url" in fields:
            out["profile_image_url"] = "https://abs.twimg.com/sticky/default_profile_images/default_profile_normal.png"
        if "url" in fields:
            out["url"] = ""
        return out

    def _post_object(self, post: Post, fields: set[str]) -> dict[str, Any]:
        out: dict[str, Any] = {"id": post.id, "text": post.text, "edit_history_tweet_ids": [post.id]}
        if "author_id" in fields:
            out["author_id"] = post.author_id
        if "created_at" in fields:
            out["created_at"] = _iso(post.created_at)
        if "conversation_id" in fields:
            out["conversation_id"] = post.conversation_id or post.id
        if "lang" in fields:
            out["lang"] = post.lang
        if "public_metrics" in fields:
            out["public_metrics"] = post.metrics.as_public_metrics()
        if "in_reply_to_user_id" in fields and post.in_reply_to_user_id:
            out["in_reply_to_user_id"] = post.in_reply_to_user_id
        if "referenced_tweets" in fields:
            refs = []
            if post.retweet_of:
                refs.append({"type": "retweeted", "id": post.retweet_of})
            if post.in_reply_to_id:
                refs.append({"type": "replied_to", "id": post.in_reply_to_id})
            if refs:
                out["referenced_tweets"] = refs
        if "entities" in fields:
            tags = [{"start": s, "end": e, "tag": t} for t, s, e in hashtags_of(post.text)]
            mentions = []
            for m in re.finditer(r"(?<!\w)@(\w{1,15})", post.text):
                entry: dict[str, Any] = {"start": m.start(), "end": m.end(), "username": m.group(1)}
                known = self._users.get(m.group(1).lower())
                if known:
                    entry["id"] = known.id
                mentions.append(entry)
            entities: dict[str, Any] = {}
            if tags:
                entities["hashtags"] = tags
            if mentions:
                entities["mentions"] = mentions
            if entities:
                out["entities"] = entities
        if "possibly_sensitive" in fields:
            out["possibly_sensitive"] = False
        if "reply_settings" in fields:
            out["reply_settings"] = "everyone"
        return out

    # ---- endpoints ----------------------------------------------------------------------------------------

    def _users_me(self) -> Response:
        token = self._authenticate("tweet.read users.read", allow_app=False)
        user_fields = _csv("user.fields", request.args.get("user.fields"), _USER_FIELDS)
        _csv("expansions", request.args.get("expansions"), frozenset({"pinned_tweet_id", "most_recent_tweet_id"}))
        user = self._users_by_id[token.user_id]
        return self._json({"data": self._user_object(user, user_fields)})

    def _search_recent(self) -> Response:
        token = self._authenticate("tweet.read users.read", allow_app=True)
        actor = "app" if token.is_app else token.user_id
        args = request.args
        now = clock.now()
        query = args.get("query")
        if not query:
            raise _invalid_request("query", query or "", "The `query` query parameter can not be empty")
        if len(query) > 4096:
            raise _invalid_request("query", query[:50], "The `query` query parameter value is too long")
        try:
            matcher = _compile_query(query)
        except _QueryError as err:
            raise _invalid_request("query", query, f"There were errors processing your request: {err}") from None

        raw_max = args.get("max_results", "10")
        if not raw_max.isdigit() or not 10 <= int(raw_max) <= 100:
            raise _invalid_request("max_results", raw_max,
                                   f"The `max_results` query parameter value [{raw_max}] is not between 10 and 100")
        max_results = int(raw_max)

        for one, other in (("since_id", "start_time"), ("until_id", "end_time"), ("next_token", "pagination_token")):
            if args.get(one) is not None and args.get(other) is not None:
                raise _invalid_request(one, args[one], f"At most one of `{one}`, `{other}` may be provided.")
        since_id = args.get("since_id")
        until_id = args.get("until_id")
        for name, value in (("since_id", since_id), ("until_id", until_id)):
            if value is not None and not _ID.match(value):
                raise _invalid_request(name, value, f"The `{name}` query parameter value [{value}] is not valid")
        window_start = now - timedelta(days=7)
        if since_id is not None and snowflake_time(since_id) < window_start:
            raise _invalid_request(
                "since_id", since_id,
                f"Invalid 'since_id':'{since_id}'. 'since_id' must be a tweet id created after {_iso(window_start)}.")
        start_time = end_time = None
        for name in ("start_time", "end_time"):
            value = args.get(name)
            if value is None:
                continue
            try:
                parsed = _parse_time(value)
            except ValueError:
                raise _invalid_request(name, value, f"Invalid '{name}':'{value}'.") from None
            if name == "start_time":
                if parsed < window_start:
                    raise _invalid_request(name, value, f"Invalid 'start_time':'{value}'. 'start_time' must be on "
                                                        f"or after {_iso(window_start)}")
                start_time = parsed
            else:
                end_time = parsed
        cursor_token = args.get("next_token") or args.get("pagination_token")
        cursor = None
        if cursor_token is not None:
            try:
                cursor = _decode_cursor(cursor_token)
            except (ValueError, binascii.Error, UnicodeDecodeError):
                message = f"The `next_token` query parameter value [{cursor_token}] is not valid"
                raise _invalid_request("next_token", cursor_token, message) from None

        tweet_fields = _csv("tweet.fields", args.get("tweet.fields"), _TWEET_FIELDS)
        tweet_fields |= _csv("post.fields", args.get("post.fields"), _TWEET_FIELDS)
        expansions = _csv("expansions", args.get("expansions"), _EXPANSIONS)
        user_fields = _csv("user.fields", args.get("user.fields"), _USER_FIELDS)
        headers = self._rate("search", actor, self._search_limit)

        def keep(post: Post) -> bool:
            if not self._visible(post, now):
                return False
            pid = int(post.id)
            if since_id is not None and pid <= int(since_id):
                return False
            if until_id is not None and pid >= int(until_id):
                return False
            if cursor is not None and pid >= int(cursor):
                return False
            if start_time is not None and post.created_at < start_time:
                return False
            if end_time is not None and post.created_at >= end_time:
                return False
            return matcher(post)

        matches = sorted((p for p in self._posts.values() if keep(p)), key=lambda p: int(p.id), reverse=True)
        page = matches[:max_results]
        body: dict[str, Any] = {}
        if page:
            body["data"] = [self._post_object(p, tweet_fields) for p in page]
            includes: dict[str, Any] = {}
            if "referenced_tweets.id" in expansions or "referenced_tweets.id.author_id" in expansions:
                ref_ids = [p.retweet_of or p.in_reply_to_id for p in page]
                ref_posts = [self._posts[i] for i in dict.fromkeys(ref_ids) if i and i in self._posts]
                if ref_posts:
                    includes["tweets"] = [self._post_object(p, tweet_fields) for p in ref_posts]
            user_ids: list[str] = []
            if "author_id" in expansions:
                user_ids += [p.author_id for p in page]
            if "in_reply_to_user_id" in expansions:
                user_ids += [p.in_reply_to_user_id for p in page if p.in_reply_to_user_id]
            if "referenced_tweets.id.author_id" in expansions:
                user_ids += [self._posts[t["id"]].author_id for t in includes.get("tweets", [])]
            users = [self._users_by_id[u] for u in dict.fromkeys(user_ids) if u in self._users_by_id]
            if users:
                includes["users"] = [self._user_object(u, user_fields) for u in users]
            if includes:
                body["includes"] = includes
        meta: dict[str, Any] = {"result_count": len(page)}
        if page:
            meta = {"newest_id": page[0].id, "oldest_id": page[-1].id, "result_count": len(page)}
            if len(matches) > len(page):
                meta["next_token"] = _encode_cursor(page[-1].id)
        body["meta"] = meta

        self._search_reads += len(page)
        self._read_ids.update(p.id for p in page)
        self._search_log.append(SearchRecord(now, actor, query, since_id, cursor_token, max_results, len(page)))
        return self._json(body, headers=headers)

    def _retweet(self, user_id: str) -> Response:
        token = self._authenticate("tweet.read tweet.write users.read", allow_app=False)
        self._check_owner(token, user_id)
        payload = request.get_json(silent=True)
        tweet_id = payload.get("tweet_id") if isinstance(payload, dict) else None
        if not isinstance(tweet_id, str) or not _ID.match(tweet_id):
            raise _invalid_request("tweet_id", str(tweet_id), "The `tweet_id` body parameter must be a post id "
                                                              "given as a string of 1 to 19 digits")
        now = clock.now()
        original = self._posts.get(tweet_id)
        if original is None or original.created_at > now:
            raise self._not_found(tweet_id)
        headers = self._rate("retweets", user_id, self._repost_limit)
        user = self._users_by_id[user_id]
        key = (user_id, tweet_id)
        duplicate = key in self._retweets
        if not duplicate:
            retweet_id = self._new_post_id(now)
            text = f"RT @{original.username}: {original.text}"
            self._posts[retweet_id] = Post(
                id=retweet_id, text=text if len(text) <= 280 else text[:279] + "…", author_id=user.id,
                username=user.username, name=user.name, created_at=now, lang=original.lang,
                conversation_id=retweet_id, retweet_of=tweet_id, kind="retweet")
            self._retweets[key] = retweet_id
            self._bump_reposts(tweet_id, +1)
        self._repost_log.append(RepostRecord(now, user_id, user.username, tweet_id, duplicate, self._retweets[key]))
        return self._json({"data": {"id": tweet_id, "rest_id": tweet_id, "retweeted": True}}, headers=headers)

    def _unretweet(self, user_id: str, source_tweet_id: str) -> Response:
        token = self._authenticate("tweet.read tweet.write users.read", allow_app=False)
        self._check_owner(token, user_id)
        if not _ID.match(source_tweet_id):
            raise _invalid_request("source_tweet_id", source_tweet_id,
                                   f"The `source_tweet_id` path parameter value [{source_tweet_id}] is not valid")
        user = self._users_by_id[user_id]
        retweet_id = self._retweets.pop((user_id, source_tweet_id), None)
        if retweet_id is not None:
            self._posts.pop(retweet_id, None)
            self._bump_reposts(source_tweet_id, -1)
        self._unrepost_log.append(UnrepostRecord(clock.now(), user_id, user.username, source_tweet_id,
                                                 retweet_id is not None))
        return self._json({"data": {"retweeted": False}})

    def _retweeted_by(self, tweet_id: str) -> Response:
        token = self._authenticate("tweet.read users.read", allow_app=True)
        args = request.args
        if not _ID.match(tweet_id):
            raise _invalid_request("id", tweet_id, f"The `id` path parameter value [{tweet_id}] is not valid")
        raw_max = args.get("max_results", "100")
        if not raw_max.isdigit() or not 1 <= int(raw_max) <= 100:
            raise _invalid_request("max_results", raw_max,
                                   f"The `max_results` query parameter value [{raw_max}] is not between 1 and 100")
        max_results = int(raw_max)
        cursor_token = args.get("pagination_token")
        cursor = None
        if cursor_token is not None:
            try:
                cursor = _decode_cursor(cursor_token)
            except (ValueError, binascii.Error, UnicodeDecodeError):
                message = f"The `pagination_token` query parameter value [{cursor_token}] is not valid"
                raise _invalid_request("pagination_token", cursor_token, message) from None
        user_fields = _csv("user.fields", args.get("user.fields"), _USER_FIELDS)
        _csv("expansions", args.get("expansions"), frozenset({"pinned_tweet_id", "most_recent_tweet_id"}))
        _csv("tweet.fields", args.get("tweet.fields"), _TWEET_FIELDS)
        _csv("post.fields", args.get("post.fields"), _TWEET_FIELDS)
        headers = self._rate("retweeted_by", "app" if token.is_app else token.user_id, self._reposters_limit)

        original = self._posts.get(tweet_id)
        if original is None or original.created_at > clock.now():
            return self._json({"errors": [{
                "value": tweet_id,
                "detail": f"Could not find tweet with id: [{tweet_id}].",
                "title": "Not Found Error",
                "resource_type": "tweet",
                "parameter": "id",
                "resource_id": tweet_id,
                "type": PROBLEM_BASE + "resource-not-found",
            }]}, headers=headers)
        # Current reposts only, newest first; the cursor is the last repost id shown (stable while paging).
        reposts = sorted(((int(rid), uid) for (uid, tid), rid in self._retweets.items()
                          if tid == tweet_id and (cursor is None or int(rid) < int(cursor))), reverse=True)
        page = reposts[:max_results]
        body: dict[str, Any] = {}
        if page:
            body["data"] = [self._user_object(self._users_by_id[uid], user_fields) for _, uid in page]
        meta: dict[str, Any] = {"result_count": len(page)}
        if len(reposts) > len(page):
            meta["next_token"] = _encode_cursor(str(page[-1][0]))
        body["meta"] = meta
        return self._json(body, headers=headers)

    def _check_owner(self, token: _Token | _AppToken, user_id: str) -> None:
        if token.user_id != user_id:
            raise _XError(403, {
                "title": "Forbidden",
                "detail": "You are not permitted to act on behalf of this user: the path id must be the "
                          "authenticated user's id.",
                "type": PROBLEM_BASE + "not-authorized-for-resource",
                "resource_type": "user",
                "resource_id": user_id,
                "status": 403,
            })

    def _not_found(self, tweet_id: str) -> _XError:
        return _XError(404, {
            "title": "Not Found Error",
            "detail": f"Could not find tweet with tweet_id: [{tweet_id}].",
            "type": PROBLEM_BASE + "resource-not-found",
            "resource_type": "tweet",
            "resource_id": tweet_id,
            "parameter": "tweet_id",
            "value": tweet_id,
            "status": 404,
        })

    def _bump_reposts(self, tweet_id: str, delta: int) -> None:
        post = self._posts.get(tweet_id)
        if post is not None:
            metrics = replace(post.metrics, retweet_count=max(0, post.metrics.retweet_count + delta))
            self._posts[tweet_id] = replace(post, metrics=metrics)


# --------------------------------------------------------------------------------------------------
# Pointing HTTP clients at the sandbox (testing only)
# --------------------------------------------------------------------------------------------------


class _RewriteAdapter(requests.adapters.HTTPAdapter):
    def __init__(self, prefix: str, target: str) -> None:
        super().__init__()
        self._prefix, self._target = prefix.rstrip("/"), target.rstrip("/")

    def send(self, req: requests.PreparedRequest, **kwargs: Any) -> requests.Response:  # type: ignore[override]
        if req.url and req.url.startswith(self._prefix):
            req.url = self._target + req.url[len(self._prefix):]
        kwargs["proxies"] = {}  # loopback: never through a proxy chosen for the original host
        return super().send(req, **kwargs)


def route_session_to(session: requests.Session, base_url: str,
                     prefixes: Iterable[str] = ("https://api.twitter.com", "https://api.x.com")) -> requests.Session:
    """Mount adapters on a `requests` session so requests to X's API hosts reach `base_url` instead."""
    for prefix in prefixes:
        session.mount(prefix.rstrip("/") + "/", _RewriteAdapter(prefix, base_url))
    return session


def route_tweepy_to(client: Any, base_url: str) -> Any:
    """Point a `tweepy.Client` (which hard-codes https://api.twitter.com) at the sandbox. Testing only."""
    route_session_to(client.session, base_url)
    return client

