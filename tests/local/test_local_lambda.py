"""In-process Lambda: real handlers run in this process, with their environment, the one clock and Lambda's
error contract; and the gaps deploy fills after moto's CloudFormation."""

from __future__ import annotations

import json
import os
import sys

import pytest

from relaycast_local import moto_patches
from relaycast_local.runtime import PINNED_MOTO_VERSION

pytestmark = pytest.mark.xdist_group("relaycast-local")


def test_handler_runs_in_process_with_its_environment_and_the_one_clock(cloud, stack, sim):
    payload, error = stack.invoke("EchoFn", {"hello": "world"})

    assert error is None
    assert payload["event"] == {"hello": "world"}
    assert payload["now"] == sim.now().isoformat()  # the handler read relaycast.clock: the simulated instant
    assert payload["env"] == {
        "TABLE_NAME": stack.table_name("Table"),
        "GREETING": "hello",
        "APP_SECRET_NAME": "relaycast-fixture/app",
        "X_API_BASE": "http://127.0.0.1:9/sandbox-x",  # env_overrides
    }
    assert payload["secret_keys"] == ["signing_key", "x_bearer_token", "x_client_id", "x_client_secret"]
    name = stack.function_name("EchoFn")
    assert payload["context"] == {
        "function_name": name,
        "memory_limit_in_mb": 256,
        "invoked_function_arn": f"arn:aws:lambda:{cloud.region}:{cloud.account_id}:function:{name}",
        "remaining_ms_positive": True,
    }
    assert "GREETING" not in os.environ and "TABLE_NAME" not in os.environ  # restored after the call


def test_an_exception_is_a_lambda_function_error(cloud, stack):
    response = cloud.client("lambda").invoke(
        FunctionName=stack.function_name("EchoFn"), Payload=json.dumps({"fail": "on purpose"}).encode()
    )
    payload = json.loads(response["Payload"].read())

    assert response["FunctionError"] == "Unhandled"
    assert payload["errorType"] == "ValueError"
    assert payload["errorMessage"] == "asked to fail: on purpose"
    assert any("handler.py" in line for line in payload["stackTrace"])


def test_a_folder_named_select_never_shadows_the_standard_library(stack):
    payload, error = stack.invoke("SelectFn", {"round": "r0", "count": 1})

    assert error is None and payload["stdlib_select"] is True
    import select

    assert hasattr(select, "select")
    assert not any(p.rstrip("/").endswith("select") for p in sys.path)
    assert not any(name == "handler" for name in sys.modules)  # loaded under a unique module name


def test_function_map_points_at_the_cdk_asset_folders(stack, assembly):
    code = stack.function_code
    folder, handler = code[stack.function_name("SelectFn")]
    assert handler == "handler.handler"
    assert folder.parent == assembly.resolve() and folder.name.startswith("asset.")
    assert (folder / "handler.py").is_file()
    assert code[stack.function_name("ApiFn")][1] == "app.app"


def test_deploy_fills_moto_gaps(cloud, stack):
    ddb = cloud.client("dynamodb")
    ttl = ddb.describe_time_to_live(TableName=stack.table_name("Table"))["TimeToLiveDescription"]
    assert ttl == {"TimeToLiveStatus": "ENABLED", "AttributeName": "expires_at"}

    secret = cloud.client("secretsmanager").get_secret_value(SecretId="relaycast-fixture/app")
    assert json.loads(secret["SecretString"])["x_client_secret"] == "s3cret"
    assert stack.secrets["relaycast-fixture/app"] == secret["ARN"]

    verification = cloud.client("ses").get_identity_verification_attributes(Identities=["noreply@example.org"])
    assert verification["VerificationAttributes"]["noreply@example.org"]["VerificationStatus"] == "Success"

    assert {s.logical_id: s.expression for s in stack.schedules} == {
        "Window": "rate(1 hour)",
        "OneShot": "at(2030-01-01T15:30:00)",
        stack.logical_id("Daily", "AWS::Events::Rule"): "cron(0 12 * * ? *)",
    }
    one_shot = next(s for s in stack.schedules if s.logical_id == "OneShot")
    assert one_shot.targets[0].arn == stack.state_machine_arn()
    assert set(stack.skipped.values()) >= {
        "AWS::SecretsManager::Secret",
        "AWS::SES::EmailIdentity",
        "AWS::Scheduler::Schedule",
        "AWS::CloudWatch::Alarm",
        "AWS::ApiGateway::Stage",
    }
    filled = "\n".join(stack.gaps_filled)
    for expected in ("TTL on expires_at", "state machine Round", "secret relaycast-fixture/app", "SSM parameter EventConfig"):
        assert expected in filled
    # A custom resource whose provider is a Node function (CDK's log retention) was answered.
    assert stack.resources[stack.logical_id("ExpireLogRetention")].type == "Custom::LogRetention"
    # The stack's other names resolve.
    assert stack.queue_url("PublishQueue").startswith(cloud.endpoint_url)
    assert stack.rest_api_id()
    assert stack.outputs["MachineArn"] == stack.state_machine_arn()


def test_the_patch_is_pinned_to_the_moto_version(monkeypatch):
    import moto

    monkeypatch.setattr(moto, "__version__", "9.9.9")
    with pytest.raises(RuntimeError, match=PINNED_MOTO_VERSION):
        moto_patches.check_moto_version()


def _zip(files: dict[str, str]) -> bytes:
    import io
    import zipfile

    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, text in files.items():
            archive.writestr(name, text)
    return buffer.getvalue()


def test_functions_created_outside_the_stack_run_from_their_zip_with_their_own_modules(cloud, stack):
    lam = cloud.client("lambda")
    role = lam.get_function_configuration(FunctionName=stack.function_name("EchoFn"))["Role"]
    handler = "import util\n\ndef handler(event, context):\n    import lazy\n    return [util.NAME, lazy.NAME]\n"
    for name in ("one", "two"):
        lam.create_function(
            FunctionName=f"zip-{name}",
            Runtime="python3.13",
            Role=role,
            Handler="main.handler",
            Code={"ZipFile": _zip({"main.py": handler, "util.py": f"NAME = '{name}'", "lazy.py": f"NAME = 'lazy-{name}'"})},
        )

    assert cloud.invoke("zip-one") == (["one", "lazy-one"], None)
    assert cloud.invoke("zip-two") == (["two", "lazy-two"], None)  # its own util.py, not zip-one's
    assert cloud.invoke("zip-one") == (["one", "lazy-one"], None)
    assert "util" not in sys.modules and "lazy" not in sys.modules
