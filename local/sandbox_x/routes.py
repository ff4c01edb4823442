"""The Flask app of the sandbox X: the OAuth server's views and the API v2 routes, with X-shaped bodies and errors.

Every view runs under the records' lock; an `XError` it raises becomes X's problem answer. Requests are
counted and logged, and queued faults played, by `sandbox_common.install_fault_injection`.
"""

from __future__ import annotations

import binascii
import json
import re
from collections.abc import Callable, Mapping
from datetime import UTC, datetime, timedelta
from functools import wraps
from typing import Any

from flask import Flask, Response, request
from werkzeug.exceptions import HTTPException

from relaycast import clock
from relaycast_local.feed import Post, hashtags_of, snowflake_time
from relaycast_local.sandbox_common import FaultQueue, RateWindows, install_fault_injection
from relaycast_local.sandbox_x.errors import PROBLEM_BASE, XError, about_blank, invalid_request, problem
from relaycast_local.sandbox_x.faults import fault_response
from relaycast_local.sandbox_x.oauth import Client, XOAuth
from relaycast_local.sandbox_x.records import ID, AppToken, SandboxUser, SearchRecord, Token, XRecords
from relaycast_local.sandbox_x.search import QueryError, compile_query, decode_cursor, encode_cursor

#: A rate limit: so many requests per window.
Limit = tuple[int, timedelta]

_TWEET_FIELDS = frozenset({
    "article", "attachments", "author_id", "card_uri", "community_id", "context_annotations",
    "conversation_id", "created_at", "display_text_range", "edit_controls", "edit_history_tweet_ids",
    "entities", "geo", "id", "in_reply_to_user_id", "lang", "media_metadata", "non_public_metrics",
    "note_tweet", "organic_metrics", "possibly_sensitive", "promoted_metrics", "public_metrics",
    "referenced_tweets", "reply_settings", "scopes", "source", "text", "withheld",
})
_USER_FIELDS = frozenset({
    "affiliation", "connection_status", "created_at", "description", "entities", "id", "location",
    "most_recent_tweet_id", "name", "pinned_tweet_id", "profile_banner_url", "profile_image_url",
    "protected", "public_metrics", "receives_your_dm", "subscription_type", "url", "username",
    "verified", "verified_type", "withheld",
})
_USER_EXPANSIONS = frozenset({"pinned_tweet_id", "most_recent_tweet_id"})
_EXPANSIONS = frozenset({
    "article.cover_media", "article.media_entities", "attachments.media_keys",
    "attachments.media_source_tweet", "attachments.poll_ids", "author_id", "edit_history_tweet_ids",
    "entities.mentions.username", "geo.place_id", "in_reply_to_user_id", "entities.note.mentions.username",
    "referenced_tweets.id", "referenced_tweets.id.attachments.media_keys", "referenced_tweets.id.author_id",
})
_DEFAULT_AVATAR = "https://abs.twimg.com/sticky/default_profile_images/default_profile_normal.png"
# User fields with the same value for every sandbox user, when asked for.
_PLAIN_USER_FIELDS = {"description": "", "protected": False, "verified": False, "profile_image_url": _DEFAULT_AVATAR,
                      "url": ""}


def build_app(records: XRecords, client: Client, app_name: str, faults: FaultQueue, rates: RateWindows, *,
              repost_limit: Limit | None, search_limit: Limit | None, reposters_limit: Limit | None) -> Flask:
    """The sandbox's WSGI app, serving `records`."""
    app = Flask(__name__)
    oauth = XOAuth(app, records, client, app_name)
    api = _Api(records, oauth, rates, repost_limit=repost_limit, search_limit=search_limit,
               reposters_limit=reposters_limit)
    install_fault_injection(app, records.lock, faults, fault_response, records.note_call, records.note_request)

    def locked(view: Callable[..., Response]) -> Callable[..., Response]:
        @wraps(view)
        def wrapper(*args: Any, **kwargs: Any) -> Response:
            with records.lock:
                try:
                    return view(*args, **kwargs)
                except XError as err:
                    return problem(err)
        return wrapper

    @app.errorhandler(HTTPException)
    def http_error(err: HTTPException) -> Response:
        return problem(about_blank(err.code or 500, err.name, err.description))

    @app.errorhandler(Exception)
    def internal_error(err: Exception) -> Response:
        app.logger.exception("sandbox X failed on %s %s", request.method, request.path)
        return problem(XError(500, {"title": "Internal Server Error", "detail": repr(err),
                                    "type": PROBLEM_BASE + "internal-error", "status": 500}))

    routes = (
        ("/i/oauth2/authorize", "authorize", oauth.authorize, ["GET", "POST"]),
        ("/2/oauth2/token", "token", oauth.token, ["POST"]),
        ("/2/oauth2/revoke", "revoke", oauth.revoke, ["POST"]),
        ("/2/users/me", "users_me", api.users_me, ["GET"]),
        ("/2/tweets/search/recent", "search_recent", api.search_recent, ["GET"]),
        ("/2/users/<user_id>/retweets", "retweet", api.retweet, ["POST"]),
        ("/2/users/<user_id>/retweets/<source_tweet_id>", "unretweet", api.unretweet, ["DELETE"]),
        ("/2/tweets/<tweet_id>/retweeted_by", "retweeted_by", api.retweeted_by, ["GET"]),
    )
    for rule, endpoint, view, methods in routes:
        app.add_url_rule(rule, endpoint, locked(view), methods=methods)
    return app


class _Api:
    """The API v2 routes relaycast uses."""

    def __init__(self, records: XRecords, oauth: XOAuth, rates: RateWindows, *, repost_limit: Limit | None,
                 search_limit: Limit | None, reposters_limit: Limit | None) -> None:
        self._records, self._oauth, self._rates = records, oauth, rates
        self._repost_limit, self._search_limit, self._reposters_limit = repost_limit, search_limit, reposters_limit

    def users_me(self) -> Response:
        token = self._oauth.authenticate("tweet.read users.read", allow_app=False)
        user_fields = _csv("user.fields", request.args.get("user.fields"), _USER_FIELDS)
        _csv("expansions", request.args.get("expansions"), _USER_EXPANSIONS)
        user = self._records.user(token.user_id)
        return _json({"data": _user_object(user, user_fields)})

    def search_recent(self) -> Response:
        token = self._oauth.authenticate("tweet.read users.read", allow_app=True)
        actor = "app" if token.is_app else token.user_id
        args = request.args
        now = clock.now()
        query = args.get("query")
        if not query:
            raise invalid_request("query", query or "", "The `query` query parameter can not be empty")
        if len(query) > 4096:
            raise invalid_request("query", query[:50], "The `query` query parameter value is too long")
        try:
            matcher = compile_query(query)
        except QueryError as err:
            raise invalid_request("query", query, f"There were errors processing your request: {err}") from None

        max_results = _max_results(args.get("max_results", "10"), 10)
        for one, other in (("since_id", "start_time"), ("until_id", "end_time"), ("next_token", "pagination_token")):
            if args.get(one) is not None and args.get(other) is not None:
                raise invalid_request(one, args[one], f"At most one of `{one}`, `{other}` may be provided.")
        since_id = args.get("since_id")
        until_id = args.get("until_id")
        for name, value in (("since_id", since_id), ("until_id", until_id)):
            if value is not None and not ID.match(value):
                raise invalid_request(name, value, f"The `{name}` query parameter value [{value}] is not valid")
        window_start = now - timedelta(days=7)
        if since_id is not None and snowflake_time(since_id) < window_start:
            raise invalid_request(
                "since_id", since_id,
                f"Invalid 'since_id':'{since_id}'. 'since_id' must be a tweet id created after {_iso(window_start)}.")
        start_time = end_time = None
        for name in ("start_time", "end_time"):
            value = args.get(name)
            if value is None:
                continue
            try:
                parsed = _parse_time(value)
            except ValueError:
                raise invalid_request(name, value, f"Invalid '{name}':'{value}'.") from None
            if name == "start_time":
                if parsed < window_start:
                    raise invalid_request(name, value, f"Invalid 'start_time':'{value}'. 'start_time' must be on "
                                                       f"or after {_iso(window_start)}")
                start_time = parsed
            else:
                end_time = parsed
        cursor_token = args.get("next_token") or args.get("pagination_token")
        cursor = _cursor("next_token", cursor_token)

        tweet_fields = _csv("tweet.fields", args.get("tweet.fields"), _TWEET_FIELDS)
        tweet_fields |= _csv("post.fields", args.get("post.fields"), _TWEET_FIELDS)
        expansions = _csv("expansions", args.get("expansions"), _EXPANSIONS)
        user_fields = _csv("user.fields", args.get("user.fields"), _USER_FIELDS)
        headers = self._rate("search", actor, self._search_limit)

        def keep(post: Post) -> bool:
            if not _visible(post, now):
                return False
            pid = int(post.id)
            if since_id is not None and pid <= int(since_id):
                return False
            if until_id is not None and pid >= int(until_id):
                return False
            if cursor is not None and pid >= int(cursor):
                return False
            if start_time is not None and post.created_at < start_time:
                return False
            if end_time is not None and post.created_at >= end_time:
                return False
            return matcher(post)

        matches = self._records.newest_first(keep)
        page = matches[:max_results]
        body: dict[str, Any] = {}
        if page:
            body["data"] = [self._post_object(p, tweet_fields) for p in page]
            includes = self._includes(page, expansions, tweet_fields, user_fields)
            if includes:
                body["includes"] = includes
        meta: dict[str, Any] = {"result_count": len(page)}
        if page:
            meta = {"newest_id": page[0].id, "oldest_id": page[-1].id, "result_count": len(page)}
            if len(matches) > len(page):
                meta["next_token"] = encode_cursor(page[-1].id)
        body["meta"] = meta

        self._records.note_search(SearchRecord(now, actor, query, since_id, cursor_token, max_results, len(page)), page)
        return _json(body, headers=headers)

    def _includes(self, page: list[Post], expansions: set[str], tweet_fields: set[str],
                  user_fields: set[str]) -> dict[str, Any]:
        """The expanded objects of a page of posts: the posts they reference, and users."""
        records = self._records
        includes: dict[str, Any] = {}
        if "referenced_tweets.id" in expansions or "referenced_tweets.id.author_id" in expansions:
            ref_ids = [p.retweet_of or p.in_reply_to_id for p in page]
            ref_posts = [post for i in dict.fromkeys(ref_ids) if (post := records.post_of(i)) is not None]
            if ref_posts:
                includes["tweets"] = [self._post_object(p, tweet_fields) for p in ref_posts]
        user_ids: list[str] = []
        if "author_id" in expansions:
            user_ids += [p.author_id for p in page]
        if "in_reply_to_user_id" in expansions:
            user_ids += [p.in_reply_to_user_id for p in page if p.in_reply_to_user_id]
        if "referenced_tweets.id.author_id" in expansions:
            user_ids += [records.post_of(t["id"]).author_id for t in includes.get("tweets", [])]  # type: ignore[union-attr]
        known = records.users_by_id
        users = [known[u] for u in dict.fromkeys(user_ids) if u in known]
        if users:
            includes["users"] = [_user_object(u, user_fields) for u in users]
        return includes

    def retweet(self, user_id: str) -> Response:
        token = self._oauth.authenticate("tweet.read tweet.write users.read", allow_app=False)
        _check_owner(token, user_id)
        payload = request.get_json(silent=True)
        tweet_id = payload.get("tweet_id") if isinstance(payload, dict) else None
        if not isinstance(tweet_id, str) or not ID.match(tweet_id):
            raise invalid_request("tweet_id", str(tweet_id), "The `tweet_id` body parameter must be a post id "
                                                             "given as a string of 1 to 19 digits")
        now = clock.now()
        original = self._records.posted(tweet_id, now)
        if original is None:
            raise _not_found(tweet_id)
        headers = self._rate("retweets", user_id, self._repost_limit)
        self._records.repost(self._records.user(user_id), original, now)
        return _json({"data": {"id": tweet_id, "rest_id": tweet_id, "retweeted": True}}, headers=headers)

    def unretweet(self, user_id: str, source_tweet_id: str) -> Response:
        token = self._oauth.authenticate("tweet.read tweet.write users.read", allow_app=False)
        _check_owner(token, user_id)
        if not ID.match(source_tweet_id):
            raise invalid_request("source_tweet_id", source_tweet_id,
                                  f"The `source_tweet_id` path parameter value [{source_tweet_id}] is not valid")
        self._records.unrepost(self._records.user(user_id), source_tweet_id, clock.now())
        return _json({"data": {"retweeted": False}})

    def retweeted_by(self, tweet_id: str) -> Response:
        token = self._oauth.authenticate("tweet.read users.read", allow_app=True)
        args = request.args
        if not ID.match(tweet_id):
            raise invalid_request("id", tweet_id, f"The `id` path parameter value [{tweet_id}] is not valid")
        max_results = _max_results(args.get("max_results", "100"), 1)
        cursor = _cursor("pagination_token", args.get("pagination_token"))
        user_fields = _csv("user.fields", args.get("user.fields"), _USER_FIELDS)
        _csv("expansions", args.get("expansions"), _USER_EXPANSIONS)
        _csv("tweet.fields", args.get("tweet.fields"), _TWEET_FIELDS)
        _csv("post.fields", args.get("post.fields"), _TWEET_FIELDS)
        headers = self._rate("retweeted_by", "app" if token.is_app else token.user_id, self._reposters_limit)

        if self._records.posted(tweet_id, clock.now()) is None:
            return _json({"errors": [{
                "value": tweet_id,
                "detail": f"Could not find tweet with id: [{tweet_id}].",
                "title": "Not Found Error",
                "resource_type": "tweet",
                "parameter": "id",
                "resource_id": tweet_id,
                "type": PROBLEM_BASE + "resource-not-found",
            }]}, headers=headers)
        # Current reposts only, newest first; the cursor is the last repost id shown (stable while paging).
        reposts = self._records.reposters(tweet_id, before=cursor)
        page = reposts[:max_results]
        body: dict[str, Any] = {}
        if page:
            body["data"] = [_user_object(self._records.user(uid), user_fields) for _, uid in page]
        meta: dict[str, Any] = {"result_count": len(page)}
        if len(reposts) > len(page):
            meta["next_token"] = encode_cursor(str(page[-1][0]))
        body["meta"] = meta
        return _json(body, headers=headers)

    def _rate(self, bucket: str, actor: str, limit: Limit | None) -> dict[str, str]:
        if limit is None:
            return {}
        allowed, remaining, reset = self._rates.hit(bucket, actor, limit, clock.now())
        headers = {"x-rate-limit-limit": str(limit[0]), "x-rate-limit-remaining": str(remaining),
                   "x-rate-limit-reset": str(reset)}
        if not allowed:
            raise XError(429, {"title": "Too Many Requests", "detail": "Too Many Requests", "type": "about:blank",
                               "status": 429}, headers)
        return headers

    def _post_object(self, post: Post, fields: set[str]) -> dict[str, Any]:
        out: dict[str, Any] = {"id": post.id, "text": post.text, "edit_history_tweet_ids": [post.id]}
        if "author_id" in fields:
            out["author_id"] = post.author_id
        if "created_at" in fields:
            out["created_at"] = _iso(post.created_at)
        if "conversation_id" in fields:
            out["conversation_id"] = post.conversation_id or post.id
        if "lang" in fields:
            out["lang"] = post.lang
        if "public_metrics" in fields:
            out["public_metrics"] = post.metrics.as_public_metrics()
        if "in_reply_to_user_id" in fields and post.in_reply_to_user_id:
            out["in_reply_to_user_id"] = post.in_reply_to_user_id
        if "referenced_tweets" in fields:
            refs = []
            if post.retweet_of:
                refs.append({"type": "retweeted", "id": post.retweet_of})
            if post.in_reply_to_id:
                refs.append({"type": "replied_to", "id": post.in_reply_to_id})
            if refs:
                out["referenced_tweets"] = refs
        if "entities" in fields:
            entities = self._entities(post.text)
            if entities:
                out["entities"] = entities
        if "possibly_sensitive" in fields:
            out["possibly_sensitive"] = False
        if "reply_settings" in fields:
            out["reply_settings"] = "everyone"
        return out

    def _entities(self, text: str) -> dict[str, Any]:
        """The hashtags and mentions of a text (a mention of a known user carries their id)."""
        tags = [{"start": s, "end": e, "tag": t} for t, s, e in hashtags_of(text)]
        mentions = []
        for m in re.finditer(r"(?<!\w)@(\w{1,15})", text):
            entry: dict[str, Any] = {"start": m.start(), "end": m.end(), "username": m.group(1)}
            known = self._records.known_user(m.group(1))
            if known:
                entry["id"] = known.id
            mentions.append(entry)
        entities: dict[str, Any] = {}
        if tags:
            entities["hashtags"] = tags
        if mentions:
            entities["mentions"] = mentions
        return entities


def _check_owner(token: Token | AppToken, user_id: str) -> None:
    """A user token acts for its own user only."""
    if token.user_id != user_id:
        raise XError(403, {
            "title": "Forbidden",
            "detail": "You are not permitted to act on behalf of this user: the path id must be the "
                      "authenticated user's id.",
            "type": PROBLEM_BASE + "not-authorized-for-resource",
            "resource_type": "user",
            "resource_id": user_id,
            "status": 403,
        })


def _not_found(tweet_id: str) -> XError:
    return XError(404, {
        "title": "Not Found Error",
        "detail": f"Could not find tweet with tweet_id: [{tweet_id}].",
        "type": PROBLEM_BASE + "resource-not-found",
        "resource_type": "tweet",
        "resource_id": tweet_id,
        "parameter": "tweet_id",
        "value": tweet_id,
        "status": 404,
    })


def _user_object(user: SandboxUser, fields: set[str]) -> dict[str, Any]:
    out: dict[str, Any] = {"id": user.id, "name": user.name, "username": user.username}
    if "created_at" in fields:
        out["created_at"] = _iso(user.created_at)
    out.update({name: value for name, value in _PLAIN_USER_FIELDS.items() if name in fields})
    if "public_metrics" in fields:
        out["public_metrics"] = {"followers_count": user.followers, "following_count": 0, "post_count": 0, "listed_count": 0}
    return out


def _json(body: Any, status: int = 200, headers: Mapping[str, str] | None = None) -> Response:
    return Response(json.dumps(body, ensure_ascii=False), status=status, headers=dict(headers or {}),
                    content_type="application/json; charset=utf-8")


def _visible(post: Post, now: datetime) -> bool:
    return now - timedelta(days=7) <= post.created_at <= now


def _max_results(raw: str, lowest: int) -> int:
    if not raw.isdigit() or not lowest <= int(raw) <= 100:
        raise invalid_request("max_results", raw,
                              f"The `max_results` query parameter value [{raw}] is not between {lowest} and 100")
    return int(raw)


def _cursor(name: str, token: str | None) -> str | None:
    """The post or repost id a paging token stands for (None without a token)."""
    if token is None:
        return None
    try:
        return decode_cursor(token)
    except (ValueError, binascii.Error, UnicodeDecodeError):
        raise invalid_request(name, token, f"The `{name}` query parameter value [{token}] is not valid") from None


def _iso(at: datetime) -> str:
    return at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{at.microsecond // 1000:03d}Z"


def _parse_time(value: str) -> datetime:
    at = datetime.fromisoformat(value.replace("Z", "+00:00"))
    if at.tzinfo is None:
        raise ValueError(value)
    return at


def _csv(name: str, value: str | None, allowed: frozenset[str]) -> set[str]:
    if value is None:
        return set()
    items = [v for v in value.split(",")]
    for item in items:
        if item not in allowed:
            raise invalid_request(
                name, item,
                f"The `{name}` query parameter value [{item}] is not one of [{','.join(sorted(allowed))}]")
    return set(items)
