"""Recent search in the sandbox, read through tweepy (routed to the sandbox) and plain requests."""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
import requests
import tweepy

from relaycast import clock
from relaycast_local.feed import Post, snowflake_id
from relaycast_local.sandbox_x import SandboxX, route_tweepy_to

HASHTAG = "#RelayConf26"  # conftest.HASHTAG
PARIS = ZoneInfo("Europe/Paris")
FIELDS = ["created_at", "author_id", "public_metrics", "lang", "conversation_id", "referenced_tweets"]


def visible(feed: list[Post], *, since: datetime | None = None, retweets: bool = False) -> list[Post]:
    """The truth: posts recent search must return now, newest first."""
    now = clock.now()
    keep = [p for p in feed if now - timedelta(days=7) <= p.created_at <= now
            and (since is None or p.created_at > since) and (retweets or not p.is_retweet)
            and HASHTAG[1:].lower() in (t.lower() for t in p.hashtags)]
    return sorted(keep, key=lambda p: int(p.id), reverse=True)


@pytest.fixture
def app_client(sandbox: SandboxX) -> tweepy.Client:
    return route_tweepy_to(tweepy.Client(bearer_token=sandbox.bearer_token), sandbox.base_url)


def search(x: SandboxX, token: str | None = None, **params: str) -> requests.Response:
    return requests.get(f"{x.base_url}/2/tweets/search/recent", params=params, timeout=5,
                        headers={"Authorization": f"Bearer {token or x.bearer_token}"})


def test_pagination_then_since_id_with_tweepy(sandbox: SandboxX, app_client: tweepy.Client, feed,
                                               fake_clock) -> None:
    query = f"{HASHTAG} -is:retweet"
    truth = visible(feed)
    assert len(truth) > 150  # a day and a half of the event at 11:00 on day 2

    pages = list(tweepy.Paginator(app_client.search_recent_tweets, query, max_results=100, tweet_fields=FIELDS,
                                  expansions=["author_id"], user_fields=["username", "name"]))
    assert [len(p.data) for p in pages[:-1]] == [100] * (len(pages) - 1)
    assert [str(t.id) for page in pages for t in page.data] == [p.id for p in truth]
    assert pages[0].meta["newest_id"] == truth[0].id and "next_token" in pages[0].meta
    assert "next_token" not in pages[-1].meta
    assert pages[-1].meta["oldest_id"] == truth[-1].id

    by_id = {p.id: p for p in feed}
    for page in pages:
        users = {u.id: u for u in page.includes["users"]}
        for tweet in page.data:
            post = by_id[str(tweet.id)]
            assert tweet.text == post.text and tweet.lang == post.lang
            assert tweet.created_at == post.created_at and tweet.author_id == int(post.author_id)
            assert tweet.public_metrics["like_count"] == post.metrics.like_count
            assert users[tweet.author_id].username == post.username
            assert tweet.edit_history_tweet_ids == [tweet.id]
    read_first = sandbox.search_reads
    assert read_first == len(truth) == sandbox.unique_posts_read

    # The next poll, 45 minutes later, asks only for what is new.
    newest = pages[0].meta["newest_id"]
    first_poll_at = clock.now()
    fake_clock.advance(minutes=45)
    fresh = app_client.search_recent_tweets(query, since_id=newest, max_results=100)
    expected = visible(feed, since=first_poll_at)
    assert 0 < len(expected) < 100
    assert [str(t.id) for t in fresh.data] == [p.id for p in expected]
    assert fresh.meta == {"newest_id": expected[0].id, "oldest_id": expected[-1].id,
                          "result_count": len(expected)}
    assert sandbox.search_reads == read_first + len(expected) == sandbox.unique_posts_read
    # Nothing new: an empty page with only a result count (no newest_id).
    again = app_client.search_recent_tweets(query, since_id=fresh.meta["newest_id"])
    assert again.data is None and again.meta == {"result_count": 0}
    assert [r.result_count for r in sandbox.search_log][-2:] == [len(expected), 0]


def test_default_page_size_and_repeated_reads_are_billed(sandbox: SandboxX) -> None:
    first = search(sandbox, query=HASHTAG)
    assert first.status_code == 200 and first.json()["meta"]["result_count"] == 10
    assert len(first.json()["data"]) == 10
    search(sandbox, query=HASHTAG)
    assert sandbox.search_reads == 20 and sandbox.unique_posts_read == 10


def test_hashtag_matching_is_whole_tag_and_case_insensitive(sandbox: SandboxX, fake_clock) -> None:
    now = clock.now()
    extra = [("#RelayConf2026 other event", "nope1"), ("#RelayConf26x also other", "nope2"),
             ("lower case #relayconf26 counts", "yes1"), ("mid-word a#RelayConf26 is not a tag", "nope3"),
             ("#OtherTag only", "other")]
    sandbox.add_posts(Post(id=snowflake_id(now - timedelta(seconds=5), i, worker=3), text=text,
                           author_id="42", username="tester", created_at=now - timedelta(seconds=5))
                      for i, (text, _label) in enumerate(extra))
    ids = [p["id"] for p in search(sandbox, query=HASHTAG, max_results="100").json()["data"]]
    texts = {p.id: p.text for p in sandbox.posts.values()}
    found = {texts[i] for i in ids}
    assert "lower case #relayconf26 counts" in found
    assert not found & {t for t, label in extra if label.startswith("nope")}

    either = search(sandbox, query=f"({HASHTAG} OR #OtherTag) -is:retweet", max_results="100").json()
    assert "#OtherTag only" in {texts[p["id"]] for p in either["data"]}


def test_query_operators(sandbox: SandboxX, feed) -> None:
    def ids(query: str) -> list[str]:
        response = search(sandbox, query=query, max_results="100")
        assert response.status_code == 200, response.text
        return [p["id"] for p in response.json().get("data", [])]

    retweets = {p.id for p in visible(feed, retweets=True) if p.is_retweet}
    assert 0 < len(retweets) < 100
    assert set(ids(f"{HASHTAG} is:retweet")) == retweets
    assert not set(ids(f"{HASHTAG} -is:retweet")) & retweets
    french = {p.id for p in feed if p.lang == "fr"}
    assert set(ids(f"{HASHTAG} lang:fr")) <= french and ids(f"{HASHTAG} lang:fr")
    replies = set(ids(f"{HASHTAG} is:reply"))
    assert replies and all(p.is_reply for p in feed if p.id in replies)
    originals = ids(f"{HASHTAG} -is:retweet -is:reply")
    assert len(originals) == 100 and not set(originals) & (replies | retweets)
    expert = "ada_ops"
    assert all(sandbox.posts[i].username == expert for i in ids(f"from:{expert} {HASHTAG}"))
    assert ids('"wifi password"') and all("wifi password" in sandbox.posts[i].text.lower()
                                          for i in ids('"wifi password"'))


@pytest.mark.parametrize("query", ["-is:retweet", f"({HASHTAG}", f"{HASHTAG} OR", "foo:bar", '"open', "#"])
def test_invalid_queries_are_400(sandbox: SandboxX, query: str) -> None:
    response = search(sandbox, query=query)
    assert response.status_code == 400
    body = response.json()
    assert body["title"] == "Invalid Request" and body["errors"][0]["parameters"] == {"query": [query]}


@pytest.mark.parametrize("value", ["5", "9", "101", "ten", "-10"])
def test_max_results_out_of_range_is_400(sandbox: SandboxX, app_client: tweepy.Client, value: str) -> None:
    response = search(sandbox, query=HASHTAG, max_results=value)
    assert response.status_code == 400
    assert response.json() == {
        "errors": [{"parameters": {"max_results": [value]},
                    "message": f"The `max_results` query parameter value [{value}] is not between 10 and 100"}],
        "title": "Invalid Request",
        "detail": "One or more parameters to your request was invalid.",
        "type": "https://api.x.com/2/problems/invalid-request",
        "status": 400,
    }
    with pytest.raises(tweepy.BadRequest):
        app_client.search_recent_tweets(HASHTAG, max_results=int(value) if value.lstrip("-").isdigit() else 0)


def test_seven_day_window_and_future_posts(sandbox: SandboxX, feed, fake_clock) -> None:
    day1, day2 = sorted({p.created_at.astimezone(PARIS).date() for p in feed})
    now_before = clock.now()
    assert all(p.created_at <= now_before for p in visible(feed))
    future = [p for p in feed if p.created_at > now_before]
    assert future  # the afternoon of day 2 has not happened yet
    seen = {p["id"] for p in search(sandbox, query=HASHTAG, max_results="100").json()["data"]}
    assert not seen & {p.id for p in future}

    # Eight days after day 1 (six after day 2): day 1 left the window, day 2 is still there.
    fake_clock.set(datetime.combine(day1, datetime.min.time(), PARIS) + timedelta(days=8, hours=12))
    all_ids = []
    token = None
    while True:
        params = {"query": HASHTAG, "max_results": "100"} | ({"next_token": token} if token else {})
        body = search(sandbox, **params).json()
        all_ids += [p["id"] for p in body["data"]]
        token = body["meta"].get("next_token")
        if not token:
            break
    dates = {sandbox.posts[i].created_at.astimezone(PARIS).date() for i in all_ids}
    assert dates == {day2}
    old = next(p for p in feed if p.created_at.astimezone(PARIS).date() == day1)
    too_old = search(sandbox, query=HASHTAG, since_id=old.id)
    assert too_old.status_code == 400 and "since_id" in too_old.json()["errors"][0]["parameters"]


def test_fields_entities_and_referenced_tweets(sandbox: SandboxX, feed) -> None:
    repost = next(p for p in visible(feed, retweets=True) if p.is_retweet)
    params = {"tweet.fields": "entities,referenced_tweets,author_id", "expansions": "referenced_tweets.id"}
    body = search(sandbox, query=f"from:{repost.username} is:retweet", max_results="10", **params).json()
    item = next(d for d in body["data"] if d["id"] == repost.id)
    assert item["referenced_tweets"] == [{"type": "retweeted", "id": repost.retweet_of}]
    assert any(t["id"] == repost.retweet_of for t in body["includes"]["tweets"])
    for tag in item["entities"]["hashtags"]:
        assert repost.text[tag["start"]:tag["end"]] == "#" + tag["tag"]

    reply = next(p for p in visible(feed) if p.is_reply)
    body = search(sandbox, query=f"from:{reply.username} is:reply", max_results="100",
                  **{"tweet.fields": "conversation_id,in_reply_to_user_id,referenced_tweets"}).json()
    item = next(d for d in body["data"] if d["id"] == reply.id)
    assert item["in_reply_to_user_id"] == reply.in_reply_to_user_id
    assert item["conversation_id"] == reply.conversation_id
    assert {"type": "replied_to", "id": reply.in_reply_to_id} in item["referenced_tweets"]

    for name, value in (("tweet.fields", "created_at,bogus"), ("expansions", "author"), ("user.fields", "age")):
        bad = search(sandbox, query=HASHTAG, **{name: value})
        assert bad.status_code == 400 and name in bad.json()["errors"][0]["parameters"]
    assert search(sandbox, query=HASHTAG, next_token="!!!").status_code == 400
    both = search(sandbox, query=HASHTAG, since_id=feed[-1].id, start_time="2026-06-10T07:00:00Z")
    assert both.status_code == 400


def test_user_tokens_can_search_with_the_right_scopes(sandbox: SandboxX, connect) -> None:
    reader = connect("reader", scope="tweet.read users.read")
    assert search(sandbox, token=reader.token["access_token"], query=HASHTAG).status_code == 200
    [record] = [r for r in sandbox.search_log if r.actor != "app"]
    assert record.actor == reader.user_id
    narrow = connect("narrow", scope="users.read")
    response = search(sandbox, token=narrow.token["access_token"], query=HASHTAG)
    assert response.status_code == 403
    assert search(sandbox, token="made-up", query=HASHTAG).status_code == 401


def test_search_rate_limit_and_injected_faults(make_sandbox, fake_clock) -> None:
    x = make_sandbox(search_limit=(2, timedelta(minutes=15)))
    client = route_tweepy_to(tweepy.Client(bearer_token=x.bearer_token), x.base_url)
    assert search(x, query=HASHTAG).headers["x-rate-limit-remaining"] == "1"
    client.search_recent_tweets(HASHTAG)
    with pytest.raises(tweepy.TooManyRequests) as limited:
        client.search_recent_tweets(HASHTAG)
    assert limited.value.reset_time == int((clock.now() + timedelta(minutes=15)).timestamp())
    fake_clock.advance(minutes=15)
    client.search_recent_tweets(HASHTAG)

    x.fail_next("GET", "/2/tweets/search", status=503)
    with pytest.raises(tweepy.TwitterServerError):
        client.search_recent_tweets(HASHTAG)
    client.search_recent_tweets(HASHTAG)  # the fault was one-shot
