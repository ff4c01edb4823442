"""The stack of one event: one construct per concern, and the cdk-nag acknowledgments."""

from __future__ import annotations

from aws_cdk import CfnOutput, Stack
from constructs import Construct
from relaycast.config import EventConfig

from infra.connect_api import ConnectApi
from infra.function import FunctionCommons, shared_layer
from infra.monitoring import Monitoring
from infra.nag import acknowledge
from infra.notices import Notices
from infra.parts import StackParts
from infra.pipeline import Pipeline
from infra.schedules import Schedules
from infra.storage import Storage
from infra.waf import RateLimits


def stack_name(config: EventConfig) -> str:
    return f"relaycast-{config.slug}"


class RelaycastStack(Stack):
    """Storage, notices, pipeline, connect API (and its rate limits), schedules and monitoring of one event."""

    def __init__(
        self, scope: Construct, id: str, *, config: EventConfig, acknowledge_findings: bool = True, **kwargs
    ) -> None:
        # Stack tags (CloudFormation propagates them at deploy) rather than resource tags in the template:
        # moto's CloudFormation, which the local runtime deploys into, fails on KMS keys' and SSM parameters' tags.
        super().__init__(
            scope,
            id,
            description=f"relaycast: {config.name} ({config.slug})",
            tags={"relaycast:event": config.slug},
            **kwargs,
        )
        self.config = config

        self.storage = Storage(self, "Storage", config=config)
        self.notices = Notices(self, "Notices", config=config)
        commons = FunctionCommons(
            layer=shared_layer(self),
            environment=self.storage.environment(),
            name_prefix=stack_name(config),
        )
        parts = StackParts(config=config, storage=self.storage, notices=self.notices, commons=commons)
        self.pipeline = Pipeline(self, "Pipeline", parts=parts)
        self.connect_api = ConnectApi(self, "ConnectApi", parts=parts, publish_queue=self.pipeline.publish_queue)
        self.rate_limits = RateLimits(self, "RateLimits", api=self.connect_api.api, name=f"{stack_name(config)}-hosted-page")
        # The moderator's link and the relays' proposal digests lead to the hosted app.
        for fn in (self.pipeline.select, self.pipeline.propose):
            fn.function.add_environment("HOSTED_PAGE_URL", self.connect_api.url)
        self.schedules = Schedules(self, "Schedules", parts=parts, state_machine=self.pipeline.state_machine,
                                   publish=self.pipeline.publish.function)
        if "bluesky" in config.networks:  # relaycast's Bluesky client_id is a URL of the hosted page
            for fn in (self.pipeline.publish, self.schedules.expire):
                fn.function.add_environment("HOSTED_PAGE_URL", self.connect_api.url)
        self.functions = {
            "oauth": self.connect_api.oauth,
            "poll": self.pipeline.poll,
            "select": self.pipeline.select,
            "propose": self.pipeline.propose,
            "publish": self.pipeline.publish,
            "expire": self.schedules.expire,
        }
        self.dead_letter_queues = {
            "publish": self.pipeline.publish_dlq,
            "propose": self.pipeline.propose_dlq,
            "expire": self.schedules.expire_dlq,
            "schedule": self.schedules.schedule_dlq,
            "end-grant": self.schedules.end_grant_dlq,
        }
        self.monitoring = Monitoring(
            self,
            "Monitoring",
            config=config,
            functions={name: f.function for name, f in self.functions.items()},
            dead_letter_queues=self.dead_letter_queues,
            state_machine=self.pipeline.state_machine,
        )

        CfnOutput(self, "TableName", value=self.storage.table.table_name)
        CfnOutput(self, "StateMachineArn", value=self.pipeline.state_machine.state_machine_arn)
        CfnOutput(self, "PublishQueueUrl", value=self.pipeline.publish_queue.queue_url)
        CfnOutput(self, "AppSecretName", value=self.storage.app_secret_name)
        CfnOutput(self, "EventConfigParameter", value=self.storage.config_parameter_name)

        # cdk-nag acknowledgments (tests build the stack without them to check each one is still needed).
        self.acknowledgments = acknowledge(self) if acknowledge_findings else []
