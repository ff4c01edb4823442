import subprocess
import sys
from pathlib import Path

import pytest
from event_support import GOOD

from relaycast.config import EventConfigError, load_event_config, parse_event_config

ROOT = Path(__file__).resolve().parents[2]


def problems(**changes):
    data = {**GOOD, **changes}
    with pytest.raises(EventConfigError) as caught:
        parse_event_config(data)
    return {p.field: p for p in caught.value.problems}


def test_example_event_is_valid_and_local_times_are_zoned():
    config = load_event_config(ROOT / "events" / "example.yaml")
    assert config.cap_per_relay == 8
    assert config.start.utcoffset().total_seconds() == 3600  # Paris in December
    assert config.access_ends > config.end_utc
    assert config.search_query == "#ODS26 -is:retweet"


def test_defaults():
    config = parse_event_config(GOOD)
    assert (config.cap_per_relay, config.networks, config.languages) == (8, ["x"], ["en"])


@pytest.mark.parametrize(
    ("changes", "field", "fix_words"),
    [
        ({"end": "2026-11-30T09:00"}, "end", "after start"),
        ({"networks": ["myspace"]}, "networks", "x"),
        ({"cap_per_relay": 0}, "cap_per_relay", "1 to 50"),
        ({"timezone": "Mars/Olympus"}, "timezone", "IANA"),
        ({"notice_sender": "nobody"}, "notice_sender", "SES"),
        ({"hashtags": ["#two words"]}, "hashtags", ""),
        ({"hashtags": []}, "hashtags", "at least one"),
        ({"start": "next tuesday"}, "start", "YYYY-MM-DD"),
        ({"colour": "blue"}, "colour", "remove"),
        ({"experts": [{"handle": "@a"}, {"handle": "A"}]}, "experts", "once"),
    ],
)
def test_each_problem_names_its_field_and_a_fix(changes, field, fix_words):
    found = problems(**changes)
    assert field in found, found
    assert fix_words in found[field].fix


def test_all_problems_are_reported_at_once():
    found = problems(cap_per_relay=0, timezone="Nowhere/Land", networks=["fax"])
    assert {"cap_per_relay", "timezone", "networks"} <= set(found)


def test_a_network_relaycast_does_not_offer_is_refused_with_the_reason():
    found = problems(networks=["x", "facebook"])
    assert "'facebook' is not offered" in found["networks"].problem and "1 August 2018" in found["networks"].problem
    assert parse_event_config({**GOOD, "networks": ["x", "linkedin"]}).mode("linkedin") == "approve-each"


def test_the_organisers_linkedin_posts_are_kept_as_urns_and_a_wrong_one_is_refused():
    url = "https://www.linkedin.com/feed/update/urn:li:share:7012345678901234567/"
    config = parse_event_config({**GOOD, "networks": ["linkedin"], "linkedin_posts": [url, "urn:li:ugcPost:42"]})
    assert config.linkedin_posts == ["urn:li:share:7012345678901234567", "urn:li:ugcPost:42"]
    found = problems(networks=["linkedin"], linkedin_posts=["https://www.linkedin.com/in/amina/"])
    assert "not a LinkedIn post's link" in found["linkedin_posts"].problem
    assert "listed twice" in problems(networks=["linkedin"], linkedin_posts=[url, url])["linkedin_posts"].problem
    found = problems(networks=["linkedin"], modes={"linkedin": "auto"})
    assert "User Agreement" in found["modes.linkedin"].problem


def test_modes_default_to_approve_each_and_mastodon_may_be_auto():
    config = parse_event_config({**GOOD, "networks": ["x", "mastodon"], "modes": {"mastodon": "auto"}, "mastodon_source": "mastodon.social"})
    assert (config.mode("x"), config.mode("mastodon")) == ("approve-each", "auto")


def test_an_event_on_mastodon_names_the_instance_it_reads_and_that_name_is_checked():
    found = problems(networks=["x", "mastodon"])
    assert "mastodon_source" in found and "mastodon.social" in found["mastodon_source"].fix
    found = problems(networks=["x", "mastodon"], mastodon_source="127.0.0.1")
    assert "mastodon_source" in found
    config = parse_event_config({**GOOD, "networks": ["x", "mastodon"], "mastodon_source": "https://Mastodon.Social/"})
    assert config.mastodon_source == "mastodon.social"


def test_an_expert_may_name_their_mastodon_account_and_it_weighs_as_their_handle():
    config = parse_event_config({**GOOD, "experts": [{"handle": "@amina_data", "weight": 2, "mastodon": "@Amina@Sciences.Social"}]})
    assert config.expert_weight("amina@sciences.social") == 2 == config.expert_weight("@amina_data")
    assert config.expert_weight("amina@elsewhere.social") == 0
    assert "experts.0.mastodon" in problems(experts=[{"handle": "a", "mastodon": "amina"}])


def test_auto_mode_on_x_is_refused_with_the_reason_and_the_alternative():
    found = problems(modes={"x": "auto"})
    assert "modes.x" in found
    assert "X's rules forbid automated reposting" in found["modes.x"].problem
    assert "approve-each" in found["modes.x"].fix


def test_a_mode_for_a_network_not_offered_is_refused():
    found = problems(modes={"mastodon": "auto"})
    assert "not in networks" in found["modes.mastodon"].problem


def test_moderation_is_off_by_default_and_checked_when_on():
    assert parse_event_config(GOOD).moderation is None
    config = parse_event_config({**GOOD, "moderation": {"moderator_email": "mod@example.org"}})
    assert (config.moderation.timeout_minutes, config.moderation.on_timeout) == (60, "skip-round")
    found = problems(moderation={"moderator_email": "nobody", "timeout_minutes": 1, "on_timeout": "maybe"})
    assert {"moderation.moderator_email", "moderation.timeout_minutes", "moderation.on_timeout"} <= set(found)


@pytest.mark.parametrize("address", ["nobody", "no body@example.org", "a@b", "@example.org"])
def test_both_addresses_are_checked_the_same_way(address):
    found = problems(notice_sender=address, moderation={"moderator_email": address})
    for field in ("notice_sender", "moderation.moderator_email"):
        assert f"'{address}' is not an e-mail address" in found[field].problem


def test_cli_check_exits_non_zero_and_names_the_field(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: X\nslug: bad-event\nhashtags: ['#a']\ntimezone: Europe/Paris\n"
                   "start: 2026-12-02T09:00\nend: 2026-12-01T09:00\nnotice_sender: a@b.org\ncap_per_relay: 0\n")
    result = subprocess.run([sys.executable, "-m", "relaycast_local.cli", "check", str(bad)], capture_output=True, text=True)
    assert result.returncode == 2
    assert "cap_per_relay" in result.stderr and "end" in result.stderr


def test_bluesky_is_approve_each_or_share_link_and_auto_is_refused_with_the_guidelines_reason():
    config = parse_event_config({**GOOD, "networks": ["x", "bluesky"]})
    assert config.mode("bluesky") == "approve-each"
    assert parse_event_config({**GOOD, "networks": ["bluesky"], "modes": {"bluesky": "share-link"}}).mode("bluesky") == "share-link"
    found = problems(networks=["x", "bluesky"], modes={"bluesky": "auto"})
    assert "Developer Guidelines" in found["modes.bluesky"].problem and "approve-each" in found["modes.bluesky"].fix


def test_an_expert_may_name_their_bluesky_handle_and_a_wrong_one_is_refused():
    config = parse_event_config({**GOOD, "experts": [{"handle": "@amina_data", "weight": 2, "bluesky": "@Amina.Bsky.Social"}]})
    assert config.expert_weight("amina.bsky.social") == 2 and config.experts[0].bluesky == "amina.bsky.social"
    for wrong in ("amina", "https://bsky.app/profile/amina", "amina@bsky.social"):
        found = problems(experts=[{"handle": "@amina_data", "bluesky": wrong}])
        assert "experts.0.bluesky" in found and "not a Bluesky handle" in found["experts.0.bluesky"].problem


@pytest.mark.parametrize("address", ["http://example.org/summary", "example.org/summary", "https://user:pw@example.org/",
                                     "javascript:alert(1)", "https:///nohost"])
def test_the_public_summary_is_an_https_address(address):
    assert parse_event_config({**GOOD, "summary_url": " https://example.org/x27/summary "}).summary_url == \
        "https://example.org/x27/summary"
    assert "is not an https address" in problems(summary_url=address)["summary_url"].problem


SESSION = {"title": "Data contracts at the producer", "speakers": ["Jane Doe @jdoe", "@amina_data", "Bob Li"],
           "start": "2026-12-01T10:00", "end": "2026-12-01T10:45", "room": "Hall A",
           "description": "Contract tests in the producer's CI catch breaking changes before the lake."}


def test_a_programme_is_read_with_local_times_speakers_and_an_abstract():
    config = parse_event_config({**GOOD, "programme": [SESSION, {"title": "Closing panel"}]})
    first, untimed = config.programme
    assert first.start.utcoffset().total_seconds() == 3600 and first.end > first.start  # Paris, like the event
    assert first.abstract.startswith("Contract tests")  # `description` is read as the abstract
    assert [(s.name, s.handle) for s in first.speaker_refs] == [("Jane Doe", "jdoe"), ("", "amina_data"), ("Bob Li", "")]
    assert untimed.start is None and untimed.speakers == []
    assert parse_event_config({**GOOD}).programme == []
    # The functions receive the config as JSON: the programme survives it.
    from relaycast.config import event_config_from_json
    assert event_config_from_json(config.to_json()).programme == config.programme


@pytest.mark.parametrize(
    ("session", "field", "problem_words", "fix_words"),
    [
        ({"start": "2026-12-01T11:00", "end": "2026-12-01T10:30"}, "programme.0.end", "ends before it starts", "after its start"),
        ({"start": "2026-12-03T10:00", "end": "2026-12-03T11:00"}, "programme.0.start", "not within the event", "within"),
        ({"start": "2026-12-02T17:30", "end": "2026-12-02T18:30"}, "programme.0.end", "not within the event", "within"),
        ({"end": None}, "programme.0", "both start and end", "both a start and an end"),
        ({"title": "T" * 121}, "programme.0.title", "at most 120", "shorten"),
        ({"title": None}, "programme.0.title", "valid string", ""),
        ({"abstract": "word " * 100}, "programme.0.abstract", "at most 400", "shorten"),
        ({"speakers": ["@one @two"]}, "programme.0.speakers.0", "not a speaker", "Jane Doe @jdoe"),
        ({"speakers": ["Dr. 42"]}, "programme.0.speakers.0", "not a speaker", "name, an @handle"),
        ({"speakers": [f"Speaker {c}" for c in "abcdefghi"]}, "programme.0.speakers", "at most 8", "fewer"),
        ({"track": "B"}, "programme.0.track", "not permitted", "remove"),
        ({"start": "at ten", "end": "2026-12-01T10:45"}, "programme.0.start", "", "YYYY-MM-DD"),
    ],
)
def test_each_problem_of_a_session_names_the_session_and_its_field(session, field, problem_words, fix_words):
    found = problems(programme=[{"title": "Opening keynote"}, {**SESSION, **session}])
    assert field.replace(".0", ".1", 1) in found, found
    problem = found[field.replace(".0", ".1", 1)]
    assert problem_words in problem.problem and fix_words in problem.fix
    title = session.get("title", SESSION["title"])
    assert problem.problem.startswith(f'session 2 ("{title[:40]}")' if title else "session 2:")


def test_a_programme_too_long_for_the_stack_is_refused_with_its_size():
    found = problems(programme=[{**SESSION, "title": f"Session {i}", "description": "word " * 79} for i in range(30)])
    assert "SSM parameter" in found["programme"].problem and "shorten the abstracts" in found["programme"].fix
    too_many = problems(programme=[{"title": f"S{i}"} for i in range(81)])
    assert "at most 80" in too_many["programme"].problem


def test_check_names_a_bad_session(tmp_path):
    path = tmp_path / "event.yaml"
    path.write_text("name: X\nslug: bad-event\nhashtags: ['#a']\ntimezone: Europe/Paris\nstart: 2026-12-01T09:00\n"
                    "end: 2026-12-02T18:00\nnotice_sender: a@b.org\nprogramme:\n  - title: Keynote\n"
                    "    start: 2026-12-01T11:00\n    end: 2026-12-01T10:00\n")
    result = subprocess.run([sys.executable, "-m", "relaycast_local.cli", "check", str(path)], capture_output=True, text=True)
    assert result.returncode != 0
    assert 'programme.0.end: session 1 ("Keynote") ends before it starts' in result.stdout + result.stderr
