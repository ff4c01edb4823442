"""A round: poll the hashtag, score what is new, select the round's picks and name the relays to propose to."""

from __future__ import annotations

import math
from dataclasses import asdict
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from relaycast import clock, selection
from relaycast.config import EventConfig
from relaycast.networks import Post
from relaycast.networks.x import XNetwork
from relaycast.storage import Store


def retention_epoch(config: EventConfig) -> int:
    return int((config.access_ends + timedelta(days=config.receipt_retention_days)).timestamp())


def poll(store: Store, config: EventConfig, x: XNetwork) -> dict[str, Any]:
    """Read what is new since the cursor; each post is stored once and never read twice."""
    since_id = store.cursor("x")
    newest = since_id
    read = stored = 0
    for page in x.search(config.search_query, since_id):
        for post in page:
            read += 1
            if newest is None or int(post.post_id) > int(newest):
                newest = post.post_id
            stored += store.add_candidate(candidate_item(post, config))
    # The cursor moves only after every page is stored: a crash re-reads, it never skips.
    if newest and newest != since_id:
        store.set_cursor("x", newest)
    return {"read": read, "stored": stored, "since_id": newest}


def candidate_item(post: Post, config: EventConfig) -> dict[str, Any]:
    scored = selection.score_post(
        text=post.text,
        author=post.author,
        expert_weight=config.expert_weight(post.author),
        likes=post.likes,
        reposts=post.reposts,
        replies=post.replies,
        is_reply=post.is_reply,
        lang=post.lang,
    )
    item = asdict(post)
    item["created_at"] = post.created_at.isoformat()
    return {**item, "score": Decimal(str(scored.score)), "reasons": list(scored.reasons), "expires_at": retention_epoch(config)}


def paced_cap(cap: int, config: EventConfig, now: datetime) -> int:
    """How much of a relay's cap may be used by now: a straight line over the event, one ahead, so a relay
    who approves everything still has reposts left for the last day."""
    elapsed = min(1.0, max(0.0, (now - config.start_utc) / (config.end_utc - config.start_utc)))
    return min(cap, math.ceil(cap * elapsed) + 1)


def select(store: Store, config: EventConfig, round_id: str) -> dict[str, Any]:
    """The round's picks (paced over the event, diverse, never a relay's own post) and the relays who still
    have room under their cap."""
    now = clock.now()
    selected = store.candidates(selected=True)
    # Only recent, substantive posts are worth a relay's name; the filter keeps each round's read small.
    fresh = store.candidates(
        selected=False, since=(now - selection.PICK_MAX_AGE).isoformat(), min_score=selection.MIN_SCORE
    )
    grants = list(store.grants())
    # A relay's own posts are never proposed back to the relays (for X the username is the handle).
    own = {(g.get("network"), str(g["username"]).lstrip("@").lower()) for g in grants if g.get("username")}
    fresh = [c for c in fresh if (c["network"], str(c["author"]).lstrip("@").lower()) not in own]
    n = selection.picks_allowed(
        total=selection.selection_total(config.cap_per_relay),
        start=config.start_utc,
        end=config.end_utc,
        now=now,
        already=len(selected),
    )
    picks = []
    chosen = selection.choose(
        fresh, n=n, already_selected=selected, expert_weight=config.expert_weight, event_tags=config.hashtags
    )
    for candidate in chosen:
        if store.mark_selected(candidate["network"], candidate["post_id"], round_id):
            picks.append(_pick(candidate))
    relays = [
        g["relay_id"]
        for g in grants
        # Picks come from X's search for now: only X grants can repost them.
        if g.get("network") == "x"
        and g.get("status") == "active"
        and g.get("published_count", 0) < paced_cap(int(g.get("cap", config.cap_per_relay)), config, now)
    ]
    proposal_expiry = now + timedelta(hours=config.proposal_ttl_hours)
    return {
        "round": round_id,
        "picks": picks,
        "relays": relays if picks else [],
        # Strings: the state machine writes them as DynamoDB numbers without arithmetic.
        "proposal_expires_at": str(int(min(proposal_expiry, config.access_ends).timestamp())),
        "expires_at": str(retention_epoch(config)),
        "pool": len(fresh),
        "allowed": n,
    }


def _pick(candidate: dict[str, Any]) -> dict[str, Any]:
    return {
        "network": candidate["network"],
        "post_id": candidate["post_id"],
        "author": candidate["author"],
        "text": candidate["text"],
        "url": candidate["url"],
        "score": str(candidate["score"]),
        "reasons": ", ".join(candidate.get("reasons", [])) or "—",
    }
