"""When a relay-post may go out: the relay's quiet hours (nothing is published in their name during their night,
in their own time zone) and each relay-post's own jitter.

The window is local wall-clock time ("22:00-07:00" may cross midnight); the zone is the relay's own when they
chose one, else the event's. Instants are compared in UTC, so a DST change night lasts as long as it really does.
"""

from __future__ import annotations

import hashlib
import math
from datetime import UTC, datetime, time, timedelta
from functools import cache
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

from relaycast.config import EventConfig


def window(config: EventConfig) -> tuple[time, time] | None:
    """The event's quiet hours as (start, end) local times; None when they are off."""
    if not config.quiet_hours:
        return None
    start, end = config.quiet_hours.split("-")
    return time.fromisoformat(start), time.fromisoformat(end)


def shown(config: EventConfig) -> tuple[str, str] | None:
    """The window as the hosted page says it: none when off, or when relaycast publishes nothing itself
    (share-link only: the relay clicks on the network, at the hour they like)."""
    hours = window(config)
    if hours is None or all(config.mode(n) == "share-link" for n in config.networks):
        return None
    return f"{hours[0]:%H:%M}", f"{hours[1]:%H:%M}"


def is_zone(name: str) -> bool:
    """An IANA zone name this system knows (the list a relay's choice is checked against)."""
    return name in _zones()


@cache
def _zones() -> frozenset[str]:
    return frozenset(available_timezones())


def relay_zone(grant: dict[str, Any], config: EventConfig) -> str:
    """The zone the relay's quiet hours are read in: theirs if they chose one (and it still exists), else the event's."""
    name = grant.get("timezone")
    if name:
        try:
            ZoneInfo(name)
            return name
        except (ZoneInfoNotFoundError, ValueError):
            pass
    return config.timezone


def seconds_until_quiet_ends(grant: dict[str, Any], config: EventConfig, now: datetime) -> int:
    """0 when the relay is not in their quiet hours at `now`; else the whole seconds until they end (at least 1)."""
    hours = window(config)
    if hours is None:
        return 0
    start, end = hours
    zone = ZoneInfo(relay_zone(grant, config))
    local = now.astimezone(zone)
    wall = local.time().replace(tzinfo=None)
    if start < end:
        quiet, ends_on = start <= wall < end, local.date()
    else:  # across midnight: the evening part ends tomorrow, the morning part today
        quiet = wall >= start or wall < end
        ends_on = local.date() + timedelta(days=1) if wall >= start else local.date()
    if not quiet:
        return 0
    # A wall time skipped by a DST change (fold=0) is read with the earlier offset: the quiet hours end on the
    # later side of the gap, never before the relay's clock has passed their end.
    ends = datetime.combine(ends_on, end, tzinfo=zone).astimezone(UTC)
    return max(1, math.ceil((ends - now.astimezone(UTC)).total_seconds()))


def jitter(config: EventConfig, relay_id: str, post_id: str) -> int:
    """This relay-post's own delay before publishing, spread evenly and stable across retries."""
    if not config.publish_jitter_seconds:
        return 0
    digest = hashlib.sha256(f"{relay_id}#{post_id}".encode()).digest()
    return int.from_bytes(digest[:4], "big") % (config.publish_jitter_seconds + 1)


def quiet_deferral(grant: dict[str, Any], config: EventConfig, now: datetime, post_id: str) -> int:
    """How long a publish in the relay's name waits for their quiet hours to end: 0 when not quiet. The relay-post's
    own jitter is added, so a night of approvals does not land as one burst of identical reposts at 07:00."""
    wait = seconds_until_quiet_ends(grant, config, now)
    return wait + jitter(config, grant["relay_id"], post_id) if wait else 0


# The zones the hosted page offers (any zone the system knows is accepted): the event's audience is mostly
# European and French-speaking, with the Americas, Africa, Asia and Oceania's main zones.
SUGGESTED_ZONES = (
    "UTC", "Europe/London", "Europe/Dublin", "Europe/Lisbon", "Europe/Paris", "Europe/Brussels", "Europe/Amsterdam",
    "Europe/Luxembourg", "Europe/Zurich", "Europe/Berlin", "Europe/Madrid", "Europe/Rome", "Europe/Stockholm",
    "Europe/Warsaw", "Europe/Athens", "Europe/Helsinki", "Europe/Bucharest", "Europe/Kyiv", "Europe/Istanbul",
    "Europe/Moscow", "Africa/Casablanca", "Africa/Algiers", "Africa/Tunis", "Africa/Dakar", "Africa/Abidjan",
    "Africa/Lagos", "Africa/Kinshasa", "Africa/Cairo", "Africa/Nairobi", "Africa/Johannesburg", "Indian/Reunion",
    "Asia/Dubai", "Asia/Kolkata", "Asia/Bangkok", "Asia/Singapore", "Asia/Shanghai", "Asia/Hong_Kong", "Asia/Tokyo",
    "Asia/Seoul", "Australia/Perth", "Australia/Sydney", "Pacific/Noumea", "Pacific/Auckland", "Pacific/Tahiti",
    "Pacific/Honolulu", "America/Anchorage", "America/Los_Angeles", "America/Denver", "America/Phoenix",
    "America/Chicago", "America/Mexico_City", "America/New_York", "America/Toronto",
    "America/Halifax", "America/St_Johns", "America/Martinique", "America/Guadeloupe", "America/Cayenne",
    "America/Bogota", "America/Lima", "America/Santiago", "America/Sao_Paulo", "America/Argentina/Buenos_Aires",
)


def zone_choices(*also: str) -> list[str]:
    """The zones a form offers: the suggested ones this system knows, plus `also` (the event's, the relay's)."""
    return sorted({z for z in (*SUGGESTED_ZONES, *also) if z and is_zone(z)})
