"""SQS consumer with partial batch failures: a body with "fail" fails, the others are recorded."""

import json
import os

import boto3


def handler(event, context):
    ddb = boto3.client("dynamodb")
    failures = []
    for record in event["Records"]:
        body = json.loads(record["body"])
        if body.get("fail"):
            failures.append({"itemIdentifier": record["messageId"]})
            continue
        ddb.put_item(
            TableName=os.environ["LOG_TABLE_NAME"],
            Item={"pk": {"S": "SQS"}, "sk": {"S": body["id"]}, "record": {"S": json.dumps(record)}},
        )
    return {"batchItemFailures": failures}
