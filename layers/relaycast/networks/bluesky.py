"""Bluesky: a relay's identity resolved and verified both ways, AT Protocol OAuth as a confidential client (PAR,
PKCE S256, DPoP with each server's nonces, `private_key_jwt`) through requests-oauth2client, and reposts as
records of the relay's own repository.

The relay's handle, the PDS their DID document names and the authorization server that PDS names are all
input relaycast does not control: every request goes through `netguard` (one public host per session, pinned
addresses, no redirects, bounded answers). A DPoP key is made for each connection and lives with its tokens
(`Session.token` holds both): the tokens are useless without it, so custody must seal the two together.
"""

from __future__ import annotations

import hashlib
import json
import re
import secrets
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from relaycast import clock
from relaycast.networks.base import (Identity, NetworkError, Post, RateLimited, TokenRejected, Tokens, Transient,
                                     follower_count, post_id_of, token_alone)

if TYPE_CHECKING:
    import requests
    from requests_oauth2client import AuthorizationRequest, DPoPToken, OAuth2Client

    from relaycast.netguard import NetGuard

# requests-oauth2client and jwskate load at the first call to Bluesky: a path that never calls it never loads them.

REPOST = "app.bsky.feed.repost"
# The narrowest scope that creates and deletes reposts (the permission syntax; `atproto` is always required).
SCOPE = f"atproto repo:{REPOST}?action=create&action=delete"
PLC_DIRECTORY = "https://plc.directory"
HANDLE = re.compile(r"^([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]([a-z0-9-]{0,61}[a-z0-9])?$")
DID = re.compile(r"^did:(plc:[a-z2-7]{24}|web:[a-z0-9.-]+)$")
TID_ALPHABET = "234567abcdefghijklmnopqrstuvwxyz"  # base32-sortable, as the protocol's timestamp identifiers
AT_URI = re.compile(r"^at://(did:[a-z]+:[a-zA-Z0-9._:%-]+)/([a-zA-Z0-9.-]+)/([a-zA-Z0-9._~:-]+)$")


@dataclass(frozen=True)
class BlueskyPost(Post):
    """A post as the rounds store it: its id is decimal (`post_id_of` its at-uri), `ref` is what a repost record
    names (the at-uri and the content id: its strong reference), `indexed_at` the AppView's time (the cursor)."""

    uri: str = ""
    cid: str = ""
    ref: str = ""
    indexed_at: str = ""


class IdentityRejected(NetworkError):
    """The handle cannot be used to connect: `message` is written for the relay who typed it (a fixed sentence,
    translated on their page), `detail` says what exactly failed (for the logs)."""

    def __init__(self, message: str, detail: str = ""):
        super().__init__(f"{message} ({detail})" if detail else message)
        self.message, self.detail = message, detail


NOT_PUBLIC = "This Bluesky account's servers are not on public addresses."
NOT_BLUESKY = "This Bluesky account's servers do not answer as Bluesky servers do."


@dataclass(frozen=True)
class Account:
    """A verified identity: the handle's DID claims the handle back, and names the PDS and its server."""

    did: str
    handle: str
    pds: str  # https origin
    issuer: str  # the authorization server the PDS names
    server: dict[str, Any]  # its metadata


def _host(url: str) -> str:
    parts = urlsplit(url)
    if parts.scheme != "https" or not parts.hostname or parts.path not in ("", "/") or parts.query or parts.username:
        raise IdentityRejected(NOT_BLUESKY, f"not a plain https origin: {url[:100]}")
    return parts.hostname


def _get(guard: NetGuard, url: str, what: str) -> requests.Response:
    """GET through netguard: a host it refuses is the relay's input refused, a failure to reach it is transient."""
    import requests

    from relaycast.netguard import GuardRefused, InstanceRejected

    try:
        return guard.session(urlsplit(url).hostname or "").get(url, timeout=guard.timeout)
    except (GuardRefused, InstanceRejected) as error:
        raise IdentityRejected(NOT_PUBLIC, f"{what}: {error}") from None
    except requests.RequestException:
        raise Transient(f"{what} could not be reached") from None


def _json(guard: NetGuard, url: str, what: str) -> dict[str, Any]:
    response = _get(guard, url, what)
    if response.status_code != 200:
        raise IdentityRejected(NOT_BLUESKY, f"{what} answered {response.status_code}")
    try:
        body = response.json()
    except ValueError:
        raise IdentityRejected(NOT_BLUESKY, f"{what} did not answer JSON") from None
    if not isinstance(body, dict):
        raise IdentityRejected(NOT_BLUESKY, f"{what} did not answer a JSON object")
    return body


def parse_handle(text: str) -> str:
    handle = (text or "").strip().removeprefix("@").lower()
    if len(handle) > 253 or not HANDLE.match(handle):
        raise IdentityRejected("Type your Bluesky handle, for example amina.bsky.social.")
    return handle


def resolve(text: str, guard: NetGuard, plc: str = PLC_DIRECTORY) -> Account:
    """Handle → DID (its host's `/.well-known/atproto-did`) → DID document (the PLC directory, or did:web's host),
    which must claim the handle back → its PDS → the PDS's authorization server and that server's metadata."""
    handle = parse_handle(text)
    answer = _get(guard, f"https://{handle}/.well-known/atproto-did", "That handle")
    did = answer.text.strip() if answer.status_code == 200 else ""
    if not DID.match(did):
        raise IdentityRejected("No Bluesky account answers for that handle.")
    document = _json(guard, f"{plc}/{did}" if did.startswith("did:plc:") else f"https://{did[8:]}/.well-known/did.json",
                     "The account's DID document")
    claimed = next((a[5:] for a in document.get("alsoKnownAs", []) if isinstance(a, str) and a.startswith("at://")), None)
    if document.get("id") != did or claimed != handle:
        raise IdentityRejected("That handle's account does not claim the handle back: it cannot be verified.")
    pds = next((s.get("serviceEndpoint") for s in document.get("service", []) if isinstance(s, dict)
                and str(s.get("id", "")).endswith("#atproto_pds") and s.get("type") == "AtprotoPersonalDataServer"), None)
    if not isinstance(pds, str):
        raise IdentityRejected(NOT_BLUESKY, "the DID document names no PDS")
    pds = f"https://{_host(pds)}"
    resource = _json(guard, f"{pds}/.well-known/oauth-protected-resource", "The account's server")
    servers = resource.get("authorization_servers")
    if not isinstance(servers, list) or len(servers) != 1 or not isinstance(servers[0], str):
        raise IdentityRejected(NOT_BLUESKY, "the PDS names no single authorization server")
    issuer = f"https://{_host(servers[0])}"
    server = _json(guard, f"{issuer}/.well-known/oauth-authorization-server", "The authorization server")
    _check_server(issuer, server)
    return Account(did=did, handle=handle, pds=pds, issuer=issuer, server=server)


def _check_server(issuer: str, server: dict[str, Any]) -> None:
    """What the AT Protocol profile requires of the server before a relay is sent to it."""
    required = {
        "issuer": server.get("issuer") == issuer,
        "PAR": server.get("require_pushed_authorization_requests") is True,
        "S256": "S256" in server.get("code_challenge_methods_supported", []),
        "private_key_jwt": "private_key_jwt" in server.get("token_endpoint_auth_methods_supported", []),
        "ES256 DPoP": "ES256" in server.get("dpop_signing_alg_values_supported", []),
        "iss parameter": server.get("authorization_response_iss_parameter_supported") is True,
    }
    for endpoint in ("authorization_endpoint", "token_endpoint", "pushed_authorization_request_endpoint"):
        url = server.get(endpoint)
        required[endpoint] = isinstance(url, str) and url.startswith(issuer + "/")
    missing = [name for name, ok in required.items() if not ok]
    if missing:
        raise IdentityRejected(NOT_BLUESKY, f"the authorization server does not follow the AT Protocol profile: {', '.join(missing)}")


def client_metadata(client_id: str, redirect_uri: str, public_keys: list[dict[str, Any]], *, client_name: str = "relaycast",
                    scope: str = SCOPE) -> dict[str, Any]:
    """The client metadata document the hosted app serves at its `client_id` URL: a confidential web client
    authenticating with `private_key_jwt` (ES256), DPoP-bound tokens, the one callback. Public keys only."""
    if any("d" in key for key in public_keys):
        raise ValueError("client metadata publishes public keys only")
    return {"client_id": client_id, "client_name": client_name, "application_type": "web",
            "redirect_uris": [redirect_uri], "scope": scope, "grant_types": ["authorization_code", "refresh_token"],
            "response_types": ["code"], "dpop_bound_access_tokens": True, "token_endpoint_auth_method": "private_key_jwt",
            "token_endpoint_auth_signing_alg": "ES256", "jwks": {"keys": public_keys}}


CLIENT_METADATA_PATH = "bluesky/client-metadata.json"
CALLBACK_PATH = "callback/bluesky"


def new_client_key() -> str:
    """A new ES256 private key for a stack (JWK, JSON, with a `kid` naming when it was made): kept in the app
    secret, never shown."""
    from jwskate import Jwk

    return json.dumps(dict(Jwk.generate(alg="ES256", kid=f"relaycast-{clock.epoch()}")))


def public_keys(client_key: str) -> list[dict[str, Any]]:
    """The public half of the stack's key, as its JWKS lists it."""
    from jwskate import Jwk

    return [dict(Jwk(json.loads(client_key)).public_jwk())]


def hosted_client_metadata(hosted_page_url: str, client_key: str) -> dict[str, Any]:
    """The metadata document of the hosted app: its `client_id` is the document's own URL."""
    base = hosted_page_url if hosted_page_url.endswith("/") else hosted_page_url + "/"
    return client_metadata(base + CLIENT_METADATA_PATH, base + CALLBACK_PATH, public_keys(client_key))


def repost_rkey(relay_id: str, post_uri: str) -> str:
    """The record key of a relay's repost of a post, the same every time (a TID made from their hash): a second
    create is refused by the PDS instead of making a second repost, and the repost can be looked up by its key."""
    return tid(int.from_bytes(hashlib.sha256(f"{relay_id}\n{post_uri}".encode()).digest()[:8], "big"))


def tid(value: int) -> str:
    """A TID's text: 63 bits (its top bit is 0), 13 base32-sortable characters."""
    value &= (1 << 63) - 1
    return "".join(TID_ALPHABET[(value >> shift) & 31] for shift in range(60, -1, -5))


@dataclass(frozen=True)
class Pending:
    """A connection under way: what the callback needs, sealed by the caller (it holds the DPoP private key and
    the PKCE verifier)."""

    url: str  # where the relay's browser goes
    request: str  # the serialised authorization request (state, verifier, DPoP key)
    did: str
    handle: str
    pds: str
    issuer: str

    def __repr__(self) -> str:
        return f"Pending(handle={self.handle!r}, issuer={self.issuer!r})"


@dataclass(frozen=True)
class Session:
    """A relay's live grant: DPoP-bound tokens and the key they are bound to."""

    did: str
    handle: str
    pds: str
    issuer: str
    token: str  # requests-oauth2client's serialised DPoP token: access, refresh, expiry, the DPoP key

    def __repr__(self) -> str:  # never the tokens or the key
        return f"Session(did={self.did!r}, issuer={self.issuer!r})"


class BlueskyNetwork:
    name = "bluesky"
    scope = SCOPE

    def __init__(self, *, client_id: str, client_key: dict[str, Any], guard: NetGuard, plc: str = PLC_DIRECTORY):
        self.client_id, self._client_key, self.guard, self.plc = client_id, client_key, guard, plc

    def __repr__(self) -> str:  # never the key
        return f"BlueskyNetwork(client_id={self.client_id!r})"

    # ---- OAuth -------------------------------------------------------------------------------------

    def _client(self, issuer: str, server: dict[str, Any], redirect_uri: str | None = None) -> OAuth2Client:
        from jwskate import Jwk
        from requests_oauth2client import OAuth2Client, PrivateKeyJwt

        return OAuth2Client(
            token_endpoint=server["token_endpoint"], revocation_endpoint=server.get("revocation_endpoint"),
            pushed_authorization_request_endpoint=server["pushed_authorization_request_endpoint"],
            authorization_endpoint=server["authorization_endpoint"], issuer=issuer,
            auth=PrivateKeyJwt(self.client_id, Jwk(self._client_key), alg="ES256", aud=issuer),
            authorization_response_iss_parameter_supported=True, dpop_bound_access_tokens=True,
            redirect_uri=redirect_uri, session=self.guard.session(_host(issuer)))

    def begin(self, handle: str, *, redirect_uri: str, state: str | None = None, code_verifier: str | None = None) -> Pending:
        """Resolve the handle, push the authorization request (PAR, with a new DPoP key) and return where to send
        the relay."""
        from requests_oauth2client import AuthorizationRequestSerializer, DPoPKey

        account = resolve(handle, self.guard, self.plc)
        client = self._client(account.issuer, account.server, redirect_uri)
        request = client.authorization_request(scope=SCOPE, state=state or secrets.token_urlsafe(24), nonce=None,
                                               login_hint=account.handle, dpop_key=DPoPKey.generate(alg="ES256"),
                                               **({"code_verifier": code_verifier} if code_verifier else {}))
        pushed = self._oauth_call(lambda: client.pushed_authorization_request(request))
        return Pending(url=pushed.uri, request=AuthorizationRequestSerializer().dumps(request).decode(), did=account.did,
                       handle=account.handle, pds=account.pds, issuer=account.issuer)

    def state_of(self, pending: Pending) -> str:
        return self._request(pending).state

    @staticmethod
    def _request(pending: Pending) -> AuthorizationRequest:
        from requests_oauth2client import AuthorizationRequestSerializer

        return AuthorizationRequestSerializer().loads(pending.request)

    def finish(self, pending: Pending, callback_url: str) -> Session:
        """The callback: `state` and `iss` checked, the code exchanged with the same DPoP key, `sub` and `scope`
        checked, and `sub`'s own PDS and server checked to be the ones the relay was sent to."""
        from requests_oauth2client import TokenSerializer
        from requests_oauth2client.exceptions import AuthorizationResponseError, MismatchingIssuer, MismatchingState

        request = self._request(pending)
        try:
            response = request.validate_callback(callback_url)
        except (MismatchingIssuer, MismatchingState):
            raise IdentityRejected("This answer does not come from the server the connection was sent to.") from None
        except AuthorizationResponseError as error:
            raise NetworkError(f"authorization refused: {error.error}") from None
        account = resolve(pending.handle, self.guard, self.plc)
        token = self._oauth_call(lambda: self._client(account.issuer, account.server, request.redirect_uri)
                                 .authorization_code(response))
        session = Session(did=pending.did, handle=pending.handle, pds=pending.pds, issuer=pending.issuer,
                          token=TokenSerializer().dumps(token).decode())
        if token.kwargs.get("sub") != pending.did or (account.did, account.pds, account.issuer) != (pending.did, pending.pds, pending.issuer):
            self.revoke(session)
            raise IdentityRejected("The server answered for another account than the one you named.")
        granted = set((token.scope or "").split())
        if not set(SCOPE.split()) <= granted and "transition:generic" not in granted:
            self.revoke(session)
            raise NetworkError("the grant lacks the scope to repost")
        return session

    def _token(self, session: Session) -> DPoPToken:
        from requests_oauth2client import TokenSerializer

        return TokenSerializer().loads(session.token)

    def expires_at(self, session: Session) -> int:
        """When a token just received expires, on relaycast's clock (the library dates it on the wall clock, which
        the local runtime's simulated event is not on)."""
        token = self._token(session)
        return clock.epoch() + int(token.expires_in) if token.expires_in is not None else clock.epoch()

    def _server(self, issuer: str) -> dict[str, Any]:
        """The metadata of the authorization server a session was granted by (checked against the profile)."""
        server = _json(self.guard, f"{issuer}/.well-known/oauth-authorization-server", "The authorization server")
        _check_server(issuer, server)
        return server

    def refresh(self, session: Session) -> Session:
        """A new token pair from the server that granted the session (its refresh token is spent: custody stores
        the new one before anything else). One metadata read, not the whole identity chain: a session is bound
        to its server whatever becomes of the handle."""
        from requests_oauth2client import TokenSerializer

        client = self._client(session.issuer, self._server(session.issuer))
        token = self._oauth_call(lambda: client.refresh_token(self._token(session)), rejected=True)
        return Session(did=session.did, handle=session.handle, pds=session.pds, issuer=session.issuer,
                       token=TokenSerializer().dumps(token).decode())

    def revoke(self, session: Session) -> None:
        """RFC 7009 at the server's revocation endpoint, refresh token first (it ends the session on the reference
        server); raises NetworkError when the server advertises none (the caller tells the relay)."""
        token = self._token(session)
        for value, hint in ((token.refresh_token, "refresh_token"), (token.access_token, "access_token")):
            if value:
                self.revoke_one(session, value, hint)

    def revoke_one(self, session: Session, value: str, hint: str) -> None:
        """One token of a session (the generic interface revokes token by token)."""
        server = self._server(session.issuer)
        if not server.get("revocation_endpoint"):
            raise NetworkError("the authorization server advertises no revocation endpoint")
        self._oauth_call(lambda: self._client(session.issuer, server).revoke_token(value, token_type_hint=hint))

    def _oauth_call(self, call: Any, *, rejected: bool = False) -> Any:
        import requests
        from requests_oauth2client.dpop import InvalidUseDPoPNonceResponse
        from requests_oauth2client.exceptions import EndpointError, InvalidGrant, OAuth2Error

        try:
            return call()
        except InvalidGrant as error:
            if rejected:
                raise TokenRejected(f"refused: {error.error}") from None
            raise NetworkError(f"refused: {error.error}") from None
        except EndpointError as error:
            status = error.response.status_code if error.response is not None else 0
            if status == 429 or status >= 500:
                raise Transient(f"authorization server answered {status}") from None
            raise NetworkError(f"authorization server refused: {error.error}") from None
        except requests.RequestException as error:
            raise Transient(f"authorization server unreachable: {type(error).__name__}") from None
        except (OAuth2Error, InvalidUseDPoPNonceResponse) as error:  # an answer no client could use (a nonce loop)
            raise NetworkError(f"authorization server answered unusably: {type(error).__name__}") from None

    # ---- the relay's repository --------------------------------------------------------------------

    def _xrpc(self, session: Session, method: str, nsid: str, **kwargs: Any) -> requests.Response:
        response = _xrpc(self.guard, session.pds, method, nsid, auth=self._token(session), **kwargs)
        if response.status_code == 401:
            raise TokenRejected(f"{nsid}: 401")
        return response

    def repost(self, session: Session, relay_id: str, post_uri: str, post_cid: str) -> str:
        """Create the relay's repost record (its key from relay and post: a second try cannot make a second
        repost); returns the record key."""
        rkey = repost_rkey(relay_id, post_uri)
        record = {"$type": REPOST, "subject": {"uri": post_uri, "cid": post_cid},
                  "createdAt": clock.now().astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"}
        response = self._xrpc(session, "POST", "com.atproto.repo.createRecord",
                              json={"repo": session.did, "collection": REPOST, "rkey": rkey, "record": record})
        if response.status_code == 200 or self.has_reposted(session, rkey):
            return rkey
        raise NetworkError(f"createRecord refused: {response.status_code} {_error(response)}")

    def has_reposted(self, session: Session, rkey: str) -> bool:
        response = self._xrpc(session, "GET", "com.atproto.repo.getRecord",
                              params={"repo": session.did, "collection": REPOST, "rkey": rkey})
        if response.status_code == 200:
            return True
        if response.status_code == 400 and _error(response) == "RecordNotFound":
            return False
        raise NetworkError(f"getRecord refused: {response.status_code} {_error(response)}")

    def undo_repost(self, session: Session, rkey: str) -> None:
        response = self._xrpc(session, "POST", "com.atproto.repo.deleteRecord",
                              json={"repo": session.did, "collection": REPOST, "rkey": rkey})
        if response.status_code != 200:
            raise NetworkError(f"deleteRecord refused: {response.status_code} {_error(response)}")

    def followers(self, session: Session) -> int | None:
        """The account's followers, from its profile (the PDS forwards app.bsky reads to the AppView); None when the
        profile cannot be read: connecting does not depend on it."""
        try:
            response = self._xrpc(session, "GET", "app.bsky.actor.getProfile", params={"actor": session.did})
        except Transient:
            return None
        return follower_count(response.json().get("followersCount")) if response.status_code == 200 else None

    def token_works(self, session: Session) -> bool:
        """Whether the PDS still accepts the access token (the end of access proves the tokens dead with it)."""
        try:
            response = self._xrpc(session, "GET", "com.atproto.server.getSession")
        except TokenRejected:
            return False
        return response.status_code == 200


def bind(raw: str, session: Session) -> str:
    """A token as the rest of relaycast holds it: the token, a space (never in a token), and the session it is
    bound to (DPoP key, account, servers), so each call that gets it can prove possession."""
    import base64

    data = json.dumps(asdict(session), separators=(",", ":")).encode()
    return f"{raw} {base64.urlsafe_b64encode(data).decode()}"


def unbind(bound: str) -> Session:
    import base64

    try:
        _, data = bound.split(" ", 1)
        return Session(**json.loads(base64.urlsafe_b64decode(data)))
    except (ValueError, TypeError):
        raise TokenRejected("not a Bluesky token bound to its session") from None


class BlueskyGrants:
    """Bluesky in the words every network adapter speaks (tokens as strings, a post as its reference): what the
    pipeline calls. A token is `bind`'s form, so revocation, verification and refresh each carry their DPoP key;
    a post's reference is its at-uri and cid (`post_ref`)."""

    name = "bluesky"
    scope = SCOPE

    def __init__(self, network: BlueskyNetwork):
        self.network = network

    def __repr__(self) -> str:
        return f"BlueskyGrants({self.network!r})"

    def begin(self, handle: str, *, redirect_uri: str, state: str, code_verifier: str) -> Pending:
        return self.network.begin(handle, redirect_uri=redirect_uri, state=state, code_verifier=code_verifier)

    def tokens(self, session: Session) -> Tokens:
        token = self.network._token(session)
        return Tokens(access_token=bind(token.access_token, session),
                      refresh_token=bind(token.refresh_token, session) if token.refresh_token else None,
                      expires_at=self.network.expires_at(session), scope=token.scope or SCOPE)

    def exchange(self, pending: Pending, callback_url: str) -> Tokens:
        return self.tokens(self.network.finish(pending, callback_url))

    def identity(self, access_token: str) -> Identity:
        session = unbind(access_token)
        return Identity(user_id=session.did, username=session.handle, followers=self.network.followers(session))

    def refresh(self, refresh_token: str | None) -> Tokens:
        if not refresh_token:
            raise TokenRejected("no refresh token was granted")
        return self.tokens(self.network.refresh(unbind(refresh_token)))

    def revoke(self, token: str, hint: str) -> None:
        self.network.revoke_one(unbind(token), token_alone(token), hint)

    def token_works(self, access_token: str) -> bool:
        return self.network.token_works(unbind(access_token))

    def repost(self, access_token: str, user_id: str, post: str) -> None:
        uri, cid = split_ref(post)
        self.network.repost(unbind(access_token), user_id, uri, cid)

    def has_reposted(self, access_token: str, user_id: str, post: str) -> bool:
        uri, _ = split_ref(post)
        return self.network.has_reposted(unbind(access_token), repost_rkey(user_id, uri))

    def undo_repost(self, access_token: str, user_id: str, post: str) -> None:
        uri, _ = split_ref(post)
        self.network.undo_repost(unbind(access_token), repost_rkey(user_id, uri))


def split_ref(post: str) -> tuple[str, str]:
    """A post's reference (`BlueskyPost.ref`): its at-uri and content id."""
    uri, _, cid = post.partition(" ")
    post_ref(uri)
    if not cid:
        raise NetworkError("a Bluesky post is reposted by its uri and cid")
    return uri, cid


class BlueskySource:
    """The event's tags on Bluesky, read with the event's own account (search is not public any more): an app
    password signs in once, then its session is refreshed; `session` is what the caller keeps between rounds
    (sealed: it holds tokens), since signing in is limited to a few dozen times a day."""

    def __init__(self, *, service: str, identifier: str, app_password: str, guard: NetGuard,
                 session: dict[str, str] | None = None):
        self.service, self._identifier, self._password, self.guard = service.rstrip("/"), identifier, app_password, guard
        self.session = session

    def __repr__(self) -> str:  # never the password or the session
        return f"BlueskySource(service={self.service!r}, identifier={self._identifier!r})"

    def _call(self, method: str, nsid: str, *, token: str | None = None, **kwargs: Any) -> requests.Response:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        return _xrpc(self.guard, self.service, method, nsid, headers=headers, **kwargs)

    def _signed_in(self) -> str:
        if self.session is None:
            response = self._call("POST", "com.atproto.server.createSession",
                                  json={"identifier": self._identifier, "password": self._password})
            if response.status_code != 200:
                raise TokenRejected(f"the event's Bluesky account could not sign in: {_error(response)}")
            body = response.json()
            self.session = {"access": body["accessJwt"], "refresh": body["refreshJwt"]}
        return self.session["access"]

    def _authorised(self, method: str, nsid: str, **kwargs: Any) -> requests.Response:
        response = self._call(method, nsid, token=self._signed_in(), **kwargs)
        if response.status_code in (400, 401) and _error(response) in ("ExpiredToken", "InvalidToken"):
            refreshed = self._call("POST", "com.atproto.server.refreshSession", token=self.session["refresh"])  # type: ignore[index]
            if refreshed.status_code == 200:
                body = refreshed.json()
                self.session = {"access": body["accessJwt"], "refresh": body["refreshJwt"]}
            else:
                self.session = None  # the refresh token is spent too: sign in again
            response = self._call(method, nsid, token=self._signed_in(), **kwargs)
        if response.status_code == 401:
            raise TokenRejected(f"{nsid}: 401")
        if response.status_code != 200:
            raise NetworkError(f"{nsid} refused: {response.status_code} {_error(response)}")
        return response

    def search(self, tags: list[str], since: str | None) -> Iterator[list[BlueskyPost]]:
        """Posts carrying the tags, newest first, page by page; `since` (an ISO instant: the newest `indexedAt`
        already stored) makes each post read once, give or take the ones of that very instant."""
        params: dict[str, Any] = {"q": " ".join(f"#{t}" for t in tags), "tag": list(tags), "sort": "latest", "limit": 100}
        if since:
            params["since"] = since
        while True:
            body = self._authorised("GET", "app.bsky.feed.searchPosts", params=params).json()
            yield [self._post(view) for view in body.get("posts", []) if isinstance(view, dict)]
            if not body.get("cursor") or not body.get("posts"):
                return
            params["cursor"] = body["cursor"]

    @staticmethod
    def _post(view: dict[str, Any]) -> BlueskyPost:
        record, author = view.get("record") or {}, view.get("author") or {}
        _, rkey = post_ref(view["uri"])
        created = datetime.fromisoformat(str(record.get("createdAt") or view["indexedAt"]).replace("Z", "+00:00"))
        langs = record.get("langs") or []
        return BlueskyPost(
            network="bluesky", post_id=post_id_of(view["uri"]), uri=view["uri"], cid=view["cid"],
            ref=f"{view['uri']} {view['cid']}", indexed_at=str(view.get("indexedAt", "")), author=author.get("handle", ""),
            author_id=author.get("did", ""), text=str(record.get("text", "")), created_at=created.astimezone(UTC),
            lang=langs[0] if langs and isinstance(langs[0], str) else "und", likes=int(view.get("likeCount", 0)),
            reposts=int(view.get("repostCount", 0)), replies=int(view.get("replyCount", 0)),
            is_reply="reply" in record, url=f"https://bsky.app/profile/{author.get('handle', '')}/post/{rkey}")


def _xrpc(guard: NetGuard, service: str, method: str, nsid: str, **kwargs: Any) -> requests.Response:
    """One XRPC call to `service` through netguard: 429 (with Bluesky's `ratelimit-reset`), 5xx and failures to
    reach it typed; any other answer is the caller's to read."""
    import requests

    from requests_oauth2client.dpop import InvalidUseDPoPNonceResponse

    try:
        response = guard.session(_host(service)).request(method, f"{service}/xrpc/{nsid}", timeout=guard.timeout,
                                                         **kwargs)
    except requests.RequestException as error:
        raise Transient(f"{nsid}: {type(error).__name__}") from None
    except InvalidUseDPoPNonceResponse:  # the PDS keeps asking for another nonce: it may settle later
        raise Transient(f"{nsid}: the server's DPoP nonces do not settle") from None
    if response.status_code == 429:
        reset = response.headers.get("ratelimit-reset", "")
        raise RateLimited(f"{nsid}: 429", reset_at=int(reset) if reset.isdigit() else clock.epoch() + 300)
    if response.status_code >= 500:
        raise Transient(f"{nsid}: {response.status_code}")
    return response


def _error(response: requests.Response) -> str:
    try:
        return str(response.json().get("error", ""))
    except ValueError:
        return ""


def post_ref(uri: str) -> tuple[str, str]:
    """The DID and record key of a post's at-uri (a pick's id on Bluesky)."""
    match = AT_URI.match(uri)
    if not match or match.group(2) != "app.bsky.feed.post":
        raise NetworkError(f"not a Bluesky post: {uri}")
    return match.group(1), match.group(3)
