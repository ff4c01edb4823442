"""The OAuth server of the Mastodon sandbox, in front of mastodon-mock's stand-ins (see the package's notes):
the consent page and its answer, the authorization-code exchange with client authentication and PKCE, and
revocation by the token's own app."""

from __future__ import annotations

import base64
import hashlib
import html
import re
import secrets
from dataclasses import dataclass
from datetime import timedelta
from typing import Any
from urllib.parse import urlencode, urlsplit

from fastapi import Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from mastodon_mock.db.models import Account, OAuthApp, OAuthToken, utcnow
from mastodon_mock.routers import oauth as mock_oauth
from mastodon_mock.routers.helpers import read_body
from sqlalchemy import select

from relaycast import clock
from relaycast_local.sandbox_common import hidden_inputs
from relaycast_local.sandbox_mastodon.records import Code, MastodonRecords

CODE_TTL = timedelta(minutes=10)  # Doorkeeper's default
_USERNAME = re.compile(r"^[A-Za-z0-9_]{1,30}$")


@dataclass
class Refusal(Exception):
    error: str
    description: str
    redirect: bool = True  # False: the redirect URI itself is not trusted, show a page


class MastodonOAuth:
    """The ``/oauth/authorize``, ``/oauth/token`` and ``/oauth/revoke`` views, storing into the records."""

    def __init__(self, records: MastodonRecords) -> None:
        self._records = records

    def _checked_request(self, db: Any, params: dict[str, Any]) -> tuple[OAuthApp, dict[str, Any]]:
        app = db.scalar(select(OAuthApp).where(OAuthApp.client_id == str(params.get("client_id", ""))))
        if app is None:
            raise Refusal("invalid_client", "Client authentication failed due to unknown client.", redirect=False)
        redirect_uri = str(params.get("redirect_uri", ""))
        if redirect_uri not in app.redirect_uris:
            raise Refusal("invalid_redirect_uri", "The redirect uri included is not valid.", redirect=False)
        if params.get("response_type") != "code":
            raise Refusal("unsupported_response_type", "The authorization server does not support this response type.")
        scopes = str(params.get("scope") or "read").split()
        if not scopes or not set(scopes) <= set(app.scopes):
            raise Refusal("invalid_scope", "The requested scope is invalid, unknown, or malformed.")
        challenge, method = str(params.get("code_challenge") or ""), params.get("code_challenge_method")
        if (challenge or method) and (method != "S256" or not re.fullmatch(r"[A-Za-z0-9_-]{43}", challenge)):
            raise Refusal("invalid_request", "Only S256 code challenges are supported.")
        if self._records.require_pkce and not challenge:
            raise Refusal("invalid_request", "The sandbox requires PKCE (code_challenge, S256).")
        return app, {"client_id": app.client_id, "redirect_uri": redirect_uri, "scopes": scopes,
                     "challenge": challenge, "state": params.get("state")}

    @staticmethod
    def _refused(refusal: Refusal, params: dict[str, Any]) -> Response:
        if not refusal.redirect:
            reason = f"{html.escape(refusal.error)}: {html.escape(refusal.description)}"
            page = f"<h1>Authorization failed</h1><p>{reason}</p>"
            return HTMLResponse(page, status_code=400)
        query = {"error": refusal.error, "error_description": refusal.description}
        if params.get("state"):
            query["state"] = str(params["state"])
        return _redirect(str(params["redirect_uri"]), query)

    async def authorize_page(self, request: Request) -> Response:
        params = dict(request.query_params)
        with self._records.db() as db:
            try:
                app, checked = self._checked_request(db, params)
            except Refusal as refusal:
                return self._refused(refusal, params)
        hidden = hidden_inputs(params)
        scopes = "".join(f"<li>{html.escape(s)}</li>" for s in checked["scopes"])
        name, back = html.escape(app.name), html.escape(urlsplit(checked["redirect_uri"]).netloc)
        body = f"""<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Authorize {name}</title></head>
<body><main><h1>{name} wants to access your account on {html.escape(self._records.domain)}</h1>
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

    async def authorize_answer(self, request: Request) -> Response:
        params = dict(await request.form())
        with self._records.db() as db:
            try:
                _, checked = self._checked_request(db, params)
            except Refusal as refusal:
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
            self._records.save_code(code, Code(checked["client_id"], checked["redirect_uri"], checked["scopes"],
                                               checked["challenge"], account.id, clock.now() + CODE_TTL))
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

    async def token(self, request: Request) -> Any:
        form = await read_body(request)
        with self._records.db() as db:
            if form.get("grant_type") != "authorization_code":
                return await mock_oauth.oauth_token(request, db)
            app = self._client(db, request, form)
            if app is None:
                return _oauth_error(401, "invalid_client", "Client authentication failed.")
            code = self._records.take_code(str(form.get("code", "")))
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
            self._records.note_issued(token.access_token)
            return {"access_token": token.access_token, "token_type": "Bearer", "scope": " ".join(code.scopes),
                    "created_at": int(token.created_at.timestamp())}

    async def revoke(self, request: Request) -> Any:
        form = await read_body(request)
        with self._records.db() as db:
            app = self._client(db, request, form)
            if app is None:
                return _oauth_error(401, "invalid_client", "Client authentication failed.")
            token = db.scalar(select(OAuthToken).where(OAuthToken.access_token == str(form.get("token", ""))))
            if token is not None:
                if token.app_id != app.id:
                    return _oauth_error(403, "unauthorized_client", "You are not authorized to revoke this token.")
                db.delete(token)
                self._records.note_revoked(token.access_token)
                db.commit()
        return {}


def _redirect(uri: str, query: dict[str, str]) -> RedirectResponse:
    return RedirectResponse(f"{uri}{'&' if '?' in uri else '?'}{urlencode(query)}", status_code=302)


def _oauth_error(status: int, error: str, description: str) -> JSONResponse:
    return JSONResponse({"error": error, "error_description": description}, status_code=status)
