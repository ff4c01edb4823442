"""The sandbox's authorization server: the AT Protocol OAuth profile (metadata, PAR, consent, code and refresh
grants with DPoP-bound tokens, revocation) for confidential clients authenticating with `private_key_jwt`."""

from __future__ import annotations

import base64
import hashlib
import secrets
from collections.abc import Callable
from typing import Any
from urllib.parse import urlencode

from flask import Flask, Response, jsonify, request

from relaycast import clock
from relaycast_local.sandbox_bluesky.proofs import Nonces, ProofRefused, check_client_assertion, check_dpop
from relaycast_local.sandbox_bluesky.records import BlueskyRecords
from relaycast_local.sandbox_common import consent_page

ACCESS_TTL = 3600  # the reference server's access token lifetime (read `expires_in`, never assume it)
PAR_TTL = 300
CODE_TTL = 60
REQUEST_URI = "urn:ietf:params:oauth:request_uri:"


def _s256(verifier: str) -> str:
    return base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()


class AuthorizationServer:
    def __init__(self, records: BlueskyRecords, issuer: Callable[[], str], metadata_of: Callable[[str], dict]):
        self.records, self._issuer, self._metadata_of = records, issuer, metadata_of
        self.nonces = Nonces()
        self._pushed: dict[str, dict[str, Any]] = {}  # request_uri → the pushed request
        self._codes: dict[str, dict[str, Any]] = {}

    @property
    def issuer(self) -> str:
        return self._issuer()

    def metadata(self) -> dict[str, Any]:
        base = self.issuer
        return {
            "issuer": base,
            "authorization_endpoint": f"{base}/oauth/authorize",
            "token_endpoint": f"{base}/oauth/token",
            "pushed_authorization_request_endpoint": f"{base}/oauth/par",
            "revocation_endpoint": f"{base}/oauth/revoke",
            "require_pushed_authorization_requests": True,
            "response_types_supported": ["code"],
            "grant_types_supported": ["authorization_code", "refresh_token"],
            "code_challenge_methods_supported": ["S256"],
            "token_endpoint_auth_methods_supported": ["none", "private_key_jwt"],
            "token_endpoint_auth_signing_alg_values_supported": ["ES256"],
            "dpop_signing_alg_values_supported": ["ES256"],
            "scopes_supported": ["atproto", "transition:generic", "repo:app.bsky.feed.repost"],
            "authorization_response_iss_parameter_supported": True,
            "client_id_metadata_document_supported": True,
        }

    # ---- answers -----------------------------------------------------------------------------------

    def _error(self, error: str, description: str, status: int = 400) -> Response:
        return self._ok({"error": error, "error_description": description}, status)

    def _refused(self, refused: ProofRefused) -> Response:
        return self._error(refused.error, refused.description, 400 if refused.nonce else 401 if refused.error == "invalid_client" else 400)

    def _ok(self, body: dict[str, Any], status: int = 200) -> Response:
        response = jsonify(body)
        response.status_code = status
        response.headers["DPoP-Nonce"] = self.nonces.current()
        response.headers["Cache-Control"] = "no-store"
        return response

    def _client(self, form: dict[str, str]) -> tuple[dict, str]:
        return check_client_assertion(form, issuer=self.issuer, metadata_of=self._metadata_of, records=self.records)

    def _proof(self) -> str:
        return check_dpop(request.headers.get("DPoP"), method=request.method, url=self.issuer + request.path,
                          nonces=self.nonces, records=self.records)

    # ---- endpoints ---------------------------------------------------------------------------------

    def par(self) -> Response:
        form = request.form.to_dict()
        try:
            jkt = self._proof()
            metadata, kid = self._client(form)
        except ProofRefused as refused:
            return self._refused(refused)
        problem = self._check_request(form, metadata)
        if problem:
            return self._error("invalid_request", problem)
        request_uri = REQUEST_URI + secrets.token_urlsafe(16)
        self._pushed[request_uri] = {**form, "jkt": jkt, "kid": kid, "expires": clock.epoch() + PAR_TTL}
        return self._ok({"request_uri": request_uri, "expires_in": PAR_TTL}, 201)

    @staticmethod
    def _check_request(form: dict[str, str], metadata: dict[str, Any]) -> str | None:
        if form.get("response_type") != "code":
            return "response_type must be code"
        if form.get("redirect_uri") not in metadata.get("redirect_uris", []):
            return "redirect_uri is not one of the client's"
        if form.get("code_challenge_method") != "S256" or not form.get("code_challenge"):
            return "PKCE with S256 is required"
        if not form.get("state"):
            return "state is required"
        scopes, allowed = form.get("scope", "").split(), metadata.get("scope", "").split()
        if "atproto" not in scopes or not set(scopes) <= set(allowed):
            return "scope must include atproto and stay within the client's metadata"
        if metadata.get("dpop_bound_access_tokens") is not True:
            return "the client's metadata must set dpop_bound_access_tokens"
        return None

    def _pushed_request(self, args: dict[str, str]) -> dict[str, Any] | None:
        pushed = self._pushed.get(args.get("request_uri", ""))
        if not pushed or pushed["expires"] < clock.epoch() or pushed.get("client_id") != args.get("client_id"):
            return None
        return pushed

    def authorize_page(self) -> Response | tuple[str, int]:
        """The consent page (stable hooks: `#identifier`, `#password`, `#allow`, `#deny`). Only a pushed request:
        anything else is a 400 page, never a redirect."""
        pushed = self._pushed_request(request.args.to_dict())
        if pushed is None:
            return "<h1>Unknown or expired authorization request</h1>", 400
        return consent_page(
            title="Sign in to Bluesky sandbox", question=f"Authorize {pushed['client_id']}", scope=pushed.get("scope", ""),
            carried={"request_uri": request.args["request_uri"], "client_id": pushed["client_id"]},
            inputs=[("identifier", "Handle", "text", pushed.get("login_hint", "")), ("password", "Password", "password", "")],
            allow="Authorize", deny="Deny"), 200

    def authorize_answer(self) -> Response | tuple[str, int]:
        form = request.form.to_dict()
        pushed = self._pushed_request(form)
        if pushed is None:
            return "<h1>Unknown or expired authorization request</h1>", 400
        del self._pushed[form["request_uri"]]  # a pushed request is used once
        answer = {"state": pushed["state"], "iss": self.issuer}
        account = self.records.by_handle(form.get("identifier", "").removeprefix("@"))
        if form.get("decision") != "allow":
            answer["error"] = "access_denied"
        elif account is None or not secrets.compare_digest(form.get("password", ""), account.app_password):
            answer["error"] = "access_denied"
            answer["error_description"] = "wrong handle or password"
        else:
            code = secrets.token_urlsafe(24)
            self._codes[code] = {**pushed, "did": account.did, "expires": clock.epoch() + CODE_TTL}
            answer["code"] = code
        response = Response(status=302)
        response.headers["Location"] = f"{pushed['redirect_uri']}?{urlencode(answer)}"
        return response

    def token(self) -> Response:
        form = request.form.to_dict()
        try:
            jkt = self._proof()
            _, kid = self._client(form)
        except ProofRefused as refused:
            return self._refused(refused)
        if form.get("grant_type") == "authorization_code":
            return self._code_grant(form, jkt, kid)
        if form.get("grant_type") == "refresh_token":
            return self._refresh_grant(form, jkt, kid)
        return self._error("unsupported_grant_type", "authorization_code or refresh_token")

    def _code_grant(self, form: dict[str, str], jkt: str, kid: str) -> Response:
        code = self._codes.pop(form.get("code", ""), None)  # single-use, whatever follows
        if code is None or code["expires"] < clock.epoch() or code["client_id"] != form.get("client_id"):
            return self._error("invalid_grant", "unknown, used or expired code")
        if form.get("redirect_uri") != code["redirect_uri"]:
            return self._error("invalid_grant", "redirect_uri differs from the authorization request's")
        if _s256(form.get("code_verifier", "")) != code["code_challenge"]:
            return self._error("invalid_grant", "code_verifier does not match the challenge")
        if jkt != code["jkt"] or kid != code["kid"]:
            return self._error("invalid_grant", "the DPoP key or client key differs from the authorization request's")
        grant = self.records.issue(client_id=code["client_id"], did=code["did"], scope=code["scope"], jkt=jkt,
                                   kid=kid, ttl=ACCESS_TTL)
        return self._ok(self._tokens(grant))

    def _refresh_grant(self, form: dict[str, str], jkt: str, kid: str) -> Response:
        presented = form.get("refresh_token", "")
        grant = self.records.grant_of(refresh_token=presented)
        if grant is None:
            if (replayed := self.records.replay_of(presented)) is not None:
                self.records.revoke(replayed)  # a replayed refresh token ends its session (it may have leaked)
                return self._error("invalid_grant", "Refresh token replayed")
            return self._error("invalid_grant", "unknown refresh token")
        if grant.revoked or grant.client_id != form.get("client_id"):
            return self._error("invalid_grant", "the session has ended")
        if jkt != grant.jkt or kid != grant.kid:
            return self._error("invalid_grant", "the DPoP key or client key differs from the session's")
        return self._ok(self._tokens(self.records.rotate(grant, ACCESS_TTL)))

    @staticmethod
    def _tokens(grant: Any) -> dict[str, Any]:
        return {"access_token": grant.access_token, "token_type": "DPoP", "expires_in": ACCESS_TTL,
                "refresh_token": grant.refresh_token, "scope": grant.scope, "sub": grant.did}

    def revoke(self) -> Response:
        """RFC 7009: either token ends the whole session; an unknown token is a 200 that changes nothing."""
        form = request.form.to_dict()
        try:
            self._client(form)
        except ProofRefused as refused:
            return self._refused(refused)
        token = form.get("token", "")
        grant = self.records.grant_of(access_token=token) or self.records.grant_of(refresh_token=token)
        if grant is not None and grant.client_id == form.get("client_id"):
            self.records.revoke(grant)
        return self._ok({})


def install(app: Flask, server: AuthorizationServer) -> None:
    app.add_url_rule("/.well-known/oauth-authorization-server", "as_metadata", lambda: jsonify(server.metadata()))
    app.add_url_rule("/oauth/par", "par", server.par, methods=["POST"])
    app.add_url_rule("/oauth/authorize", "authorize_page", server.authorize_page, methods=["GET"])
    app.add_url_rule("/oauth/authorize", "authorize_answer", server.authorize_answer, methods=["POST"])
    app.add_url_rule("/oauth/token", "token", server.token, methods=["POST"])
    app.add_url_rule("/oauth/revoke", "revoke", server.revoke, methods=["POST"])
