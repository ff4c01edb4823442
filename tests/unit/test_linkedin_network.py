"""relaycast's LinkedIn adapter against the sandbox LinkedIn over real HTTP: the OAuth code flow, userinfo, one
reshare per call and its undo, the end without a revocation endpoint (introspection tells what is left)."""

from __future__ import annotations

from collections.abc import Iterator
from urllib.parse import parse_qs, urlsplit

import pytest
import requests

from relaycast.networks import NetworkError, TokenRejected, Transient
from relaycast.networks.linkedin import SCOPES, LinkedInNetwork, NotRevocable, post_urn
from relaycast_local.sandbox_linkedin import SandboxLinkedIn

REDIRECT_URI = "http://127.0.0.1:8765/connect/callback/linkedin"


@pytest.fixture
def linkedin() -> Iterator[SandboxLinkedIn]:
    with SandboxLinkedIn() as sandbox:
        yield sandbox


@pytest.fixture
def network(linkedin) -> LinkedInNetwork:
    return LinkedInNetwork(client_id=linkedin.client_id, client_secret=linkedin.client_secret,
                           oauth_base=linkedin.base_url, api_base=linkedin.base_url)


def connect(linkedin, network, member: str, decision: str = "allow") -> dict[str, str]:
    url = network.authorization_url(redirect_uri=REDIRECT_URI, state="state-123")
    return {k: v[0] for k, v in parse_qs(urlsplit(linkedin.consent(url, member, decision)).query).items()}


def test_a_member_connects_and_reshares_once_per_call_then_undoes(linkedin, network):
    post = linkedin.add_post("Nils Varga", "Our keynote's three findings")
    answer = connect(linkedin, network, "Amina Diallo")
    assert answer["state"] == "state-123"
    tokens = network.exchange_code(redirect_uri=REDIRECT_URI, code=answer["code"])
    assert tokens.refresh_token is None and tokens.scope == " ".join(sorted(SCOPES.split()))
    member = network.identity(tokens.access_token)
    assert member.name == "Amina Diallo"

    urn = network.reshare(tokens.access_token, member.user_id, f"https://www.linkedin.com/feed/update/{post.urn}/")
    assert [(p.urn, p.parent) for p in linkedin.reshares_by(member.user_id)] == [(urn, post.urn)]
    request = next(r for r in linkedin.requests if r.path == "/rest/posts")
    assert request.headers["linkedin-version"] == "202601" and request.headers["x-restli-protocol-version"] == "2.0.0"
    network.delete(tokens.access_token, urn)
    network.delete(tokens.access_token, urn)  # already gone: fine
    assert linkedin.reshares_by(member.user_id) == []


def test_the_end_cannot_revoke_and_introspection_tells_what_is_left(linkedin, network):
    answer = connect(linkedin, network, "Amina Diallo")
    tokens = network.exchange_code(redirect_uri=REDIRECT_URI, code=answer["code"])
    with pytest.raises(NotRevocable):
        network.revoke(tokens.access_token, "access_token")
    with pytest.raises(TokenRejected):
        network.refresh(tokens.refresh_token)
    assert network.token_status(tokens.access_token) == "active" and network.token_works(tokens.access_token)
    linkedin.remove_app(network.identity(tokens.access_token).user_id)  # the member removes the app by hand
    assert network.token_status(tokens.access_token) == "revoked" and not network.token_works(tokens.access_token)
    assert network.token_status("never-issued") == "inactive"
    with pytest.raises(TokenRejected):
        network.identity(tokens.access_token)


def test_a_cancelled_consent_gives_no_code_and_a_code_works_once(linkedin, network):
    assert "code" not in connect(linkedin, network, "Amina Diallo", decision="deny")
    answer = connect(linkedin, network, "Amina Diallo")
    network.exchange_code(redirect_uri=REDIRECT_URI, code=answer["code"])
    with pytest.raises(NetworkError, match="invalid_grant"):
        network.exchange_code(redirect_uri=REDIRECT_URI, code=answer["code"])
    assert len(linkedin.live_tokens()) == 1


def test_a_wrong_secret_is_refused_and_stores_no_token(linkedin):
    intruder = LinkedInNetwork(client_id=linkedin.client_id, client_secret="guessed", oauth_base=linkedin.base_url,
                               api_base=linkedin.base_url)
    answer = connect(linkedin, intruder, "Amina Diallo")
    with pytest.raises(NetworkError, match="invalid_client"):
        intruder.exchange_code(redirect_uri=REDIRECT_URI, code=answer["code"])
    assert linkedin.live_tokens() == []


def test_a_reshare_names_only_a_share_or_ugcpost_and_a_5xx_is_transient(linkedin, network):
    post = linkedin.add_post("Nils Varga", "A finding")
    tokens = network.exchange_code(redirect_uri=REDIRECT_URI, code=connect(linkedin, network, "Amina")["code"])
    member = network.identity(tokens.access_token)
    for link in ("https://www.linkedin.com/feed/update/urn:li:activity:7123/", "https://example.org/post/1", ""):
        with pytest.raises(NetworkError, match="share or ugcPost"):
            network.reshare(tokens.access_token, member.user_id, link)
    with pytest.raises(NetworkError, match="404"):
        network.reshare(tokens.access_token, member.user_id, "urn:li:share:1")  # no such post
    linkedin.fail_next("POST", "/rest/posts", 503)
    with pytest.raises(Transient):
        network.reshare(tokens.access_token, member.user_id, post.urn)
    assert linkedin.reshares_by(member.user_id) == []
    assert post_urn("https://www.linkedin.com/feed/update/urn%3Ali%3AugcPost%3A42") == "urn:li:ugcPost:42"


def test_an_unregistered_redirect_uri_gets_a_page_never_a_redirect(linkedin, network):
    url = network.authorization_url(redirect_uri="https://evil.example/callback/linkedin", state="s")
    page = requests.get(url, allow_redirects=False, timeout=5)
    assert page.status_code == 400 and "Location" not in page.headers
    assert "secret" not in repr(network) and network.client_secret not in repr(network)


def test_the_sandbox_refuses_a_reshare_in_another_members_name_or_without_the_api_headers(linkedin, network):
    post = linkedin.add_post("Nils Varga", "A finding")
    tokens = network.exchange_code(redirect_uri=REDIRECT_URI, code=connect(linkedin, network, "Amina")["code"])
    body = {"author": "urn:li:person:someone-else", "lifecycleState": "PUBLISHED", "visibility": "PUBLIC",
            "distribution": {"feedDistribution": "MAIN_FEED"}, "reshareContext": {"parent": post.urn}}
    headers = {"Authorization": f"Bearer {tokens.access_token}", "LinkedIn-Version": "202601", "X-Restli-Protocol-Version": "2.0.0"}
    assert requests.post(f"{linkedin.base_url}/rest/posts", json=body, headers=headers, timeout=5).status_code == 422
    bare = {"Authorization": headers["Authorization"]}
    assert requests.post(f"{linkedin.base_url}/rest/posts", json=body, headers=bare, timeout=5).status_code == 426
    assert all(p.parent is None for p in linkedin.posts.values())
