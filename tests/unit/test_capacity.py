"""Capacity planning: what the platforms' limits allow over an event, against N relays at the cap."""

import pytest
import yaml
from event_support import GOOD

from relaycast.capacity import plan, windows
from relaycast.config import parse_event_config
from relaycast.policy import Limit, policy
from relaycast_local.cli import main

DAY = Limit(10_000, 86_400)
QUARTER = Limit(50, 900)
# 08:00 UTC on 1 December to 19:00 UTC on 2 December (end 17:00 UTC + 2 h grace): two of X's daily windows.
EVENT = {**GOOD, "networks": ["x", "mastodon"], "mastodon_source": "mastodon.social", "cap_per_relay": 8, "grace_hours": 2}


@pytest.mark.parametrize("limit, start, end, expected", [
    (DAY, 0, 86_400, 1),  # exactly one window
    (DAY, 0, 86_401, 2),  # one second into the next
    (DAY, 86_399, 86_401, 2),  # two seconds across midnight
    (QUARTER, 10, 20, 1),
    (QUARTER, 0, 3_600, 4),
])
def test_windows_are_the_fixed_windows_the_span_touches(limit, start, end, expected):
    assert windows(limit, start, end) == expected


def test_x_is_bounded_by_the_apps_daily_cap_and_mastodon_by_none():
    x, mastodon = plan(parse_event_config(EVENT), 2_500)
    assert (x.network, x.asked, x.allowed, x.exceeded) == ("x", 20_000, 2 * policy("x").per_app.calls, False)
    assert (mastodon.network, mastodon.asked, mastodon.allowed, mastodon.exceeded) == ("mastodon", 20_000, None, False)
    (x, _) = plan(parse_event_config(EVENT), 2_501)
    assert x.asked == 20_008 and x.exceeded


def test_share_link_asks_nothing_of_the_platform():
    (x, _) = plan(parse_event_config({**EVENT, "modes": {"x": "share-link"}}), 100_000)
    assert (x.mode, x.asked, x.allowed, x.exceeded) == ("share-link", 0, None, False)


def test_a_negative_count_is_refused():
    with pytest.raises(ValueError, match="negative"):
        plan(parse_event_config(EVENT), -1)


def test_check_reports_each_network_and_warns_only_past_the_limit(tmp_path, capsys):
    event = tmp_path / "event.yaml"
    event.write_text(yaml.safe_dump(EVENT))
    assert main(["check", str(event), "--expected-relays", "2500"]) == 0
    out = capsys.readouterr()
    assert "x (approve-each): 20,000 relay-posts asked, 20,000 allowed" in out.out
    assert "mastodon (approve-each): 20,000 relay-posts asked, no app-wide limit" in out.out
    assert "warning" not in out.err
    assert main(["check", str(event), "--expected-relays", "3000"]) == 0
    out = capsys.readouterr()
    assert "24,000 relay-posts asked, 20,000 allowed" in out.out
    assert "warning: on x, 3,000 relays × cap 8" in out.err and "about 2,500 relays get their whole cap" in out.err
    assert "mastodon" not in out.err


def test_check_without_the_option_reports_no_capacity(tmp_path, capsys):
    event = tmp_path / "event.yaml"
    event.write_text(yaml.safe_dump(EVENT))
    assert main(["check", str(event)]) == 0
    assert "capacity" not in capsys.readouterr().out


@pytest.mark.parametrize("bad", ["-3", "many", "2.5"])
def test_a_count_that_is_not_a_whole_number_is_refused(tmp_path, capsys, bad):
    event = tmp_path / "event.yaml"
    event.write_text(yaml.safe_dump(EVENT))
    with pytest.raises(SystemExit) as exited:
        main(["check", str(event), "--expected-relays", bad])
    assert exited.value.code == 2 and f"'{bad}' is not a whole number of relays" in capsys.readouterr().err
