"""A small CDK app for the local runtime's tests: one of each thing the runtime must glue.

Run: python tests/local/fixture_app/app.py <outdir>   (needs Node on PATH for jsii)
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import aws_cdk as cdk
from aws_cdk import aws_apigateway as apigw
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_events as events
from aws_cdk import aws_events_targets as events_targets
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_lambda_event_sources as sources
from aws_cdk import aws_logs as logs
from aws_cdk import aws_scheduler as scheduler
from aws_cdk import aws_secretsmanager as secretsmanager
from aws_cdk import aws_ses as ses
from aws_cdk import aws_sqs as sqs
from aws_cdk import aws_ssm as ssm
from aws_cdk import aws_stepfunctions as sfn
from aws_cdk import aws_stepfunctions_tasks as tasks
from constructs import Construct

HERE = Path(__file__).resolve().parent
STACK_NAME = "RelaycastLocalFixture"
SECRET_NAME = "relaycast-fixture/app"
SENDER = "noreply@example.org"
# The scheduled window of the tests (UTC) and the one-shot (local time in Europe/Paris = 14:30 UTC).
WINDOW_START = "2030-01-01T10:00:00Z"
WINDOW_END = "2030-01-01T13:00:00Z"
ONE_SHOT_LOCAL = "2030-01-01T15:30:00"


def _table(scope: Construct, construct_id: str, **options) -> dynamodb.Table:
    """A pk/sk on-demand table, destroyed with the stack."""
    return dynamodb.Table(
        scope,
        construct_id,
        partition_key=dynamodb.Attribute(name="pk", type=dynamodb.AttributeType.STRING),
        sort_key=dynamodb.Attribute(name="sk", type=dynamodb.AttributeType.STRING),
        billing_mode=dynamodb.BillingMode.PAY_PER_REQUEST,
        removal_policy=cdk.RemovalPolicy.DESTROY,
        **options,
    )


class FixtureStack(cdk.Stack):
    def __init__(self, scope: Construct, construct_id: str, **kwargs) -> None:
        super().__init__(scope, construct_id, **kwargs)

        key = kms.Key(self, "TokenKey", removal_policy=cdk.RemovalPolicy.DESTROY)
        table = _table(
            self,
            "Table",
            encryption=dynamodb.TableEncryption.CUSTOMER_MANAGED,
            encryption_key=key,
            time_to_live_attribute="expires_at",
            stream=dynamodb.StreamViewType.NEW_AND_OLD_IMAGES,
        )
        log_table = _table(self, "LogTable")
        secret = secretsmanager.Secret(
            self,
            "AppSecret",
            secret_name=SECRET_NAME,
            generate_secret_string=secretsmanager.SecretStringGenerator(
                secret_string_template=json.dumps({"x_client_id": "cid"}), generate_string_key="signing_key"
            ),
        )
        config = ssm.StringParameter(self, "EventConfig", string_value=json.dumps({"name": "fixture"}))
        ses.EmailIdentity(self, "Sender", identity=ses.Identity.email(SENDER))
        layer = lambda_.LayerVersion(
            self,
            "Shared",
            code=lambda_.Code.from_asset(str(HERE / "layer")),
            compatible_runtimes=[lambda_.Runtime.PYTHON_3_13],
        )

        def function(name: str, handler: str = "handler.handler", **env: str) -> lambda_.Function:
            fn = lambda_.Function(
                self,
                f"{name.capitalize()}Fn",
                runtime=lambda_.Runtime.PYTHON_3_13,
                architecture=lambda_.Architecture.ARM_64,
                handler=handler,
                code=lambda_.Code.from_asset(str(HERE / "functions" / name)),
                layers=[layer],
                memory_size=256,
                timeout=cdk.Duration.seconds(30),
                environment={
                    "TABLE_NAME": table.table_name,
                    "LOG_TABLE_NAME": log_table.table_name,
                    "APP_SECRET_NAME": SECRET_NAME,
                    "EVENT_CONFIG_PARAMETER": config.parameter_name,
                    "X_API_BASE": "https://api.x.com",
                    **env,
                },
            )
            table.grant_read_write_data(fn)
            log_table.grant_read_write_data(fn)
            secret.grant_read(fn)
            return fn

        echo = function("echo", GREETING="hello")
        select = function("select")
        consumer = function("consumer")
        expire = function("expire")
        # A custom resource served by a Node provider (CDK's log retention): answered by the runtime.
        logs.LogRetention(self, "ExpireLogRetention", log_group_name=f"/aws/lambda/{expire.function_name}", retention=logs.RetentionDays.ONE_WEEK)
        api_fn = function("api", handler="app.app")

        # SQS -> consumer, partial batch failures, DLQ after 2 receives.
        dlq = sqs.Queue(self, "PublishDlq")
        queue = sqs.Queue(
            self,
            "PublishQueue",
            visibility_timeout=cdk.Duration.seconds(60),
            dead_letter_queue=sqs.DeadLetterQueue(queue=dlq, max_receive_count=2),
        )
        consumer.add_event_source(
            sources.SqsEventSource(queue, batch_size=10, report_batch_item_failures=True)
        )
        cloudwatch.Alarm(
            self,
            "DlqDepth",
            metric=dlq.metric_approximate_number_of_messages_visible(),
            threshold=1,
            evaluation_periods=1,
        )

        # The stream, filtered on the TTL principal and the old image's kind; discarded batches go to a queue.
        expire_dlq = sqs.Queue(self, "ExpireDlq")
        expire.add_event_source(
            sources.DynamoEventSource(
                table,
                starting_position=lambda_.StartingPosition.TRIM_HORIZON,
                batch_size=10,
                retry_attempts=2,
                on_failure=sources.SqsDlq(expire_dlq),
                filters=[
                    lambda_.FilterCriteria.filter(
                        {
                            "userIdentity": {
                                "type": lambda_.FilterRule.is_equal("Service"),
                                "principalId": lambda_.FilterRule.is_equal("dynamodb.amazonaws.com"),
                            },
                            "dynamodb": {"OldImage": {"kind": {"S": lambda_.FilterRule.is_equal("grant")}}},
                        }
                    )
                ],
            )
        )

        # The round: LambdaInvoke -> Map -> DynamoDB PutItem (conditional, Catch -> Pass).
        invoke = tasks.LambdaInvoke(
            self, "SelectPicks", lambda_function=select, payload_response_only=True, result_path="$.selection"
        )
        put = tasks.DynamoPutItem(
            self,
            "Propose",
            table=table,
            item={
                "pk": tasks.DynamoAttributeValue.from_string(sfn.JsonPath.format("PROPOSAL#{}", sfn.JsonPath.string_at("$.round"))),
                "sk": tasks.DynamoAttributeValue.from_string(sfn.JsonPath.string_at("$.pick.id")),
                "text": tasks.DynamoAttributeValue.from_string(sfn.JsonPath.string_at("$.pick.text")),
                "kind": tasks.DynamoAttributeValue.from_string("proposal"),
            },
            condition_expression="attribute_not_exists(pk)",
            result_path=sfn.JsonPath.DISCARD,
        )
        put.add_catch(
            sfn.Pass(self, "AlreadyProposed"),
            errors=["DynamoDB.ConditionalCheckFailedException"],
            result_path="$.caught",
        )
        fan_out = sfn.Map(
            self,
            "FanOut",
            items_path="$.selection.picks",
            item_selector={
                "pick.$": "$$.Map.Item.Value",
                "round.$": "$.selection.round",
            },
            result_path=sfn.JsonPath.DISCARD,
        )
        fan_out.item_processor(put)
        machine = sfn.StateMachine(
            self,
            "Round",
            definition_body=sfn.DefinitionBody.from_chainable(invoke.next(fan_out).next(sfn.Succeed(self, "Done"))),
        )

        # Schedules: a Scheduler rate window, a Scheduler one-shot on the state machine, an Events rule.
        scheduler_role = iam.Role(self, "SchedulerRole", assumed_by=iam.ServicePrincipal("scheduler.amazonaws.com"))
        echo.grant_invoke(scheduler_role)
        machine.grant_start_execution(scheduler_role)
        scheduler.CfnSchedule(
            self,
            "Window",
            schedule_expression="rate(1 hour)",
            start_date=WINDOW_START,
            end_date=WINDOW_END,
            flexible_time_window=scheduler.CfnSchedule.FlexibleTimeWindowProperty(mode="OFF"),
            target=scheduler.CfnSchedule.TargetProperty(
                arn=echo.function_arn,
                role_arn=scheduler_role.role_arn,
                input=json.dumps({"source": "window", "at": "<aws.scheduler.scheduled-time>"}),
            ),
        )
        scheduler.CfnSchedule(
            self,
            "OneShot",
            name="fixture-one-shot",
            schedule_expression=f"at({ONE_SHOT_LOCAL})",
            schedule_expression_timezone="Europe/Paris",
            flexible_time_window=scheduler.CfnSchedule.FlexibleTimeWindowProperty(mode="OFF"),
            target=scheduler.CfnSchedule.TargetProperty(
                arn=machine.state_machine_arn,
                role_arn=scheduler_role.role_arn,
                input=json.dumps({"round": "oneshot", "count": 1}),
            ),
        )
        events.Rule(
            self,
            "Daily",
            schedule=events.Schedule.cron(minute="0", hour="12"),
            targets=[events_targets.LambdaFunction(echo, event=events.RuleTargetInput.from_object({"source": "rule"}))],
        )

        # The API: resources as a Chalice route table would generate them.
        api = apigw.RestApi(
            self,
            "Api",
            cloud_watch_role=False,
            deploy_options=apigw.StageOptions(stage_name="api"),
        )
        integration = apigw.LambdaIntegration(api_fn)
        api.root.add_resource("hello").add_method("GET", integration)
        api.root.add_resource("items").add_resource("{item_id}").add_method("GET", integration)
        api.root.add_resource("form").add_method("POST", integration)

        cdk.CfnOutput(self, "ApiUrl", value=api.url)
        cdk.CfnOutput(self, "MachineArn", value=machine.state_machine_arn)


def main(outdir: str) -> None:
    app = cdk.App(outdir=outdir)
    FixtureStack(app, STACK_NAME)
    app.synth()


if __name__ == "__main__":
    main(sys.argv[1])
