"""The TTL sweeper deletes as the TTL principal; the stream mapping's FilterCriteria (TTL principal and
OldImage.kind = grant) let exactly those deletions reach the function; ordinary deletes carry no userIdentity."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from aws_lambda_powertools.utilities.parser.models import DynamoDBStreamModel

pytestmark = pytest.mark.xdist_group("relaycast-local")


def _item(pk, kind, expires_at):
    return {"pk": {"S": pk}, "sk": {"S": "GRANT#x"}, "kind": {"S": kind}, "expires_at": {"N": str(expires_at)}}


def test_ttl_deletions_reach_the_function_ordinary_deletes_do_not(cloud, stack, sim, log):
    ddb = cloud.client("dynamodb")
    table = stack.table_name("Table")
    end = int((sim.now() + timedelta(hours=1)).timestamp())
    ddb.put_item(TableName=table, Item=_item("RELAY#expiring", "grant", end))
    ddb.put_item(TableName=table, Item=_item("RELAY#revoked", "grant", end))
    ddb.put_item(TableName=table, Item=_item("STATE#s1", "state", end))
    ddb.put_item(TableName=table, Item=_item("RELAY#later", "grant", end + 86_400))
    ddb.delete_item(TableName=table, Key={"pk": {"S": "RELAY#revoked"}, "sk": {"S": "GRANT#x"}})

    assert cloud.sweep_ttl() == []  # nothing expired yet
    report = cloud.pump()
    assert report.invocations == 0 and report.filtered_out == 5  # 4 inserts + 1 ordinary delete
    assert log("STREAM") == []

    sim.advance(by=timedelta(hours=1))
    swept = cloud.sweep_ttl()
    assert sorted(key["pk"]["S"] for _, key in swept) == ["RELAY#expiring", "STATE#s1"]
    report = cloud.pump()
    assert [d.records for d in report.deliveries] == [1] and report.filtered_out == 1  # the state item

    (seen,) = log("STREAM")
    record = json.loads(seen["record"]["S"])
    assert record["eventName"] == "REMOVE"
    assert record["userIdentity"] == {"type": "Service", "principalId": "dynamodb.amazonaws.com"}
    assert record["dynamodb"]["OldImage"]["pk"] == {"S": "RELAY#expiring"}
    assert record["awsRegion"] == cloud.region
    DynamoDBStreamModel.model_validate({"Records": [record]})

    remaining = ddb.scan(TableName=table)["Items"]
    assert "RELAY#later" in {i["pk"]["S"] for i in remaining}

    # The stream as moto serves it: only the TTL deletions carry a userIdentity.
    streams = cloud.client("dynamodbstreams")
    arn = ddb.describe_table(TableName=table)["Table"]["LatestStreamArn"]
    shard = streams.describe_stream(StreamArn=arn)["StreamDescription"]["Shards"][0]["ShardId"]
    iterator = streams.get_shard_iterator(StreamArn=arn, ShardId=shard, ShardIteratorType="TRIM_HORIZON")["ShardIterator"]
    removes = [r for r in streams.get_records(ShardIterator=iterator)["Records"] if r["eventName"] == "REMOVE"]
    by_key = {r["dynamodb"]["Keys"]["pk"]["S"]: r.get("userIdentity") for r in removes}
    assert by_key["RELAY#revoked"] is None
    assert by_key["RELAY#expiring"] == {"Type": "Service", "PrincipalId": "dynamodb.amazonaws.com"}


def test_a_renewed_item_is_not_swept(cloud, stack, sim):
    ddb = cloud.client("dynamodb")
    table = stack.table_name("Table")
    ddb.put_item(TableName=table, Item=_item("RELAY#renewed", "grant", int(sim.now().timestamp()) + 10))
    ddb.update_item(
        TableName=table,
        Key={"pk": {"S": "RELAY#renewed"}, "sk": {"S": "GRANT#x"}},
        UpdateExpression="SET expires_at = :e",
        ExpressionAttributeValues={":e": {"N": str(int(sim.now().timestamp()) + 3600)}},
    )
    sim.advance(by=timedelta(seconds=60))
    assert cloud.sweep_ttl() == []
    cloud.pump()


def test_a_failing_batch_is_retried_per_pump_then_skipped_after_maximum_retry_attempts(cloud, stack, sim, log):
    ddb = cloud.client("dynamodb")
    table = stack.table_name("Table")
    now = int(sim.now().timestamp())
    poisoned = {**_item("RELAY#poison", "grant", now), "fail": {"BOOL": True}}
    ddb.put_item(TableName=table, Item=poisoned)
    cloud.pump()
    cloud.sweep_ttl()

    attempts = [cloud.pump() for _ in range(4)]  # MaximumRetryAttempts = 2: the first try and two retries

    assert [[d.error for d in a.deliveries] for a in attempts] == [["RuntimeError"], ["RuntimeError"], ["RuntimeError"], []]
    assert attempts[2].skipped_records == 1
    (failure,) = cloud.client("sqs").receive_message(QueueUrl=stack.queue_url("ExpireDlq"))["Messages"]
    info = json.loads(failure["Body"])
    assert info["requestContext"]["condition"] == "RetryAttemptsExhausted"
    assert info["DDBStreamBatchInfo"]["batchSize"] == 1
    ddb.put_item(TableName=table, Item=_item("RELAY#after", "grant", now))
    cloud.sweep_ttl()
    assert [d.records for d in cloud.pump().deliveries] == [1]  # the stream flows again
    assert "RELAY#after" in {json.loads(i["record"]["S"])["dynamodb"]["Keys"]["pk"]["S"] for i in log("STREAM")}
