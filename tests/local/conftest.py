"""Fixtures of the local runtime's tests: the fixture CDK app synthesised once (cached by content), and a
fresh LocalCloud with the fixture stack deployed for each test module, on a simulated clock."""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path

import pytest

from relaycast_local.runtime import DeployedStack, LocalCloud, SimClock

ROOT = Path(__file__).resolve().parents[2]
FIXTURE_APP = Path(__file__).resolve().parent / "fixture_app"
STACK_NAME = "RelaycastLocalFixture"
START = datetime(2030, 1, 1, 9, 0, tzinfo=UTC)
SECRET = '{"x_client_id": "cid", "x_client_secret": "s3cret", "x_bearer_token": "b", "signing_key": "k"}'


def _fixture_digest() -> str:
    digest = hashlib.sha256()
    for path in sorted(FIXTURE_APP.rglob("*")):
        if path.is_file() and "__pycache__" not in path.parts:
            digest.update(str(path.relative_to(FIXTURE_APP)).encode())
            digest.update(path.read_bytes())
    digest.update(metadata.version("aws-cdk-lib").encode())  # importing aws_cdk would start jsii
    return digest.hexdigest()[:16]


@pytest.fixture(scope="session")
def assembly(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """cdk.out of the fixture app; synthesised once per content (≈5 s), then reused from pytest's cache."""
    name = f"relaycast-local-cdkout-{_fixture_digest()}"
    cache = getattr(request.config, "cache", None)
    target = cache.mkdir(name) if cache is not None else tmp_path_factory.mktemp(name)
    if (target / "manifest.json").is_file():
        return target
    for stale in target.parent.glob("relaycast-local-cdkout-*"):
        if stale != target:
            shutil.rmtree(stale, ignore_errors=True)
    scratch = tmp_path_factory.mktemp("synth")
    env = dict(os.environ)
    bin_dir = Path(sys.executable).parent
    env["PATH"] = os.pathsep.join([str(bin_dir.parent / "node-bin"), str(bin_dir), env.get("PATH", "")])
    env["JSII_SILENCE_WARNING_UNTESTED_NODE_VERSION"] = "1"
    subprocess.run([sys.executable, str(FIXTURE_APP / "app.py"), str(scratch / "cdk.out")], check=True, env=env, cwd=ROOT)
    shutil.rmtree(target)
    shutil.copytree(scratch / "cdk.out", target)
    return target


@pytest.fixture(scope="module")
def sim() -> SimClock:
    return SimClock(START)


@pytest.fixture(scope="module")
def cloud(sim: SimClock) -> Iterator[LocalCloud]:
    with LocalCloud(clock=sim) as local:
        yield local


@pytest.fixture(scope="module")
def stack(cloud: LocalCloud, assembly: Path) -> DeployedStack:
    return cloud.deploy(
        assembly,
        STACK_NAME,
        env_overrides={"X_API_BASE": "http://127.0.0.1:9/sandbox-x"},
        secret_values={"relaycast-fixture/app": SECRET},
    )


@pytest.fixture(scope="module")
def log(cloud: LocalCloud, stack: DeployedStack) -> Callable[[str], list[dict]]:
    """log(pk): the items the fixture handlers wrote to the log table under a partition."""

    def items(pk: str) -> list[dict]:
        pages = cloud.client("dynamodb").get_paginator("query").paginate(
            TableName=stack.table_name("LogTable"),
            KeyConditionExpression="pk = :pk",
            ExpressionAttributeValues={":pk": {"S": pk}},
        )
        return [item for page in pages for item in page["Items"]]

    return items
