"""relaycast's local runtime: a real synthesised CDK stack running inside moto, in this process.

    sim = SimClock(datetime(2026, 12, 1, 8, 0, tzinfo=UTC))
    with LocalCloud(clock=sim) as cloud:
        stack = cloud.deploy("cdk.out", "RelaycastStack", env_overrides={"X_API_BASE": sandbox_url})
        base_url = serve_api(stack)               # the hosted page, as API Gateway would serve it
        report = cloud.run_until(end, step=timedelta(minutes=1), on_tick=relays.act)

`LocalCloud` starts moto's threaded server on a free loopback port, points boto3 at it through the process
environment (restored on exit), turns on moto's Step Functions engine (`stepfunctions.execute_state_machine`
through `/moto-api/config`), and runs every Lambda invocation in this process (`runtime_lambda`), so handlers
share `relaycast.clock` with the runtime. `deploy` (`runtime_deploy`) creates the stack in moto's
CloudFormation and fills moto's gaps. `pump` delivers event-source mappings like Lambda's pollers and
`sweep_ttl` expires items like DynamoDB's TTL (`runtime_events`). `run_until` fires the stack's schedules on the
simulated clock (`runtime_schedules`). `serve_api` is API Gateway's proxy integration over HTTP (`runtime_api`).

Every patch to moto's internals is in `moto_patches`, with the moto version it is written against: applied
when a LocalCloud starts, undone when it closes. Everything else goes through moto's public API or its
backends.

Only one LocalCloud runs in a process at a time: the Lambda patch, the environment and the clock are global.
moto's backends are process-global too: a `mock_aws` started in the same process while a LocalCloud runs
resets them. Handlers share the process: a module-level cache in the domain package (a boto3 client, a
Powertools Logger's service name) is shared by every function; the moto port is reused from one LocalCloud to
the next in a process so such clients keep working.
"""

from __future__ import annotations

import json
import logging
import os
import socket
import sys
import threading
import time
import urllib.request
import uuid
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import boto3
from botocore.config import Config
from moto.core.config import default_user_config
from moto.moto_api._internal.models import moto_api_backend
from moto.moto_server.threaded_moto_server import ThreadedMotoServer

from . import moto_patches, runtime_lambda
from .runtime_api import ApiFront
from .runtime_deploy import DeployedStack, FunctionCode, Resource, deploy
from .runtime_events import TTL_IDENTITY, Delivery, Pump, PumpReport, matches
from .moto_patches import PINNED_MOTO_VERSION
from .runtime_lambda import LambdaHost
from .runtime_schedules import Firing, Schedule, SimClock, json_path, scheduled_event

__all__ = [
    "PINNED_MOTO_VERSION",
    "TTL_IDENTITY",
    "DeployedStack",
    "Delivery",
    "Firing",
    "FunctionCode",
    "LocalCloud",
    "PumpReport",
    "Resource",
    "RunReport",
    "Schedule",
    "SimClock",
    "matches",
    "serve_api",
]

DEFAULT_REGION = "eu-west-3"
_ENV_KEYS = (
    "AWS_ENDPOINT_URL",
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_SESSION_TOKEN",
    "AWS_DEFAULT_REGION",
    "AWS_REGION",
    "AWS_PROFILE",
    "AWS_CONFIG_FILE",
    "AWS_SHARED_CREDENTIALS_FILE",
    "MOTO_PORT",
    "NO_PROXY",
    "no_proxy",
)
#: Loggers quietened while a LocalCloud runs. moto's Step Functions engine logs every failure event at ERROR,
#: caught ones included; executions report their errors in describe_execution and the history anyway.
_QUIET_LOGGERS = {"werkzeug": logging.ERROR, "moto": logging.ERROR, "moto.stepfunctions.parser.asl": logging.CRITICAL}
#: moto warns on every parse of a resource type its CloudFormation skips; `DeployedStack.skipped` lists them.
_SKIP_WARNING = r"Tried to parse .* but it's not supported by moto's CloudFormation implementation"
#: The port of the previous LocalCloud in this process: reused when free, so boto3 clients a handler module or
#: the domain package cached at module level keep reaching the current cloud.
_last_port: int | None = None
_session: boto3.session.Session | None = None
_session_lock = threading.Lock()


@dataclass
class RunReport:
    """What `run_until` did."""

    started: datetime
    ended: datetime
    ticks: int = 0
    firings: list[Firing] = field(default_factory=list)
    pumped: PumpReport = field(default_factory=PumpReport)
    expired: int = 0  # items deleted by the TTL sweeper

    def failures(self) -> list[Firing]:
        return [f for f in self.firings if f.status not in ("SUCCEEDED", "WAITING_FOR_CALLBACK")]


class LocalCloud:
    """moto in this process, with relaycast's glue. Use as a context manager."""

    def __init__(
        self,
        region: str = DEFAULT_REGION,
        clock: SimClock | None = None,
        port: int | None = None,
        sfn_wait_scale: float = 0.0,
    ) -> None:
        """`clock`: a SimClock installed as relaycast's clock (needed by `run_until`). `port`: the moto server's
        port (default: the previous LocalCloud's in this process when free, else any free one).
        `sfn_wait_scale`: factor on the real seconds moto's Step Functions engine waits in Retry intervals and
        Wait states (0: no waiting, the default: an execution runs at one simulated instant; 1: real time)."""
        self.region = region
        self.port = port
        self.sfn_wait_scale = sfn_wait_scale
        self.clock = clock
        self.account_id = "123456789012"
        self.endpoint_url = ""
        self.lambda_host = LambdaHost()
        self._pump: Pump
        self.hooks: list[Callable[[datetime], None]] = []
        self.stacks: list[DeployedStack] = []
        self._server: ThreadedMotoServer | None = None
        self._saved_env: dict[str, str | None] = {}
        self._saved_config: dict[str, Any] = {}
        self._saved_levels: dict[str, int] = {}
        self._saved_filters: list[Any] | None = None
        self._patched = False
        self._fronts: list[ApiFront] = []
        self._schedule_anchor: datetime | None = None
        self._watermark: datetime | None = None
        self._clients: dict[tuple[str, int], Any] = {}
        self.timings: dict[str, float] = {}

    # -- lifecycle ----------------------------------------------------------------------------------------------

    def __enter__(self) -> LocalCloud:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def start(self) -> None:
        moto_patches.check_moto_version()
        if moto_patches.active() is not None:
            raise RuntimeError("a LocalCloud is already running in this process (one at a time)")
        try:
            self._start()
        except BaseException:
            self.close()
            raise

    def _start(self) -> None:
        started = time.monotonic()
        global _last_port
        for name, level in _QUIET_LOGGERS.items():
            logger = logging.getLogger(name)
            self._saved_levels[name] = logger.level
            logger.setLevel(level)
        self._saved_filters = list(warnings.filters)
        warnings.filterwarnings("ignore", message=_SKIP_WARNING)
        moto_api_backend.reset()  # a fresh cloud, whatever ran before in this process
        self._server = self._start_server(self.port if self.port is not None else _last_port)
        host, port = self._server.get_host_and_port()
        _last_port = port
        self.endpoint_url = f"http://{host}:{port}"
        self._saved_env = {k: os.environ.get(k) for k in _ENV_KEYS}
        os.environ.pop("AWS_PROFILE", None)
        bypass = ",".join(filter(None, ["127.0.0.1,localhost", os.environ.get("NO_PROXY") or os.environ.get("no_proxy")]))
        os.environ.update(
            {
                "NO_PROXY": bypass,  # loopback never goes through a proxy
                "no_proxy": bypass,
                "AWS_ENDPOINT_URL": self.endpoint_url,
                "AWS_ACCESS_KEY_ID": "testing",
                "AWS_SECRET_ACCESS_KEY": "testing",
                "AWS_SESSION_TOKEN": "testing",
                "AWS_DEFAULT_REGION": self.region,
                "AWS_REGION": self.region,
                "AWS_CONFIG_FILE": os.devnull,
                "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
                # moto's Step Functions engine calls back into "localhost:$MOTO_PORT" for its service tasks.
                "MOTO_PORT": str(port),
            }
        )
        boto3.DEFAULT_SESSION = None
        self._saved_config = json.loads(json.dumps(default_user_config))
        self._moto_config({"stepfunctions": {"execute_state_machine": True}, "lambda": {"use_docker": True}})
        moto_patches.apply(moto_patches.Activation(self.lambda_host.run, f"http://{host}", self.sfn_wait_scale))
        self._patched = True
        self.lambda_host.custom_resource_hook = self._answer_custom_resource
        self.account_id = self.client("sts").get_caller_identity()["Account"]
        self._pump = Pump(self.account_id, self.region, self.client, self.now)
        if self.clock is not None:
            self.clock.install()
        self.timings["start"] = time.monotonic() - started

    @staticmethod
    def _start_server(port: int | None) -> ThreadedMotoServer:
        # ThreadedMotoServer binds in its thread and would wait forever on a taken port: probe first.
        if port:
            probe = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                probe.bind(("127.0.0.1", port))
            except OSError:
                port = 0
            finally:
                probe.close()
        server = ThreadedMotoServer(ip_address="127.0.0.1", port=port or 0, verbose=False)
        server.start()
        return server

    def close(self) -> None:
        for front in self._fronts:
            front.stop()
        self._fronts.clear()
        if self.clock is not None:
            self.clock.uninstall()
        if self._patched:
            moto_patches.undo()
            self._patched = False
        self.lambda_host.close()
        if self._server is not None:
            self._server.stop()
            self._server = None
        if self._saved_config:
            default_user_config.clear()
            default_user_config.update(self._saved_config)  # type: ignore[typeddict-item]
            moto_api_backend.reset()
        for key, value in self._saved_env.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
        boto3.DEFAULT_SESSION = None
        for name, level in self._saved_levels.items():
            logging.getLogger(name).setLevel(level)
        if self._saved_filters is not None:
            warnings.filters[:] = self._saved_filters

    def _moto_config(self, config: dict[str, Any]) -> None:
        request = urllib.request.Request(
            f"{self.endpoint_url}/moto-api/config", data=json.dumps(config).encode(), method="POST"
        )
        with urllib.request.urlopen(request, timeout=10):
            pass
        # The endpoint's answer omits "stepfunctions"; the server shares this process's config.
        if not default_user_config.get("stepfunctions", {}).get("execute_state_machine"):
            raise RuntimeError("moto refused to turn on Step Functions execution")

    def _answer_custom_resource(self, event: dict[str, Any]) -> None:
        """A CloudFormation custom resource whose provider cannot run here (not Python): mark it created, as
        a SUCCESS response would; `deploy` then completes the stack."""
        from moto.cloudformation.models import cloudformation_backends

        stack = cloudformation_backends[self.account_id][self.region].get_stack(event["StackId"])
        resource = stack.custom_resources.get(event["LogicalResourceId"])
        if resource is not None:
            resource.set_data({})

    # -- clients and time ---------------------------------------------------------------------------------------

    def client(self, service: str, config: Config | None = None) -> Any:
        """A boto3 client on this cloud (cached per service and thread when no config is given)."""
        global _session
        with _session_lock:  # one botocore session: service models are loaded once per process
            if _session is None:
                _session = boto3.session.Session()
            if config is not None:
                return _session.client(service, region_name=self.region, endpoint_url=self.endpoint_url, config=config)
            key = (service, threading.get_ident())
            if key not in self._clients:
                self._clients[key] = _session.client(service, region_name=self.region, endpoint_url=self.endpoint_url)
            return self._clients[key]

    def now(self) -> datetime:
        from relaycast import clock

        return clock.now()

    # -- deploying ----------------------------------------------------------------------------------------------

    def deploy(
        self,
        cloud_assembly_dir: str | os.PathLike[str],
        stack_name: str,
        env_overrides: dict[str, str] | None = None,
        secret_values: dict[str, str] | None = None,
    ) -> DeployedStack:
        """Deploy a synthesised stack (see `runtime_deploy`). `secret_values`: secret name (or logical id) -> value."""
        deployed = deploy(self, cloud_assembly_dir, stack_name, env_overrides, secret_values)
        self.stacks.append(deployed)
        return deployed

    def register_code(self, s3_key: str, folder: Path) -> None:
        """A deployed asset folder is the code of every function whose `Code.S3Key` is `s3_key`."""
        self.lambda_host.register_asset(s3_key, folder)

    def code_folder(self, s3_key: str) -> Path | None:
        return self.lambda_host.asset_folder(s3_key)

    def detach_builtin_delivery(self) -> None:
        """Leave the runtime's pollers as the one delivery path of every event-source mapping."""
        self._pump.detach_builtin_delivery()

    # -- Lambda -------------------------------------------------------------------------------------------------

    def invoke(self, function: str, event: Any = None) -> tuple[Any, str | None]:
        """Invoke through moto's Lambda (so in-process). Returns (payload, error type or None)."""
        response = self.client("lambda").invoke(FunctionName=function, Payload=json.dumps(event if event is not None else {}).encode())
        raw = response["Payload"].read()
        payload = json.loads(raw) if raw else None
        if response.get("FunctionError"):
            return payload, (payload or {}).get("errorType", "Unhandled")
        return payload, None

    def handler_object(self, function: str) -> Any:
        """The loaded handler object of a function (name or ARN), e.g. a Chalice app; None if it cannot load."""
        from moto.awslambda.models import lambda_backends

        fn = lambda_backends[self.account_id][self.region].get_function(function)
        with self.lambda_host.lock:
            environment = self.lambda_host.environment(fn)
            saved_env, saved_path = {k: os.environ.get(k) for k in environment}, list(sys.path)
            try:
                os.environ.update(environment)
                sys.path.insert(0, str(self.lambda_host.folder_of(fn)))
                return self.lambda_host.load(fn).handler
            except runtime_lambda.HandlerError:
                return None
            finally:
                sys.path[:] = saved_path
                runtime_lambda.restore_environ(saved_env)

    @property
    def invocations(self) -> list[runtime_lambda.Invocation]:
        return list(self.lambda_host.invocations)

    def publish_lambda_metrics(self) -> int:
        """What Lambda itself records in CloudWatch (`AWS/Lambda` Invocations, Errors, Duration per function),
        for the invocations since the last call, dated on the runtime clock: the organiser's report reads them
        there, on AWS as here. Returns how many invocations it published."""
        fresh, self.lambda_host.unmetered = self.lambda_host.unmetered, []
        by_function: dict[str, list[runtime_lambda.Invocation]] = {}
        for invocation in fresh:
            by_function.setdefault(invocation.function_name, []).append(invocation)
        cloudwatch, now = self.client("cloudwatch"), self.now()
        for name, runs in by_function.items():
            dimensions = [{"Name": "FunctionName", "Value": name}]
            durations = [run.duration_ms for run in runs]
            cloudwatch.put_metric_data(Namespace="AWS/Lambda", MetricData=[
                {"MetricName": "Invocations", "Dimensions": dimensions, "Timestamp": now, "Value": len(runs), "Unit": "Count"},
                {"MetricName": "Errors", "Dimensions": dimensions, "Timestamp": now, "Unit": "Count",
                 "Value": sum(1 for run in runs if run.error_type)},
                {"MetricName": "Duration", "Dimensions": dimensions, "Timestamp": now, "Unit": "Milliseconds",
                 "StatisticValues": {"SampleCount": len(runs), "Sum": sum(durations), "Minimum": min(durations),
                                     "Maximum": max(durations)}},
            ])
        return len(fresh)

    # -- Step Functions -----------------------------------------------------------------------------------------

    def run_execution(self, state_machine_arn: str, input: Any = None, timeout: float = 60.0, name: str | None = None) -> dict[str, Any]:
        """Start an execution and wait until it ends; returns describe_execution (+ parsed `output`)."""
        sfn = self.client("stepfunctions")
        text = input if isinstance(input, str) else json.dumps(input if input is not None else {})
        arn = sfn.start_execution(stateMachineArn=state_machine_arn, name=name or uuid.uuid4().hex, input=text)["executionArn"]
        return self.wait_execution(arn, timeout)

    def wait_execution(self, execution_arn: str, timeout: float = 60.0, settle: float = 0.3) -> dict[str, Any]:
        """Wait until the execution ends, or until it waits for a task token (a `.waitForTaskToken` task
        submitted and nothing happening for `settle` seconds): then it is returned RUNNING with
        `waitingForCallback: True`, for a hook (a simulated moderator or relay) to answer."""
        sfn = self.client("stepfunctions")
        deadline = time.monotonic() + timeout
        delay = 0.005
        seen, quiet_since = -1, time.monotonic()
        while True:
            execution = sfn.describe_execution(executionArn=execution_arn)
            if execution["status"] != "RUNNING":
                if execution.get("output"):
                    execution["output"] = json.loads(execution["output"])
                return execution
            if delay >= 0.05:  # past the first few polls: is it waiting for a callback?
                events = sfn.get_execution_history(executionArn=execution_arn, maxResults=1000)["events"]
                if len(events) != seen:
                    seen, quiet_since = len(events), time.monotonic()
                elif time.monotonic() - quiet_since >= settle and any(
                    e["type"] == "TaskSubmitted"
                    and e.get("taskSubmittedEventDetails", {}).get("resource", "").endswith(".waitForTaskToken")
                    for e in events
                ):
                    execution["waitingForCallback"] = True
                    return execution
            if time.monotonic() > deadline:
                raise TimeoutError(f"execution {execution_arn} still RUNNING after {timeout}s")
            time.sleep(delay)
            delay = min(delay * 2, 0.05)

    # -- event sources and TTL ----------------------------------------------------------------------------------

    def pump(self, max_rounds: int = 200) -> PumpReport:
        """Deliver SQS and DynamoDB-stream mappings until drained of what is due now."""
        return self._pump.pump(max_rounds=max_rounds)

    def sweep_ttl(self, now: datetime | None = None) -> list[tuple[str, dict[str, Any]]]:
        """Delete items whose TTL is at or before `now` (default: the runtime clock) as the TTL principal."""
        return self._pump.sweep_ttl(now or self.now())

    def in_flight(self) -> dict[str, int]:
        """Failed SQS messages waiting for their visibility timeout on the runtime clock, per queue URL."""
        return self._pump.in_flight()

    # -- schedules ----------------------------------------------------------------------------------------------

    @property
    def schedules(self) -> list[Schedule]:
        return [s for stack in self.stacks for s in stack.schedules]

    def add_hook(self, hook: Callable[[datetime], None]) -> None:
        """Call `hook(now)` at every tick of `run_until`, before the tick's pump and TTL sweep."""
        self.hooks.append(hook)

    def run_until(
        self,
        until: datetime,
        step: timedelta = timedelta(minutes=1),
        on_tick: Callable[[datetime], None] | None = None,
    ) -> RunReport:
        """Advance the simulated clock to `until` in steps of `step`. At each schedule's due instant, in time
        order: move the clock there, fire the schedule's targets (Lambda: invoke with the target's Input;
        Step Functions: start an execution and wait for its end; SQS: send), then pump. At each tick: the
        hooks, then pump, sweep TTL, pump."""
        if not isinstance(self.clock, SimClock):
            raise RuntimeError("run_until needs LocalCloud(clock=SimClock(...))")
        clock = self.clock
        report = RunReport(started=clock.now(), ended=clock.now())
        if self._schedule_anchor is None:
            self._schedule_anchor = clock.now()
        while clock.now() < until:
            lo = self._watermark if self._watermark is not None else clock.now()
            inclusive = self._watermark is None
            hi = min(clock.now() + step, until)
            due = sorted(
                ((when, i, schedule) for i, schedule in enumerate(self.schedules)
                 for when in schedule.fire_times(lo, hi, inclusive, self._schedule_anchor)),
                key=lambda x: (x[0], x[1]),
            )
            for when, _, schedule in due:
                if when > clock.now():
                    clock.advance(to=when)
                report.firings += self.fire(schedule, when)
                report.pumped.merge(self.pump())
            clock.advance(to=hi)
            self._watermark = hi
            for hook in [*self.hooks, *([on_tick] if on_tick else [])]:
                hook(hi)
            report.pumped.merge(self.pump())
            report.expired += len(self.sweep_ttl(hi))
            report.pumped.merge(self.pump())
            self.publish_lambda_metrics()
            report.ticks += 1
        report.ended = clock.now()
        return report

    def fire(self, schedule: Schedule, when: datetime) -> list[Firing]:
        """Fire one schedule's targets now (as at `when`)."""
        schedule.fired.append(when)
        firings = []
        for target in schedule.targets:
            payload = target.input
            if payload is None and schedule.kind == "events-rule":
                event = scheduled_event(f"arn:aws:events:{self.region}:{self.account_id}:rule/{schedule.name}", self.account_id, self.region, when)
                payload = json.dumps(json_path(event, target.input_path) if target.input_path else event)
            payload = payload if payload is not None else "{}"
            if schedule.kind == "scheduler":
                payload = self._scheduler_context(payload, schedule, when)
            service = target.arn.split(":")[2]
            firing = Firing(at=when, schedule=schedule.name, target_arn=target.arn, status="SUCCEEDED", input=payload)
            try:
                if service == "lambda":
                    output, error = self.invoke(target.arn, json.loads(payload))
                    firing.output = output
                    if error:
                        firing.status, firing.error = "FAILED", error
                        firing.cause = (output or {}).get("errorMessage") if isinstance(output, dict) else None
                elif service == "states":
                    execution = self.run_execution(target.arn, payload)
                    firing.execution_arn = execution["executionArn"]
                    firing.status = "WAITING_FOR_CALLBACK" if execution.get("waitingForCallback") else execution["status"]
                    firing.output = execution.get("output")
                    firing.error, firing.cause = execution.get("error"), execution.get("cause")
                elif service == "sqs":
                    name = target.arn.split(":")[5]
                    sqs = self.client("sqs")
                    sqs.send_message(QueueUrl=sqs.get_queue_url(QueueName=name)["QueueUrl"], MessageBody=payload)
                else:
                    firing.status, firing.error = "UNSUPPORTED", f"target service {service!r} is not fired locally"
            except Exception as error:  # reported, the run goes on
                firing.status, firing.error, firing.cause = "FAILED", type(error).__name__, str(error)
            firings.append(firing)
        return firings

    def _scheduler_context(self, payload: str, schedule: Schedule, when: datetime) -> str:
        """EventBridge Scheduler's context attributes in a target's Input."""
        values = {
            "<aws.scheduler.scheduled-time>": when.strftime("%Y-%m-%dT%H:%M:%SZ"),
            "<aws.scheduler.execution-id>": str(uuid.uuid4()),
            "<aws.scheduler.attempt-number>": "1",
            "<aws.scheduler.schedule-arn>": f"arn:aws:scheduler:{self.region}:{self.account_id}:schedule/{schedule.group}/{schedule.name}",
        }
        for placeholder, value in values.items():
            payload = payload.replace(placeholder, value)
        return payload

    # -- HTTP -----------------------------------------------------------------------------------------------------

    def serve_api(self, deployed: DeployedStack, host: str = "127.0.0.1", port: int = 0, rest_api: str | None = None, stage: str | None = None) -> str:
        apis = {api["id"] for api in self.client("apigateway").get_rest_apis(limit=500)["items"]}
        rest_api_id = rest_api if rest_api in apis else deployed.rest_api_id(rest_api)
        front = ApiFront(self, deployed, rest_api_id, stage or _stage_of(deployed, rest_api_id), host, port)
        self._fronts.append(front)
        url = front.start()
        self.link_hosted_page(deployed, f"{url}/")
        return url

    def link_hosted_page(self, deployed: DeployedStack, url: str) -> None:
        """Functions that link to the hosted page (HOSTED_PAGE_URL, API Gateway's URL in the cloud) link to `url`."""
        lambda_client = self.client("lambda")
        for name in deployed.function_names.values():
            variables = lambda_client.get_function_configuration(FunctionName=name).get("Environment", {}).get("Variables") or {}
            if "HOSTED_PAGE_URL" in variables:
                variables["HOSTED_PAGE_URL"] = url
                lambda_client.update_function_configuration(FunctionName=name, Environment={"Variables": variables})


def _stage_of(deployed: DeployedStack, rest_api_id: str) -> str:
    api_lid = next((lid for lid, pid in deployed.of_type("AWS::ApiGateway::RestApi").items() if pid == rest_api_id), None)
    for resource in deployed.template["Resources"].values():
        props = resource.get("Properties", {})
        if resource["Type"] in ("AWS::ApiGateway::Stage", "AWS::ApiGateway::Deployment") and props.get("StageName"):
            if props.get("RestApiId") in ({"Ref": api_lid}, rest_api_id):
                return props["StageName"]
    return "api"


def serve_api(deployed: DeployedStack, host: str = "127.0.0.1", port: int = 0, rest_api: str | None = None, stage: str | None = None) -> str:
    """Serve the stack's REST API over HTTP (API Gateway's Lambda proxy integration); returns the base URL with
    its stage, e.g. http://127.0.0.1:54321/api. `rest_api`: a logical id or construct path of the stack's API, or a
    REST API id (when the stack has several); `stage`: default, the stack's stage name. Stopped when the
    LocalCloud closes."""
    return deployed.cloud.serve_api(deployed, host, port, rest_api, stage)
