"""Quiet hours: when a relay's night is, in their own time zone, and how long a publish waits for its end."""

from datetime import UTC, datetime

import pytest
import yaml

from relaycast.config import EventConfigError, parse_event_config
from relaycast.quiet import quiet_deferral, relay_zone, seconds_until_quiet_ends, zone_choices

EVENT = {
    "name": "Quiet Summit",
    "slug": "quiet-summit",
    "hashtags": ["#QS26"],
    "timezone": "Europe/Paris",
    "start": "2026-12-01T09:00",
    "end": "2026-12-02T18:00",
    "notice_sender": "relaycast@example.org",
    "publish_jitter_seconds": 0,
}
PARIS = parse_event_config(EVENT)  # the default: 22:00-07:00
GRANT = {"relay_id": "x-1", "network": "x"}


def utc(*parts):
    return datetime(*parts, tzinfo=UTC)


def wait(at, config=PARIS, grant=GRANT):
    return seconds_until_quiet_ends(grant, config, at)


def test_the_default_is_22_to_7_and_off_or_null_turns_it_off():
    assert PARIS.quiet_hours == "22:00-07:00"
    for off in (None, "off", "OFF", False):
        assert parse_event_config({**EVENT, "quiet_hours": off}).quiet_hours is None
    # YAML's bare `off` is False: the organiser's natural spelling works.
    assert parse_event_config({**EVENT, **yaml.safe_load("quiet_hours: off")}).quiet_hours is None
    assert parse_event_config({**EVENT, "quiet_hours": " 7:30 - 9:00 "}).quiet_hours == "07:30-09:00"
    # The validated config crosses to the functions as JSON: the value survives.
    from relaycast.config import event_config_from_json

    assert event_config_from_json(parse_event_config({**EVENT, "quiet_hours": "off"}).to_json()).quiet_hours is None
    assert event_config_from_json(PARIS.to_json()).quiet_hours == "22:00-07:00"


@pytest.mark.parametrize("bad", ["22-07", "25:00-07:00", "22:00-07:60", "22:00", "22:00-22:00", "night", 22, True])
def test_a_bad_window_is_reported_with_its_field_and_a_fix(bad):
    with pytest.raises(EventConfigError) as caught:
        parse_event_config({**EVENT, "quiet_hours": bad})
    (problem,) = caught.value.problems
    assert problem.field == "quiet_hours"
    assert "22:00-07:00" in problem.fix and "off" in problem.fix


def test_outside_the_quiet_hours_nothing_waits():
    assert wait(utc(2026, 12, 1, 9, 0)) == 0  # 10:00 in Paris
    assert wait(utc(2026, 12, 1, 20, 59, 59)) == 0  # 21:59:59
    assert wait(utc(2026, 12, 1, 6, 0)) == 0  # 07:00 exactly: the end is not quiet


def test_inside_the_window_across_midnight_it_waits_until_the_local_end():
    assert wait(utc(2026, 12, 1, 21, 0)) == 9 * 3600  # 22:00 exactly: quiet until 07:00 tomorrow
    assert wait(utc(2026, 12, 1, 23, 30)) == 6.5 * 3600  # 00:30 the next day: until 07:00 that same day
    assert wait(utc(2026, 12, 2, 5, 59, 59)) == 1  # 06:59:59


def test_a_window_within_one_day():
    lunch = parse_event_config({**EVENT, "quiet_hours": "12:00-14:00"})
    assert wait(utc(2026, 12, 1, 11, 30), lunch) == 5400  # 12:30 in Paris, until 14:00
    assert wait(utc(2026, 12, 1, 13, 0), lunch) == 0  # 14:00
    assert wait(utc(2026, 12, 1, 22, 0), lunch) == 0  # 23:00: only the configured window is quiet


def test_disabled_never_waits():
    off = parse_event_config({**EVENT, "quiet_hours": "off"})
    assert all(wait(utc(2026, 12, 1, h, 0), off) == 0 for h in range(24))
    assert quiet_deferral(GRANT, off, utc(2026, 12, 1, 23, 0), "1000") == 0


def test_the_relays_own_zone_wins_over_the_events():
    tokyo = {**GRANT, "timezone": "Asia/Tokyo"}
    # 10:00 in Paris is 18:00 in Tokyo: not quiet for the relay in Tokyo; 14:00 UTC is 23:00 in Tokyo, 15:00 in Paris.
    assert wait(utc(2026, 12, 1, 9, 0), grant=tokyo) == 0
    assert wait(utc(2026, 12, 1, 14, 0), grant=tokyo) == 8 * 3600  # until 07:00 in Tokyo (22:00 UTC)
    assert wait(utc(2026, 12, 1, 14, 0)) == 0  # the same instant, in the event's zone
    new_york = {**GRANT, "timezone": "America/New_York"}
    assert wait(utc(2026, 12, 1, 23, 0), grant=new_york) == 0  # 18:00 in New York, midnight in Paris
    assert relay_zone(new_york, PARIS) == "America/New_York"
    assert relay_zone(GRANT, PARIS) == relay_zone({**GRANT, "timezone": "Not/AZone"}, PARIS) == "Europe/Paris"


def test_a_zone_the_event_is_in_is_used_when_the_relay_chose_none():
    event_in_new_york = parse_event_config({**EVENT, "timezone": "America/New_York"})
    assert wait(utc(2026, 12, 2, 4, 0), event_in_new_york) == 8 * 3600  # 23:00 in New York, until 07:00 (12:00 UTC)


def test_paris_spring_forward_night_is_an_hour_shorter():
    # 2026-03-29 02:00 CET becomes 03:00 CEST: from 22:00 CET (21:00 UTC) to 07:00 CEST (05:00 UTC) is 8 hours.
    assert wait(utc(2026, 3, 28, 21, 0)) == 8 * 3600
    assert wait(utc(2026, 3, 29, 1, 30)) == 3.5 * 3600  # 03:30 CEST
    assert wait(utc(2026, 3, 29, 5, 0)) == 0  # 07:00 CEST


def test_paris_fall_back_night_is_an_hour_longer():
    # 2026-10-25 03:00 CEST becomes 02:00 CET: 22:00 CEST (20:00 UTC) to 07:00 CET (06:00 UTC) is 10 hours.
    assert wait(utc(2026, 10, 24, 20, 0)) == 10 * 3600
    assert wait(utc(2026, 10, 25, 0, 30)) == 5.5 * 3600  # 02:30 CEST, the first of the two 02:30s
    assert wait(utc(2026, 10, 25, 1, 30)) == 4.5 * 3600  # 02:30 CET, the second
    assert wait(utc(2026, 10, 25, 5, 59)) == 60
    assert wait(utc(2026, 10, 25, 6, 0)) == 0


def test_new_york_dst_change_nights():
    relay = {**GRANT, "timezone": "America/New_York"}
    # 2026-03-08 02:00 EST becomes 03:00 EDT: 23:00 EST (04:00 UTC) to 07:00 EDT (11:00 UTC) is 7 hours.
    assert wait(utc(2026, 3, 8, 4, 0), grant=relay) == 7 * 3600
    # 2026-11-01 02:00 EDT becomes 01:00 EST: 23:00 EDT (03:00 UTC) to 07:00 EST (12:00 UTC) is 9 hours.
    assert wait(utc(2026, 11, 1, 3, 0), grant=relay) == 9 * 3600
    assert wait(utc(2026, 11, 1, 12, 0), grant=relay) == 0


def test_an_end_skipped_by_the_clock_change_ends_on_the_later_side():
    # 02:30 does not exist in Paris on 2026-03-29: the quiet hours never end before the clock has passed it.
    short_night = parse_event_config({**EVENT, "quiet_hours": "23:00-02:30"})
    seconds = wait(utc(2026, 3, 28, 22, 30), short_night)  # 23:30 CET
    assert seconds == 3 * 3600  # until 01:30 UTC, 03:30 CEST
    assert wait(utc(2026, 3, 29, 1, 10), short_night) == 0  # 03:10 CEST is outside the window itself


def test_the_deferral_adds_the_relay_posts_own_jitter():
    spread = parse_event_config({**EVENT, "publish_jitter_seconds": 600})
    night = utc(2026, 12, 1, 23, 0)
    waits = {quiet_deferral({**GRANT, "relay_id": f"x-{i}"}, spread, night, "1000") for i in range(50)}
    base = wait(night, spread)
    assert all(base <= w <= base + 600 for w in waits) and len(waits) > 30  # not one burst at 07:00
    assert quiet_deferral(GRANT, spread, utc(2026, 12, 1, 9, 0), "1000") == 0  # no jitter when not quiet


def test_the_choices_offered_hold_the_events_and_the_relays_zones():
    choices = zone_choices("Asia/Kathmandu", "Europe/Paris")
    assert "Asia/Kathmandu" in choices and "Europe/Paris" in choices and "America/New_York" in choices
    assert choices == sorted(set(choices)) and "" not in zone_choices("")
