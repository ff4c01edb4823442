"""cdk-nag acknowledgments: each unavoidable finding, on the narrowest construct, with its reason.

cdk-nag v3 acknowledges findings through CDK's `Validations.of(construct).acknowledge(...)`; an
acknowledgment covers the construct and its children, and a finding with a detail (IAM5's
`[Action::...]`/`[Resource::...]`) is acknowledged one detail at a time. Everything cheap to fix is fixed
in the constructs instead (own Lambda roles instead of AWSLambdaBasicExecutionRole, request validator,
DLQs on every queue and asynchronous target, X-Ray and full logging on the state machine, …).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, NamedTuple

from aws_cdk import Acknowledgment, Stack, Validations
from constructs import IConstruct

if TYPE_CHECKING:
    from infra.stack import RelaycastStack

XRAY = (
    "X-Ray's PutTraceSegments/PutTelemetryRecords support no resource-level permissions; the statement is "
    "the one Tracing.ACTIVE adds"
)
KMS_GRANT = (
    "GenerateDataKey*/ReEncrypt* are the action families CDK's table and key grants give for encryption; "
    "the statements are scoped to this stack's own keys (the table's key, and the tokens' key where granted)"
)
VERSIONS = (
    "the target is one function of this stack; the ':*' suffix (its versions and aliases) is what CDK's "
    "invoke grant adds, no other function is reachable"
)


class Acknowledged(NamedTuple):
    path: str
    rule: str
    reason: str


Ack = Callable[[IConstruct, str, str], None]


def _arn_of(construct: IConstruct) -> str:
    """How cdk-nag names a `Fn::GetAtt [X, Arn]` in an IAM5 finding: `<X.Arn>`."""
    logical_id = Stack.of(construct).resolve(Stack.of(construct).get_logical_id(construct.node.default_child))
    return f"<{logical_id}.Arn>"


def acknowledge(stack: RelaycastStack) -> list[Acknowledged]:
    """Acknowledge the stack's unavoidable findings; returns them (construct path, rule, reason)."""
    done: list[Acknowledged] = []

    def ack(construct: IConstruct, rule: str, reason: str) -> None:
        Validations.of(construct).acknowledge(Acknowledgment(id=rule, reason=reason))
        done.append(Acknowledged(construct.node.path, rule, reason))

    _acknowledge(stack, ack)
    return done


def _acknowledge(stack: RelaycastStack, ack: Ack) -> None:
    table_arn = _arn_of(stack.storage.table)

    for name, fn in stack.functions.items():
        reason = f"{name}: {XRAY}"
        if name == "expire":
            reason = (
                f"expire: {XRAY}; besides, its DynamoDB stream event source needs dynamodb:ListStreams, which "
                "supports no resource-level permission either"
            )
        ack(fn.role, "AwsSolutions-IAM5[Resource::*]", reason)
        ack(fn.role, "AwsSolutions-IAM5[Action::kms:GenerateDataKey*]", f"{name}: {KMS_GRANT}")
        ack(fn.role, "AwsSolutions-IAM5[Action::kms:ReEncrypt*]", f"{name}: {KMS_GRANT}")
        ack(
            fn.role,
            f"AwsSolutions-IAM5[Resource::{table_arn}/index/*]",
            f"{name}: queries the table's GSI by_kind (grants, proposals); '/index/*' is how CDK's table grant "
            "names the table's indexes, all of this one table",
        )
        ack(
            fn.function,
            "AwsSolutions-L1",
            "the run time is pinned to python3.13 on purpose: the shared layer's compiled wheels "
            "(pydantic-core, cryptography) are built for CPython 3.13 arm64 by `make layer`",
        )
        ack(
            fn.function,
            "Serverless-LambdaLatestVersion",
            "python3.13 is pinned to match the shared layer's compiled wheels (built for 3.13 by `make layer`)",
        )
    synchronous = {
        "oauth": "API Gateway invokes it synchronously (a proxy integration)",
        "poll": "the round's Step Functions task invokes it synchronously and retries it",
        "select": "the round's Step Functions task invokes it synchronously and retries it",
        "propose": "an SQS event source invokes it; failed work items return to the queue, whose own DLQ takes them",
        "publish": "an SQS event source invokes it; failed jobs return to the queue, whose own DLQ takes them",
    }
    for name, how in synchronous.items():
        ack(
            stack.functions[name].function,
            "Serverless-LambdaDLQ",
            f"{name}: {how}; a function's dead-letter queue only applies to asynchronous invocations",
        )

    pipeline = stack.pipeline
    round_role = pipeline.state_machine.role
    ack(
        round_role,
        "AwsSolutions-IAM5[Resource::*]",
        "Step Functions log delivery (logs:CreateLogDelivery and related) and X-Ray tracing do not support "
        "resource-level permissions; these are the statements CDK adds for LogLevel ALL and tracing",
    )
    for fn in (pipeline.poll, pipeline.select):
        ack(round_role, f"AwsSolutions-IAM5[Resource::{_arn_of(fn.function)}:*]", f"{fn.service_name}: {VERSIONS}")
    for name, consumer, dlq in (("publish", pipeline.publish, pipeline.publish_dlq), ("propose", pipeline.propose, pipeline.propose_dlq)):
        ack(
            consumer.function,
            "Serverless-LambdaEventSourceMappingDestination",
            f"an SQS event source mapping cannot have an on-failure destination; failed messages go to the {name} "
            "queue's DLQ after 5 receives (redrive policy), which raises an alarm",
        )
        ack(
            dlq,
            "Serverless-SQSRedrivePolicy",
            f"this queue is the {name} queue's dead-letter queue (terminal); its depth raises an alarm",
        )

    schedules = stack.schedules
    expire_versions = f"AwsSolutions-IAM5[Resource::{_arn_of(schedules.expire.function)}:*]"
    ack(schedules.sweep_role, expire_versions, f"expire: {VERSIONS}")
    ack(schedules.release_role, f"AwsSolutions-IAM5[Resource::{_arn_of(pipeline.publish.function)}:*]", f"publish: {VERSIONS}")
    ack(
        schedules.expire_dlq,
        "Serverless-SQSRedrivePolicy",
        "this queue is expire's dead-letter queue (stream on-failure destination and asynchronous DLQ); its "
        "depth raises an alarm",
    )
    ack(
        schedules.end_grant_dlq,
        "Serverless-SQSRedrivePolicy",
        "this queue is the end-grant queue's dead-letter queue (terminal); its depth raises an alarm",
    )
    ack(
        schedules.expire.function,
        "Serverless-LambdaEventSourceMappingDestination",
        "expire's SQS event source (the end-grant queue) cannot have an on-failure destination; messages go "
        "to that queue's DLQ after 5 receives (redrive policy), which raises an alarm; its stream event "
        "source has one (expire's DLQ)",
    )
    ack(
        schedules.schedule_dlq,
        "AwsSolutions-SQS3",
        "this queue is the dead-letter queue of the three EventBridge Scheduler targets (cdk-nag only recognises "
        "queues named in a redrive policy); its depth raises an alarm",
    )
    ack(
        schedules.schedule_dlq,
        "Serverless-SQSRedrivePolicy",
        "this queue is the Scheduler targets' dead-letter queue (terminal); its depth raises an alarm",
    )

    api = stack.connect_api.api
    ack(
        api,
        "AwsSolutions-APIG4",
        "the hosted page is public by nature: relays are anonymous until they connect a network account; "
        "identity comes from each network's OAuth flow, and the relay's dashboard from links signed with the "
        "app's signing key",
    )
    ack(
        api,
        "AwsSolutions-COG4",
        "no Cognito user pool: relays sign in with the network they relay on (OAuth 2.0 + PKCE), never with an "
        "account of ours",
    )
    push_to_logs = "arn:<AWS::Partition>:iam::aws:policy/service-role/AmazonAPIGatewayPushToCloudWatchLogs"
    ack(
        api,
        f"AwsSolutions-IAM4[Policy::{push_to_logs}]",
        "the account-level API Gateway logging role uses the AWS policy documented for it; it is needed for "
        "the stage's execution logs",
    )
    ack(
        stack.storage.app_secret,
        "AwsSolutions-SMG4",
        "no automatic rotation: the X client credentials are issued and rotated in the X developer portal by "
        "the organiser, and the signing key lives for one event (rotating it mid-event would void the "
        "relays' links)",
    )
