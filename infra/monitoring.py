"""Monitoring: one dashboard for the event and the alarms ops act on."""

from __future__ import annotations

from collections.abc import Mapping

from aws_cdk import ArnFormat, Duration, Stack
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_sqs as sqs
from aws_cdk import aws_stepfunctions as sfn
from constructs import Construct
from relaycast.config import EventConfig

PERIOD = Duration.minutes(5)


class Monitoring(Construct):
    """Invocations/errors per function, DLQ depths, round executions; alarms on DLQs and failed rounds."""

    def __init__(
        self,
        scope: Construct,
        id: str,
        *,
        config: EventConfig,
        functions: Mapping[str, lambda_.IFunction],
        dead_letter_queues: Mapping[str, sqs.IQueue],
        state_machine: sfn.IStateMachine,
    ) -> None:
        super().__init__(scope, id)
        self.alarms: dict[str, cloudwatch.Alarm] = {}

        # Explicit names: the dashboard refers to the alarms by ARNs built from them.
        self.alarm_names: dict[str, str] = {}
        self.slug = config.slug
        for name, queue in dead_letter_queues.items():
            self._alarm_from_one(
                f"{name}-dlq",
                f"{name.title()}DlqNotEmpty",
                f"messages in the {name} dead-letter queue",
                queue.metric_approximate_number_of_messages_visible(period=Duration.minutes(1), statistic="Maximum"),
            )
        self._alarm_from_one(
            "round-failed",
            "RoundFailed",
            "a round (state machine execution) failed",
            state_machine.metric_failed(period=PERIOD, statistic="Sum"),
        )
        # Emitted by `expire` (Powertools EMF) each time a provider refuses or fails a revocation.
        self._alarm_from_one(
            "revocation-failed",
            "RevocationFailed",
            "a grant could not be revoked at its network yet",
            self._expire_metric("RevocationFailed"),
        )
        # Emitted by `expire` when a grant ends without the provider confirming it (retry budget spent, or
        # an answer it could not read): the relay's receipt tells them to revoke by hand; ops should know.
        self._alarm_from_one(
            "revocation-unconfirmed",
            "RevocationUnconfirmed",
            "a grant ended without its revocation being confirmed",
            self._expire_metric("RevocationUnconfirmed"),
        )

        self.dashboard = cloudwatch.Dashboard(
            self,
            "Dashboard",
            dashboard_name=f"relaycast-{config.slug}",
            default_interval=Duration.hours(6),
        )
        self.dashboard.add_widgets(
            cloudwatch.TextWidget(markdown=f"# relaycast — {config.name}", width=24, height=1),
        )
        self.dashboard.add_widgets(
            cloudwatch.GraphWidget(
                title="Invocations",
                left=[fn.metric_invocations(period=PERIOD, label=name) for name, fn in functions.items()],
                width=12,
            ),
            cloudwatch.GraphWidget(
                title="Errors",
                left=[fn.metric_errors(period=PERIOD, label=name) for name, fn in functions.items()],
                width=12,
            ),
        )
        self.dashboard.add_widgets(
            cloudwatch.GraphWidget(
                title="Dead-letter queues (messages visible)",
                left=[
                    q.metric_approximate_number_of_messages_visible(
                        period=Duration.minutes(1), statistic="Maximum", label=name
                    )
                    for name, q in dead_letter_queues.items()
                ],
                width=12,
            ),
            cloudwatch.GraphWidget(
                title="Rounds",
                left=[
                    state_machine.metric_started(period=PERIOD, label="started"),
                    state_machine.metric_succeeded(period=PERIOD, label="succeeded"),
                    state_machine.metric_failed(period=PERIOD, label="failed"),
                    state_machine.metric_timed_out(period=PERIOD, label="timed out"),
                ],
                width=12,
            ),
        )
        self.dashboard.add_widgets(
            cloudwatch.AlarmStatusWidget(title="Alarms", alarms=self._alarms_by_arn(), width=24),
        )
        for alarm in self.alarms.values():
            self.dashboard.node.add_dependency(alarm)

    def _alarm_from_one(self, key: str, id: str, what: str, metric: cloudwatch.IMetric) -> None:
        """An alarm that fires on the first occurrence: every alarm here is something ops act on."""
        self.alarm_names[key] = f"relaycast-{self.slug}-{key}"
        self.alarms[key] = cloudwatch.Alarm(
            self,
            id,
            alarm_name=self.alarm_names[key],
            alarm_description=f"relaycast {self.slug}: {what}",
            metric=metric,
            threshold=1,
            comparison_operator=cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
            evaluation_periods=1,
            treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING,
        )

    @staticmethod
    def _expire_metric(name: str) -> cloudwatch.Metric:
        """A metric `expire` emits with Powertools (namespace relaycast, dimension service=expire)."""
        return cloudwatch.Metric(
            namespace="relaycast", metric_name=name, dimensions_map={"service": "expire"}, period=PERIOD, statistic="Sum"
        )

    def _alarms_by_arn(self) -> list[cloudwatch.IAlarm]:
        """The alarms as ARNs built from their names, so the dashboard holds no GetAtt of an alarm."""
        stack = Stack.of(self)
        return [
            cloudwatch.Alarm.from_alarm_arn(
                self,
                f"{key}-by-arn",
                stack.format_arn(
                    service="cloudwatch",
                    resource="alarm",
                    resource_name=name,
                    arn_format=ArnFormat.COLON_RESOURCE_NAME,
                ),
            )
            for key, name in self.alarm_names.items()
        ]
