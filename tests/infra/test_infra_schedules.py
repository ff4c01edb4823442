"""The round's schedule, the end-of-access one-shot, and expire's stream backstop."""

from __future__ import annotations

import json
from datetime import datetime

import pytest

pytestmark = pytest.mark.xdist_group("infra")


def _all_schedules(synth):
    """The round's (rate, the state machine), the release's (rate, publish) and the sweep's (at)."""
    schedules = [s["Properties"] for s in synth.of_type("AWS::Scheduler::Schedule").values()]
    rate = [s for s in schedules if s["ScheduleExpression"].startswith("rate(")]
    at = [s for s in schedules if s["ScheduleExpression"].startswith("at(")]
    sm_id, _ = synth.one("AWS::StepFunctions::StateMachine")
    (round_,) = [s for s in rate if s["Target"]["Arn"] == {"Ref": sm_id}]
    (release,) = [s for s in rate if s is not round_]
    assert len(schedules) == 3 and len(at) == 1, schedules
    return round_, release, at[0]


def _schedules(synth):
    round_, _, sweep = _all_schedules(synth)
    return round_, sweep


def _instant(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def test_round_schedule_runs_every_interval_only_during_the_event(synth):
    rate, _ = _schedules(synth)
    assert rate["ScheduleExpression"] == f"rate({synth.config.poll_interval_minutes} minutes)"
    assert _instant(rate["StartDate"]) == synth.config.start_utc
    assert _instant(rate["EndDate"]) == synth.config.end_utc
    assert rate["State"] == "ENABLED"
    sm_id, _ = synth.one("AWS::StepFunctions::StateMachine")
    assert rate["Target"]["Arn"] == {"Ref": sm_id}


def test_round_schedule_has_its_own_role_that_may_only_start_the_round(synth):
    rate, at = _schedules(synth)
    role_id = rate["Target"]["RoleArn"]["Fn::GetAtt"][0]
    assert role_id != at["Target"]["RoleArn"]["Fn::GetAtt"][0]
    trust = synth.resources[role_id]["Properties"]["AssumeRolePolicyDocument"]["Statement"]
    assert [s["Principal"] for s in trust] == [{"Service": "scheduler.amazonaws.com"}]
    sm_id, _ = synth.one("AWS::StepFunctions::StateMachine")
    assert synth.actions_on(role_id, sm_id) == {"states:StartExecution"}
    assert synth.actions_on(role_id) <= {"states:StartExecution", "sqs:SendMessage"}


def test_sweep_is_a_one_shot_at_access_end_invoking_expire(synth):
    _, at = _schedules(synth)
    ends = synth.config.access_ends
    assert at["ScheduleExpression"] == f"at({ends:%Y-%m-%dT%H:%M:%S})"
    assert at["ScheduleExpressionTimezone"] == "UTC"
    assert at["Target"]["Arn"] == {"Fn::GetAtt": [synth.function_id("expire"), "Arn"]}
    assert json.loads(at["Target"]["Input"]) == {"action": "sweep"}
    role_id = at["Target"]["RoleArn"]["Fn::GetAtt"][0]
    assert "lambda:InvokeFunction" in synth.actions_on(role_id, synth.function_id("expire"))


def test_the_release_of_parked_jobs_runs_every_few_minutes_until_access_ends_invoking_publish(synth):
    from infra.schedules import RELEASE_MINUTES

    round_, release, sweep = _all_schedules(synth)
    assert release["ScheduleExpression"] == f"rate({RELEASE_MINUTES} minutes)"
    assert _instant(release["StartDate"]) == synth.config.start_utc
    assert _instant(release["EndDate"]) == synth.config.access_ends
    assert release["Target"]["Arn"] == {"Fn::GetAtt": [synth.function_id("publish"), "Arn"]}
    assert json.loads(release["Target"]["Input"]) == {"action": "release"}
    role_id = release["Target"]["RoleArn"]["Fn::GetAtt"][0]
    assert role_id not in {s["Target"]["RoleArn"]["Fn::GetAtt"][0] for s in (round_, sweep)}
    assert synth.actions_on(role_id, synth.function_id("publish")) == {"lambda:InvokeFunction"}
    assert synth.actions_on(role_id) <= {"lambda:InvokeFunction", "sqs:SendMessage"}


def test_schedule_targets_have_a_dead_letter_queue(synth):
    for props in _all_schedules(synth):
        dlq = props["Target"]["DeadLetterConfig"]["Arn"]["Fn::GetAtt"][0]
        assert synth.resources[dlq]["Type"] == "AWS::SQS::Queue"


def test_expire_reads_the_stream_filtered_to_ttl_deletions_of_grants(synth):
    table_id, _ = synth.one("AWS::DynamoDB::Table")
    (esm,) = [
        r["Properties"] for r in synth.of_type("AWS::Lambda::EventSourceMapping").values()
        if r["Properties"]["EventSourceArn"] == {"Fn::GetAtt": [table_id, "StreamArn"]}
    ]
    assert esm["FunctionName"] == {"Ref": synth.function_id("expire")}
    (criteria,) = esm["FilterCriteria"]["Filters"]
    assert json.loads(criteria["Pattern"]) == {
        "userIdentity": {"type": ["Service"], "principalId": ["dynamodb.amazonaws.com"]},
        "eventName": ["REMOVE"],
        "dynamodb": {"OldImage": {"kind": {"S": ["grant", "custody"]}}},
    }
    assert esm["BatchSize"] <= 10
    assert 0 <= esm["MaximumRetryAttempts"] <= 5
    # expire reports the record that failed: the stream resumes from it, not from the batch's start.
    assert esm["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
    dlq = esm["DestinationConfig"]["OnFailure"]["Destination"]["Fn::GetAtt"][0]
    assert synth.resources[dlq]["Type"] == "AWS::SQS::Queue"
    # The sweep is asynchronous: its failures land in the same DLQ.
    expire = synth.functions()["expire"][1]
    assert expire["DeadLetterConfig"]["TargetArn"] == {"Fn::GetAtt": [dlq, "Arn"]}


def _end_grant(synth):
    """expire's SQS event source mapping, the end-grant queue and its DLQ."""
    table_id, _ = synth.one("AWS::DynamoDB::Table")
    (esm,) = [
        r["Properties"] for r in synth.of_type("AWS::Lambda::EventSourceMapping").values()
        if r["Properties"]["FunctionName"] == {"Ref": synth.function_id("expire")}
        and r["Properties"]["EventSourceArn"] != {"Fn::GetAtt": [table_id, "StreamArn"]}
    ]
    queue_id = esm["EventSourceArn"]["Fn::GetAtt"][0]
    dlq_id = synth.resources[queue_id]["Properties"]["RedrivePolicy"]["deadLetterTargetArn"]["Fn::GetAtt"][0]
    return esm, queue_id, dlq_id


def test_expire_consumes_the_end_grant_queue_with_partial_batch_failures(synth):
    esm, queue_id, _ = _end_grant(synth)
    assert synth.resources[queue_id]["Type"] == "AWS::SQS::Queue"
    assert esm["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
    assert esm["BatchSize"] == 10
    assert 2 <= esm["ScalingConfig"]["MaximumConcurrency"] <= 50
    expire = synth.functions()["expire"][1]
    assert synth.resources[queue_id]["Properties"]["VisibilityTimeout"] >= 6 * expire["Timeout"]


def test_end_grant_queue_has_an_encrypted_tls_only_dlq_after_five_receives_with_an_alarm(synth):
    from relaycast.expire import RECEIVE_BUDGET

    _, queue_id, dlq_id = _end_grant(synth)
    redrive = synth.resources[queue_id]["Properties"]["RedrivePolicy"]
    # The handler ends a grant unconfirmed before its message could reach the DLQ.
    assert redrive["maxReceiveCount"] == 5 > RECEIVE_BUDGET
    for qid in (queue_id, dlq_id):
        props = synth.resources[qid]["Properties"]
        assert props.get("SqsManagedSseEnabled"), qid
        statements = [
            s
            for p in synth.of_type("AWS::SQS::QueuePolicy").values()
            if {"Ref": qid} in p["Properties"]["Queues"]
            for s in p["Properties"]["PolicyDocument"]["Statement"]
        ]
        assert any(s["Effect"] == "Deny" and s["Condition"] == {"Bool": {"aws:SecureTransport": "false"}} for s in statements)
    alarms = [
        a["Properties"] for a in synth.of_type("AWS::CloudWatch::Alarm").values()
        if a["Properties"]["MetricName"] == "ApproximateNumberOfMessagesVisible"
    ]
    assert any(a["Dimensions"][0]["Value"] == {"Fn::GetAtt": [dlq_id, "QueueName"]} for a in alarms)


def test_only_expire_may_send_to_the_end_grant_queue_and_it_knows_its_url(synth):
    _, queue_id, dlq_id = _end_grant(synth)
    senders = {name for name in synth.functions() if "sqs:SendMessage" in synth.actions_on(synth.role_of(name), queue_id)}
    assert senders == {"expire"}
    # expire sends to that queue only (besides its own async DLQ, which Lambda writes to with its role).
    role = synth.role_of("expire")
    send_targets = {
        json.dumps(s["Resource"]) for s in synth.statements_of_role(role)
        if "sqs:SendMessage" in (s["Action"] if isinstance(s["Action"], list) else [s["Action"]])
    }
    assert all(queue_id in t or "SchedulesExpireDlq" in t for t in send_targets), send_targets
    assert not any(dlq_id in t for t in send_targets)
    envs = {name: props["Environment"]["Variables"] for name, (_, props) in synth.functions().items()}
    assert envs["expire"]["END_GRANT_QUEUE_URL"] == {"Ref": queue_id}
    assert [n for n, env in envs.items() if "END_GRANT_QUEUE_URL" in env] == ["expire"]
