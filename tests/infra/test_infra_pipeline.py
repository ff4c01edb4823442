"""The round's state machine, the publish queue and its consumer."""

from __future__ import annotations


import pytest

pytestmark = pytest.mark.xdist_group("infra")

PROPOSAL_ATTRIBUTES = {
    "pk", "sk", "kind", "relay_id", "network", "post_id", "author", "text", "url", "round", "status",
    "proposed_at", "expires_at", "proposal_expires_at", "score", "reasons",
}


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
    assert states["FanOut"]["Next"] == "Digest"
    digest = states["Digest"]
    assert digest["Resource"] == _lambda_arn(synth, "select")
    assert digest["Parameters"] == {"action": "digest", "round.$": "$.selection.round"}
    assert digest["Next"] == "Done" and digest["ResultPath"] is None
    assert any("DigestNotSent" in retry["ErrorEquals"] for retry in digest["Retry"])
    (catch,) = digest["Catch"]
    assert catch["ErrorEquals"] == ["States.ALL"] and states[catch["Next"]]["Next"] == "Done"


def test_fan_out_maps_relays_then_picks(asl):
    fan_out = asl["States"]["FanOut"]
    assert fan_out["Type"] == "Map"
    assert fan_out["ItemsPath"] == "$.selection.relays"
    assert fan_out["ItemSelector"] == {
        "relay_id.$": "$$.Map.Item.Value.relay_id",
        "network.$": "$$.Map.Item.Value.network",
        "mode.$": "$$.Map.Item.Value.mode",
        "delay.$": "$$.Map.Item.Value.delay",
        "own.$": "$$.Map.Item.Value.own",
        "round.$": "$.selection.round",
        "proposal_expires_at.$": "$.selection.proposal_expires_at",
        "expires_at.$": "$.selection.expires_at",
        "picks.$": "$.selection.picks",
    }
    inner = fan_out["ItemProcessor"]["States"][fan_out["ItemProcessor"]["StartAt"]]
    assert inner["Type"] == "Map"
    assert inner["ItemsPath"] == "$.picks"
    # Each pick carries down, unchanged, every field the fan-out gave its relay (all but the picks), and itself.
    handed_down = {name: f"$.{name.removesuffix('.$')}" for name in fan_out["ItemSelector"] if name != "picks.$"}
    assert len(handed_down) == 8
    assert inner["ItemSelector"] == {
        **handed_down,
        "pick.$": "$$.Map.Item.Value",
        "job": {"relay_id.$": "$.relay_id", "network.$": "$.network", "post_id.$": "$$.Map.Item.Value.post_id"},
    }


def _per_pick(asl):
    inner = asl["States"]["FanOut"]["ItemProcessor"]["States"]["ProposePicks"]
    return inner["ItemProcessor"]


def test_a_pick_reaches_only_the_relays_of_its_network_and_auto_mode_queues_a_job(synth, asl):
    processor = _per_pick(asl)
    states = processor["States"]
    route = states[processor["StartAt"]]
    assert route["Type"] == "Choice"
    assert route["Choices"] == [{"Variable": "$.pick.network", "StringEqualsPath": "$.network", "Next": "NotTheirOwn"}]
    assert states[route["Default"]]["Type"] == "Pass"
    # A share-link relay's declared name keeps the posts they say are theirs from them only.
    own = states["NotTheirOwn"]
    assert own["Choices"] == [{"Variable": "$.pick.author_key", "StringEqualsPath": "$.own", "Next": "TheirOwnPost"}]
    assert states["TheirOwnPost"]["Type"] == "Pass" and own["Default"] == "ByMode"
    by_mode = states["ByMode"]
    assert by_mode["Choices"] == [{"Variable": "$.mode", "StringEquals": "auto", "Next": "QueuePublish"}]
    assert by_mode["Default"] == "PutProposal"
    queue = states["QueuePublish"]
    assert queue["Resource"] == "arn:aws:states:::aws-sdk:sqs:sendMessage"
    params = queue["Parameters"]
    # The message publish reads (PublishJob: exactly relay, network, post) after the relay's own delay.
    assert params["MessageBody.$"] == "States.JsonToString($.job)"
    assert params["DelaySeconds.$"] == "$.delay"
    _, queue_id, _ = _queue_ids(synth)
    assert params["QueueUrl"] == f"{queue_id}-physical-id"  # the definition resolves the Ref (see synth)
    _, sm = synth.one("AWS::StepFunctions::StateMachine")
    role = sm["Properties"]["RoleArn"]["Fn::GetAtt"][0]
    statements = synth.statements_of_role(role)
    senders = [st for st in statements if "sqs:SendMessage" in (st["Action"] if isinstance(st["Action"], list) else [st["Action"]])]
    assert senders and all(st["Resource"] == {"Fn::GetAtt": [queue_id, "Arn"]} for st in senders)


def _put_proposal(asl):
    states = _per_pick(asl)["States"]
    return states, states["PutProposal"]


def test_proposal_is_a_conditional_put_item_whose_conflict_is_caught(synth, asl):
    states, put = _put_proposal(asl)
    assert put["Type"] == "Task"
    assert put["Resource"] == "arn:aws:states:::dynamodb:putItem"
    params = put["Parameters"]
    table_id, _ = synth.one("AWS::DynamoDB::Table")
    assert params["TableName"] == f"{table_id}-physical-id"
    assert params["ConditionExpression"] == "attribute_not_exists(pk)"
    (catch,) = put["Catch"]
    assert catch["ErrorEquals"] == ["DynamoDB.ConditionalCheckFailedException"]
    assert states[catch["Next"]]["Type"] == "Pass"


def test_proposal_item_is_the_contract_item(synth, asl):
    _, put = _put_proposal(asl)
    item = put["Parameters"]["Item"]
    assert set(item) == PROPOSAL_ATTRIBUTES
    assert item["pk"] == {"S.$": "States.Format('RELAY#{}', $.relay_id)"}
    assert item["sk"] == {"S.$": "States.Format('PROPOSAL#{}#{}', $.pick.network, $.pick.post_id)"}
    assert item["kind"] == {"S": "proposal"}
    assert item["status"] == {"S": "pending"}
    assert item["relay_id"] == {"S.$": "$.relay_id"}
    assert item["round"] == {"S.$": "$.round"}
    for name in ("network", "post_id", "author", "text", "url", "score", "reasons"):
        assert item[name] == {"S.$": f"$.pick.{name}"}
    assert item["proposed_at"] == {"S.$": "$$.Execution.StartTime"}
    # select computes the instants; the state machine carries them down to each proposal.
    assert item["proposal_expires_at"] == {"N.$": "$.proposal_expires_at"}
    assert item["expires_at"] == {"N.$": "$.expires_at"}


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
    assert len(queues) == 6  # publish + its DLQ, end-grant + its DLQ, expire's DLQ, the schedules' DLQ
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
