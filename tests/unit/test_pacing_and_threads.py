"""A relay's cap lasts to the end of the event; an author's own thread is not a reply fragment."""

from datetime import timedelta

from relaycast.config import parse_event_config
from relaycast.networks.x import XNetwork
from relaycast.fanout import paced_cap

EVENT = {"name": "T", "slug": "pacing-test", "hashtags": ["#T"], "timezone": "UTC", "start": "2026-12-01T09:00",
         "end": "2026-12-03T09:00", "notice_sender": "r@example.org"}


def test_a_relay_who_approves_everything_keeps_reposts_for_the_last_day():
    config = parse_event_config(EVENT)
    at = lambda fraction: config.start_utc + (config.end_utc - config.start_utc) * fraction  # noqa: E731
    assert paced_cap(8, config, config.start_utc - timedelta(hours=1)) == 1
    assert paced_cap(8, config, at(0.25)) == 3  # a quarter of the event: 2 on the line, 1 ahead
    assert paced_cap(8, config, at(0.5)) == 5
    assert paced_cap(8, config, at(0.9)) == 8 and paced_cap(8, config, at(1.0)) == 8
    assert [paced_cap(8, config, at(i / 10)) for i in range(11)] == sorted(paced_cap(8, config, at(i / 10)) for i in range(11))
    assert paced_cap(2, config, at(0.99)) == 2  # never above the relay's own (possibly lowered) cap


def _tweet(**fields):
    return {"id": "1", "text": "t", "author_id": "7", "created_at": "2026-12-01T10:00:00Z", **fields}


def test_an_authors_own_thread_is_not_a_reply_but_a_conversation_is():
    users = {"7": {"id": "7", "username": "amina"}}
    thread = _tweet(in_reply_to_user_id="7", referenced_tweets=[{"type": "replied_to", "id": "0"}])
    answer = _tweet(in_reply_to_user_id="8", referenced_tweets=[{"type": "replied_to", "id": "0"}])
    unknown = _tweet(referenced_tweets=[{"type": "replied_to", "id": "0"}])
    assert not XNetwork._post(thread, users).is_reply
    assert XNetwork._post(answer, users).is_reply and XNetwork._post(unknown, users).is_reply
    assert not XNetwork._post(_tweet(), users).is_reply
