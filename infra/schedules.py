"""Schedules and the end of access: the round's rate schedule, the parked jobs' release, the one-shot sweep,
the `expire` function.

EventBridge Scheduler starts a round every `poll_interval_minutes`, only between the event's start and end.
Every `RELEASE_MINUTES` until access ends it asks `publish` to release the parked jobs that are due.
At `access_ends` (event end + grace) a one-shot schedule invokes `expire` with `{"action": "sweep"}`, which
queues one message per grant on the end-grant queue; `expire` consumes that queue concurrently. As a
backstop, the table's stream reaches `expire` filtered to TTL deletions of grants.
"""

from __future__ import annotations

from aws_cdk import Duration, Stack, TimeZone
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_lambda_event_sources as event_sources
from aws_cdk import aws_scheduler as scheduler
from aws_cdk import aws_scheduler_targets as targets
from aws_cdk import aws_stepfunctions as sfn
from constructs import Construct
from relaycast.config import EventConfig

from infra.parts import StackParts
from infra.pipeline import dead_letter_queue, work_queue

SWEEP_INPUT = {"action": "sweep"}
RELEASE_INPUT = {"action": "release"}
# Jobs are parked only for waits longer than SQS's 15-minute delay: releasing them within 5 minutes of their
# due time costs one invocation per 5 minutes of the event, whether anything is parked or not.
RELEASE_MINUTES = 5
EXPIRE_TIMEOUT = Duration.minutes(5)
# Concurrent batches of 10 grants: 10,000 grants end in minutes while X sees a bounded rate of revocations.
END_GRANT_CONCURRENCY = 20
# EventBridge Scheduler replaces the context attribute with the invocation's scheduled time
# (`<aws.scheduler.scheduled-time>`), which the execution's input then records.
ROUND_INPUT = {"trigger": "schedule", "scheduled_at": scheduler.ContextAttribute.scheduled_time}

# TTL deletions only (done by the DynamoDB service principal), of grants and of the custody of their tokens.
TTL_GRANT_FILTER = {
    "userIdentity": {
        "type": lambda_.FilterRule.is_equal("Service"),
        "principalId": lambda_.FilterRule.is_equal("dynamodb.amazonaws.com"),
    },
    "eventName": lambda_.FilterRule.is_equal("REMOVE"),
    "dynamodb": {"OldImage": {"kind": {"S": ["grant", "custody"]}}},
}


def at_expression(config: EventConfig) -> str:
    """`at(yyyy-mm-ddThh:mm:ss)` of access_ends, in UTC."""
    return f"at({config.access_ends:%Y-%m-%dT%H:%M:%S})"


class Schedules(Construct):
    """The round's schedule, the sweep's one-shot, and `expire` with its stream backstop."""

    def __init__(self, scope: Construct, id: str, *, parts: StackParts, state_machine: sfn.IStateMachine,
                 publish: lambda_.IFunction) -> None:
        super().__init__(scope, id)
        config, storage, notices = parts.config, parts.storage, parts.notices
        # Failed stream batches and failed asynchronous invocations (the sweep) of `expire` land here.
        self.expire_dlq = dead_letter_queue(self, "ExpireDlq")
        # Invocations the Scheduler could not deliver to their target land here.
        self.schedule_dlq = dead_letter_queue(self, "ScheduleDlq")

        # The sweep is invoked asynchronously: after Lambda's two retries, the event lands in the DLQ.
        self.expire = parts.function(
            self, "ExpireFunction", "expire", "revokes grants upstream at the end of access and sends receipts",
            memory_size=256, timeout=EXPIRE_TIMEOUT, dead_letter_queue=self.expire_dlq,
        )
        # The sweep's fan-out: one message per grant. After MAX_RECEIVE_COUNT receives a message lands in
        # its DLQ; the handler ends a grant unconfirmed one receive before that (relaycast.expire.RECEIVE_BUDGET).
        self.end_grant_dlq = dead_letter_queue(self, "EndGrantDlq")
        self.end_grant_queue = work_queue(
            self, "EndGrantQueue", consumer_timeout=EXPIRE_TIMEOUT, dead_letters=self.end_grant_dlq
        )
        self.expire.function.add_environment("END_GRANT_QUEUE_URL", self.end_grant_queue.queue_url)
        fn = self.expire.function
        storage.grant_table_read_write(fn)
        storage.grant_config_read(fn)
        storage.grant_app_secret_read(fn)
        # An end may refresh to settle an open relay-post, and keeps what a network hands over during it: it seals.
        storage.token_key.grant_encrypt_decrypt(fn)
        notices.grant_send(fn)
        self.end_grant_queue.grant_send_messages(fn)
        fn.add_event_source(
            event_sources.SqsEventSource(
                self.end_grant_queue,
                batch_size=10,
                report_batch_item_failures=True,
                max_concurrency=END_GRANT_CONCURRENCY,
            )
        )
        fn.add_event_source(
            event_sources.DynamoEventSource(
                storage.table,
                starting_position=lambda_.StartingPosition.TRIM_HORIZON,
                batch_size=5,
                bisect_batch_on_error=True,
                # A record that fails is retried from itself: the records before it are not ended twice.
                report_batch_item_failures=True,
                retry_attempts=3,
                max_record_age=Duration.days(1),
                on_failure=event_sources.SqsDlq(self.expire_dlq),
                filters=[lambda_.FilterCriteria.filter(TTL_GRANT_FILTER)],
            )
        )

        self.round_role = self._scheduler_role("RoundScheduleRole", "starts the rounds")
        self.sweep_role = self._scheduler_role("SweepScheduleRole", "invokes the end-of-access sweep")
        self.round_schedule = scheduler.Schedule(
            self,
            "RoundSchedule",
            description=f"relaycast {config.slug}: a round every {config.poll_interval_minutes} min during the event",
            schedule=scheduler.ScheduleExpression.rate(Duration.minutes(config.poll_interval_minutes)),
            start=config.start_utc,
            end=config.end_utc,
            # A round delayed by more than one interval is superseded by the next one.
            target=targets.StepFunctionsStartExecution(state_machine, **self._delivery(
                self.round_role, ROUND_INPUT, retry_attempts=2, max_event_age=Duration.minutes(config.poll_interval_minutes)
            )),
        )
        self.release_role = self._scheduler_role("ReleaseScheduleRole", "releases the parked publish jobs")
        self.release_schedule = scheduler.Schedule(
            self,
            "ReleaseSchedule",
            description=f"relaycast {config.slug}: release the parked publish jobs that are due, every {RELEASE_MINUTES} min",
            schedule=scheduler.ScheduleExpression.rate(Duration.minutes(RELEASE_MINUTES)),
            start=config.start_utc,
            end=config.access_ends,
            # A release missed is done by the next one: every job due by then goes.
            target=targets.LambdaInvoke(publish, **self._delivery(
                self.release_role, RELEASE_INPUT, retry_attempts=2, max_event_age=Duration.minutes(RELEASE_MINUTES)
            )),
        )
        self.sweep_schedule = scheduler.Schedule(
            self,
            "SweepSchedule",
            description=f"relaycast {config.slug}: revoke every grant when access ends",
            schedule=scheduler.ScheduleExpression.expression(at_expression(config), TimeZone.of("UTC")),
            target=targets.LambdaInvoke(fn, **self._delivery(
                self.sweep_role, SWEEP_INPUT, retry_attempts=10, max_event_age=Duration.hours(24)
            )),
        )

    def _delivery(self, role: iam.IRole, payload: dict, *, retry_attempts: int, max_event_age: Duration) -> dict:
        """How a schedule reaches its target: as `role`, with `payload`, retried, then to the schedules' DLQ."""
        return {
            "role": role,
            "input": scheduler.ScheduleTargetInput.from_object(payload),
            "dead_letter_queue": self.schedule_dlq,
            "retry_attempts": retry_attempts,
            "max_event_age": max_event_age,
        }

    def _scheduler_role(self, id: str, purpose: str) -> iam.Role:
        """A role only EventBridge Scheduler of this account can assume; the target grants what it needs."""
        return iam.Role(
            self,
            id,
            description=f"relaycast: EventBridge Scheduler {purpose}",
            assumed_by=iam.ServicePrincipal(
                "scheduler.amazonaws.com",
                conditions={"StringEquals": {"aws:SourceAccount": Stack.of(self).account}},
            ),
        )
