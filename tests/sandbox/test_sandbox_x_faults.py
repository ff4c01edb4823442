"""The sandbox's fault injector (`fail_next`) on the repost route, and relaycast's X client under those faults:
the repost that may or may not have happened, and `has_reposted`, the check that settles it."""

from __future__ import annotations

import random
from datetime import timedelta

import pytest
import requests
import tweepy

from relaycast import clock
from relaycast.networks import NetworkError, RateLimited, TokenRejected, Transient
from relaycast.networks import x as x_module
from relaycast.networks.x import XNetwork
from relaycast_local.feed import Post
from relaycast_local.sandbox_x import SandboxX, route_tweepy_to


def network(x: SandboxX) -> XNetwork:
    return XNetwork(client_id=x.client_id, client_secret=x.client_secret, bearer_token=x.bearer_token,
                    api_base=x.base_url, authorize_url=x.authorize_url)


def past_post(feed: list[Post], n: int = 0) -> Post:
    return [p for p in feed if p.kind == "insight" and p.created_at <= clock.now()][n]


def repost(x: SandboxX, relay, post: Post) -> requests.Response:
    return requests.post(f"{x.base_url}/2/users/{relay.user_id}/retweets", json={"tweet_id": post.id},
                         headers={"Authorization": f"Bearer {relay.token['access_token']}"}, timeout=5)


def statuses(x: SandboxX) -> list[int]:
    return [r.status for r in x.request_log if r.method == "POST" and r.path.endswith("/retweets")]


def test_error_before_acting(sandbox: SandboxX, connect, feed) -> None:
    relay, post = connect("before"), past_post(feed)
    sandbox.fail_next("POST", f"/2/users/{relay.user_id}/retweets", status=502, times=2)
    for _ in range(2):
        failed = repost(sandbox, relay, post)
        assert failed.status_code == 502 and failed.json()["title"] == "Bad Gateway"
    assert sandbox.retweets == set() and sandbox.repost_log == []
    assert repost(sandbox, relay, post).status_code == 200
    assert statuses(sandbox) == [502, 502, 200] and sandbox.calls["retweet"] == 3


def test_error_after_acting(sandbox: SandboxX, connect, feed) -> None:
    relay, post = connect("after"), past_post(feed)
    sandbox.fail_next("POST", "/2/users/", status=504, after=True)
    failed = repost(sandbox, relay, post)
    assert failed.status_code == 504 and "x-rate-limit-remaining" not in failed.headers  # the route's answer is lost
    assert sandbox.retweets == {(relay.user_id, post.id)}  # but the repost happened
    [record] = sandbox.repost_log
    assert not record.duplicate and sandbox.posts[record.retweet_id].retweet_of == post.id
    assert repost(sandbox, relay, post).status_code == 200
    assert [r.duplicate for r in sandbox.repost_log] == [False, True] and statuses(sandbox) == [504, 200]


@pytest.mark.parametrize("after", [False, True])
def test_dropped_connection(sandbox: SandboxX, connect, feed, after: bool) -> None:
    relay, post = connect("dropped"), past_post(feed)
    sandbox.fail_next("POST", "/2/users/", drop=True, after=after)
    with pytest.raises(requests.ConnectionError):
        repost(sandbox, relay, post)
    assert sandbox.retweets == ({(relay.user_id, post.id)} if after else set())
    assert statuses(sandbox) == [0]
    assert repost(sandbox, relay, post).status_code == 200  # the server keeps serving


def test_rate_limited(sandbox: SandboxX, connect, feed) -> None:
    relay, post = connect("limited"), past_post(feed)
    reset = int((clock.now() + timedelta(minutes=3)).timestamp())
    sandbox.fail_next("POST", "/2/users/", status=429, reset_at=reset)
    sandbox.fail_next("POST", "/2/users/", status=429)
    client = route_tweepy_to(tweepy.Client(bearer_token=relay.token["access_token"]), sandbox.base_url)
    for expected in (reset, int((clock.now() + timedelta(minutes=15)).timestamp())):
        with pytest.raises(tweepy.TooManyRequests) as limited:
            client.request("POST", f"/2/users/{relay.user_id}/retweets", json={"tweet_id": post.id})
        assert limited.value.reset_time == expected
        assert limited.value.response.headers["x-rate-limit-remaining"] == "0"
    assert sandbox.retweets == set()


def test_faults_match_method_and_path_and_can_be_cleared(sandbox: SandboxX, connect, feed) -> None:
    relay, post = connect("matcher"), past_post(feed)
    sandbox.fail_next("DELETE", "/2/users/", status=500)
    sandbox.fail_next("POST", "/2/oauth2/", status=503)
    assert repost(sandbox, relay, post).status_code == 200  # neither fault matches
    sandbox.fail_next("POST", "/2/users/", status=500, times=5)
    sandbox.clear_faults()
    assert repost(sandbox, relay, post).status_code == 200
    unrepost = requests.delete(f"{sandbox.base_url}/2/users/{relay.user_id}/retweets/{post.id}", timeout=5,
                               headers={"Authorization": f"Bearer {relay.token['access_token']}"})
    assert unrepost.status_code == 200  # the DELETE fault was cleared too
    assert sandbox.retweets == set()


# --- relaycast's client under these faults ----------------------------------------------------------


def test_client_errors_are_typed_and_has_reposted_settles_them(sandbox: SandboxX, connect, feed) -> None:
    relay, post = connect("settler"), past_post(feed)
    token, x = relay.token["access_token"], network(sandbox)
    assert x.has_reposted(token, relay.user_id, post.id) is False
    sandbox.fail_next("POST", "/2/users/", status=503)
    with pytest.raises(Transient):
        x.repost(token, relay.user_id, post.id)
    assert x.has_reposted(token, relay.user_id, post.id) is False  # failed before acting: publish again
    for fault in ({"status": 503, "after": True}, {"drop": True, "after": True}):
        sandbox.fail_next("POST", "/2/users/", **fault)
        with pytest.raises(Transient):
            x.repost(token, relay.user_id, post.id)
        assert x.has_reposted(token, relay.user_id, post.id) is True  # acted: do not publish again
        x.undo_repost(token, relay.user_id, post.id)
        assert x.has_reposted(token, relay.user_id, post.id) is False
    reset = int((clock.now() + timedelta(minutes=7)).timestamp())
    sandbox.fail_next("POST", "/2/users/", status=429, reset_at=reset)
    with pytest.raises(RateLimited) as limited:
        x.repost(token, relay.user_id, post.id)
    assert limited.value.reset_at == reset

    # has_reposted's own failures: the answer stays unknown, never False.
    sandbox.fail_next("GET", f"/2/tweets/{post.id}/retweeted_by", status=500)
    with pytest.raises(Transient):
        x.has_reposted(token, relay.user_id, post.id)
    sandbox.fail_next("GET", "/2/tweets/", drop=True)
    with pytest.raises(Transient):
        x.has_reposted(token, relay.user_id, post.id)
    sandbox.fail_next("GET", "/2/tweets/", status=429, reset_at=reset)
    with pytest.raises(RateLimited) as limited:
        x.has_reposted(token, relay.user_id, post.id)
    assert limited.value.reset_at == reset
    with pytest.raises(TokenRejected):
        x.has_reposted("not-a-token", relay.user_id, post.id)
    with pytest.raises(NetworkError) as refused:
        x.has_reposted(token, relay.user_id, "not-an-id")
    assert not isinstance(refused.value, Transient)
    assert x.has_reposted(token, relay.user_id, "1234567890123456789") is False  # no such post: nothing reposted
    assert sandbox.calls["retweeted_by"] == 12


def test_has_reposted_pages_and_gives_up_unknown(sandbox: SandboxX, connect, feed,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    post = past_post(feed)
    relays = [connect(f"crowd{i:03d}") for i in range(130)]
    for relay in relays:
        assert repost(sandbox, relay, post).status_code == 200
    x, first = network(sandbox), relays[0]  # the oldest repost: on the second page
    before = sandbox.calls["retweeted_by"]
    assert x.has_reposted(first.token["access_token"], first.user_id, post.id) is True
    assert x.has_reposted(first.token["access_token"], "42", post.id) is False
    assert sandbox.calls["retweeted_by"] - before == 4
    monkeypatch.setattr(x_module, "REPOSTERS_MAX_PAGES", 1)
    assert x.has_reposted(first.token["access_token"], relays[-1].user_id, post.id) is True
    with pytest.raises(Transient, match="could not be confirmed or ruled out"):
        x.has_reposted(first.token["access_token"], first.user_id, post.id)


@pytest.mark.parametrize("seed", range(8))
def test_checked_retries_publish_exactly_once(make_sandbox, connect, feed, seed: int) -> None:
    """Random faults on the repost route, and a publisher that checks before every retry: the post ends
    reposted once, and never reposted again after the platform acted."""
    rng = random.Random(seed)
    x = make_sandbox(repost_limit=None)
    relay, post = connect(f"prop{seed}", x=x), past_post(feed, seed % 3)
    token, client = relay.token["access_token"], network(x)
    faults = [{}, {"status": 503}, {"status": 503, "after": True}, {"drop": True}, {"drop": True, "after": True},
              {"status": 429}]
    for fault in rng.choices(faults, k=rng.randint(1, 6)):
        if fault:
            x.fail_next("POST", "/2/users/", **fault)
    attempts = 0
    while True:
        if attempts and client.has_reposted(token, relay.user_id, post.id):
            break
        attempts += 1
        try:
            client.repost(token, relay.user_id, post.id)
            break
        except Transient:
            continue
    assert x.retweets == {(relay.user_id, post.id)}
    assert not any(r.duplicate for r in x.repost_log), "a repost was sent again after X had acted"
