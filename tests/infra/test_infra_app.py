"""The CDK app's entry point: config errors stop synth with the field named; the layer must be built."""

from __future__ import annotations

import json
import subprocess

import pytest

pytestmark = pytest.mark.xdist_group("infra")

BAD_EVENT = """\
name: Broken
slug: broken-event
hashtags: ["#ok"]
timezone: Mars/Olympus_Mons
start: 2026-12-01T09:00
end: 2026-12-02T18:00
cap_per_relay: 0
notice_sender: relaycast@example.org
"""


def _run_app(tools, *args, env=None):
    return subprocess.run(
        [tools.python, "-m", "infra.app", *args],
        cwd=tools.root,
        capture_output=True,
        text=True,
        env={**tools.env, **(env or {})},
        timeout=120,
    )


def test_a_bad_event_config_exits_non_zero_naming_the_fields(tools, tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text(BAD_EVENT)
    result = _run_app(tools, "--event", str(bad), "--out", str(tmp_path / "out"))
    assert result.returncode == 2, result.stderr
    assert "timezone" in result.stderr and "cap_per_relay" in result.stderr
    assert not (tmp_path / "out").exists()


def test_the_event_comes_from_the_cdk_context_when_not_given(tools, tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text(BAD_EVENT)
    result = _run_app(tools, "--out", str(tmp_path / "out"), env={"CDK_CONTEXT_JSON": json.dumps({"event": str(bad)})})
    assert result.returncode == 2
    assert "cap_per_relay" in result.stderr


def test_a_missing_event_file_is_reported(tools, tmp_path):
    result = _run_app(tools, "--event", str(tmp_path / "nowhere.yaml"))
    assert result.returncode == 2
    assert "(file)" in result.stderr and "nowhere.yaml" in result.stderr


def test_cdk_json_runs_the_app_with_the_example_event(tools):
    cdk = json.loads((tools.root / "cdk.json").read_text())
    assert cdk["app"] == ".venv/bin/python -m infra.app"
    assert cdk["context"]["event"] == "events/example.yaml"


def test_synth_fails_clearly_without_the_layer(synth, tmp_path):
    from aws_cdk import App, Stack

    from infra.function import LayerNotBuiltError, shared_layer

    with pytest.raises(LayerNotBuiltError, match="make layer"):
        shared_layer(Stack(App(outdir=str(tmp_path / "out")), "nolayer"), tmp_path / "layer")


def test_synth_time(synth):
    """Not a gate: the session's one synth (cdk-nag included) is reported for the record."""
    print(f"\nsynth of {synth.stack_name}: {synth.seconds:.1f} s")
    assert synth.seconds < 120
