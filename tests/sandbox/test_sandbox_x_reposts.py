"""Reposts through tweepy with a relay's OAuth 2.0 user token; the sandbox keeps the truth."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

import pytest
import requests
import tweepy

from relaycast import clock
from relaycast_local.feed import Post
from relaycast_local.sandbox_x import SandboxX, route_tweepy_to

HASHTAG = "#RelayConf26"  # conftest.HASHTAG


def user_client(x: SandboxX, access_token: str) -> tweepy.Client:
    """tweepy with an OAuth 2.0 user token (PKCE flow): passed as the bearer token, user_auth=False."""
    return route_tweepy_to(tweepy.Client(bearer_token=access_token), x.base_url)


def past_insight(feed: list[Post], n: int = 3) -> list[Post]:
    now = clock.now()
    return [p for p in feed if p.kind == "insight" and p.created_at <= now][:n]


def test_repost_and_undo_with_tweepy(sandbox: SandboxX, connect, feed) -> None:
    rita = connect("rita")
    client = user_client(sandbox, rita.token["access_token"])
    target = past_insight(feed)[0]
    reposts_before = sandbox.posts[target.id].metrics.retweet_count

    created = client.retweet(target.id, user_auth=False)  # tweepy first asks GET /2/users/me for the id
    assert created.data == {"id": target.id, "rest_id": target.id, "retweeted": True}
    assert sandbox.retweets == {(rita.user_id, target.id)}
    [record] = sandbox.repost_log
    assert (record.username, record.tweet_id, record.duplicate, record.at) == ("rita", target.id, False, clock.now())
    assert record["user_id"] == record.get("user_id") == rita.user_id and record.to_dict()["tweet_id"] == target.id
    assert sandbox.posts[target.id].metrics.retweet_count == reposts_before + 1

    # The repost is a post of rita's, found by search unless -is:retweet.
    repost = sandbox.posts[record.retweet_id]
    assert repost.retweet_of == target.id and repost.username == "rita"
    assert repost.text.startswith(f"RT @{target.username}: ")
    app = route_tweepy_to(tweepy.Client(bearer_token=sandbox.bearer_token), sandbox.base_url)
    assert record.retweet_id in {str(t.id) for t in app.search_recent_tweets(f"from:rita {HASHTAG}").data}
    assert app.search_recent_tweets(f"from:rita {HASHTAG} -is:retweet").data is None

    # Reposting again changes nothing but is logged as a duplicate attempt.
    again = client.retweet(target.id, user_auth=False)
    assert again.data["retweeted"] is True
    assert sandbox.retweets == {(rita.user_id, target.id)}
    assert [r.duplicate for r in sandbox.repost_log] == [False, True]
    assert sandbox.repost_log[1].retweet_id == record.retweet_id

    undone = client.unretweet(target.id, user_auth=False)
    assert undone.data == {"retweeted": False}
    assert sandbox.retweets == set() and record.retweet_id not in sandbox.posts
    assert sandbox.posts[target.id].metrics.retweet_count == reposts_before
    undone_again = client.unretweet(target.id, user_auth=False)
    assert undone_again.data == {"retweeted": False}
    assert [u.was_reposted for u in sandbox.unrepost_log] == [True, False]


def test_reposts_of_several_relays(sandbox: SandboxX, connect, feed) -> None:
    posts = past_insight(feed, 2)
    relays = [connect(name) for name in ("sam", "tess", "uma")]
    for relay in relays:
        client = user_client(sandbox, relay.token["access_token"])
        for post in posts:
            client.request("POST", f"/2/users/{relay.user_id}/retweets", json={"tweet_id": post.id})
    assert sandbox.retweets == {(r.user_id, p.id) for r in relays for p in posts}
    assert len(sandbox.repost_log) == 6 and not any(r.duplicate for r in sandbox.repost_log)


def test_repost_refusals(sandbox: SandboxX, connect, feed) -> None:
    vic, wes = connect("vic"), connect("wes")
    vic_client = user_client(sandbox, vic.token["access_token"])
    target = past_insight(feed)[0]

    with pytest.raises(tweepy.Forbidden) as other_user:  # the path id must be the token's user
        vic_client.request("POST", f"/2/users/{wes.user_id}/retweets", json={"tweet_id": target.id})
    assert other_user.value.response.json()["type"] == "https://api.x.com/2/problems/not-authorized-for-resource"

    app = route_tweepy_to(tweepy.Client(bearer_token=sandbox.bearer_token), sandbox.base_url)
    with pytest.raises(tweepy.Forbidden) as app_only:
        app.request("POST", f"/2/users/{vic.user_id}/retweets", json={"tweet_id": target.id})
    assert app_only.value.response.json()["title"] == "Unsupported Authentication"

    reader = connect("reader", scope="tweet.read users.read offline.access")
    with pytest.raises(tweepy.Forbidden):
        user_client(sandbox, reader.token["access_token"]).request(
            "POST", f"/2/users/{reader.user_id}/retweets", json={"tweet_id": target.id})

    with pytest.raises(tweepy.NotFound):
        vic_client.retweet("1234567890123456789", user_auth=False)
    future = next(p for p in feed if p.created_at > clock.now())
    with pytest.raises(tweepy.NotFound):  # not posted yet at this instant
        vic_client.retweet(future.id, user_auth=False)
    for body in ({}, {"tweet_id": 123}, {"tweet_id": "abc"}):
        with pytest.raises(tweepy.BadRequest):
            vic_client.request("POST", f"/2/users/{vic.user_id}/retweets", json=body)

    vic.session.revoke_token(sandbox.revoke_url, vic.token["refresh_token"], token_type_hint="refresh_token")
    with pytest.raises(tweepy.Unauthorized):
        vic_client.request("POST", f"/2/users/{vic.user_id}/retweets", json={"tweet_id": target.id})
    assert sandbox.retweets == set() and sandbox.repost_log == []


def test_repost_rate_limit_per_user(make_sandbox, connect, feed, fake_clock) -> None:
    x = make_sandbox(repost_limit=(2, timedelta(minutes=15)))
    relay = connect("yan", x=x)
    posts = past_insight(feed, 3)
    url = f"{x.base_url}/2/users/{relay.user_id}/retweets"
    headers = {"Authorization": f"Bearer {relay.token['access_token']}"}
    first = requests.post(url, json={"tweet_id": posts[0].id}, headers=headers, timeout=5)
    assert first.headers["x-rate-limit-limit"] == "2" and first.headers["x-rate-limit-remaining"] == "1"
    requests.post(url, json={"tweet_id": posts[1].id}, headers=headers, timeout=5)
    client = user_client(x, relay.token["access_token"])
    with pytest.raises(tweepy.TooManyRequests) as limited:
        client.request("POST", f"/2/users/{relay.user_id}/retweets", json={"tweet_id": posts[2].id})
    assert limited.value.reset_time == int((clock.now() + timedelta(minutes=15)).timestamp())
    assert len(x.retweets) == 2
    fake_clock.advance(minutes=15)
    client.request("POST", f"/2/users/{relay.user_id}/retweets", json={"tweet_id": posts[2].id})
    assert len(x.retweets) == 3


def test_injected_server_error_then_success(sandbox: SandboxX, connect, feed) -> None:
    zoe = connect("zoe")
    client = user_client(sandbox, zoe.token["access_token"])
    target = past_insight(feed)[0]
    sandbox.fail_next("POST", f"/2/users/{zoe.user_id}/retweets", status=503)
    with pytest.raises(tweepy.TwitterServerError):
        client.request("POST", f"/2/users/{zoe.user_id}/retweets", json={"tweet_id": target.id})
    assert sandbox.retweets == set()
    client.request("POST", f"/2/users/{zoe.user_id}/retweets", json={"tweet_id": target.id})
    assert sandbox.retweets == {(zoe.user_id, target.id)}
    assert [r.status for r in sandbox.request_log if r.method == "POST" and "retweets" in r.path] == [503, 200]


def test_concurrent_reposts_are_all_recorded(sandbox: SandboxX, connect, feed) -> None:
    relays = [connect(f"crowd{i}") for i in range(4)]
    posts = past_insight(feed, 5)

    def repost(job: tuple[object, Post]) -> int:
        relay, post = job
        return requests.post(f"{sandbox.base_url}/2/users/{relay.user_id}/retweets", json={"tweet_id": post.id},
                             headers={"Authorization": f"Bearer {relay.token['access_token']}"}, timeout=5).status_code

    jobs = [(r, p) for r in relays for p in posts] * 2  # each twice: the second one is a duplicate
    with ThreadPoolExecutor(max_workers=8) as pool:
        assert set(pool.map(repost, jobs)) == {200}
    assert sandbox.retweets == {(r.user_id, p.id) for r in relays for p in posts}
    log = sandbox.repost_log
    assert len(log) == 40 and sum(not r.duplicate for r in log) == 20
    repost_ids = {r.retweet_id for r in log}
    assert len(repost_ids) == 20 and repost_ids <= set(sandbox.posts)


def reposted_by(x: SandboxX, relays: list, post: Post) -> None:
    for relay in relays:
        response = requests.post(f"{x.base_url}/2/users/{relay.user_id}/retweets", json={"tweet_id": post.id},
                                 headers={"Authorization": f"Bearer {relay.token['access_token']}"}, timeout=5)
        assert response.status_code == 200, response.text


def reposters(x: SandboxX, post_id: str, token: str, **params: str) -> requests.Response:
    return requests.get(f"{x.base_url}/2/tweets/{post_id}/retweeted_by", params=params,
                        headers={"Authorization": f"Bearer {token}"}, timeout=5)


def all_reposters(x: SandboxX, post_id: str) -> list[str]:
    """Every current reposter's id, page after page."""
    ids: list[str] = []
    params: dict[str, str] = {}
    while True:
        body = reposters(x, post_id, x.bearer_token, **params).json()
        ids += [u["id"] for u in body.get("data", [])]
        if "next_token" not in body["meta"]:
            return ids
        params["pagination_token"] = body["meta"]["next_token"]


def test_retweeted_by_pages_current_reposters_newest_first(sandbox: SandboxX, connect, feed) -> None:
    target, other = past_insight(feed, 2)
    relays = [connect(f"fan{i:03d}") for i in range(105)]
    reposted_by(sandbox, relays, target)
    reposted_by(sandbox, relays[:3], other)
    newest_first = [r.user_id for r in reversed(relays)]

    first = reposters(sandbox, target.id, sandbox.bearer_token)  # max_results defaults to 100
    assert first.status_code == 200 and first.headers["x-rate-limit-limit"] == "75"
    body = first.json()
    assert [u["id"] for u in body["data"]] == newest_first[:100]
    assert set(body["data"][0]) == {"id", "name", "username"}
    assert body["meta"]["result_count"] == 100 and body["meta"]["next_token"]
    rest = reposters(sandbox, target.id, sandbox.bearer_token, pagination_token=body["meta"]["next_token"]).json()
    assert [u["id"] for u in rest["data"]] == newest_first[100:] and rest["meta"] == {"result_count": 5}

    # tweepy's paginator, with a relay's user token, smaller pages and user fields.
    client = user_client(sandbox, relays[0].token["access_token"])
    seen = [u for page in tweepy.Paginator(client.get_retweeters, target.id, max_results=40, user_auth=False,
                                           user_fields=["created_at"]) for u in page.data]
    assert [str(u.id) for u in seen] == newest_first and seen[0].created_at is not None

    # An undone repost is no longer listed; reposting again puts the relay first.
    quitter = relays[50]
    client = user_client(sandbox, quitter.token["access_token"])
    client.unretweet(target.id, user_auth=False)
    assert all_reposters(sandbox, target.id) == [i for i in newest_first if i != quitter.user_id]
    client.retweet(target.id, user_auth=False)
    assert all_reposters(sandbox, target.id) == [quitter.user_id] + [i for i in newest_first if i != quitter.user_id]
    assert all_reposters(sandbox, other.id) == [r.user_id for r in reversed(relays[:3])]
    assert sandbox.calls["retweeted_by"] == 10 and sandbox.calls["retweet"] == 109


def test_retweeted_by_unknown_post_and_refusals(sandbox: SandboxX, connect, feed) -> None:
    relay = connect("asker")
    token = relay.token["access_token"]
    for missing in ("1234567890123456789", next(p for p in feed if p.created_at > clock.now()).id):
        answer = reposters(sandbox, missing, token)
        assert answer.status_code == 200  # a lookup's missing resource is a partial error, not a 404
        assert answer.json() == {"errors": [{
            "value": missing, "detail": f"Could not find tweet with id: [{missing}].", "title": "Not Found Error",
            "resource_type": "tweet", "parameter": "id", "resource_id": missing,
            "type": "https://api.x.com/2/problems/resource-not-found"}]}
    target = past_insight(feed)[0]
    assert reposters(sandbox, target.id, token).json() == {"meta": {"result_count": 0}}
    for params in ({"max_results": "0"}, {"max_results": "101"}, {"max_results": "ten"},
                   {"pagination_token": "not a token"}, {"user.fields": "password"}):
        refused = reposters(sandbox, target.id, token, **params)
        assert refused.status_code == 400, params
        assert refused.json()["type"] == "https://api.x.com/2/problems/invalid-request"
    assert reposters(sandbox, "abc", token).status_code == 400
    assert reposters(sandbox, target.id, "not-a-token").status_code == 401


def test_retweeted_by_rate_limit(make_sandbox, connect, feed, fake_clock) -> None:
    x = make_sandbox(reposters_limit=(2, timedelta(minutes=15)))
    relay = connect("counter", x=x)
    target = past_insight(feed)[0]
    for remaining in ("1", "0"):
        assert reposters(x, target.id, relay.token["access_token"]).headers["x-rate-limit-remaining"] == remaining
    limited = reposters(x, target.id, relay.token["access_token"])
    assert limited.status_code == 429
    assert limited.headers["x-rate-limit-reset"] == str(int((clock.now() + timedelta(minutes=15)).timestamp()))
    assert reposters(x, target.id, x.bearer_token).status_code == 200  # the app has its own window
    fake_clock.advance(minutes=15)
    assert reposters(x, target.id, relay.token["access_token"]).status_code == 200
