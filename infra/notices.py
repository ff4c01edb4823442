"""Notices: the SES sender identity and configuration set for proposals and revocation receipts."""

from __future__ import annotations

from aws_cdk import Stack
from aws_cdk import aws_iam as iam
from aws_cdk import aws_ses as ses
from constructs import Construct
from relaycast.config import EventConfig


class Notices(Construct):
    """The `notice_sender` identity (its configuration set is the identity's default)."""

    def __init__(self, scope: Construct, id: str, *, config: EventConfig) -> None:
        super().__init__(scope, id)
        self.sender = config.notice_sender
        self.configuration_set_name = f"relaycast-{config.slug}"
        self.configuration_set = ses.ConfigurationSet(
            self,
            "ConfigurationSet",
            configuration_set_name=self.configuration_set_name,
            reputation_metrics=True,
            sending_enabled=True,
            tls_policy=ses.ConfigurationSetTlsPolicy.REQUIRE,
            suppression_reasons=ses.SuppressionReasons.BOUNCES_AND_COMPLAINTS,
        )
        self.identity = ses.EmailIdentity(
            self,
            "Sender",
            identity=ses.Identity.email(self.sender),
            configuration_set=self.configuration_set,
        )

    def grant_send(self, grantee: iam.IGrantable) -> None:
        """`ses:SendEmail` from the sender (address or its domain) through the configuration set only.

        The ARNs are built from the names rather than from Refs, so the functions' policies do not depend on
        SES resources (which moto's CloudFormation skips).
        """
        stack = Stack.of(self)
        domain = self.sender.rsplit("@", 1)[1]
        resources = [
            stack.format_arn(service="ses", resource="identity", resource_name=self.sender),
            stack.format_arn(service="ses", resource="identity", resource_name=domain),
            stack.format_arn(service="ses", resource="configuration-set", resource_name=self.configuration_set_name),
        ]
        iam.Grant.add_to_principal(
            grantee=grantee,
            actions=["ses:SendEmail", "ses:SendRawEmail"],
            resource_arns=resources,
            conditions={"StringEquals": {"ses:FromAddress": self.sender}},
        )
