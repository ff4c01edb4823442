"""Deploying a synthesised CDK stack into moto, and the gaps filled after moto's CloudFormation.

Before the stack: the CDK bootstrap contract (the SSM version parameter, the assets bucket), the assets (each
directory zipped, each file as is, uploaded under its object key; each folder registered as the code of that
key), and the resources moto's CloudFormation skips but relaycast needs by name, created directly: Secrets
Manager secrets with their explicit `Name` (value given by the caller, else the template's SecretString, else
generated from GenerateSecretString) and SES identities, verified. Every `Ref`/`Fn::GetAtt`/`${...}` that points
at a skipped resource is replaced in the template by the value the real resource would give (the secret's ARN,
the identity, the stage name, a schedule's name/ARN, otherwise a readable placeholder), because moto would
resolve it to `None`.

After the stack (CREATE_COMPLETE): the table's TimeToLiveSpecification (moto's CloudFormation ignores it); each
state machine re-registered in the executing Step Functions backend (CloudFormation creates it in the
non-executing one); the stack's Scheduler schedules and Events rule schedules recorded with their targets
resolved; `env_overrides` applied to every function's environment.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import re
import secrets as random_secrets
import string
import time
import warnings
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from botocore.exceptions import BotoCoreError, ClientError
from moto.cloudformation.models import cloudformation_backends
from moto.cloudformation.parsing import NULL_MODELS, clean_json, get_model_map
from moto.stepfunctions.models import stepfunctions_backends
from moto.stepfunctions.parser.models import stepfunctions_parser_backends

from .runtime_schedules import Schedule, Target, parse_instant

class DeployTarget(Protocol):
    """The local cloud as deploying and a deployed stack use it: all they touch of it."""

    account_id: str
    region: str

    def client(self, service: str) -> Any: ...

    def register_code(self, s3_key: str, folder: Path) -> None: ...

    def code_folder(self, s3_key: str) -> Path | None: ...

    def detach_builtin_delivery(self) -> None: ...

    def invoke(self, function: str, event: Any = None) -> tuple[Any, str | None]: ...

    def run_execution(self, state_machine_arn: str, input: Any = None, timeout: float = 60.0) -> dict[str, Any]: ...

    def serve_api(self, deployed: DeployedStack, host: str = "127.0.0.1", port: int = 0,
                  rest_api: str | None = None, stage: str | None = None) -> str: ...


#: The version the bootstrap parameter announces (CDK templates require >= 6).
BOOTSTRAP_VERSION = "30"


@dataclass(frozen=True)
class Resource:
    logical_id: str
    type: str
    physical_id: str | None
    path: str | None  # aws:cdk:path


@dataclass(frozen=True)
class FunctionCode:
    logical_id: str
    name: str
    arn: str
    asset_dir: Path | None
    handler: str
    runtime: str


@dataclass
class DeployedStack:
    """A stack deployed into the local cloud, with its names resolved."""

    cloud: DeployTarget = field(repr=False)
    stack_name: str
    stack_id: str
    account_id: str
    region: str
    template: dict[str, Any] = field(repr=False)
    resources: dict[str, Resource] = field(repr=False)
    outputs: dict[str, str]
    functions: dict[str, FunctionCode]  # by logical id
    schedules: list[Schedule]
    secrets: dict[str, str]  # secret name -> ARN
    skipped: dict[str, str]  # logical id -> type of what moto's CloudFormation did not create
    timings: dict[str, float] = field(default_factory=dict)  # seconds since deploy began, per phase
    gaps_filled: list[str] = field(default_factory=list)  # what the runtime did that moto's CloudFormation did not

    # -- lookups ------------------------------------------------------------------------------------------------

    def logical_id(self, ref: str, type: str | None = None) -> str:
        """A logical id from itself, a construct id or path ("EchoFn", "Stack/EchoFn/Resource") or a unique prefix."""
        candidates = [r for r in self.resources.values() if type is None or r.type == type]
        for r in candidates:
            if r.logical_id == ref:
                return r.logical_id
        for suffix in (f"/{ref}/Resource", f"/{ref}"):
            hits = [r for r in candidates if r.path and (r.path.endswith(suffix) or r.path == ref)]
            if len(hits) == 1:
                return hits[0].logical_id
        # CDK names a construct's main resource <construct id><8 hex digits>: "EchoFn" -> "EchoFn1FE89C3B".
        hits = [r for r in candidates if re.fullmatch(re.escape(ref) + "[0-9A-F]{8}", r.logical_id)]
        if len(hits) != 1:
            hits = [r for r in candidates if r.logical_id.startswith(ref)]
        if len(hits) == 1:
            return hits[0].logical_id
        raise KeyError(f"{ref!r} names {len(hits)} resources{' of type ' + type if type else ''} in {self.stack_name}")

    def physical_id(self, ref: str, type: str | None = None) -> str:
        resource = self.resources[self.logical_id(ref, type)]
        if resource.physical_id is None:
            raise KeyError(f"{resource.logical_id} ({resource.type}) has no physical id here")
        return resource.physical_id

    def of_type(self, type: str) -> dict[str, str]:
        """logical id -> physical id of every resource of a type."""
        return {r.logical_id: r.physical_id for r in self.resources.values() if r.type == type and r.physical_id}

    def _single(self, type: str, ref: str | None) -> str:
        if ref is not None:
            return self.physical_id(ref, type)
        found = self.of_type(type)
        if len(found) != 1:
            raise KeyError(f"{len(found)} resources of type {type}: name one ({', '.join(found)})")
        return next(iter(found.values()))

    def table_name(self, ref: str | None = None) -> str:
        return self._single("AWS::DynamoDB::Table", ref)

    def state_machine_arn(self, ref: str | None = None) -> str:
        return self._single("AWS::StepFunctions::StateMachine", ref)

    def rest_api_id(self, ref: str | None = None) -> str:
        return self._single("AWS::ApiGateway::RestApi", ref)

    def function_name(self, ref: str) -> str:
        return self.physical_id(ref, "AWS::Lambda::Function")

    def queue_url(self, ref: str | None = None) -> str:
        name = self._single("AWS::SQS::Queue", ref).rsplit("/", 1)[-1]
        return self.cloud.client("sqs").get_queue_url(QueueName=name)["QueueUrl"]

    @property
    def table_names(self) -> dict[str, str]:
        return self.of_type("AWS::DynamoDB::Table")

    @property
    def queue_urls(self) -> dict[str, str]:
        return {lid: self.queue_url(lid) for lid in self.of_type("AWS::SQS::Queue")}

    @property
    def state_machine_arns(self) -> dict[str, str]:
        return self.of_type("AWS::StepFunctions::StateMachine")

    @property
    def function_names(self) -> dict[str, str]:
        return self.of_type("AWS::Lambda::Function")

    @property
    def function_code(self) -> dict[str, tuple[Path | None, str]]:
        """function name -> (asset folder on disk, handler string)."""
        return {f.name: (f.asset_dir, f.handler) for f in self.functions.values()}

    # -- conveniences -------------------------------------------------------------------------------------------

    def invoke(self, function: str, event: Any = None) -> tuple[Any, str | None]:
        """Invoke a function of this stack (logical id, construct path or name) through moto; (payload, error type)."""
        name = self.functions[self.logical_id(function, "AWS::Lambda::Function")].name
        return self.cloud.invoke(name, event)

    def run_state_machine(self, input: Any = None, ref: str | None = None, timeout: float = 60.0) -> dict[str, Any]:
        return self.cloud.run_execution(self.state_machine_arn(ref), input, timeout=timeout)


# -- assets -------------------------------------------------------------------------------------------------------


def zip_directory(folder: Path) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_STORED) as archive:  # never unzipped: run from the folder
        for root, dirs, files in os.walk(folder):
            dirs[:] = sorted(d for d in dirs if d != "__pycache__")
            for name in sorted(files):
                path = Path(root, name)
                archive.write(path, path.relative_to(folder).as_posix())
    return buffer.getvalue()


def _substitute_pseudo(text: str, account: str, region: str) -> str:
    return text.replace("${AWS::AccountId}", account).replace("${AWS::Region}", region).replace("${AWS::Partition}", "aws")


def find_stack_artifact(assembly: Path, stack_name: str) -> tuple[dict[str, Any], dict[str, Any] | None]:
    """(template, assets manifest) of a stack in a cloud assembly, by artifact id or stack name."""
    manifest = json.loads((assembly / "manifest.json").read_text())
    artifacts = manifest.get("artifacts", {})
    for artifact_id, artifact in artifacts.items():
        if artifact.get("type") != "aws:cloudformation:stack":
            continue
        props = artifact.get("properties", {})
        if stack_name not in (artifact_id, props.get("stackName"), artifact.get("displayName")):
            continue
        template = json.loads((assembly / props["templateFile"]).read_text())
        assets = None
        for dependency in artifact.get("dependencies", []):
            dep = artifacts.get(dependency, {})
            if dep.get("type") == "cdk:asset-manifest":
                assets = json.loads((assembly / dep["properties"]["file"]).read_text())
        return template, assets
    names = [a for a, v in artifacts.items() if v.get("type") == "aws:cloudformation:stack"]
    raise KeyError(f"no stack {stack_name!r} in {assembly} (stacks: {', '.join(names) or 'none'})")


# -- template preparation -----------------------------------------------------------------------------------------


def skipped_types(template: dict[str, Any]) -> dict[str, str]:
    """Resources moto's CloudFormation will not create: logical id -> type."""
    modelled = get_model_map()
    return {
        lid: r["Type"]
        for lid, r in template.get("Resources", {}).items()
        if r["Type"] not in modelled and r["Type"] not in NULL_MODELS and not r["Type"].startswith("Custom::")
        and r["Type"] != "AWS::CloudFormation::CustomResource"
    }


def replace_references(node: Any, refs: dict[str, str], atts: dict[tuple[str, str], str]) -> Any:
    """Replace Ref / Fn::GetAtt / Fn::Sub references to the given logical ids by literal values."""
    if isinstance(node, list):
        return [replace_references(v, refs, atts) for v in node]
    if not isinstance(node, dict):
        return node
    if len(node) == 1:
        (key, value), = node.items()
        if key == "Ref" and value in refs:
            return refs[value]
        if key == "Fn::GetAtt":
            lid, attr = value if isinstance(value, list) else value.split(".", 1)
            if (lid, attr) in atts:
                return atts[(lid, attr)]
            if lid in refs:
                return f"{refs[lid]}"
        if key == "Fn::Sub":
            text, variables = (value, None) if isinstance(value, str) else (value[0], value[1])

            def sub(m: re.Match[str]) -> str:
                name = m.group(1)
                if "." in name:
                    lid, attr = name.split(".", 1)
                    if (lid, attr) in atts:
                        return atts[(lid, attr)]
                elif name in refs and not (variables and name in variables):
                    return refs[name]
                return m.group(0)

            text = re.sub(r"\$\{([^!}][^}]*)\}", sub, text)
            variables = replace_references(variables, refs, atts) if variables else None
            return {"Fn::Sub": text if variables is None else [text, variables]}
    return {k: replace_references(v, refs, atts) for k, v in node.items()}


def name_unnamed_parameters(template: dict[str, Any]) -> list[str]:
    """moto's SSM parameter model reads `Name` only (it crashes without one): name them as CloudFormation does."""
    named = []
    for lid, r in template.get("Resources", {}).items():
        if r["Type"] == "AWS::SSM::Parameter" and "Name" not in r.setdefault("Properties", {}):
            suffix = hashlib.sha1(lid.encode()).hexdigest()[:12].upper()
            r["Properties"]["Name"] = f"CFN-{lid}-{suffix}"
            named.append(f"SSM parameter {lid} named {r['Properties']['Name']}")
    return named


def generated_secret(props: dict[str, Any]) -> str:
    spec = props.get("GenerateSecretString")
    if not spec:
        return props.get("SecretString") or random_secrets.token_urlsafe(24)
    alphabet = string.ascii_letters + string.digits
    if not spec.get("ExcludePunctuation"):
        alphabet += "!#$%&()*+,-.:;<=>?@[]^_{|}~"
    alphabet = "".join(c for c in alphabet if c not in spec.get("ExcludeCharacters", ""))
    value = "".join(random_secrets.choice(alphabet) for _ in range(int(spec.get("PasswordLength", 32))))
    if spec.get("SecretStringTemplate") and spec.get("GenerateStringKey"):
        document = json.loads(spec["SecretStringTemplate"])
        document[spec["GenerateStringKey"]] = value
        return json.dumps(document)
    return value


# -- deploy ---------------------------------------------------------------------------------------------------------


def deploy(
    cloud: DeployTarget,
    cloud_assembly_dir: str | os.PathLike[str],
    stack_name: str,
    env_overrides: dict[str, str] | None = None,
    secret_values: dict[str, str] | None = None,
    timeout: float = 120.0,
) -> DeployedStack:
    started = time.monotonic()
    timings: dict[str, float] = {}
    gaps: list[str] = []
    assembly = Path(cloud_assembly_dir).resolve()
    template, assets = find_stack_artifact(assembly, stack_name)
    account, region = cloud.account_id, cloud.region
    s3, ssm = cloud.client("s3"), cloud.client("ssm")
    cfn = cloud.client("cloudformation")
    if any(s["StackName"] == stack_name for s in cfn.list_stacks(StackStatusFilter=["CREATE_COMPLETE", "CREATE_IN_PROGRESS"]).get("StackSummaries", [])):
        raise RuntimeError(f"stack {stack_name} is already deployed in this LocalCloud (updates are not supported)")
    if (assets or {}).get("dockerImages"):
        warnings.warn(f"{stack_name}: Docker image assets are not built locally", stacklevel=2)

    # The bootstrap contract.
    version_parameter = (template.get("Parameters", {}).get("BootstrapVersion") or {}).get("Default")
    qualifier = "hnb659fds"
    if version_parameter and (m := re.fullmatch(r"/cdk-bootstrap/([^/]+)/version", version_parameter)):
        qualifier = m.group(1)
    ssm.put_parameter(
        Name=version_parameter or f"/cdk-bootstrap/{qualifier}/version", Value=BOOTSTRAP_VERSION, Type="String", Overwrite=True
    )
    buckets = {f"cdk-{qualifier}-assets-{account}-{region}"}
    for asset in (assets or {}).get("files", {}).values():
        for destination in asset["destinations"].values():
            buckets.add(_substitute_pseudo(destination["bucketName"], account, region))
    existing = {b["Name"] for b in s3.list_buckets().get("Buckets", [])}
    for bucket in sorted(buckets - existing):
        kwargs = {} if region == "us-east-1" else {"CreateBucketConfiguration": {"LocationConstraint": region}}
        s3.create_bucket(Bucket=bucket, **kwargs)

    # The assets.
    for asset_hash, asset in (assets or {}).get("files", {}).items():
        source = assembly / asset["source"]["path"]
        if asset["source"].get("executable"):
            warnings.warn(f"asset {asset_hash}: executable assets are not built locally", stacklevel=2)
            continue
        body = zip_directory(source) if source.is_dir() else source.read_bytes()
        for destination in asset["destinations"].values():
            bucket = _substitute_pseudo(destination["bucketName"], account, region)
            s3.put_object(Bucket=bucket, Key=destination["objectKey"], Body=body)
            if source.is_dir():
                cloud.register_code(destination["objectKey"], source)
    timings["assets"] = time.monotonic() - started

    # Resources moto's CloudFormation skips: create those relaycast needs, point references at real values.
    skipped = skipped_types(template)
    refs: dict[str, str] = {}
    atts: dict[tuple[str, str], str] = {}
    secrets_by_name: dict[str, str] = {}
    secret_values = secret_values or {}
    secretsmanager, ses = cloud.client("secretsmanager"), cloud.client("ses")
    for lid, type_ in skipped.items():
        props = template["Resources"][lid].get("Properties", {})
        if type_ == "AWS::SecretsManager::Secret":
            name = props.get("Name") or f"{stack_name}-{lid}"
            value = secret_values.get(name, secret_values.get(lid)) or generated_secret(props)
            arn = secretsmanager.create_secret(Name=name, SecretString=value, Description=props.get("Description", ""))["ARN"]
            secrets_by_name[name] = arn
            gaps.append(f"secret {name} created ({lid})")
            refs[lid] = arn
            atts[(lid, "Id")] = arn
        elif type_ == "AWS::SES::EmailIdentity":
            identity = props["EmailIdentity"]
            if "@" in identity:
                ses.verify_email_identity(EmailAddress=identity)
            else:
                ses.verify_domain_identity(Domain=identity)
            refs[lid] = identity
            gaps.append(f"SES identity {identity} verified ({lid})")
        elif type_ == "AWS::Scheduler::Schedule":
            name = props.get("Name") or f"{stack_name}-{lid}"
            refs[lid] = name
            group = props.get("GroupName", "default")
            atts[(lid, "Arn")] = f"arn:aws:scheduler:{region}:{account}:schedule/{group}/{name}"
        elif type_ == "AWS::Scheduler::ScheduleGroup":
            name = props.get("Name") or f"{stack_name}-{lid}"
            refs[lid] = name
            atts[(lid, "Arn")] = f"arn:aws:scheduler:{region}:{account}:schedule-group/{name}"
        elif type_ == "AWS::ApiGateway::Stage":
            refs[lid] = props.get("StageName", lid)
        elif type_ == "AWS::CloudWatch::Alarm":
            name = props.get("AlarmName") or f"{stack_name}-{lid}"
            refs[lid] = name
            atts[(lid, "Arn")] = f"arn:aws:cloudwatch:{region}:{account}:alarm:{name}"
        else:
            refs[lid] = f"{stack_name}-{lid}"
            atts.update({(lid, "Arn"): f"arn:aws:local:{region}:{account}:{lid}"})
    # A secret's name/ARN may be referenced through Fn::Join/Split on the ARN: literal now, so moto can resolve it.
    prepared = replace_references(template, refs, atts)
    gaps += name_unnamed_parameters(prepared)
    timings["prepare"] = time.monotonic() - started

    # The stack itself (through the assets bucket: no TemplateBody size limit).
    template_key = f"{stack_name}.local.template.json"
    bucket = f"cdk-{qualifier}-assets-{account}-{region}"
    s3.put_object(Bucket=bucket, Key=template_key, Body=json.dumps(prepared).encode())
    try:
        stack_id = cfn.create_stack(
            StackName=stack_name,
            TemplateURL=f"https://s3.{region}.amazonaws.com/{bucket}/{template_key}",
            Capabilities=["CAPABILITY_IAM", "CAPABILITY_NAMED_IAM", "CAPABILITY_AUTO_EXPAND"],
        )["StackId"]
    except (BotoCoreError, ClientError) as error:
        raise RuntimeError(
            f"moto's CloudFormation could not create {stack_name} ({error}); the moto server's traceback above "
            "names the resource model that failed"
        ) from error
    moto_stack = cloudformation_backends[account][region].get_stack(stack_id)
    deadline = time.monotonic() + timeout
    while True:
        stack = cfn.describe_stacks(StackName=stack_id)["Stacks"][0]
        status = stack["StackStatus"]
        if status.endswith("_COMPLETE") and "ROLLBACK" not in status:
            break
        if status == "CREATE_IN_PROGRESS" and all(c.is_created() for c in moto_stack.custom_resources.values()):
            moto_stack.verify_readiness()  # custom resources answered after moto's creation pass
        if "FAILED" in status or "ROLLBACK" in status or time.monotonic() > deadline:
            events = cfn.describe_stack_events(StackName=stack_id)["StackEvents"]
            reasons = [f"{e['LogicalResourceId']}: {e.get('ResourceStatusReason')}" for e in events if e.get("ResourceStatusReason")]
            waiting = [lid for lid, c in moto_stack.custom_resources.items() if not c.is_created()]
            if waiting:
                reasons.append(f"custom resources never answered: {', '.join(waiting)}")
            raise RuntimeError(f"stack {stack_name} ended {status}: {'; '.join(reasons[:10]) or 'no reason given'}")
        time.sleep(0.05)
    timings["stack"] = time.monotonic() - started

    resources: dict[str, Resource] = {}
    for page in cfn.get_paginator("list_stack_resources").paginate(StackName=stack_id):
        for summary in page["StackResourceSummaries"]:
            lid = summary["LogicalResourceId"]
            path = (template["Resources"].get(lid, {}).get("Metadata") or {}).get("aws:cdk:path")
            resources[lid] = Resource(lid, summary["ResourceType"], summary.get("PhysicalResourceId"), path)
    for lid, type_ in skipped.items():
        path = (template["Resources"][lid].get("Metadata") or {}).get("aws:cdk:path")
        resources[lid] = Resource(lid, type_, refs.get(lid), path)

    def resolve(node: Any) -> Any:
        return clean_json(node, moto_stack.resource_map)

    # TTL (moto's CloudFormation ignores TimeToLiveSpecification).
    ddb = cloud.client("dynamodb")
    for lid, r in prepared["Resources"].items():
        spec = r.get("Properties", {}).get("TimeToLiveSpecification")
        if r["Type"] == "AWS::DynamoDB::Table" and spec and spec.get("Enabled"):
            ddb.update_time_to_live(
                TableName=resources[lid].physical_id,
                TimeToLiveSpecification={"Enabled": True, "AttributeName": spec["AttributeName"]},
            )
            gaps.append(f"TTL on {spec['AttributeName']} enabled for {lid}")

    # State machines: created by CloudFormation in the non-executing backend; register them in the executing one.
    gaps += [f"state machine {lid} registered in the executing backend" for lid in reregister_state_machines(account, region, prepared, resources, resolve)]

    # Schedules.
    schedules = read_schedules(prepared, resources, resolve, account, region)

    # Functions: code map, environment overrides.
    lambda_client = cloud.client("lambda")
    functions: dict[str, FunctionCode] = {}
    for lid, r in prepared["Resources"].items():
        if r["Type"] != "AWS::Lambda::Function" or lid not in resources:
            continue
        name = resources[lid].physical_id
        config = lambda_client.get_function_configuration(FunctionName=name)
        s3_key = resolve(r["Properties"].get("Code", {})).get("S3Key")
        folder = cloud.code_folder(s3_key) if s3_key else None
        functions[lid] = FunctionCode(lid, name, config["FunctionArn"], folder, config.get("Handler", ""), config.get("Runtime", ""))
        if env_overrides:
            variables = {**(config.get("Environment", {}).get("Variables") or {}), **env_overrides}
            lambda_client.update_function_configuration(FunctionName=name, Environment={"Variables": variables})

    cloud.detach_builtin_delivery()  # one delivery path: the runtime's pollers
    gaps.append("moto's own SQS/stream delivery detached from every event-source mapping")
    gaps += [f"schedule {s.logical_id} ({s.expression}) recorded for the simulated clock" for s in schedules]
    if env_overrides:
        gaps.append(f"environment overrides {sorted(env_overrides)} applied to {len(functions)} functions")
    outputs = {o["OutputKey"]: o.get("OutputValue") for o in stack.get("Outputs", [])}
    timings["total"] = time.monotonic() - started
    deployed = DeployedStack(
        cloud=cloud,
        stack_name=stack_name,
        stack_id=stack_id,
        account_id=account,
        region=region,
        template=prepared,
        resources=resources,
        outputs=outputs,
        functions=functions,
        schedules=schedules,
        secrets=secrets_by_name,
        skipped=skipped,
        timings=timings,
        gaps_filled=gaps,
    )
    return deployed


def reregister_state_machines(account: str, region: str, template: dict[str, Any], resources: dict[str, Resource], resolve: Any) -> list[str]:
    plain = stepfunctions_backends[account][region]
    executing = stepfunctions_parser_backends[account][region]
    if plain is executing:
        return []
    known = {sm.arn for sm in executing.state_machines}
    done = []
    for lid, r in template["Resources"].items():
        if r["Type"] != "AWS::StepFunctions::StateMachine" or lid not in resources:
            continue
        arn = resources[lid].physical_id
        if arn in known:
            continue
        original = plain.describe_state_machine(arn)
        props = resolve(r.get("Properties", {}))
        definition = props.get("DefinitionString") or original.definition
        if isinstance(props.get("Definition"), dict):
            definition = json.dumps(props["Definition"])
        for key, value in (props.get("DefinitionSubstitutions") or {}).items():
            definition = definition.replace("${" + key + "}", str(value))
        executing.create_state_machine(
            name=original.name,
            definition=definition,
            roleArn=original.roleArn,
            tags=[{"key": t["Key"], "value": t["Value"]} for t in props.get("Tags", []) if "Key" in t] or None,
            loggingConfiguration=props.get("LoggingConfiguration"),
            tracingConfiguration=props.get("TracingConfiguration"),
            sm_type=props.get("StateMachineType", "STANDARD"),
        )
        done.append(lid)
    return done


def read_schedules(template: dict[str, Any], resources: dict[str, Resource], resolve: Any, account: str, region: str) -> list[Schedule]:
    schedules = []
    for lid, r in template["Resources"].items():
        if r["Type"] == "AWS::Scheduler::Schedule":
            props = resolve(r.get("Properties", {}))
            target = props.get("Target", {})
            schedules.append(
                Schedule(
                    kind="scheduler",
                    logical_id=lid,
                    name=props.get("Name") or resources[lid].physical_id or lid,
                    group=props.get("GroupName", "default"),
                    expression=props["ScheduleExpression"],
                    timezone=props.get("ScheduleExpressionTimezone", "UTC"),
                    start=parse_instant(props.get("StartDate")),
                    end=parse_instant(props.get("EndDate")),
                    enabled=props.get("State", "ENABLED") == "ENABLED",
                    targets=[Target(arn=target["Arn"], input=target.get("Input"), role_arn=target.get("RoleArn"))],
                )
            )
        elif r["Type"] == "AWS::Events::Rule" and r.get("Properties", {}).get("ScheduleExpression"):
            props = resolve(r["Properties"])
            name = resources[lid].physical_id if lid in resources else lid
            schedules.append(
                Schedule(
                    kind="events-rule",
                    logical_id=lid,
                    name=name or lid,
                    expression=props["ScheduleExpression"],
                    enabled=props.get("State", "ENABLED") == "ENABLED",
                    targets=[
                        Target(arn=t["Arn"], input=t.get("Input"), input_path=t.get("InputPath"), role_arn=t.get("RoleArn"), id=t.get("Id"))
                        for t in props.get("Targets", [])
                    ],
                )
            )
    return schedules
