"""Domain and handler tests on moto (in-process mock), with the table shaped as the stack makes it."""


import boto3
import pytest
from moto import mock_aws

from relaycast import clock, settings as settings_module
from relaycast.storage import Store

from handler_support import EVENT, create_table


@pytest.fixture
def aws(monkeypatch):
    for name in ("AWS_ENDPOINT_URL",):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_DEFAULT_REGION", "eu-west-3")
    monkeypatch.setenv("AWS_REGION", "eu-west-3")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    with mock_aws():
        settings_module.reset_caches()
        yield
    settings_module.reset_caches()


@pytest.fixture
def table(aws):
    return create_table("relaycast-test")


@pytest.fixture
def store(table):
    return Store(table)


@pytest.fixture
def kms_key(aws):
    return boto3.client("kms").create_key()["KeyMetadata"]["Arn"]


@pytest.fixture
def frozen_clock():
    from datetime import UTC, datetime, timedelta

    class Frozen:
        def __init__(self):
            self.at = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)

        def __call__(self):
            return self.at

        def advance(self, **delta):
            self.at += timedelta(**delta)

    frozen = Frozen()
    clock.use(frozen)
    yield frozen
    clock.use(None)


@pytest.fixture
def stack_env(table, kms_key, monkeypatch):
    """What the stack gives every function: table, key, config parameter, app secret, queue."""
    import json

    from relaycast.config import parse_event_config

    config = parse_event_config(EVENT)
    boto3.client("ssm").put_parameter(Name="/relaycast/handler-test/config", Value=config.to_json(), Type="String")
    secret = {"x_client_id": "cid", "x_client_secret": "csecret", "x_bearer_token": "bearer", "signing_key": "k" * 32}
    boto3.client("secretsmanager").create_secret(Name="relaycast/handler-test/app", SecretString=json.dumps(secret))
    queue = boto3.client("sqs").create_queue(QueueName="publish")["QueueUrl"]
    end_grant_queue = boto3.client("sqs").create_queue(QueueName="end-grant")["QueueUrl"]
    env = {
        "TABLE_NAME": table,
        "TOKEN_KEY_ID": kms_key,
        "EVENT_CONFIG_PARAMETER": "/relaycast/handler-test/config",
        "APP_SECRET_NAME": "relaycast/handler-test/app",
        "PUBLISH_QUEUE_URL": queue,
        "END_GRANT_QUEUE_URL": end_grant_queue,
        # Chalice's test client speaks https to localhost: the hosted page's configured URL.
        "HOSTED_PAGE_URL": "https://localhost/",
        "POWERTOOLS_TRACE_DISABLED": "true",
        "POWERTOOLS_METRICS_NAMESPACE": "relaycast",
    }
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    settings_module.reset_caches()
    return env


@pytest.fixture
def x_sandbox(stack_env, frozen_clock, monkeypatch):
    """The sandbox X on loopback, with ten posts of the event and the SES sender verified."""
    from datetime import timedelta

    from relaycast_local.sandbox_x import SandboxX

    with SandboxX(client_id="cid", client_secret="csecret", bearer_token="bearer") as sandbox:
        monkeypatch.setenv("X_API_BASE", sandbox.base_url)
        monkeypatch.setenv("X_AUTHORIZE_URL", sandbox.authorize_url)
        for i in range(10):
            sandbox.add_posts([{"id": str(1000 + i), "text": f"Insight {i} #HTS26", "username": "amina_data", "author_id": "77",
                                "created_at": frozen_clock.at - timedelta(minutes=30)}])
        boto3.client("ses").verify_email_identity(EmailAddress="relaycast@example.org")
        yield sandbox


@pytest.fixture
def lambda_context():
    class LambdaContext:
        function_name = "relaycast-test"
        memory_limit_in_mb = 256
        invoked_function_arn = "arn:aws:lambda:eu-west-3:123456789012:function:relaycast-test"
        aws_request_id = "00000000-0000-0000-0000-000000000001"

        @staticmethod
        def get_remaining_time_in_millis():
            return 30_000

    return LambdaContext()
