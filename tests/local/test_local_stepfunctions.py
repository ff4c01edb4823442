"""moto's Step Functions engine runs the synthesised ASL: LambdaInvoke -> Map -> DynamoDB PutItem with a Catch
of DynamoDB.ConditionalCheckFailedException."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.xdist_group("relaycast-local")


def _proposals(cloud, stack, round_id):
    return cloud.client("dynamodb").query(
        TableName=stack.table_name("Table"),
        KeyConditionExpression="pk = :pk",
        ExpressionAttributeValues={":pk": {"S": f"PROPOSAL#{round_id}"}},
    )["Items"]


def test_round_invokes_lambda_maps_and_puts_conditionally(cloud, stack):
    execution = stack.run_state_machine({"round": "r1", "count": 3})

    assert execution["status"] == "SUCCEEDED"
    assert execution["output"]["selection"]["round"] == "r1"
    assert execution["output"]["selection"]["stdlib_select"] is True
    items = _proposals(cloud, stack, "r1")
    assert sorted(i["sk"]["S"] for i in items) == ["p0", "p1", "p2"]
    assert {i["kind"]["S"] for i in items} == {"proposal"}


def test_already_proposed_is_caught_and_the_round_succeeds(cloud, stack):
    stack.run_state_machine({"round": "r2", "count": 2})
    again = stack.run_state_machine({"round": "r2", "count": 2})

    assert again["status"] == "SUCCEEDED"
    history = cloud.client("stepfunctions").get_execution_history(executionArn=again["executionArn"], maxResults=1000)
    failures = [e for e in history["events"] if e["type"] == "TaskFailed"]
    assert len(failures) == 2
    assert {e["taskFailedEventDetails"]["error"] for e in failures} == {"DynamoDB.ConditionalCheckFailedException"}
    assert len(_proposals(cloud, stack, "r2")) == 2


def test_a_handler_error_fails_the_execution_with_its_error_type(stack):
    execution = stack.run_state_machine({"round": "r3", "fail": True})

    assert execution["status"] == "FAILED"
    assert execution["error"] == "RuntimeError"
    assert "selection failed" in execution["cause"]


def test_waiting_for_a_task_token_returns_to_the_caller(cloud):
    import json

    sqs, sfn = cloud.client("sqs"), cloud.client("stepfunctions")
    queue = sqs.create_queue(QueueName="approvals")["QueueUrl"]
    definition = {
        "StartAt": "Ask",
        "States": {
            "Ask": {
                "Type": "Task",
                "Resource": "arn:aws:states:::sqs:sendMessage.waitForTaskToken",
                "Parameters": {"QueueUrl": queue, "MessageBody": {"token.$": "$$.Task.Token"}},
                "End": True,
            }
        },
    }
    machine = sfn.create_state_machine(
        name="approval", definition=json.dumps(definition), roleArn=f"arn:aws:iam::{cloud.account_id}:role/x"
    )["stateMachineArn"]

    waiting = cloud.run_execution(machine, {})
    assert waiting["status"] == "RUNNING" and waiting["waitingForCallback"] is True

    (message,) = sqs.receive_message(QueueUrl=queue)["Messages"]
    sfn.send_task_success(taskToken=json.loads(message["Body"])["token"], output=json.dumps({"approved": True}))
    done = cloud.wait_execution(waiting["executionArn"])
    assert done["status"] == "SUCCEEDED" and done["output"] == {"approved": True}


def test_retry_intervals_and_wait_states_take_no_real_time(cloud, stack):
    import json
    import time

    select = stack.functions[stack.logical_id("SelectFn")]
    definition = {
        "StartAt": "Try",
        "States": {
            "Try": {
                "Type": "Task",
                "Resource": select.arn,
                "Retry": [{"ErrorEquals": ["RuntimeError"], "IntervalSeconds": 30, "MaxAttempts": 2, "BackoffRate": 2}],
                "Catch": [{"ErrorEquals": ["States.ALL"], "Next": "Later"}],
                "End": True,
            },
            "Later": {"Type": "Wait", "Seconds": 3600, "Next": "Done"},
            "Done": {"Type": "Succeed"},
        },
    }
    machine = cloud.client("stepfunctions").create_state_machine(
        name="patient", definition=json.dumps(definition), roleArn=f"arn:aws:iam::{cloud.account_id}:role/x"
    )["stateMachineArn"]
    before = sum(1 for i in cloud.invocations if i.function_name == select.name)
    started = time.monotonic()

    execution = cloud.run_execution(machine, {"round": "r", "fail": True})

    assert execution["status"] == "SUCCEEDED"
    assert time.monotonic() - started < 5  # 30 s + 60 s of retries and an hour of Wait, scaled to nothing
    assert sum(1 for i in cloud.invocations if i.function_name == select.name) - before == 3
