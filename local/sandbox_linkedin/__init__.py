"""A LinkedIn on loopback: the OAuth 2.0 and Posts API subset relaycast uses, as LinkedIn documents it for
ordinary (self-serve) apps, in one small Flask application served in a background thread.

* ``GET|POST /oauth/v2/authorization``: the consent page (``#member``, ``#allow``, ``#deny``); the client and its
  registered redirect URI are checked (an unknown one is a 400 page, never a redirect); `state` is required;
  scopes are `openid`, `profile`, `email`, `w_member_social`.
* ``POST /oauth/v2/accessToken``: the authorization code grant (single-use codes, 10 minutes; the client
  authenticated by `client_secret` in the body). Access tokens live 60 days; **no refresh token** (LinkedIn
  gives them to approved partners only).
* ``POST /oauth/v2/introspectToken``: `active`, `status` (`active`, `revoked`, `expired`), `expires_at`, `scope`.
* ``GET /v2/userinfo`` (OpenID Connect): `sub`, `name`.
* ``POST /rest/posts`` with ``reshareContext.parent``: a reshare by the token's member (needs
  `w_member_social`; the `LinkedIn-Version` and ``X-Restli-Protocol-Version: 2.0.0`` headers; the author must be
  the member's own `urn:li:person`); the new post's URN is in the ``x-restli-id`` header. ``DELETE
  /rest/posts/{urn}`` deletes a member's own post (204, also when it is already gone).
* No revocation endpoint, as on LinkedIn: a member removes the app by hand (``remove_app``), which kills every
  token of theirs.

The sandbox is the run's truth: ``reshares_by(member)``, ``live_tokens()``, every request in ``requests``.
"""

from __future__ import annotations

import re
import secrets
import threading
from collections import Counter
from dataclasses import dataclass, replace
from typing import Any
from urllib.parse import unquote, urlencode

from flask import Flask, Response, jsonify, request

from relaycast import clock
from relaycast_local.sandbox_common import (Fault, FaultQueue, LoopbackSandbox, Record, RecordedRequest, Serving,
                                            consent_page, hidden_fields, install_fault_injection, serve_wsgi)

TOKEN_TTL = 60 * 24 * 3600
CODE_TTL = 600
SCOPES = {"openid", "profile", "email", "w_member_social"}
VERSION = re.compile(r"^20\d{4}$")
POST_URN = re.compile(r"^urn:li:(share|ugcPost):\d{1,25}$")


@dataclass(frozen=True)
class Member(Record):
    member_id: str
    name: str
    followers: int


@dataclass(frozen=True)
class LinkedInToken(Record):
    token: str
    member_id: str
    client_id: str
    scope: str
    expires_at: int
    revoked: bool = False


@dataclass(frozen=True)
class LinkedInPost(Record):
    urn: str
    author: str  # urn:li:person:<id>
    text: str
    parent: str | None  # the reshared post's URN
    article: str | None = None  # the link a post shares (another network's post)


class SandboxLinkedIn(LoopbackSandbox):
    """One confidential app (``client_id``/``client_secret``, redirect URIs matching ``redirect_uri``) on a free
    loopback port; a context manager."""

    def __init__(self, *, client_id: str = "sandbox-linkedin-app", client_secret: str | None = None,
                 redirect_uri: str = r"^https?://(127\.0\.0\.1|localhost)(:\d{1,5})?/([^?#]*/)?callback/linkedin$",
                 host: str = "127.0.0.1") -> None:
        self.client_id, self.client_secret = client_id, client_secret or secrets.token_urlsafe(24)
        self._redirect = re.compile(redirect_uri)
        self._host = host
        self.lock = threading.RLock()
        self.members: dict[str, Member] = {}
        self.posts: dict[str, LinkedInPost] = {}
        self._tokens: dict[str, LinkedInToken] = {}
        self._codes: dict[str, dict[str, Any]] = {}
        self._ids = iter(range(7_100_000_000_000_000_000, 7_200_000_000_000_000_000))
        self.faults = FaultQueue()
        self.calls: Counter[str] = Counter()
        self._requests: list[RecordedRequest] = []
        self.app = Flask("sandbox-linkedin")
        for rule, view, methods in (
            ("/oauth/v2/authorization", self._authorize_page, ["GET"]),
            ("/oauth/v2/authorization", self._authorize_answer, ["POST"]),
            ("/oauth/v2/accessToken", self._token, ["POST"]),
            ("/oauth/v2/introspectToken", self._introspect, ["POST"]),
            ("/v2/userinfo", self._userinfo, ["GET"]),
            ("/rest/posts", self._reshare, ["POST"]),
            ("/rest/posts/<path:urn>", self._delete, ["DELETE"]),
        ):
            self.app.add_url_rule(rule, f"{view.__name__}_{methods[0]}", view, methods=methods)
        install_fault_injection(self.app, self.lock, self.faults, _fault_answer, lambda e: self.calls.update([e]),
                                self._requests.append)

    def _serve(self) -> Serving:
        return serve_wsgi(self.app, self._host, 0, "sandbox-linkedin")

    # ---- what tests and the local runtime use --------------------------------------------------------

    @property
    def authorize_url(self) -> str:
        return f"{self._require_base()}/oauth/v2/authorization"

    @property
    def requests(self) -> list[RecordedRequest]:
        with self.lock:
            return list(self._requests)

    def add_member(self, name: str, *, followers: int = 0) -> Member:
        with self.lock:
            existing = next((m for m in self.members.values() if m.name == name), None)
            if existing:
                return existing
            member = Member(member_id=secrets.token_urlsafe(8).replace("-", "a").replace("_", "b"), name=name,
                            followers=followers)
            self.members[member.member_id] = member
            return member

    def add_post(self, member: str, text: str, *, urn: str | None = None) -> LinkedInPost:
        """An original post (a share) by the member named `member`, created if needed; `urn` gives it a known one
        (the posts an event file lists)."""
        author = self.add_member(member)
        with self.lock:
            urn = urn or f"urn:li:share:{next(self._ids)}"
            post = LinkedInPost(urn=urn, author=f"urn:li:person:{author.member_id}", text=text, parent=None)
            self.posts[urn] = post
            return post

    def reshares_by(self, member_id: str) -> list[LinkedInPost]:
        with self.lock:
            return [p for p in self.posts.values() if p.parent and p.author == f"urn:li:person:{member_id}"]

    def shares_by(self, member_id: str) -> list[LinkedInPost]:
        """Every post the member made that passes another on: reshares and shared links."""
        with self.lock:
            return [p for p in self.posts.values() if (p.parent or p.article) and p.author == f"urn:li:person:{member_id}"]

    def live_tokens(self) -> list[str]:
        now = clock.epoch()
        with self.lock:
            return [t.token for t in self._tokens.values() if not t.revoked and t.expires_at > now]

    # What the demo checks every network for: each token issued, whether it still works, and its grant's others.
    def issued_tokens(self) -> list[str]:
        with self.lock:
            return list(self._tokens)

    def is_token_active(self, token: str) -> bool:
        return token in self.live_tokens()

    def tokens_of_grant(self, token: str) -> list[str]:
        return [token]  # no refresh: a grant is its one token

    def remove_app(self, member_id: str) -> None:
        """The member removes the app in their settings: every token of theirs dies."""
        with self.lock:
            for key, token in self._tokens.items():
                if token.member_id == member_id:
                    self._tokens[key] = replace(token, revoked=True)

    def fail_next(self, method: str, path_prefix: str, status: int = 503, times: int = 1, *, after: bool = False,
                  drop: bool = False) -> None:
        with self.lock:
            self.faults.add(Fault(method, path_prefix, status, times, after=after, drop=drop))

    def consent(self, authorize_url: str, member: str, decision: str = "allow") -> str:
        """A scripted member: open the consent page, answer as `member`; returns the redirect URL."""
        import requests

        page = requests.get(authorize_url, timeout=10)
        if page.status_code != 200:
            raise RuntimeError(f"the consent page answered {page.status_code}: {page.text[:200]}")
        answer = requests.post(self.authorize_url, data={**hidden_fields(page.text), "member": member, "decision": decision},
                               allow_redirects=False, timeout=10)
        if answer.status_code != 302:
            raise RuntimeError(f"the consent answer was {answer.status_code}: {answer.text[:200]}")
        return answer.headers["Location"]

    # ---- OAuth ---------------------------------------------------------------------------------------

    def _authorize_page(self) -> tuple[str, int]:
        args = request.args.to_dict()
        if args.get("client_id") != self.client_id or not self._redirect.match(args.get("redirect_uri", "")):
            return "<h1>The application or its redirect URI is not registered</h1>", 400
        return consent_page(title="LinkedIn sandbox", question=f"Allow {self.client_id}?", scope=args.get("scope", ""),
                            carried=args, inputs=[("member", "Member", "text", "")], allow="Allow", deny="Cancel"), 200

    def _authorize_answer(self) -> Response | tuple[str, int]:
        form = request.form.to_dict()
        if form.get("client_id") != self.client_id or not self._redirect.match(form.get("redirect_uri", "")):
            return "<h1>The application or its redirect URI is not registered</h1>", 400
        scopes = set(form.get("scope", "").replace(",", " ").split())
        answer: dict[str, str] = {"state": form.get("state", "")}
        if form.get("response_type") != "code" or not form.get("state"):
            answer.update(error="invalid_request", error_description="response_type=code and state are required")
        elif not scopes or not scopes <= SCOPES:
            answer.update(error="invalid_scope", error_description="unknown scope")
        elif form.get("decision") != "allow" or not form.get("member"):
            answer.update(error="user_cancelled_authorize", error_description="The member refused")
        else:
            member = self.add_member(form["member"])
            code = secrets.token_urlsafe(24)
            with self.lock:
                self._codes[code] = {"member_id": member.member_id, "scope": " ".join(sorted(scopes)),
                                     "redirect_uri": form["redirect_uri"], "expires": clock.epoch() + CODE_TTL}
            answer["code"] = code
        response = Response(status=302)
        response.headers["Location"] = f"{form['redirect_uri']}?{urlencode(answer)}"
        return response

    def _client_ok(self, form: dict[str, str]) -> bool:
        return form.get("client_id") == self.client_id and secrets.compare_digest(form.get("client_secret", ""), self.client_secret)

    def _token(self) -> Response | tuple[Response, int]:
        form = request.form.to_dict()
        if not self._client_ok(form):
            return jsonify(error="invalid_client", error_description="Client authentication failed"), 401
        if form.get("grant_type") != "authorization_code":
            return jsonify(error="unsupported_grant_type", error_description="authorization_code only"), 400
        with self.lock:
            code = self._codes.pop(form.get("code", ""), None)
        if code is None or code["expires"] < clock.epoch() or code["redirect_uri"] != form.get("redirect_uri"):
            return jsonify(error="invalid_grant", error_description="The authorization code is invalid or expired"), 400
        token = LinkedInToken(token="AQ" + secrets.token_urlsafe(40), member_id=code["member_id"], client_id=self.client_id,
                              scope=code["scope"], expires_at=clock.epoch() + TOKEN_TTL)
        with self.lock:
            self._tokens[token.token] = token
        return jsonify(access_token=token.token, expires_in=TOKEN_TTL, scope=token.scope.replace(" ", ","),
                       token_type="Bearer")

    def _introspect(self) -> Response | tuple[Response, int]:
        form = request.form.to_dict()
        if not self._client_ok(form):
            return jsonify(error="invalid_client", error_description="Client authentication failed"), 401
        with self.lock:
            token = self._tokens.get(form.get("token", ""))
        if token is None or token.client_id != self.client_id:
            return jsonify(active=False)
        status = "revoked" if token.revoked else "expired" if token.expires_at <= clock.epoch() else "active"
        return jsonify(active=status == "active", status=status, client_id=token.client_id, scope=token.scope.replace(" ", ","),
                       expires_at=token.expires_at, auth_type="3L")

    # ---- API -----------------------------------------------------------------------------------------

    def _bearer(self, scope: str | None = None) -> LinkedInToken | tuple[Response, int]:
        header = request.headers.get("Authorization", "")
        with self.lock:
            token = self._tokens.get(header.removeprefix("Bearer ").strip()) if header.startswith("Bearer ") else None
        if token is None or token.revoked or token.expires_at <= clock.epoch():
            return jsonify(status=401, serviceErrorCode=65600, message="Invalid access token"), 401
        if scope and scope not in token.scope.split():
            return jsonify(status=403, serviceErrorCode=100, message=f"Not enough permissions to access: {scope}"), 403
        return token

    def _userinfo(self) -> Response | tuple[Response, int]:
        token = self._bearer("openid")
        if not isinstance(token, LinkedInToken):
            return token
        member = self.members[token.member_id]
        return jsonify(sub=member.member_id, name=member.name, email_verified=False)

    def _rest_headers(self) -> tuple[Response, int] | None:
        if not VERSION.match(request.headers.get("LinkedIn-Version", "")):
            return jsonify(status=426, code="NONEXISTENT_VERSION", message="A LinkedIn-Version header (YYYYMM) is required"), 426
        if request.headers.get("X-Restli-Protocol-Version") != "2.0.0":
            return jsonify(status=400, message="X-Restli-Protocol-Version: 2.0.0 is required"), 400
        return None

    def _reshare(self) -> Response | tuple[Response, int]:
        token = self._bearer("w_member_social")
        if not isinstance(token, LinkedInToken):
            return token
        if (refused := self._rest_headers()) is not None:
            return refused
        body = request.get_json(silent=True) or {}
        parent = (body.get("reshareContext") or {}).get("parent", "")
        article = (body.get("content") or {}).get("article") or {}
        author = f"urn:li:person:{token.member_id}"
        problems = [name for name, ok in (
            ("author", body.get("author") == author), ("lifecycleState", body.get("lifecycleState") == "PUBLISHED"),
            ("visibility", body.get("visibility") in ("PUBLIC", "CONNECTIONS")),
            ("distribution", (body.get("distribution") or {}).get("feedDistribution") == "MAIN_FEED"),
            # A reshare names its parent; a link share (content.article) needs its https source and a title.
            ("reshareContext.parent", bool(POST_URN.match(parent)) if parent or not article else True),
            ("content.article", not article or (not parent and str(article.get("source", "")).startswith("https://")
                                                and bool(str(article.get("title", "")).strip()))),
        ) if not ok]
        if problems:
            return jsonify(status=422, message=f"invalid field(s): {', '.join(problems)}"), 422
        with self.lock:
            if parent and parent not in self.posts:
                return jsonify(status=404, message=f"{parent} not found"), 404
            urn = f"urn:li:share:{next(self._ids)}"
            self.posts[urn] = LinkedInPost(urn=urn, author=author, text=str(body.get("commentary", "")),
                                           parent=parent or None, article=article.get("source") or None)
        response = Response(status=201)
        response.headers["x-restli-id"] = urn
        return response

    def _delete(self, urn: str) -> Response | tuple[Response, int]:
        token = self._bearer("w_member_social")
        if not isinstance(token, LinkedInToken):
            return token
        if (refused := self._rest_headers()) is not None:
            return refused
        urn = unquote(urn)
        with self.lock:
            post = self.posts.get(urn)
            if post is not None and post.author != f"urn:li:person:{token.member_id}":
                return jsonify(status=403, message="Not the author of this post"), 403
            self.posts.pop(urn, None)
        return Response(status=204)


def _fault_answer(fault: Fault) -> Response:
    response = jsonify(status=fault.status, message=f"sandbox fault {fault.status}")
    response.status_code = fault.status
    return response


__all__ = ["LinkedInPost", "LinkedInToken", "Member", "SandboxLinkedIn"]
