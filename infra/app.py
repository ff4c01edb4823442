"""The CDK app: validate one event config, build its stack, check it with cdk-nag, synthesise.

    python -m infra.app --event events/example.yaml --out cdk.out
    cdk synth -c event=events/example.yaml          (cdk.json runs this module)
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

from relaycast.config import EventConfig, EventConfigError, load_event_config

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_EVENT = "events/example.yaml"


def build_app(config: EventConfig, outdir: str | Path | None = None, *, nag: bool = True):
    """The app and its one stack, not yet synthesised: `app.synth()` runs cdk-nag and writes the assembly."""
    # Imported here: a config error is reported before jsii's Node runtime starts.
    from aws_cdk import App, DefaultStackSynthesizer, Validations
    from cdk_nag import AwsSolutionsChecks, ServerlessChecks

    from infra.stack import RelaycastStack, stack_name

    app = App(outdir=str(outdir) if outdir is not None else None, analytics_reporting=False)
    stack = RelaycastStack(
        app,
        stack_name(config),
        config=config,
        # No bootstrap-version rule (an SSM parameter read at deploy): the template deploys as is into the
        # local runtime, which uploads the assets itself; a real deploy still uses the bootstrapped bucket.
        synthesizer=DefaultStackSynthesizer(generate_bootstrap_version_rule=False),
    )
    if nag:
        Validations.of(app).add_plugins(AwsSolutionsChecks(app), ServerlessChecks(app))
    return app, stack


def _event_from_context() -> str | None:
    """`-c event=...` as the CDK CLI passes it, else cdk.json's context when run directly."""
    context = json.loads(os.environ.get("CDK_CONTEXT_JSON") or "{}")
    if context.get("event"):
        return context["event"]
    cdk_json = ROOT / "cdk.json"
    if cdk_json.is_file():
        return json.loads(cdk_json.read_text()).get("context", {}).get("event")
    return None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m infra.app", description=__doc__.splitlines()[0])
    parser.add_argument("--event", help="the event config (YAML or JSON); default: the cdk context key `event`")
    parser.add_argument("--out", help="the cloud assembly directory (default: CDK_OUTDIR or cdk.out)")
    args = parser.parse_args(argv)

    event = args.event or _event_from_context() or DEFAULT_EVENT
    try:
        config = load_event_config(event)
    except EventConfigError as exc:
        print(f"relaycast: cannot synthesise: {exc}", file=sys.stderr)
        print("fields: " + ", ".join(p.field for p in exc.problems), file=sys.stderr)
        return 2

    from infra.function import LayerNotBuiltError

    try:
        app, stack = build_app(config, args.out)
    except LayerNotBuiltError as exc:
        print(f"relaycast: cannot synthesise: {exc}", file=sys.stderr)
        return 1
    try:
        assembly = app.synth()
    except RuntimeError as exc:
        if "ValidationFailed" not in str(exc):
            raise
        print(f"relaycast: cdk-nag found unacknowledged problems ({exc})", file=sys.stderr)
        return 1
    print(f"relaycast: synthesised {stack.stack_name} into {assembly.directory}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
