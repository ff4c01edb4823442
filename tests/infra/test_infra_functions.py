"""The six functions: run time, layer, assets, environment, logs, tracing."""

from __future__ import annotations

import json

import pytest

pytestmark = pytest.mark.xdist_group("infra")

NAMES = {"oauth", "poll", "select", "propose", "publish", "expire"}
CONTRACT_ENV = {
    "TABLE_NAME",
    "TOKEN_KEY_ID",
    "EVENT_CONFIG_PARAMETER",
    "APP_SECRET_NAME",
    "X_API_BASE",
    "X_AUTHORIZE_URL",
    "POWERTOOLS_SERVICE_NAME",
    "POWERTOOLS_METRICS_NAMESPACE",
    "POWERTOOLS_LOG_LEVEL",
    "POWERTOOLS_TRACE_DISABLED",
}


def _asset_dir(synth, s3_key: str):
    manifest = json.loads((synth.outdir / f"{synth.stack_name}.assets.json").read_text())
    asset_hash = s3_key.removesuffix(".zip")
    return synth.outdir / manifest["files"][asset_hash]["source"]["path"]


def test_six_functions(synth):
    assert set(synth.functions()) == NAMES


def test_run_time_is_python_313_on_arm64_with_active_tracing(synth):
    for name, (_, props) in synth.functions().items():
        assert props["Runtime"] == "python3.13", name
        assert props["Architectures"] == ["arm64"], name
        assert props["TracingConfig"] == {"Mode": "Active"}, name
        assert 128 < props["MemorySize"] <= 1024, name
        assert 3 < props["Timeout"] <= 300, name


def test_handlers(synth):
    handlers = {name: props["Handler"] for name, (_, props) in synth.functions().items()}
    assert handlers == {
        "oauth": "app.app",
        "poll": "handler.handler",
        "select": "handler.handler",
        "propose": "handler.handler",
        "publish": "handler.handler",
        "expire": "handler.handler",
    }


def test_shared_layer_is_attached_to_every_function(synth):
    layer_id, layer = synth.one("AWS::Lambda::LayerVersion")
    assert layer["Properties"]["CompatibleRuntimes"] == ["python3.13"]
    assert layer["Properties"]["CompatibleArchitectures"] == ["arm64"]
    for name, (_, props) in synth.functions().items():
        assert props["Layers"] == [{"Ref": layer_id}], name
    content = _asset_dir(synth, layer["Properties"]["Content"]["S3Key"])
    assert (content / "python" / "relaycast" / "config.py").is_file()
    assert not (content / ".built").exists()


def test_the_layer_ships_bytecode_for_lambdas_python_that_nothing_invalidates(synth):
    """Lambda cannot write bytecode on /opt: without it every module compiles again at every cold start."""
    _, layer = synth.one("AWS::Lambda::LayerVersion")
    content = _asset_dir(synth, layer["Properties"]["Content"]["S3Key"]) / "python"
    sources = [p for p in content.rglob("*.py")]
    missing = [p for p in sources if not (p.parent / "__pycache__" / f"{p.stem}.cpython-313.pyc").is_file()]
    assert len(sources) > 500 and missing == []
    assert not [p for p in content.rglob("*.pyc") if ".cpython-313." not in p.name]  # no bytecode of another Python
    header = (content / "relaycast" / "__pycache__" / "config.cpython-313.pyc").read_bytes()[:8]
    assert int.from_bytes(header[4:8], "little") == 0b01  # hash-based, source never checked (PEP 552)


def test_each_asset_is_rooted_at_its_own_folder(synth):
    for name, (_, props) in synth.functions().items():
        root = _asset_dir(synth, props["Code"]["S3Key"])
        entries = {p.name for p in root.iterdir()}
        assert ("app.py" if name == "oauth" else "handler.py") in entries, name
        # functions/ never sits on sys.path: no sibling function folder (e.g. `select`) is in an asset.
        assert not entries & NAMES, (name, entries)
        assert "__pycache__" not in entries, name


def test_environment_is_the_contract_table(synth):
    for name, (_, props) in synth.functions().items():
        env = props["Environment"]["Variables"]
        extra = {"oauth": {"PUBLISH_QUEUE_URL", "HOSTED_PAGE_URL"}, "publish": {"PUBLISH_QUEUE_URL"}, "expire": {"END_GRANT_QUEUE_URL"},
                 "select": {"HOSTED_PAGE_URL", "PROPOSE_QUEUE_URL"},
                 "propose": {"HOSTED_PAGE_URL", "PUBLISH_QUEUE_URL"}}.get(name, set())
        expected = CONTRACT_ENV | extra
        assert set(env) == expected, name
        assert env["POWERTOOLS_SERVICE_NAME"] == name
        assert env["POWERTOOLS_METRICS_NAMESPACE"] == "relaycast"
        assert env["POWERTOOLS_LOG_LEVEL"] == "INFO"
        assert env["POWERTOOLS_TRACE_DISABLED"] == "true"  # active tracing alone: no X-Ray SDK at cold start
        assert env["X_API_BASE"] == "https://api.x.com"
        assert env["X_AUTHORIZE_URL"] == "https://x.com/i/oauth2/authorize"
        assert env["EVENT_CONFIG_PARAMETER"] == f"/relaycast/{synth.config.slug}/event-config"
        table_id, _ = synth.one("AWS::DynamoDB::Table")
        assert env["TABLE_NAME"] == {"Ref": table_id}
        assert synth.resources[env["TOKEN_KEY_ID"]["Fn::GetAtt"][0]]["Type"] == "AWS::KMS::Key"


def test_the_cold_start_probe_imports_each_function_under_the_stack_s_variables(synth):
    """tests/handlers/test_cold_imports.py and the cold-start benchmark import each function under
    `lambda_environment`: the variables it names are the stack's, with its tracing switch."""
    import importlib.util
    from pathlib import Path

    spec = importlib.util.spec_from_file_location(
        "cold_start_support", Path(__file__).resolve().parents[1] / "handlers" / "handler_support.py")
    support = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(support)
    assert set(support.FUNCTION_MODULES) == set(synth.functions())
    for name, (_, props) in synth.functions().items():
        env, probe = props["Environment"]["Variables"], support.lambda_environment(name)
        assert set(env) <= set(probe), name
        assert probe["POWERTOOLS_TRACE_DISABLED"] == env["POWERTOOLS_TRACE_DISABLED"], name
        assert props["Handler"].split(".")[0] == support.FUNCTION_MODULES[name], name


def test_every_function_logs_to_its_own_log_group_with_retention(synth):
    groups = set()
    for name, (_, props) in synth.functions().items():
        group_id = props["LoggingConfig"]["LogGroup"]["Ref"]
        group = synth.resources[group_id]
        assert group["Type"] == "AWS::Logs::LogGroup", name
        assert group["Properties"]["RetentionInDays"] == 30, name
        groups.add(group_id)
    assert len(groups) == 6


def test_every_log_group_has_a_retention(synth):
    for logical_id, group in synth.of_type("AWS::Logs::LogGroup").items():
        assert group["Properties"].get("RetentionInDays"), logical_id


def test_no_function_uses_a_managed_policy(synth):
    for name in NAMES:
        role = synth.resources[synth.role_of(name)]
        assert not role["Properties"].get("ManagedPolicyArns"), name
