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

The package: `records` (what the sandbox stores, and the truth records), `oauth` (the authorization server
and consent page), `search` (the query compiler and paging tokens), `routes` (the Flask app and the API
routes), `errors` (X's problem answers) and `faults` (an injected fault's answer); `SandboxX` here assembles
them. What every network's sandbox shares is `relaycast_local.sandbox_common`.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from datetime import timedelta
from typing import Any

import requests
from authlib.common.security import generate_token

from relaycast_local import sandbox_common
from relaycast_local.sandbox_common import (
    Fault,
    FaultQueue,
    LoopbackSandbox,
    RateWindows,
    Serving,
    endpoint_url,
    serve_wsgi,
)
from relaycast_local.sandbox_x.oauth import DEFAULT_REDIRECT, X_SCOPES, Client
from relaycast_local.sandbox_x.records import (
    GrantView,
    RepostRecord,
    Revocation,
    RevocationRequest,
    SandboxUser,
    SearchRecord,
    UnrepostRecord,
    XRecords,
)
from relaycast_local.sandbox_x.routes import build_app

__all__ = [
    "GrantView",
    "RepostRecord",
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

X_API_HOSTS = ("https://api.twitter.com", "https://api.x.com")


class SandboxX(XRecords, LoopbackSandbox):
    """A local X API v2 (subset) with an authlib OAuth 2.0 server, on a free loopback port.

    Use as a context manager (``with SandboxX() as x: x.base_url``) or ``start()`` / ``stop()``. The
    Flask app is ``app`` (a WSGI app usable without HTTP too). Every truth attribute (`XRecords`) is a copy
    taken under the sandbox lock, safe to read while requests are served.
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
        super().__init__(bearer_token=bearer_token or "AAAAAAAAAAAAAAAAAAAAA" + generate_token(80),
                         access_token_ttl=access_token_ttl, code_ttl=code_ttl)
        self.client_id = client_id or generate_token(34)
        self.client_secret = client_secret or generate_token(50)
        self.app_name = app_name
        self._host, self._port = host, port
        pattern = redirect_uri_pattern or DEFAULT_REDIRECT
        client = Client(self.client_id, self.client_secret, re.compile(pattern) if isinstance(pattern, str) else pattern)
        self._faults = FaultQueue()
        self._rates = RateWindows()
        self.app = build_app(self, client, app_name, self._faults, self._rates, repost_limit=repost_limit,
                             search_limit=search_limit, reposters_limit=reposters_limit)

    def _serve(self) -> Serving:
        return serve_wsgi(self.app, self._host, self._port, "sandbox-x")

    authorize_url = endpoint_url("/i/oauth2/authorize")
    token_url = endpoint_url("/2/oauth2/token")
    revoke_url = endpoint_url("/2/oauth2/revoke")

    # ---- faults and rate windows ---------------------------------------------------------------------

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
        with self.lock:
            self._faults.add(Fault(method.upper(), path_prefix, status, times, after, drop, reset_at))

    def clear_faults(self) -> None:
        """Forget every fault not yet used (between examples of a property-based test)."""
        with self.lock:
            self._faults.clear()

    def reset_rate_limits(self) -> None:
        """Start every rate window over (when a test's clock starts over, a kept window would never turn)."""
        with self.lock:
            self._rates.clear()


# --------------------------------------------------------------------------------------------------
# Pointing HTTP clients at the sandbox (testing only)
# --------------------------------------------------------------------------------------------------


def route_session_to(session: requests.Session, base_url: str,
                     prefixes: Iterable[str] = X_API_HOSTS) -> requests.Session:
    """Mount adapters on a `requests` session so requests to X's API hosts reach `base_url` instead."""
    return sandbox_common.route_session_to(session, base_url, prefixes)


def route_tweepy_to(client: Any, base_url: str) -> Any:
    """Point a `tweepy.Client` (which hard-codes https://api.twitter.com) at the sandbox. Testing only."""
    route_session_to(client.session, base_url)
    return client
