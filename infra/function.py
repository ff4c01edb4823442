"""The shared layer and the one way a relaycast function is defined.

Every function gets the same run time (Python 3.13 on arm64, set here and never taken from the Python that
synthesises), the shared layer, an explicit log group with retention, active tracing (without the X-Ray SDK),
its own role whose only built-in permission is writing to that log group, and the contract's environment. Permissions beyond
that are granted by the construct that owns the resource (`grant_*`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from aws_cdk import Duration, RemovalPolicy
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from constructs import Construct

ROOT = Path(__file__).resolve().parent.parent
FUNCTIONS_DIR = ROOT / "functions"
LAYER_DIR = ROOT / "build" / "layer"

RUNTIME = lambda_.Runtime.PYTHON_3_13
ARCHITECTURE = lambda_.Architecture.ARM_64
LOG_RETENTION = logs.RetentionDays.ONE_MONTH
METRICS_NAMESPACE = "relaycast"
# Never ship byte code compiled by the synthesising Python, nor build stamps.
ASSET_EXCLUDE = ["__pycache__", "*.pyc", ".built", ".DS_Store"]
# The layer keeps the bytecode `make layer` compiled for Lambda's Python (it cannot be written on /opt).
LAYER_EXCLUDE = [".built", ".DS_Store"]


class LayerNotBuiltError(RuntimeError):
    """`build/layer/python` is missing: synth only points at the layer, `make layer` builds it."""


def shared_layer(scope: Construct, layer_dir: Path = LAYER_DIR) -> lambda_.LayerVersion:
    """The layer every function shares: runtime dependencies + the `relaycast` domain package."""
    if not (layer_dir / "python" / "relaycast").is_dir():
        raise LayerNotBuiltError(
            f"the shared Lambda layer is not built ({layer_dir / 'python'} is missing or has no relaycast "
            "package): run `make layer` first, then synthesise again"
        )
    return lambda_.LayerVersion(
        scope,
        "SharedLayer",
        code=lambda_.Code.from_asset(str(layer_dir), exclude=LAYER_EXCLUDE),
        compatible_runtimes=[RUNTIME],
        compatible_architectures=[ARCHITECTURE],
        description="relaycast domain package and its runtime dependencies",
    )


@dataclass(frozen=True)
class FunctionCommons:
    """What every function of the stack shares: the layer, the contract's environment, a name prefix."""

    layer: lambda_.ILayerVersion
    environment: Mapping[str, str]
    name_prefix: str


class RelaycastFunction(Construct):
    """One function: asset rooted at `functions/<name>`, its log group, its role, the shared layer."""

    def __init__(
        self,
        scope: Construct,
        id: str,
        *,
        name: str,
        handler: str,
        commons: FunctionCommons,
        description: str,
        memory_size: int = 256,
        timeout: Duration = Duration.seconds(30),
        extra_environment: Mapping[str, str] | None = None,
        **function_options,
    ) -> None:
        super().__init__(scope, id)
        self.service_name = name
        code_dir = FUNCTIONS_DIR / name
        if not code_dir.is_dir():
            raise FileNotFoundError(f"function folder {code_dir} does not exist")

        self.log_group = logs.LogGroup(
            self,
            "Logs",
            retention=LOG_RETENTION,
            removal_policy=RemovalPolicy.DESTROY,
        )
        # An own role instead of AWSLambdaBasicExecutionRole: writing to this one log group is all it needs.
        self.role = iam.Role(
            self,
            "Role",
            assumed_by=iam.ServicePrincipal("lambda.amazonaws.com"),
            description=f"relaycast {name} function",
        )
        self.log_group.grant_write(self.role)

        environment = {
            **commons.environment,
            "POWERTOOLS_SERVICE_NAME": name,
            "POWERTOOLS_METRICS_NAMESPACE": METRICS_NAMESPACE,
            "POWERTOOLS_LOG_LEVEL": "INFO",
            # Active tracing records each invocation; the X-Ray SDK's subsegments would double the cold start.
            "POWERTOOLS_TRACE_DISABLED": "true",
            **(extra_environment or {}),
        }
        self.function = lambda_.Function(
            self,
            "Function",
            function_name=f"{commons.name_prefix}-{name}",
            description=description,
            runtime=RUNTIME,
            architecture=ARCHITECTURE,
            handler=handler,
            # Rooted at the function's own folder: `functions/` on sys.path would let `select` shadow the stdlib.
            code=lambda_.Code.from_asset(str(code_dir), exclude=ASSET_EXCLUDE),
            layers=[commons.layer],
            environment=environment,
            memory_size=memory_size,
            timeout=timeout,
            tracing=lambda_.Tracing.ACTIVE,
            log_group=self.log_group,
            role=self.role,
            **function_options,
        )
