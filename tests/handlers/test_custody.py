"""Custody: every token relaycast receives is held under its grant id until X says it is dead, whatever the relay
does — connect twice, revoke and come back, a connection that fails half-way — and refresh has one writer.

moto plays AWS in-process; the sandbox X is the truth of which tokens still work.
"""

import re

import pytest
from chalice.test import Client
from handler_support import Browser, connect, deliver, load_function, relay_of, sqs_event, ttl_outcomes, ttl_removal

from relaycast import credentials, expire, relays
from relaycast.networks import TokenRejected, Transient
from relaycast.networks.factory import x_network
from relaycast.settings import Settings


@pytest.fixture
def client(stack_env):
    with Client(load_function("oauth", "app").app) as test_client:
        yield test_client


def live_tokens(x_sandbox):
    return [t for t in x_sandbox.issued_tokens() if t != x_sandbox.bearer_token and x_sandbox.is_token_active(t)]


def custody_items(store):
    return [i for i in store.table.scan()["Items"] if i.get("kind") == "custody"]


def end_of_event(store, settings, lambda_context):
    expire_fn = load_function("expire")
    expire_fn.handler({"action": "sweep"}, lambda_context)
    return deliver(settings.end_grant_queue_url, expire_fn.handler, lambda_context)


def test_connecting_twice_ends_the_first_tokens_at_once(x_sandbox, store, frozen_clock, lambda_context):
    """Fault 2: "Connect X" clicked again overwrote the first tokens without revoking them."""
    settings = Settings.from_env()
    first = connect(store, settings, "relay_twice", None, x_sandbox)
    first_grant = store.grant(first.relay_id, "x")
    first_tokens = list(live_tokens(x_sandbox))
    assert len(first_tokens) == 2  # access and refresh

    second = connect(store, settings, "relay_twice", None, x_sandbox)
    assert second.relay_id == first.relay_id  # the same verified account: the same relay
    grant = store.grant(second.relay_id, "x")
    assert grant["grant_id"] != first_grant["grant_id"]
    assert not any(x_sandbox.is_token_active(t) for t in first_tokens)  # revoked and proven dead, now
    assert store.custody(first_grant["grant_id"]) is None
    assert [c["grant_id"] for c in custody_items(store)] == [grant["grant_id"]]
    assert len(x_sandbox.active_grants("relay_twice")) == 1

    assert end_of_event(store, settings, lambda_context)[1] == []
    assert live_tokens(x_sandbox) == [] and custody_items(store) == []
    (receipt,) = store.receipts(second.relay_id, "x")
    assert receipt["grant_id"] == grant["grant_id"] and receipt["confirmed"] is True


def test_revoke_now_then_connect_again_gets_a_new_grant_a_new_end_and_a_new_receipt(x_sandbox, store, frozen_clock, lambda_context):
    """Fault 1: the earlier receipt said "done", so the new grant's end was answered "already ended"."""
    settings = Settings.from_env()
    config = settings.event()
    first = connect(store, settings, "relay_back", None, x_sandbox)
    assert relays.revoke_now(store, settings, config, first.relay_id, "x") == "ended"
    assert live_tokens(x_sandbox) == []

    frozen_clock.advance(hours=1)
    again = connect(store, settings, "relay_back", None, x_sandbox)
    assert again.relay_id == first.relay_id
    assert len(live_tokens(x_sandbox)) == 2
    frozen_clock.advance(hours=40)
    assert end_of_event(store, settings, lambda_context) == (1, [])
    assert store.grant(again.relay_id, "x") is None
    assert live_tokens(x_sandbox) == [] and custody_items(store) == []
    receipts = store.receipts(again.relay_id, "x")
    assert [r["reason"] for r in receipts] == ["you revoked access from your dashboard", "the event ended"]
    assert all(r["status"] == "done" and r["confirmed"] is True for r in receipts)
    assert len({r["grant_id"] for r in receipts}) == 2


def test_a_relay_back_after_a_revoke_keeps_what_they_used_of_their_cap(x_sandbox, store, frozen_clock):
    """Found by the demo: the new grant's count started at zero, so a relay who came back got a second cap."""
    settings = Settings.from_env()
    config = settings.event()
    first = connect(store, settings, "relay_capped", None, x_sandbox)
    cap = int(store.grant(first.relay_id, "x")["cap"])
    assert [store.reserve_publish(first.relay_id, "x", str(100 + i), cap) for i in range(cap - 1)] == ["reserved"] * (cap - 1)
    store.release_publish(first.relay_id, "x", "100", "the post was deleted")  # a skip gives its slot back
    for i in range(1, cap - 1):
        store.finish_ledger(first.relay_id, "x", str(100 + i), status="published")
    relays.revoke_now(store, settings, config, first.relay_id, "x")

    again = connect(store, settings, "relay_capped", None, x_sandbox)
    assert again.relay_id == first.relay_id
    assert store.grant(again.relay_id, "x")["published_count"] == cap - 2
    outcomes = [store.reserve_publish(again.relay_id, "x", str(200 + i), cap) for i in range(3)]
    assert outcomes == ["reserved", "reserved", "cap"]


def test_an_identity_lookup_failing_after_the_code_exchange_revokes_both_tokens(client, store, x_sandbox):
    """Fault 6: tokens were dropped (not revoked) when the identity lookup failed after the exchange."""
    browser = Browser(client, x_sandbox)
    callback = browser.consent(browser.start(), "relay_half")
    x_sandbox.fail_next("GET", "/2/users/me", status=503)
    answer = browser.get(callback)
    assert answer.status_code == 503
    issued = [t for t in x_sandbox.issued_tokens() if t != x_sandbox.bearer_token]
    assert len(issued) == 2 and live_tokens(x_sandbox) == []  # both received, both revoked and proven dead
    assert custody_items(store) == [] and [i for i in store.table.scan()["Items"] if i["kind"] == "grant"] == []


def test_a_missing_scope_revokes_the_refresh_token_too(client, store, x_sandbox):
    """Fault 6: only the access token was revoked when a scope was missing."""
    browser = Browser(client, x_sandbox)
    callback = browser.consent(browser.start(), "relay_narrow", scope="tweet.read users.read offline.access")
    assert browser.get(callback).status_code == 403
    issued = [t for t in x_sandbox.issued_tokens() if t != x_sandbox.bearer_token]
    assert len(issued) == 2 and live_tokens(x_sandbox) == []
    assert custody_items(store) == []


def test_tokens_of_a_failed_connect_that_x_will_not_revoke_stay_in_custody_for_the_end(
    client, store, x_sandbox, frozen_clock, lambda_context
):
    browser = Browser(client, x_sandbox)
    callback = browser.consent(browser.start(), "relay_stuck")
    x_sandbox.fail_next("GET", "/2/users/me", status=503)
    x_sandbox.fail_next("POST", "/2/oauth2/revoke", status=503)  # the first revocation fails: the rest waits
    assert browser.get(callback).status_code == 503
    (held,) = custody_items(store)
    assert "expires_at" in held and len(live_tokens(x_sandbox)) == 2  # a TTL of its own, and the sweep's message
    frozen_clock.advance(hours=40)
    assert end_of_event(store, Settings.from_env(), lambda_context) == (1, [])
    assert live_tokens(x_sandbox) == [] and custody_items(store) == []


def test_an_end_that_refreshes_keeps_the_rotated_tokens_and_proves_every_one_dead(x_sandbox, store, frozen_clock, lambda_context):
    """Fault 3: ending a grant whose access token expired, with a reservation open, refreshed it; the rotated
    refresh token was lost and the receipt said "confirmed" while it was still live."""
    settings = Settings.from_env()
    connected = connect(store, settings, "relay_late_end", None, x_sandbox)
    assert store.reserve_publish(connected.relay_id, "x", "1004", 3) == "reserved"  # a crash after reserving
    frozen_clock.advance(hours=3)  # the 2-hour access token has expired
    assert end_of_event(store, settings, lambda_context) == (1, [])
    issued = [t for t in x_sandbox.issued_tokens() if t != x_sandbox.bearer_token]
    assert len(issued) == 4  # the first pair and the pair the end's refresh returned
    assert live_tokens(x_sandbox) == []
    (receipt,) = store.receipts(connected.relay_id, "x")
    assert receipt["confirmed"] is True
    assert receipt["verification"]["x"].startswith("every token relaycast received (including those a refresh replaced)")
    ledger = store.get(f"RELAY#{connected.relay_id}", "LEDGER#x#1004")
    assert (ledger["status"], ledger["reason"]) == ("skipped", "access ended before it was published")


def test_a_refresh_in_progress_makes_the_other_job_wait_not_end_the_grant(x_sandbox, store, frozen_clock, lambda_context):
    """Fault 4: two publish jobs refreshing at once; the loser's invalid_grant was read as a revocation."""
    settings = Settings.from_env()
    config = settings.event()
    connected = connect(store, settings, "relay_race", None, x_sandbox)
    grant = store.grant(connected.relay_id, "x")
    frozen_clock.advance(hours=3)
    x = x_network(settings)
    real_refresh = x.refresh
    seen = {}

    def refresh_while_another_job_runs(token):
        # The other job arrives while this one waits for X's answer: the lock sends it back to the queue.
        with pytest.raises(Transient, match="another job is refreshing"):
            credentials.access_token(store, settings, config, x, grant)
        seen["other_waited"] = True
        return real_refresh(token)

    x.refresh = refresh_while_another_job_runs
    token = credentials.access_token(store, settings, config, x, grant)
    assert seen["other_waited"] and x_sandbox.is_token_active(token)
    x.refresh = real_refresh
    # The waiting job, retried, finds the refreshed token: no second refresh, nothing ended.
    assert credentials.access_token(store, settings, config, x, grant) == token
    assert store.grant(connected.relay_id, "x")["status"] == "active"


def test_an_invalid_grant_after_another_job_rotated_is_not_a_revocation(x_sandbox, store, frozen_clock, monkeypatch):
    """Fault 4, past the lock (it expired while X was slow): the refused refresh token is re-read against the
    stored custody, which already holds the other job's new tokens."""
    settings = Settings.from_env()
    config = settings.event()
    connected = connect(store, settings, "relay_slow", None, x_sandbox)
    grant = store.grant(connected.relay_id, "x")
    frozen_clock.advance(hours=3)
    monkeypatch.setattr(store, "lock_refresh", lambda *args: True)  # as if the first writer's lock had run out
    x = x_network(settings)
    real_refresh = x.refresh
    other = {}

    def first_the_other_job_finishes(token):
        x.refresh = real_refresh
        other["token"] = credentials.access_token(store, settings, config, x, grant)  # rotates the refresh token
        return real_refresh(token)  # the old refresh token: X answers invalid_grant

    x.refresh = first_the_other_job_finishes
    assert credentials.access_token(store, settings, config, x, grant) == other["token"]
    assert x_sandbox.is_token_active(other["token"])
    assert store.grant(connected.relay_id, "x")["status"] == "active"


def test_a_refresh_token_x_really_refused_is_still_a_revocation(x_sandbox, store, frozen_clock, lambda_context):
    settings = Settings.from_env()
    connected = connect(store, settings, "relay_removed", None, x_sandbox)
    for token in live_tokens(x_sandbox):  # the relay removed the app at X
        x_network(settings).revoke(token, "refresh_token")
    frozen_clock.advance(hours=3)
    with pytest.raises(TokenRejected):
        credentials.access_token(store, settings, settings.event(), x_network(settings), store.grant(connected.relay_id, "x"))
    job = {"relay_id": connected.relay_id, "network": "x", "post_id": "1005"}
    assert load_function("publish").handler(sqs_event(job), lambda_context) == {"batchItemFailures": []}
    (receipt,) = store.receipts(connected.relay_id, "x")
    assert receipt["reason"] == "access was revoked at X" and custody_items(store) == []


def test_relay_ids_are_random_and_one_account_names_one_relay(x_sandbox, store, frozen_clock):
    """Fault 5: relay ids were derived from what the network (or a crafted instance name) reports."""
    settings = Settings.from_env()
    ids = {connect(store, settings, name, None, x_sandbox).relay_id for name in ("relay_p", "relay_q")}
    assert len(ids) == 2 and all(re.fullmatch(r"r-[0-9a-f]{24}", i) for i in ids)
    assert connect(store, settings, "relay_p", None, x_sandbox).relay_id in ids
    # The same account id on two instances is two relays; the mapping holds the whole instance name.
    expires = settings.event().retention_ends
    one = store.relay_of_identity("mastodon", "a.example", "7", relays.new_relay_id(), expires)
    other = store.relay_of_identity("mastodon", "b.example", "7", relays.new_relay_id(), expires)
    assert one != other and store.relay_of_identity("mastodon", "a.example", "7", relays.new_relay_id(), expires) == one


def test_a_dashboard_never_gets_another_accounts_grant(client, store, x_sandbox):
    """A grant is never overwritten by another identity: connecting a second X account from a dashboard is
    refused, its tokens revoked; an account already another relay's is refused the same way."""
    browser = Browser(client, x_sandbox)
    token = browser.connect("relay_owner")
    relay_id = relay_of(token)
    grant = store.grant(relay_id, "x")
    answer = browser.get(browser.consent(browser.start(body=f"t={token}"), "relay_intruder"))
    assert answer.status_code == 409 and "revoke it first" in answer.body.decode()
    assert store.grant(relay_id, "x") == grant
    assert not x_sandbox.active_grants("relay_intruder")

    Browser(client, x_sandbox).connect("relay_elsewhere")
    answer = browser.get(browser.consent(browser.start(body=f"t={token}"), "relay_elsewhere"))
    assert answer.status_code == 409 and "another relaycast dashboard" in answer.body.decode()
    assert store.grant(relay_id, "x") == grant
    assert len(x_sandbox.active_grants("relay_elsewhere")) == 1  # the other relay's own grant stands


def test_a_malformed_account_id_is_refused_and_its_tokens_revoked(client, store, x_sandbox, monkeypatch):
    from relaycast.networks import Identity
    from relaycast.networks.x import XNetwork

    real_identity = XNetwork.identity
    calls = []

    def odd_once(self, token):  # the callback's lookup answers a malformed id; the verification after revoking is real
        calls.append(token)
        return Identity(user_id="../1400", username="odd") if len(calls) == 1 else real_identity(self, token)

    monkeypatch.setattr(XNetwork, "identity", odd_once)
    browser = Browser(client, x_sandbox)
    assert browser.get(browser.consent(browser.start(), "relay_odd")).status_code == 400
    assert live_tokens(x_sandbox) == [] and custody_items(store) == []


def test_the_ttl_backstop_ends_custody_no_grant_adopted(x_sandbox, store, frozen_clock, lambda_context, client, caplog):
    browser = Browser(client, x_sandbox)
    callback = browser.consent(browser.start(), "relay_ttl")
    x_sandbox.fail_next("GET", "/2/users/me", status=503)
    x_sandbox.fail_next("POST", "/2/oauth2/revoke", status=503)  # the first revocation fails: the rest waits
    assert browser.get(callback).status_code == 503
    (held,) = store.table.scan(FilterExpression="kind = :c", ExpressionAttributeValues={":c": "custody"})["Items"]
    store.delete(held["pk"], held["sk"])  # as the TTL would
    assert load_function("expire").handler({"Records": [ttl_removal(held)]}, lambda_context) == {"batchItemFailures": []}
    assert ttl_outcomes(caplog) == ["ended"]
    assert live_tokens(x_sandbox) == []


def test_expire_seals_what_an_end_hands_over(x_sandbox, store, frozen_clock):
    """A network that still honours a revoked refresh token hands over new tokens: kept in custody, revoked,
    and the end is not confirmed until they are proven dead."""
    settings = Settings.from_env()
    config = settings.event()
    connected = connect(store, settings, "relay_sticky", None, x_sandbox)
    grant = store.grant(connected.relay_id, "x")
    x = x_network(settings)
    real_revoke = x.revoke
    skipped = []

    def revoke_but_keep_the_first_refresh_token(token, hint):
        if hint == "refresh_token" and not skipped:
            skipped.append(token)  # X failed silently on this one
            return None
        return real_revoke(token, hint)

    x.revoke = revoke_but_keep_the_first_refresh_token
    with pytest.raises(Transient, match="still accepts a refresh token"):
        expire.end_grant(store, settings, config, x, grant, "the event ended")
    custody = store.custody(grant["grant_id"])
    _, retired = credentials.held_tokens(config, custody)
    assert len(retired) == 2  # what the refresh returned, in custody before anything else
    x.revoke = real_revoke
    assert expire.end_grant(store, settings, config, x, grant, "the event ended") == "ended"
    assert live_tokens(x_sandbox) == []
    assert store.receipts(connected.relay_id, "x")[0]["confirmed"] is True


@pytest.mark.parametrize("status", [429, 503])
def test_a_busy_token_endpoint_is_tried_again_not_a_crash(client, store, x_sandbox, frozen_clock, status):
    """Found by the journeys property: X's 429 / 5xx on the token endpoint is a problem document, neither a token
    nor an OAuth error; the connect answered 500, and an end stopped half-way holding its claim."""
    browser = Browser(client, x_sandbox)
    callback = browser.consent(browser.start(), "relay_busy")
    x_sandbox.fail_next("POST", "/2/oauth2/token", status=status)
    answer = browser.get(callback)
    assert answer.status_code == 503 and "could not be reached" in answer.body.decode()
    assert custody_items(store) == [] and live_tokens(x_sandbox) == []

    settings = Settings.from_env()
    connected = connect(store, settings, "relay_busy", None, x_sandbox)
    grant = store.grant(connected.relay_id, "x")
    frozen_clock.advance(hours=3)
    x_sandbox.fail_next("POST", "/2/oauth2/token", status=status)
    with pytest.raises(Transient):
        credentials.access_token(store, settings, settings.event(), x_network(settings), grant)
    token = credentials.access_token(store, settings, settings.event(), x_network(settings), grant)  # the retry
    assert x_sandbox.is_token_active(token) and store.grant(connected.relay_id, "x")["status"] == "active"
