"""Stream consumer: records every stream record it receives in the log table."""

import json
import os

import boto3


def handler(event, context):
    ddb = boto3.client("dynamodb")
    for record in event["Records"]:
        if "fail" in record["dynamodb"].get("OldImage", {}):
            raise RuntimeError("cannot revoke")
        ddb.put_item(
            TableName=os.environ["LOG_TABLE_NAME"],
            Item={"pk": {"S": "STREAM"}, "sk": {"S": record["eventID"]}, "record": {"S": json.dumps(record)}},
        )
    return {"seen": len(event["Records"])}
