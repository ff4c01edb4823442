"""Dashboard, alarms and the SES sender."""

from __future__ import annotations

import json

import pytest

pytestmark = pytest.mark.xdist_group("infra")


def _alarms(synth):
    return [a["Properties"] for a in synth.of_type("AWS::CloudWatch::Alarm").values()]


def test_an_alarm_on_every_dead_letter_queue(synth):
    dlqs = set()
    for queue in synth.of_type("AWS::SQS::Queue").values():
        target = queue["Properties"].get("RedrivePolicy", {}).get("deadLetterTargetArn")
        if target:
            dlqs.add(target["Fn::GetAtt"][0])
    for esm in synth.of_type("AWS::Lambda::EventSourceMapping").values():
        target = esm["Properties"].get("DestinationConfig", {}).get("OnFailure", {}).get("Destination")
        if target:
            dlqs.add(target["Fn::GetAtt"][0])
    for schedule in synth.of_type("AWS::Scheduler::Schedule").values():
        dlqs.add(schedule["Properties"]["Target"]["DeadLetterConfig"]["Arn"]["Fn::GetAtt"][0])
    assert len(dlqs) == 5  # publish's, propose's, expire's, the schedules', the end-grant queue's
    alarmed = set()
    for alarm in _alarms(synth):
        if alarm["MetricName"] == "ApproximateNumberOfMessagesVisible":
            assert alarm["Threshold"] == 1
            assert alarm["ComparisonOperator"] == "GreaterThanOrEqualToThreshold"
            (dimension,) = alarm["Dimensions"]
            alarmed.add(dimension["Value"]["Fn::GetAtt"][0])
    assert alarmed == dlqs


def test_an_alarm_on_failed_rounds(synth):
    sm_id, _ = synth.one("AWS::StepFunctions::StateMachine")
    (alarm,) = [a for a in _alarms(synth) if a["MetricName"] == "ExecutionsFailed"]
    assert alarm["Namespace"] == "AWS/States"
    assert alarm["Dimensions"] == [{"Name": "StateMachineArn", "Value": {"Ref": sm_id}}]
    assert alarm["Threshold"] == 1


def test_an_alarm_on_revocations_that_fail_names_the_metric_expire_emits(synth):
    (alarm,) = [a for a in _alarms(synth) if a["MetricName"] == "RevocationFailed"]
    # The namespace and dimension Powertools gives the metric in `expire` (see relaycast.expire).
    assert alarm["Namespace"] == "relaycast"
    assert alarm["Dimensions"] == [{"Name": "service", "Value": "expire"}]
    assert alarm["Threshold"] == 1 and alarm["Statistic"] == "Sum"
    assert "expire" in synth.functions()  # keyed by each function's POWERTOOLS_SERVICE_NAME


def test_an_alarm_on_grants_ended_unconfirmed(synth):
    (alarm,) = [a for a in _alarms(synth) if a["MetricName"] == "RevocationUnconfirmed"]
    assert alarm["Namespace"] == "relaycast"
    assert alarm["Dimensions"] == [{"Name": "service", "Value": "expire"}]
    assert alarm["Threshold"] == 1 and alarm["Statistic"] == "Sum"
    assert alarm["ComparisonOperator"] == "GreaterThanOrEqualToThreshold"


def test_dashboard_shows_every_function_dlq_and_the_round(synth):
    _, dashboard = synth.one("AWS::CloudWatch::Dashboard")
    assert dashboard["Properties"]["DashboardName"] == f"relaycast-{synth.config.slug}"
    body = json.dumps(dashboard["Properties"]["DashboardBody"])
    for name in ("oauth", "poll", "select", "publish", "expire"):
        assert synth.function_id(name) in body, name
    assert "Invocations" in body and "Errors" in body
    assert "ApproximateNumberOfMessagesVisible" in body
    assert "ExecutionsFailed" in body


def test_ses_sender_identity_and_configuration_set(synth):
    _, identity = synth.one("AWS::SES::EmailIdentity")
    assert identity["Properties"]["EmailIdentity"] == synth.config.notice_sender
    config_set_id, config_set = synth.one("AWS::SES::ConfigurationSet")
    assert config_set["Properties"]["Name"] == f"relaycast-{synth.config.slug}"
    # The sender's default configuration set: every notice goes through it.
    assert identity["Properties"]["ConfigurationSetAttributes"] == {"ConfigurationSetName": {"Ref": config_set_id}}
