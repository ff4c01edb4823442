"""The gates: cdk-nag (AwsSolutions + Serverless), cfn-lint, statelint and asl-validator."""

from __future__ import annotations

import re
import subprocess

import pytest

pytestmark = pytest.mark.xdist_group("infra")


def test_cdk_nag_has_no_unacknowledged_findings(synth):
    findings = synth.nag_findings()
    assert synth.synth_error is None and not findings, "\n".join([synth.synth_error or "", *findings])


def test_every_acknowledgment_is_needed_and_has_a_reason(synth, tmp_path):
    """Without the acknowledgments, cdk-nag reports exactly the acknowledged findings (none is stale)."""
    from aws_cdk import App, DefaultStackSynthesizer
    from cdk_nag import AwsSolutionsChecks, ServerlessChecks

    from infra.nag import acknowledge
    from infra.stack import RelaycastStack

    # The same stack without acknowledgments, checked in place (no synth, no asset copies).
    app = App(outdir=str(tmp_path), context={"aws:cdk:disable-asset-staging": True})
    bare = RelaycastStack(
        app,
        synth.stack_name,
        config=synth.config,
        acknowledge_findings=False,
        synthesizer=DefaultStackSynthesizer(generate_bootstrap_version_rule=False),
    )
    findings = set()
    for pack in (AwsSolutionsChecks(), ServerlessChecks()):
        for violation in pack.validate_scope(bare).violations:
            for resource in violation.violating_resources:
                findings.add((violation.rule_name, resource.construct_path))
    assert findings, "cdk-nag found nothing on the bare stack: are the packs running?"

    acknowledged = acknowledge(bare)
    for ack in acknowledged:
        assert len(ack.reason) >= 40, ack

    def under(path, scope):
        return path == scope or path.startswith(scope + "/")

    uncovered = sorted(f for f in findings if not any(a.rule == f[0] and under(f[1], a.path) for a in acknowledged))
    assert not uncovered, uncovered
    stale = [a for a in acknowledged if not any(rule == a.rule and under(path, a.path) for rule, path in findings)]
    assert not stale, stale


def test_cfn_lint_finds_no_error(synth, tools):
    template = synth.outdir / f"{synth.stack_name}.template.json"
    result = subprocess.run(
        [tools.script("cfn-lint"), str(template)], capture_output=True, text=True, env=tools.env, timeout=300
    )
    # cfn-lint's exit code is a bit mask: 2 = errors, 4 = warnings, 8 = informational, 1 = fatal.
    assert result.returncode & 0b11 == 0, result.stdout + result.stderr


def test_statelint_accepts_the_round(asl_file, tools):
    statelint = tools.script("statelint")
    strict = subprocess.run([statelint, str(asl_file)], capture_output=True, text=True, env=tools.env)
    # JSON cannot tell 2 from 2.0: the only complaints statelint may have are integral BackoffRates.
    complaints = [line for line in strict.stdout.splitlines()[1:] if line.strip()]
    assert all(re.search(r"\.BackoffRate is \d+ but should be a Float$", c) for c in complaints), strict.stdout
    relaxed = subprocess.run(
        [statelint, "--ignore=FLOAT", str(asl_file)], capture_output=True, text=True, env=tools.env
    )
    assert relaxed.returncode == 0, relaxed.stdout + relaxed.stderr


def test_asl_validator_accepts_the_round(asl_file, tools):
    result = subprocess.run(
        [str(tools.npm_bin / "asl-validator"), "--json-path", str(asl_file)],
        capture_output=True,
        text=True,
        env=tools.env,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr
