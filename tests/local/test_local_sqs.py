"""SQS -> Lambda through the runtime's poller: partial batch failures, the visibility timeout on the simulated
clock, moto's redrive to the DLQ after maxReceiveCount; moto's own synchronous trigger stays off."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from aws_lambda_powertools.utilities.parser.models import SqsModel

pytestmark = pytest.mark.xdist_group("relaycast-local")


def test_moto_does_not_deliver_on_send(cloud, stack, log):
    before = len(cloud.invocations)
    cloud.client("sqs").send_message(QueueUrl=stack.queue_url("PublishQueue"), MessageBody=json.dumps({"id": "early"}))

    assert len(cloud.invocations) == before and log("SQS") == []
    report = cloud.pump()
    assert report.invocations == 1
    assert [i["sk"]["S"] for i in log("SQS")] == ["early"]
    assert cloud.pump().invocations == 0  # drained


def test_partial_batch_failure_then_redrive_to_the_dlq(cloud, stack, sim, log):
    sqs = cloud.client("sqs")
    queue, dlq = stack.queue_url("PublishQueue"), stack.queue_url("PublishDlq")
    for message_id, fail in [("a", False), ("b", True), ("c", False)]:
        sqs.send_message(QueueUrl=queue, MessageBody=json.dumps({"id": message_id, "fail": fail}))

    first = cloud.pump()
    assert [(d.records, d.failed) for d in first.deliveries] == [(3, 1)]
    assert {i["sk"]["S"] for i in log("SQS")} >= {"a", "c"}
    assert cloud.in_flight() == {queue: 1}
    assert cloud.pump().invocations == 0  # the failure waits for the visibility timeout (60 s) ...

    sim.advance(by=timedelta(seconds=59))
    assert cloud.pump().invocations == 0
    sim.advance(by=timedelta(seconds=1))  # ... of simulated time
    second = cloud.pump()
    assert [(d.records, d.failed) for d in second.deliveries] == [(1, 1)]  # receive 2 of maxReceiveCount 2

    sim.advance(by=timedelta(seconds=60))
    assert cloud.pump().invocations == 0  # moto's redrive moved it on the next receive
    moved = sqs.receive_message(QueueUrl=dlq, MaxNumberOfMessages=10).get("Messages", [])
    assert [json.loads(m["Body"])["id"] for m in moved] == ["b"]
    attributes = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["All"])["Attributes"]
    assert attributes["ApproximateNumberOfMessages"] == "0"
    assert attributes["ApproximateNumberOfMessagesNotVisible"] == "0"


def test_the_event_has_lambdas_sqs_shape(cloud, stack, log):
    cloud.client("sqs").send_message(QueueUrl=stack.queue_url("PublishQueue"), MessageBody=json.dumps({"id": "shape"}))
    assert cloud.pump().invocations == 1
    record = json.loads(next(i for i in log("SQS") if i["sk"]["S"] == "shape")["record"]["S"])
    SqsModel.model_validate({"Records": [record]})
    assert record["attributes"]["ApproximateReceiveCount"] == "1"
    assert record["eventSource"] == "aws:sqs"


def test_a_delayed_message_waits_on_the_simulated_clock(cloud, stack, sim, log):
    sqs = cloud.client("sqs")
    queue = stack.queue_url("PublishQueue")
    sqs.send_message(QueueUrl=queue, MessageBody=json.dumps({"id": "later"}), DelaySeconds=600)
    assert cloud.pump().invocations == 0
    attributes = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["All"])["Attributes"]
    assert attributes["ApproximateNumberOfMessagesDelayed"] == "1"
    sim.advance(by=timedelta(seconds=599))
    assert cloud.pump().invocations == 0  # ten minutes of event time, not of wall time ...
    sim.advance(by=timedelta(seconds=1))
    assert cloud.pump().invocations == 1  # ... and no real minute waited
    assert "later" in {i["sk"]["S"] for i in log("SQS")}
