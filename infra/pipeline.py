"""The pipeline: poll, select and publish, the round's state machine and the publish queue."""

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
from infra.storage import Storage

PUBLISH_TIMEOUT = Duration.seconds(30)
MAX_RECEIVE_COUNT = 5
# What the fan-out hands each relay's branch: the relay as select named it, and the round's own fields.
RELAY_FIELDS = ("relay_id", "network", "mode", "delay", "own")
ROUND_FIELDS = ("round", "proposal_expires_at", "expires_at")


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
    """Poll → Select → fan-out of proposals (Step Functions); approved jobs → SQS → publish."""

    def __init__(self, scope: Construct, id: str, *, parts: StackParts) -> None:
        super().__init__(scope, id)
        config, storage, notices = parts.config, parts.storage, parts.notices

        minute = Duration.seconds(60)
        self.poll = parts.function(self, "PollFunction", "poll", "polls the event hashtags into candidates",
                                   memory_size=256, timeout=minute)
        self.select = parts.function(self, "SelectFunction", "select", "selects the round's most insightful candidates",
                                     memory_size=512, timeout=minute)
        self.publish = parts.function(self, "PublishFunction", "publish", "publishes an approved job through a relay's account",
                                      memory_size=256, timeout=PUBLISH_TIMEOUT)

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
        # select mails signed links: each relay's digest of proposals, and the moderator's round.
        notices.grant_send(self.select.function)
        storage.grant_app_secret_read(self.select.function)
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

        self.state_machine = self._round(config, storage, self.publish_queue)

    def _round(self, config: EventConfig, storage: Storage, queue: sqs.IQueue) -> sfn.StateMachine:
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

        # Auto mode (where the network's policy allows it): the relay's consent covers the publish; the job
        # waits the relay's own delay, and publish keeps the cap, the budgets and the no-duplicate rule.
        queue_job = tasks.CallAwsService(
            self,
            "QueuePublish",
            service="sqs",
            action="sendMessage",
            parameters={
                "QueueUrl": queue.queue_url,
                "MessageBody": sfn.JsonPath.json_to_string(sfn.JsonPath.object_at("$.job")),
                "DelaySeconds": sfn.JsonPath.number_at("$.delay"),
            },
            iam_resources=[queue.queue_arn],
            iam_action="sqs:SendMessage",
            result_path=sfn.JsonPath.DISCARD,
            comment="auto mode: one publish job for this relay and pick",
        )
        queue_job.add_retry(errors=["States.TaskFailed"], interval=Duration.seconds(1), max_attempts=4, backoff_rate=2)
        by_mode = (
            sfn.Choice(self, "ByMode", comment="auto publishes; approve-each and share-link wait for the relay")
            .when(sfn.Condition.string_equals("$.mode", "auto"), queue_job)
            .otherwise(put_proposal)
        )
        # A share-link relay's user name is only their word: it keeps their own posts from them, not from everyone.
        not_their_own = (
            sfn.Choice(self, "NotTheirOwn", comment="a relay is never proposed the post they say they wrote")
            .when(sfn.Condition.string_equals_json_path("$.pick.author_key", "$.own"),
                  sfn.Pass(self, "TheirOwnPost", result_path=sfn.JsonPath.DISCARD))
            .otherwise(by_mode)
        )
        same_network = (
            sfn.Choice(self, "SameNetwork", comment="a relay gets the picks of the network they connected")
            .when(sfn.Condition.string_equals_json_path("$.pick.network", "$.network"), not_their_own)
            .otherwise(sfn.Pass(self, "OtherNetwork", result_path=sfn.JsonPath.DISCARD))
        )

        per_pick = sfn.Map(
            self,
            "ProposePicks",
            items_path="$.picks",
            item_selector={
                # Each pick carries down what the fan-out gave its relay's branch.
                **{f"{field}.$": f"$.{field}" for field in (*RELAY_FIELDS, *ROUND_FIELDS)},
                "pick.$": "$$.Map.Item.Value",
                "job": {"relay_id.$": "$.relay_id", "network.$": "$.network", "post_id.$": "$$.Map.Item.Value.post_id"},
            },
            max_concurrency=4,
            result_path=sfn.JsonPath.DISCARD,
            comment="one proposal (or auto publish) per pick of the relay's network",
        )
        per_pick.item_processor(same_network)

        fan_out = sfn.Map(
            self,
            "FanOut",
            items_path="$.selection.relays",
            item_selector={
                **{f"{field}.$": f"$$.Map.Item.Value.{field}" for field in RELAY_FIELDS},
                **{f"{field}.$": f"$.selection.{field}" for field in ROUND_FIELDS},
                # With moderation, only what the moderator approved (or the time-out rule let through).
                "picks.$": "$.moderation.picks" if config.moderation else "$.selection.picks",
            },
            max_concurrency=10,
            result_path=sfn.JsonPath.DISCARD,
            comment="the round's picks to every relay with room under their cap",
        )
        fan_out.item_processor(per_pick)

        done = sfn.Succeed(self, "Done")
        digest = tasks.LambdaInvoke(
            self,
            "Digest",
            lambda_function=self.select.function,
            payload=sfn.TaskInput.from_object({"action": "digest", "round": sfn.JsonPath.string_at("$.selection.round")}),
            payload_response_only=True,
            result_path=sfn.JsonPath.DISCARD,
            comment="mail each relay with a confirmed address the round's proposals (signed approve and skip links)",
        )
        # A retry mails only the relays not yet mailed; a digest that still fails never fails the round (the
        # proposals are on the dashboards).
        digest.add_retry(errors=["DigestNotSent", "Lambda.TooManyRequestsException"],
                         interval=Duration.seconds(5), max_attempts=3, backoff_rate=2)
        digest.add_catch(sfn.Pass(self, "DigestNotSent", comment="some digests were not sent").next(done),
                         errors=["States.ALL"], result_path="$.digest_error")
        propose = fan_out.next(digest).next(done)
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
        # DynamoDB encrypts with the table's key on behalf of the writer.
        storage.table_key.grant_encrypt_decrypt(state_machine)
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
