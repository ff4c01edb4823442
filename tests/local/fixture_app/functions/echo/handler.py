"""Echo: returns what it saw (environment, event, the one clock, context) and logs each call to the log table."""

import json
import os

import boto3

from relaycast import clock


def handler(event, context):
    if isinstance(event, dict) and event.get("fail"):
        raise ValueError(f"asked to fail: {event['fail']}")
    now = clock.now()
    secret = boto3.client("secretsmanager").get_secret_value(SecretId=os.environ["APP_SECRET_NAME"])
    boto3.client("dynamodb").put_item(
        TableName=os.environ["LOG_TABLE_NAME"],
        Item={
            "pk": {"S": "ECHO"},
            "sk": {"S": f"{now.isoformat()}#{context.aws_request_id}"},
            "event": {"S": json.dumps(event, sort_keys=True)},
        },
    )
    return {
        "event": event,
        "now": now.isoformat(),
        "env": {k: os.environ.get(k) for k in ("TABLE_NAME", "GREETING", "APP_SECRET_NAME", "X_API_BASE")},
        "secret_keys": sorted(json.loads(secret["SecretString"])),
        "context": {
            "function_name": context.function_name,
            "memory_limit_in_mb": context.memory_limit_in_mb,
            "invoked_function_arn": context.invoked_function_arn,
            "remaining_ms_positive": context.get_remaining_time_in_millis() > 0,
        },
    }
