"""A round: poll the hashtag, score what is new, select the round's picks (the fan-out names the relays)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import asdict
from datetime import timedelta
from decimal import Decimal
from typing import TYPE_CHECKING, Any, NamedTuple

from relaycast import clock, crypto, selection
from relaycast.config import EventConfig
from relaycast.fanout import author_key
from relaycast.networks import NetworkError, Post
from relaycast.networks.base import post_id_of
from relaycast.networks.x import XNetwork
from relaycast.observability import logger
from relaycast.policy import policy
from relaycast.reasons import code
from relaycast.storage import Store

if TYPE_CHECKING:
    from relaycast.networks.bluesky import BlueskySource
    from relaycast.networks.mastodon import MastodonNetwork
    from relaycast.settings import Settings

Feed = Callable[[str | None], Iterator[list[Post]]]


class Cursor(NamedTuple):
    """How a feed is cursored: the value a post leaves the cursor at, and how two values compare."""

    value: Callable[[Post], str]
    order: Callable[[str], Any]


BY_ID = Cursor(lambda post: post.post_id, int)  # X, Mastodon: ids grow with time
# Bluesky: the AppView's indexing time (post ids are record keys, in no order a search can resume from).
BY_TIME = Cursor(lambda post: str(getattr(post, "indexed_at", "") or post.created_at.isoformat()), str)


def poll(store: Store, config: EventConfig, x: XNetwork, mastodon: MastodonNetwork | None = None,
         bluesky: BlueskySource | None = None) -> dict[str, Any]:
    """Read what is new on every source since its cursor; each post is stored once and never read twice. X's
    search fails the round (it is retried); a Mastodon or Bluesky source that fails is reported and read next
    round."""
    feeds: dict[str, tuple[Feed, Cursor]] = {"x": (lambda since: x.search(config.search_query, since), BY_ID)}
    if mastodon is not None:
        for tag in config.hashtags:
            feeds[f"mastodon#{tag}"] = (lambda since, tag=tag: mastodon.tag_timeline(tag, since), BY_ID)
    if bluesky is not None:
        feeds["bluesky"] = (lambda since: bluesky.search(config.hashtags, since), BY_TIME)
    result: dict[str, Any] = {"read": 0, "stored": 0, "failed": []}
    for name, (feed, cursor) in feeds.items():
        try:
            read, stored, newest = _read(store, config, name, feed, cursor)
        except NetworkError as error:
            if name == "x":
                raise
            logger.warning("a source failed; it is read again next round", extra={"source": name, "error": str(error)})
            result["failed"].append(name)
            continue
        result["read"] += read
        result["stored"] += stored
        if name == "x":
            result["since_id"] = newest
    return result


def _session_context(config: EventConfig) -> dict[str, str]:
    return {"event_slug": config.slug, "relay_id": "source:bluesky", "network": "bluesky"}


def bluesky_source(store: Store, settings: Settings) -> BlueskySource | None:
    """The event's Bluesky account as a source, signed in with the session an earlier poll kept (signing in is
    limited to a few hundred times a day; a poll every minute would spend that)."""
    from relaycast.networks.factory import bluesky_source as source_of

    blob = store.source_session("bluesky") if "bluesky" in settings.event().networks else None
    return source_of(settings, crypto.unseal(blob, **_session_context(settings.event())) if blob else None)


def keep_session(store: Store, settings: Settings, source: BlueskySource | None, kept: dict[str, str] | None) -> None:
    """Store the source's session when the poll changed it (a sign-in, a refresh), sealed: it authenticates."""
    if source is None or source.session == kept:
        return
    blob = (crypto.seal(source.session, key_id=settings.token_key_id, **_session_context(settings.event()))
            if source.session else None)
    store.set_source_session("bluesky", blob)


def _read(store: Store, config: EventConfig, name: str, feed: Feed, cursor: Cursor) -> tuple[int, int, str | None]:
    since_id = store.cursor(name)
    newest = since_id
    read = stored = 0
    for page in feed(since_id):
        for post in page:
            read += 1
            value = cursor.value(post)
            if newest is None or cursor.order(value) > cursor.order(newest):
                newest = value
            stored += store.add_candidate(candidate_item(post, config))
    # The cursor moves only after every page is stored: a crash re-reads, it never skips.
    if newest and newest != since_id:
        store.set_cursor(name, newest)
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
    return {**item, "score": Decimal(str(scored.score)), "reasons": list(scored.reasons),
            "quality": Decimal(str(scored.quality)), "substantive": scored.substantive, "expires_at": config.retention_ends}


def select(store: Store, config: EventConfig, round_id: str) -> dict[str, Any]:
    """The round's picks per network (paced over the event, diverse, never a relay's own post). The relays they
    go to are paged by the fan-out (`relaycast.fanout`), never carried in the round's state."""
    now = clock.now()
    selected = store.candidates(selected=True)
    # Only recent, substantive posts are worth a relay's name; the filter keeps each round's read small.
    fresh = store.candidates(
        selected=False, since=(now - selection.PICK_MAX_AGE).isoformat(), min_score=config.quality_floor
    )  # a score holds its quality and bonuses: under the floor, no quality can reach it
    # What the event is about, from every network's fresh posts and the programme: one subject for the round.
    topic = selection.learn_topic(fresh, programme=config.programme, event_tags=config.hashtags)
    grants = store.grants(fields=("network", "username", "mode"))
    # A connected relay's own posts are never picked (X: the handle; Mastodon: user@instance) — only names the
    # network verified: a share-link relay's declared name keeps those posts from that relay alone (`own`).
    verified = {(g.get("network"), author_key(g["username"])) for g in grants
                if g.get("username") and g.get("mode") != "share-link"}
    fresh = [c for c in fresh if (c["network"], author_key(c["author"])) not in verified]
    made: list[dict[str, Any]] = []  # the picks of the networks read, as `choose` made them (reasons, quality)
    allowed = 0
    borrowing: list[tuple[str, int]] = []  # networks without a source (LinkedIn), with their allowance
    for network in config.networks:  # each network's picks come from its own sources, paced on their own
        n = selection.picks_allowed(
            total=selection.selection_total(config.cap_per_relay),
            start=config.start_utc,
            end=config.end_utc,
            now=now,
            already=sum(1 for c in selected if c["network"] == network),
        )
        allowed += n
        if not policy(network).reads:  # its picks are borrowed, once the others' are made
            borrowing.append((network, n))
            continue
        chosen = selection.choose(
            [c for c in fresh if c["network"] == network], n=n,
            already_selected=[c for c in selected if c["network"] == network],
            expert_weight=config.expert_weight, event_tags=config.hashtags, floor=config.quality_floor, topic=topic,
        )
        made += [c for c in chosen if store.mark_selected(c["network"], c["post_id"], round_id)]
    picks = [_pick(c) for c in made]
    for network, n in borrowing:
        taken: list[dict[str, Any]] = []
        for candidate in borrowed(config, network, made):
            if len(taken) == n:
                break
            # A candidate stored before (an earlier round's) is not taken again.
            if store.add_candidate(candidate) and store.mark_selected(network, candidate["post_id"], round_id):
                taken.append(_pick(candidate))
        picks += taken
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


def borrowed(config: EventConfig, network: str, picks: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The candidates of a network the rounds cannot read (LinkedIn), in the order they are taken: the organiser's
    own posts of it first (`linkedin_posts`), then this round's picks of the other networks (as `choose` made them)
    that have a public https address, with their quality and their reasons after the network they were picked on."""
    listed = [{"network": network, "post_id": post_id_of(urn), "ref": urn, "url": f"https://www.linkedin.com/feed/update/{urn}/",
               "author": "", "text": "", "score": Decimal(0), "reasons": [code("listed")]}
              for urn in (config.linkedin_posts if network == "linkedin" else [])]
    others = [{"network": network, "post_id": post_id_of(p["url"]), "ref": p["url"], "url": p["url"], "author": p["author"],
               "text": p["text"], "score": Decimal(str(p["score"])), "quality": Decimal(str(p.get("quality", 0))),
               "substantive": bool(p.get("substantive")), "reasons": [code("picked_on", p["network"]), *p.get("reasons", [])]}
              for p in picks if p["network"] != network and str(p.get("url", "")).startswith("https://")]
    now = clock.now().isoformat()
    return [{**c, "created_at": now, "expires_at": config.retention_ends} for c in listed + others]


def _pick(candidate: dict[str, Any]) -> dict[str, Any]:
    return {
        "network": candidate["network"],
        "post_id": candidate["post_id"],
        "author": candidate["author"],
        "author_key": author_key(candidate["author"]),
        "text": candidate["text"],
        "url": candidate["url"],
        "score": str(candidate["score"]),
        "reasons": list(candidate.get("reasons", [])),  # codes: each page renders them in its reader's language
    }
