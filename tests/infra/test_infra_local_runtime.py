"""What the local runtime (moto's CloudFormation) needs from the template."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.xdist_group("infra")

# Resource types moto 5.2's CloudFormation skips (with a warning) that this stack uses.
SKIPPED_BY_MOTO = {
    "AWS::ApiGateway::Account",
    "AWS::ApiGateway::RequestValidator",
    "AWS::ApiGateway::Stage",
    "AWS::CloudWatch::Alarm",
    "AWS::SES::ConfigurationSet",
    "AWS::SES::EmailIdentity",
    "AWS::SQS::QueuePolicy",
    "AWS::Scheduler::Schedule",
    "AWS::SecretsManager::Secret",
    "AWS::WAFv2::WebACL",
    "AWS::WAFv2::WebACLAssociation",
}
# The one accepted exception: a method's validator id (moto resolves it to None and ignores it).
ACCEPTED = {("AWS::ApiGateway::Method", "AWS::ApiGateway::RequestValidator")}


def test_created_resources_do_not_refer_to_skipped_ones(synth):
    problems = []
    for logical_id, res in synth.resources.items():
        if res["Type"] in SKIPPED_BY_MOTO:
            continue
        for target in synth.refs_in(res.get("Properties", {})):
            target_type = synth.resources.get(target, {}).get("Type")
            if target_type in SKIPPED_BY_MOTO and (res["Type"], target_type) not in ACCEPTED:
                problems.append(f"{logical_id} ({res['Type']}) -> {target} ({target_type})")
    for name, output in synth.template.get("Outputs", {}).items():
        for target in synth.refs_in(output):
            if synth.resources.get(target, {}).get("Type") in SKIPPED_BY_MOTO:
                problems.append(f"output {name} -> {target}")
    assert not problems, "\n".join(problems)


def test_no_resource_tags_in_the_template(synth):
    """moto fails on KMS keys' and SSM parameters' tags: the event's tag is a stack tag instead."""
    tagged = [k for k, r in synth.resources.items() if "Tags" in r.get("Properties", {})]
    assert not tagged, tagged


def test_no_bootstrap_lookup(synth):
    assert "BootstrapVersion" not in synth.template.get("Parameters", {})
    assert "Rules" not in synth.template


def test_names_the_runtime_uses_are_plain_strings(synth):
    for name, (_, props) in synth.functions().items():
        assert props["FunctionName"] == f"relaycast-{synth.config.slug}-{name}"
    _, sm = synth.one("AWS::StepFunctions::StateMachine")
    assert sm["Properties"]["StateMachineName"] == f"relaycast-{synth.config.slug}-round"
    outputs = synth.template["Outputs"]
    assert outputs["AppSecretName"]["Value"] == f"relaycast/{synth.config.slug}/app"
    assert outputs["EventConfigParameter"]["Value"] == f"/relaycast/{synth.config.slug}/event-config"
