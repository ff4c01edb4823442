"""Each network's rules, in one table: what relaycast may do there, how fast, and why.

The event config is validated against it (a mode a network forbids is refused with the reason), and
publishing budgets its calls from it so relaycast stays under each platform's limits instead of
discovering them through 429s.
"""

from __future__ import annotations

from dataclasses import dataclass


# The mode in which relaycast holds no token (each relay shares a post themselves).
SHARE_LINK = "share-link"


@dataclass(frozen=True)
class Limit:
    """At most `calls` in any fixed window of `window_seconds` (the platforms count per window); `sliding`
    when the platform's window starts at an instant relaycast cannot see (counted in 1/24ths of the window, so
    no window of that length, wherever it starts, ever holds more than `calls`)."""

    calls: int
    window_seconds: int
    sliding: bool = False


@dataclass(frozen=True)
class Policy:
    network: str
    modes: tuple[str, ...]  # allowed publishing modes, the first is the default
    why: str  # the reason the modes are what they are, shown when a mode is refused
    publish: str  # the native, credited action
    undo: str
    per_user: Limit  # per relay account, for the publish action
    per_app: Limit | None  # for the whole app (all relays of all events using it)
    content: str
    reads: bool = True  # the rounds read its posts; False: its picks are borrowed (the organiser's, the others')
    # Ends of grants per server of the network in a window (the servers' own limit per client address): the
    # end-of-event sweep is paced against it, a grant's end waiting for its server's next window.
    ends_per_server: Limit | None = None


POLICIES: dict[str, Policy] = {
    "x": Policy(
        network="x",
        modes=("approve-each", "share-link"),
        why=(
            "X's rules forbid automated reposting across accounts that authorised one app: each repost needs "
            "the relay's own click (approve-each), or the relay posts it themselves (share-link)"
        ),
        publish="repost (POST /2/users/:id/retweets)",
        undo="delete the repost (DELETE /2/users/:id/retweets/:post_id)",
        per_user=Limit(50, 15 * 60),  # reposts per user per 15 minutes
        # Posts per app per 24 hours, counted by X from its own start: sliding, or relaycast's next day would
        # open while X's 24 hours still run (a 429 at each turn).
        per_app=Limit(10_000, 24 * 3600, sliding=True),
        content="the original post is reposted as is: never the same text on several accounts",
    ),
    "mastodon": Policy(
        network="mastodon",
        modes=("approve-each", "auto", "share-link"),
        why="Mastodon allows boosting on a user's behalf with their consent (auto), within each instance's rules",
        publish="boost (POST /api/v1/statuses/:id/reblog)",
        undo="unboost (POST /api/v1/statuses/:id/unreblog)",
        per_user=Limit(300, 5 * 60),  # requests per account per 5 minutes
        per_app=None,  # limits are per instance and account
        content="the original status is boosted as is",
    ),
    "bluesky": Policy(
        network="bluesky",
        modes=("approve-each", "share-link"),
        why=(
            "Bluesky's Developer Guidelines (docs.bsky.app/docs/support/developer-guidelines, 1.1) count "
            "generating automated or bulk interactions that notify a user as spam, and a repost notifies its "
            "author: each repost needs the relay's own click (approve-each), or the relay reposts it themselves "
            "(share-link)"
        ),
        publish="repost record (com.atproto.repo.createRecord, collection app.bsky.feed.repost)",
        undo="delete the repost record (com.atproto.repo.deleteRecord)",
        # 5,000 points per account per hour, a created record costing 3 (the day's 35,000 is never the tighter).
        per_user=Limit(5_000 // 3, 3600),
        per_app=None,  # the servers' limits are per account and per client address, not per app
        content="the original post is reposted as is (a strong reference: its uri and content id)",
        # 3,000 requests per client address per 5 minutes toward a server; an end makes at most 12 there (its
        # metadata, two revocations and two proofs of refusal, each perhaps asked again for a new DPoP nonce).
        ends_per_server=Limit(3_000 // 12, 5 * 60),
    ),
    "linkedin": Policy(
        network="linkedin",
        modes=("approve-each", "share-link"),
        why=(
            "LinkedIn's User Agreement (8.2) forbids bots or other automated methods that share or re-share "
            "posts, and its API terms forbid automated posting: each share needs the relay's own click "
            "(approve-each), or the relay shares it themselves (share-link)"
        ),
        publish="reshare (POST /rest/posts with reshareContext.parent)",
        undo="delete the reshare (DELETE /rest/posts/{urn})",
        # The Posts API's daily limits, reset at midnight UTC (a fixed day, as relaycast counts them).
        per_user=Limit(150, 24 * 3600),
        per_app=Limit(100_000, 24 * 3600),
        content=(
            "a LinkedIn post is reshared as is; another network's pick is shared as its link (the relay adds no "
            "text, and none is copied)"
        ),
        reads=False,  # no hashtag search for ordinary apps
    ),
}


def policy(network: str) -> Policy:
    return POLICIES[network]


def modes_allowed(network: str) -> tuple[str, ...]:
    return POLICIES[network].modes if network in POLICIES else ()
