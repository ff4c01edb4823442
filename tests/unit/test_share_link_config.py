"""Share-link mode in the event file, and the network pages its links lead to."""

import pytest
from event_support import GOOD as MINIMAL

from relaycast.config import EventConfigError, parse_event_config
from relaycast.errors import NotFound
from relaycast.share_link import intent_url

GOOD = {**MINIMAL, "networks": ["x", "mastodon"], "mastodon_source": "mastodon.social"}


def test_share_link_is_accepted_on_x_and_on_mastodon():
    config = parse_event_config({**GOOD, "modes": {"x": "share-link", "mastodon": "share-link"}})
    assert (config.mode("x"), config.mode("mastodon")) == ("share-link", "share-link")
    mixed = parse_event_config({**GOOD, "modes": {"x": "share-link", "mastodon": "auto"}})
    assert (mixed.mode("x"), mixed.mode("mastodon")) == ("share-link", "auto")


def test_auto_on_x_is_still_refused_with_the_reason():
    with pytest.raises(EventConfigError) as caught:
        parse_event_config({**GOOD, "modes": {"x": "auto"}})
    (problem,) = [p for p in caught.value.problems if p.field == "modes.x"]
    assert "X's rules forbid automated reposting" in problem.problem


def test_a_mode_nobody_knows_is_refused():
    with pytest.raises(EventConfigError) as caught:
        parse_event_config({**GOOD, "modes": {"x": "share"}})
    assert any(p.field.startswith("modes") for p in caught.value.problems)


def test_x_links_to_its_repost_intent_for_the_original_post():
    grant = {"network": "x", "relay_id": "x-link-1"}
    proposal = {"network": "x", "post_id": "1890123456789", "url": "https://x.com/amina_data/status/1890123456789"}
    assert intent_url(grant, proposal) == "https://x.com/intent/retweet?tweet_id=1890123456789"


def test_mastodon_opens_the_status_on_the_relays_own_instance():
    grant = {"network": "mastodon", "instance": "fosstodon.org"}
    proposal = {"network": "mastodon", "post_id": "113", "url": "https://mastodon.social/@amina/113?x=1&y=2"}
    assert intent_url(grant, proposal) == (
        "https://fosstodon.org/authorize_interaction?uri=https%3A%2F%2Fmastodon.social%2F%40amina%2F113%3Fx%3D1%26y%3D2"
    )


@pytest.mark.parametrize("url", ["javascript:alert(1)", "http://mastodon.social/@a/1", ""])
def test_a_status_address_that_is_not_https_is_never_linked(url):
    with pytest.raises(NotFound):
        intent_url({"network": "mastodon", "instance": "fosstodon.org"}, {"post_id": "1", "url": url})


def test_a_bluesky_link_opens_the_post_and_a_linkedin_one_the_post_or_the_share_dialog():
    bsky = "https://bsky.app/profile/amina.bsky.social/post/3lbsizxfxa22r"
    assert intent_url({"network": "bluesky"}, {"post_id": "1", "url": bsky}) == bsky  # Bluesky has no repost intent
    listed = "https://www.linkedin.com/feed/update/urn:li:share:7012345678901234567/"
    assert intent_url({"network": "linkedin"}, {"post_id": "2", "url": listed}) == listed
    assert intent_url({"network": "linkedin"}, {"post_id": "3", "url": "https://x.com/amina_data/status/1001"}) == (
        "https://www.linkedin.com/sharing/share-offsite/?url=https%3A%2F%2Fx.com%2Famina_data%2Fstatus%2F1001")
    with pytest.raises(NotFound):
        intent_url({"network": "linkedin"}, {"post_id": "4", "url": "javascript:alert(1)"})
