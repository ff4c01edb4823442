"""Fixtures of the X sandbox tests: a fake relaycast clock, a started sandbox with a generated feed, and
a helper that connects a user through the real OAuth dance (authlib's client over HTTP)."""

from __future__ import annotations

import html
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
import requests
from authlib.common.security import generate_token
from authlib.integrations.requests_client import OAuth2Session

from relaycast import clock
from relaycast_local.feed import Post, generate_conference_feed
from relaycast_local.sandbox_x import SandboxX

PARIS = ZoneInfo("Europe/Paris")
EVENT_START = datetime(2026, 6, 9, 8, 0, tzinfo=PARIS)
EVENT_END = datetime(2026, 6, 10, 19, 0, tzinfo=PARIS)
HASHTAG = "#RelayConf26"
EXPERTS = ["ada_ops", "grace_data", "linus_sre", "margaret_h"]
REDIRECT_URI = "http://127.0.0.1:8765/connect/callback/x"
RELAY_SCOPE = "tweet.read tweet.write users.read offline.access"


class FakeClock:
    """A settable clock for `relaycast.clock.use`."""

    def __init__(self, at: datetime) -> None:
        self.at = at.astimezone(UTC)

    def __call__(self) -> datetime:
        return self.at

    def advance(self, **delta: float) -> datetime:
        self.at += timedelta(**delta)
        return self.at

    def set(self, at: datetime) -> None:
        self.at = at.astimezone(UTC)


@pytest.fixture
def fake_clock() -> Iterator[FakeClock]:
    fake = FakeClock(datetime(2026, 6, 10, 11, 0, tzinfo=PARIS))
    clock.use(fake)
    try:
        yield fake
    finally:
        clock.use(None)


@pytest.fixture(scope="session")
def feed() -> list[Post]:
    return generate_conference_feed(EVENT_START, EVENT_END, HASHTAG, experts=EXPERTS)


@pytest.fixture
def sandbox(fake_clock: FakeClock, feed: list[Post]) -> Iterator[SandboxX]:
    with SandboxX(client_id="relaycast-client", client_secret="relaycast-secret") as x:
        x.add_posts(feed)
        yield x


@dataclass
class Connection:
    username: str
    user_id: str
    token: dict
    session: OAuth2Session


def consent_form(page_html: str) -> dict[str, str]:
    """The hidden fields of the consent page's form."""
    fields = re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)">', page_html)
    return {name: html.unescape(value) for name, value in fields}


class OAuthHelper:
    """Browser-side steps of the dance (tests use it through the `oauth` fixture)."""

    redirect_uri = REDIRECT_URI
    scope = RELAY_SCOPE

    def __init__(self, x: SandboxX) -> None:
        self.x = x

    def new_session(self, scope: str = RELAY_SCOPE) -> OAuth2Session:
        return OAuth2Session(self.x.client_id, self.x.client_secret, scope=scope, redirect_uri=REDIRECT_URI,
                             code_challenge_method="S256", token_endpoint_auth_method="client_secret_basic")

    def authorize(self, session: OAuth2Session, verifier: str, username: str,
                  decision: str = "allow") -> requests.Response:
        """Open the authorize page like a browser, submit its form; the redirect is returned, not followed."""
        url, _state = session.create_authorization_url(self.x.authorize_url, code_verifier=verifier)
        page = requests.get(url, timeout=5)
        assert page.status_code == 200, page.text
        return self.submit(page.text, username, decision)

    def submit(self, page_html: str, username: str, decision: str = "allow") -> requests.Response:
        """Submit the consent page's form as its buttons do."""
        form = consent_form(page_html) | {"username": username, "decision": decision}
        return requests.post(f"{self.x.base_url}/i/oauth2/authorize", data=form, allow_redirects=False, timeout=5)


@pytest.fixture
def oauth(sandbox: SandboxX) -> OAuthHelper:
    return OAuthHelper(sandbox)


@pytest.fixture
def connect(sandbox: SandboxX) -> Callable[..., Connection]:
    """Connect a user through the whole OAuth dance (to `sandbox`, or to the sandbox `x` given);
    returns the token and an authorised session."""

    def _connect(username: str, scope: str = RELAY_SCOPE, x: SandboxX | None = None) -> Connection:
        x = x or sandbox
        helper = OAuthHelper(x)
        session = helper.new_session(scope)
        verifier = generate_token(64)
        redirect = helper.authorize(session, verifier, username)
        assert redirect.status_code == 302, redirect.text
        token = session.fetch_token(x.token_url, authorization_response=redirect.headers["Location"],
                                    code_verifier=verifier)
        return Connection(username, x.users[username].id, dict(token), session)

    return _connect


@pytest.fixture
def make_sandbox(fake_clock: FakeClock, feed: list[Post]) -> Iterator[Callable[..., SandboxX]]:
    """Start another sandbox (with the feed loaded) with non-default options."""
    started: list[SandboxX] = []

    def _make(**options: object) -> SandboxX:
        x = SandboxX(**options)  # type: ignore[arg-type]
        x.start()
        started.append(x)
        x.add_posts(feed)
        return x

    yield _make
    for x in started:
        x.stop()
