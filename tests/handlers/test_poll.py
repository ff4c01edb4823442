"""poll against the sandbox X: since_id and pagination, every post stored once and never read twice."""

from datetime import timedelta

import pytest
from handler_support import load_function

from relaycast_local.feed import generate_conference_feed
from relaycast_local.sandbox_x import SandboxX


@pytest.fixture
def x_feed(stack_env, frozen_clock, monkeypatch):
    from relaycast.settings import Settings

    config = Settings.from_env().event()
    feed = generate_conference_feed(config.start, config.end, "#HTS26", experts=["amina_data"])
    with SandboxX(client_id="cid", client_secret="csecret", bearer_token="bearer") as sandbox:
        sandbox.add_posts(feed)
        monkeypatch.setenv("X_API_BASE", sandbox.base_url)
        yield sandbox, config, feed


def test_polls_read_each_post_once_across_pages_and_rounds(x_feed, store, frozen_clock, lambda_context):
    sandbox, config, feed = x_feed
    poll = load_function("poll")
    frozen_clock.at = config.start_utc + timedelta(hours=10)  # a whole first day: several pages
    first = poll.handler({}, lambda_context)
    originals = [p for p in feed if p.retweet_of is None and p.created_at <= frozen_clock.at]
    assert first["read"] == first["stored"] == len(originals) > 100
    frozen_clock.advance(minutes=5)
    assert poll.handler({}, lambda_context)["read"] == 0  # nothing new: nothing read again
    frozen_clock.at = config.end_utc
    second = poll.handler({}, lambda_context)
    assert second["read"] == second["stored"] > 0
    assert sandbox.search_reads == sandbox.unique_posts_read == len(store.candidates())
    assert store.cursor("x") == max((p.id for p in feed if p.retweet_of is None), key=int)
