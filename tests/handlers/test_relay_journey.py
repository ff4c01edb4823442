"""A relay's whole life in the domain package: connect, approve, publish under the cap, refresh, revoke.

moto plays AWS in-process; the sandbox X plays X over real HTTP and is the truth of what happened.
"""

import json
import logging
from datetime import timedelta

import boto3
import pytest
import requests
from handler_support import connect, deliver, load_function, receipt_of, sent_mail, sqs_event, ttl_outcomes, ttl_removal

from relaycast import expire, relays
from relaycast.networks.factory import x_network
from relaycast.settings import Settings
from relaycast.storage import Store, receipt_sk


def propose(store, relay_id, post_id, frozen_clock):
    store.put_new({"pk": f"RELAY#{relay_id}", "sk": f"PROPOSAL#x#{post_id}", "kind": "proposal", "relay_id": relay_id,
                   "network": "x", "post_id": post_id, "status": "pending", "text": "t", "author": "amina_data", "url": "u",
                   "proposal_expires_at": int((frozen_clock.at + timedelta(hours=6)).timestamp())})


def drain(queue_url):
    sqs = boto3.client("sqs")
    bodies = []
    while True:
        messages = sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10).get("Messages", [])
        if not messages:
            return bodies
        for m in messages:
            bodies.append(json.loads(m["Body"]))
            sqs.delete_message(QueueUrl=queue_url, ReceiptHandle=m["ReceiptHandle"])


def test_whole_life_of_a_relay(x_sandbox, store, frozen_clock, lambda_context, caplog, capsys):
    caplog.set_level(logging.DEBUG)
    settings = Settings.from_env()
    connected = connect(store, settings, "relay_one", "one@example.net", x_sandbox)
    user_id = x_sandbox.users["relay_one"].id
    grant = store.grant(connected.relay_id, "x")
    assert grant["status"] == "active" and grant["cap"] == 3 and grant["email"] == "one@example.net"
    issued = x_sandbox.issued_tokens()
    custody = store.custody(grant["grant_id"])  # the tokens are held apart from the grant, under its id
    assert custody["relay_id"] == connected.relay_id and "tokens" not in grant
    assert issued and not any(t.encode() in custody["tokens"] for t in issued)  # encrypted at rest

    # The dashboard link speaks for this relay only; approvals enqueue one job each, once.
    assert relays.relay_from_token(Store(settings.table_name), settings, settings.event(), connected.dashboard_token) == connected.relay_id
    for post_id in ("1000", "1001", "1002", "1003", "1004"):
        propose(store, connected.relay_id, post_id, frozen_clock)
        assert relays.decide(store, settings, settings.event(), relay_id=connected.relay_id, action="approve", network="x", post_id=post_id) == "approved"
    assert relays.decide(store, settings, settings.event(), relay_id=connected.relay_id, action="approve", network="x", post_id="1000") == "approved"
    jobs = drain(settings.publish_queue_url)
    assert len(jobs) == 5

    # Publish: three fit under the cap, the rest are skipped with the reason; a redelivery changes nothing.
    publish = load_function("publish")
    frozen_clock.advance(hours=3)  # the 2-hour access token has expired: publish refreshes it first
    assert publish.handler(sqs_event(*jobs, jobs[0]), lambda_context) == {"batchItemFailures": []}
    assert {(u, p) for u, p in x_sandbox.retweets} == {(user_id, "1000"), (user_id, "1001"), (user_id, "1002")}
    ledger = {i["post_id"]: i for i in store.relay_items(connected.relay_id, "LEDGER#")}
    assert [ledger[p]["status"] for p in sorted(ledger)] == ["published"] * 3 + ["skipped"] * 2
    assert ledger["1004"]["reason"] == "cap of 3 reached"
    assert store.grant(connected.relay_id, "x")["published_count"] == 3
    assert not any(r.duplicate for r in x_sandbox.repost_log)

    # End of event: a proposal nobody decided is recorded as expired (no round runs after the end); then
    # revoked at X, verified, grant and tokens gone, one receipt, e-mailed once.
    propose(store, connected.relay_id, "1005", frozen_clock)
    frozen_clock.advance(hours=6)
    x = x_network(settings)
    expire_fn = load_function("expire")
    swept = expire_fn.handler({"action": "sweep"}, lambda_context)
    assert swept["queued"] == 1 and swept["proposals_expired"] == 1
    assert store.get(f"RELAY#{connected.relay_id}", "PROPOSAL#x#1005")["status"] == "expired"
    assert deliver(settings.end_grant_queue_url, expire_fn.handler, lambda_context) == (1, [])
    assert not x_sandbox.active_grants("relay_one")
    assert all(not x_sandbox.is_token_active(t) for t in x_sandbox.issued_tokens() if t != "bearer")
    assert store.grant(connected.relay_id, "x") is None
    receipt = receipt_of(store, connected.relay_id)
    assert receipt["status"] == "done" and receipt["confirmed"] is True
    assert len(receipt["published"]) == 3
    assert not any("tokens" in i or i.get("kind") == "custody" for i in store.table.scan()["Items"])
    # A TTL record arriving after the sweep finds the receipt and does nothing more.
    assert expire.end_grant(store, settings, settings.event(), x, grant, "access expired") == "already"
    assert len(sent_mail("one@example.net", "revoked")) == 1

    # Tokens never reached a log line or stdout.
    logged = caplog.text + capsys.readouterr().out
    for token in x_sandbox.issued_tokens():
        assert token not in logged


def test_revoked_elsewhere_ends_the_grant_with_a_receipt_that_says_so(x_sandbox, store, frozen_clock, lambda_context):
    settings = Settings.from_env()
    connected = connect(store, settings, "relay_two", None, x_sandbox)
    # The relay removes the app in X's settings: every token of the grant dies there.
    for token in [t for t in x_sandbox.issued_tokens() if t != "bearer"]:
        requests.post(x_sandbox.revoke_url, data={"token": token}, auth=("cid", "csecret"), timeout=5)
    assert not x_sandbox.active_grants("relay_two")
    job = {"relay_id": connected.relay_id, "network": "x", "post_id": "1005"}
    assert load_function("publish").handler(sqs_event(job), lambda_context) == {"batchItemFailures": []}
    assert store.grant(connected.relay_id, "x") is None  # no token kept for a dead grant
    ledger = store.get(f"RELAY#{connected.relay_id}", "LEDGER#x#1005")
    assert (ledger["status"], ledger["reason"]) == ("skipped", "access was revoked at X")
    receipt = receipt_of(store, connected.relay_id)
    assert (receipt["status"], receipt["reason"], receipt["confirmed"]) == ("done", "access was revoked at X", True)


def test_ttl_stream_record_ends_the_grant_through_the_same_path(x_sandbox, store, frozen_clock, lambda_context, caplog):
    settings = Settings.from_env()
    connected = connect(store, settings, "relay_three", "three@example.net", x_sandbox)
    grant_item = store.table.get_item(Key={"pk": f"RELAY#{connected.relay_id}", "sk": "GRANT#x"})["Item"]
    store.delete(f"RELAY#{connected.relay_id}", "GRANT#x")  # as the TTL would
    record = ttl_removal(grant_item)
    assert load_function("expire").handler({"Records": [record]}, lambda_context) == {"batchItemFailures": []}
    assert ttl_outcomes(caplog) == ["ended"]
    assert not x_sandbox.active_grants("relay_three")
    receipt = receipt_of(store, connected.relay_id)
    assert receipt["status"] == "done" and receipt["reason"] == "access expired"
    assert load_function("expire").handler({"Records": [record]}, lambda_context) == {"batchItemFailures": []}
    assert ttl_outcomes(caplog) == ["ended", "already"]  # once


def test_a_ttl_record_that_fails_is_a_batch_item_failure_and_the_others_end(
    x_sandbox, store, frozen_clock, lambda_context, caplog
):
    settings = Settings.from_env()
    connected = connect(store, settings, "relay_four", "four@example.net", x_sandbox)
    grant_item = store.table.get_item(Key={"pk": f"RELAY#{connected.relay_id}", "sk": "GRANT#x"})["Item"]
    store.delete(f"RELAY#{connected.relay_id}", "GRANT#x")  # as the TTL would
    unreadable = ttl_removal({"pk": "RELAY#r-unknown", "sk": "GRANT#x", "kind": "grant"}, sequence="101")
    records = [unreadable, ttl_removal(grant_item, sequence="102")]
    assert load_function("expire").handler({"Records": records}, lambda_context) == {
        "batchItemFailures": [{"itemIdentifier": "101"}]
    }
    assert ttl_outcomes(caplog) == ["ended"]
    assert not x_sandbox.active_grants("relay_four")


def test_provider_down_during_the_sweep_is_retried_and_counted_until_it_recovers(
    x_sandbox, store, frozen_clock, lambda_context, capsys
):
    """The sweep only queues; a grant whose revocation fails is a batch item failure, retried until X recovers."""
    settings = Settings.from_env()
    relay_ids = [connect(store, settings, name, None, x_sandbox).relay_id for name in ("relay_four", "relay_five")]
    capsys.readouterr()
    x_sandbox.fail_next("POST", "/2/oauth2/revoke", status=503, times=2)
    expire_fn = load_function("expire")
    assert expire_fn.handler({"action": "sweep"}, lambda_context) == {"queued": 2, "batches": 1, "unqueued": 0, "proposals_expired": 0}
    delivered, failed = deliver(settings.end_grant_queue_url, expire_fn.handler, lambda_context)
    assert (delivered, len(failed)) == (2, 2)  # both messages return to the queue
    emitted = [json.loads(line) for line in capsys.readouterr().out.splitlines() if line.startswith('{"_aws"')]
    assert any(m.get("RevocationFailed") for m in emitted)  # ops see it while it fails
    assert len(list(store.grants())) == 2  # nothing deleted before it is revoked
    assert deliver(settings.end_grant_queue_url, expire_fn.handler, lambda_context) == (2, [])
    assert not x_sandbox.active_grants("relay_four") and not x_sandbox.active_grants("relay_five")
    assert list(store.grants()) == []
    receipts = [receipt_of(store, relay_id) for relay_id in relay_ids]
    assert all(r["confirmed"] is True and r["reason"] == "the event ended" for r in receipts)


def test_sweep_and_ttl_meeting_on_one_grant_revoke_it_once(x_sandbox, store, frozen_clock, lambda_context):
    """The sweep is ending a grant when the TTL record of the same grant arrives: the latecomer backs off."""
    from relaycast.networks import Transient

    settings = Settings.from_env()
    connected = connect(store, settings, "relay_seven", "seven@example.net", x_sandbox)
    grant = store.grant(connected.relay_id, "x")
    x = x_network(settings)
    # The sweep has claimed the grant and is still at work (its lease runs).
    assert store.claim_receipt({"pk": f"RELAY#{connected.relay_id}", "sk": receipt_sk("x", grant["grant_id"]), "kind": "receipt",
                                "relay_id": connected.relay_id, "network": "x"}) == "claimed"
    with pytest.raises(Transient):
        expire.end_grant(store, settings, settings.event(), x, grant, "access expired")  # retried later
    assert x_sandbox.active_grants("relay_seven")  # not revoked twice meanwhile
    frozen_clock.advance(minutes=6)  # the sweep died: its lease ran out, the retry takes over
    assert expire.end_grant(store, settings, settings.event(), x, grant, "access expired") == "ended"
    assert expire.end_grant(store, settings, settings.event(), x, grant, "the event ended") == "already"
    revoked = [r for r in x_sandbox.revocations if r.username == "relay_seven" and r.whole_grant]
    assert len(revoked) == 1
    assert len(sent_mail("seven@example.net", "revoked")) == 1


def test_a_proposal_whose_access_ended_is_no_longer_offered(x_sandbox, store, frozen_clock):
    settings = Settings.from_env()
    config = settings.event()
    connected = connect(store, settings, "relay_gone", None, x_sandbox)
    propose(store, connected.relay_id, "1100", frozen_clock)
    assert [p["status"] for p in relays.dashboard(store, config, connected.relay_id)["proposals"]] == ["pending"]
    assert expire.end_grant(store, settings, config, x_network(settings), store.grant(connected.relay_id, "x"),
                            "you revoked access from your dashboard") == "ended"
    assert [p["status"] for p in relays.dashboard(store, config, connected.relay_id)["proposals"]] == ["expired"]
