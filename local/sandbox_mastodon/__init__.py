"""A Mastodon instance on loopback: the third-party mastodon-mock server, with the OAuth parts it fakes made real.

What is **mastodon-mock's** (PyPI `mastodon-mock`, FastAPI + SQLite, unchanged): the Mastodon REST API
relaycast calls — ``POST /api/v1/apps``, ``GET /api/v1/accounts/verify_credentials``, statuses (``GET
/api/v1/statuses/{id}`` with the viewer's ``reblogged``), ``POST /api/v1/statuses/{id}/reblog|unreblog``,
``GET /api/v1/statuses/{id}/reblogged_by``, tag timelines, local search — its data (an SQLite file per
server), Mastodon's ``{"error": …}`` envelope, and its mock-only helpers used here: ``POST
/api/v1/_mock/dev_user`` and ``/_mock/login`` (accounts and their tokens, for loading statuses) and
``/api/v1/_mock/faults`` (forced statuses, rate limits, latency).

Its OAuth is a stand-in: ``/oauth/authorize`` is an account picker whose code is ``mockcode_<username>``,
``/oauth/token`` checks neither the client, the redirect URI nor PKCE, ``/oauth/revoke`` deletes any token
for anyone, and its optional scope check knows only ``read``/``write`` (a granular token fails it).

What is **ours** (routes placed in front of mastodon-mock's, and two middlewares):

* ``GET /oauth/authorize`` checks the app, the registered redirect URI, ``response_type=code``, the scopes
  (a subset of the app's) and PKCE (``S256`` only, as Mastodon ≥ 4.3; the sandbox *requires* it, stricter
  than Mastodon, because relaycast always sends it), then shows a consent page with stable hooks:
  ``#username``, ``#allow`` (``decision=allow``), ``#deny`` (``decision=deny``). An unknown username
  creates a local account (the username is the login). Errors go back to the redirect URI as
  ``error=…&state=…``, except an unknown app or redirect URI (a 400 page, never a redirect).
* ``POST /oauth/authorize`` issues a random, single-use code (10 minutes, read on ``relaycast.clock``).
* ``POST /oauth/token`` (``authorization_code``): client authentication (body or Basic), the code's client
  and redirect URI, the PKCE verifier; the token is minted in mastodon-mock's table with the granted
  scopes, so its API accepts it. Other grant types go to mastodon-mock's handler.
* ``POST /oauth/revoke``: client authentication; a token of another app is a 403 ``unauthorized_client``
  (Doorkeeper's answer); unknown tokens get 200. A revoked token then gets 401 on every API call
  (Doorkeeper keeps it as revoked; mastodon-mock, having deleted it, would serve the call anonymously).
* Granular scopes on the endpoints relaycast uses (verify_credentials: ``profile``/``read:accounts``;
  reblog and unreblog: ``write:statuses``; search: ``read:search``; reading a status with a token:
  ``read:statuses``, as Mastodon's ``authorize_if_got_token!``; the broad scopes cover them). A status read
  anonymously (no token, or one the instance does not know) comes without the viewer's flags
  (``reblogged``, ``favourited``, …), as on Mastodon.
* ``GET /api/v2/search`` with ``resolve`` and an https URL returns the status at that URL, as an instance
  that fetched it would: a local status URL, or a "remote" status loaded with ``add_remote_status``;
  resolving needs a user token (Mastodon ≥ 4.0). Anything else is mastodon-mock's local search.
* A request log (``requests``): method, path, query, headers, body and status of every request except
  the sandbox's own helper calls, for checking relaycast's requests against the official spec.

Point the local runtime at it with ``MASTODON_SANDBOX='{"mastodon.sandbox": "<base_url>"}'``
(``sandbox.env()``): relaycast's netguard then lets that one host name reach this loopback server.

The package: `records` (the sandbox's own state and the reads of mastodon-mock's database), `oauth` (the
OAuth views), `routes` (where they go in mastodon-mock's app, the search route and the scope check);
`SandboxMastodon` here assembles them and holds the helpers that go through the instance's own API.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import requests
from mastodon_mock.app import create_app
from mastodon_mock.config import DatabaseConfig, MastodonMockConfig, RateLimitConfig, SeedConfig, StreamingConfig
from mastodon_mock.db.models import Status

from relaycast_local.sandbox_common import AsgiRecorder, LoopbackSandbox, RecordedRequest, Serving, hidden_fields, serve_asgi
from relaycast_local.sandbox_mastodon.records import MastodonRecords
from relaycast_local.sandbox_mastodon.routes import extend

__all__ = ["RecordedRequest", "SandboxMastodon", "INTERNAL_HEADER"]

INTERNAL_HEADER = "X-Sandbox-Internal"  # the sandbox's own helper calls: kept out of the request log


class SandboxMastodon(MastodonRecords, LoopbackSandbox):
    """mastodon-mock on a free loopback port with relaycast's OAuth extensions; a context manager.

    ``domain`` is the instance's public name (status and profile URLs use ``https://<domain>/…``);
    ``base_url`` is where it really listens. ``ratelimit=(limit, window_seconds)`` turns on mastodon-mock's
    per-token limit (its ``X-RateLimit-Reset`` is epoch seconds; Mastodon's is ISO 8601).
    """

    def __init__(self, *, domain: str = "mastodon.sandbox", host: str = "127.0.0.1",
                 require_pkce: bool = True, ratelimit: tuple[int, int] | None = None) -> None:
        self.config = MastodonMockConfig(
            domain=domain,
            url_scheme="https",
            database=DatabaseConfig(path=":memory:"),
            seed=SeedConfig(),
            streaming=StreamingConfig(enabled=False),
            ratelimit=RateLimitConfig(enabled=ratelimit is not None, **(
                {"limit": ratelimit[0], "window_seconds": ratelimit[1]} if ratelimit else {})),
        )
        super().__init__(domain=domain, require_pkce=require_pkce, mock_app=create_app(self.config))
        self._host = host
        self._due: list[tuple[datetime, str, str]] = []  # scheduled statuses (schedule / release_until)
        extend(self.mock_app, self)
        self.app = AsgiRecorder(self.mock_app, self.lock, self.note_request, INTERNAL_HEADER)
        self._http = requests.Session()
        self._http.trust_env = False
        self._http.headers[INTERNAL_HEADER] = "1"

    def _serve(self) -> Serving:
        return serve_asgi(self.app, self._host, "sandbox-mastodon")

    def stop(self) -> None:
        if self._serving is not None:
            super().stop()
            self._http.close()

    # ---- what the local runtime and tests need ----------------------------------------------------

    @property
    def sandbox_setting(self) -> dict[str, str]:
        """netguard's sandbox allowance for this server."""
        return {self.domain: self._require_base()}

    def env(self) -> dict[str, str]:
        """The environment the local runtime gives relaycast's functions."""
        return {"MASTODON_SANDBOX": json.dumps(self.sandbox_setting)}

    def _call(self, method: str, path: str, **kwargs: Any) -> Any:
        response = self._http.request(method, f"{self._require_base()}{path}", timeout=10, **kwargs)
        response.raise_for_status()
        return response.json()

    def add_account(self, username: str, display_name: str | None = None) -> str:
        """A local account (mastodon-mock's dev_user helper); returns its id."""
        body = {"username": username, "display_name": display_name or username}
        return str(self._call("POST", "/api/v1/_mock/dev_user", json=body)["id"])

    def add_followers(self, username: str, count: int) -> None:
        """`count` local accounts follow `username` (created if needed), through the instance's own follow API:
        its verify_credentials then counts them."""
        target = self.account_id(username) or self.add_account(username)
        for i in range(count):
            fan = f"{username}_f{i}"
            if self.account_id(fan) is None:
                self.add_account(fan)
            self._call("POST", f"/api/v1/accounts/{target}/follow", headers={"Authorization": f"Bearer {self._token_for(fan)}"})

    def _token_for(self, username: str) -> str:
        return self._call("POST", "/api/v1/_mock/login", json={"username": username})["access_token"]

    def post_status(self, username: str, text: str, at: datetime | None = None) -> dict[str, Any]:
        """A public status by a local account (created if needed); returns mastodon-mock's Status. `at` dates
        it (an event's simulated time) instead of the wall clock."""
        if self.account_id(username) is None:
            self.add_account(username)
        headers = {"Authorization": f"Bearer {self._token_for(username)}"}
        status = self._call("POST", "/api/v1/statuses", data={"status": text, "visibility": "public"}, headers=headers)
        if at is not None:
            with self.db() as db:
                db.get(Status, int(status["id"])).created_at = at.astimezone(UTC)
                db.commit()
            status["created_at"] = at.isoformat()
        return status

    def schedule(self, statuses: list[tuple[datetime, str, str]]) -> None:
        """Statuses (time, username, text) that `release_until` posts once their time has come."""
        with self.lock:
            self._due = sorted([*self._due, *statuses])

    def release_until(self, now: datetime) -> int:
        """Post the scheduled statuses whose time is at or before `now` (a LocalCloud hook): the instance's
        timelines grow with the event's clock, as X's search does."""
        with self.lock:
            ready = [d for d in self._due if d[0] <= now]
            self._due = self._due[len(ready):]
        for at, username, text in ready:
            self.post_status(username, text, at=at)
        return len(ready)

    def reblogged(self, username: str, status_id: str) -> bool:
        """Whether the local account `username` has reblogged the status (mastodon-mock's reblogged_by)."""
        accounts = self._call("GET", f"/api/v1/statuses/{status_id}/reblogged_by")
        return any(a["acct"] == username for a in accounts)

    def fault(self, rule: dict[str, Any]) -> str:
        """Add a mastodon-mock fault rule, e.g. ``{"match": {"path": p}, "effect": {"type": "ratelimit"}, "count": 1}``."""
        return self._call("POST", "/api/v1/_mock/faults", json=rule)["id"]

    def clear_faults(self, ids: list[str]) -> None:
        """Remove fault rules by id (between examples of a property-based test); one already used up is gone."""
        for rule_id in ids:
            try:
                self._call("DELETE", f"/api/v1/_mock/faults/{rule_id}")
            except Exception:  # noqa: BLE001 — a rule whose count ran out is deleted by mastodon-mock itself
                pass

    def consent(self, authorize_url: str, username: str, decision: str = "allow") -> dict[str, str]:
        """A scripted relay: open the consent page, answer it, return the redirect's query parameters."""
        page = self._http.get(authorize_url, timeout=10)
        if page.status_code != 200:
            raise RuntimeError(f"the consent page answered {page.status_code}: {page.text[:200]}")
        answer = self._http.post(f"{self._require_base()}/oauth/authorize", allow_redirects=False, timeout=10,
                                 data={**hidden_fields(page.text), "username": username, "decision": decision})
        if answer.status_code != 302:
            raise RuntimeError(f"the consent answer was {answer.status_code}: {answer.text[:200]}")
        return dict(parse_qsl(urlsplit(answer.headers["Location"]).query))
