"""The pipeline: poll, select, propose and publish, the round's state machine, the propose and publish queues."""

from __future__ import annotations


from aws_cdk import ArnFormat, Duration, RemovalPolicy, Stack
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda_event_sources as event_sources
from aws_cdk import aws_logs as logs
from aws_cdk import aws_sqs as sqs
from aws_cdk import aws_stepfunctions as sfn
from aws_cdk import aws_stepfunctions_tasks as tasks
from constructs import Construct
from relaycast.config import EventConfig
from relaycast.moderation import backstop_seconds

from infra.function import LOG_RETENTION
from infra.parts import StackParts

PUBLISH_TIMEOUT = Duration.seconds(30)
# A work item is 100 relays: their proposals, auto jobs and digest mails.
PROPOSE_TIMEOUT = Duration.seconds(120)
MAX_RECEIVE_COUNT = 5


def work_queue(scope: Construct, id: str, *, consumer_timeout: Duration, dead_letters: sqs.IQueue) -> sqs.Queue:
    """A queue a function consumes: encrypted, TLS only, redriven to its DLQ after MAX_RECEIVE_COUNT."""
    return sqs.Queue(
        scope,
        id,
        encryption=sqs.QueueEncryption.SQS_MANAGED,
        enforce_ssl=True,
        # AWS's advice: at least six times the consumer's timeout.
        visibility_timeout=Duration.seconds(consumer_timeout.to_seconds() * 6),
        retention_period=Duration.days(4),
        dead_letter_queue=sqs.DeadLetterQueue(queue=dead_letters, max_receive_count=MAX_RECEIVE_COUNT),
    )


def round_name(config: EventConfig) -> str:
    return f"relaycast-{config.slug}-round"


def grant_task_response(scope: Construct, config: EventConfig, grantee: iam.IGrantable) -> None:
    """May answer the round's task tokens (moderation). The ARN is built from the name, not a Ref, so the
    functions that answer do not depend on the state machine, which depends on them."""
    arn = Stack.of(scope).format_arn(
        service="states", resource="stateMachine", resource_name=round_name(config), arn_format=ArnFormat.COLON_RESOURCE_NAME
    )
    iam.Grant.add_to_principal(grantee=grantee, actions=["states:SendTaskSuccess"], resource_arns=[arn])


def dead_letter_queue(scope: Construct, id: str) -> sqs.Queue:
    """A DLQ as every DLQ of the stack is: encrypted, TLS only, kept the longest SQS allows."""
    return sqs.Queue(
        scope,
        id,
        encryption=sqs.QueueEncryption.SQS_MANAGED,
        enforce_ssl=True,
        retention_period=Duration.days(14),
    )


class Pipeline(Construct):
    """Poll → Select (Step Functions) → fan-out: work items → SQS → propose; approved jobs → SQS → publish."""

    def __init__(self, scope: Construct, id: str, *, parts: StackParts) -> None:
        super().__init__(scope, id)
        config, storage, notices = parts.config, parts.storage, parts.notices

        minute = Duration.seconds(60)
        self.poll = parts.function(self, "PollFunction", "poll", "polls the event hashtags into candidates",
                                   memory_size=256, timeout=minute)
        self.select = parts.function(self, "SelectFunction", "select", "selects the round's most insightful candidates",
                                     memory_size=512, timeout=minute)
        self.propose = parts.function(self, "ProposeFunction", "propose", "proposes a round's picks to a work item's relays",
                                      memory_size=256, timeout=PROPOSE_TIMEOUT)
        self.publish = parts.function(self, "PublishFunction", "publish", "publishes an approved job through a relay's account",
                                      memory_size=256, timeout=PUBLISH_TIMEOUT)

        for fn in (self.poll, self.select, self.propose, self.publish):
            storage.grant_table_read_write(fn.function)
            storage.grant_config_read(fn.function)
        # poll reads the X bearer token; publish refreshes tokens with the app's client credentials.
        storage.grant_app_secret_read(self.poll.function)
        storage.grant_app_secret_read(self.publish.function)
        # publish decrypts a relay's tokens and re-encrypts them when a refresh rotates them.
        storage.token_key.grant_encrypt_decrypt(self.publish.function)
        if "bluesky" in config.networks:  # the event's Bluesky session (app password) is kept sealed between polls
            storage.token_key.grant_encrypt_decrypt(self.poll.function)
        # A grant revoked at the network ends where it is found (publish): revocation path and receipt.
        notices.grant_send(self.publish.function)
        # select mails the moderator's round, propose each relay's digest: both with signed links.
        for fn in (self.select, self.propose):
            notices.grant_send(fn.function)
            storage.grant_app_secret_read(fn.function)
        if config.moderation:  # and applies the time-out rule to rounds left waiting
            grant_task_response(self, config, self.select.function)

        self.publish_dlq = dead_letter_queue(self, "PublishDlq")
        self.publish_queue = work_queue(
            self, "PublishQueue", consumer_timeout=PUBLISH_TIMEOUT, dead_letters=self.publish_dlq
        )
        # A job that must wait (a budget spent, a platform's reset time) goes back to its queue, delayed.
        self.publish.function.add_environment("PUBLISH_QUEUE_URL", self.publish_queue.queue_url)
        self.publish_queue.grant_send_messages(self.publish.function)
        self.publish.function.add_event_source(
            event_sources.SqsEventSource(
                self.publish_queue,
                batch_size=10,
                max_batching_window=Duration.seconds(1),
                report_batch_item_failures=True,
                # Networks rate-limit per user and per app: keep the fan-out of publishes modest.
                max_concurrency=5,
            )
        )

        # propose queues the auto mode's jobs, after each relay's own delay.
        self.propose.function.add_environment("PUBLISH_QUEUE_URL", self.publish_queue.queue_url)
        self.publish_queue.grant_send_messages(self.propose.function)

        self.propose_dlq = dead_letter_queue(self, "ProposeDlq")
        self.propose_queue = work_queue(
            self, "ProposeQueue", consumer_timeout=PROPOSE_TIMEOUT, dead_letters=self.propose_dlq
        )
        self.select.function.add_environment("PROPOSE_QUEUE_URL", self.propose_queue.queue_url)
        self.propose_queue.grant_send_messages(self.select.function)
        self.propose.function.add_event_source(
            event_sources.SqsEventSource(
                self.propose_queue,
                batch_size=1,
                report_batch_item_failures=True,
                # Each item mails up to 100 digests: the concurrency keeps SES's sending rate.
                max_concurrency=10,
            )
        )

        self.state_machine = self._round(config)

    def _round(self, config: EventConfig) -> sfn.StateMachine:
        poll = tasks.LambdaInvoke(
            self,
            "Poll",
            lambda_function=self.poll.function,
            payload_response_only=True,
            result_path="$.poll",
            comment="fetch new posts of the event hashtags into candidates",
        )
        select = tasks.LambdaInvoke(
            self,
            "Select",
            lambda_function=self.select.function,
            payload_response_only=True,
            result_path="$.selection",
            comment="score the candidates; picks and the relays to propose them to",
        )

        # The state holds the picks, never the relays: select pages them into the propose queue's work items.
        picks = "$.moderation.picks" if config.moderation else "$.selection.picks"
        fan_out = tasks.LambdaInvoke(
            self,
            "FanOut",
            lambda_function=self.select.function,
            payload=sfn.TaskInput.from_object({
                "action": "fan_out",
                "selection": {
                    "round": sfn.JsonPath.string_at("$.selection.round"),
                    "picks": sfn.JsonPath.object_at(picks),
                    "proposal_expires_at": sfn.JsonPath.number_at("$.selection.proposal_expires_at"),
                    "expires_at": sfn.JsonPath.number_at("$.selection.expires_at"),
                },
            }),
            payload_response_only=True,
            result_path="$.fan_out",
            comment="page the relays with room into work items for propose (their proposals, auto jobs, digests)",
        )
        # Queuing a work item twice is harmless: proposals are written once, digests claimed once per relay and
        # round, and publish never publishes a relay-post twice.
        fan_out.add_retry(errors=["States.TaskFailed", "Lambda.TooManyRequestsException"],
                          interval=Duration.seconds(5), max_attempts=3, backoff_rate=2)
        done = sfn.Succeed(self, "Done")
        propose = fan_out.next(done)
        if config.moderation:
            propose = self._moderation(config, propose, done)
        has_picks = (
            sfn.Choice(self, "HasPicks", comment="nothing to propose when the selection is empty")
            .when(sfn.Condition.is_present("$.selection.picks[0]"), propose)
            .otherwise(done)
        )
        definition = poll.next(select).next(has_picks)

        self.log_group = logs.LogGroup(
            self,
            "RoundLogs",
            log_group_name=f"/aws/vendedlogs/states/relaycast-{config.slug}-round",
            retention=LOG_RETENTION,
            removal_policy=RemovalPolicy.DESTROY,
        )
        state_machine = sfn.StateMachine(
            self,
            "Round",
            state_machine_name=round_name(config),
            definition_body=sfn.DefinitionBody.from_chainable(definition),
            state_machine_type=sfn.StateMachineType.STANDARD,
            # A moderated round waits for the moderator (at most its backstop) before it proposes.
            timeout=Duration.seconds(600 + (backstop_seconds(config) if config.moderation else 0)),
            tracing_enabled=True,
            logs=sfn.LogOptions(destination=self.log_group, level=sfn.LogLevel.ALL, include_execution_data=True),
            comment="one round: poll, select, propose the picks to the relays",
        )
        return state_machine

    def _moderation(self, config: EventConfig, propose: sfn.IChainable, done: sfn.IChainable) -> sfn.IChainable:
        """Moderate (select with a task token) → the approved picks, or the time-out rule → propose them."""
        assert config.moderation
        moderate = tasks.LambdaInvoke(
            self,
            "Moderate",
            lambda_function=self.select.function,
            integration_pattern=sfn.IntegrationPattern.WAIT_FOR_TASK_TOKEN,
            payload=sfn.TaskInput.from_object(
                {"action": "moderate", "selection": sfn.JsonPath.object_at("$.selection"), "task_token": sfn.JsonPath.task_token}
            ),
            result_path="$.moderation",
            # The next rounds apply the rule at the event's timeout; this is the backstop after the last one.
            task_timeout=sfn.Timeout.duration(Duration.seconds(backstop_seconds(config))),
            comment="the moderator approves or rejects each pick (task token, answered from the hosted app)",
        )
        rule = sfn.Pass(
            self,
            "ModerationTimedOut",
            parameters={"picks.$": "$.selection.picks"} if config.moderation.on_timeout == "approve-all" else {"picks": []},
            result_path="$.moderation",
            comment=f"nobody decided in time: {config.moderation.on_timeout}",
        )
        moderate.add_catch(rule, errors=["States.Timeout"], result_path="$.moderation_error")
        approved = (
            sfn.Choice(self, "AnyApproved", comment="propose only what was approved")
            .when(sfn.Condition.is_present("$.moderation.picks[0]"), propose)
            .otherwise(done)
        )
        rule.next(approved)
        return moderate.next(approved)
