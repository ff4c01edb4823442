"""relaycast's OAuth 2.0 client (XNetwork) against oidc-provider, a certified server we did not write.

oidc-provider (npm, pinned in package.json) runs on loopback from `oidc_provider_server.mjs`. The
browser side of the dance (login and consent pages) is scripted with `requests`; the client side goes
only through relaycast's `XNetwork`: authorisation URL with a PKCE (S256) verifier, code exchange,
refresh and RFC 7009 revocation. RFC 7662 introspection, which relaycast does not use, is called here
to see what the server thinks of a token.

Two differences from X are bridged in the test (subclasses), not in relaycast, and each is pinned by
`test_x_scope_names_are_unknown_to_a_standard_server` and
`test_offline_access_needs_prompt_consent`: X names its refresh scope `offline.access`
where OpenID Connect says `offline_access`, and oidc-provider grants `offline_access` only to an
authorisation request carrying `prompt=consent` (OpenID Connect Core §11), which relaycast never sends.
"""

from __future__ import annotations

import os
import queue
import shutil
import subprocess
import tempfile
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from html.parser import HTMLParser
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urljoin, urlsplit

import pytest
import requests
from authlib.common.security import generate_token

from relaycast import clock
from relaycast.expire import revoke_and_verify
from relaycast.networks import NetworkError, TokenRejected, Tokens
from relaycast.networks.x import XNetwork

pytestmark = pytest.mark.xdist_group("interop")

ROOT = Path(__file__).resolve().parents[2]
SERVER_SCRIPT = Path(__file__).with_name("oidc_provider_server.mjs")
CLIENT_ID = "relaycast-interop"
# Letters and digits only: authlib's client_secret_basic does not form-encode the id and secret first
# (RFC 6749 §2.3.1), and oidc-provider decodes them, so a secret with "+", "%" or "/" would be refused.
CLIENT_SECRET = generate_token(48)
REDIRECT_URI = "http://127.0.0.1:8765/connect/callback/x"  # never contacted: the code is read from the Location
STANDARD_SCOPES = "openid offline_access"
READY_PREFIX = "oidc-provider ready "
START_TIMEOUT = 15.0
HTTP_TIMEOUT = 5.0


class OidcScopeNames(XNetwork):
    """relaycast's X client asking for the scope names a standard OpenID server knows."""

    scope = STANDARD_SCOPES


class XScopesWithConsent(XNetwork):
    """relaycast's X client adding `prompt=consent`, without which there is no `offline_access`."""

    authorize_params = {"prompt": "consent"}


class StandardScopes(XScopesWithConsent, OidcScopeNames):
    """relaycast's X client with both adaptations: everything else (PKCE, client_secret_basic, the
    token, refresh and revocation requests and their error mapping) is XNetwork's own code."""


class IntrospectedX(StandardScopes):
    """Verification by introspection: oidc-provider has no `/2/users/me` for `token_works` to call."""

    introspect: Any = None

    def token_works(self, access_token: str) -> bool:
        return bool(self.introspect(access_token, "access_token")["active"])


@dataclass
class OidcProvider:
    issuer: str
    metadata: dict[str, Any]

    def network(self, cls: type[XNetwork] = StandardScopes) -> XNetwork:
        return cls(
            client_id=CLIENT_ID,
            client_secret=CLIENT_SECRET,
            bearer_token="unused-no-api-calls",
            api_base=self.issuer,
            authorize_url=self.metadata["authorization_endpoint"],
            token_url=self.metadata["token_endpoint"],
            revoke_url=self.metadata["revocation_endpoint"],
        )

    def introspect(self, token: str, hint: str) -> dict[str, Any]:
        response = requests.post(
            self.metadata["introspection_endpoint"],
            data={"token": token, "token_type_hint": hint},
            auth=(CLIENT_ID, CLIENT_SECRET),  # client_secret_basic
            timeout=HTTP_TIMEOUT,
        )
        assert response.status_code == 200, response.text
        return response.json()


def _read_ready_line(process: subprocess.Popen[str]) -> str | None:
    lines: queue.Queue[str] = queue.Queue()
    threading.Thread(target=lambda: lines.put(process.stdout.readline()), daemon=True).start()  # type: ignore[union-attr]
    try:
        return lines.get(timeout=START_TIMEOUT)
    except queue.Empty:
        return None


@pytest.fixture(scope="module")
def oidc() -> Iterator[OidcProvider]:
    node = shutil.which("node")
    if node is None:
        pytest.fail("node is not on PATH: run `make setup` and put .venv/node-bin on PATH (make test does)")
    if not (ROOT / "node_modules" / "oidc-provider" / "package.json").is_file():
        pytest.fail("oidc-provider is not installed: run `npm ci` in the repository root (make setup does)")
    env = {
        **os.environ,
        "OIDC_CLIENT_ID": CLIENT_ID,
        "OIDC_CLIENT_SECRET": CLIENT_SECRET,
        "OIDC_REDIRECT_URI": REDIRECT_URI,
    }
    with (
        tempfile.TemporaryFile(mode="w+") as stderr,
        pytest.MonkeyPatch.context() as patch,
    ):
        patch.setenv("NO_PROXY", "127.0.0.1,localhost")  # loopback only, whatever proxy the shell sets
        patch.setenv("no_proxy", "127.0.0.1,localhost")
        process = subprocess.Popen(
            [node, str(SERVER_SCRIPT), "0"], cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=stderr, text=True
        )
        try:
            line = _read_ready_line(process)
            if not line or not line.startswith(READY_PREFIX):
                process.kill()
                process.wait(5)
                stderr.seek(0)
                pytest.fail(f"oidc-provider did not start (stdout {line!r}); stderr:\n{stderr.read()[-2000:]}")
            issuer = line[len(READY_PREFIX) :].strip()
            assert urlsplit(issuer).hostname == "127.0.0.1"
            metadata = requests.get(f"{issuer}/.well-known/openid-configuration", timeout=HTTP_TIMEOUT).json()
            yield OidcProvider(issuer=issuer, metadata=metadata)
        finally:
            process.terminate()
            try:
                process.wait(5)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(5)


@pytest.fixture(autouse=True)
def wall_clock() -> None:
    clock.use(None)  # tokens' expiry is computed with relaycast's clock; the server uses the wall clock


# --- the browser side: oidc-provider's development login and consent pages ------------------------
class _Forms(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.forms: list[dict[str, Any]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attributes = {name: value or "" for name, value in attrs}
        if tag == "form":
            self.forms.append({"action": attributes.get("action", ""), "method": attributes.get("method", "get"), "fields": {}})
        elif tag == "input" and self.forms and attributes.get("name"):
            self.forms[-1]["fields"][attributes["name"]] = attributes.get("value", "")


def browse_to_redirect(authorization_url: str, account: str = "relay-ada") -> dict[str, str]:
    """Follow redirects and submit each page's form (logging in as `account`, then consenting) until the
    server redirects to the client; returns that redirect's query."""
    browser = requests.Session()
    browser.trust_env = False
    response = browser.get(authorization_url, allow_redirects=False, timeout=HTTP_TIMEOUT)
    seen: list[str] = []
    for _ in range(12):
        if response.is_redirect:
            location = urljoin(response.url, response.headers["Location"])
            if location.startswith(REDIRECT_URI + "?"):
                return {key: values[0] for key, values in parse_qs(urlsplit(location).query).items()}
            response = browser.get(location, allow_redirects=False, timeout=HTTP_TIMEOUT)
            continue
        parser = _Forms()
        parser.feed(response.text)
        posts = [form for form in parser.forms if form["method"].lower() == "post"]
        assert response.status_code == 200 and posts, f"unexpected page {response.status_code}: {response.text[:500]}"
        form = posts[0]
        fields = dict(form["fields"])
        seen.append(fields.get("prompt", "?"))
        if "login" in fields:
            fields.update(login=account, password="any password")
        response = browser.post(urljoin(response.url, form["action"]), data=fields, allow_redirects=False, timeout=HTTP_TIMEOUT)
    raise AssertionError(f"never redirected to the client; pages seen: {seen}")


def authorize(x: XNetwork) -> tuple[dict[str, str], str, str]:
    """The relay's side: relaycast builds the URL, the relay logs in and consents; returns the client's
    redirect query, the state and the verifier."""
    state, verifier = generate_token(24), generate_token(64)
    url = x.authorization_url(redirect_uri=REDIRECT_URI, state=state, code_verifier=verifier)
    query = parse_qs(urlsplit(url).query)
    assert query["code_challenge_method"] == ["S256"] and query["code_challenge"][0] != verifier
    redirect = browse_to_redirect(url)
    return redirect, state, verifier


def connect(oidc: OidcProvider, x: XNetwork | None = None) -> Tokens:
    x = x or oidc.network()
    redirect, state, verifier = authorize(x)
    assert redirect["state"] == state, redirect
    return x.exchange_code(redirect_uri=REDIRECT_URI, code=redirect["code"], code_verifier=verifier)


# --- the tests --------------------------------------------------------------------------------------
def test_discovery_offers_what_relaycast_uses(oidc: OidcProvider) -> None:
    meta = oidc.metadata
    assert meta["issuer"] == oidc.issuer
    assert meta["code_challenge_methods_supported"] == ["S256"]
    assert {"authorization_code", "refresh_token"} <= set(meta["grant_types_supported"])
    assert "client_secret_basic" in meta["token_endpoint_auth_methods_supported"]
    assert meta["revocation_endpoint"].startswith(oidc.issuer) and meta["introspection_endpoint"].startswith(oidc.issuer)


def test_code_with_pkce_s256_gives_tokens_with_a_refresh_token(oidc: OidcProvider) -> None:
    x = oidc.network()
    redirect, state, verifier = authorize(x)
    assert redirect["state"] == state
    assert redirect["iss"] == oidc.issuer  # RFC 9207: relaycast ignores it (one issuer per network)

    before = clock.epoch()
    tokens = x.exchange_code(redirect_uri=REDIRECT_URI, code=redirect["code"], code_verifier=verifier)

    assert tokens.access_token and tokens.refresh_token and tokens.refresh_token != tokens.access_token
    assert set(tokens.scope.split()) == {"openid", "offline_access"}
    assert before + 3000 <= tokens.expires_at <= clock.epoch() + 3600  # oidc-provider's access tokens: 1 h
    access = oidc.introspect(tokens.access_token, "access_token")
    assert access["active"] is True and access["client_id"] == CLIENT_ID and access["sub"] == "relay-ada"
    assert access["token_type"] == "Bearer"
    refresh = oidc.introspect(tokens.refresh_token, "refresh_token")
    assert refresh["active"] is True and refresh["client_id"] == CLIENT_ID and refresh["exp"] > access["exp"]

    # The code is single use: a replay (same verifier) is refused, as the code exchange error it is.
    with pytest.raises(NetworkError) as replay:
        x.exchange_code(redirect_uri=REDIRECT_URI, code=redirect["code"], code_verifier=verifier)
    assert type(replay.value) is NetworkError and "invalid_grant" in str(replay.value)


def test_refresh_gives_a_new_access_token_and_keeps_the_refresh_token(oidc: OidcProvider) -> None:
    x = oidc.network()
    first = connect(oidc, x)

    second = x.refresh(first.refresh_token)

    assert second.access_token != first.access_token
    assert oidc.introspect(second.access_token, "access_token")["active"] is True
    # oidc-provider rotates a confidential client's refresh token only once 70 % of its lifetime has
    # passed (default rotateRefreshToken); a fresh one comes back unchanged and keeps working...
    assert second.refresh_token == first.refresh_token
    third = x.refresh(second.refresh_token)
    assert third.access_token not in (first.access_token, second.access_token)
    # ...and the earlier access token is not revoked by a refresh: it lives until it expires.
    assert oidc.introspect(first.access_token, "access_token")["active"] is True
    assert set(third.scope.split()) == {"openid", "offline_access"}


def test_revoking_refresh_then_access_token_ends_the_grant(oidc: OidcProvider) -> None:
    x = oidc.network()
    tokens = connect(oidc, x)
    assert oidc.introspect(tokens.access_token, "access_token")["active"] is True

    x.revoke(tokens.refresh_token, "refresh_token")  # the order expire uses
    # oidc-provider revokes every token of the grant along with the one presented (RFC 7009 allows it).
    assert oidc.introspect(tokens.access_token, "access_token")["active"] is False
    x.revoke(tokens.access_token, "access_token")  # an already dead token: 200, not an error (RFC 7009 §2.2)

    assert oidc.introspect(tokens.access_token, "access_token") == {"active": False}
    assert oidc.introspect(tokens.refresh_token, "refresh_token") == {"active": False}
    with pytest.raises(TokenRejected, match="invalid_grant"):
        x.refresh(tokens.refresh_token)


def test_expire_revoke_and_verify_against_oidc_provider(oidc: OidcProvider) -> None:
    x = oidc.network(IntrospectedX)
    x.introspect = oidc.introspect  # type: ignore[attr-defined]
    tokens = connect(oidc, x)
    assert x.token_works(tokens.access_token) is True

    verification = revoke_and_verify(x, "X", tokens.as_dict())

    # Both tokens were revoked and each proven refused: the refresh token by a refresh oidc-provider refused.
    assert verification == "access and refresh tokens refused by X after revocation"
    assert x.token_works(tokens.access_token) is False
    with pytest.raises(TokenRejected):
        x.refresh(tokens.refresh_token)


def test_revoking_only_the_access_token_also_ends_the_refresh_token(oidc: OidcProvider) -> None:
    """RFC 7009 §2.1 lets a server revoke the refresh token with its access token; oidc-provider does
    (X may not, which is why expire revokes the refresh token first and both anyway)."""
    x = oidc.network()
    tokens = connect(oidc, x)

    x.revoke(tokens.access_token, "access_token")

    assert oidc.introspect(tokens.access_token, "access_token")["active"] is False
    assert oidc.introspect(tokens.refresh_token, "refresh_token")["active"] is False
    with pytest.raises(TokenRejected, match="invalid_grant"):
        x.refresh(tokens.refresh_token)


def test_wrong_pkce_verifier_is_refused(oidc: OidcProvider) -> None:
    x = oidc.network()
    redirect, state, verifier = authorize(x)
    assert redirect["state"] == state

    with pytest.raises(NetworkError) as refused:
        x.exchange_code(redirect_uri=REDIRECT_URI, code=redirect["code"], code_verifier=generate_token(64))

    assert type(refused.value) is NetworkError  # neither Transient (retry) nor TokenRejected
    assert "invalid_grant" in str(refused.value)
    # oidc-provider checks the verifier before it consumes the code: the real verifier still works.
    assert x.exchange_code(redirect_uri=REDIRECT_URI, code=redirect["code"], code_verifier=verifier).refresh_token


def test_x_scope_names_are_unknown_to_a_standard_server(oidc: OidcProvider) -> None:
    """relaycast's scopes are X's (`offline.access`, not `offline_access`); oidc-provider ignores scopes
    it does not know, so nothing is granted and the relay comes back with `access_denied`."""
    x = oidc.network(XScopesWithConsent)

    redirect, state, _ = authorize(x)

    assert redirect["state"] == state and "code" not in redirect
    assert redirect["error"] == "access_denied"


def test_offline_access_needs_prompt_consent(oidc: OidcProvider) -> None:
    """OpenID Connect Core §11: without `prompt=consent` oidc-provider drops `offline_access` from the
    request, so the exchange succeeds but grants no refresh token (relaycast then cannot refresh)."""
    x = oidc.network(OidcScopeNames)

    tokens = connect(oidc, x)

    assert tokens.refresh_token is None
    assert tokens.scope == "openid"
    assert oidc.introspect(tokens.access_token, "access_token")["active"] is True


def test_unknown_token_revocation_is_not_an_error_but_bad_client_auth_is(oidc: OidcProvider) -> None:
    x = oidc.network()
    x.revoke(generate_token(43), "access_token")  # RFC 7009: an invalid token still answers 200

    impostor = oidc.network()
    impostor.client_secret = "not-the-secret"
    with pytest.raises(NetworkError) as refused:
        impostor.revoke(generate_token(43), "access_token")
    assert type(refused.value) is NetworkError and "401" in str(refused.value)
