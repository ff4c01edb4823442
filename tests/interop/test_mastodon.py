"""relaycast's Mastodon client against mastodon-mock (a server we did not write), run by `SandboxMastodon`.

The relay's side (the consent page) is scripted by the sandbox; everything else goes through relaycast:
the app registered once per instance and cached in DynamoDB (moto, with KMS sealing the secret), the
authorisation URL with PKCE, the code exchange, identity, reblog/unreblog (by URL, by id, by a URL of
another instance resolved through search), the reblog check (`has_reposted`), revocation and its
verification. Every request relaycast sent is then checked against the official Mastodon OpenAPI document
(`shared/specs/mastodon.openapi.json`).

Notes on the document, found while writing these tests:
* It declares every request body as `application/json`; Mastodon (Rails) also takes form bodies, which is
  what authlib sends to /oauth/token and /oauth/revoke. Form bodies are checked as the same fields in JSON.
* Its OAuth2 security scheme is not checked by openapi-core ("Unsupported scheme type" warnings).
"""

from __future__ import annotations

import json
import re
import secrets
import warnings
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from types import SimpleNamespace
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import boto3
import pytest
import requests
from moto import mock_aws

from relaycast import settings as settings_module
from relaycast.netguard import InstanceRejected, NetGuard
from relaycast.networks import NetworkError, RateLimited, TokenRejected, Transient
from relaycast.networks.mastodon import NO_EXPIRY, SCOPES, MastodonNetwork, mastodon_app_for, plain_text, register_app
from relaycast.storage import Store
from relaycast_local.sandbox_mastodon import RecordedRequest, SandboxMastodon

pytestmark = pytest.mark.xdist_group("mastodon")

SPEC = Path(__file__).resolve().parents[2].parent / "shared" / "specs" / "mastodon.openapi.json"
HOST = "mastodon.sandbox"
REDIRECT = "https://relay.example.org/live/connect/callback/mastodon"  # never contacted: the code is read back


@pytest.fixture(scope="module")
def sandbox() -> Iterator[SandboxMastodon]:
    with SandboxMastodon(domain=HOST) as server:
        yield server


@pytest.fixture
def guard(sandbox: SandboxMastodon) -> NetGuard:
    return NetGuard(sandbox=sandbox.sandbox_setting)


@pytest.fixture
def aws(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    for name, value in (("AWS_DEFAULT_REGION", "eu-west-3"), ("AWS_REGION", "eu-west-3"),
                        ("AWS_ACCESS_KEY_ID", "testing"), ("AWS_SECRET_ACCESS_KEY", "testing")):
        monkeypatch.setenv(name, value)
    with mock_aws():
        settings_module.reset_caches()
        yield
    settings_module.reset_caches()


@pytest.fixture
def store(aws: None) -> Store:
    name = "relaycast-mastodon-test"
    boto3.client("dynamodb").create_table(
        TableName=name,
        BillingMode="PAY_PER_REQUEST",
        AttributeDefinitions=[{"AttributeName": n, "AttributeType": "S"} for n in ("pk", "sk", "kind")],
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}],
        GlobalSecondaryIndexes=[{
            "IndexName": "by_kind",
            "KeySchema": [{"AttributeName": "kind", "KeyType": "HASH"}, {"AttributeName": "pk", "KeyType": "RANGE"}],
            "Projection": {"ProjectionType": "ALL"},
        }],
    )
    return Store(name)


@pytest.fixture
def settings_like(aws: None) -> SimpleNamespace:
    key = boto3.client("kms").create_key()["KeyMetadata"]["Arn"]
    return SimpleNamespace(token_key_id=key, event_slug="mastodon-interop")


def _app(sandbox: SandboxMastodon, guard: NetGuard, redirect: str = REDIRECT) -> tuple[str, str]:
    return register_app(HOST, redirect, "https://relay.example.org", guard.session(HOST))


@pytest.fixture
def network(sandbox: SandboxMastodon, guard: NetGuard) -> MastodonNetwork:
    client_id, secret = _app(sandbox, guard)
    return MastodonNetwork(instance=HOST, client_id=client_id, client_secret=secret, mode="auto", guard=guard)


def connect(sandbox: SandboxMastodon, network: MastodonNetwork, username: str) -> tuple[str, str]:
    """A relay's whole connect: relaycast's URL, the relay's consent, relaycast's exchange; (token, user id)."""
    verifier, state = secrets.token_urlsafe(64), secrets.token_urlsafe(16)
    url = network.authorization_url(redirect_uri=REDIRECT, state=state, code_verifier=verifier)
    answer = sandbox.consent(url, username)
    assert answer["state"] == state
    tokens = network.exchange_code(redirect_uri=REDIRECT, code=answer["code"], code_verifier=verifier)
    return tokens.access_token, network.identity(tokens.access_token).user_id


def test_app_is_registered_once_and_cached(sandbox: SandboxMastodon, guard: NetGuard, store: Store,
                                           settings_like: SimpleNamespace) -> None:
    before = len(sandbox.apps())
    first = mastodon_app_for(store, settings_like, HOST, REDIRECT, guard=guard)
    second = mastodon_app_for(store, settings_like, "https://Mastodon.Sandbox/", REDIRECT, guard=guard)
    assert first == second
    assert len(sandbox.apps()) == before + 1
    app = next(a for a in sandbox.apps() if a["client_id"] == first[0])
    assert app["redirect_uris"] == [REDIRECT] and app["scopes"] == SCOPES.split() and app["name"] == "relaycast"
    item = store.get(f"INSTANCE#{HOST}", "APP")
    assert item["kind"] == "instance_app" and item["client_id"] == first[0]
    assert isinstance(item["client_secret"], bytes) and first[1].encode() not in item["client_secret"]
    # Without a redirect URI (revocation, publishing) only the cached app can be used.
    assert mastodon_app_for(store, settings_like, HOST, guard=guard) == first
    with pytest.raises(NetworkError, match="no relaycast app"):
        mastodon_app_for(store, settings_like, "other.sandbox", guard=guard)


def test_an_inward_instance_is_refused_before_registering(store: Store, settings_like: SimpleNamespace) -> None:
    guard = NetGuard(resolve=lambda *_: ["93.184.216.34", "169.254.169.254"])
    with pytest.raises(InstanceRejected, match="public internet address"):
        mastodon_app_for(store, settings_like, "mastodon.social", REDIRECT, guard=guard)
    assert store.get("INSTANCE#mastodon.social", "APP") is None


def test_concurrent_first_connects_keep_one_app(sandbox: SandboxMastodon, guard: NetGuard, store: Store,
                                                settings_like: SimpleNamespace) -> None:
    class RacingStore:
        """Another connect registers and stores its app between this one's read and its write."""

        def __init__(self) -> None:
            self.raced = False

        def get(self, **key: str) -> Any:
            return store.get(**key)

        def put_new(self, item: dict[str, Any]) -> bool:
            if not self.raced:
                self.raced = True
                self.winner = mastodon_app_for(store, settings_like, HOST, REDIRECT, guard=guard)
            return store.put_new(item)

    racing = RacingStore()
    mine = mastodon_app_for(racing, settings_like, HOST, REDIRECT, guard=guard)
    assert racing.raced and mine == racing.winner, "the loser reads the winner's app back"
    assert mastodon_app_for(store, settings_like, HOST, REDIRECT, guard=guard) == mine


def test_relay_journey(sandbox: SandboxMastodon, network: MastodonNetwork) -> None:
    verifier = secrets.token_urlsafe(64)
    url = network.authorization_url(redirect_uri=REDIRECT, state="s-1", code_verifier=verifier)
    query = dict(parse_qsl(urlsplit(url).query))
    assert url.startswith(f"{sandbox.base_url}/oauth/authorize?")
    assert query["code_challenge_method"] == "S256" and query["scope"] == SCOPES and query["response_type"] == "code"
    answer = sandbox.consent(url, "relay_journey")
    tokens = network.exchange_code(redirect_uri=REDIRECT, code=answer["code"], code_verifier=verifier)
    assert tokens.refresh_token is None and tokens.expires_at == NO_EXPIRY and tokens.scope == SCOPES
    assert sandbox.token_scopes(tokens.access_token) == SCOPES.split()
    assert tokens.access_token not in repr(tokens) and network.client_secret not in repr(network)

    me = network.identity(tokens.access_token)
    assert me.username == f"relay_journey@{HOST}" and me.user_id == sandbox.account_id("relay_journey")

    post = sandbox.post_status("amina_data", "A sharp insight #HTS26")
    assert post["url"] == f"https://{HOST}/@amina_data/{post['id']}"
    network.repost(tokens.access_token, me.user_id, post["url"])
    assert sandbox.reblogged("relay_journey", post["id"])
    network.repost(tokens.access_token, me.user_id, post["id"])  # again: the existing reblog, a success
    assert sandbox.reblogged("relay_journey", post["id"])
    network.undo_repost(tokens.access_token, me.user_id, post["url"])
    assert not sandbox.reblogged("relay_journey", post["id"])
    network.undo_repost(tokens.access_token, me.user_id, post["id"])  # nothing left to undo: harmless

    assert network.token_works(tokens.access_token)
    network.revoke(tokens.access_token, "access_token")
    assert sandbox.token_scopes(tokens.access_token) is None
    assert not network.token_works(tokens.access_token)
    network.revoke(tokens.access_token, "access_token")  # revoking twice is harmless (RFC 7009)
    with pytest.raises(TokenRejected):
        network.repost(tokens.access_token, me.user_id, post["id"])


def test_post_of_another_instance_is_resolved_by_search(sandbox: SandboxMastodon, network: MastodonNetwork) -> None:
    token, user_id = connect(sandbox, network, "relay_remote")
    url = "https://events.example.net/@expert/112233445566"
    local_id = sandbox.add_remote_status(url, "Insight from elsewhere", acct="expert@events.example.net")
    network.repost(token, user_id, url)
    assert sandbox.reblogged("relay_remote", local_id)
    network.undo_repost(token, user_id, url)
    assert not sandbox.reblogged("relay_remote", local_id)
    search = [r for r in sandbox.requests if r.path == "/api/v2/search"][-1]
    assert dict(parse_qsl(search.query)) == {"q": url, "resolve": "1", "type": "statuses", "limit": "1"}
    with pytest.raises(NetworkError, match="could not find"):
        network.repost(token, user_id, "https://events.example.net/@expert/999")
    network.undo_repost(token, user_id, "https://events.example.net/@expert/999")  # unknown: nothing to undo
    with pytest.raises(NetworkError):
        network.repost(token, user_id, "javascript:alert(1)")


def test_has_reposted_reads_the_status_as_the_relay_sees_it(sandbox: SandboxMastodon,
                                                             network: MastodonNetwork) -> None:
    token, user_id = connect(sandbox, network, "relay_checker")
    other, _ = connect(sandbox, network, "relay_other")
    post = sandbox.post_status("amina_data", "Worth checking #HTS26")
    remote = "https://events.example.net/@expert/445566"
    sandbox.add_remote_status(remote, "Remote and worth checking", acct="expert@events.example.net")
    for target in (post["url"], post["id"], remote):
        assert network.has_reposted(token, user_id, target) is False
        network.repost(token, user_id, target)
        assert network.has_reposted(token, user_id, target) is True
        assert network.has_reposted(other, user_id, target) is False  # the token's account, not anyone's
        network.undo_repost(token, user_id, target)
        assert network.has_reposted(token, user_id, target) is False
    assert network.has_reposted(token, user_id, "https://events.example.net/@expert/999") is False  # not found
    assert network.has_reposted(token, user_id, "99999999") is False  # deleted or never here
    gets = [r for r in sandbox.requests if r.method == "GET" and r.path == f"/api/v1/statuses/{post['id']}"]
    assert len(gets) == 8 and all(r.headers["authorization"].startswith("Bearer ") for r in gets)  # never anonymous
    status = f"/api/v1/statuses/{post['id']}"
    sandbox.fault({"match": {"path": status}, "effect": {"type": "status", "status": 503}, "count": 1})
    with pytest.raises(Transient):
        network.has_reposted(token, user_id, post["id"])
    sandbox.fault({"match": {"path": status}, "effect": {"type": "ratelimit"}, "count": 1})
    with pytest.raises(RateLimited):
        network.has_reposted(token, user_id, post["id"])
    with pytest.raises(NetworkError, match="did not say"):  # an unknown token reads anonymously: no `reblogged`
        network.has_reposted("never-issued", user_id, post["id"])
    network.revoke(token, "access_token")
    with pytest.raises(TokenRejected):
        network.has_reposted(token, user_id, post["id"])


def test_the_tag_timeline_is_read_in_pages_after_the_cursor_as_plain_text_posts(sandbox: SandboxMastodon, guard: NetGuard,
                                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    import relaycast.networks.mastodon as module

    monkeypatch.setattr(module, "PAGE_SIZE", 2)
    source = MastodonNetwork(instance=HOST, client_id="", client_secret="", guard=guard)
    tag = f"Tl{secrets.token_hex(3)}"
    at = datetime(2026, 12, 8, 9, 30, tzinfo=UTC)
    first = sandbox.post_status("amina_data", f"Stable identifiers cut link rot by 3x & more #{tag}", at=at)
    sandbox.post_status("jlefevre", f"Second #{tag}\nwith a new line")
    sandbox.post_status("k_osei", f"Third #{tag}")
    sandbox.post_status("k_osei", "Not tagged")
    pages = list(source.tag_timeline(tag, None))
    posts = [p for page in pages for p in page]
    assert len(pages) == 2 and len(posts) == 3  # pages of 2, then the short last page ends the read
    assert {p.network for p in posts} == {"mastodon"}
    by_id = {p.post_id: p for p in posts}
    amina = by_id[str(first["id"])]
    assert amina.author == f"amina_data@{HOST}" and amina.created_at == at
    assert amina.text == f"Stable identifiers cut link rot by 3x & more #{tag}"  # the HTML read as text
    assert amina.url.startswith(f"https://{HOST}/") and amina.url.endswith(str(first["id"]))
    newest = max(posts, key=lambda p: int(p.post_id)).post_id
    assert [p for page in source.tag_timeline(tag, newest) for p in page] == []  # nothing after the cursor
    later = sandbox.post_status("marta_ml", f"Fourth #{tag}")
    assert [p.post_id for page in source.tag_timeline(tag, newest) for p in page] == [str(later["id"])]


def test_a_status_html_is_read_as_the_text_a_reader_sees() -> None:
    html = ('<p>Stable identifiers cut link rot by 3&#215; &amp; more.<br>Slides: <a href="https://ex.org/s" rel="nofollow">'
            '<span class="invisible">https://</span>ex.org/s</a></p><p><a href="https://m.social/tags/HTS26" class="mention hashtag">'
            '#<span>HTS26</span></a></p>')
    assert plain_text(html) == "Stable identifiers cut link rot by 3× & more.\nSlides: https://ex.org/s\n\n#HTS26"


def test_pkce_and_codes_are_enforced(sandbox: SandboxMastodon, network: MastodonNetwork) -> None:
    verifier = secrets.token_urlsafe(64)
    url = network.authorization_url(redirect_uri=REDIRECT, state="s-2", code_verifier=verifier)
    code = sandbox.consent(url, "relay_pkce")["code"]
    with pytest.raises(NetworkError, match="invalid_grant"):
        network.exchange_code(redirect_uri=REDIRECT, code=code, code_verifier=secrets.token_urlsafe(64))
    with pytest.raises(NetworkError, match="invalid_grant"):  # a code is single-use, even after a refusal
        network.exchange_code(redirect_uri=REDIRECT, code=code, code_verifier=verifier)
    denied = sandbox.consent(network.authorization_url(redirect_uri=REDIRECT, state="s-3", code_verifier=verifier),
                             "relay_pkce", decision="deny")
    assert denied["error"] == "access_denied" and denied["state"] == "s-3"


def test_sandbox_oauth_checks(sandbox: SandboxMastodon, guard: NetGuard, network: MastodonNetwork) -> None:
    """Our extensions refuse what Mastodon refuses (mastodon-mock's stand-ins accepted all of it)."""
    base = f"{sandbox.base_url}/oauth/authorize"
    plain = {"response_type": "code", "client_id": network.client_id, "redirect_uri": REDIRECT, "scope": SCOPES,
             "state": "x", "code_challenge": "a" * 43, "code_challenge_method": "S256"}
    assert requests.get(base, params=plain, timeout=5).status_code == 200
    wrong_redirect = requests.get(base, params={**plain, "redirect_uri": "https://evil.example/cb"}, timeout=5,
                                  allow_redirects=False)
    assert wrong_redirect.status_code == 400 and "Location" not in wrong_redirect.headers
    for change, error in (({"code_challenge": None, "code_challenge_method": None}, "invalid_request"),
                          ({"code_challenge_method": "plain"}, "invalid_request"),
                          ({"scope": "read write admin:write"}, "invalid_scope"),
                          ({"response_type": "token"}, "unsupported_response_type")):
        answer = requests.get(base, params={**plain, **change}, timeout=5, allow_redirects=False)
        assert answer.status_code == 302
        assert dict(parse_qsl(urlsplit(answer.headers["Location"]).query))["error"] == error
    token, _ = connect(sandbox, network, "relay_checks")
    stranger_id, stranger_secret = _app(sandbox, guard)
    revoke = f"{sandbox.base_url}/oauth/revoke"
    wrong_secret = requests.post(revoke, data={"client_id": network.client_id, "client_secret": "nope",
                                               "token": token}, timeout=5)
    assert wrong_secret.status_code == 401
    other_app = requests.post(revoke, data={"client_id": stranger_id, "client_secret": stranger_secret,
                                            "token": token}, timeout=5)
    assert other_app.status_code == 403 and sandbox.token_scopes(token) is not None


def test_scopes_are_enforced(sandbox: SandboxMastodon, guard: NetGuard) -> None:
    class ReadOnly(MastodonNetwork):
        scope = "read:accounts read:search"

    client_id, secret = register_app(HOST, REDIRECT, "https://relay.example.org", guard.session(HOST))
    readonly = ReadOnly(instance=HOST, client_id=client_id, client_secret=secret, guard=guard)
    token, user_id = connect(sandbox, readonly, "relay_readonly")
    post = sandbox.post_status("amina_data", "Scoped #HTS26")
    with pytest.raises(NetworkError, match="403") as refused:
        readonly.repost(token, user_id, post["id"])
    assert not isinstance(refused.value, Transient | TokenRejected)
    assert not sandbox.reblogged("relay_readonly", post["id"])
    with pytest.raises(NetworkError, match="403") as unread:  # reading a status with a token: read:statuses
        readonly.has_reposted(token, user_id, post["id"])
    assert not isinstance(unread.value, Transient | TokenRejected)


def test_errors_are_typed(sandbox: SandboxMastodon, network: MastodonNetwork) -> None:
    token, user_id = connect(sandbox, network, "relay_errors")
    post = sandbox.post_status("amina_data", "Faulty #HTS26")
    reblog = f"/api/v1/statuses/{post['id']}/reblog"
    sandbox.fault({"match": {"path": reblog}, "effect": {"type": "ratelimit",
                   "headers": {"X-RateLimit-Reset": "2026-12-01T09:05:00.000Z"}}, "count": 1})
    with pytest.raises(RateLimited) as limited:
        network.repost(token, user_id, post["id"])
    assert limited.value.reset_at == int(datetime(2026, 12, 1, 9, 5, tzinfo=UTC).timestamp())  # ISO 8601 → epoch
    sandbox.fault({"match": {"path": reblog}, "effect": {"type": "status", "status": 503}, "count": 1})
    with pytest.raises(Transient):
        network.repost(token, user_id, post["id"])
    sandbox.fault({"match": {"path": "/oauth/revoke"}, "effect": {"type": "status", "status": 502}, "count": 1})
    with pytest.raises(Transient):
        network.revoke(token, "access_token")
    sandbox.fault({"match": {"path": "/oauth/token"}, "effect": {"type": "status", "status": 503}, "count": 1})
    with pytest.raises(Transient):
        network.exchange_code(redirect_uri=REDIRECT, code="any", code_verifier="v" * 43)
    sandbox.fault({"match": {"path": reblog}, "effect": {"type": "latency", "delay_ms": 1500}, "count": 1})
    impatient = MastodonNetwork(instance=HOST, client_id=network.client_id, client_secret=network.client_secret,
                                guard=NetGuard(sandbox=sandbox.sandbox_setting, timeout=(3.0, 0.3)))
    with pytest.raises(Transient, match="ReadTimeout"):
        impatient.repost(token, user_id, post["id"])
    with pytest.raises(NetworkError, match="could not find|404|does not know"):
        network.repost(token, user_id, "1")
    network.repost(token, user_id, post["id"])
    assert sandbox.reblogged("relay_errors", post["id"])
    with pytest.raises(TokenRejected):
        network.identity("not-a-token")
    with pytest.raises(TokenRejected, match="no refresh token"):
        network.refresh(None)


def test_rate_limit_of_the_instance() -> None:
    """mastodon-mock's own limit (per token, or per client address without one; epoch-second reset)."""
    with SandboxMastodon(domain=HOST, ratelimit=(5, 300)) as limited:
        guard = NetGuard(sandbox=limited.sandbox_setting)
        client_id, secret = register_app(HOST, REDIRECT, "https://relay.example.org", guard.session(HOST))
        network = MastodonNetwork(instance=HOST, client_id=client_id, client_secret=secret, guard=guard)
        token, _ = connect(limited, network, "relay_busy")  # 4 requests without a token, 1 with it
        for _ in range(4):
            network.identity(token)
        with pytest.raises(RateLimited) as busy:
            network.identity(token)
        assert 0 < busy.value.reset_at - int(datetime.now(UTC).timestamp()) <= 300
        register_app(HOST, REDIRECT, "https://relay.example.org", guard.session(HOST))  # the 5th without
        with pytest.raises(RateLimited):  # a 429 at the token endpoint is a rate limit, not a refused code
            network.exchange_code(redirect_uri=REDIRECT, code="spent", code_verifier="v" * 43)


def test_guard_is_on_every_request(sandbox: SandboxMastodon) -> None:
    """Without the sandbox allowance the same client cannot reach the loopback server at all."""
    unguarded = MastodonNetwork(instance=HOST, client_id="x", client_secret="y",
                                guard=NetGuard(resolve=lambda *_: ["127.0.0.1"]))
    assert unguarded.base_url == f"https://{HOST}"
    with pytest.raises(NetworkError, match="public internet address") as refused:
        unguarded.identity("token")
    assert not isinstance(refused.value, Transient)
    with pytest.raises(NetworkError, match="public internet address"):
        unguarded.exchange_code(redirect_uri=REDIRECT, code="c", code_verifier="v" * 43)
    with pytest.raises(NetworkError, match="public internet address"):
        unguarded.revoke("token", "access_token")
    with pytest.raises(NetworkError):
        inward = NetGuard(resolve=lambda *_: ["10.0.0.1"]).session(HOST)
        register_app(HOST, REDIRECT, "https://relay.example.org", inward)


def test_from_env_is_the_local_runtime_switch(sandbox: SandboxMastodon, monkeypatch: pytest.MonkeyPatch) -> None:
    assert json.loads(sandbox.env()["MASTODON_SANDBOX"]) == {HOST: sandbox.base_url}
    monkeypatch.setenv("MASTODON_SANDBOX", sandbox.env()["MASTODON_SANDBOX"])
    client_id, secret = register_app(HOST, REDIRECT, "https://relay.example.org", NetGuard.from_env().session(HOST))
    network = MastodonNetwork(instance=HOST, client_id=client_id, client_secret=secret, mode="approve-each")
    token, _ = connect(sandbox, network, "relay_env")
    assert network.token_works(token) and network.mode == "approve-each"
    with pytest.raises(ValueError):
        MastodonNetwork(instance=HOST, client_id="x", client_secret="y", mode="sometimes")


# --- the official spec -----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def spec() -> Any:
    if not SPEC.exists():
        pytest.skip(f"the official spec is not at {SPEC}")
    from openapi_core import Config, OpenAPI

    return OpenAPI.from_file_path(str(SPEC), config=Config(spec_validator_cls=None))


def _as_openapi(method: str, path: str, query: str, headers: dict[str, str], body: bytes) -> Any:
    from openapi_core.testing import MockRequest

    content_type = headers.get("content-type", "")
    if content_type.startswith("application/x-www-form-urlencoded"):
        body, content_type = json.dumps(dict(parse_qsl(body.decode()))).encode(), "application/json"
    return MockRequest(f"https://{HOST}", method.lower(), path, args=dict(parse_qsl(query)), headers=headers,
                       data=body or None, content_type=content_type or "application/json")


def _validate(spec: Any, request: Any) -> None:
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", "Unsupported scheme type")
        spec.validate_request(request)


def _check(spec: Any, record: RecordedRequest) -> None:
    # Mastodon.py asks for `/api/v2/instance/`; Mastodon's router (Rails) serves it as the document's
    # `/api/v2/instance`. That one path is checked without its slash; any other trailing slash still fails.
    path = record.path.removesuffix("/") if record.path == "/api/v2/instance/" else record.path
    _validate(spec, _as_openapi(record.method, path, record.query, record.headers, record.body))


def test_every_request_relaycast_sent_matches_the_spec(spec: Any, sandbox: SandboxMastodon, guard: NetGuard,
                                                       store: Store, settings_like: SimpleNamespace) -> None:
    sandbox.clear_log()
    client_id, secret = mastodon_app_for(store, settings_like, HOST, REDIRECT, guard=guard)
    network = MastodonNetwork(instance=HOST, client_id=client_id, client_secret=secret, guard=guard)
    verifier = secrets.token_urlsafe(64)
    url = network.authorization_url(redirect_uri=REDIRECT, state="spec", code_verifier=verifier)
    authorize = urlsplit(url)
    _validate(spec, _as_openapi("GET", authorize.path, authorize.query, {}, b""))  # what the browser is sent to
    code = sandbox.consent(url, "relay_spec")["code"]
    tokens = network.exchange_code(redirect_uri=REDIRECT, code=code, code_verifier=verifier)
    me = network.identity(tokens.access_token)
    post = sandbox.post_status("amina_data", "Spec check #HTS26")
    remote = "https://events.example.net/@expert/778899"
    sandbox.add_remote_status(remote, "Remote spec check")
    for target in (post["url"], remote):
        network.repost(tokens.access_token, me.user_id, target)
        assert network.has_reposted(tokens.access_token, me.user_id, target)
        network.undo_repost(tokens.access_token, me.user_id, target)
    network.revoke(tokens.access_token, "access_token")
    assert not network.token_works(tokens.access_token)
    assert list(network.tag_timeline("HTS26", None))  # the rounds' source, read without a token

    sent = sandbox.requests
    seen = {(r.method, re.sub(r"/[0-9]+", "/{id}", r.path)) for r in sent}
    assert seen == {("POST", "/api/v1/apps"), ("POST", "/oauth/token"), ("GET", "/api/v1/accounts/verify_credentials"),
                    ("POST", "/api/v1/statuses/{id}/reblog"), ("POST", "/api/v1/statuses/{id}/unreblog"),
                    ("GET", "/api/v1/statuses/{id}"), ("GET", "/api/v2/search"), ("POST", "/oauth/revoke"),
                    ("GET", "/api/v1/timelines/tag/HTS26"),
                    ("GET", "/api/v2/instance/")}  # Mastodon.py asks whether anonymous tag timelines are open
    for record in sent:
        _check(spec, record)
    token_request = next(r for r in sent if r.path == "/oauth/token")
    form = dict(parse_qsl(token_request.body.decode()))
    assert form["grant_type"] == "authorization_code" and form["client_id"] == client_id
    assert form["code_verifier"] == verifier and form["redirect_uri"] == REDIRECT
    assert all(r.headers.get("user-agent") == "relaycast" for r in sent if r.path.startswith("/api/v1/accounts"))


def test_the_spec_check_is_not_vacuous(spec: Any) -> None:
    apps = {"content-type": "application/json"}
    good = json.dumps({"client_name": "relaycast", "redirect_uris": [REDIRECT], "scopes": SCOPES}).encode()
    _validate(spec, _as_openapi("POST", "/api/v1/apps", "", apps, good))
    with pytest.raises(Exception, match="client_name|body"):
        nameless = json.dumps({"redirect_uris": [REDIRECT]}).encode()
        _validate(spec, _as_openapi("POST", "/api/v1/apps", "", apps, nameless))
    with pytest.raises(Exception):
        _validate(spec, _as_openapi("POST", "/api/v1/apps", "", apps,
                                    json.dumps({"client_name": "relaycast", "redirect_uris": REDIRECT}).encode()))
    form = {"content-type": "application/x-www-form-urlencoded"}
    with pytest.raises(Exception, match="code|body"):
        _validate(spec, _as_openapi("POST", "/oauth/token", "", form, b"grant_type=authorization_code&client_id=a"))
    with pytest.raises(Exception):
        _validate(spec, _as_openapi("GET", "/api/v2/search", "resolve=1", {}, b""))  # q is required
    with pytest.raises(Exception):
        _validate(spec, _as_openapi("POST", "/api/v1/statuses/1/boost", "", {}, b""))  # no such path
