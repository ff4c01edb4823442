"""The sandbox's identity, PDS and AppView parts: handle and DID resolution, the protected-resource metadata,
and the XRPC methods relaycast uses, each request and answer checked against the official lexicons."""

from __future__ import annotations

import secrets
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qsl

from flask import Flask, Response, jsonify, request

from relaycast import clock
from relaycast_local.lexicons import LexiconError, Lexicons
from relaycast_local.sandbox_bluesky.oauth import AuthorizationServer
from relaycast_local.sandbox_bluesky.proofs import Nonces, ProofRefused, check_dpop
from relaycast_local.sandbox_bluesky.records import Account, BlueskyRecords, PostRecord, Repost, cid_of, timestamp_tid

REPOST = "app.bsky.feed.repost"
SESSION_TTL = 7200


class XrpcError(Exception):
    def __init__(self, status: int, error: str, message: str, *, headers: dict[str, str] | None = None):
        super().__init__(message)
        self.status, self.error, self.message, self.headers = status, error, message, headers or {}


def _scopes_allow(scope: str, collection: str, action: str) -> bool:
    """Whether an OAuth scope string allows `action` on `collection` (the permission syntax:
    `repo:<collection>[?action=…&action=…]`, or the transitional `transition:generic`)."""
    for item in scope.split():
        if item == "transition:generic":
            return True
        resource, _, query = item.partition("?")
        if resource == f"repo:{collection}" or (resource == "repo" and ("collection", collection) in parse_qsl(query)):
            actions = [v for k, v in parse_qsl(query) if k == "action"]
            if not actions or action in actions:
                return True
    return False


class Pds:
    def __init__(self, records: BlueskyRecords, base: Callable[[], str], oauth: AuthorizationServer, lexicons: Lexicons):
        self.records, self._origin, self.oauth, self.lexicons = records, base, oauth, lexicons
        self.nonces = Nonces()  # the PDS's own DPoP nonces, apart from the authorization server's

    # ---- identity ----------------------------------------------------------------------------------

    def did_document(self, did: str) -> Response | tuple[str, int]:
        account = self.records.accounts.get(did)
        if account is None:
            return jsonify(message=f"DID not registered: {did}"), 404
        return jsonify({
            "@context": ["https://www.w3.org/ns/did/v1"], "id": did, "alsoKnownAs": [f"at://{account.claims or account.handle}"],
            "verificationMethod": [],
            "service": [{"id": "#atproto_pds", "type": "AtprotoPersonalDataServer",
                         "serviceEndpoint": account.pds or self._origin()}],
        })

    def handle_did(self) -> Response | tuple[str, int]:
        """`https://<handle>/.well-known/atproto-did`: the handle is the request's host."""
        account = self.records.by_handle((request.host or "").split(":")[0])
        if account is None:
            return "no such handle", 404
        return Response(account.did, mimetype="text/plain")

    # ---- auth --------------------------------------------------------------------------------------

    def _caller(self) -> tuple[str, str | None]:
        """The DID of the caller and the OAuth scope (None for an app-password session, which may do anything)."""
        header = request.headers.get("Authorization", "")
        scheme, _, token = header.partition(" ")
        if scheme == "Bearer" and token in self.records.expired_sessions:
            raise XrpcError(400, "ExpiredToken", "Token has expired")
        if scheme == "Bearer" and token in self.records.sessions:
            return self.records.sessions[token], None
        if scheme != "DPoP" or not token:
            raise XrpcError(401, "AuthenticationRequired", "Authentication Required")
        try:
            jkt = check_dpop(request.headers.get("DPoP"), method=request.method, url=self._origin() + request.path,
                               nonces=self.nonces, records=self.records, access_token=token)
        except ProofRefused as refused:
            if refused.nonce:
                raise XrpcError(401, "use_dpop_nonce", refused.description, headers={
                    "WWW-Authenticate": 'DPoP error="use_dpop_nonce", error_description="Resource server requires nonce in DPoP proof"'}) from None
            raise XrpcError(401, "InvalidToken", refused.description,
                            headers={"WWW-Authenticate": 'DPoP error="invalid_dpop_proof"'}) from None
        grant = self.records.grant_of(access_token=token)
        if grant is None or (grant.revoked and not self.records.revocation_spares_access_tokens):
            raise XrpcError(401, "InvalidToken", "Bad token", headers={"WWW-Authenticate": 'DPoP error="invalid_token"'})
        if grant.access_expires <= clock.epoch():
            raise XrpcError(401, "ExpiredToken", "Token has expired", headers={"WWW-Authenticate": 'DPoP error="invalid_token"'})
        if grant.jkt != jkt:
            raise XrpcError(401, "InvalidToken", "the token is bound to another DPoP key",
                            headers={"WWW-Authenticate": 'DPoP error="invalid_token"'})
        return grant.did, grant.scope

    def _writer(self, repo: str, collection: str, action: str) -> Account:
        did, scope = self._caller()
        account = self.records.accounts[did]
        if repo not in (did, account.handle):
            raise XrpcError(403, "InvalidRequest", "a repository is written by its own account only")
        if scope is not None and not _scopes_allow(scope, collection, action):
            raise XrpcError(403, "ScopeMissingError", f"Missing required scope \"repo:{collection}?action={action}\"")
        return account

    # ---- XRPC --------------------------------------------------------------------------------------

    def call(self, nsid: str) -> Response:
        method = getattr(self, "x_" + nsid.replace(".", "_"), None)
        if method is None:
            return self._answer(XrpcError(501, "MethodNotImplemented", f"{nsid} is not served by the sandbox"))
        try:
            kind = self.lexicons.documents[nsid]["defs"]["main"]["type"]
            if kind == "procedure" and request.method != "POST" or kind == "query" and request.method != "GET":
                raise XrpcError(405, "InvalidRequest", f"{nsid} is a {kind}")
            params = self._params(nsid)
            body = request.get_json(silent=True) if kind == "procedure" else None
            if kind == "procedure" and "schema" in self.lexicons.documents[nsid]["defs"]["main"].get("input", {}):
                if body is None:
                    raise XrpcError(400, "InvalidRequest", "the body must be JSON")
                self.lexicons.validate(nsid, "input", body)
            output = method(params, body)
        except LexiconError as error:
            return self._answer(XrpcError(400, "InvalidRequest", str(error)))
        except XrpcError as error:
            return self._answer(error)
        if "schema" in self.lexicons.documents[nsid]["defs"]["main"].get("output", {}):
            self.lexicons.validate(nsid, "output", output)  # the sandbox's own answer: a failure here is its bug
        response = jsonify(output)
        response.headers["DPoP-Nonce"] = self.nonces.current()
        return response

    def _answer(self, error: XrpcError) -> Response:
        response = jsonify(error=error.error, message=error.message)
        response.status_code = error.status
        response.headers["DPoP-Nonce"] = self.nonces.current()
        response.headers.update(error.headers)
        return response

    def _params(self, nsid: str) -> dict[str, Any]:
        """The query string as the lexicon types it (integers, booleans, repeated names as arrays), validated."""
        declared = self.lexicons.documents[nsid]["defs"]["main"].get("parameters", {}).get("properties", {})
        params: dict[str, Any] = {}
        for name, spec in declared.items():
            values = request.args.getlist(name)
            if not values:
                continue
            try:
                if spec["type"] == "array":
                    params[name] = [int(v) if spec["items"]["type"] == "integer" else v for v in values]
                elif spec["type"] == "integer":
                    params[name] = int(values[0])
                elif spec["type"] == "boolean":
                    params[name] = {"true": True, "false": False}[values[0]]
                else:
                    params[name] = values[0]
            except (KeyError, ValueError):
                raise XrpcError(400, "InvalidRequest", f"{name}: not a {spec['type']}") from None
        self.lexicons.validate(nsid, "parameters", params)
        return params

    def x_com_atproto_server_createSession(self, params: dict, body: dict) -> dict:
        account = self.records.by_handle(body["identifier"].removeprefix("@")) or self.records.accounts.get(body["identifier"])
        if account is None or not secrets.compare_digest(body["password"], account.app_password):
            raise XrpcError(401, "AuthenticationRequired", "Invalid identifier or password")
        return self._session(account)

    def _session(self, account: Account) -> dict:
        access, refresh = "sess-at-" + secrets.token_urlsafe(18), "sess-rt-" + secrets.token_urlsafe(18)
        with self.records.lock:
            self.records.sessions[access] = account.did
            self.records.sessions[refresh] = account.did
        return {"accessJwt": access, "refreshJwt": refresh, "handle": account.handle, "did": account.did, "active": True}

    def x_com_atproto_server_refreshSession(self, params: dict, body: Any) -> dict:
        token = request.headers.get("Authorization", "").removeprefix("Bearer ")
        with self.records.lock:
            did = self.records.sessions.pop(token, None) if token.startswith("sess-rt-") else None
        if did is None:
            raise XrpcError(400, "ExpiredToken", "Token has expired")
        return self._session(self.records.accounts[did])

    def x_com_atproto_server_getSession(self, params: dict, body: Any) -> dict:
        did, _ = self._caller()
        account = self.records.accounts[did]
        return {"handle": account.handle, "did": did, "active": True}

    def x_com_atproto_identity_resolveHandle(self, params: dict, body: Any) -> dict:
        account = self.records.by_handle(params["handle"])
        if account is None:
            raise XrpcError(400, "HandleNotFound", "Unable to resolve handle")
        return {"did": account.did}

    def x_com_atproto_repo_createRecord(self, params: dict, body: dict) -> dict:
        if body["collection"] != REPOST:
            raise XrpcError(400, "InvalidRequest", "the sandbox's repositories hold reposts only")
        account = self._writer(body["repo"], body["collection"], "create")
        record = body["record"]
        if record.get("$type") != REPOST:
            raise XrpcError(400, "InvalidRecord", "the record's $type must be its collection")
        try:
            self.lexicons.validate(REPOST, "record", record)
        except LexiconError as error:
            raise XrpcError(400, "InvalidRecord", str(error)) from None
        rkey = body.get("rkey") or timestamp_tid(int(clock.now().timestamp() * 1_000_000), secrets.randbelow(1024))
        uri = f"at://{account.did}/{REPOST}/{rkey}"
        with self.records.lock:
            if uri in self.records.reposts:
                raise XrpcError(400, "InvalidRequest", "Record already exists")
            repost = Repost(uri=uri, cid=cid_of(record), did=account.did, rkey=rkey,
                            subject_uri=record["subject"]["uri"], subject_cid=record["subject"]["cid"],
                            created_at=record["createdAt"])
            self.records.reposts[uri] = repost
        return {"uri": uri, "cid": repost.cid, "validationStatus": "valid"}

    def x_com_atproto_repo_deleteRecord(self, params: dict, body: dict) -> dict:
        account = self._writer(body["repo"], body["collection"], "delete")
        with self.records.lock:  # deleting a record that is not there succeeds, as on a PDS
            self.records.reposts.pop(f"at://{account.did}/{body['collection']}/{body['rkey']}", None)
        return {}

    def x_com_atproto_repo_getRecord(self, params: dict, body: Any) -> dict:
        account = self.records.by_handle(params["repo"]) or self.records.accounts.get(params["repo"])
        uri = f"at://{account.did if account else params['repo']}/{params['collection']}/{params['rkey']}"
        with self.records.lock:
            repost, post = self.records.reposts.get(uri), self.records.posts.get(uri)
        if repost is not None:
            value = {"$type": REPOST, "subject": {"uri": repost.subject_uri, "cid": repost.subject_cid},
                     "createdAt": repost.created_at}
            return {"uri": uri, "cid": repost.cid, "value": value}
        if post is not None:
            return {"uri": uri, "cid": post.cid, "value": self._post_record(post)}
        raise XrpcError(400, "RecordNotFound", f"Could not locate record: {uri}")

    def x_app_bsky_actor_getProfile(self, params: dict, body: Any) -> dict:
        self._caller()
        account = self.records.by_handle(params["actor"]) or self.records.accounts.get(params["actor"])
        if account is None:
            raise XrpcError(400, "InvalidRequest", "Profile not found")
        return {"did": account.did, "handle": account.handle, "displayName": account.display_name,
                "followersCount": account.followers, "followsCount": 0,
                "postsCount": sum(1 for p in self.records.posts.values() if p.did == account.did)}

    def x_app_bsky_feed_searchPosts(self, params: dict, body: Any) -> dict:
        """Posts carrying every `tag` (and the words of `q` that are hashtags), newest first, visible once their time
        has come; `since`/`until` bound `createdAt`; the cursor is an offset, as the AppView's is opaque."""
        self._caller()  # search is not public any more: the event's own account signs in
        wanted = {t.lower().lstrip("#") for t in params.get("tag", [])}
        wanted |= {w.lower().lstrip("#") for w in params["q"].split() if w.startswith("#")}
        now = clock.now()
        since, until = (_instant(params[k]) if k in params else None for k in ("since", "until"))
        with self.records.lock:
            found = [p for p in self.records.posts.values() if wanted <= set(p.tags) and p.created_at <= now
                     and (since is None or p.created_at >= since) and (until is None or p.created_at < until)]
        found.sort(key=lambda p: p.created_at, reverse=True)
        offset, limit = int(params.get("cursor", "0") or 0), params.get("limit", 25)
        page = found[offset:offset + limit]
        answer: dict[str, Any] = {"posts": [self._post_view(p) for p in page], "hitsTotal": len(found)}
        if offset + limit < len(found):
            answer["cursor"] = str(offset + limit)
        return answer

    @staticmethod
    def _post_record(post: PostRecord) -> dict:
        return {"$type": "app.bsky.feed.post", "text": post.text, "createdAt": _iso(post.created_at),
                **({"tags": list(post.tags)[:8]} if post.tags else {})}

    def _post_view(self, post: PostRecord) -> dict:
        author = self.records.accounts[post.did]
        reposts = sum(1 for r in self.records.reposts.values() if r.subject_uri == post.uri)
        return {"uri": post.uri, "cid": post.cid, "author": {"did": author.did, "handle": author.handle,
                                                             "displayName": author.display_name},
                "record": self._post_record(post), "indexedAt": _iso(post.created_at), "repostCount": reposts,
                "likeCount": 0, "replyCount": 0, "quoteCount": 0}

    def protected_resource(self) -> Response:
        return jsonify(resource=self._origin(), authorization_servers=[self.oauth.issuer])


def _iso(instant: datetime) -> str:
    return instant.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def _instant(text: str) -> datetime:
    try:
        value = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise XrpcError(400, "InvalidRequest", f"not a datetime or date: {text}") from None
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def install(app: Flask, pds: Pds) -> None:
    app.add_url_rule("/.well-known/atproto-did", "atproto_did", pds.handle_did)
    app.add_url_rule("/.well-known/oauth-protected-resource", "protected_resource", pds.protected_resource)
    app.add_url_rule("/plc/<path:did>", "did_document", pds.did_document)
    app.add_url_rule("/xrpc/<nsid>", "xrpc", pds.call, methods=["GET", "POST"])
