"""The round's state machine, the propose and publish queues and their consumers."""

from __future__ import annotations


import pytest

pytestmark = pytest.mark.xdist_group("infra")

@pytest.fixture(scope="module")
def asl(synth):
    return synth.state_machine_definition()


def _lambda_arn(synth, name):
    return f"arn:aws:lambda:us-east-1:123456789012:function:{synth.function_id(name)}"


def test_round_is_poll_select_choice_fanout(synth, asl):
    states = asl["States"]
    assert asl["StartAt"] == "Poll"
    assert states["Poll"]["Type"] == "Task"
    assert states["Poll"]["Resource"] == _lambda_arn(synth, "poll")
    assert states["Poll"]["ResultPath"] == "$.poll"
    assert states["Poll"]["Next"] == "Select"
    assert states["Select"]["Resource"] == _lambda_arn(synth, "select")
    assert states["Select"]["ResultPath"] == "$.selection"
    assert states["Select"]["Next"] == "HasPicks"
    choice = states["HasPicks"]
    assert choice["Type"] == "Choice"
    assert choice["Choices"] == [{"Variable": "$.selection.picks[0]", "IsPresent": True, "Next": "FanOut"}]
    assert choice["Default"] == "Done"
    assert states["Done"]["Type"] == "Succeed"
    assert states["FanOut"]["Next"] == "Done"
    # Five states, none of them a Map: the round's transitions do not grow with the relays.
    assert set(states) == {"Poll", "Select", "HasPicks", "FanOut", "Done"}


def test_the_fan_out_hands_select_the_picks_never_a_relay_list(synth, asl):
    fan_out = asl["States"]["FanOut"]
    assert fan_out["Type"] == "Task" and fan_out["Resource"] == _lambda_arn(synth, "select")
    assert fan_out["Parameters"] == {
        "action": "fan_out",
        "selection": {
            "round.$": "$.selection.round",
            "picks.$": "$.selection.picks",
            "proposal_expires_at.$": "$.selection.proposal_expires_at",
            "expires_at.$": "$.selection.expires_at",
        },
    }
    assert fan_out["ResultPath"] == "$.fan_out"
    assert any("States.TaskFailed" in retry["ErrorEquals"] for retry in fan_out["Retry"])
    # The state machine itself writes nothing and queues nothing: select and propose do, with their own roles.
    _, sm = synth.one("AWS::StepFunctions::StateMachine")
    role = sm["Properties"]["RoleArn"]["Fn::GetAtt"][0]
    actions = {a for st in synth.statements_of_role(role) for a in (st["Action"] if isinstance(st["Action"], list) else [st["Action"]])}
    assert not {a for a in actions if a.startswith(("sqs:", "dynamodb:"))}


def _propose_queue_ids(synth):
    _, esm = next(
        (k, r) for k, r in synth.of_type("AWS::Lambda::EventSourceMapping").items()
        if r["Properties"]["FunctionName"] == {"Ref": synth.function_id("propose")}
    )
    return esm, esm["Properties"]["EventSourceArn"]["Fn::GetAtt"][0]


def test_select_queues_work_items_that_propose_consumes_with_partial_failures(synth):
    esm, queue_id = _propose_queue_ids(synth)
    assert esm["Properties"]["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
    queue = synth.resources[queue_id]["Properties"]
    assert queue["RedrivePolicy"]["maxReceiveCount"] == 5
    assert queue["VisibilityTimeout"] >= 6 * synth.functions()["propose"][1]["Timeout"]
    select_env = synth.functions()["select"][1]["Environment"]["Variables"]
    assert select_env["PROPOSE_QUEUE_URL"] == {"Ref": queue_id}
    statements = synth.statements_of_role(synth.functions()["select"][1]["Role"]["Fn::GetAtt"][0])
    assert any("sqs:SendMessage" in st["Action"] and st["Resource"] == {"Fn::GetAtt": [queue_id, "Arn"]} for st in statements)


def test_state_machine_logs_everything_and_traces(synth):
    _, sm = synth.one("AWS::StepFunctions::StateMachine")
    props = sm["Properties"]
    assert props["TracingConfiguration"] == {"Enabled": True}
    logging = props["LoggingConfiguration"]
    assert logging["Level"] == "ALL"
    group_id = logging["Destinations"][0]["CloudWatchLogsLogGroup"]["LogGroupArn"]["Fn::GetAtt"][0]
    assert synth.resources[group_id]["Properties"]["RetentionInDays"] == 30


def _queue_ids(synth):
    _, esm = next(
        (k, r) for k, r in synth.of_type("AWS::Lambda::EventSourceMapping").items()
        if r["Properties"]["FunctionName"] == {"Ref": synth.function_id("publish")}
    )
    queue_id = esm["Properties"]["EventSourceArn"]["Fn::GetAtt"][0]
    dlq_id = synth.resources[queue_id]["Properties"]["RedrivePolicy"]["deadLetterTargetArn"]["Fn::GetAtt"][0]
    return esm, queue_id, dlq_id


def test_publish_queue_has_a_dlq_after_five_receives(synth):
    _, queue_id, dlq_id = _queue_ids(synth)
    queue = synth.resources[queue_id]["Properties"]
    assert queue["RedrivePolicy"]["maxReceiveCount"] == 5
    assert synth.resources[dlq_id]["Type"] == "AWS::SQS::Queue"
    publish_timeout = synth.functions()["publish"][1]["Timeout"]
    assert queue["VisibilityTimeout"] >= 6 * publish_timeout


def test_publish_consumes_with_partial_batch_failures(synth):
    esm, _, _ = _queue_ids(synth)
    assert esm["Properties"]["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
    assert esm["Properties"]["BatchSize"] <= 10


def test_every_queue_is_encrypted_and_tls_only(synth):
    queues = synth.of_type("AWS::SQS::Queue")
    assert len(queues) == 8  # publish, propose and end-grant + their DLQs, expire's DLQ, the schedules' DLQ
    for queue_id, queue in queues.items():
        props = queue["Properties"]
        assert props.get("SqsManagedSseEnabled") or props.get("KmsMasterKeyId"), queue_id
        policies = [
            p for p in synth.of_type("AWS::SQS::QueuePolicy").values() if {"Ref": queue_id} in p["Properties"]["Queues"]
        ]
        statements = [s for p in policies for s in p["Properties"]["PolicyDocument"]["Statement"]]
        assert any(
            s["Effect"] == "Deny" and s["Condition"] == {"Bool": {"aws:SecureTransport": "false"}} for s in statements
        ), queue_id


def test_oauth_enqueues_and_publish_defers_on_the_publish_queue(synth):
    _, queue_id, _ = _queue_ids(synth)
    for name in ("oauth", "publish"):  # an approval enqueues; a job that must wait goes back, delayed
        env = synth.functions()[name][1]["Environment"]["Variables"]
        assert env["PUBLISH_QUEUE_URL"] == {"Ref": queue_id}
        assert "sqs:SendMessage" in synth.actions_on(synth.role_of(name), queue_id)
