"""A Bluesky on loopback: identity, an authorization server with the AT Protocol OAuth profile, a PDS subset and the
AppView's search and profiles, in one small Flask application served in a background thread.

What it plays, and the rules it holds clients to (from atproto.com/specs/oauth and the lexicons):

* **Identity.** An account has a handle and a `did:plc`. ``GET /.well-known/atproto-did`` answers the DID of the
  handle named by the request's host (the HTTPS method of handle resolution), ``GET /plc/<did>`` the DID
  document (a PLC directory: `alsoKnownAs` claims the handle, the `#atproto_pds` service names this server), and
  ``com.atproto.identity.resolveHandle`` the same as XRPC.
* **Authorization server** (``/.well-known/oauth-authorization-server``, the PDS's
  ``/.well-known/oauth-protected-resource`` pointing at it). Confidential clients only: the client's metadata
  document (fetched from its `client_id` URL, or registered with ``register_client``) must name
  `private_key_jwt`, ES256 keys in `jwks` and `dpop_bound_access_tokens`. PAR is required (a request not pushed
  gets a 400 page); PKCE is S256 only; `state` is required; the scope must include `atproto` and stay within the
  metadata's. Every PAR and token request carries a DPoP proof with the server's nonce (a missing or stale nonce:
  400 ``use_dpop_nonce`` and a ``DPoP-Nonce`` header) and a fresh client assertion (`iss` = `sub` = client_id,
  `aud` = issuer, single-use `jti`). The consent page (``#identifier``, ``#password``, ``#allow``, ``#deny``) signs
  in with the account's app password and redirects with `code`, `state` and `iss`. Tokens are DPoP-bound (the key
  of the PAR, kept for the session's life, as the client key is); the token answer carries `sub` and `scope`;
  access tokens live an hour; refresh tokens are single-use (a replay ends the session). Revocation (RFC 7009)
  ends the whole session, whichever of its tokens is presented.
* **PDS.** ``com.atproto.repo.createRecord|deleteRecord|getRecord`` on repost records (`app.bsky.feed.repost`),
  ``com.atproto.server.createSession|refreshSession`` (app-password sessions, as the event's own account signs
  in for search). OAuth calls need ``Authorization: DPoP <token>`` and a proof bound to the token (`ath`) with the
  PDS's own nonce (401, ``WWW-Authenticate: DPoP error="use_dpop_nonce"``). A write needs the scope
  `repo:app.bsky.feed.repost` (its `action`s) or `transition:generic`; a repository is written by its account only.
* **AppView.** ``app.bsky.feed.searchPosts`` (authenticated: `tag`, the hashtags of `q`, `since`, `until`, `limit`,
  `cursor`; posts appear once their time has come on relaycast's clock) and ``app.bsky.actor.getProfile``.

Every XRPC request's parameters and body are validated against the official lexicons
(`relaycast_local.lexicons`); a refusal is a 400 ``InvalidRequest`` naming the field. Every answer is validated
too: an answer the lexicons refuse is the sandbox's own bug and fails loudly.

The sandbox is the run's truth: ``reposts_by(handle)``, ``live_tokens()``, and every request in ``requests``.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

import requests
import requests.adapters
from flask import Flask, Response, jsonify

from relaycast_local.lexicons import Lexicons
from relaycast_local.sandbox_bluesky import oauth, xrpc
from relaycast_local.sandbox_bluesky.records import Account, BlueskyRecords, Grant, PostRecord, Repost
from relaycast_local.sandbox_common import (Fault, FaultQueue, LoopbackSandbox, RecordedRequest, Serving, hidden_fields,
                                            install_fault_injection, serve_wsgi)

__all__ = ["Account", "Grant", "PostRecord", "RecordedRequest", "Repost", "SandboxBluesky"]


class SandboxBluesky(BlueskyRecords, LoopbackSandbox):
    """Identity, authorization server, PDS and AppView on one free loopback port; a context manager.

    ``fetch_client_metadata`` reads a client's metadata document from its `client_id` (by default an HTTP GET
    of that URL); ``register_client`` gives it instead, for a client whose URL the sandbox cannot reach."""

    def __init__(self, *, domain: str = "bsky.sandbox", host: str = "127.0.0.1", lexicons: Lexicons | None = None,
                 fetch_client_metadata: Callable[[str], dict[str, Any]] | None = None) -> None:
        BlueskyRecords.__init__(self)
        self._host, self.domain = host, domain
        self.origin = f"https://{domain}"  # the public origin: issuer, PDS, PLC; `session()` routes it to loopback
        self._clients: dict[str, dict[str, Any]] = {}
        self._fetch = fetch_client_metadata or _fetch_metadata
        self.lexicons = lexicons or Lexicons()
        self.oauth = oauth.AuthorizationServer(self, lambda: self.origin, self._client_metadata)
        self.pds = xrpc.Pds(self, lambda: self.origin, self.oauth, self.lexicons)
        self.faults = FaultQueue()
        self.calls: Counter[str] = Counter()  # requests per endpoint
        self._requests: list[RecordedRequest] = []
        self.app = Flask("sandbox-bluesky")
        oauth.install(self.app, self.oauth)
        xrpc.install(self.app, self.pds)
        install_fault_injection(self.app, self.lock, self.faults, _fault_answer, lambda e: self.calls.update([e]),
                                self._requests.append)

    def _serve(self) -> Serving:
        return serve_wsgi(self.app, self._host, 0, "sandbox-bluesky")

    def fail_next(self, method: str, path_prefix: str, status: int = 503, times: int = 1, *, after: bool = False,
                  drop: bool = False, reset_at: int | None = None) -> None:
        """The next `times` matching requests get `status` (a 429 with `reset_at`: Bluesky's ratelimit headers),
        before the route acts, or `after` it acted; `drop` closes the connection unanswered."""
        with self.lock:
            self.faults.add(Fault(method, path_prefix, status, times, after=after, drop=drop, reset_at=reset_at))

    @property
    def requests(self) -> list[RecordedRequest]:
        with self.lock:
            return list(self._requests)

    # ---- clients -----------------------------------------------------------------------------------

    def register_client(self, metadata: dict[str, Any]) -> None:
        with self.lock:
            self._clients[metadata["client_id"]] = metadata

    def _client_metadata(self, client_id: str) -> dict[str, Any]:
        with self.lock:
            known = self._clients.get(client_id)
        metadata = known or self._fetch(client_id)
        if metadata.get("client_id") != client_id:
            raise oauth.ProofRefused("invalid_client", "the metadata document names another client_id")
        return metadata

    # ---- URLs --------------------------------------------------------------------------------------

    @property
    def plc_url(self) -> str:
        return f"{self.origin}/plc"

    @property
    def issuer(self) -> str:
        return self.origin

    def handle(self, name: str) -> str:
        """A handle under the sandbox's domain (`amina` → `amina.bsky.sandbox`)."""
        return f"{name}.{self.domain}"

    def session(self, session: requests.Session | None = None) -> requests.Session:
        """A `requests` session whose https calls to the sandbox's domain and its subdomains (the handles) reach
        this server, with their own Host header (handle resolution reads it)."""
        session = session or requests.Session()
        session.trust_env = False
        session.mount("https://", _ToLoopback(self.domain, self._require_base()))
        return session


    def consent(self, authorize_url: str, handle: str, decision: str = "allow", password: str | None = None) -> str:
        """A scripted relay: open the consent page, sign in as `handle` and answer; returns the redirect URL (the
        client's callback with `code` or `error`, `state` and `iss`)."""
        http = self.session()
        page = http.get(authorize_url, timeout=10)
        if page.status_code != 200:
            raise RuntimeError(f"the consent page answered {page.status_code}: {page.text[:200]}")
        fields = hidden_fields(page.text)
        account = self.by_handle(handle)
        secret = password if password is not None else account.app_password if account else ""
        answer = http.post(f"{self.origin}/oauth/authorize", allow_redirects=False, timeout=10,
                           data={**fields, "identifier": handle, "password": secret, "decision": decision})
        if answer.status_code != 302:
            raise RuntimeError(f"the consent answer was {answer.status_code}: {answer.text[:200]}")
        return answer.headers["Location"]


class _ToLoopback(requests.adapters.HTTPAdapter):
    def __init__(self, domain: str, base_url: str) -> None:
        super().__init__(max_retries=0)
        self._domain, self._base = domain, base_url.rstrip("/")

    def send(self, request: requests.PreparedRequest, **kwargs: Any) -> requests.Response:  # type: ignore[override]
        parts = urlsplit(request.url or "")
        host = (parts.hostname or "").lower()
        if not (host == self._domain or host.endswith("." + self._domain)):
            return super().send(request, **kwargs)
        routed = request.copy()  # the caller keeps its own URL (a DPoP retry signs the public one again)
        routed.headers["Host"] = parts.netloc
        routed.url = self._base + parts.path + (f"?{parts.query}" if parts.query else "")
        kwargs["proxies"] = {}
        response = super().send(routed, **kwargs)
        response.request, response.url = request, request.url
        return response


def _fault_answer(fault: Fault) -> Response:
    error = "RateLimitExceeded" if fault.status == 429 else "InternalServerError" if fault.status >= 500 else "InvalidRequest"
    response = jsonify(error=error, message=f"sandbox fault {fault.status}")
    response.status_code = fault.status
    if fault.status == 429 and fault.reset_at is not None:
        response.headers.update({"ratelimit-limit": "5000", "ratelimit-remaining": "0",
                                 "ratelimit-reset": str(fault.reset_at), "ratelimit-policy": "5000;w=3600"})
    return response


def _fetch_metadata(client_id: str) -> dict[str, Any]:
    response = requests.get(client_id, timeout=5, allow_redirects=False)
    if response.status_code != 200 or not response.headers.get("Content-Type", "").startswith("application/json"):
        raise oauth.ProofRefused("invalid_client", f"client metadata answered {response.status_code}")
    return response.json()
