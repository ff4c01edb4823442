"""How many relay-posts the platforms' limits allow over an event, against what its expected relays would ask.

The windows are counted as publishing budgets them (`Store.take_quota`): fixed windows aligned on the epoch,
every one that the publishing time (event start to access end) touches.
"""

from __future__ import annotations

from dataclasses import dataclass

from relaycast.config import EventConfig
from relaycast.policy import SHARE_LINK, Limit, policy


@dataclass(frozen=True)
class NetworkCapacity:
    network: str
    mode: str
    asked: int  # relay-posts the expected relays would publish through relaycast, each up to the cap
    allowed: int | None  # what the platform's limits allow relaycast over the publishing time (None: no limit applies)
    limit: str  # the limit that bounds `allowed`, in words

    @property
    def exceeded(self) -> bool:
        return self.allowed is not None and self.asked > self.allowed


def windows(limit: Limit, start: int, end: int) -> int:
    """The fixed windows of `limit` that the epoch-second span [start, end) touches."""
    size = limit.window_seconds
    return (end - 1) // size - start // size + 1


def plan(config: EventConfig, expected_relays: int) -> list[NetworkCapacity]:
    """Per network of the event, as if every expected relay connected it (the most it can be asked)."""
    if expected_relays < 0:
        raise ValueError("the expected relays cannot be negative")
    start, end = int(config.start_utc.timestamp()), int(config.access_ends.timestamp())
    found = []
    for network in config.networks:
        row, mode = policy(network), config.mode(network)
        if mode == SHARE_LINK:  # the relays post themselves: relaycast sends nothing
            found.append(NetworkCapacity(network, mode, 0, None, "none: relays share it themselves"))
            continue
        per_relay = min(config.cap_per_relay, row.per_user.calls * windows(row.per_user, start, end))
        asked = expected_relays * per_relay
        if row.per_app is None:
            found.append(NetworkCapacity(network, mode, asked, None, "per account only (within the cap)"))
            continue
        count = windows(row.per_app, start, end)
        found.append(NetworkCapacity(
            network, mode, asked, row.per_app.calls * count,
            f"{row.per_app.calls:,} per app per {_duration(row.per_app.window_seconds)} × {count} window(s), "
            "shared with every other event using the same app",
        ))
    return found


def seats(config: EventConfig, network: str) -> int | None:
    """The most relays `network` takes at once for this event: as many as the platform's app-wide limit serves at
    the cap over the publishing time, or fewer if the event file says so; None when nothing bounds it."""
    (row,) = [c for c in plan(config, 1) if c.network == network]
    served = row.allowed // row.asked if row.allowed is not None and row.asked else None
    limits = [n for n in (served, config.max_relays.get(network)) if n is not None]
    return min(limits) if limits else None


def _duration(seconds: int) -> str:
    return f"{seconds // 3600} h" if seconds % 3600 == 0 else f"{seconds // 60} min"
