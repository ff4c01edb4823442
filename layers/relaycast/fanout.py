"""A round's fan-out: the relays with room, paged from the table into work items on the propose queue.

The round's state carries the picks only (a few per network), never the relays: `fan_out` pages the grants
and queues work items of at most `RELAYS_PER_ITEM` relays each, ten per SendMessageBatch. The propose
function turns each item into that relay's proposals (approve-each, share-link) or publish jobs after the
relay's own delay (auto), then mails those relays their digest. Every step may run twice: a proposal is
written once (conditional put), a digest is claimed once per relay and round, and publish keeps the
no-duplicate rule of the ledger.
"""

from __future__ import annotations

import itertools
import math
import json
from collections.abc import Iterable, Iterator
from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from relaycast import aws, clock
from relaycast.config import EventConfig
from relaycast.observability import logger, metrics
from relaycast.quiet import jitter
from relaycast.storage import Store, proposal_sk, relay_pk

# 100 relays and a round's picks stay well under 64 KB (one billed SQS request) and a few seconds of work.
RELAYS_PER_ITEM = 100
GRANT_FIELDS = ("relay_id", "network", "status", "published_count", "cap", "username", "mode", "email")


def author_key(name: str) -> str:
    """An author as relays' names are compared with it: without "@", in lower case."""
    return str(name).lstrip("@").lower()


def paced_cap(cap: int, config: EventConfig, now: datetime) -> int:
    """How much of a relay's cap may be used by now: a straight line over the event, one ahead, so a relay
    who approves everything still has reposts left for the last day."""
    elapsed = min(1.0, max(0.0, (now - config.start_utc) / (config.end_utc - config.start_utc)))
    return min(cap, math.ceil(cap * elapsed) + 1)


class Relay(BaseModel):
    """One relay's grant as the round sees it: its network's mode, the name it declared (share-link), its delay,
    and whether it has a confirmed address (only those are read again for a digest)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    relay_id: str = Field(pattern=r"^[a-z]+-[0-9A-Za-z_-]{1,64}$")
    network: str
    mode: str
    own: str = ""
    delay: int = Field(ge=0, le=900)
    mail: bool = False


class Pick(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    network: str
    post_id: str = Field(pattern=r"^[0-9]{1,25}$")
    author: str
    author_key: str
    text: str
    url: str
    score: str
    reasons: list[str]  # codes (`relaycast.reasons`), rendered where a reader sees them


class WorkItem(BaseModel):
    """What one propose invocation does: the round's picks for these relays."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    round: str = Field(pattern=r"^[0-9]{8}T[0-9]{6}Z$")
    picks: list[Pick]
    relays: list[Relay] = Field(max_length=RELAYS_PER_ITEM)
    proposal_expires_at: int
    expires_at: int


def relays_with_room(store: Store, config: EventConfig, picks: list[dict[str, Any]], now: datetime) -> Iterator[Relay]:
    """Every active grant of a network with picks, under its paced cap, in the index's order (a relay's grants
    are adjacent: one relay, one work item, one digest)."""
    first_pick = {}
    for pick in picks:
        first_pick.setdefault(pick["network"], pick["post_id"])
    for grant in store.grants(fields=GRANT_FIELDS):
        network = grant.get("network")
        if network not in first_pick or grant.get("status") != "active":
            continue
        if int(grant.get("published_count", 0)) >= paced_cap(int(grant.get("cap", config.cap_per_relay)), config, now):
            continue
        yield Relay(
            relay_id=grant["relay_id"], network=network, mode=config.mode(network),
            # A share-link relay's user name is only their word: it keeps their own posts from them, not from everyone.
            own=author_key(grant.get("username") or "") if grant.get("mode") == "share-link" else "",
            # An auto publish waits its own delay (the first pick's): relays never act as one burst.
            delay=jitter(config, grant["relay_id"], first_pick[network]),
            mail=bool(grant.get("email")),
        )


def work_items(selection: dict[str, Any], relays: Iterable[Relay], size: int) -> Iterator[WorkItem]:
    """Relays in items of at most `size`, never splitting one relay's grants across two items."""
    chunk: list[Relay] = []
    for _, grants in itertools.groupby(relays, key=lambda relay: relay.relay_id):
        grants = list(grants)
        if chunk and len(chunk) + len(grants) > size:
            yield _item(selection, chunk)
            chunk = []
        chunk += grants
    if chunk:
        yield _item(selection, chunk)


def _item(selection: dict[str, Any], relays: list[Relay]) -> WorkItem:
    return WorkItem(round=selection["round"], picks=selection["picks"], relays=relays,
                    proposal_expires_at=selection["proposal_expires_at"], expires_at=selection["expires_at"])


def fan_out(store: Store, config: EventConfig, selection: dict[str, Any], queue_url: str, *, sqs: Any = None) -> dict[str, Any]:
    """Queue the round's work items; raises when some could not be queued (the round's retry queues them all
    again: proposals are written once, and publish never publishes a relay-post twice)."""
    if not selection.get("picks"):
        return {"round": selection.get("round"), "relays": 0, "items": 0, "batches": 0}
    relays = 0

    def counted(items: Iterable[WorkItem]) -> Iterator[dict[str, Any]]:
        nonlocal relays
        for item in items:
            relays += len(item.relays)
            yield {"MessageBody": item.model_dump_json()}

    relays_to_reach = relays_with_room(store, config, selection["picks"], clock.now())
    sent = aws.send_batches(queue_url, counted(work_items(selection, relays_to_reach, RELAYS_PER_ITEM)), sqs=sqs)
    result = {"round": selection["round"], "relays": relays, "items": sent.queued, "batches": sent.batches}
    metrics.add_metric(name="RelaysFannedOut", unit="Count", value=relays)
    logger.info("round fanned out", extra=result)
    if sent.unqueued:
        raise RuntimeError(f"{sent.unqueued} work item(s) of round {selection['round']} could not be queued")
    return result


def propose(store: Store, item: WorkItem, publish_queue_url: str, proposed_at: str | None = None) -> dict[str, Any]:
    """One work item: a proposal per relay and pick of their network (auto: a publish job), never a relay's
    declared own post. Returns the counts and the relays with a confirmed address who may have proposals to mail."""
    proposed_at = proposed_at or clock.now().isoformat()
    jobs: list[dict[str, Any]] = []
    proposals: list[dict[str, Any]] = []
    own = 0
    to_mail: list[str] = []
    for relay in item.relays:
        for pick in (p for p in item.picks if p.network == relay.network):
            if relay.own and pick.author_key == relay.own:
                own += 1
            elif relay.mode == "auto":
                job = {"relay_id": relay.relay_id, "network": relay.network, "post_id": pick.post_id}
                jobs.append({"MessageBody": json.dumps(job), "DelaySeconds": relay.delay})
            else:
                proposals.append(proposal_item(item, relay, pick, proposed_at))
        if relay.mode != "auto" and relay.mail and relay.relay_id not in to_mail:
            to_mail.append(relay.relay_id)
    # One conditional put each: a transaction of 100 would save round trips but bills 2 units per item.
    proposed = sum(store.put_new(proposal) for proposal in proposals)
    counts = {"proposed": proposed, "already": len(proposals) - proposed, "jobs": 0, "own": own}
    sent = aws.send_batches(publish_queue_url, jobs)
    counts["jobs"] = sent.queued
    if sent.unqueued:  # the item is retried: its proposals are found written, its jobs sent again
        raise RuntimeError(f"{sent.unqueued} publish job(s) of round {item.round} could not be queued")
    return {**counts, "to_mail": to_mail}


def proposal_item(item: WorkItem, relay: Relay, pick: Pick, proposed_at: str) -> dict[str, Any]:
    return {
        "pk": relay_pk(relay.relay_id),
        "sk": proposal_sk(pick.network, pick.post_id),
        "kind": "proposal",
        "relay_id": relay.relay_id,
        **pick.model_dump(exclude={"author_key"}),
        "round": item.round,
        "status": "pending",
        "proposed_at": proposed_at,
        # select computed both instants: until when the relay may approve, and the record's TTL.
        "proposal_expires_at": item.proposal_expires_at,
        "expires_at": item.expires_at,
    }
