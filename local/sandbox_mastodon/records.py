"""What the Mastodon sandbox knows beyond mastodon-mock's database: authorization codes, the tokens it issued
and revoked, the request log; and the reads of that database the local runtime and tests need."""

from __future__ import annotations

import html
import threading
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from fastapi import FastAPI
from mastodon_mock.db.models import Account, OAuthApp, OAuthToken, Status, utcnow
from sqlalchemy import select

from relaycast_local.sandbox_common import RecordedRequest


@dataclass
class Code:
    """An authorization code, single use, and the request it answers."""

    client_id: str
    redirect_uri: str
    scopes: list[str]
    challenge: str
    account_id: int
    expires_at: datetime


class MastodonRecords:
    """The sandbox's own state under `lock`, next to mastodon-mock's database (`mock_app`'s sessions)."""

    def __init__(self, *, domain: str, require_pkce: bool, mock_app: FastAPI) -> None:
        self.lock = threading.Lock()
        self.domain = domain
        self.require_pkce = require_pkce
        self.mock_app = mock_app
        self._codes: dict[str, Code] = {}
        self._revoked: set[str] = set()  # access tokens revoked through /oauth/revoke
        self._issued: list[str] = []  # every token the authorization-code exchange handed out, oldest first
        self._log: list[RecordedRequest] = []

    def db(self) -> Any:
        """A session of mastodon-mock's database (a context manager)."""
        return self.mock_app.state.session_factory()

    # ---- the request log ----------------------------------------------------------------------------

    @property
    def requests(self) -> list[RecordedRequest]:
        with self.lock:
            return list(self._log)

    def clear_log(self) -> None:
        with self.lock:
            self._log.clear()

    def note_request(self, entry: RecordedRequest) -> None:
        self._log.append(entry)  # the recorder holds the lock

    # ---- codes and tokens (the OAuth server's) ---------------------------------------------------------

    def save_code(self, code: str, item: Code) -> None:
        with self.lock:
            self._codes[code] = item

    def take_code(self, code: str) -> Code | None:
        """The code's request, once: a code is used up even when the exchange is refused."""
        with self.lock:
            return self._codes.pop(code, None)

    def note_issued(self, token: str) -> None:
        with self.lock:
            self._issued.append(token)

    def note_revoked(self, token: str) -> None:
        with self.lock:
            self._revoked.add(token)

    def is_revoked(self, token: str | None) -> bool:
        with self.lock:
            return token in self._revoked

    # ---- truth ------------------------------------------------------------------------------------

    def account_id(self, username: str) -> str | None:
        with self.db() as db:
            account = db.scalar(select(Account).where(Account.username == username, Account.domain.is_(None)))
            return str(account.id) if account else None

    def add_remote_status(self, url: str, text: str, acct: str = "expert@events.example") -> str:
        """A status from another instance, as if this one had fetched it; `search?resolve` finds it by URL."""
        username, _, domain = acct.partition("@")
        with self.db() as db:
            account = db.scalar(select(Account).where(Account.username == username, Account.domain == domain))
            if account is None:
                account = Account(username=username, domain=domain, display_name=username, created_at=utcnow(),
                                  fields=[])
                db.add(account)
                db.flush()
            status = Status(account_id=account.id, content=f"<p>{html.escape(text)}</p>", text=text, url=url,
                            visibility="public", created_at=utcnow(), edit_history=[])
            db.add(status)
            db.commit()
            return str(status.id)

    def reblogs(self) -> list[tuple[str, str]]:
        """Every reblog on the instance, as (username of the booster, id of the boosted status)."""
        with self.db() as db:
            rows = db.execute(select(Account.username, Status.reblog_of_id).join(Account, Status.account_id == Account.id)
                              .where(Status.reblog_of_id.is_not(None))).all()
        return [(username, str(original)) for username, original in rows]

    def token_scopes(self, access_token: str) -> list[str] | None:
        """The scopes of a live token; None once it is revoked (or never existed)."""
        with self.db() as db:
            token = db.scalar(select(OAuthToken).where(OAuthToken.access_token == access_token))
            return list(token.scopes) if token else None

    def issued_tokens(self) -> list[str]:
        """Every token issued to an app by an authorization-code exchange so far (oldest first), dead or alive."""
        with self.lock:
            return list(self._issued)

    def is_token_active(self, token: str) -> bool:
        """Whether the instance would accept this token now (Mastodon's tokens have no expiry and no refresh)."""
        return self.token_scopes(token) is not None

    def tokens_of_grant(self, token: str) -> list[str]:
        """A Mastodon authorization is one token: the grant of `token` is itself (or nothing, if never issued)."""
        with self.lock:
            return [token] if token in self._issued else []

    def apps(self) -> list[dict[str, Any]]:
        """Registered apps (no secrets)."""
        with self.db() as db:
            return [{"client_id": a.client_id, "name": a.name, "website": a.website,
                     "redirect_uris": list(a.redirect_uris), "scopes": list(a.scopes)}
                    for a in db.scalars(select(OAuthApp)).all()]
