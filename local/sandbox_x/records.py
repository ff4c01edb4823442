"""What the sandbox X stores: users, posts and reposts, authorization codes, grants and tokens, and the logs.

`XRecords` holds it all under one lock (`lock`): the OAuth server and the API routes change it while they
hold the lock; its truth attributes are copies taken under it, safe to read while requests are served. The
truth records handed to reports and tests are immutable; the OAuth models (authlib mixins) are not.
"""

from __future__ import annotations

import hashlib

import re
import secrets
import threading
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any

from authlib.common.security import generate_token
from authlib.oauth2.rfc6749 import AuthorizationCodeMixin, ClientMixin, TokenMixin

from relaycast import clock
from relaycast_local.feed import Post, snowflake_id
from relaycast_local.sandbox_common import RecordedRequest, Record, Snapshot

SANDBOX_WORKER = 9  # snowflake worker bits of posts created by the sandbox (reposts)
ID = re.compile(r"^[0-9]{1,19}$")  # post and user ids

# --------------------------------------------------------------------------------------------------
# Truth records (immutable views handed to reports and tests)
# --------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class SandboxUser(Record):
    id: str
    username: str
    name: str
    created_at: datetime
    followers: int = 0


@dataclass(frozen=True)
class RepostRecord(Record):
    """One successful `POST /2/users/{id}/retweets`; `duplicate` when the post was already reposted."""

    at: datetime
    user_id: str
    username: str
    tweet_id: str
    duplicate: bool
    retweet_id: str  # id of the repost (the "RT @…" post) in the sandbox


@dataclass(frozen=True)
class UnrepostRecord(Record):
    at: datetime
    user_id: str
    username: str
    tweet_id: str
    was_reposted: bool


@dataclass(frozen=True)
class Revocation(Record):
    """An effective revocation. `whole_grant` when the grant (all its tokens) ended."""

    at: datetime
    grant_id: str
    user_id: str
    username: str
    token_type: str  # "access_token" | "refresh_token"
    token: str = field(repr=False)  # kept out of repr so reports and logs do not print it
    whole_grant: bool = False


@dataclass(frozen=True)
class RevocationRequest(Record):
    """A call of the revocation endpoint by an authenticated client; `matched` is None when nothing
    live was found (unknown, expired or already dead token)."""

    at: datetime
    token: str = field(repr=False)
    token_type_hint: str | None = None
    matched: str | None = None  # "access_token" | "refresh_token" | None
    grant_id: str | None = None


@dataclass(frozen=True)
class GrantView(Record):
    """One authorization (consent) and the chain of tokens issued from it."""

    grant_id: str
    user_id: str
    username: str
    scope: str
    created_at: datetime
    revoked_at: datetime | None
    active: bool  # some token of the grant still works


@dataclass(frozen=True)
class SearchRecord(Record):
    at: datetime
    actor: str  # "app" or a user id
    query: str
    since_id: str | None
    next_token: str | None
    max_results: int
    result_count: int


# --------------------------------------------------------------------------------------------------
# OAuth models (authlib mixins) — mutable, guarded by the records' lock
# --------------------------------------------------------------------------------------------------


@dataclass
class AuthCode(AuthorizationCodeMixin):
    code: str
    client_id: str
    redirect_uri: str
    scope: str
    user_id: str
    code_challenge: str
    code_challenge_method: str
    expires_at: datetime

    def get_redirect_uri(self) -> str:
        return self.redirect_uri

    def get_scope(self) -> str:
        return self.scope

    def is_expired(self) -> bool:
        return clock.now() >= self.expires_at


@dataclass
class Grant:
    id: str
    client_id: str
    user_id: str
    scope: str
    created_at: datetime
    revoked_at: datetime | None = None


@dataclass
class Token(TokenMixin):
    """One access token and the refresh token issued with it, both of one grant."""

    grant: Grant
    scope: str
    issued_at: datetime
    expires_in: int
    access_token: str
    refresh_token: str | None
    access_revoked_at: datetime | None = None
    refresh_rotated_at: datetime | None = None
    is_app = False

    @property
    def user_id(self) -> str:
        return self.grant.user_id

    def check_client(self, client: ClientMixin) -> bool:
        return self.grant.client_id == client.get_client_id()

    def get_scope(self) -> str:
        return self.scope

    def get_expires_in(self) -> int:
        return self.expires_in

    def is_expired(self) -> bool:
        return clock.now() >= self.issued_at + timedelta(seconds=self.expires_in)

    def is_revoked(self) -> bool:
        return self.access_revoked_at is not None or self.grant.revoked_at is not None

    def access_active(self) -> bool:
        return not self.is_expired() and not self.is_revoked()

    def refresh_active(self) -> bool:
        return (self.refresh_token is not None and self.refresh_rotated_at is None
                and self.grant.revoked_at is None)


class AppToken:
    """The app-only bearer token: no user, no scope, never expires."""

    is_app = True
    user_id = None

    def get_scope(self) -> str:
        return ""

    def is_expired(self) -> bool:
        return False

    def is_revoked(self) -> bool:
        return False


# --------------------------------------------------------------------------------------------------
# The store
# --------------------------------------------------------------------------------------------------


class XRecords:
    """Everything the sandbox X knows, under `lock` (re-entrant: a request holds it while the store is used)."""

    def __init__(self, *, bearer_token: str, access_token_ttl: timedelta, code_ttl: timedelta) -> None:
        self.bearer_token = bearer_token
        self.access_token_ttl = access_token_ttl
        self.code_ttl = code_ttl
        self.lock = threading.RLock()
        self._users_by_name: dict[str, SandboxUser] = {}  # by lower-cased username
        self._users_by_id: dict[str, SandboxUser] = {}
        self._posts: dict[str, Post] = {}
        self._retweets: dict[tuple[str, str], str] = {}  # (user_id, tweet_id) -> repost id
        self._codes: dict[str, AuthCode] = {}
        self._grants: dict[str, Grant] = {}
        self._by_access: dict[str, Token] = {}
        self._by_refresh: dict[str, Token] = {}
        self._repost_log: list[RepostRecord] = []
        self._unrepost_log: list[UnrepostRecord] = []
        self._revocations: list[Revocation] = []
        self._revocation_requests: list[RevocationRequest] = []
        self._search_log: list[SearchRecord] = []
        self._request_log: list[RecordedRequest] = []
        self._search_reads = 0
        self._calls: Counter[str] = Counter()  # requests per route name, whatever their answer
        self._read_ids: set[str] = set()
        self._id_seq: tuple[int, int] = (0, 0)
        self._next_user_id = 1_400_000_000_000_000_000

    # ---- truth ------------------------------------------------------------------------------------

    users_by_id = Snapshot(dict)
    posts = Snapshot(dict)
    retweets = Snapshot(set)  # current reposts as (user_id, tweet_id)
    repost_log = Snapshot(list)
    unrepost_log = Snapshot(list)
    search_reads = Snapshot(int)  # posts returned by search responses in total (X's billable post reads)
    read_post_ids = Snapshot(frozenset, "_read_ids")
    unique_posts_read = Snapshot(len, "_read_ids")
    # Requests received per route name (``retweet``, ``unretweet``, ``retweeted_by``, ``search_recent``,
    # ``users_me``, ``token``, ``revoke``, ``authorize``), injected faults included.
    calls = Snapshot(Counter)
    search_log = Snapshot(list)
    request_log = Snapshot(list)  # every request: method, path, query, headers, body, status, time
    revocations = Snapshot(list)
    revocation_requests = Snapshot(list)  # every authenticated call of the revocation endpoint (effective or not)

    @property
    def users(self) -> dict[str, SandboxUser]:
        with self.lock:
            return {u.username: u for u in self._users_by_name.values()}

    @property
    def grants(self) -> list[GrantView]:
        with self.lock:
            return [self._grant_view(g) for g in self._grants.values()]

    def active_grants(self, username: str | None = None) -> list[GrantView]:
        """Grants with at least one working token (optionally of one user)."""
        return [g for g in self.grants if g.active and (username is None or g.username.lower() == username.lower())]

    def remove_app(self, username: str) -> int:
        """The user removes the app in X's settings: every grant of theirs ends, with each token of it (no call
        of the revocation endpoint, so no fault queued for it applies). Returns how many grants ended."""
        with self.lock:
            user = self._users_by_name.get(username.lower())
            ended = [g for g in self._grants.values() if user and g.user_id == user.id and g.revoked_at is None]
            for grant in ended:
                grant.revoked_at = clock.now()
            return len(ended)

    def issued_tokens(self) -> list[str]:
        """Every access and refresh token issued so far (oldest first), dead or alive."""
        with self.lock:
            tokens: list[str] = []
            for record in self._by_access.values():
                tokens.append(record.access_token)
                if record.refresh_token:
                    tokens.append(record.refresh_token)
            return tokens

    def tokens_of_grant(self, token: str) -> list[str]:
        """Every access and refresh token of the grant (the chain of refreshes) that issued `token`; [] if unknown."""
        with self.lock:
            record = self._by_access.get(token) or self._by_refresh.get(token)
            if record is None:
                return []
            chain = [t for t in self._by_access.values() if t.grant is record.grant]
            return [s for t in chain for s in (t.access_token, t.refresh_token) if s]

    def is_token_active(self, token: str) -> bool:
        """Whether an access or refresh token (or the app bearer token) would be accepted now."""
        with self.lock:
            if token == self.bearer_token:
                return True
            if token in self._by_access:
                return self._by_access[token].access_active()
            if token in self._by_refresh:
                return self._by_refresh[token].refresh_active()
            return False

    def _grant_view(self, grant: Grant) -> GrantView:
        tokens = [t for t in self._by_access.values() if t.grant is grant]
        active = grant.revoked_at is None and any(t.access_active() or t.refresh_active() for t in tokens)
        user = self._users_by_id[grant.user_id]
        return GrantView(grant.id, grant.user_id, user.username, grant.scope, grant.created_at, grant.revoked_at,
                         active)

    # ---- loading ----------------------------------------------------------------------------------

    def add_user(self, username: str, name: str | None = None, user_id: str | None = None,
                 followers: int | None = None) -> SandboxUser:
        """Create a user (or return the existing one with that username, case-insensitive). Without `followers`,
        a user has a follower count of its own, the same on every run (a hash of the username: 10 to 2,009)."""
        with self.lock:
            existing = self._users_by_name.get(username.lower())
            if existing is not None:
                return existing
            if user_id is None:
                self._next_user_id += 1
                while str(self._next_user_id) in self._users_by_id:
                    self._next_user_id += 1
                user_id = str(self._next_user_id)
            elif user_id in self._users_by_id:
                raise ValueError(f"user id {user_id} already belongs to @{self._users_by_id[user_id].username}")
            if followers is None:
                followers = 10 + int.from_bytes(hashlib.sha256(username.lower().encode()).digest()[:4], "big") % 2000
            user = SandboxUser(user_id, username, name or username, clock.now(), followers)
            self._users_by_name[username.lower()] = user
            self._users_by_id[user_id] = user
            return user

    def add_posts(self, posts: Iterable[Post | Mapping[str, Any]]) -> int:
        """Load posts (feed `Post`s or dicts like `Post.to_dict()`); their authors become users.
        A post becomes visible to search once the clock passes its `created_at`. Returns the count."""
        count = 0
        with self.lock:
            for item in posts:
                post = item if isinstance(item, Post) else Post.from_mapping(item)
                if not ID.match(post.id):
                    raise ValueError(f"post id must be 1-19 digits: {post.id!r}")
                author = self._users_by_id.get(post.author_id)
                if author is None:
                    self.add_user(post.username, post.name or post.username, post.author_id)
                elif author.username.lower() != post.username.lower():
                    raise ValueError(f"author id {post.author_id} is @{author.username}, not @{post.username}")
                self._posts[post.id] = post
                count += 1
        return count

    # ---- what the API routes read and change (the caller holds the lock) ---------------------------

    def note_call(self, route: str) -> None:
        self._calls[route] += 1

    def note_request(self, entry: RecordedRequest) -> None:
        self._request_log.append(entry)

    def user(self, user_id: str) -> SandboxUser:
        return self._users_by_id[user_id]

    def known_user(self, username: str) -> SandboxUser | None:
        return self._users_by_name.get(username.lower())

    def posted(self, post_id: str, now: datetime) -> Post | None:
        """The post with that id, if it exists and its time has come."""
        post = self._posts.get(post_id)
        return post if post is not None and post.created_at <= now else None

    def post_of(self, post_id: str | None) -> Post | None:
        return self._posts.get(post_id) if post_id else None

    def newest_first(self, keep: Callable[[Post], bool]) -> list[Post]:
        return sorted((p for p in self._posts.values() if keep(p)), key=lambda p: int(p.id), reverse=True)

    def note_search(self, record: SearchRecord, page: list[Post]) -> None:
        self._search_reads += len(page)
        self._read_ids.update(p.id for p in page)
        self._search_log.append(record)

    def repost(self, user: SandboxUser, original: Post, now: datetime) -> None:
        """`user` reposts `original` (again: nothing changes but the log)."""
        key = (user.id, original.id)
        duplicate = key in self._retweets
        if not duplicate:
            retweet_id = self._new_post_id(now)
            text = f"RT @{original.username}: {original.text}"
            self._posts[retweet_id] = Post(
                id=retweet_id, text=text if len(text) <= 280 else text[:279] + "…", author_id=user.id,
                username=user.username, name=user.name, created_at=now, lang=original.lang,
                conversation_id=retweet_id, retweet_of=original.id, kind="retweet")
            self._retweets[key] = retweet_id
            self._bump_reposts(original.id, +1)
        self._repost_log.append(RepostRecord(now, user.id, user.username, original.id, duplicate,
                                             self._retweets[key]))

    def unrepost(self, user: SandboxUser, tweet_id: str, now: datetime) -> None:
        retweet_id = self._retweets.pop((user.id, tweet_id), None)
        if retweet_id is not None:
            self._posts.pop(retweet_id, None)
            self._bump_reposts(tweet_id, -1)
        self._unrepost_log.append(UnrepostRecord(now, user.id, user.username, tweet_id, retweet_id is not None))

    def reposters(self, tweet_id: str, before: str | None) -> list[tuple[int, str]]:
        """(repost id, user id) of the current reposts of a post, newest first, those older than `before` only."""
        return sorted(((int(rid), uid) for (uid, tid), rid in self._retweets.items()
                       if tid == tweet_id and (before is None or int(rid) < int(before))), reverse=True)

    def _new_post_id(self, at: datetime) -> str:
        ms = int(at.timestamp() * 1000)
        last_ms, seq = self._id_seq
        seq = seq + 1 if ms == last_ms else 0
        self._id_seq = (ms, seq)
        return snowflake_id(at, seq, worker=SANDBOX_WORKER)

    def _bump_reposts(self, tweet_id: str, delta: int) -> None:
        post = self._posts.get(tweet_id)
        if post is not None:
            metrics = replace(post.metrics, retweet_count=max(0, post.metrics.retweet_count + delta))
            self._posts[tweet_id] = replace(post, metrics=metrics)

    # ---- what the OAuth server reads and changes (the caller holds the lock) -----------------------

    def save_code(self, code: str, req: Any) -> None:
        data = req.payload.data
        self._codes[code] = AuthCode(
            code=code,
            client_id=req.client.get_client_id(),
            redirect_uri=req.payload.redirect_uri,
            scope=req.scope,
            user_id=req.user.id,
            code_challenge=data.get("code_challenge"),
            code_challenge_method=data.get("code_challenge_method"),
            expires_at=clock.now() + self.code_ttl,
        )

    def query_code(self, code: str, client: ClientMixin) -> AuthCode | None:
        item = self._codes.get(code)
        if item is None or item.client_id != client.get_client_id():
            return None
        if item.is_expired():
            self._codes.pop(code, None)
            return None
        return item

    def delete_code(self, code: AuthCode) -> None:
        self._codes.pop(code.code, None)

    def save_token(self, token: dict[str, Any], req: Any) -> None:
        now = clock.now()
        old = req.refresh_token
        if old is not None:  # refresh grant: same authorization
            grant = old.grant
        else:
            grant = Grant(generate_token(24), req.client.get_client_id(), req.user.id, token.get("scope", ""), now)
            self._grants[grant.id] = grant
        record = Token(grant=grant, scope=token.get("scope", ""), issued_at=now, expires_in=int(token["expires_in"]),
                       access_token=token["access_token"], refresh_token=token.get("refresh_token"))
        self._by_access[record.access_token] = record
        if record.refresh_token:
            self._by_refresh[record.refresh_token] = record

    def live_refresh_token(self, refresh_token: str) -> Token | None:
        token = self._by_refresh.get(refresh_token)
        return token if token is not None and token.refresh_active() else None

    def find_live_token(self, token: str, hint: str | None) -> tuple[str, Token] | None:
        order = ("refresh_token", "access_token") if hint == "refresh_token" else ("access_token", "refresh_token")
        for kind in order:
            if kind == "access_token" and token in self._by_access and self._by_access[token].access_active():
                return kind, self._by_access[token]
            if kind == "refresh_token" and token in self._by_refresh and self._by_refresh[token].refresh_active():
                return kind, self._by_refresh[token]
        return None

    def note_revocation_request(self, token: str, hint: str | None, found: tuple[str, Token] | None) -> None:
        self._revocation_requests.append(RevocationRequest(
            clock.now(), token, hint, found[0] if found else None, found[1].grant.id if found else None))

    def revoke(self, kind: str, token: Token) -> None:
        now = clock.now()
        grant = token.grant
        user = self._users_by_id[grant.user_id]
        if kind == "refresh_token":
            grant.revoked_at = now
            token_string = token.refresh_token or ""
        else:
            token.access_revoked_at = now
            token_string = token.access_token
        self._revocations.append(Revocation(now, grant.id, user.id, user.username, kind, token_string,
                                            whole_grant=kind == "refresh_token"))

    def bearer(self, token_string: str) -> Token | AppToken | None:
        """The token a bearer string stands for: the app's, a user's access token, or none."""
        if secrets.compare_digest(token_string.encode(), self.bearer_token.encode()):
            return AppToken()
        return self._by_access.get(token_string)
