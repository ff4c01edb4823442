"""Publishing within the platforms' limits: budgets from the policy table, deferral instead of 429, the
platform's own 429 honoured without burning a retry, and the relay's jitter."""

import dataclasses
import json
from datetime import timedelta

import boto3
import pytest

from handler_support import connect, load_function, sqs_event
from relaycast import credentials, publish, quiet
from relaycast.networks.factory import x_network
from relaycast.policy import Limit, policy
from relaycast.publish import Deferred, PublishJob
from relaycast.settings import Settings


def queued(queue_url):
    attrs = boto3.client("sqs").get_queue_attributes(QueueUrl=queue_url, AttributeNames=["All"])["Attributes"]
    return int(attrs["ApproximateNumberOfMessages"]), int(attrs["ApproximateNumberOfMessagesDelayed"])


@pytest.fixture
def relay(x_sandbox, store):
    settings = Settings.from_env()
    return settings, connect(store, settings, "relay_budget", None, x_sandbox)


def job(relay_id, post_id):
    return PublishJob(relay_id=relay_id, network="x", post_id=post_id)


def test_the_policy_table_holds_the_platforms_limits():
    assert policy("x").per_user == Limit(50, 900) and policy("x").per_app == Limit(10_000, 86_400, sliding=True)
    assert policy("mastodon").per_user == Limit(300, 300)
    assert "auto" not in policy("x").modes and "auto" in policy("mastodon").modes


def test_a_spent_user_budget_defers_without_calling_x_and_the_window_reset_publishes(relay, store, x_sandbox, frozen_clock, monkeypatch):
    settings, connected = relay
    # Two reposts per 15 minutes, for the test.
    monkeypatch.setattr(publish, "policy", lambda network: dataclasses.replace(policy(network), per_user=Limit(2, 900)))
    x = x_network(settings)
    for post in ("1000", "1001"):
        assert publish.publish(store, settings, settings.event(), x, job(connected.relay_id, post)) == "published"
    calls_before = len(x_sandbox.repost_log)
    with pytest.raises(Deferred) as deferred:
        publish.publish(store, settings, settings.event(), x, job(connected.relay_id, "1002"))
    assert 0 < deferred.value.seconds <= 900 and len(x_sandbox.repost_log) == calls_before  # no request sent
    # The reservation waits; the app's budget gave back its unit (2 used, not 3).
    assert store.get(f"RELAY#{connected.relay_id}", "LEDGER#x#1002")["status"] == "publishing"
    assert _used(store)["QUOTA#x#app"] == 2
    frozen_clock.advance(seconds=deferred.value.seconds)
    assert publish.publish(store, settings, settings.event(), x, job(connected.relay_id, "1002")) == "published"


def test_the_platforms_429_defers_until_its_reset(relay, store, x_sandbox, frozen_clock):
    settings, connected = relay
    x_sandbox.fail_next("POST", "/2/users/", status=429)
    with pytest.raises(Deferred) as deferred:
        publish.publish(store, settings, settings.event(), x_network(settings), job(connected.relay_id, "1003"))
    assert deferred.value.reason == "the platform asked to wait" and deferred.value.seconds >= 1


def _used(store):
    """Calls counted per budget: a fixed window's `used`, or the sum of a sliding budget's buckets."""
    return {i["pk"]: int(i.get("used", sum(i.get("buckets", {}).values()))) for i in store.table.scan()["Items"]
            if i["pk"].startswith("QUOTA#")}


def test_a_429_gives_its_units_back_and_holds_the_relays_account_until_its_reset(relay, store, x_sandbox, frozen_clock):
    """After X's 429 the relay's next job waits for X's reset without asking X again; other relays go on."""
    settings, connected = relay
    other = connect(store, settings, "relay_other", None, x_sandbox)
    x = x_network(settings)
    reset_at = int(frozen_clock.at.timestamp()) + 600  # within the relay's 15-minute window: their own limit
    x_sandbox.fail_next("POST", "/2/users/", status=429, reset_at=reset_at)
    with pytest.raises(Deferred) as first:
        publish.publish(store, settings, settings.event(), x, job(connected.relay_id, "1005"))
    assert first.value.seconds == 600
    assert set(_used(store).values()) == {0}  # nothing was posted: every unit went back
    calls = len(x_sandbox.repost_log)
    frozen_clock.advance(seconds=300)
    with pytest.raises(Deferred) as second:
        publish.publish(store, settings, settings.event(), x, job(connected.relay_id, "1006"))
    assert second.value.seconds == 300 and len(x_sandbox.repost_log) == calls  # held: X was not asked
    assert publish.publish(store, settings, settings.event(), x, job(other.relay_id, "1006")) == "published"
    frozen_clock.advance(seconds=300)
    for post in ("1005", "1006"):
        assert publish.publish(store, settings, settings.event(), x, job(connected.relay_id, post)) == "published"


def test_a_429_longer_than_a_relays_window_holds_the_apps_budget_across_our_windows(relay, store, x_sandbox, frozen_clock):
    """X's 24-hour post cap counts from its own start: its reset holds every relay, even after our day turns."""
    settings, connected = relay
    other = connect(store, settings, "relay_other", None, x_sandbox)
    x = x_network(settings)
    frozen_clock.at = frozen_clock.at.replace(hour=22)
    reset_at = int(frozen_clock.at.timestamp()) + 5 * 3600  # 03:00 the next day, past our UTC day
    x_sandbox.fail_next("POST", "/2/users/", status=429, reset_at=reset_at)
    with pytest.raises(Deferred):
        publish.publish(store, settings, settings.event(), x, job(connected.relay_id, "1008"))
    calls = len(x_sandbox.repost_log)
    frozen_clock.advance(hours=3)  # 01:00: a new day for our budget, not for X's
    with pytest.raises(Deferred) as held:
        publish.publish(store, settings, settings.event(), x, job(other.relay_id, "1009"))
    assert held.value.seconds == 2 * 3600 and len(x_sandbox.repost_log) == calls
    assert set(_used(store).values()) == {0}
    frozen_clock.advance(hours=2)
    assert publish.publish(store, settings, settings.event(), x, job(other.relay_id, "1009")) == "published"


def test_a_deferred_job_goes_back_to_the_queue_delayed_as_a_new_message(relay, store, x_sandbox, frozen_clock, lambda_context, stack_env):
    settings, connected = relay
    x_sandbox.fail_next("POST", "/2/users/", status=429)
    handler = load_function("publish").handler
    answer = handler(sqs_event({"relay_id": connected.relay_id, "network": "x", "post_id": "1004"}), lambda_context)
    assert answer["batchItemFailures"] == []  # the message is done: no retry burnt
    assert queued(stack_env["PUBLISH_QUEUE_URL"]) == (0, 1)  # the job waits in the queue, delayed
    # The idempotency record was not kept: the delayed job will really run.
    assert not [i for i in store.table.scan()["Items"] if i["pk"] == "IDEMPOTENCY#publish"]


def test_a_wait_past_the_end_of_access_is_settled_by_the_end_of_access(relay, store, x_sandbox, frozen_clock):
    """The job is not sent back; revoking at the end asks X whether the relay reposted it, then settles it."""
    from relaycast import expire

    settings, connected = relay
    config = settings.event()
    x = x_network(settings)
    for post, reposted in (("1005", False), ("1006", True)):
        store.reserve_publish(connected.relay_id, "x", post, 3)
    x.repost(credentials.access_token(store, settings, config, x, store.grant(connected.relay_id, "x")), store.grant(connected.relay_id, "x")["user_id"], "1006")
    frozen_clock.at = config.access_ends - timedelta(minutes=5)
    outcome = publish.defer(store, settings, config, job(connected.relay_id, "1005"), Deferred(900, "budget x spent"))
    assert outcome.startswith("left to the end of access")
    assert store.get(f"RELAY#{connected.relay_id}", "LEDGER#x#1005")["status"] == "publishing"
    assert expire.end_grant(store, settings, config, x, store.grant(connected.relay_id, "x"), "the event ended") == "ended"
    skipped = store.get(f"RELAY#{connected.relay_id}", "LEDGER#x#1005")
    published = store.get(f"RELAY#{connected.relay_id}", "LEDGER#x#1006")
    assert skipped["status"] == "skipped" and skipped["reason"] == "access ended before it was published"
    assert published["status"] == "published"  # X said the relay had reposted it: the ledger agrees
    (receipt,) = store.receipts(connected.relay_id, "x")
    assert [p["post_id"] for p in receipt["published"]] == ["1006"]
    # The token refreshed to settle (the clock is past its 2 hours) was the one revoked: nothing stays active.
    assert not x_sandbox.active_grants("relay_budget")
    assert not [t for t in x_sandbox.issued_tokens() if t != "bearer" and x_sandbox.is_token_active(t)]


def test_an_open_reservation_x_cannot_tell_about_yet_is_asked_again_until_the_retry_budget_is_spent(relay, store, x_sandbox, frozen_clock):
    """At the end of access a 5xx (or the app's 429) on the reposters check retries the end; the last try
    settles it with the reason."""
    from relaycast import expire
    from relaycast.networks import Transient

    settings, connected = relay
    config = settings.event()
    x = x_network(settings)
    store.reserve_publish(connected.relay_id, "x", "1007", 3)
    frozen_clock.at = config.access_ends
    x_sandbox.fail_next("GET", "/2/tweets/1007/retweeted_by", status=503, times=2)  # the relay's token, then the app's
    with pytest.raises(Transient):
        expire.end_grant(store, settings, config, x, store.grant(connected.relay_id, "x"), "the event ended")
    assert store.get(f"RELAY#{connected.relay_id}", "LEDGER#x#1007")["status"] == "publishing"  # kept for the retry
    assert store.grant(connected.relay_id, "x") is not None  # not ended: the next pass takes over
    x_sandbox.fail_next("GET", "/2/tweets/1007/retweeted_by", status=503, times=2)
    assert expire.end_grant(store, settings, config, x, store.grant(connected.relay_id, "x"), "the event ended", give_up=True) == "ended"
    settled = store.get(f"RELAY#{connected.relay_id}", "LEDGER#x#1007")
    assert settled["status"] == "skipped" and "could not be confirmed" in settled["reason"]


def test_each_relay_post_gets_its_own_stable_jitter(stack_env):
    from relaycast.config import parse_event_config
    from relaycast.quiet import jitter

    from handler_support import EVENT

    config = parse_event_config({**EVENT, "publish_jitter_seconds": 600})
    delays = [jitter(config, f"x-{i}", "1000") for i in range(200)]
    assert all(0 <= d <= 600 for d in delays) and len(set(delays)) > 150  # spread, not a burst
    assert delays == [jitter(config, f"x-{i}", "1000") for i in range(200)]  # the same on a retry
    assert jitter(parse_event_config({**EVENT, "publish_jitter_seconds": 0}), "x-1", "1000") == 0


def test_an_approval_is_enqueued_with_the_relays_jitter(relay, store, stack_env, monkeypatch):
    from relaycast import relays
    from relaycast.config import parse_event_config

    from handler_support import EVENT

    settings, connected = relay
    config = parse_event_config({**EVENT, "publish_jitter_seconds": 600})
    store.put_new({"pk": f"RELAY#{connected.relay_id}", "sk": "PROPOSAL#x#1006", "kind": "proposal", "relay_id": connected.relay_id,
                   "network": "x", "post_id": "1006", "status": "pending", "proposal_expires_at": 9_999_999_999})
    sent = []
    real = relays.aws.client("sqs")
    monkeypatch.setattr(real, "send_message", lambda **kw: sent.append(kw) or {"MessageId": "m"})
    relays.decide(store, settings, config, relay_id=connected.relay_id, action="approve", network="x", post_id="1006")
    assert sent[0]["DelaySeconds"] == quiet.jitter(config, connected.relay_id, "1006")
    assert json.loads(sent[0]["MessageBody"]) == {"relay_id": connected.relay_id, "network": "x", "post_id": "1006"}
