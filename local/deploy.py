"""`relaycast deploy EVENT`: from an event file to a running stack, and what the organiser does next.

On AWS, in order: check the file, check the account (credentials, region), gather the networks' app credentials
(from `RELAYCAST_<KEY>` environment variables, or asked without echo; never printed), build the layer, bootstrap
the CDK in the account and region if it is not, deploy the stack with the CDK CLI, write the credentials into the
stack's secret (keeping its signing key), then print the hosted page's URL, each network's callback URL to
register and the SES identity to verify. Nothing reaches AWS before the file, the account and the credentials are
all in order. `--dry-run` prints that plan and touches nothing. `--local` runs the same event in the local
runtime (moto, the sandbox networks and their own credentials) and keeps it running for `relaycast status
--local` and `relaycast report --local`.
"""

from __future__ import annotations

import getpass
import os
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from relaycast.config import EventConfig, EventConfigError, load_event_config

from . import ROOT

#: The keys of the stack's secret each network needs; `signing_key` the stack makes itself.
SECRET_KEYS = {
    "x": ("x_client_id", "x_client_secret", "x_bearer_token"),
    "bluesky": ("bluesky_client_key", "bluesky_identifier", "bluesky_app_password"),
    "linkedin": ("linkedin_client_id", "linkedin_client_secret"),
}
#: Made here when not given: relaycast's own key toward Bluesky's servers.
MADE_HERE = {"bluesky_client_key"}


def env_name(key: str) -> str:
    return f"RELAYCAST_{key.upper()}"


@dataclass(frozen=True)
class Step:
    what: str
    command: str = ""  # what runs, for the plan


def plan(config: EventConfig, event: str, sources: dict[str, str]) -> list[Step]:
    name = f"relaycast-{config.slug}"
    keys = ", ".join(f"{key} ({how})" for key, how in sources.items())
    return [
        Step(f"check {event}", f"relaycast check {event}"),
        Step("check the AWS account and region (credentials as for the AWS CLI)", "aws sts get-caller-identity"),
        Step(f"gather the secret's values: {keys}"),
        Step("build the shared layer for Lambda (Python 3.13, arm64)", "make layer"),
        Step("bootstrap the CDK in this account and region, if it is not", "npx cdk bootstrap"),
        Step(f"deploy the stack {name}" + (f", the hosted page on {config.domain.name} (its certificate validated by DNS"
                                           + (", in your Route 53 zone)" if config.domain.hosted_zone_id else
                                              ": add the record ACM shows, the deploy waits for it)") if config.domain else ""),
             f"npx cdk deploy {name} -c event={event} --require-approval never"),
        Step(f"write them into the secret relaycast/{config.slug}/app (its signing key kept)",
             f"aws secretsmanager put-secret-value --secret-id relaycast/{config.slug}/app"),
        Step("print the hosted page, the callback URLs to register and the SES identity to verify"),
    ]


def secret_sources(config: EventConfig, environ: dict[str, str], interactive: bool) -> dict[str, str]:
    """Where each value would come from (never the value)."""
    out = {}
    for key in _keys(config):
        out[key] = (f"from {env_name(key)}" if environ.get(env_name(key)) else "made here" if key in MADE_HERE
                    else "asked, without echo" if interactive else f"missing: set {env_name(key)}")
    return out


def _keys(config: EventConfig) -> list[str]:
    return [key for network, keys in SECRET_KEYS.items() if network == "x" or network in config.networks for key in keys]


def gather_secret(config: EventConfig, environ: dict[str, str], ask: Callable[[str], str] | None) -> dict[str, str]:
    """The secret's values: environment first, then made here (Bluesky's key), then asked (`ask`, no echo).
    Raises ValueError naming the missing ones when nobody can be asked."""
    from relaycast.networks.bluesky import new_client_key

    values, missing = {}, []
    for key in _keys(config):
        if environ.get(env_name(key)):
            values[key] = environ[env_name(key)]
        elif key in MADE_HERE:
            values[key] = new_client_key()
        elif ask is not None:
            answer = ask(f"{key} (not shown): ").strip()
            if not answer:
                missing.append(env_name(key))
            values[key] = answer
        else:
            missing.append(env_name(key))
    if missing:
        raise ValueError(f"set {', '.join(missing)} (or run in a terminal to be asked)")
    return values


def next_steps(config: EventConfig, hosted_page: str, *, local: bool, domain_target: str = "") -> list[str]:
    page = hosted_page.rstrip("/") + "/"
    lines = [f"hosted page, to share with the relays: {page}"]
    if config.domain and not local:
        lines.append(f"{config.domain.name}: " + (f"its alias is in your zone {config.domain.hosted_zone_name}"
                     if config.domain.hosted_zone_id else f"add the CNAME {config.domain.name} → {domain_target or 'the stack output DomainTarget'}"
                     " (the certificate's own validation CNAME, shown in ACM, was needed for the deploy to finish)"))
    registered = {"x": "your X app (OAuth 2.0, confidential client)", "linkedin": "your LinkedIn app (Share on LinkedIn, Sign In with LinkedIn)"}
    for network in config.networks:
        if network in registered:
            where = "the sandbox accepts it as is" if local else f"register it in {registered[network]}"
            lines.append(f"{network} callback URL: {page}callback/{network} ({where})")
        elif network == "bluesky":
            lines.append(f"bluesky: nothing to register; its servers read {page}bluesky/client-metadata.json")
        elif network == "mastodon":
            lines.append(f"mastodon: nothing to register; relaycast registers itself on each relay's instance ({page}callback/mastodon)")
    ses = "verified in the local runtime" if local else "verify it in SES (and leave the SES sandbox to mail any relay)"
    lines.append(f"e-mail sender {config.notice_sender}: {ses}")
    return lines


def main(event: str, *, local: bool = False, dry_run: bool = False, port: int = 8000, speed: float | None = None,
         environ: dict[str, str] | None = None, interactive: bool | None = None) -> int:
    environ = dict(os.environ if environ is None else environ)
    interactive = sys.stdin.isatty() if interactive is None else interactive
    try:
        config = load_event_config(event)
    except EventConfigError as error:
        print(error, file=sys.stderr)
        return 2
    if local:
        return deploy_local(event, config, port=port, speed=speed)
    sources = secret_sources(config, environ, interactive)
    if dry_run:
        print(f"relaycast deploy {event} would, on AWS ({_where()}):")
        for i, step in enumerate(plan(config, event, sources), 1):
            print(f"  {i}. {step.what}" + (f"\n       $ {step.command}" if step.command else ""))
        print("nothing was changed (--dry-run)")
        return 0
    from .report import credentials_or_none

    if refused := credentials_or_none():
        print(f"relaycast deploy: {refused}", file=sys.stderr)
        return 2
    try:
        values = gather_secret(config, environ, getpass.getpass if interactive else None)
    except ValueError as missing:
        print(f"relaycast deploy: the stack's secret needs its values: {missing}; nothing was deployed", file=sys.stderr)
        return 2
    return deploy_aws(event, config, values)


def _where() -> str:
    import boto3

    session = boto3.session.Session()
    return f"region {session.region_name or 'not set'}, credentials {'found' if session.get_credentials() else 'not found'}"


def deploy_aws(event: str, config: EventConfig, values: dict[str, str]) -> int:
    """Run the plan on AWS (only an AWS account can show this path; the tests show the plan and the refusals)."""
    import json

    import boto3
    from botocore.exceptions import ClientError

    name = f"relaycast-{config.slug}"
    run = lambda *command: subprocess.run(command, cwd=ROOT, check=True)  # noqa: E731
    print(f"relaycast deploy: {len(plan(config, event, {}))} steps into {boto3.session.Session().region_name}", flush=True)
    run("make", "layer")
    try:
        boto3.client("cloudformation").describe_stacks(StackName="CDKToolkit")
    except ClientError:  # no CDKToolkit stack: this account and region were never bootstrapped
        run("npx", "cdk", "bootstrap")
    run("npx", "cdk", "deploy", name, "-c", f"event={event}", "--require-approval", "never")
    secrets = boto3.client("secretsmanager")
    secret_id = f"relaycast/{config.slug}/app"
    current = json.loads(secrets.get_secret_value(SecretId=secret_id)["SecretString"])
    secrets.put_secret_value(SecretId=secret_id, SecretString=json.dumps({**current, **values}))
    outputs = {o["OutputKey"]: o["OutputValue"] for o in
               boto3.client("cloudformation").describe_stacks(StackName=name)["Stacks"][0].get("Outputs", [])}
    page = next((v for k, v in outputs.items() if "HostedPageUrl" in k), "")
    print(f"relaycast deploy: {name} is deployed; its secret holds {', '.join(sorted(values))}")
    target = next((v for k, v in outputs.items() if "DomainTarget" in k), "")
    for line in next_steps(config, page, local=False, domain_target=target):
        print(f"  {line}")
    return 0


def deploy_local(event: str, config: EventConfig, *, port: int, speed: float | None) -> int:
    """The same event in the local runtime: synthesised, deployed into moto with the sandboxes' credentials in its
    secret, served on `port`, and run on the simulated clock; status and report reach it while it runs."""
    from .serve import serve

    def announce(stack: Any, url: str) -> None:
        print(f"relaycast deploy --local: relaycast-{config.slug} is deployed in the local runtime; its secret holds "
              f"{', '.join(_keys(config))} (the sandboxes' own) and signing_key", flush=True)
        for line in next_steps(config, url, local=True):
            print(f"  {line}", flush=True)
        print(f"  while it runs: relaycast status --local {event} (--watch), and relaycast report --local {event}", flush=True)

    return serve(event, port=port, speed=speed, state_slug=config.slug, announce=announce)
