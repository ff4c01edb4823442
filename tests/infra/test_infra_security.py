"""Least privilege, spot-checked on the synthesised policies."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.xdist_group("infra")

FUNCTIONS = ("oauth", "poll", "select", "publish", "expire")


@pytest.fixture(scope="module")
def keys(synth):
    _, table = synth.one("AWS::DynamoDB::Table")
    table_key = table["Properties"]["SSESpecification"]["KMSMasterKeyId"]["Fn::GetAtt"][0]
    token_key = synth.functions()["oauth"][1]["Environment"]["Variables"]["TOKEN_KEY_ID"]["Fn::GetAtt"][0]
    return table_key, token_key


def _token_actions(synth, name, token_key):
    return {a for a in synth.actions_on(synth.role_of(name), token_key) if a.startswith("kms:")}


def test_only_oauth_and_publish_may_send_to_the_publish_queue(synth):
    """oauth enqueues an approval; publish re-enqueues a job that must wait."""
    senders = {name for name in FUNCTIONS if "sqs:SendMessage" in synth.actions_on(synth.role_of(name), "PublishQueue")}
    assert senders == {"oauth", "publish"}
    assert "sqs:SendMessage" not in synth.actions_on(synth.role_of("poll"))


def test_token_key_use_is_limited(synth, keys):
    _, token_key = keys
    decrypters = {n for n in FUNCTIONS if "kms:Decrypt" in _token_actions(synth, n, token_key)}
    encrypters = {n for n in FUNCTIONS if "kms:Encrypt" in _token_actions(synth, n, token_key)}
    # Publishing and revoking read the tokens (the hosted page revokes when the relay asks it to).
    assert decrypters == {"oauth", "publish", "expire"}
    # A new grant (oauth), a refresh that rotates tokens (publish, and expire settling an open relay-post) seal.
    assert encrypters == {"oauth", "publish", "expire"}
    assert _token_actions(synth, "select", token_key) == set()
    assert _token_actions(synth, "poll", token_key) == set()


def test_select_reads_the_app_secret_to_sign_links_but_never_tokens(synth, keys):
    actions = synth.actions_on(synth.role_of("select"))
    assert {a for a in actions if a.startswith("secretsmanager:")} <= {"secretsmanager:GetSecretValue", "secretsmanager:DescribeSecret"}
    assert "kms:Decrypt" not in _token_actions(synth, "select", keys[1])


def test_only_the_functions_that_end_grants_or_mail_digests_send_email(synth):
    senders = {n for n in FUNCTIONS if "ses:SendEmail" in synth.actions_on(synth.role_of(n))}
    # revoke now, revoked at X, end of event; select mails the relays' proposal digests
    assert senders == {"oauth", "publish", "expire", "select"}


def test_secret_read_is_scoped_to_the_app_secret_name(synth):
    for name in FUNCTIONS:
        for st in synth.statements_of_role(synth.role_of(name)):
            actions = st["Action"] if isinstance(st["Action"], list) else [st["Action"]]
            if any(a.startswith("secretsmanager:") for a in actions):
                text = str(st["Resource"])
                assert f"secret:relaycast/{synth.config.slug}/app-??????" in text, (name, text)


def test_no_statement_allows_every_action(synth):
    for logical_id, policy in synth.of_type("AWS::IAM::Policy").items():
        for st in policy["Properties"]["PolicyDocument"]["Statement"]:
            actions = st["Action"] if isinstance(st["Action"], list) else [st["Action"]]
            assert not any(a == "*" or a.endswith(":*") for a in actions), (logical_id, actions)


def test_the_only_resource_wildcards_are_xray_log_delivery_and_list_streams(synth):
    allowed = {
        "xray:PutTraceSegments", "xray:PutTelemetryRecords", "xray:GetSamplingRules", "xray:GetSamplingTargets",
        "logs:CreateLogDelivery", "logs:GetLogDelivery", "logs:UpdateLogDelivery", "logs:DeleteLogDelivery",
        "logs:ListLogDeliveries", "logs:PutResourcePolicy", "logs:DescribeResourcePolicies",
        "logs:DescribeLogGroups",
        "dynamodb:ListStreams",  # expire's stream event source: ListStreams has no resource-level permission
    }
    for logical_id, policy in synth.of_type("AWS::IAM::Policy").items():
        for st in policy["Properties"]["PolicyDocument"]["Statement"]:
            if st.get("Resource") == "*":
                actions = st["Action"] if isinstance(st["Action"], list) else [st["Action"]]
                assert set(actions) <= allowed, (logical_id, actions)
