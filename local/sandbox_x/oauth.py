"""X's OAuth 2.0 authorization server, on authlib's server components, storing into `XRecords`.

The authorization code grant with PKCE (S256 only, required for every client), the refresh token grant with
rotation, RFC 7009 revocation, bearer-token resource protection (user tokens and the app-only token), and
the consent page of ``/i/oauth2/authorize``.
"""

from __future__ import annotations

import base64
import html
import re
import secrets
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from authlib.common.security import generate_token
from authlib.integrations.flask_oauth2 import AuthorizationServer, ResourceProtector
from authlib.oauth2 import OAuth2Error
from authlib.oauth2.rfc6749 import ClientMixin, InvalidRequestError, grants, list_to_scope, scope_to_list
from authlib.oauth2.rfc6750 import BearerTokenGenerator, BearerTokenValidator, InsufficientScopeError
from authlib.oauth2.rfc7009 import RevocationEndpoint
from authlib.oauth2.rfc7636 import CodeChallenge
from flask import Flask, Response, request

from relaycast import clock
from relaycast_local.sandbox_common import hidden_inputs
from relaycast_local.sandbox_x.errors import about_blank, unsupported_app_auth
from relaycast_local.sandbox_x.records import AppToken, AuthCode, SandboxUser, Token, XRecords

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

DEFAULT_REDIRECT = re.compile(r"^https?://(127\.0\.0\.1|localhost)(:\d{1,5})?/([^?#]*/)?callback/x$")
_USERNAME = re.compile(r"^[A-Za-z0-9_]{1,15}$")


@dataclass
class Client(ClientMixin):
    """The one confidential client, authenticated with ``client_secret_basic``."""

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


# --------------------------------------------------------------------------------------------------
# authlib grants, endpoint and validator wired to the records (reached through `server.records`)
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
        self.server.records.save_code(code, req)

    def query_authorization_code(self, code: str, client: ClientMixin) -> AuthCode | None:
        return self.server.records.query_code(code, client)

    def delete_authorization_code(self, authorization_code: AuthCode) -> None:
        self.server.records.delete_code(authorization_code)

    def authenticate_user(self, authorization_code: AuthCode) -> SandboxUser | None:
        return self.server.records.users_by_id.get(authorization_code.user_id)


class _RefreshGrant(grants.RefreshTokenGrant):
    TOKEN_ENDPOINT_AUTH_METHODS = ["client_secret_basic"]
    INCLUDE_NEW_REFRESH_TOKEN = True  # rotation

    def authenticate_refresh_token(self, refresh_token: str) -> Token | None:
        return self.server.records.live_refresh_token(refresh_token)

    def authenticate_user(self, refresh_token: Token) -> SandboxUser | None:
        return self.server.records.users_by_id.get(refresh_token.user_id)

    def revoke_old_credential(self, refresh_token: Token) -> None:
        refresh_token.refresh_rotated_at = clock.now()


class _Revocation(RevocationEndpoint):
    CLIENT_AUTH_METHODS = ["client_secret_basic"]

    def query_token(self, token_string: str, token_type_hint: str | None) -> tuple[str, Token] | None:
        return self.server.records.find_live_token(token_string, token_type_hint)

    def authenticate_token(self, req: Any, client: ClientMixin) -> tuple[str, Token] | None:
        self.check_params(req, client)
        found = self.query_token(req.form["token"], req.form.get("token_type_hint"))
        self.server.records.note_revocation_request(req.form["token"], req.form.get("token_type_hint"), found)
        if found and not found[1].check_client(client):
            return None  # a token of another client: nothing to do, still 200 (RFC 7009 §2.2)
        return found

    def revoke_token(self, token: tuple[str, Token], req: Any) -> None:
        kind, tok = token
        self.server.records.revoke(kind, tok)

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
    def __init__(self, records: XRecords) -> None:
        super().__init__()
        self._records = records

    def authenticate_token(self, token_string: str) -> Token | AppToken | None:
        return self._records.bearer(token_string)

    def validate_token(self, token: Any, scopes: Any, req: Any) -> None:
        if token is not None and token.is_app:
            return  # app-only: scopes do not apply; each endpoint decides whether it is allowed
        super().validate_token(token, scopes, req)


def _x_token(kind: str) -> str:
    """A token shaped like X's: base64url of `<random>:<ms>:1:0:<at|rt>:1`."""
    raw = f"{generate_token(40)}:{int(clock.now().timestamp() * 1000)}:1:0:{kind}:1"
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


# --------------------------------------------------------------------------------------------------
# The server
# --------------------------------------------------------------------------------------------------


class XOAuth:
    """The authorization server of a Flask app: its token, revocation and authorize views, and `authenticate`
    for the API routes. Views run under the records' lock (the routes take it)."""

    def __init__(self, app: Flask, records: XRecords, client: Client, app_name: str) -> None:
        app.config.update(OAUTH2_SCOPES_SUPPORTED=list(X_SCOPES))
        self._client, self._app_name = client, app_name
        server = AuthorizationServer(app, query_client=self._query_client, save_token=records.save_token)
        server.records = records  # type: ignore[attr-defined]
        server.register_token_generator("default", _XTokenGenerator(
            lambda **_: _x_token("at"), lambda **_: _x_token("rt"),
            lambda client, grant_type: int(records.access_token_ttl.total_seconds())))
        server.register_grant(_CodeGrant, [_S256Only(required=True)])
        server.register_grant(_RefreshGrant)
        server.register_endpoint(_Revocation)
        self._protector = ResourceProtector()
        self._protector.register_token_validator(_Validator(records))
        self._server, self._records = server, records

    def _query_client(self, client_id: str) -> Client | None:
        return self._client if client_id == self._client.client_id else None

    def authenticate(self, scopes: str | None, *, allow_app: bool) -> Token | AppToken:
        """The token of the request, which must carry `scopes` (a user token) or be the app's (`allow_app`)."""
        try:
            token = self._protector.acquire_token([scopes] if scopes else None)
        except InsufficientScopeError:
            raise about_blank(403, "Forbidden", f"This endpoint needs the OAuth 2.0 scopes: {scopes}.") from None
        except OAuth2Error:
            raise about_blank(401, "Unauthorized") from None
        if token.is_app and not allow_app:
            raise unsupported_app_auth()
        return token

    # ---- views ------------------------------------------------------------------------------------------

    def token(self) -> Response:
        return self._server.create_token_response()

    def revoke(self) -> Response:
        return self._server.create_endpoint_response(_Revocation.ENDPOINT_NAME)

    def authorize(self) -> Response:
        server = self._server
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
        user = self._records.add_user(username)
        return server.create_authorization_response(grant_user=user, grant=grant)

    def _authorization_error(self, error: OAuth2Error) -> Response:
        if getattr(error, "redirect_uri", None):
            return self._server.handle_error_response(None, error)
        body = (f"<h1>Something went wrong</h1><p>{html.escape(error.error)}: "
                f"{html.escape(error.description or '')}</p>")
        return Response(_page("Something went wrong", body), status=400, content_type="text/html; charset=utf-8")

    def _consent_page(self, grant: Any, error: str | None = None, status: int = 200) -> Response:
        scopes = scope_to_list(grant.request.scope or "")
        items = "".join(f"<li><strong>{html.escape(s)}</strong> — {html.escape(X_SCOPES.get(s, s))}</li>"
                        for s in scopes)
        host = urlsplit(grant.redirect_uri).netloc
        app = html.escape(self._app_name)
        body = f"""
<h1>{app} wants to access your X account</h1>
<p class="note">Local X sandbox: no real account is involved.</p>
{f'<p class="error" role="alert">{html.escape(error)}</p>' if error else ''}
<form method="post" action="/i/oauth2/authorize">
  {hidden_inputs(grant.request.payload.data)}
  <label for="username">Username</label>
  <input id="username" name="username" autocomplete="username" pattern="@?[A-Za-z0-9_]{{1,15}}" required>
  <h2>Things this app will be able to do</h2>
  <ul id="scopes">{items}</ul>
  <p class="note">You will be sent back to {html.escape(host)}. You can revoke access at any time.</p>
  <button id="allow" type="submit" name="decision" value="allow">Authorize app</button>
  <button id="deny" type="submit" name="decision" value="deny" formnovalidate>Cancel</button>
</form>"""
        return Response(_page(f"Authorize {app}", body), status=status, content_type="text/html; charset=utf-8")


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
