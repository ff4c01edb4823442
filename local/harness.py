"""One local event, started the same way by `make demo`, `relaycast serve` and the end-to-end tests.

    with local_stack("events/demo.yaml") as stack:
        relay.connect(stack.api_url)
        stack.cloud.run_until(stack.config.end_utc)
        receipts = [i for i in stack.scan() if i.get("kind") == "receipt"]

`local_stack` synthesises the event's stack, starts the sandbox X (and the Mastodon sandbox when the event
offers Mastodon) with the demo's conference feed, starts moto (`LocalCloud`) on a simulated clock, deploys the
stack into it pointed at the sandboxes, and serves the API. Everything stops when the block ends.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import boto3

from relaycast import settings
from relaycast.config import EventConfig, load_event_config
from relaycast.networks.bluesky import CLIENT_METADATA_PATH, hosted_client_metadata, new_client_key

from . import ROOT
from .feed import Post, generate_conference_feed
from .runtime import DeployedStack, LocalCloud, SimClock
from .sandbox_bluesky import SandboxBluesky
from .sandbox_linkedin import SandboxLinkedIn
from .sandbox_mastodon import SandboxMastodon
from .sandbox_x import SandboxX

#: The Mastodon sandbox's instance name (the one instance relaycast may reach on loopback).
MASTODON_INSTANCE = "mastodon.sandbox"
#: The Bluesky sandbox's domain: its handles, PDS, authorization server and PLC directory.
BLUESKY_DOMAIN = "bsky.sandbox"


@dataclass
class LocalStack:
    """A deployed event in the local cloud, its sandboxes and its API's URL."""

    config: EventConfig
    cloud: LocalCloud
    deployed: DeployedStack
    x: SandboxX
    mastodon: SandboxMastodon | None  # when the event offers Mastodon
    api_url: str
    overrides: dict[str, str]  # the environment the functions got on top of the stack's
    feed: list[Post]  # what the experts and the crowd post on X during the event
    mastodon_scheduled: int = 0  # statuses of the feed the experts also post on Mastodon
    bluesky: SandboxBluesky | None = None  # when the event offers Bluesky
    bluesky_scheduled: int = 0  # posts of the feed the experts also post on Bluesky
    linkedin: SandboxLinkedIn | None = None  # when the event offers LinkedIn

    @property
    def table_name(self) -> str:
        return self.deployed.table_name()

    def scan(self) -> list[dict[str, Any]]:
        return table_scan(self.table_name)

    def sent_emails(self) -> list[dict[str, Any]]:
        return sent_emails(self.cloud)

    def dead_letters(self) -> int:
        """Messages waiting in the stack's dead-letter queues."""
        return sum(queue_depth(url) for lid, url in self.deployed.queue_urls.items() if "Dlq" in lid or "DeadLetter" in lid)

    def networks(self) -> list[Any]:
        """The sandboxes that issue relays' tokens."""
        return [self.x, *(n for n in (self.mastodon, self.bluesky, self.linkedin) if n is not None)]


@contextmanager
def local_stack(event_file: str | Path, *, cdk_out: Path | None = None, lead: timedelta = timedelta(hours=1)) -> Iterator[LocalStack]:
    """The event of `event_file`, deployed and served; the simulated clock starts `lead` before the event.
    `cdk_out`: where to synthesise (default: a temporary folder, as a demo or another serve may synthesise the
    same event at the same time)."""
    config = load_event_config(event_file)
    # Config and secrets are cached per container in Lambda; here a new stack may reuse their names.
    settings.reset_caches()
    with ExitStack() as running:
        if cdk_out is None:
            cdk_out = Path(running.enter_context(tempfile.TemporaryDirectory(prefix="relaycast-cdk-"))) / "cdk.out"
        synth(event_file, cdk_out)
        x = running.enter_context(SandboxX())
        mastodon = running.enter_context(SandboxMastodon(domain=MASTODON_INSTANCE)) if "mastodon" in config.networks else None
        cloud = running.enter_context(LocalCloud(clock=SimClock(config.start_utc - lead)))
        # With posts that only ride the hashtag: relevance, not the quality floor, must keep them out of the picks.
        feed = generate_conference_feed(config.start, config.end, config.hashtags[0], experts=[e.handle for e in config.experts],
                                        off_topic=True)
        x.add_posts(feed)
        scheduled = feed_mastodon(config, feed, mastodon, cloud) if mastodon else 0
        client_key = new_client_key()
        # The local runtime runs one function at a time, so the sandbox cannot fetch relaycast's client metadata
        # from the hosted app while the oauth function waits on its PAR: it reads the document that URL serves.
        bluesky = running.enter_context(SandboxBluesky(domain=BLUESKY_DOMAIN, fetch_client_metadata=lambda client_id:
                                                       client_metadata_at(client_id, client_key))) \
            if "bluesky" in config.networks else None
        on_bluesky = feed_bluesky(config, feed, bluesky) if bluesky else 0
        linkedin = running.enter_context(SandboxLinkedIn()) if "linkedin" in config.networks else None
        for urn in config.linkedin_posts if linkedin else ():  # the organiser's own posts the event file lists
            linkedin.add_post(config.name, f"{config.name}: the programme, the speakers, the rooms", urn=urn)  # type: ignore[union-attr]
        overrides = local_overrides(x, mastodon, bluesky, linkedin)
        deployed = cloud.deploy(
            cdk_out,
            f"relaycast-{config.slug}",
            env_overrides=overrides,
            secret_values={f"relaycast/{config.slug}/app": app_secret(x, client_key, bluesky, linkedin)},
        )
        api_url = cloud.serve_api(deployed)
        yield LocalStack(config, cloud, deployed, x, mastodon, api_url, overrides, feed, scheduled, bluesky, on_bluesky,
                         linkedin)


def synth(event_file: str | Path, outdir: Path) -> Path:
    """Synthesise the event's stack (a subprocess: jsii's Node runtime stays out of this process)."""
    result = subprocess.run(
        [sys.executable, "-m", "infra.app", "--event", str(event_file), "--out", str(outdir)],
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    if result.returncode != 0:
        raise RuntimeError(f"synth failed:\n{result.stderr[-3000:]}")
    return outdir


def local_overrides(x: SandboxX, mastodon: SandboxMastodon | None = None, bluesky: SandboxBluesky | None = None,
                    linkedin: SandboxLinkedIn | None = None) -> dict[str, str]:
    """Point the functions at the sandbox networks (the Mastodon sandbox is the one instance allowed on loopback,
    the Bluesky sandbox's domain the one routed there)."""
    return {
        "X_API_BASE": x.base_url,
        "X_AUTHORIZE_URL": f"{x.base_url}/i/oauth2/authorize",
        **(mastodon.env() if mastodon else {}),
        **({"BLUESKY_SANDBOX": json.dumps({bluesky.domain: bluesky.base_url}), "BLUESKY_SERVICE": bluesky.origin,
            "BLUESKY_PLC": bluesky.plc_url} if bluesky else {}),
        **({"LINKEDIN_OAUTH_BASE": linkedin.base_url, "LINKEDIN_API_BASE": linkedin.base_url} if linkedin else {}),
        "POWERTOOLS_TRACE_DISABLED": "true",
        "POWERTOOLS_LOG_LEVEL": os.environ.get("RELAYCAST_LOG_LEVEL", "WARNING"),
    }


def feed_mastodon(config: EventConfig, feed: list[Post], mastodon: SandboxMastodon, cloud: LocalCloud) -> int:
    """The experts who are on the Mastodon sandbox post there what they post on X, at the same event time:
    the instance's #tag timeline grows with the simulated clock. Returns how many statuses are scheduled."""
    accounts = {e.handle: e.mastodon.split("@")[0] for e in config.experts
                if e.mastodon and e.mastodon.endswith(f"@{mastodon.domain}")}
    statuses = [(post.created_at, accounts[post.username.lower()], post.text) for post in feed if post.username.lower() in accounts]
    mastodon.schedule(statuses)
    cloud.add_hook(mastodon.release_until)
    return len(statuses)


def feed_bluesky(config: EventConfig, feed: list[Post], bluesky: SandboxBluesky) -> int:
    """The experts who are on the Bluesky sandbox post there what they post on X, at the same event time (the
    sandbox shows a post once relaycast's clock reaches it). Returns how many posts are scheduled."""
    accounts = {e.handle: e.bluesky for e in config.experts if e.bluesky and e.bluesky.endswith(f".{bluesky.domain}")}
    posts = [post for post in feed if post.username.lower() in accounts]
    for post in posts:
        bluesky.add_post(accounts[post.username.lower()], post.text, at=post.created_at)
    return len(posts)


#: The event's own Bluesky account in the sandbox, which the rounds search with.
BLUESKY_EVENT_ACCOUNT = "event"


def client_metadata_at(client_id: str, client_key: str) -> dict[str, Any]:
    """The client metadata document the hosted app serves at `client_id` (its URL)."""
    if not client_id.endswith("/" + CLIENT_METADATA_PATH):
        raise ValueError(f"not relaycast's client metadata URL: {client_id}")
    return hosted_client_metadata(client_id.removesuffix(CLIENT_METADATA_PATH), client_key)


def app_secret(x: SandboxX, client_key: str, bluesky: SandboxBluesky | None = None,
               linkedin: SandboxLinkedIn | None = None) -> str:
    account = bluesky.add_account(bluesky.handle(BLUESKY_EVENT_ACCOUNT)) if bluesky else None
    return json.dumps(
        {
            "x_client_id": x.client_id,
            "x_client_secret": x.client_secret,
            "x_bearer_token": x.bearer_token,
            "signing_key": "local-demo-signing-key-0123456789abcdef",
            "bluesky_client_key": client_key,
            **({"bluesky_identifier": account.handle, "bluesky_app_password": account.app_password} if account else {}),
            **({"linkedin_client_id": linkedin.client_id, "linkedin_client_secret": linkedin.client_secret} if linkedin else {}),
        }
    )


def table_scan(table_name: str) -> list[dict[str, Any]]:
    table = boto3.resource("dynamodb").Table(table_name)
    items, kwargs = [], {}
    while True:
        page = table.scan(**kwargs)
        items += page["Items"]
        if "LastEvaluatedKey" not in page:
            return items
        kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]


def sent_emails(cloud: LocalCloud) -> list[dict[str, Any]]:
    """What moto's SES actually accepted for delivery (the relays' inboxes, in effect)."""
    from moto.ses.models import ses_backends

    backend = ses_backends[cloud.account_id][cloud.region]
    return [
        {"to": list(m.destinations.get("ToAddresses", [])), "subject": m.subject, "body": m.body}
        for m in backend.sent_messages
    ]


def queue_depth(url: str) -> int:
    attrs = boto3.client("sqs").get_queue_attributes(
        QueueUrl=url, AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"]
    )["Attributes"]
    return int(attrs["ApproximateNumberOfMessages"]) + int(attrs["ApproximateNumberOfMessagesNotVisible"])
