"""The sandbox's OAuth 2.0 server, driven by authlib's client over real HTTP."""

from __future__ import annotations

import html
import re
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
from authlib.common.security import generate_token
from authlib.integrations.base_client import OAuthError

from relaycast_local.sandbox_x import SandboxX

REDIRECT_URI = "http://127.0.0.1:8765/connect/callback/x"  # conftest.REDIRECT_URI
RELAY_SCOPE = "tweet.read tweet.write users.read offline.access"  # conftest.RELAY_SCOPE


def query_of(url: str) -> dict[str, str]:
    return {k: v[0] for k, v in parse_qs(urlsplit(url).query).items()}


def test_whole_dance_refresh_rotation_and_revocation(sandbox: SandboxX, oauth) -> None:
    session = oauth.new_session()
    verifier = generate_token(64)
    url, state = session.create_authorization_url(sandbox.authorize_url, code_verifier=verifier)

    page = requests.get(url, timeout=5)
    assert page.status_code == 200
    assert "Authorize app" in page.text and 'id="username"' in page.text
    for scope in RELAY_SCOPE.split():
        assert scope in page.text  # the consent lists what the app may do

    redirect = oauth.submit(page.text, "alice")
    assert redirect.status_code == 302
    location = redirect.headers["Location"]
    assert location.startswith(REDIRECT_URI + "?")
    assert query_of(location)["state"] == state and query_of(location)["code"]

    token = session.fetch_token(sandbox.token_url, authorization_response=location, code_verifier=verifier)
    assert token["token_type"] == "bearer"
    assert token["expires_in"] == 7200
    assert set(token["scope"].split()) == set(RELAY_SCOPE.split())
    assert token["access_token"] and token["refresh_token"]

    me = session.get(f"{sandbox.base_url}/2/users/me", timeout=5)
    assert me.status_code == 200
    alice = sandbox.users["alice"]
    assert me.json() == {"data": {"id": alice.id, "name": alice.name, "username": "alice"}}

    old_refresh = token["refresh_token"]
    new = session.refresh_token(sandbox.token_url)
    assert new["refresh_token"] != old_refresh and new["access_token"] != token["access_token"]
    assert not sandbox.is_token_active(old_refresh)
    assert sandbox.is_token_active(new["refresh_token"])
    # The rotated refresh token is dead: reusing it is refused.
    with pytest.raises(OAuthError) as refused:
        session.refresh_token(sandbox.token_url, refresh_token=old_refresh)
    assert refused.value.error == "invalid_grant"

    revoked = session.revoke_token(sandbox.revoke_url, new["refresh_token"], token_type_hint="refresh_token")
    assert revoked.status_code == 200 and revoked.json() == {"revoked": True}
    # Revoking the refresh token ends the grant: its access tokens die too.
    assert session.get(f"{sandbox.base_url}/2/users/me", timeout=5).status_code == 401
    assert not sandbox.is_token_active(new["access_token"])
    assert not sandbox.is_token_active(new["refresh_token"])
    assert not sandbox.is_token_active(token["access_token"])
    [revocation] = sandbox.revocations
    assert (revocation.username, revocation.token_type, revocation.whole_grant) == ("alice", "refresh_token", True)
    assert revocation.at == sandbox.grants[0].revoked_at
    assert sandbox.active_grants() == []
    assert not any(sandbox.is_token_active(t) for t in sandbox.issued_tokens())
    assert len(sandbox.issued_tokens()) == 4  # an access and a refresh token from the code, two more from the refresh
    with pytest.raises(OAuthError):
        session.refresh_token(sandbox.token_url, refresh_token=new["refresh_token"])


def test_revoking_an_access_token_leaves_the_refresh_token(sandbox: SandboxX, connect) -> None:
    bob = connect("bob")
    access, refresh = bob.token["access_token"], bob.token["refresh_token"]
    response = bob.session.revoke_token(sandbox.revoke_url, access, token_type_hint="access_token")
    assert response.status_code == 200
    assert not sandbox.is_token_active(access) and sandbox.is_token_active(refresh)
    assert [g.username for g in sandbox.active_grants()] == ["bob"]
    assert sandbox.revocations[-1].whole_grant is False
    # Unknown and already-revoked tokens: 200, nothing changes (RFC 7009 §2.2).
    assert bob.session.revoke_token(sandbox.revoke_url, "not-a-token").status_code == 200
    assert bob.session.revoke_token(sandbox.revoke_url, access).status_code == 200
    assert len(sandbox.revocations) == 1
    assert [r.matched for r in sandbox.revocation_requests] == ["access_token", None, None]
    assert access not in repr(sandbox.revocations) + repr(sandbox.revocation_requests)


def test_revocation_requires_client_authentication(sandbox: SandboxX, connect) -> None:
    carol = connect("carol")
    response = requests.post(sandbox.revoke_url, data={"token": carol.token["refresh_token"]}, timeout=5)
    assert response.status_code == 401
    wrong = requests.post(sandbox.revoke_url, data={"token": carol.token["refresh_token"]},
                          auth=(sandbox.client_id, "wrong-secret"), timeout=5)
    assert wrong.status_code == 401
    assert sandbox.is_token_active(carol.token["refresh_token"])


def test_pkce_wrong_verifier_is_rejected(sandbox: SandboxX, oauth) -> None:
    session = oauth.new_session()
    verifier = generate_token(64)
    redirect = oauth.authorize(session, verifier, "dave")
    with pytest.raises(OAuthError) as refused:
        session.fetch_token(sandbox.token_url, authorization_response=redirect.headers["Location"],
                            code_verifier=generate_token(64))
    assert refused.value.error == "invalid_grant"
    # Without any verifier: refused too.
    code = query_of(redirect.headers["Location"])["code"]
    bare = requests.post(sandbox.token_url, auth=(sandbox.client_id, sandbox.client_secret), timeout=5,
                         data={"grant_type": "authorization_code", "code": code, "redirect_uri": REDIRECT_URI})
    assert bare.status_code == 400 and bare.json()["error"] == "invalid_request"
    # The right verifier still works, once.
    token = session.fetch_token(sandbox.token_url, authorization_response=redirect.headers["Location"],
                                code_verifier=verifier)
    assert sandbox.is_token_active(token["access_token"])
    with pytest.raises(OAuthError):
        session.fetch_token(sandbox.token_url, authorization_response=redirect.headers["Location"],
                            code_verifier=verifier)


@pytest.mark.parametrize("params", [
    {},  # no PKCE at all
    {"code_challenge": "x" * 43, "code_challenge_method": "plain"},
])
def test_authorization_without_s256_pkce_is_refused(sandbox: SandboxX, params: dict[str, str]) -> None:
    query = {"response_type": "code", "client_id": sandbox.client_id, "redirect_uri": REDIRECT_URI,
             "scope": RELAY_SCOPE, "state": "s1"} | params
    response = requests.get(sandbox.authorize_url, params=query, allow_redirects=False, timeout=5)
    assert response.status_code == 302
    assert query_of(response.headers["Location"])["error"] == "invalid_request"
    assert query_of(response.headers["Location"])["state"] == "s1"


def test_expired_access_token_is_rejected_then_refresh_works(sandbox: SandboxX, connect, fake_clock) -> None:
    erin = connect("erin")
    me_url = f"{sandbox.base_url}/2/users/me"
    fake_clock.advance(hours=1, minutes=59)
    assert erin.session.get(me_url, timeout=5).status_code == 200
    fake_clock.advance(minutes=1)  # exactly 2 hours after issue, by the relaycast clock
    expired = erin.session.get(me_url, timeout=5)
    assert expired.status_code == 401
    assert expired.json() == {"title": "Unauthorized", "detail": "Unauthorized", "type": "about:blank",
                              "status": 401}
    assert not sandbox.is_token_active(erin.token["access_token"])
    new = erin.session.refresh_token(sandbox.token_url)
    assert erin.session.get(me_url, timeout=5).status_code == 200
    assert sandbox.is_token_active(new["access_token"])


def test_denied_consent_redirects_with_access_denied(sandbox: SandboxX, oauth) -> None:
    session = oauth.new_session()
    redirect = oauth.authorize(session, generate_token(64), "frank", decision="deny")
    assert redirect.status_code == 302
    params = query_of(redirect.headers["Location"])
    assert params["error"] == "access_denied" and "code" not in params and params["state"]
    assert "frank" not in sandbox.users


def test_authorization_code_expires_after_30_seconds(sandbox: SandboxX, oauth, fake_clock) -> None:
    session = oauth.new_session()
    verifier = generate_token(64)
    redirect = oauth.authorize(session, verifier, "gina")
    fake_clock.advance(seconds=31)
    with pytest.raises(OAuthError) as refused:
        session.fetch_token(sandbox.token_url, authorization_response=redirect.headers["Location"],
                            code_verifier=verifier)
    assert refused.value.error == "invalid_grant"


@pytest.mark.parametrize("redirect_uri", [
    "https://evil.example/callback/x",
    "http://127.0.0.1:8765/connect/callback/mastodon",
    "http://127.0.0.1.evil.example/callback/x",
])
def test_unregistered_redirect_uri_gets_an_error_page(sandbox: SandboxX, oauth, redirect_uri: str) -> None:
    session = oauth.new_session()
    session.redirect_uri = redirect_uri
    url, _ = session.create_authorization_url(sandbox.authorize_url, code_verifier=generate_token(64))
    response = requests.get(url, allow_redirects=False, timeout=5)
    assert response.status_code == 400 and "Location" not in response.headers
    assert "Something went wrong" in response.text


def test_localhost_redirect_and_scope_without_offline_access(sandbox: SandboxX, oauth) -> None:
    session = oauth.new_session(scope="tweet.read users.read")
    session.redirect_uri = "http://localhost:3000/callback/x"
    verifier = generate_token(64)
    redirect = oauth.authorize(session, verifier, "hana")
    token = session.fetch_token(sandbox.token_url, authorization_response=redirect.headers["Location"],
                                code_verifier=verifier)
    assert "refresh_token" not in token  # X issues refresh tokens only with offline.access
    assert token["scope"] == "tweet.read users.read"


def test_token_endpoint_requires_basic_auth(sandbox: SandboxX) -> None:
    response = requests.post(sandbox.token_url, data={"grant_type": "refresh_token", "refresh_token": "x",
                                                      "client_id": sandbox.client_id,
                                                      "client_secret": sandbox.client_secret}, timeout=5)
    assert response.status_code == 401 and response.json()["error"] == "invalid_client"


def test_bad_tokens_get_401(sandbox: SandboxX) -> None:
    me_url = f"{sandbox.base_url}/2/users/me"
    for headers in ({}, {"Authorization": "Bearer nope"}, {"Authorization": "Basic abc"}):
        response = requests.get(me_url, headers=headers, timeout=5)
        assert response.status_code == 401
        assert response.headers["Content-Type"] == "application/problem+json"


def test_consent_form_checks_the_username_and_escapes_parameters(sandbox: SandboxX, oauth) -> None:
    session = oauth.new_session()
    verifier = generate_token(64)
    state = 'st"<b>&x'
    url, _ = session.create_authorization_url(sandbox.authorize_url, code_verifier=verifier, state=state)
    page = requests.get(url, timeout=5)
    assert "<b>" not in page.text and "&lt;b&gt;" in page.text
    refused = oauth.submit(page.text, "not a username!")
    assert refused.status_code == 400 and "valid username" in refused.text and "Location" not in refused.headers
    redirect = oauth.submit(refused.text, "@Ivy_2")  # the form is served again, still carrying the request
    assert redirect.status_code == 302 and query_of(redirect.headers["Location"])["state"] == state
    assert "Ivy_2" in sandbox.users
    assert sandbox.users["Ivy_2"]["username"] == sandbox.users["Ivy_2"].to_dict()["username"] == "Ivy_2"
    # Usernames are case-insensitive: the same user logs in again.
    again = oauth.authorize(session, verifier, "ivy_2")
    assert again.status_code == 302 and "ivy_2" not in sandbox.users


def test_a_scripted_submission_without_the_button_counts_as_consent(sandbox: SandboxX, oauth) -> None:
    session = oauth.new_session()
    verifier = generate_token(64)
    url, _ = session.create_authorization_url(sandbox.authorize_url, code_verifier=verifier)
    page = requests.get(url, timeout=5)
    fields = consent_fields(page.text) | {"username": "scripted", "confirm": "yes"}
    redirect = requests.post(f"{sandbox.base_url}/i/oauth2/authorize", data=fields, allow_redirects=False, timeout=5)
    assert redirect.status_code == 302 and "code" in query_of(redirect.headers["Location"])


def consent_fields(page_html: str) -> dict[str, str]:
    return {name: html.unescape(value)
            for name, value in re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)">', page_html)}
