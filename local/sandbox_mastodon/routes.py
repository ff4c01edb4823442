"""The routes the Mastodon sandbox puts in front of mastodon-mock's: its OAuth views, ``/api/v2/search`` resolving
status URLs, and a middleware checking granular scopes and revoked tokens."""

from __future__ import annotations

import json
import re
from typing import Any

from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import JSONResponse, Response
from mastodon_mock.db.models import OAuthToken, Status
from mastodon_mock.deps import Config, CurrentAccount, DbSession
from mastodon_mock.routers import search as mock_search
from mastodon_mock.serializers.statuses import serialize_status
from sqlalchemy import select

from relaycast_local.sandbox_mastodon.oauth import MastodonOAuth
from relaycast_local.sandbox_mastodon.records import MastodonRecords

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


def extend(app: FastAPI, records: MastodonRecords) -> None:
    """Put the sandbox's routes first in mastodon-mock's app (first match wins) and check scopes on every call."""
    oauth, routes = MastodonOAuth(records), _Routes(records)
    router = APIRouter()
    router.add_api_route("/oauth/authorize", oauth.authorize_page, methods=["GET"], include_in_schema=False)
    router.add_api_route("/oauth/authorize", oauth.authorize_answer, methods=["POST"], include_in_schema=False)
    router.add_api_route("/oauth/token", oauth.token, methods=["POST"], include_in_schema=False)
    router.add_api_route("/oauth/revoke", oauth.revoke, methods=["POST"], include_in_schema=False)
    router.add_api_route("/api/v2/search", routes.search, methods=["GET"], include_in_schema=False)
    before = len(app.router.routes)
    app.include_router(router)
    added = app.router.routes[before:]
    del app.router.routes[before:]
    app.router.routes[0:0] = added  # first match wins: ours shadow mastodon-mock's stand-ins
    app.middleware("http")(routes.enforce_scopes)


class _Routes:
    def __init__(self, records: MastodonRecords) -> None:
        self._records = records

    async def enforce_scopes(self, request: Request, call_next: Any) -> Response:
        needed = next((s for m, p, s in _SCOPED if m == request.method and p.match(request.url.path)), None)
        auth = request.headers.get("authorization", "")
        bearer = auth[7:].strip() if auth.lower().startswith("bearer ") else None
        if self._records.is_revoked(bearer):  # Doorkeeper keeps revoked tokens and refuses them; mastodon-mock would read anonymously
            return JSONResponse({"error": "The access token was revoked"}, status_code=401)
        token = None
        if needed and bearer:
            with self._records.db() as db:
                token = db.scalar(select(OAuthToken).where(OAuthToken.access_token == bearer))
            if token is not None and not needed & set(token.scopes or []):
                return JSONResponse({"error": "This action is outside the authorized scopes"}, status_code=403)
        response = await call_next(request)
        if token is None and response.status_code == 200 and request.method == "GET" and _STATUS.match(
                request.url.path):
            return await _anonymous_status(response)
        return response

    def search(self, db: DbSession, config: Config, viewer: CurrentAccount, q: str, type: str | None = None,
                limit: int = 20, resolve: str | None = None, offset: int = 0) -> Any:
        resolving = str(resolve).lower() in _TRUE
        if resolving and viewer is None:
            return JSONResponse({"error": "The access token is invalid"}, status_code=401)
        if not (resolving and q.startswith("https://")):
            return mock_search.search_v2(db=db, config=config, viewer=viewer, q=q, type=type, limit=limit,
                                         resolve=resolving, offset=offset)
        status = db.scalar(select(Status).where(Status.url == q))
        local = re.match(rf"^https://{re.escape(self._records.domain)}/@[^/]+/([0-9]+)/?$", q)
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
