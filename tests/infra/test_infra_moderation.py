"""A moderated event's stack: the round waits on a task token; only select and oauth may answer it."""

from __future__ import annotations

import json
import subprocess

import pytest

pytestmark = pytest.mark.xdist_group("infra")


@pytest.fixture(scope="module")
def asl(moderated_synth):
    return moderated_synth.state_machine_definition()


def test_the_moderated_stack_passes_the_gates(moderated_synth, tools, tmp_path):
    findings = moderated_synth.nag_findings()
    assert moderated_synth.synth_error is None and not findings, "\n".join([moderated_synth.synth_error or "", *findings])
    asl_file = tmp_path / "round.asl.json"
    asl_file.write_text(json.dumps(moderated_synth.state_machine_definition()))
    statelint = subprocess.run([tools.script("statelint"), "--ignore=FLOAT", str(asl_file)], capture_output=True, text=True, env=tools.env)
    assert statelint.returncode == 0, statelint.stdout
    validator = subprocess.run([str(tools.npm_bin / "asl-validator"), "--json-path", str(asl_file)], capture_output=True, text=True,
                               env=tools.env, timeout=120)
    assert validator.returncode == 0, validator.stdout + validator.stderr


def test_picks_wait_for_the_moderator_before_the_fan_out(moderated_synth, asl):
    states = asl["States"]
    assert states["HasPicks"]["Choices"][0]["Next"] == "Moderate"
    moderate = states["Moderate"]
    assert moderate["Resource"].endswith(":states:::lambda:invoke.waitForTaskToken")
    assert moderate["Parameters"]["FunctionName"].endswith(moderated_synth.function_id("select"))
    assert moderate["Parameters"]["Payload"] == {"action": "moderate", "selection.$": "$.selection", "task_token.$": "$$.Task.Token"}
    assert moderate["ResultPath"] == "$.moderation" and moderate["Next"] == "AnyApproved"
    # The backstop: the event's 60 minutes, one round (5) and 5 more; its catch applies the rule (skip-round).
    assert moderate["TimeoutSeconds"] == (60 + 5 + 5) * 60
    assert moderate["Catch"] == [{"ErrorEquals": ["States.Timeout"], "ResultPath": "$.moderation_error", "Next": "ModerationTimedOut"}]
    assert states["ModerationTimedOut"]["Parameters"] == {"picks": []} and states["ModerationTimedOut"]["Next"] == "AnyApproved"
    assert states["AnyApproved"]["Choices"] == [{"Variable": "$.moderation.picks[0]", "IsPresent": True, "Next": "FanOut"}]
    assert states["FanOut"]["Parameters"]["selection"]["picks.$"] == "$.moderation.picks"
    # The execution outlives the wait.
    assert asl["TimeoutSeconds"] > moderate["TimeoutSeconds"]


def test_only_select_and_oauth_may_answer_the_round_and_select_may_mail(moderated_synth):
    answering = {
        name for name in moderated_synth.functions()
        if "states:SendTaskSuccess" in moderated_synth.actions_on(moderated_synth.role_of(name))
    }
    assert answering == {"select", "oauth"}
    for name in answering:
        for st in moderated_synth.statements_of_role(moderated_synth.role_of(name)):
            if st["Action"] == "states:SendTaskSuccess":
                assert "stateMachine:relaycast-moderated-example-round" in json.dumps(st["Resource"])
    assert "ses:SendEmail" in moderated_synth.actions_on(moderated_synth.role_of("select"))
    env = moderated_synth.functions()["select"][1]["Environment"]["Variables"]
    assert "HOSTED_PAGE_URL" in env


def test_without_moderation_no_function_may_answer_a_task(synth):
    assert "Moderate" not in synth.state_machine_definition()["States"]
    assert not any("states:SendTaskSuccess" in synth.actions_on(synth.role_of(name)) for name in synth.functions())
