"""`relaycast deploy` on AWS: refusals come before anything is touched, the plan names every step, and no secret
value is ever printed."""

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = str(ROOT / "events" / "example.yaml")
SECRETS = {"RELAYCAST_X_CLIENT_ID": "cid-5f0c1b7e", "RELAYCAST_X_CLIENT_SECRET": "csecret-9d41aa73e2",
           "RELAYCAST_X_BEARER_TOKEN": "AAAAbearer-77e1c0ffee"}


def _deploy(*args, env):
    return subprocess.run([sys.executable, "-m", "relaycast_local.cli", "deploy", *args], capture_output=True, text=True,
                          env=env, cwd=ROOT, stdin=subprocess.DEVNULL)


def _no_aws(tmp_path, **extra):
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "RELAYCAST_"))}
    env.update(AWS_CONFIG_FILE=str(tmp_path / "none"), AWS_SHARED_CREDENTIALS_FILE=str(tmp_path / "none"),
               AWS_EC2_METADATA_DISABLED="true", AWS_DEFAULT_REGION="eu-west-3", **extra)
    return env


def test_the_dry_run_prints_each_step_and_where_each_secret_comes_from_never_its_value(tmp_path):
    result = _deploy(EXAMPLE, "--dry-run", env=_no_aws(tmp_path, **SECRETS))
    assert result.returncode == 0, result.stderr
    out = result.stdout
    for step in ("relaycast check", "make layer", "npx cdk bootstrap", "npx cdk deploy relaycast-", "put-secret-value",
                 "callback URLs", "nothing was changed"):
        assert step in out
    assert "x_client_secret (from RELAYCAST_X_CLIENT_SECRET)" in out and "credentials not found" in out
    assert not any(value in out + result.stderr for value in SECRETS.values())


def test_an_invalid_event_file_is_refused_before_aws(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text((ROOT / "events" / "example.yaml").read_text().replace("cap_per_relay: 8", "cap_per_relay: 0"))
    result = _deploy(str(bad), env=_no_aws(tmp_path, **SECRETS))
    assert result.returncode == 2 and "cap_per_relay" in result.stderr


def test_an_account_without_credentials_is_refused_in_one_line(tmp_path):
    result = _deploy(EXAMPLE, env=_no_aws(tmp_path, **SECRETS))
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        "relaycast deploy: no AWS credentials: set AWS_PROFILE (or AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY), or run aws configure"]


def test_missing_app_credentials_are_named_and_nothing_is_deployed(tmp_path):
    env = _no_aws(tmp_path, AWS_ACCESS_KEY_ID="AKIAEXAMPLE", AWS_SECRET_ACCESS_KEY="not-a-real-key",
                  RELAYCAST_X_CLIENT_ID="cid-5f0c1b7e")
    result = _deploy(EXAMPLE, env=env)
    assert result.returncode == 2
    assert "RELAYCAST_X_CLIENT_SECRET, RELAYCAST_X_BEARER_TOKEN" in result.stderr and "nothing was deployed" in result.stderr
    assert "cid-5f0c1b7e" not in result.stdout + result.stderr and "not-a-real-key" not in result.stdout + result.stderr


def test_the_plan_says_what_the_organisers_domain_needs(tmp_path):
    event = tmp_path / "domain.yaml"
    event.write_text((ROOT / "events" / "example.yaml").read_text() + "domain:\n  name: relay.x27.example\n")
    result = _deploy(str(event), "--dry-run", env=_no_aws(tmp_path, **SECRETS))
    assert result.returncode == 0, result.stderr
    assert "the hosted page on relay.x27.example" in result.stdout and "add the record ACM shows" in result.stdout
