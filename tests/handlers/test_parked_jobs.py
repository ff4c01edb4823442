"""Waits longer than SQS's 15-minute delay: parked in the table by due time, released by the schedule every few
minutes — all of the time lane, and of the app budget's lane only as many as the budget has room for. A job leaves
the table only once SQS has it."""

from __future__ import annotations

import json
from datetime import timedelta

import boto3
import pytest

from handler_support import connect, load_function, sqs_event
from relaycast import aws, publish
from relaycast.networks.factory import x_network
from relaycast.publish import Deferred, PublishJob
from relaycast.settings import Settings

DAY = 24 * 3600


@pytest.fixture
def settings(stack_env, x_sandbox):
    return Settings.from_env()


def messages(queue_url):
    got = boto3.client("sqs").receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10).get("Messages", [])
    return [json.loads(m["Body"]) for m in got]


def job(relay_id, post_id):
    return PublishJob(relay_id=relay_id, network="x", post_id=post_id)


def test_a_spent_app_budget_parks_the_job_in_its_lane(store, settings, x_sandbox, frozen_clock, lambda_context, monkeypatch):
    connected = connect(store, settings, "relay_parked", None, x_sandbox)
    for hour in range(3):  # the app's 24 hours hold 3 posts, all used this morning
        frozen_clock.at = frozen_clock.at.replace(hour=9 + hour)
        store.take_quota("x#app", 3, DAY, sliding=True)
    monkeypatch.setattr(publish, "policy", _app_cap(3))
    from relaycast import crypto

    unsealed = []
    real_unseal = crypto.unseal
    monkeypatch.setattr(crypto, "unseal", lambda *a, **k: unsealed.append(1) or real_unseal(*a, **k))
    answer = load_function("publish").handler(sqs_event({"relay_id": connected.relay_id, "network": "x", "post_id": "1001"}),
                                              lambda_context)
    assert answer["batchItemFailures"] == [] and x_sandbox.repost_log == []
    assert unsealed == []  # a job that must wait never reads the relay's token (no KMS call, no refresh)
    (parked,) = store.query("PARKED#x#app")
    assert parked["due"] == int(frozen_clock.at.replace(day=2, hour=10).timestamp())  # the 09:00 post leaves the count
    assert store.get(f"RELAY#{connected.relay_id}", "LEDGER#x#1001")["status"] == "publishing"  # its slot is held
    assert messages(settings.publish_queue_url) == []


def _app_cap(calls):
    import dataclasses

    from relaycast.policy import Limit, policy

    return lambda network: dataclasses.replace(policy(network), per_app=Limit(calls, DAY, sliding=True)) if network == "x" else policy(network)


def test_the_release_sends_no_more_of_the_app_lane_than_the_budget_has_room_for(store, settings, frozen_clock, monkeypatch):
    monkeypatch.setattr(publish, "policy", _app_cap(10))
    now = int(frozen_clock.at.timestamp())
    for i in range(5):
        body = job(f"x-{i}", "1001")
        store.park("x#app", now - 60 + i, body.model_dump(), body.model_dump_json(), expires_at=now + DAY)
    store.park("time", now + 3600, job("x-9", "1002").model_dump(), job("x-9", "1002").model_dump_json(), expires_at=now + DAY)
    for _ in range(8):
        store.take_quota("x#app", 10, DAY, sliding=True)  # room for 2

    released = publish.release(store, settings, settings.event())
    assert released.model_dump() == {"released": 2, "unqueued": 0, "full": ["x#app"]}
    assert sorted(m["relay_id"] for m in messages(settings.publish_queue_url)) == ["x-0", "x-1"]  # the earliest due
    assert [i["job"] for i in store.query("PARKED#x#app")] == [job(f"x-{i}", "1001").model_dump_json() for i in (2, 3, 4)]
    assert len(list(store.query("PARKED#time"))) == 1  # not due yet

    for _ in range(2):  # the two released jobs publish: the room is spent again
        store.take_quota("x#app", 10, DAY, sliding=True)
    frozen_clock.advance(hours=1)
    assert publish.release(store, settings, settings.event()).released == 1  # the time lane; the app's still full
    assert list(store.query("PARKED#time")) == []


def test_a_job_sqs_refuses_stays_parked_for_the_next_release(store, settings, frozen_clock, monkeypatch):
    now = int(frozen_clock.at.timestamp())
    for i in range(3):
        body = job(f"x-{i}", "1001")
        store.park("time", now - i, body.model_dump(), body.model_dump_json(), expires_at=now + DAY)
    sqs = aws.client("sqs")
    real = sqs.send_message_batch

    def refuse_x1(**request):
        kept = [e for e in request["Entries"] if json.loads(e["MessageBody"])["relay_id"] != "x-1"]
        answer = real(**{**request, "Entries": kept}) if kept else {"Successful": []}
        refused = [e for e in request["Entries"] if e not in kept]
        return {**answer, "Failed": [{"Id": e["Id"], "SenderFault": False, "Code": "InternalError"} for e in refused]}

    monkeypatch.setattr(sqs, "send_message_batch", refuse_x1)
    released = publish.release(store, settings, settings.event())
    assert (released.released, released.unqueued) == (2, 1)
    assert [json.loads(i["job"])["relay_id"] for i in store.query("PARKED#time")] == ["x-1"]
    monkeypatch.setattr(sqs, "send_message_batch", real)
    assert publish.release(store, settings, settings.event()).released == 1
    assert sorted(m["relay_id"] for m in messages(settings.publish_queue_url)) == ["x-0", "x-1", "x-2"]


def test_a_wait_past_the_end_of_access_is_never_parked(store, settings, x_sandbox, frozen_clock):
    connected = connect(store, settings, "relay_late", None, x_sandbox)
    config = settings.event()
    frozen_clock.at = config.access_ends - timedelta(hours=1)
    outcome = publish.defer(store, settings, config, job(connected.relay_id, "1001"), Deferred(2 * 3600, "the relay's quiet hours"))
    assert outcome == "skipped:access ends first (the relay's quiet hours)"
    assert list(store.query("PARKED#time")) == []


def test_the_release_is_the_only_other_event_publish_accepts(store, settings, lambda_context):
    handler = load_function("publish").handler
    with pytest.raises(Exception):  # neither an SQS batch nor the release: Lambda reports the error
        handler({"action": "release", "extra": 1}, lambda_context)
    assert list(store.query("PARKED#time")) == []


def test_a_published_job_after_a_release_spends_the_room_it_was_released_for(store, settings, x_sandbox, frozen_clock,
                                                                             lambda_context, monkeypatch):
    monkeypatch.setattr(publish, "policy", _app_cap(1))
    connected = connect(store, settings, "relay_room", None, x_sandbox)
    handler = load_function("publish").handler
    x = x_network(settings)
    assert publish.publish(store, settings, settings.event(), x, job(connected.relay_id, "1001")) == "published"
    handler(sqs_event(job(connected.relay_id, "1002").model_dump()), lambda_context)  # parked: the 1 post is used
    (parked,) = store.query("PARKED#x#app")
    frozen_clock.at = frozen_clock.at.fromtimestamp(parked["due"], frozen_clock.at.tzinfo)
    assert handler({"action": "release"}, lambda_context)["released"] == 1
    (message,) = messages(settings.publish_queue_url)
    handler(sqs_event(message), lambda_context)
    assert [r.tweet_id for r in x_sandbox.repost_log] == ["1001", "1002"]
    assert store.get(f"RELAY#{connected.relay_id}", "LEDGER#x#1002")["status"] == "published"


def test_a_burst_of_due_jobs_goes_out_over_several_releases(store, settings, frozen_clock, monkeypatch):
    """Every relay's night ends at 07:00: a release sends RELEASE_MOST of the lane, the next one the rest."""
    monkeypatch.setattr(publish, "RELEASE_MOST", 3)
    now = int(frozen_clock.at.timestamp())
    for i in range(5):
        body = job(f"x-{i}", "1001")
        store.park("time", now, body.model_dump(), body.model_dump_json(), expires_at=now + DAY)
    first = publish.release(store, settings, settings.event())
    assert (first.released, first.full) == (3, ["time"])
    assert publish.release(store, settings, settings.event()).model_dump() == {"released": 2, "unqueued": 0, "full": []}
    assert list(store.query("PARKED#time")) == []
