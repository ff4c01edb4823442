"""Storage: the one table, the two KMS keys, the event config parameter and the app secret."""

from __future__ import annotations

import json

from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_secretsmanager as secretsmanager
from aws_cdk import aws_ssm as ssm
from constructs import Construct
from relaycast.config import EventConfig

TTL_ATTRIBUTE = "expires_at"
KIND_INDEX = "by_kind"
# SSM standard parameters hold at most 4 KB.
STANDARD_PARAMETER_LIMIT = 4096
X_API_BASE = "https://api.x.com"
X_AUTHORIZE_URL = "https://x.com/i/oauth2/authorize"


class Storage(Construct):
    """Everything the functions read and write, and the environment that names it for them."""

    def __init__(self, scope: Construct, id: str, *, config: EventConfig) -> None:
        super().__init__(scope, id)
        self.table_key = kms.Key(
            self,
            "TableKey",
            description=f"relaycast {config.slug}: encrypts the table and its stream at rest",
            enable_key_rotation=True,
        )
        # A second key for the relays' OAuth tokens, so that reading the table never implies reading tokens.
        self.token_key = kms.Key(
            self,
            "TokenKey",
            description=f"relaycast {config.slug}: encrypts the relays' OAuth tokens inside grant items",
            enable_key_rotation=True,
        )

        self.table = dynamodb.Table(
            self,
            "Table",
            partition_key=dynamodb.Attribute(name="pk", type=dynamodb.AttributeType.STRING),
            sort_key=dynamodb.Attribute(name="sk", type=dynamodb.AttributeType.STRING),
            billing_mode=dynamodb.BillingMode.PAY_PER_REQUEST,
            point_in_time_recovery_specification=dynamodb.PointInTimeRecoverySpecification(
                point_in_time_recovery_enabled=True
            ),
            encryption=dynamodb.TableEncryption.CUSTOMER_MANAGED,
            encryption_key=self.table_key,
            time_to_live_attribute=TTL_ATTRIBUTE,
            # Old images let `expire` revoke a grant that TTL has already deleted.
            stream=dynamodb.StreamViewType.NEW_AND_OLD_IMAGES,
        )
        self.table.add_global_secondary_index(
            index_name=KIND_INDEX,
            partition_key=dynamodb.Attribute(name="kind", type=dynamodb.AttributeType.STRING),
            sort_key=dynamodb.Attribute(name="pk", type=dynamodb.AttributeType.STRING),
            projection_type=dynamodb.ProjectionType.ALL,
        )

        config_json = config.to_json()
        self.config_parameter_name = f"/relaycast/{config.slug}/event-config"
        self.config_parameter = ssm.StringParameter(
            self,
            "EventConfig",
            parameter_name=self.config_parameter_name,
            string_value=config_json,
            description=f"relaycast {config.slug}: the validated event config (JSON)",
            tier=(
                ssm.ParameterTier.ADVANCED
                if len(config_json.encode()) > STANDARD_PARAMETER_LIMIT
                else ssm.ParameterTier.STANDARD
            ),
        )

        # The name is explicit and handed to the functions as a plain string: the local runtime creates the
        # secret by that name, and nothing else in the template needs a Ref to it.
        self.app_secret_name = f"relaycast/{config.slug}/app"
        self.app_secret = secretsmanager.Secret(
            self,
            "AppSecret",
            secret_name=self.app_secret_name,
            description=(
                f"relaycast {config.slug}: X app credentials (filled in by the organiser) and the signing key "
                "of the hosted page's links and cookies"
            ),
            generate_secret_string=secretsmanager.SecretStringGenerator(
                secret_string_template=json.dumps({"x_client_id": "", "x_client_secret": "", "x_bearer_token": ""}),
                generate_string_key="signing_key",
                password_length=64,
                exclude_punctuation=True,
            ),
        )
        # Grants go through the name (ARN ending in -??????), not through a Ref to the secret resource.
        self._secret_by_name = secretsmanager.Secret.from_secret_name_v2(self, "AppSecretByName", self.app_secret_name)

    def environment(self) -> dict[str, str]:
        """The contract's environment shared by every function (PUBLISH_QUEUE_URL is added for oauth)."""
        return {
            "TABLE_NAME": self.table.table_name,
            "TOKEN_KEY_ID": self.token_key.key_arn,
            "EVENT_CONFIG_PARAMETER": self.config_parameter_name,
            "APP_SECRET_NAME": self.app_secret_name,
            "X_API_BASE": X_API_BASE,
            "X_AUTHORIZE_URL": X_AUTHORIZE_URL,
        }

    def grant_app_secret_read(self, grantee: iam.IGrantable) -> None:
        self._secret_by_name.grant_read(grantee)

    def grant_config_read(self, grantee: iam.IGrantable) -> None:
        self.config_parameter.grant_read(grantee)

    def grant_table_read_write(self, grantee: iam.IGrantable) -> None:
        self.table.grant_read_write_data(grantee)
