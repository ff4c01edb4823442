"""The table, the keys, the event config parameter and the app secret."""

from __future__ import annotations

import json

import pytest

pytestmark = pytest.mark.xdist_group("infra")


def test_table_is_on_demand_with_pitr_ttl_stream_and_customer_key(synth):
    _, table = synth.one("AWS::DynamoDB::Table")
    props = table["Properties"]
    assert props["BillingMode"] == "PAY_PER_REQUEST"
    assert props["PointInTimeRecoverySpecification"] == {"PointInTimeRecoveryEnabled": True}
    assert props["TimeToLiveSpecification"] == {"AttributeName": "expires_at", "Enabled": True}
    assert props["StreamSpecification"] == {"StreamViewType": "NEW_AND_OLD_IMAGES"}
    sse = props["SSESpecification"]
    assert sse["SSEEnabled"] is True and sse["SSEType"] == "KMS"
    key_id = sse["KMSMasterKeyId"]["Fn::GetAtt"][0]
    assert synth.resources[key_id]["Type"] == "AWS::KMS::Key"


def test_table_keys_and_by_kind_index(synth):
    _, table = synth.one("AWS::DynamoDB::Table")
    props = table["Properties"]
    assert props["KeySchema"] == [
        {"AttributeName": "pk", "KeyType": "HASH"},
        {"AttributeName": "sk", "KeyType": "RANGE"},
    ]
    types = {a["AttributeName"]: a["AttributeType"] for a in props["AttributeDefinitions"]}
    assert types == {"pk": "S", "sk": "S", "kind": "S"}
    (index,) = props["GlobalSecondaryIndexes"]
    assert index["IndexName"] == "by_kind"
    assert index["KeySchema"] == [
        {"AttributeName": "kind", "KeyType": "HASH"},
        {"AttributeName": "pk", "KeyType": "RANGE"},
    ]
    assert index["Projection"] == {"ProjectionType": "ALL"}


def test_every_kms_key_rotates(synth, template):
    keys = synth.of_type("AWS::KMS::Key")
    assert len(keys) == 2, "one key for the table, one for the relays' tokens"
    template.all_resources_properties("AWS::KMS::Key", {"EnableKeyRotation": True})


def test_token_key_is_not_the_table_key(synth):
    _, table = synth.one("AWS::DynamoDB::Table")
    table_key = table["Properties"]["SSESpecification"]["KMSMasterKeyId"]["Fn::GetAtt"][0]
    token_key = synth.functions()["oauth"][1]["Environment"]["Variables"]["TOKEN_KEY_ID"]["Fn::GetAtt"][0]
    assert token_key != table_key
    assert synth.resources[token_key]["Type"] == "AWS::KMS::Key"


def test_event_config_parameter_holds_the_validated_config(synth):
    _, param = synth.one("AWS::SSM::Parameter")
    props = param["Properties"]
    assert props["Type"] == "String"
    assert props["Name"] == f"/relaycast/{synth.config.slug}/event-config"
    assert json.loads(props["Value"]) == json.loads(synth.config.to_json())
    assert props.get("Tier", "Standard") == "Standard"  # the example's config is well under 4 KB


def test_app_secret_has_an_explicit_name_and_the_contract_fields(synth):
    _, secret = synth.one("AWS::SecretsManager::Secret")
    props = secret["Properties"]
    assert props["Name"] == f"relaycast/{synth.config.slug}/app"
    generator = props["GenerateSecretString"]
    template_fields = set(json.loads(generator["SecretStringTemplate"])) | {generator["GenerateStringKey"]}
    assert template_fields == {"x_client_id", "x_client_secret", "x_bearer_token", "signing_key"}


def test_nothing_supported_by_moto_refers_to_the_secret(synth):
    """The local runtime creates the secret by name: functions and policies only carry the name."""
    secret_id, _ = synth.one("AWS::SecretsManager::Secret")
    for logical_id, res in synth.resources.items():
        if logical_id != secret_id:
            assert secret_id not in synth.refs_in(res.get("Properties", {})), logical_id
    for _, props in synth.functions().values():
        assert props["Environment"]["Variables"]["APP_SECRET_NAME"] == f"relaycast/{synth.config.slug}/app"
