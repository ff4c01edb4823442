"""The synthesised stack, once per test session (synth takes seconds), and helpers to read it.

Every infra test module marks itself `xdist_group("infra")`, so under `pytest -n 2 --dist loadgroup` they all
run on one worker and the stack is synthesised once.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE_EVENT = ROOT / "events" / "example.yaml"
PLACEHOLDER_ACCOUNT = "123456789012"
PLACEHOLDER_REGION = "us-east-1"

# jsii runs on the Node shipped in the virtualenv; npm tools sit in node_modules/.bin.
NODE_BIN = ROOT / ".venv" / "node-bin"
NPM_BIN = ROOT / "node_modules" / ".bin"


def tool_env() -> dict[str, str]:
    env = dict(os.environ)
    env["PATH"] = os.pathsep.join([str(NODE_BIN), str(ROOT / ".venv" / "bin"), env.get("PATH", "")])
    env.setdefault("JSII_SILENCE_WARNING_UNTESTED_NODE_VERSION", "1")
    return env



@dataclass
class Synth:
    """One synthesised stack: its config, template, cdk-nag report and what failed (if anything)."""

    config: Any
    outdir: Path
    stack_name: str
    template: dict
    validation_report: dict | None
    synth_error: str | None
    seconds: float
    routes: list = field(default_factory=list)

    @property
    def resources(self) -> dict[str, dict]:
        return self.template["Resources"]

    def of_type(self, type_: str) -> dict[str, dict]:
        return {k: r for k, r in self.resources.items() if r["Type"] == type_}

    def one(self, type_: str) -> tuple[str, dict]:
        found = self.of_type(type_)
        assert len(found) == 1, f"expected one {type_}, found {sorted(found)}"
        return next(iter(found.items()))

    def functions(self) -> dict[str, tuple[str, dict]]:
        """service name (POWERTOOLS_SERVICE_NAME) -> (logical id, properties)."""
        out = {}
        for logical_id, res in self.of_type("AWS::Lambda::Function").items():
            props = res["Properties"]
            out[props["Environment"]["Variables"]["POWERTOOLS_SERVICE_NAME"]] = (logical_id, props)
        return out

    def function_id(self, name: str) -> str:
        return self.functions()[name][0]

    def role_of(self, function_name: str) -> str:
        return self.functions()[function_name][1]["Role"]["Fn::GetAtt"][0]

    def statements_of_role(self, role_id: str) -> list[dict]:
        """Every statement of the inline policies attached to a role (AWS::IAM::Policy + Role.Policies)."""
        statements = []
        for res in self.of_type("AWS::IAM::Policy").values():
            if {"Ref": role_id} in res["Properties"].get("Roles", []):
                statements += res["Properties"]["PolicyDocument"]["Statement"]
        for policy in self.resources[role_id]["Properties"].get("Policies", []):
            statements += policy["PolicyDocument"]["Statement"]
        return statements

    def actions_on(self, role_id: str, resource_logical_id: str | None = None) -> set[str]:
        """Actions a role may perform (on one resource of the stack, when given)."""
        actions: set[str] = set()
        for st in self.statements_of_role(role_id):
            if st.get("Effect", "Allow") != "Allow":
                continue
            if resource_logical_id is not None and resource_logical_id not in json.dumps(st.get("Resource")):
                continue
            acts = st["Action"] if isinstance(st["Action"], list) else [st["Action"]]
            actions.update(acts)
        return actions

    def refs_in(self, value: Any) -> set[str]:
        return refs_in(value)

    def nag_findings(self) -> list[str]:
        return nag_findings(self.validation_report)

    def state_machine_definition(self) -> dict:
        """The round's ASL with the Fn::Join resolved against placeholder ARNs."""
        _, sm = self.one("AWS::StepFunctions::StateMachine")
        return json.loads(resolve_join(sm["Properties"]["DefinitionString"], self.resources))


def placeholder(value: Any, resources: dict) -> str:
    """A plausible string for a Ref / Fn::GetAtt, as deployed in a placeholder account."""
    if isinstance(value, str):
        return value
    if "Ref" in value:
        ref = value["Ref"]
        pseudo = {
            "AWS::Partition": "aws",
            "AWS::Region": PLACEHOLDER_REGION,
            "AWS::AccountId": PLACEHOLDER_ACCOUNT,
            "AWS::URLSuffix": "amazonaws.com",
        }
        if ref in pseudo:
            return pseudo[ref]
        return f"{ref}-physical-id"
    if "Fn::GetAtt" in value:
        logical_id, attribute = value["Fn::GetAtt"]
        kind = resources[logical_id]["Type"]
        if kind == "AWS::Lambda::Function" and attribute == "Arn":
            return f"arn:aws:lambda:{PLACEHOLDER_REGION}:{PLACEHOLDER_ACCOUNT}:function:{logical_id}"
        return f"arn:aws:placeholder:{PLACEHOLDER_REGION}:{PLACEHOLDER_ACCOUNT}:{logical_id}/{attribute}"
    if "Fn::Join" in value:
        return resolve_join(value, resources)
    raise AssertionError(f"cannot resolve {value}")


def resolve_join(value: Any, resources: dict) -> str:
    if isinstance(value, str):
        return value
    separator, parts = value["Fn::Join"]
    return separator.join(placeholder(p, resources) for p in parts)


def refs_in(value: Any) -> set[str]:
    """Logical ids a template fragment refers to (Ref, Fn::GetAtt)."""
    found: set[str] = set()
    if isinstance(value, dict):
        for key, inner in value.items():
            if key == "Ref" and isinstance(inner, str):
                found.add(inner)
            elif key == "Fn::GetAtt":
                found.add(inner[0] if isinstance(inner, list) else inner.split(".")[0])
            else:
                found |= refs_in(inner)
    elif isinstance(value, list):
        for inner in value:
            found |= refs_in(inner)
    return found


def nag_findings(report: dict | None) -> list[str]:
    """Every unacknowledged finding of the validation report, one line each."""
    if not report:
        return []
    lines = []
    for plugin in report.get("pluginReports", []):
        for violation in plugin.get("violations", []):
            for construct in violation.get("violatingConstructs", []):
                lines.append(
                    f"{violation.get('severity', '?').upper()} {violation['ruleName']} at "
                    f"{construct.get('constructPath')}: {violation.get('description', '')}"
                )
    return lines


def synthesise(config, tmp_path_factory) -> Synth:
    """One event's stack, with cdk-nag's AwsSolutions + Serverless packs."""
    import time

    # jsii (imported with aws_cdk below) needs the virtualenv's Node on PATH.
    env = tool_env()
    os.environ["PATH"] = env["PATH"]
    os.environ["JSII_SILENCE_WARNING_UNTESTED_NODE_VERSION"] = "1"

    from infra.app import build_app
    from infra.connect_api import chalice_routes, load_chalice_app

    outdir = tmp_path_factory.mktemp("cdk.out")
    started = time.perf_counter()
    app, stack = build_app(config, outdir)
    error = None
    try:
        app.synth()
    except RuntimeError as exc:  # cdk-nag findings interrupt synthesis; the template is still written
        error = str(exc)
    seconds = time.perf_counter() - started
    template_file = outdir / f"{stack.stack_name}.template.json"
    assert template_file.is_file(), f"synth wrote no template: {error}"
    report_file = outdir / "validation-report.json"
    report = json.loads(report_file.read_text()) if report_file.is_file() else None
    return Synth(
        config=config,
        outdir=outdir,
        stack_name=stack.stack_name,
        template=json.loads(template_file.read_text()),
        validation_report=report,
        synth_error=error,
        seconds=seconds,
        routes=chalice_routes(load_chalice_app()),
    )


@pytest.fixture(scope="session")
def synth(tmp_path_factory) -> Synth:
    """The example event's stack, synthesised once."""
    from relaycast.config import load_event_config

    return synthesise(load_event_config(EXAMPLE_EVENT), tmp_path_factory)


@pytest.fixture(scope="session")
def moderated_synth(tmp_path_factory) -> Synth:
    """The example event with a moderator (its round waits on a task token)."""
    import yaml

    from relaycast.config import parse_event_config

    data = yaml.safe_load(EXAMPLE_EVENT.read_text())
    data.update(slug="moderated-example", moderation={"moderator_email": "mod@example.org", "timeout_minutes": 60})
    return synthesise(parse_event_config(data), tmp_path_factory)


@pytest.fixture(scope="session")
def template(synth):
    """The same template as an `aws_cdk.assertions.Template`."""
    from aws_cdk.assertions import Template

    return Template.from_json(synth.template)


@pytest.fixture(scope="session")
def asl_file(synth, tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("asl") / "round.asl.json"
    path.write_text(json.dumps(synth.state_machine_definition(), indent=2))
    return path


@dataclass(frozen=True)
class Tools:
    root: Path
    env: dict
    python: str
    npm_bin: Path

    def script(self, name: str) -> str:
        """A console script of the virtualenv running the tests (cfn-lint, statelint)."""
        return str(Path(self.python).parent / name)


@pytest.fixture(scope="session")
def tools() -> Tools:
    """Where the gates' tools are, and an environment that finds Node."""
    import sys

    return Tools(root=ROOT, env=tool_env(), python=sys.executable, npm_bin=NPM_BIN)
