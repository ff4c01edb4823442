"""The pipeline: poll, select and publish, the round's state machine and the publish queue."""

from __future__ import annotations


from aws_cdk import Duration, RemovalPolicy
from aws_cdk import aws_lambda_event_sources as event_sources
from aws_cdk import aws_logs as logs
from aws_cdk import aws_sqs as sqs
from aws_cdk import aws_stepfunctions as sfn
from aws_cdk import aws_stepfunctions_tasks as tasks
from constructs import Construct
from relaycast.config import EventConfig

from infra.function import LOG_RETENTION, FunctionCommons, RelaycastFunction
from infra.notices import Notices
from infra.storage import Storage

PUBLISH_TIMEOUT = Duration.seconds(30)
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
    """Poll → Select → fan-out of proposals (Step Functions); approved jobs → SQS → publish."""

    def __init__(
        self,
        scope: Construct,
        id: str,
        *,
        config: EventConfig,
        storage: Storage,
        notices: Notices,
        commons: FunctionCommons,
    ) -> None:
        super().__init__(scope, id)

        self.poll = RelaycastFunction(
            self,
            "PollFunction",
            name="poll",
            handler="handler.handler",
            commons=commons,
            description="relaycast: polls the event hashtags into candidates",
            memory_size=256,
            timeout=Duration.seconds(60),
        )
        self.select = RelaycastFunction(
            self,
            "SelectFunction",
            name="select",
            handler="handler.handler",
            commons=commons,
            description="relaycast: selects the round's most insightful candidates",
            memory_size=512,
            timeout=Duration.seconds(60),
        )
        self.publish = RelaycastFunction(
            self,
            "PublishFunction",
            name="publish",
            handler="handler.handler",
            commons=commons,
            description="relaycast: publishes an approved job through a relay's account",
            memory_size=256,
            timeout=PUBLISH_TIMEOUT,
        )

        for fn in (self.poll, self.select, self.publish):
            storage.grant_table_read_write(fn.function)
            storage.grant_config_read(fn.function)
        # poll reads the X bearer token; publish refreshes tokens with the app's client credentials.
        storage.grant_app_secret_read(self.poll.function)
        storage.grant_app_secret_read(self.publish.function)
        # publish decrypts a relay's tokens and re-encrypts them when a refresh rotates them.
        storage.token_key.grant_encrypt_decrypt(self.publish.function)
        # A grant revoked at the network ends where it is found (publish): revocation path and receipt.
        notices.grant_send(self.publish.function)

        self.publish_dlq = dead_letter_queue(self, "PublishDlq")
        self.publish_queue = work_queue(
            self, "PublishQueue", consumer_timeout=PUBLISH_TIMEOUT, dead_letters=self.publish_dlq
        )
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

        self.state_machine = self._round(config, storage)

    def _round(self, config: EventConfig, storage: Storage) -> sfn.StateMachine:
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

        string = sfn.JsonPath.string_at
        attr = tasks.DynamoAttributeValue.from_string
        put_proposal = tasks.DynamoPutItem(
            self,
            "PutProposal",
            table=storage.table,
            item={
                "pk": attr(sfn.JsonPath.format("RELAY#{}", string("$.relay_id"))),
                "sk": attr(sfn.JsonPath.format("PROPOSAL#{}#{}", string("$.pick.network"), string("$.pick.post_id"))),
                "kind": attr("proposal"),
                "relay_id": attr(string("$.relay_id")),
                "network": attr(string("$.pick.network")),
                "post_id": attr(string("$.pick.post_id")),
                "author": attr(string("$.pick.author")),
                "text": attr(string("$.pick.text")),
                "url": attr(string("$.pick.url")),
                "score": attr(string("$.pick.score")),
                "reasons": attr(string("$.pick.reasons")),
                "round": attr(string("$.round")),
                "status": attr("pending"),
                "proposed_at": attr(string("$$.Execution.StartTime")),
                # select computes both instants: until when the relay may approve, and the record's TTL.
                "proposal_expires_at": tasks.DynamoAttributeValue.number_from_string(string("$.proposal_expires_at")),
                "expires_at": tasks.DynamoAttributeValue.number_from_string(string("$.expires_at")),
            },
            condition_expression="attribute_not_exists(pk)",
            result_path=sfn.JsonPath.DISCARD,
            comment="propose one pick to one relay, once",
        )
        put_proposal.add_retry(
            errors=["DynamoDB.ProvisionedThroughputExceededException", "DynamoDB.ThrottlingException"],
            interval=Duration.seconds(1),
            max_attempts=4,
            backoff_rate=2,
        )
        put_proposal.add_catch(
            sfn.Pass(self, "AlreadyProposed", comment="the relay already has this proposal"),
            errors=["DynamoDB.ConditionalCheckFailedException"],
            result_path=sfn.JsonPath.DISCARD,
        )

        per_pick = sfn.Map(
            self,
            "ProposePicks",
            items_path="$.picks",
            item_selector={
                "relay_id.$": "$.relay_id",
                "round.$": "$.round",
                "proposal_expires_at.$": "$.proposal_expires_at",
                "expires_at.$": "$.expires_at",
                "pick.$": "$$.Map.Item.Value",
            },
            max_concurrency=4,
            result_path=sfn.JsonPath.DISCARD,
            comment="one proposal per pick",
        )
        per_pick.item_processor(put_proposal)

        fan_out = sfn.Map(
            self,
            "FanOut",
            items_path="$.selection.relays",
            item_selector={
                "relay_id.$": "$$.Map.Item.Value",
                "round.$": "$.selection.round",
                "proposal_expires_at.$": "$.selection.proposal_expires_at",
                "expires_at.$": "$.selection.expires_at",
                "picks.$": "$.selection.picks",
            },
            max_concurrency=10,
            result_path=sfn.JsonPath.DISCARD,
            comment="the round's picks to every relay",
        )
        fan_out.item_processor(per_pick)

        done = sfn.Succeed(self, "Done")
        has_picks = (
            sfn.Choice(self, "HasPicks", comment="nothing to propose when the selection is empty")
            .when(sfn.Condition.is_present("$.selection.picks[0]"), fan_out.next(done))
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
            state_machine_name=f"relaycast-{config.slug}-round",
            definition_body=sfn.DefinitionBody.from_chainable(definition),
            state_machine_type=sfn.StateMachineType.STANDARD,
            timeout=Duration.minutes(10),
            tracing_enabled=True,
            logs=sfn.LogOptions(destination=self.log_group, level=sfn.LogLevel.ALL, include_execution_data=True),
            comment="one round: poll, select, propose the picks to the relays",
        )
        # DynamoDB encrypts with the table's key on behalf of the writer.
        storage.table_key.grant_encrypt_decrypt(state_machine)
        return state_machine
