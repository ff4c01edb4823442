"""The sandbox Bluesky's state, under one lock: accounts (handle, DID, app password), posts, repost records,
the OAuth sessions and their tokens, and the DPoP proofs already seen. The sandbox is the run's truth: who
reposted what, which tokens are live."""

from __future__ import annotations

import hashlib
import secrets
import threading
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any

from relaycast import clock
from relaycast.networks.bluesky import TID_ALPHABET, tid
from relaycast_local.sandbox_common import Record

def timestamp_tid(micros: int, clock_id: int = 0) -> str:
    """A TID (the protocol's timestamp identifier): 53 bits of microseconds and 10 of clock id."""
    return tid((micros << 10) | (clock_id & 0x3FF))


def cid_of(value: Any) -> str:
    """A stand-in content id: stable for the same content (real CIDs hash the record's DAG-CBOR)."""
    return "bafyrei" + hashlib.sha256(repr(value).encode()).hexdigest()[:52]


@dataclass(frozen=True)
class Account(Record):
    did: str
    handle: str
    app_password: str
    display_name: str
    followers: int
    claims: str | None = None  # the handle the DID document claims, when not the account's own (a forged handle)
    pds: str | None = None  # the PDS the DID document names, when not the sandbox (a hostile document)


@dataclass(frozen=True)
class PostRecord(Record):
    uri: str
    cid: str
    did: str
    text: str
    tags: tuple[str, ...]
    created_at: datetime


@dataclass(frozen=True)
class Repost(Record):
    uri: str  # at://<did>/app.bsky.feed.repost/<rkey>
    cid: str
    did: str
    rkey: str
    subject_uri: str
    subject_cid: str
    created_at: str


@dataclass(frozen=True)
class Grant(Record):
    """One OAuth session: its tokens rotate, the DPoP key (jkt) and the client key (kid) stay."""

    session_id: str
    client_id: str
    did: str
    scope: str
    jkt: str
    kid: str
    access_token: str
    refresh_token: str
    access_expires: int
    used_refresh_tokens: tuple[str, ...] = ()
    revoked: bool = False


@dataclass(repr=False)  # its tokens never reach a log or a test report
class BlueskyRecords:
    """Everything the sandbox knows, and the reads tests make of it (copies, under `lock`)."""

    lock: threading.RLock = field(default_factory=threading.RLock)
    accounts: dict[str, Account] = field(default_factory=dict)  # by DID
    posts: dict[str, PostRecord] = field(default_factory=dict)  # by at-uri
    reposts: dict[str, Repost] = field(default_factory=dict)  # by at-uri
    grants: dict[str, Grant] = field(default_factory=dict)  # by session id
    sessions: dict[str, str] = field(default_factory=dict)  # app-password session tokens → DID
    expired_sessions: set[str] = field(default_factory=set)
    seen_jti: set[str] = field(default_factory=set)
    issued: dict[str, str] = field(default_factory=dict)  # every OAuth token ever issued → its session id
    # As the reference PDS does today (bluesky-social/atproto#4278): a revoked session's access token is still
    # accepted until it expires.
    revocation_spares_access_tokens: bool = False

    # ---- accounts and posts ------------------------------------------------------------------------

    def add_account(self, handle: str, *, followers: int = 0, display_name: str | None = None) -> Account:
        with self.lock:
            existing = self.by_handle(handle)
            if existing:
                return existing
            did = "did:plc:" + "".join(secrets.choice(TID_ALPHABET) for _ in range(24))
            account = Account(did=did, handle=handle.lower(), app_password=secrets.token_urlsafe(12),
                              display_name=display_name or handle.split(".")[0], followers=followers)
            self.accounts[did] = account
            return account

    def forge(self, handle: str, *, claims: str | None = None, pds: str | None = None) -> Account:
        """Make `handle`'s DID document lie: claim another handle, or name another PDS."""
        with self.lock:
            account = replace(self.by_handle(handle), claims=claims, pds=pds)  # type: ignore[arg-type]
            self.accounts[account.did] = account
            return account

    def by_handle(self, handle: str) -> Account | None:
        with self.lock:
            return next((a for a in self.accounts.values() if a.handle == handle.lower()), None)

    def add_post(self, handle: str, text: str, *, at: datetime | None = None, tags: tuple[str, ...] = ()) -> PostRecord:
        """A post by `handle` (created if needed); `at` dates it on the event's clock. Hashtags in the text count
        as tags (Bluesky's facets), with `tags` added."""
        account = self.add_account(handle)
        created = (at or clock.now()).astimezone(UTC)
        words = {w.strip(".,;:!?").lstrip("#").lower() for w in text.split() if w.startswith("#")}
        with self.lock:
            rkey = timestamp_tid(int(created.timestamp() * 1_000_000), len(self.posts))
            uri = f"at://{account.did}/app.bsky.feed.post/{rkey}"
            post = PostRecord(uri=uri, cid=cid_of((uri, text)), did=account.did, text=text,
                              tags=tuple(sorted(words | {t.lower() for t in tags})), created_at=created)
            self.posts[uri] = post
            return post

    def reposts_by(self, handle: str) -> list[Repost]:
        """The repost records `handle`'s repository holds now."""
        account = self.by_handle(handle)
        with self.lock:
            return [r for r in self.reposts.values() if account and r.did == account.did]

    def expire_app_sessions(self) -> None:
        """Every app-password session's access token expires (its refresh token still works)."""
        with self.lock:
            for token in [t for t in self.sessions if t.startswith("sess-at-")]:
                self.expired_sessions.add(token)
                del self.sessions[token]

    # ---- tokens ------------------------------------------------------------------------------------

    def live_tokens(self) -> list[str]:
        """Every access or refresh token that would still be accepted (an access token until it expires)."""
        now = clock.epoch()
        with self.lock:
            live = []
            for g in self.grants.values():
                if not g.revoked:
                    live.append(g.refresh_token)
                if g.access_expires > now and (not g.revoked or self.revocation_spares_access_tokens):
                    live.append(g.access_token)
            return live

    # What the demo checks every network for: each token issued, whether it still works, and its session's others.
    def issued_tokens(self) -> list[str]:
        with self.lock:
            return list(self.issued)

    def is_token_active(self, token: str) -> bool:
        return token in self.live_tokens()

    def tokens_of_grant(self, token: str) -> list[str]:
        with self.lock:
            session = self.issued.get(token)
            return [t for t, s in self.issued.items() if s == session] if session else [token]

    def grant_of(self, *, access_token: str | None = None, refresh_token: str | None = None) -> Grant | None:
        with self.lock:
            for g in self.grants.values():
                if (access_token and g.access_token == access_token) or (refresh_token and g.refresh_token == refresh_token):
                    return g
            return None

    def replay_of(self, refresh_token: str) -> Grant | None:
        """The grant a refresh token was already used for (single-use: using it again is a replay)."""
        with self.lock:
            return next((g for g in self.grants.values() if refresh_token in g.used_refresh_tokens), None)

    def issue(self, *, client_id: str, did: str, scope: str, jkt: str, kid: str, ttl: int) -> Grant:
        grant = Grant(session_id=secrets.token_urlsafe(12), client_id=client_id, did=did, scope=scope, jkt=jkt,
                      kid=kid, access_token="bsky-at-" + secrets.token_urlsafe(24),
                      refresh_token="bsky-rt-" + secrets.token_urlsafe(24), access_expires=clock.epoch() + ttl)
        with self.lock:
            self.grants[grant.session_id] = grant
            self.issued.update({grant.access_token: grant.session_id, grant.refresh_token: grant.session_id})
        return grant

    def rotate(self, grant: Grant, ttl: int) -> Grant:
        rotated = replace(grant, access_token="bsky-at-" + secrets.token_urlsafe(24),
                          refresh_token="bsky-rt-" + secrets.token_urlsafe(24), access_expires=clock.epoch() + ttl,
                          used_refresh_tokens=(*grant.used_refresh_tokens, grant.refresh_token))
        with self.lock:
            self.grants[grant.session_id] = rotated
            self.issued.update({rotated.access_token: grant.session_id, rotated.refresh_token: grant.session_id})
        return rotated

    def revoke(self, grant: Grant) -> None:
        with self.lock:
            self.grants[grant.session_id] = replace(grant, revoked=True)

    def first_use_of(self, jti: str) -> bool:
        """DPoP proofs and client assertions are single-use: False when this `jti` was seen before."""
        with self.lock:
            if jti in self.seen_jti:
                return False
            self.seen_jti.add(jti)
            return True
