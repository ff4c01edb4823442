"""The sandbox Bluesky, driven over real HTTP by requests-oauth2client (PAR, PKCE, DPoP with server nonces,
private_key_jwt): the AT Protocol OAuth profile end to end, the PDS's DPoP-bound writes and scopes, identity
resolution, the AppView's search, and the lexicon checks on every request and answer."""

from __future__ import annotations

import base64
import json
from datetime import timedelta
from urllib.parse import parse_qs, urlsplit

import pytest
from jwskate import Jwk
from requests_oauth2client import DPoPKey, OAuth2Client, PrivateKeyJwt
from requests_oauth2client.exceptions import InvalidClient, InvalidGrant

from relaycast.networks.bluesky import client_metadata
from relaycast_local.sandbox_bluesky import SandboxBluesky

CLIENT_ID = "https://relaycast.example/bluesky/client-metadata.json"
REDIRECT_URI = "https://relaycast.example/callback/bluesky"
REPOST_SCOPE = "atproto repo:app.bsky.feed.repost?action=create&action=delete"
REPOST = "app.bsky.feed.repost"


@pytest.fixture
def client_key() -> Jwk:
    return Jwk.generate(alg="ES256", kid="relaycast-1")


def metadata(key: Jwk, scope: str = REPOST_SCOPE) -> dict:
    return client_metadata(CLIENT_ID, REDIRECT_URI, [dict(key.public_jwk())], scope=scope)


def oauth_client(bsky: SandboxBluesky, key: Jwk) -> OAuth2Client:
    """relaycast's side of the dance: the server's metadata read, the client authenticated by its ES256 key."""
    http = bsky.session()
    server = http.get(f"{bsky.origin}/.well-known/oauth-authorization-server", timeout=5).json()
    return OAuth2Client(
        token_endpoint=server["token_endpoint"], auth=PrivateKeyJwt(CLIENT_ID, key, alg="ES256", aud=server["issuer"]),
        pushed_authorization_request_endpoint=server["pushed_authorization_request_endpoint"],
        authorization_endpoint=server["authorization_endpoint"], revocation_endpoint=server["revocation_endpoint"],
        issuer=server["issuer"], authorization_response_iss_parameter_supported=True, dpop_bound_access_tokens=True,
        redirect_uri=REDIRECT_URI, session=http)


def connect(bsky: SandboxBluesky, client: OAuth2Client, handle: str, scope: str = REPOST_SCOPE):
    request = client.authorization_request(scope=scope, login_hint=handle)
    pushed = client.pushed_authorization_request(request)
    callback = bsky.consent(pushed.uri, handle)
    return client.authorization_code(request.validate_callback(callback))


def repost_body(did: str, post) -> dict:
    return {"repo": did, "collection": REPOST, "record": {"$type": REPOST, "subject": {"uri": post.uri, "cid": post.cid},
                                                          "createdAt": "2026-12-04T10:00:00.000Z"}}


def test_a_relay_connects_with_par_dpop_and_private_key_jwt_then_reposts_and_undoes(bsky, client_key):
    bsky.register_client(metadata(client_key))
    amina = bsky.add_account(bsky.handle("amina"))
    post = bsky.add_post(bsky.handle("nils"), "Three labs in four reproduce it #RCDEMO26")
    client = oauth_client(bsky, client_key)

    token = connect(bsky, client, amina.handle)
    assert token.token_type == "DPoP" and token.kwargs["sub"] == amina.did and token.scope == REPOST_SCOPE
    # Each server asked for its own nonce once: the PAR's first try and the PDS's first call were refused.
    http = bsky.session()
    created = http.post(f"{bsky.origin}/xrpc/com.atproto.repo.createRecord", json=repost_body(amina.did, post),
                        auth=token, timeout=5)
    assert created.status_code == 200, created.text
    assert [(r.subject_uri, r.did) for r in bsky.reposts_by(amina.handle)] == [(post.uri, amina.did)]
    statuses = [(r.path, r.status) for r in bsky.requests]
    assert statuses[1:3] == [("/oauth/par", 400), ("/oauth/par", 201)]  # after the metadata read
    assert statuses[-2:] == [("/xrpc/com.atproto.repo.createRecord", 401), ("/xrpc/com.atproto.repo.createRecord", 200)]

    rkey = created.json()["uri"].rsplit("/", 1)[1]
    undone = http.post(f"{bsky.origin}/xrpc/com.atproto.repo.deleteRecord", json={"repo": amina.did, "collection": REPOST,
                                                                                 "rkey": rkey}, auth=token, timeout=5)
    assert undone.status_code == 200 and bsky.reposts_by(amina.handle) == []


def test_refresh_tokens_are_single_use_and_a_replay_ends_the_session(bsky, client_key):
    bsky.register_client(metadata(client_key))
    amina = bsky.add_account(bsky.handle("amina"))
    client = oauth_client(bsky, client_key)
    first = connect(bsky, client, amina.handle)

    second = client.refresh_token(first)
    assert second.refresh_token != first.refresh_token and first.refresh_token not in bsky.live_tokens()
    with pytest.raises(InvalidGrant, match="replayed"):
        client.refresh_token(first)  # the old refresh token again: a replay
    assert bsky.live_tokens() == []  # the whole session ended, the rotated tokens too


def test_revoking_either_token_ends_the_session_and_the_pds_refuses_it(bsky, client_key):
    bsky.register_client(metadata(client_key))
    amina = bsky.add_account(bsky.handle("amina"))
    client = oauth_client(bsky, client_key)
    token = connect(bsky, client, amina.handle)
    assert set(bsky.live_tokens()) == {token.access_token, token.refresh_token}

    client.revoke_access_token(token)
    assert bsky.live_tokens() == []
    answer = bsky.session().get(f"{bsky.origin}/xrpc/app.bsky.actor.getProfile", params={"actor": amina.did},
                                auth=token, timeout=5)
    assert answer.status_code == 401 and answer.json()["error"] == "InvalidToken"
    assert 'error="invalid_token"' in answer.headers["WWW-Authenticate"]


def test_a_token_is_bound_to_the_dpop_key_it_was_issued_for(bsky, client_key):
    bsky.register_client(metadata(client_key))
    amina = bsky.add_account(bsky.handle("amina"))
    token = connect(bsky, oauth_client(bsky, client_key), amina.handle)
    stolen = type(token)(access_token=token.access_token, _dpop_key=DPoPKey.generate(alg="ES256"))
    answer = bsky.session().get(f"{bsky.origin}/xrpc/app.bsky.actor.getProfile", params={"actor": amina.did},
                                auth=stolen, timeout=5)
    assert answer.status_code == 401 and "another DPoP key" in answer.json()["message"]


def test_a_bearer_token_or_no_proof_is_refused_at_the_pds(bsky, client_key):
    bsky.register_client(metadata(client_key))
    amina = bsky.add_account(bsky.handle("amina"))
    token = connect(bsky, oauth_client(bsky, client_key), amina.handle)
    http = bsky.session()
    bearer = http.get(f"{bsky.origin}/xrpc/app.bsky.actor.getProfile", params={"actor": amina.did}, timeout=5,
                      headers={"Authorization": f"Bearer {token.access_token}"})
    no_proof = http.get(f"{bsky.origin}/xrpc/app.bsky.actor.getProfile", params={"actor": amina.did}, timeout=5,
                        headers={"Authorization": f"DPoP {token.access_token}"})
    assert (bearer.status_code, no_proof.status_code) == (401, 401)


def test_a_write_outside_the_granted_scope_is_refused(bsky, client_key):
    bsky.register_client(metadata(client_key, scope="atproto repo:app.bsky.feed.repost?action=delete"))
    amina = bsky.add_account(bsky.handle("amina"))
    post = bsky.add_post(bsky.handle("nils"), "A result #RCDEMO26")
    token = connect(bsky, oauth_client(bsky, client_key), amina.handle, scope="atproto repo:app.bsky.feed.repost?action=delete")
    answer = bsky.session().post(f"{bsky.origin}/xrpc/com.atproto.repo.createRecord", json=repost_body(amina.did, post),
                                 auth=token, timeout=5)
    assert answer.status_code == 403 and answer.json()["error"] == "ScopeMissingError"
    assert bsky.reposts_by(amina.handle) == []


def test_a_relay_writes_only_its_own_repository(bsky, client_key):
    bsky.register_client(metadata(client_key))
    amina, other = bsky.add_account(bsky.handle("amina")), bsky.add_account(bsky.handle("other"))
    post = bsky.add_post(bsky.handle("nils"), "A result #RCDEMO26")
    token = connect(bsky, oauth_client(bsky, client_key), amina.handle)
    answer = bsky.session().post(f"{bsky.origin}/xrpc/com.atproto.repo.createRecord", json=repost_body(other.did, post),
                                 auth=token, timeout=5)
    assert answer.status_code == 403 and bsky.reposts_by(other.handle) == []


def test_a_scope_beyond_the_client_metadata_or_without_atproto_is_refused_at_par(bsky, client_key):
    bsky.register_client(metadata(client_key))
    client = oauth_client(bsky, client_key)
    for scope in ("atproto transition:generic", "repo:app.bsky.feed.repost"):
        with pytest.raises(Exception, match="scope must include atproto"):
            client.pushed_authorization_request(client.authorization_request(scope=scope))


def test_an_assertion_signed_by_a_key_not_in_the_metadata_is_refused(bsky, client_key):
    bsky.register_client(metadata(client_key))
    impostor = oauth_client(bsky, Jwk.generate(alg="ES256", kid="relaycast-1"))
    with pytest.raises(InvalidClient):
        impostor.pushed_authorization_request(impostor.authorization_request(scope=REPOST_SCOPE))
    assert bsky.live_tokens() == []


def test_a_request_that_was_not_pushed_gets_a_page_never_a_redirect(bsky, client_key):
    bsky.register_client(metadata(client_key))
    answer = bsky.session().get(f"{bsky.origin}/oauth/authorize", allow_redirects=False, timeout=5,
                                params={"client_id": CLIENT_ID, "request_uri": "urn:ietf:params:oauth:request_uri:nope",
                                        "redirect_uri": "https://evil.example/cb"})
    assert answer.status_code == 400 and "Location" not in answer.headers


def test_a_denied_consent_and_a_wrong_password_come_back_as_access_denied(bsky, client_key):
    bsky.register_client(metadata(client_key))
    amina = bsky.add_account(bsky.handle("amina"))
    client = oauth_client(bsky, client_key)
    for decision, password in (("deny", None), ("allow", "wrong")):
        pushed = client.pushed_authorization_request(client.authorization_request(scope=REPOST_SCOPE))
        query = parse_qs(urlsplit(bsky.consent(pushed.uri, amina.handle, decision, password)).query)
        assert query["error"] == ["access_denied"] and query["iss"] == [bsky.origin] and "code" not in query


def test_a_code_is_single_use_and_needs_its_verifier(bsky, client_key):
    bsky.register_client(metadata(client_key))
    amina = bsky.add_account(bsky.handle("amina"))
    client = oauth_client(bsky, client_key)
    request = client.authorization_request(scope=REPOST_SCOPE)
    response = request.validate_callback(bsky.consent(client.pushed_authorization_request(request).uri, amina.handle))
    client.authorization_code(response)
    with pytest.raises(InvalidGrant):
        client.authorization_code(response)


def test_the_authorization_server_metadata_and_the_pds_point_at_each_other(bsky):
    http = bsky.session()
    server = http.get(f"{bsky.origin}/.well-known/oauth-authorization-server", timeout=5).json()
    resource = http.get(f"{bsky.origin}/.well-known/oauth-protected-resource", timeout=5).json()
    assert server["issuer"] == bsky.origin and resource["authorization_servers"] == [bsky.origin]
    assert server["require_pushed_authorization_requests"] is True
    assert server["code_challenge_methods_supported"] == ["S256"] and "ES256" in server["dpop_signing_alg_values_supported"]


def test_handle_and_did_resolve_both_ways(bsky):
    amina = bsky.add_account(bsky.handle("amina"))
    http = bsky.session()
    assert http.get(f"https://{amina.handle}/.well-known/atproto-did", timeout=5).text == amina.did
    assert http.get(f"https://{bsky.handle('nobody')}/.well-known/atproto-did", timeout=5).status_code == 404
    document = http.get(f"{bsky.plc_url}/{amina.did}", timeout=5).json()
    assert document["alsoKnownAs"] == [f"at://{amina.handle}"]
    assert [s["serviceEndpoint"] for s in document["service"] if s["id"] == "#atproto_pds"] == [bsky.origin]
    resolved = http.get(f"{bsky.origin}/xrpc/com.atproto.identity.resolveHandle", params={"handle": amina.handle}, timeout=5)
    assert resolved.json() == {"did": amina.did}


def test_search_needs_a_session_and_pages_the_tagged_posts_that_exist_yet(bsky, event_clock):
    event = bsky.add_account(bsky.handle("event"))
    for minutes in range(5):
        bsky.add_post(bsky.handle("nils"), f"Result {minutes} #RCDEMO26", at=event_clock[0] + timedelta(minutes=minutes - 4))
    bsky.add_post(bsky.handle("nils"), "Later #RCDEMO26", at=event_clock[0] + timedelta(hours=1))
    bsky.add_post(bsky.handle("nils"), "Other #elsewhere", at=event_clock[0])
    http = bsky.session()
    url = f"{bsky.origin}/xrpc/app.bsky.feed.searchPosts"
    assert http.get(url, params={"q": "#RCDEMO26"}, timeout=5).status_code == 401

    session = http.post(f"{bsky.origin}/xrpc/com.atproto.server.createSession", timeout=5,
                        json={"identifier": event.handle, "password": event.app_password}).json()
    auth = {"Authorization": f"Bearer {session['accessJwt']}"}
    first = http.get(url, params={"q": "#RCDEMO26", "tag": "rcdemo26", "limit": 3}, headers=auth, timeout=5).json()
    rest = http.get(url, params={"q": "#RCDEMO26", "tag": "rcdemo26", "limit": 3, "cursor": first["cursor"]},
                    headers=auth, timeout=5).json()
    texts = [p["record"]["text"] for p in first["posts"] + rest["posts"]]
    assert texts == [f"Result {m} #RCDEMO26" for m in (4, 3, 2, 1, 0)] and "cursor" not in rest
    since = http.get(url, params={"q": "#RCDEMO26", "since": (event_clock[0] - timedelta(minutes=1)).isoformat()},
                     headers=auth, timeout=5).json()
    assert [p["record"]["text"] for p in since["posts"]] == ["Result 4 #RCDEMO26", "Result 3 #RCDEMO26"]


def test_requests_the_lexicons_refuse_get_a_400_naming_the_field(bsky, client_key):
    bsky.register_client(metadata(client_key))
    amina = bsky.add_account(bsky.handle("amina"))
    token = connect(bsky, oauth_client(bsky, client_key), amina.handle)
    http = bsky.session()
    bad_record = {"repo": amina.did, "collection": REPOST,
                  "record": {"$type": REPOST, "subject": {"uri": "at://did:plc:x/app.bsky.feed.post/1"}, "createdAt": "now"}}
    answer = http.post(f"{bsky.origin}/xrpc/com.atproto.repo.createRecord", json=bad_record, auth=token, timeout=5)
    assert answer.status_code == 400 and "subject" in answer.json()["message"]
    missing = http.post(f"{bsky.origin}/xrpc/com.atproto.repo.createRecord", json={"repo": amina.did}, auth=token, timeout=5)
    assert missing.status_code == 400 and "collection" in missing.json()["message"]
    too_many = http.get(f"{bsky.origin}/xrpc/app.bsky.feed.searchPosts", params={"q": "x", "limit": 101}, auth=token, timeout=5)
    assert too_many.status_code == 400 and "limit" in too_many.json()["message"]
    assert bsky.reposts_by(amina.handle) == []


def test_an_answer_the_lexicons_refuse_is_the_sandboxs_own_failure(bsky, monkeypatch):
    event = bsky.add_account(bsky.handle("event"))
    monkeypatch.setattr(bsky.pds, "x_com_atproto_identity_resolveHandle", lambda params, body: {"did": "not a did"})
    answer = bsky.session().get(f"{bsky.origin}/xrpc/com.atproto.identity.resolveHandle", params={"handle": event.handle},
                                timeout=5)
    assert answer.status_code == 500


def test_the_dpop_proofs_the_client_sent_were_fresh_and_bound(bsky, client_key):
    """Every proof relaycast's side sent: typ dpop+jwt, ES256, one jti each, the PDS's with the token's hash."""
    bsky.register_client(metadata(client_key))
    amina = bsky.add_account(bsky.handle("amina"))
    token = connect(bsky, oauth_client(bsky, client_key), amina.handle)
    bsky.session().get(f"{bsky.origin}/xrpc/app.bsky.actor.getProfile", params={"actor": amina.did}, auth=token, timeout=5)
    proofs = [r.headers["dpop"] for r in bsky.requests if "dpop" in r.headers]
    decoded = [[json.loads(base64.urlsafe_b64decode(part + "==")) for part in p.split(".")[:2]] for p in proofs]
    assert all(h["typ"] == "dpop+jwt" and h["alg"] == "ES256" and "d" not in h["jwk"] for h, _ in decoded)
    assert len({c["jti"] for _, c in decoded}) == len(decoded)
    assert all("ath" in c for (_, c), r in zip(decoded, [r for r in bsky.requests if "dpop" in r.headers])
               if r.path.startswith("/xrpc/"))
