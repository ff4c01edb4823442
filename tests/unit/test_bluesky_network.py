"""relaycast's Bluesky adapter against the sandbox Bluesky over real HTTP, through netguard's routed allowance:
identity verified both ways, the OAuth dance (PAR, DPoP, private_key_jwt), reposts that cannot double, refresh,
revocation, and the hostile answers a relay's handle can lead to."""

from __future__ import annotations

import json
from datetime import timedelta
from urllib.parse import parse_qs, urlencode, urlsplit

import pytest
from jwskate import Jwk

from relaycast.netguard import NetGuard
from relaycast.networks import NetworkError, RateLimited, TokenRejected, Transient
from relaycast.networks.bluesky import (BlueskyNetwork, BlueskySource, IdentityRejected, client_metadata,
                                        hosted_client_metadata, parse_handle, post_id_of, repost_rkey, resolve)

CLIENT_ID = "https://relaycast.example/bluesky/client-metadata.json"
REDIRECT_URI = "https://relaycast.example/callback/bluesky"


@pytest.fixture
def network(bsky) -> BlueskyNetwork:
    key = Jwk.generate(alg="ES256", kid="relaycast-1")
    bsky.register_client(client_metadata(CLIENT_ID, REDIRECT_URI, [dict(key.public_jwk())]))
    guard = NetGuard(routed={bsky.domain: bsky.base_url})
    return BlueskyNetwork(client_id=CLIENT_ID, client_key=dict(key), guard=guard, plc=bsky.plc_url)


def connected(bsky, network, handle: str, *, sign_in_as: str | None = None):
    pending = network.begin(handle, redirect_uri=REDIRECT_URI)
    return network.finish(pending, bsky.consent(pending.url, sign_in_as or handle))


def test_a_handle_resolves_to_its_did_pds_and_authorization_server(bsky, network):
    amina = bsky.add_account(bsky.handle("amina"))
    account = resolve(f"@{amina.handle.upper()}", network.guard, bsky.plc_url)
    assert (account.did, account.handle, account.pds, account.issuer) == (amina.did, amina.handle, bsky.origin, bsky.origin)


@pytest.mark.parametrize("typed", ["", "amina", "amina..bsky.social", "https://amina.bsky.social", "amina@bsky.social",
                                   "a" * 300 + ".social"])
def test_a_handle_that_is_not_one_is_refused_before_any_request(typed, bsky, network):
    with pytest.raises(IdentityRejected, match="Type your Bluesky handle"):
        parse_handle(typed)
    assert bsky.requests == []


def test_an_unknown_handle_a_forged_claim_and_a_private_pds_are_refused(bsky, network):
    with pytest.raises(IdentityRejected, match="No Bluesky account"):
        resolve(bsky.handle("nobody"), network.guard, bsky.plc_url)
    bsky.add_account(bsky.handle("mallory"))
    bsky.forge(bsky.handle("mallory"), claims=bsky.handle("amina"))  # the document claims someone else's handle
    with pytest.raises(IdentityRejected, match="does not claim the handle back"):
        resolve(bsky.handle("mallory"), network.guard, bsky.plc_url)
    for pds in ("https://169.254.169.254", "https://localhost", "http://pds.example.org", "https://10.0.0.7:8443"):
        bsky.forge(bsky.handle("mallory"), pds=pds)
        with pytest.raises(IdentityRejected):
            resolve(bsky.handle("mallory"), network.guard, bsky.plc_url)
    assert not any(r.path.startswith("/oauth") for r in bsky.requests)  # no authorization was ever started


def test_a_handle_on_a_private_host_is_refused_without_a_connection():
    guard = NetGuard(resolve=lambda *a, **k: [(2, 1, 6, "", ("10.1.2.3", 443))])
    with pytest.raises(IdentityRejected, match="not on public addresses"):
        resolve("amina.example-pds.org", guard)


def test_a_relay_connects_reposts_once_undoes_refreshes_and_is_revoked(bsky, network):
    amina = bsky.add_account(bsky.handle("amina"))
    post = bsky.add_post(bsky.handle("nils"), "Three labs in four reproduce it #RCDEMO26")
    session = connected(bsky, network, amina.handle)
    assert session.did == amina.did and "bsky-at-" not in repr(session)

    rkey = network.repost(session, "bluesky-r1", post.uri, post.cid)
    assert network.repost(session, "bluesky-r1", post.uri, post.cid) == rkey  # a second try: the same record
    assert [r.subject_uri for r in bsky.reposts_by(amina.handle)] == [post.uri]
    assert rkey == repost_rkey("bluesky-r1", post.uri) and network.has_reposted(session, rkey)
    network.undo_repost(session, rkey)
    assert bsky.reposts_by(amina.handle) == [] and not network.has_reposted(session, rkey)

    refreshed = network.refresh(session)
    assert network.token_works(refreshed)
    with pytest.raises(TokenRejected):
        network.refresh(session)  # its refresh token was spent: a replay, which ends the session at the server
    assert bsky.live_tokens() == [] and not network.token_works(refreshed)


def test_revocation_ends_every_token_and_the_pds_then_refuses_them(bsky, network):
    amina = bsky.add_account(bsky.handle("amina"))
    session = connected(bsky, network, amina.handle)
    assert len(bsky.live_tokens()) == 2 and network.token_works(session)
    network.revoke(session)
    assert bsky.live_tokens() == [] and not network.token_works(session)


def test_signing_in_as_another_account_than_the_one_named_is_refused_and_its_tokens_revoked(bsky, network):
    amina, other = bsky.add_account(bsky.handle("amina")), bsky.add_account(bsky.handle("other"))
    with pytest.raises(IdentityRejected, match="another account"):
        connected(bsky, network, amina.handle, sign_in_as=other.handle)
    assert bsky.live_tokens() == []


def test_an_answer_from_another_issuer_or_with_another_state_is_refused(bsky, network):
    amina = bsky.add_account(bsky.handle("amina"))
    for changed in ({"iss": "https://evil.example"}, {"state": "forged"}):
        pending = network.begin(amina.handle, redirect_uri=REDIRECT_URI)
        callback = bsky.consent(pending.url, amina.handle)
        query = {k: v[0] for k, v in parse_qs(urlsplit(callback).query).items()} | changed
        with pytest.raises(IdentityRejected, match="does not come from the server"):
            network.finish(pending, f"{REDIRECT_URI}?{urlencode(query)}")
    assert bsky.live_tokens() == []  # no code was exchanged


def test_an_error_callback_is_a_refusal_and_exchanges_nothing(bsky, network):
    amina = bsky.add_account(bsky.handle("amina"))
    pending = network.begin(amina.handle, redirect_uri=REDIRECT_URI)
    with pytest.raises(NetworkError, match="access_denied"):
        network.finish(pending, bsky.consent(pending.url, amina.handle, decision="deny"))
    assert not any(r.path == "/oauth/token" for r in bsky.requests)


def test_the_pending_connection_and_the_session_never_show_their_secrets(bsky, network):
    amina = bsky.add_account(bsky.handle("amina"))
    pending = network.begin(amina.handle, redirect_uri=REDIRECT_URI)
    state = network.state_of(pending)
    assert len(state) >= 32 and state not in repr(pending) and pending.request not in repr(pending)
    assert state not in pending.url  # the browser carries only the pushed request's reference
    session = network.finish(pending, bsky.consent(pending.url, amina.handle))
    assert session.token not in repr(session) and "DPoP" not in repr(session)
    assert repr(network) == f"BlueskyNetwork(client_id={CLIENT_ID!r})"


def test_the_client_metadata_never_publishes_a_private_key():
    key = Jwk.generate(alg="ES256", kid="k")
    with pytest.raises(ValueError, match="public keys only"):
        client_metadata(CLIENT_ID, REDIRECT_URI, [dict(key)])
    assert client_metadata(CLIENT_ID, REDIRECT_URI, [dict(key.public_jwk())])["jwks"]["keys"][0].keys() >= {"kty", "x", "y"}


def source(bsky, network, event) -> BlueskySource:
    return BlueskySource(service=bsky.origin, identifier=event.handle, app_password=event.app_password, guard=network.guard)


def test_the_source_reads_the_tagged_posts_page_by_page_and_from_its_cursor(bsky, network, event_clock):
    event = bsky.add_account(bsky.handle("event"))
    start = event_clock[0] - timedelta(hours=3)
    for i in range(130):
        bsky.add_post(bsky.handle(f"expert{i % 3}"), f"Finding {i} #RCDEMO26", at=start + timedelta(minutes=i))
    bsky.add_post(bsky.handle("expert0"), "Elsewhere #other", at=start)
    feed = source(bsky, network, event)
    pages = list(feed.search(["rcdemo26"], None))
    assert [len(p) for p in pages] == [100, 30]
    posts = [p for page in pages for p in page]
    assert [p.text for p in posts[:2]] == ["Finding 129 #RCDEMO26", "Finding 128 #RCDEMO26"] and len(posts) == 130
    first = posts[0]
    did, rkey = first.uri.split("/")[2], first.uri.rsplit("/", 1)[1]
    assert (first.network, first.author, first.author_id, first.cid) == ("bluesky", bsky.handle("expert0"), did, bsky.posts[first.uri].cid)
    # Decimal ids, as on the other networks (the tables and the dashboard's forms take no at-uri), and distinct.
    assert first.post_id == post_id_of(first.uri) and first.post_id.isdigit() and len({p.post_id for p in posts}) == 130
    assert first.ref == f"{first.uri} {first.cid}" and first.indexed_at
    assert first.url == f"https://bsky.app/profile/{first.author}/post/{rkey}"
    since = (start + timedelta(minutes=125)).isoformat()
    assert [p.text for page in feed.search(["rcdemo26"], since) for p in page] == [f"Finding {i} #RCDEMO26" for i in range(129, 124, -1)]
    assert bsky.calls["xrpc"] >= 3 and sum(1 for r in bsky.requests if r.path.endswith("createSession")) == 1


def test_the_source_refreshes_its_session_instead_of_signing_in_again(bsky, network, event_clock):
    event = bsky.add_account(bsky.handle("event"))
    bsky.add_post(bsky.handle("nils"), "A #RCDEMO26", at=event_clock[0])
    feed = source(bsky, network, event)
    assert len(next(feed.search(["rcdemo26"], None))) == 1
    kept = dict(feed.session)
    bsky.expire_app_sessions()
    again = BlueskySource(service=bsky.origin, identifier=event.handle, app_password="not needed", guard=network.guard,
                          session=kept)  # the next round, with the session the last one kept
    assert len(next(again.search(["rcdemo26"], None))) == 1
    assert again.session != kept and sum(1 for r in bsky.requests if r.path.endswith("createSession")) == 1
    assert "not needed" not in repr(again) and kept["access"] not in repr(again)


def test_a_wrong_app_password_is_a_rejected_token_not_a_retry(bsky, network):
    event = bsky.add_account(bsky.handle("event"))
    feed = BlueskySource(service=bsky.origin, identifier=event.handle, app_password="wrong", guard=network.guard)
    with pytest.raises(TokenRejected, match="could not sign in"):
        next(feed.search(["rcdemo26"], None))


def test_a_relays_followers_come_from_their_own_profile_and_a_failed_read_does_not_stop_a_connect(bsky, network):
    amina = bsky.add_account(bsky.handle("amina"), followers=321)
    session = connected(bsky, network, amina.handle)
    assert network.followers(session) == 321
    bsky.fail_next("GET", "/xrpc/app.bsky.actor.getProfile", 503)
    assert network.followers(session) is None


def test_a_lost_answer_then_a_retry_makes_one_repost_and_a_429_carries_its_reset(bsky, network):
    amina = bsky.add_account(bsky.handle("amina"))
    post = bsky.add_post(bsky.handle("nils"), "A finding #RCDEMO26")
    session = connected(bsky, network, amina.handle)
    bsky.fail_next("POST", "/xrpc/com.atproto.repo.createRecord", 503, after=True)  # the PDS acted, its answer is lost
    with pytest.raises(Transient):
        network.repost(session, "bluesky-r1", post.uri, post.cid)
    assert network.repost(session, "bluesky-r1", post.uri, post.cid) == repost_rkey("bluesky-r1", post.uri)
    assert len(bsky.reposts_by(amina.handle)) == 1
    bsky.fail_next("POST", "/xrpc/com.atproto.repo.deleteRecord", 429, reset_at=1_900_000_000)
    with pytest.raises(RateLimited) as limited:
        network.undo_repost(session, repost_rkey("bluesky-r1", post.uri))
    assert limited.value.reset_at == 1_900_000_000 and len(bsky.reposts_by(amina.handle)) == 1


def test_a_refresh_reads_only_the_granting_servers_metadata(bsky, network):
    amina = bsky.add_account(bsky.handle("amina"))
    session = connected(bsky, network, amina.handle)
    before = len(bsky.requests)
    network.refresh(session)
    # No handle, DID document or PDS read; the server's nonce is remembered with the session's DPoP key.
    assert [r.path for r in bsky.requests[before:]] == ["/.well-known/oauth-authorization-server", "/oauth/token"]


def test_relaycast_bluesky_key_prints_a_new_private_es256_key_for_the_secret(capsys):
    from relaycast_local.cli import main

    keys = []
    for _ in range(2):
        assert main(["bluesky-key"]) == 0
        keys.append(Jwk(json.loads(capsys.readouterr().out)))
    assert all(k.is_private and k.alg == "ES256" and k.kid.startswith("relaycast-") for k in keys)
    assert keys[0].thumbprint() != keys[1].thumbprint()
    # What the hosted app publishes of it: the public half only.
    assert "d" not in hosted_client_metadata("https://relaycast.example/", json.dumps(dict(keys[0])))["jwks"]["keys"][0]
