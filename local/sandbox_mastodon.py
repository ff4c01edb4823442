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
"""

from __future__ import annotations

import base64
import hashlib
import html
import json
import re
import secrets
import threading
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit

import requests
from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from mastodon_mock.app import create_app
from mastodon_mock.config import DatabaseConfig, MastodonMockConfig, RateLimitConfig, SeedConfig, StreamingConfig
from mastodon_mock.db.models import Account, OAuthApp, OAuthToken, Status, utcnow
from mastodon_mock.deps import Config, CurrentAccount, DbSession
from mastodon_mock.routers import oauth as mock_oauth
from mastodon_mock.routers import search as mock_search
from mastodon_mock.routers.helpers import read_body
from mastodon_mock.serializers.statuses import serialize_status
from sqlalchemy import select

from relaycast import clock

__all__ = ["RecordedRequest", "SandboxMastodon", "INTERNAL_HEADER"]

INTERNAL_HEADER = "X-Sandbox-Internal"  # the sandbox's own helper calls: kept out of the request log
CODE_TTL = timedelta(minutes=10)  # Doorkeeper's default
_USERNAME = re.compile(r"^[A-Za-z0-9_]{1,30}$")
_TRUE = {"1", "true", "on", "yes"}

# Endpoint → scopes any one of which allows it (Mastodon's granular scopes, broad ones included).
_SCOPED = (
    ("GET", re.compile(r"^/api/v1/accounts/verify_credentials$"), {"profile", "read", "read:accounts"}),
    ("POST", re.compile(r"^/api/v1/statuses/[^/]+/(un)?reblog$"), {"write", "write:statuses"}),
    ("GET", re.compile(r"^/api/v2/search$"), {"read", "read:search"}),
    ("GET", re.compile(r"^/api/v1/statuses/[^/]+$"), {"read", "read:statuses"}),
)
_STATUS = re.compile(r"^/api/v1/statuses/[^/]+$")
_VIEWER_FLAGS = ("favourited", "reblogged", "muted", "bookmarked", "pinned")  # Mastodon: signed-in viewers only


@dataclass(frozen=True)
class RecordedRequest:
    method: str
    path: str
    query: str
    headers: dict[str, str]
    body: bytes
    status: int

    def __repr__(self) -> str:  # headers and bodies carry tokens and secrets
        return f"RecordedRequest({self.method} {self.path} → {self.status})"


@dataclass
class _Code:
    client_id: str
    redirect_uri: str
    scopes: list[str]
    challenge: str
    account_id: int
    expires_at: datetime


@dataclass
class _Refusal(Exception):
    error: str
    description: str
    redirect: bool = True  # False: the redirect URI itself is not trusted, show a page


class _Recorder:
    """ASGI wrapper keeping every request and its status (bodies as received)."""

    def __init__(self, app: Any, log: list[RecordedRequest], lock: threading.Lock):
        self.app, self.log, self.lock = app, log, lock

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        if INTERNAL_HEADER.lower() in headers:
            return await self.app(scope, receive, send)
        body, status = bytearray(), [0]

        async def receiving() -> dict[str, Any]:
            message = await receive()
            if message["type"] == "http.request":
                body.extend(message.get("body", b""))
            return message

        recorded = [False]

        def record() -> None:
            if not recorded[0]:
                recorded[0] = True
                entry = RecordedRequest(scope["method"], scope["path"], scope.get("query_string", b"").decode("latin-1"),
                                        headers, bytes(body), status[0])
                with self.lock:
                    self.log.append(entry)

        async def sending(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.start":
                status[0] = message["status"]
                record()  # before the client can see the answer: a test reading the log right after finds it
            await send(message)

        try:
            await self.app(scope, receiving, sending)
        finally:
            record()


class SandboxMastodon:
    """mastodon-mock on a free loopback port with relaycast's OAuth extensions; a context manager.

    ``domain`` is the instance's public name (status and profile URLs use ``https://<domain>/…``);
    ``base_url`` is where it really listens. ``ratelimit=(limit, window_seconds)`` turns on mastodon-mock's
    per-token limit (its ``X-RateLimit-Reset`` is epoch seconds; Mastodon's is ISO 8601).
    """

    def __init__(self, *, domain: str = "mastodon.sandbox", host: str = "127.0.0.1",
                 require_pkce: bool = True, ratelimit: tuple[int, int] | None = None) -> None:
        self.domain = domain
        self.require_pkce = require_pkce
        self._host = host
        self._lock = threading.Lock()
        self._codes: dict[str, _Code] = {}
        self._revoked: set[str] = set()  # access tokens revoked through /oauth/revoke
        self._issued: list[str] = []  # every token the authorization-code exchange handed out, oldest first
        self._log: list[RecordedRequest] = []
        self._due: list[tuple[datetime, str, str]] = []  # scheduled statuses (schedule / release_until)
        self.config = MastodonMockConfig(
            domain=domain,
            url_scheme="https",
            database=DatabaseConfig(path=":memory:"),
            seed=SeedConfig(),
            streaming=StreamingConfig(enabled=False),
            ratelimit=RateLimitConfig(enabled=ratelimit is not None, **(
                {"limit": ratelimit[0], "window_seconds": ratelimit[1]} if ratelimit else {})),
        )
        self.mock_app: FastAPI = create_app(self.config)
        self._extend(self.mock_app)
        self.app = _Recorder(self.mock_app, self._log, self._lock)
        self._server: Any = None
        self._thread: threading.Thread | None = None
        self.base_url: str | None = None
        self._http = requests.Session()
        self._http.trust_env = False
        self._http.headers[INTERNAL_HEADER] = "1"

    # ---- lifecycle ------------------------------------------------------------------------------

    def start(self) -> str:
        """Serve on a free loopback port in a daemon thread (uvicorn); returns the base URL."""
        if self._server is not None:
            return self.base_url  # type: ignore[return-value]
        import uvicorn

        server = uvicorn.Server(uvicorn.Config(self.app, host=self._host, port=0, log_level="warning"))
        thread = threading.Thread(target=server.run, name="sandbox-mastodon", daemon=True)
        thread.start()
        deadline = time.monotonic() + 10
        while not server.started:
            if not thread.is_alive() or time.monotonic() > deadline:
                server.should_exit = True
                raise RuntimeError("the Mastodon sandbox did not start")
            time.sleep(0.01)
        port = server.servers[0].sockets[0].getsockname()[1]
        self._server, self._thread = server, thread
        self.base_url = f"http://{self._host}:{port}"
        return self.base_url

    def stop(self) -> None:
        if self._server is None:
            return
        self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(timeout=5)
        self._server = self._thread = None
        self._http.close()

    def __enter__(self) -> SandboxMastodon:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _require_base(self) -> str:
        if self.base_url is None:
            raise RuntimeError("the sandbox is not started")
        return self.base_url

    # ---- what the local runtime and tests need ----------------------------------------------------

    @property
    def sandbox_setting(self) -> dict[str, str]:
        """netguard's sandbox allowance for this server."""
        return {self.domain: self._require_base()}

    def env(self) -> dict[str, str]:
        """The environment the local runtime gives relaycast's functions."""
        return {"MASTODON_SANDBOX": json.dumps(self.sandbox_setting)}

    @property
    def requests(self) -> list[RecordedRequest]:
        with self._lock:
            return list(self._log)

    def clear_log(self) -> None:
        with self._lock:
            self._log.clear()

    def _call(self, method: str, path: str, **kwargs: Any) -> Any:
        response = self._http.request(method, f"{self._require_base()}{path}", timeout=10, **kwargs)
        response.raise_for_status()
        return response.json()

    def add_account(self, username: str, display_name: str | None = None) -> str:
        """A local account (mastodon-mock's dev_user helper); returns its id."""
        body = {"username": username, "display_name": display_name or username}
        return str(self._call("POST", "/api/v1/_mock/dev_user", json=body)["id"])

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
            with self.mock_app.state.session_factory() as db:
                db.get(Status, int(status["id"])).created_at = at.astimezone(UTC)
                db.commit()
            status["created_at"] = at.isoformat()
        return status

    def schedule(self, statuses: list[tuple[datetime, str, str]]) -> None:
        """Statuses (time, username, text) that `release_until` posts once their time has come."""
        with self._lock:
            self._due = sorted([*self._due, *statuses])

    def release_until(self, now: datetime) -> int:
        """Post the scheduled statuses whose time is at or before `now` (a LocalCloud hook): the instance's
        timelines grow with the event's clock, as X's search does."""
        with self._lock:
            ready = [d for d in self._due if d[0] <= now]
            self._due = self._due[len(ready):]
        for at, username, text in ready:
            self.post_status(username, text, at=at)
        return len(ready)

    def add_remote_status(self, url: str, text: str, acct: str = "expert@events.example") -> str:
        """A status from another instance, as if this one had fetched it; `search?resolve` finds it by URL."""
        username, _, domain = acct.partition("@")
        with self.mock_app.state.session_factory() as db:
            account = db.scalar(select(Account).where(Account.username == username, Account.domain == domain))
            if account is None:
                account = Account(username=username, domain=domain, display_name=username, created_at=utcnow(),
                                  fields=[])
                db.add(account)
                db.flush()
            status = Status(account_id=account.id, content=f"<p>{html.escape(text)}</p>", text=text, url=url,
                            visibility="public", created_at=utcnow(), edit_history=[])
            db.add(status)
            db.commit()
            return str(status.id)

    def account_id(self, username: str) -> str | None:
        with self.mock_app.state.session_factory() as db:
            account = db.scalar(select(Account).where(Account.username == username, Account.domain.is_(None)))
            return str(account.id) if account else None

    def reblogged(self, username: str, status_id: str) -> bool:
        """Whether the local account `username` has reblogged the status (mastodon-mock's reblogged_by)."""
        accounts = self._call("GET", f"/api/v1/statuses/{status_id}/reblogged_by")
        return any(a["acct"] == username for a in accounts)

    def reblogs(self) -> list[tuple[str, str]]:
        """Every reblog on the instance, as (username of the booster, id of the boosted status)."""
        with self.mock_app.state.session_factory() as db:
            rows = db.execute(select(Account.username, Status.reblog_of_id).join(Account, Status.account_id == Account.id)
                              .where(Status.reblog_of_id.is_not(None))).all()
        return [(username, str(original)) for username, original in rows]

    def token_scopes(self, access_token: str) -> list[str] | None:
        """The scopes of a live token; None once it is revoked (or never existed)."""
        with self.mock_app.state.session_factory() as db:
            token = db.scalar(select(OAuthToken).where(OAuthToken.access_token == access_token))
            return list(token.scopes) if token else None

    def issued_tokens(self) -> list[str]:
        """Every token issued to an app by an authorization-code exchange so far (oldest first), dead or alive."""
        with self._lock:
            return list(self._issued)

    def is_token_active(self, token: str) -> bool:
        """Whether the instance would accept this token now (Mastodon's tokens have no expiry and no refresh)."""
        return self.token_scopes(token) is not None

    def tokens_of_grant(self, token: str) -> list[str]:
        """A Mastodon authorization is one token: the grant of `token` is itself (or nothing, if never issued)."""
        with self._lock:
            return [token] if token in self._issued else []

    def apps(self) -> list[dict[str, Any]]:
        """Registered apps (no secrets)."""
        with self.mock_app.state.session_factory() as db:
            return [{"client_id": a.client_id, "name": a.name, "website": a.website,
                     "redirect_uris": list(a.redirect_uris), "scopes": list(a.scopes)}
                    for a in db.scalars(select(OAuthApp)).all()]

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
        fields = {k: html.unescape(v) for k, v in
                  re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)">', page.text)}
        answer = self._http.post(f"{self._require_base()}/oauth/authorize", allow_redirects=False, timeout=10,
                                 data={**fields, "username": username, "decision": decision})
        if answer.status_code != 302:
            raise RuntimeError(f"the consent answer was {answer.status_code}: {answer.text[:200]}")
        return dict(parse_qsl(urlsplit(answer.headers["Location"]).query))

    # ---- our extensions -------------------------------------------------------------------------------

    def _extend(self, app: FastAPI) -> None:
        router = APIRouter()
        router.add_api_route("/oauth/authorize", self._authorize_page, methods=["GET"], include_in_schema=False)
        router.add_api_route("/oauth/authorize", self._authorize_answer, methods=["POST"], include_in_schema=False)
        router.add_api_route("/oauth/token", self._token, methods=["POST"], include_in_schema=False)
        router.add_api_route("/oauth/revoke", self._revoke, methods=["POST"], include_in_schema=False)
        router.add_api_route("/api/v2/search", self._search, methods=["GET"], include_in_schema=False)
        before = len(app.router.routes)
        app.include_router(router)
        added = app.router.routes[before:]
        del app.router.routes[before:]
        app.router.routes[0:0] = added  # first match wins: ours shadow mastodon-mock's stand-ins
        app.middleware("http")(self._enforce_scopes)

    async def _enforce_scopes(self, request: Request, call_next: Any) -> Response:
        needed = next((s for m, p, s in _SCOPED if m == request.method and p.match(request.url.path)), None)
        auth = request.headers.get("authorization", "")
        bearer = auth[7:].strip() if auth.lower().startswith("bearer ") else None
        with self._lock:
            revoked = bearer in self._revoked
        if revoked:  # Doorkeeper keeps revoked tokens and refuses them; mastodon-mock would read anonymously
            return JSONResponse({"error": "The access token was revoked"}, status_code=401)
        token = None
        if needed and bearer:
            with request.app.state.session_factory() as db:
                token = db.scalar(select(OAuthToken).where(OAuthToken.access_token == bearer))
            if token is not None and not needed & set(token.scopes or []):
                return JSONResponse({"error": "This action is outside the authorized scopes"}, status_code=403)
        response = await call_next(request)
        if token is None and response.status_code == 200 and request.method == "GET" and _STATUS.match(
                request.url.path):
            return await _anonymous_status(response)
        return response

    def _checked_request(self, db: Any, params: dict[str, Any]) -> tuple[OAuthApp, dict[str, Any]]:
        app = db.scalar(select(OAuthApp).where(OAuthApp.client_id == str(params.get("client_id", ""))))
        if app is None:
            raise _Refusal("invalid_client", "Client authentication failed due to unknown client.", redirect=False)
        redirect_uri = str(params.get("redirect_uri", ""))
        if redirect_uri not in app.redirect_uris:
            raise _Refusal("invalid_redirect_uri", "The redirect uri included is not valid.", redirect=False)
        if params.get("response_type") != "code":
            raise _Refusal("unsupported_response_type", "The authorization server does not support this response type.")
        scopes = str(params.get("scope") or "read").split()
        if not scopes or not set(scopes) <= set(app.scopes):
            raise _Refusal("invalid_scope", "The requested scope is invalid, unknown, or malformed.")
        challenge, method = str(params.get("code_challenge") or ""), params.get("code_challenge_method")
        if (challenge or method) and (method != "S256" or not re.fullmatch(r"[A-Za-z0-9_-]{43}", challenge)):
            raise _Refusal("invalid_request", "Only S256 code challenges are supported.")
        if self.require_pkce and not challenge:
            raise _Refusal("invalid_request", "The sandbox requires PKCE (code_challenge, S256).")
        return app, {"client_id": app.client_id, "redirect_uri": redirect_uri, "scopes": scopes,
                     "challenge": challenge, "state": params.get("state")}

    @staticmethod
    def _refused(refusal: _Refusal, params: dict[str, Any]) -> Response:
        if not refusal.redirect:
            reason = f"{html.escape(refusal.error)}: {html.escape(refusal.description)}"
            page = f"<h1>Authorization failed</h1><p>{reason}</p>"
            return HTMLResponse(page, status_code=400)
        query = {"error": refusal.error, "error_description": refusal.description}
        if params.get("state"):
            query["state"] = str(params["state"])
        return _redirect(str(params["redirect_uri"]), query)

    async def _authorize_page(self, request: Request) -> Response:
        params = dict(request.query_params)
        with request.app.state.session_factory() as db:
            try:
                app, checked = self._checked_request(db, params)
            except _Refusal as refusal:
                return self._refused(refusal, params)
        keep = ("response_type", "client_id", "redirect_uri", "scope", "state", "code_challenge",
                "code_challenge_method")
        hidden = "".join(f'<input type="hidden" name="{k}" value="{html.escape(str(params[k]))}">'
                         for k in keep if params.get(k) is not None)
        scopes = "".join(f"<li>{html.escape(s)}</li>" for s in checked["scopes"])
        name, back = html.escape(app.name), html.escape(urlsplit(checked["redirect_uri"]).netloc)
        body = f"""<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Authorize {name}</title></head>
<body><main><h1>{name} wants to access your account on {html.escape(self.domain)}</h1>
<p>Local Mastodon sandbox: no real account is involved.</p>
<form method="post" action="/oauth/authorize">{hidden}
<label for="username">Username</label>
<input id="username" name="username" autocomplete="username" pattern="[A-Za-z0-9_]{{1,30}}" required>
<h2>This application will be able to</h2><ul id="scopes">{scopes}</ul>
<p>You will be sent back to {back}.</p>
<button id="allow" type="submit" name="decision" value="allow">Authorize</button>
<button id="deny" type="submit" name="decision" value="deny" formnovalidate>Deny</button>
</form></main></body></html>"""
        return HTMLResponse(body)

    async def _authorize_answer(self, request: Request) -> Response:
        params = dict(await request.form())
        with request.app.state.session_factory() as db:
            try:
                _, checked = self._checked_request(db, params)
            except _Refusal as refusal:
                return self._refused(refusal, params)
            state = {"state": str(checked["state"])} if checked["state"] else {}
            if params.get("decision", "allow") != "allow":
                denied = {"error": "access_denied", "error_description": "The resource owner denied the request."}
                return _redirect(checked["redirect_uri"], {**denied, **state})
            username = str(params.get("username", "")).lstrip("@")
            if not _USERNAME.match(username):
                return HTMLResponse("<h1>Authorization failed</h1><p>A username is required.</p>", status_code=400)
            account = db.scalar(select(Account).where(Account.username == username, Account.domain.is_(None)))
            if account is None:  # the username is the login: a new one signs up
                account = Account(username=username, display_name=username, created_at=utcnow(), fields=[])
                db.add(account)
                db.commit()
            code = secrets.token_urlsafe(32)
            with self._lock:
                self._codes[code] = _Code(checked["client_id"], checked["redirect_uri"], checked["scopes"],
                                          checked["challenge"], account.id, clock.now() + CODE_TTL)
        return _redirect(checked["redirect_uri"], {"code": code, **state})

    @staticmethod
    def _client(db: Any, request: Request, form: dict[str, Any]) -> OAuthApp | None:
        client_id, secret = form.get("client_id"), form.get("client_secret")
        auth = request.headers.get("authorization", "")
        if auth.lower().startswith("basic "):
            try:
                client_id, _, secret = base64.b64decode(auth[6:]).decode().partition(":")
            except ValueError:
                return None
        app = db.scalar(select(OAuthApp).where(OAuthApp.client_id == str(client_id or "")))
        if app is None or not secrets.compare_digest(str(secret or ""), app.client_secret):
            return None
        return app

    async def _token(self, request: Request) -> Any:
        form = await read_body(request)
        with request.app.state.session_factory() as db:
            if form.get("grant_type") != "authorization_code":
                return await mock_oauth.oauth_token(request, db)
            app = self._client(db, request, form)
            if app is None:
                return _oauth_error(401, "invalid_client", "Client authentication failed.")
            with self._lock:
                code = self._codes.pop(str(form.get("code", "")), None)  # single use, even when refused below
            if code is None or code.client_id != app.client_id or code.expires_at < clock.now():
                return _oauth_error(400, "invalid_grant", "The authorization code is invalid, expired or used.")
            if form.get("redirect_uri") != code.redirect_uri:
                return _oauth_error(400, "invalid_grant", "The redirect_uri does not match the authorization request.")
            if code.challenge:
                verifier = str(form.get("code_verifier") or "")
                digest = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
                well_formed = re.fullmatch(r"[A-Za-z0-9._~-]{43,128}", verifier)
                if not well_formed or not secrets.compare_digest(digest, code.challenge):
                    return _oauth_error(400, "invalid_grant", "The PKCE code verifier does not match the challenge.")
            token = OAuthToken(access_token=secrets.token_urlsafe(32), app_id=app.id, account_id=code.account_id,
                               scopes=code.scopes, created_at=utcnow())
            db.add(token)
            db.commit()
            with self._lock:
                self._issued.append(token.access_token)
            return {"access_token": token.access_token, "token_type": "Bearer", "scope": " ".join(code.scopes),
                    "created_at": int(token.created_at.timestamp())}

    async def _revoke(self, request: Request) -> Any:
        form = await read_body(request)
        with request.app.state.session_factory() as db:
            app = self._client(db, request, form)
            if app is None:
                return _oauth_error(401, "invalid_client", "Client authentication failed.")
            token = db.scalar(select(OAuthToken).where(OAuthToken.access_token == str(form.get("token", ""))))
            if token is not None:
                if token.app_id != app.id:
                    return _oauth_error(403, "unauthorized_client", "You are not authorized to revoke this token.")
                db.delete(token)
                with self._lock:
                    self._revoked.add(token.access_token)
                db.commit()
        return {}

    def _search(self, db: DbSession, config: Config, viewer: CurrentAccount, q: str, type: str | None = None,
                limit: int = 20, resolve: str | None = None, offset: int = 0) -> Any:
        resolving = str(resolve).lower() in _TRUE
        if resolving and viewer is None:
            return JSONResponse({"error": "The access token is invalid"}, status_code=401)
        if not (resolving and q.startswith("https://")):
            return mock_search.search_v2(db=db, config=config, viewer=viewer, q=q, type=type, limit=limit,
                                         resolve=resolving, offset=offset)
        status = db.scalar(select(Status).where(Status.url == q))
        local = re.match(rf"^https://{re.escape(self.domain)}/@[^/]+/([0-9]+)/?$", q)
        if status is None and local:
            status = db.get(Status, int(local.group(1)))
        wanted = status is not None and type in (None, "statuses")
        return {"accounts": [], "statuses": [serialize_status(db, status, config, viewer)] if wanted else [],
                "hashtags": []}


async def _anonymous_status(response: Any) -> Response:
    """A status as Mastodon shows it to an anonymous viewer: without the viewer's flags (mastodon-mock sends
    them as false, which would read as "not reblogged")."""
    status = json.loads(b"".join([chunk async for chunk in response.body_iterator]))
    for flag in _VIEWER_FLAGS:
        status.pop(flag, None)
    headers = {k: v for k, v in response.headers.items() if k.lower() not in ("content-length", "content-type")}
    return JSONResponse(status, headers=headers)


def _redirect(uri: str, query: dict[str, str]) -> RedirectResponse:
    return RedirectResponse(f"{uri}{'&' if '?' in uri else '?'}{urlencode(query)}", status_code=302)


def _oauth_error(status: int, error: str, description: str) -> JSONResponse:
    return JSONResponse({"error": error, "error_description": description}, status_code=status)
