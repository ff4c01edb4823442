"""DynamoDB transactions in the local runtime: moto's backup of a table is the light one (`moto_patches`), and a
cancelled transaction still leaves every item and the table's stream as they were; a successful one commits."""

from __future__ import annotations

import boto3
import pytest
from botocore.exceptions import ClientError


@pytest.fixture(scope="module")
def table(cloud):
    client = boto3.client("dynamodb")
    client.create_table(TableName="transactions", BillingMode="PAY_PER_REQUEST",
                        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}, {"AttributeName": "sk", "AttributeType": "S"}],
                        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}],
                        StreamSpecification={"StreamEnabled": True, "StreamViewType": "NEW_AND_OLD_IMAGES"})
    for i in range(50):
        client.put_item(TableName="transactions", Item={"pk": {"S": "P"}, "sk": {"S": f"{i:02d}"}, "n": {"N": str(i)}})
    return client


def _state(cloud):
    from moto.dynamodb.models import dynamodb_backends

    shard = dynamodb_backends[cloud.account_id][cloud.region].tables["transactions"]
    items = {(h.cast_value, r.cast_value): dict(i.to_json()["Attributes"]) for h, part in shard.items.items() for r, i in part.items()}
    return items, [(r.record["eventName"], r.record["dynamodb"]["Keys"]["sk"]["S"]) for r in shard.stream_shard.items], shard


def _update(sk, value, condition="attribute_exists(pk)"):
    return {"Update": {"TableName": "transactions", "Key": {"pk": {"S": "P"}, "sk": {"S": sk}},
                       "UpdateExpression": "SET n = :n", "ConditionExpression": condition,
                       "ExpressionAttributeValues": {":n": {"N": str(value)}}}}


def test_a_cancelled_transaction_changes_no_item_and_adds_nothing_to_the_stream(cloud, table):
    before, stream_before, _ = _state(cloud)
    with pytest.raises(ClientError, match="TransactionCanceled"):
        table.transact_write_items(TransactItems=[
            _update("03", 300),  # applied, then undone
            {"Put": {"TableName": "transactions", "Item": {"pk": {"S": "P"}, "sk": {"S": "new"}}}},
            _update("04", 400, condition="n = :n"),  # false: 4 is not 400
        ])
    after, stream_after, shard = _state(cloud)
    assert after == before and stream_after == stream_before
    assert shard.stream_shard.table is shard  # the restored table's stream records name it
    # The restored table goes on taking writes and streaming them.
    table.transact_write_items(TransactItems=[_update("03", 33), _update("05", 55)])
    committed, stream, _ = _state(cloud)
    assert committed[("P", "03")]["n"] == {"N": "33"} and committed[("P", "05")]["n"] == {"N": "55"}
    assert committed[("P", "04")] == before[("P", "04")] and ("P", "new") not in committed
    assert stream[len(stream_before):] == [("MODIFY", "03"), ("MODIFY", "05")]


def test_the_backup_copies_only_what_the_transaction_names(cloud, table):
    from moto.dynamodb import models

    from relaycast_local import moto_patches

    assert isinstance(models.copy, moto_patches._TransactionBackup)
    _, _, shard = _state(cloud)
    moto_patches._named.keys = {"transactions": {(models.DynamoType({"S": "P"}), models.DynamoType({"S": "07"}))}}
    try:
        backup = models.copy.deepcopy(shard)
    finally:
        moto_patches._named.keys = None
    named = models.DynamoType({"S": "P"})
    copied = [r.cast_value for r, item in backup.items[named].items() if item is not shard.items[named][r]]
    assert copied == ["07"]  # one item copied; the other 49 shared, as nothing else can change
    assert backup.stream_shard.items == shard.stream_shard.items and backup.stream_shard.items is not shard.stream_shard.items
