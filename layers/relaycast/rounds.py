"""A round: poll the hashtag, score what is new, select the round's picks (the fan-out names the relays)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import asdict
from datetime import datetime, timedelta
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from relaycast import clock, selection
from relaycast.config import EventConfig
from relaycast.fanout import author_key
from relaycast.networks import NetworkError, Post
from relaycast.networks.x import XNetwork
from relaycast.observability import logger
from relaycast.storage import Store

if TYPE_CHECKING:
    from relaycast.networks.mastodon import MastodonNetwork


def poll(store: Store, config: EventConfig, x: XNetwork, mastodon: MastodonNetwork | None = None) -> dict[str, Any]:
    """Read what is new on every source since its cursor; each post is stored once and never read twice. X's
    search fails the round (it is retried); a Mastodon source that fails is reported and read next round."""
    feeds: dict[str, Callable[[str | None], Iterator[list[Post]]]] = {"x": lambda since: x.search(config.search_query, since)}
    if mastodon is not None:
        for tag in config.hashtags:
            feeds[f"mastodon#{tag}"] = lambda since, tag=tag: mastodon.tag_timeline(tag, since)
    result: dict[str, Any] = {"read": 0, "stored": 0, "failed": []}
    for cursor, feed in feeds.items():
        try:
            read, stored, newest = _read(store, config, cursor, feed)
        except NetworkError as error:
            if cursor == "x":
                raise
            logger.warning("a source failed; it is read again next round", extra={"source": cursor, "error": str(error)})
            result["failed"].append(cursor)
            continue
        result["read"] += read
        result["stored"] += stored
        if cursor == "x":
            result["since_id"] = newest
    return result


def _read(store: Store, config: EventConfig, cursor: str, feed: Callable[[str | None], Iterator[list[Post]]]) -> tuple[int, int, str | None]:
    since_id = store.cursor(cursor)
    newest = since_id
    read = stored = 0
    for page in feed(since_id):
        for post in page:
            read += 1
            if newest is None or int(post.post_id) > int(newest):
                newest = post.post_id
            stored += store.add_candidate(candidate_item(post, config))
    # The cursor moves only after every page is stored: a crash re-reads, it never skips.
    if newest and newest != since_id:
        store.set_cursor(cursor, newest)
    return read, stored, newest


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
    return {**item, "score": Decimal(str(scored.score)), "reasons": list(scored.reasons), "expires_at": config.retention_ends}


def select(store: Store, config: EventConfig, round_id: str) -> dict[str, Any]:
    """The round's picks per network (paced over the event, diverse, never a relay's own post). The relays they
    go to are paged by the fan-out (`relaycast.fanout`), never carried in the round's state."""
    now = clock.now()
    selected = store.candidates(selected=True)
    # Only recent, substantive posts are worth a relay's name; the filter keeps each round's read small.
    fresh = store.candidates(
        selected=False, since=(now - selection.PICK_MAX_AGE).isoformat(), min_score=selection.MIN_SCORE
    )
    grants = store.grants(fields=("network", "username", "mode"))
    # A connected relay's own posts are never picked (X: the handle; Mastodon: user@instance) — only names the
    # network verified: a share-link relay's declared name keeps those posts from that relay alone (`own`).
    verified = {(g.get("network"), author_key(g["username"])) for g in grants
                if g.get("username") and g.get("mode") != "share-link"}
    fresh = [c for c in fresh if (c["network"], author_key(c["author"])) not in verified]
    picks: list[dict[str, Any]] = []
    allowed = 0
    for network in config.networks:  # each network's picks come from its own sources, paced on their own
        n = selection.picks_allowed(
            total=selection.selection_total(config.cap_per_relay),
            start=config.start_utc,
            end=config.end_utc,
            now=now,
            already=sum(1 for c in selected if c["network"] == network),
        )
        allowed += n
        chosen = selection.choose(
            [c for c in fresh if c["network"] == network], n=n,
            already_selected=[c for c in selected if c["network"] == network],
            expert_weight=config.expert_weight, event_tags=config.hashtags,
        )
        picks += [_pick(c) for c in chosen if store.mark_selected(c["network"], c["post_id"], round_id)]
    proposal_expiry = now + timedelta(hours=config.proposal_ttl_hours)
    return {
        "round": round_id,
        "picks": picks,
        # Until when a relay may approve the round's proposals, and their records' TTL.
        "proposal_expires_at": int(min(proposal_expiry, config.access_ends).timestamp()),
        "expires_at": int(config.retention_ends),
        "pool": len(fresh),
        "allowed": allowed,
    }


def _pick(candidate: dict[str, Any]) -> dict[str, Any]:
    return {
        "network": candidate["network"],
        "post_id": candidate["post_id"],
        "author": candidate["author"],
        "author_key": author_key(candidate["author"]),
        "text": candidate["text"],
        "url": candidate["url"],
        "score": str(candidate["score"]),
        "reasons": ", ".join(candidate.get("reasons", [])) or "—",
    }
