"""Relay journeys against the sandboxes' truth: what people do with their access, and the promises that must hold.

A `JourneyRig` is moto (DynamoDB, KMS, SQS, SSM, Secrets Manager, SES) in-process, the sandbox X and the sandbox
Mastodon on loopback, a frozen clock and the hosted app (Chalice's test client), built once and reused by every
journey: each journey starts on an empty table and new queues, with new people (new X and Mastodon accounts).

`play` runs a `Journey` — steps of a few people, among them a hostile one and a clumsy one — through the hosted
app as their browsers would (connect, connect again, connect Mastodon from the dashboard and confirm, revoke,
approve, undo, lower the cap, rotate the dashboard link), the relay's own moves at X (removing the app), the
publish function (deliveries, two jobs refreshing at once across a token expiry) and network faults (5xx, 429,
dropped connections) during connects, refreshes and revocations; then ends access in the drawn order (the
sweep, the TTL stream). `violations` checks the sandboxes and the table after every step and at the end.

Used by tests/property/test_relay_journeys.py (hypothesis draws the journeys) and `make bench` (thousands).
"""

from __future__ import annotations

import base64
import html
import json
import re
from collections import Counter
from contextlib import ExitStack
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

import pytest

from publish_schedules import ALIVE, EVENT as SCHEDULES_EVENT, FrozenClock, enter_moto
from tests.handlers.handler_support import Browser, create_table, load_function, sqs_event

TABLE = "relaycast-journeys"
INSTANCE = "mastodon.sandbox"
HOSTED = "https://localhost"
# The publish schedules' event, with Mastodon (auto) beside X.
EVENT = {**SCHEDULES_EVENT, "name": "Journey Summit", "slug": "journey-test", "hashtags": ["#JRN26"],
         "networks": ["x", "mastodon"], "modes": {"mastodon": "auto"}, "mastodon_source": "mastodon.social"}
START = datetime(2026, 12, 1, 8, 0, tzinfo=UTC)
LAST_STEP_BEFORE = datetime(2026, 12, 2, 15, 0, tzinfo=UTC)  # steps stay inside the event (it ends 17:00 UTC)
POSTS = 4  # fresh posts of the event's expert per journey
PEOPLE = 3

REVOKED_HERE = "you revoked access from your dashboard"
REVOKED_AT_X = "access was revoked at X"
ENDED = "the event ended"
EXPIRED = "access expired"  # the TTL stream's word

# A network fault queued for the next matching request (each used once): whichever step meets it first.
FAULTS = {
    "x_token_503": ("x", "POST", "/2/oauth2/token", 503, False),
    "x_token_429": ("x", "POST", "/2/oauth2/token", 429, False),
    "x_token_drop": ("x", "POST", "/2/oauth2/token", 0, True),
    "x_revoke_503": ("x", "POST", "/2/oauth2/revoke", 503, False),
    "x_revoke_drop": ("x", "POST", "/2/oauth2/revoke", 0, True),
    "x_me_503": ("x", "GET", "/2/users/me", 503, False),
    "m_revoke_502": ("mastodon", "POST", "/oauth/revoke", 502, False),
    "m_me_503": ("mastodon", "GET", "/api/v1/accounts/verify_credentials", 503, False),
}


# What people do, weighted: connecting and approving most, the rarer moves still in most journeys.
KINDS = (("connect_x",) * 3 + ("connect_mastodon",) * 2 + ("approve",) * 3
         + ("revoke_x", "revoke_mastodon", "revoke_at_x", "undo", "lower_cap", "expire_tokens", "race", "fault", "fault",
            "new_link", "stale_link", "hostile_connect", "forged_host", "health"))
ENDINGS = ("sweep", "ttl_then_sweep", "sweep_then_ttl")


@dataclass(frozen=True)
class Step:
    """One thing that happens. `who` is the person acting (person 0 is the hostile one in hostile steps);
    `other` a victim or a post; `value` a fault, a cap or a decision."""

    kind: str
    who: int = 0
    other: int = 0
    value: int = 0


@dataclass(frozen=True)
class Journey:
    steps: tuple[Step, ...]
    ending: str = "sweep"  # sweep | ttl_then_sweep | sweep_then_ttl


class RecordingBrowser(Browser):
    """A person's browser that keeps every answer's headers for the checker."""

    def __init__(self, rig: JourneyRig, **kwargs: Any) -> None:
        super().__init__(rig.client, rig.x, **kwargs)
        self.rig = rig

    def _keep(self, answer: Any) -> Any:
        self.rig.answers.append((answer.status_code, dict(answer.headers)))
        return super()._keep(answer)


@dataclass
class Person:
    x_name: str
    m_name: str
    x_id: str
    m_id: str
    relay_id: str | None = None  # the relay this person's own browser landed on
    link: str | None = None  # their current dashboard link
    stale: list[str] = field(default_factory=list)  # links they replaced
    bound: int = EVENT["cap_per_relay"]  # the most X reposts in their name: the cap, or less once they lowered it


@dataclass
class GrantModel:
    person: int
    network: str
    reasons: set[str] = field(default_factory=lambda: {ENDED})  # the reasons its receipt may give
    replaced: bool = False  # a reconnect replaced it: no receipt, its tokens end with the reconnect


@dataclass
class Played:
    journey: Journey
    people: list[Person]
    grants: dict[str, GrantModel]
    posts: list[str]
    tokens_from: dict[str, int]  # per sandbox, how many tokens it had issued before this journey
    found: list[str] = field(default_factory=list)  # violations seen after a step
    labels: set[str] = field(default_factory=set)
    faults: int = 0


def _no_lost_answers(patch: pytest.MonkeyPatch) -> None:
    """relaycast's network timeouts (a few seconds) made long for the sandboxes: on a loaded machine a slow answer
    would otherwise become a lost one, and a token whose answer never reached relaycast is one it never received,
    which the checker cannot tell from one relaycast lost. What relaycast does on a timeout is tested apart
    (the faults here drop connections on purpose; `tests/unit/test_netguard.py` times out a slow server)."""
    from relaycast import netguard
    from relaycast.networks import x

    patient = (60.0, 120.0)
    from_env = netguard.NetGuard.from_env.__func__  # type: ignore[attr-defined]
    patch.setattr(netguard.NetGuard, "from_env", classmethod(lambda cls, environ=None, **kw: from_env(
        cls, environ, **{"timeout": patient, **kw})))
    patch.setattr(x, "TIMEOUT", patient)
    patch.setattr(netguard, "BODY_DEADLINE", patient[1])


class JourneyRig:
    """moto + the sandboxes + a frozen clock + the hosted app, for many journeys; undone on exit."""

    def __init__(self, *, region: str = "eu-west-3") -> None:
        self.region = region
        self.clock = FrozenClock(START)
        self.examples = 0
        self.answers: list[tuple[int, dict[str, str]]] = []
        self._stack = ExitStack()
        self._mastodon_faults: list[str] = []

    def __enter__(self) -> JourneyRig:
        import boto3
        from chalice.test import Client

        from relaycast.storage import Store
        from relaycast_local.sandbox_mastodon import SandboxMastodon
        from relaycast_local.sandbox_x import SandboxX

        self._patch = patch = self._stack.enter_context(pytest.MonkeyPatch.context())
        _no_lost_answers(patch)
        self.config = enter_moto(self._stack, patch, event=EVENT, region=self.region, frozen=self.clock, name="journeys", quiet_to="ERROR",
                                 HOSTED_PAGE_URL=f"{HOSTED}/")
        self.dynamodb = boto3.client("dynamodb")
        self.sqs = boto3.client("sqs")
        boto3.client("ses").verify_email_identity(EmailAddress="relaycast@example.org")
        self.x = self._stack.enter_context(SandboxX(client_id="cid", client_secret="csecret", bearer_token="bearer"))
        self.mastodon = self._stack.enter_context(SandboxMastodon(domain=INSTANCE))
        create_table(TABLE)
        for name, value in {
            "TABLE_NAME": TABLE,
            "TOKEN_KEY_ID": boto3.client("kms").create_key()["KeyMetadata"]["Arn"],
            "EVENT_CONFIG_PARAMETER": "/relaycast/journeys/config",
            "APP_SECRET_NAME": "relaycast/journeys/app",
            "X_API_BASE": self.x.base_url,
            "X_AUTHORIZE_URL": self.x.authorize_url,
            **self.mastodon.env(),
        }.items():
            patch.setenv(name, value)
        self.store = Store(TABLE)
        self.app_module = load_function("oauth", "app")
        self.client = self._stack.enter_context(Client(self.app_module.app))
        self.publish = load_function("publish").handler
        self.expire = load_function("expire").handler
        self._new_queues()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stack.close()

    def _new_queues(self) -> None:
        """moto's queues keep what a journey left; each journey gets its own (and the settings read them)."""
        from relaycast import settings as settings_module
        from relaycast.settings import Settings

        self.publish_url = self.sqs.create_queue(QueueName=f"publish-{self.examples}")["QueueUrl"]
        self.end_url = self.sqs.create_queue(QueueName=f"end-grant-{self.examples}")["QueueUrl"]
        self._patch.setenv("PUBLISH_QUEUE_URL", self.publish_url)
        self._patch.setenv("END_GRANT_QUEUE_URL", self.end_url)
        settings_module.reset_caches()
        self.settings = Settings.from_env()

    def begin(self) -> None:
        self.examples += 1
        self.clock.at = START
        self.answers = []
        self.x.clear_faults()
        self.x.reset_rate_limits()
        self.mastodon.clear_faults(self._mastodon_faults)  # those a journey queued but no request met
        self._mastodon_faults = []
        self.dynamodb.delete_table(TableName=TABLE)
        create_table(TABLE)
        self._new_queues()

    def fault(self, name: str) -> None:
        network, method, path, status, drop = FAULTS[name]
        if network == "x":
            self.x.fail_next(method, path, status=status or 503, drop=drop)
        else:
            self._mastodon_faults.append(self.mastodon.fault(
                {"match": {"path": path}, "effect": {"type": "status", "status": status}, "count": 1}))

    def issued(self, played: Played) -> list[tuple[Any, str]]:
        """Every token the sandboxes issued to relays during this journey, with the sandbox that issued it."""
        x_tokens = [t for t in self.x.issued_tokens() if t != self.x.bearer_token][played.tokens_from["x"]:]
        m_tokens = self.mastodon.issued_tokens()[played.tokens_from["mastodon"]:]
        return [(self.x, t) for t in x_tokens] + [(self.mastodon, t) for t in m_tokens]



# --- playing a journey -----------------------------------------------------------------------------------


def play(rig: JourneyRig, journey: Journey, *, check_each_step: bool = True) -> Played:
    rig.begin()
    n = rig.examples
    people = []
    mastodon_ids = [rig.mastodon.add_account(f"j{n}m{i}") for i in range(PEOPLE)]
    for i in range(PEOPLE):
        # Each X account id is the next person's Mastodon account id: ids a hostile instance reports can
        # collide with another network's, and relay identity must not care.
        x_user = rig.x.add_user(f"j{n}x{i}", user_id=mastodon_ids[(i + 1) % PEOPLE])
        people.append(Person(f"j{n}x{i}", f"j{n}m{i}", x_user.id, mastodon_ids[i]))
    posts = [str(3_000_000_000_000 + n * 10 + i) for i in range(POSTS)]
    rig.x.add_posts([{"id": p, "text": f"Insight {p} #JRN26", "username": "amina_data", "author_id": "4000000000077",
                      "created_at": rig.clock.at - timedelta(minutes=30)} for p in posts])
    played = Played(journey, people, {}, posts,
                    {"x": len([t for t in rig.x.issued_tokens() if t != rig.x.bearer_token]),
                     "mastodon": len(rig.mastodon.issued_tokens())})
    for step in journey.steps:
        STEPS[step.kind](rig, played, step)
        drain_publish(rig, played, passes=1)
        if check_each_step:
            found = during(rig, played)
            played.found += [f"after {step.kind} of person {step.who}: {v}" for v in found]
    end_access(rig, played)
    return played


def _person(played: Played, step: Step) -> Person:
    return played.people[step.who % PEOPLE]


def _current_grant(rig: JourneyRig, person: Person, network: str) -> dict[str, Any] | None:
    return rig.store.grant(person.relay_id, network) if person.relay_id else None


def _landed(rig: JourneyRig, played: Played, who: int, answer: Any, network: str, before: str | None) -> None:
    """A person's own browser landed on a dashboard: that is their relay, and the grant is theirs."""
    from relaycast import relays

    person = played.people[who]
    token = unquote(answer.headers["Location"].split("t=", 1)[1])
    relay_id = relays.relay_from_token(rig.store, rig.settings, rig.config, token)
    if person.relay_id not in (None, relay_id):
        played.found.append(f"person {who} landed on a second relay ({relay_id}, theirs is {person.relay_id})")
    person.relay_id, person.link = relay_id, token
    grant = rig.store.grant(relay_id, network)
    if grant is not None and grant["grant_id"] not in played.grants:
        played.grants[grant["grant_id"]] = GrantModel(who, network)
        if before and before != grant["grant_id"] and before in played.grants:
            played.grants[before].replaced = True
        played.labels.add(f"{network} grant adopted")


def connect(rig: JourneyRig, played: Played, step: Step, network: str) -> None:
    """"Connect X" or "Connect Mastodon": from the person's dashboard when they have one (a new account asks
    them to confirm, which they do, or with an odd `value` decline); an account already theirs may come back
    from the event page in a new browser (the clumsy second click, another device, back after a revoke)."""
    who = step.who % PEOPLE
    person = played.people[who]
    before = (_current_grant(rig, person, network) or {}).get("grant_id")
    account = person.x_id if network == "x" else person.m_id
    mine = person.relay_id and rig.store.identity_relay(network, INSTANCE if network == "mastodon" else None, account)
    from_page = not person.link or (mine and step.value % 2 == 1)
    browser = RecordingBrowser(rig)
    body = (f"instance={INSTANCE}&" if network == "mastodon" else "") + ("email=" if from_page else f"t={person.link}")
    started = browser.post(f"/connect/{network}", body)
    if started.status_code != 302:
        played.labels.add(f"connect {network} answered {started.status_code}")
        return
    if network == "x":
        answer = browser.get(browser.consent(started.headers["Location"], person.x_name))
    else:
        params = rig.mastodon.consent(started.headers["Location"], person.m_name)
        answer = browser.get(f"/callback/mastodon?{'&'.join(f'{k}={v}' for k, v in params.items())}")
    if answer.status_code == 200 and 'name="l"' in answer.body.decode():
        played.labels.add("asked to confirm a new account")
        answer = browser.answer_link(answer, "link" if step.value % 2 == 0 else "cancel")
    if answer.status_code == 303:
        _landed(rig, played, who, answer, network, before)
        if before:
            played.labels.add(f"connected {network} again")
    else:
        played.labels.add(f"connect {network} ended {answer.status_code}")


def revoke(rig: JourneyRig, played: Played, step: Step, network: str) -> None:
    person = _person(played, step)
    grant = _current_grant(rig, person, network)
    if not person.link or grant is None:
        return
    if grant["grant_id"] in played.grants:
        played.grants[grant["grant_id"]].reasons.add(REVOKED_HERE)
    answer = RecordingBrowser(rig).post("/relay/revoke", f"t={person.link}&network={network}")
    played.labels.add(f"revoke {network} answered {answer.status_code}")


def revoke_at_x(rig: JourneyRig, played: Played, step: Step) -> None:
    """The relay removes the app in X's settings: their grant there dies, every token of it."""
    person = _person(played, step)
    grant = _current_grant(rig, person, "x")
    if grant is None:
        return
    played.grants[grant["grant_id"]].reasons.add(REVOKED_AT_X)
    rig.x.remove_app(person.x_name)
    played.labels.add("revoked at X")


def approve(rig: JourneyRig, played: Played, step: Step) -> None:
    """A post proposed to the relay, approved from their dashboard (a second click is harmless)."""
    person = _person(played, step)
    grant = _current_grant(rig, person, "x")
    if grant is None or not person.link:
        return
    post = played.posts[step.other % POSTS]
    _propose(rig, person, post)
    answer = RecordingBrowser(rig).post("/relay/approve", f"t={person.link}&network=x&post={post}")
    played.labels.add(f"approve answered {answer.status_code}")


def _propose(rig: JourneyRig, person: Person, post: str) -> None:
    """The post proposed to the relay, as a round does (once)."""
    rig.store.put_new({"pk": f"RELAY#{person.relay_id}", "sk": f"PROPOSAL#x#{post}", "kind": "proposal",
                       "relay_id": person.relay_id, "network": "x", "post_id": post, "status": "pending",
                       "proposal_expires_at": rig.clock.epoch() + 12 * 3600})


def undo(rig: JourneyRig, played: Played, step: Step) -> None:
    person = _person(played, step)
    if not person.relay_id or not person.link:
        return
    published = [i for i in rig.store.relay_items(person.relay_id, "LEDGER#x#") if i["status"] == "published"]
    if published:
        answer = RecordingBrowser(rig).post("/relay/undo", f"t={person.link}&network=x&post={published[0]['post_id']}")
        played.labels.add(f"undo answered {answer.status_code}")


def lower_cap(rig: JourneyRig, played: Played, step: Step) -> None:
    person = _person(played, step)
    grant = _current_grant(rig, person, "x")
    if person.link and grant:
        answer = RecordingBrowser(rig).post("/relay/cap", f"t={person.link}&network=x&cap={step.value % 3}")
        if answer.status_code == 303:  # reservations already counted stand; no new one passes the lower cap
            person.bound = min(person.bound, max(step.value % 3, int(grant["published_count"])))
        played.labels.add(f"lower cap answered {answer.status_code}")


def expire_tokens(rig: JourneyRig, played: Played, step: Step) -> None:
    """Time passes beyond the access tokens' two hours (never past the event's last hours)."""
    if rig.clock.at + timedelta(hours=2, minutes=30) <= LAST_STEP_BEFORE:
        rig.clock.at += timedelta(hours=2, minutes=30)
        played.labels.add("tokens expired")


def race(rig: JourneyRig, played: Played, step: Step) -> None:
    """Two publish jobs of one relay across a token expiry: the second arrives while the first waits for X's
    answer to its refresh."""
    from relaycast.networks.x import XNetwork

    person = _person(played, step)
    grant = _current_grant(rig, person, "x")
    if grant is None:
        return
    expire_tokens(rig, played, step)
    first, second = played.posts[step.other % POSTS], played.posts[(step.other + 1) % POSTS]
    for post in (first, second):  # both approved (their messages are the two jobs below)
        _propose(rig, person, post)
        rig.store.decide_proposal(person.relay_id, "x", post, "approved")
    jobs = [{"relay_id": person.relay_id, "network": "x", "post_id": p} for p in (first, second)]
    real_refresh = XNetwork.refresh
    inner: list[dict[str, Any]] = []

    def refresh_while_the_other_job_runs(self: Any, token: str) -> Any:
        if not inner:
            inner.append(invoke(rig.publish, sqs_event(jobs[1])))
        return real_refresh(self, token)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(XNetwork, "refresh", refresh_while_the_other_job_runs)
        outer = invoke(rig.publish, sqs_event(jobs[0]))
    for job, done in ((jobs[0], outer), (jobs[1], inner[0] if inner else False)):
        if not done:  # SQS delivers it again
            rig.sqs.send_message(QueueUrl=rig.publish_url, MessageBody=json.dumps(job))
    played.labels.add("refresh race" + (" met" if inner else " without a refresh"))


def fault(rig: JourneyRig, played: Played, step: Step) -> None:
    if played.faults < 3:  # bounded: the end's retries outlast them
        name = sorted(FAULTS)[step.value % len(FAULTS)]
        rig.fault(name)
        played.faults += 1
        played.labels.add(f"fault {name}")


def new_link(rig: JourneyRig, played: Played, step: Step) -> None:
    """"Send me a new link": the old one stops working (the hostile person may have seen it)."""
    person = _person(played, step)
    if not person.link:
        return
    answer = RecordingBrowser(rig).post("/relay/newlink", f"t={person.link}")
    if answer.status_code == 303:
        person.stale.append(person.link)
        person.link = unquote(parse_qs(urlsplit(answer.headers["Location"]).query)["t"][0])
        played.labels.add("link replaced")


def stale_link(rig: JourneyRig, played: Played, step: Step) -> None:
    """Someone uses a replaced dashboard link (the relay replaces theirs first if they never did): to look, and
    to revoke."""
    person = _person(played, step)
    if not person.stale:
        new_link(rig, played, step)
    if not person.stale:
        return
    old = person.stale[step.other % len(person.stale)]
    browser = RecordingBrowser(rig)
    looked = browser.get(f"/relay?t={old}")
    before = _current_grant(rig, person, "x")
    acted = browser.post("/relay/revoke", f"t={old}&network=x")
    if looked.status_code < 400 or acted.status_code < 400 or (before and not _current_grant(rig, person, "x")):
        played.found.append(f"a replaced dashboard link still works ({looked.status_code}, {acted.status_code})")
    played.labels.add("stale link used")


def hostile_connect(rig: JourneyRig, played: Played, step: Step) -> None:
    """Person 0's page makes a victim's browser POST /connect/x with person 0's dashboard link; the victim goes
    through X's consent page (they are used to it) and declines whatever relaycast then asks them."""
    attacker, victim = played.people[0], played.people[1 + step.other % (PEOPLE - 1)]
    if not attacker.link:
        return
    browser = RecordingBrowser(rig)
    cross = {"Content-Type": "application/x-www-form-urlencoded", "Origin": "https://evil.example",
             "Sec-Fetch-Site": "cross-site"}
    started = browser._keep(rig.client.http.post("/connect/x", body=f"t={attacker.link}", headers=cross))
    played.labels.add(f"cross-site connect answered {started.status_code}")
    if started.status_code != 302:
        return
    answer = browser.get(browser.consent(started.headers["Location"], victim.x_name))
    if answer.status_code == 200 and 'name="l"' in answer.body.decode():
        answer = browser.answer_link(answer, "cancel")


def forged_host(rig: JourneyRig, played: Played, step: Step) -> None:
    """A request whose Host and X-Forwarded-* name another site: links and redirect URIs stay relaycast's."""
    person = _person(played, step)
    browser = RecordingBrowser(rig)
    headers = {"Host": "evil.example", "X-Forwarded-Host": "evil.example", "X-Forwarded-Proto": "http"}
    answer = browser._keep(rig.client.http.post("/connect/x", body="email=",
                                                headers={**headers, "Content-Type": "application/x-www-form-urlencoded"}))
    if answer.status_code == 302:
        redirect = parse_qs(urlsplit(answer.headers["Location"]).query).get("redirect_uri", [""])[0]
        if redirect != f"{HOSTED}/callback/x":
            played.found.append(f"a redirect URI built from the request's headers: {redirect}")
    if person.link:
        page = browser._keep(rig.client.http.get(f"/relay?t={person.link}", headers=headers))
        links = re.findall(r'(?:href|action)="(https?://[^"]+)"', page.body.decode())
        foreign = [u for u in links if urlsplit(html.unescape(u)).netloc == "evil.example"]
        if foreign:
            played.found.append(f"a dashboard link built from the request's headers: {foreign[0]}")
    played.labels.add("forged host")


def health(rig: JourneyRig, played: Played, step: Step) -> None:
    RecordingBrowser(rig).get("/health")
    RecordingBrowser(rig).get("/relay/revoke")  # a 405 (an unknown path is API Gateway's own answer, before the app)


STEPS = {
    "connect_x": lambda rig, played, step: connect(rig, played, step, "x"),
    "connect_mastodon": lambda rig, played, step: connect(rig, played, step, "mastodon"),
    "revoke_x": lambda rig, played, step: revoke(rig, played, step, "x"),
    "revoke_mastodon": lambda rig, played, step: revoke(rig, played, step, "mastodon"),
    "revoke_at_x": revoke_at_x,
    "approve": approve,
    "undo": undo,
    "lower_cap": lower_cap,
    "expire_tokens": expire_tokens,
    "race": race,
    "fault": fault,
    "new_link": new_link,
    "stale_link": stale_link,
    "hostile_connect": hostile_connect,
    "forged_host": forged_host,
    "health": health,
}


def invoke(handler: Any, event: dict[str, Any]) -> bool:
    """One invocation as Lambda runs it; False when it failed (every record of it comes back)."""
    try:
        return not handler(event, ALIVE).get("batchItemFailures")
    except Exception:  # noqa: BLE001 — Powertools raises when a whole batch failed; SQS delivers it again
        return False


def deliver(rig: JourneyRig, queue_url: str, handler: Any) -> int:
    """One pass of the event source mapping over what the queue holds now, one message per invocation (with its
    real receive count); failed messages become visible again after the pass. Returns how many it delivered."""
    handles, delivered = [], 0
    while True:
        messages = rig.sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10, VisibilityTimeout=300,
                                           MessageSystemAttributeNames=["All"]).get("Messages", [])
        if not messages:
            break
        for message in messages:
            delivered += 1
            receives = int(message["Attributes"]["ApproximateReceiveCount"])
            if invoke(handler, sqs_event(message["Body"], receives=receives)):
                rig.sqs.delete_message(QueueUrl=queue_url, ReceiptHandle=message["ReceiptHandle"])
            else:
                handles.append(message["ReceiptHandle"])
    for handle in handles:
        rig.sqs.change_message_visibility(QueueUrl=queue_url, ReceiptHandle=handle, VisibilityTimeout=0)
    return delivered


def drain_publish(rig: JourneyRig, played: Played, passes: int) -> None:
    for _ in range(passes):
        if not deliver(rig, rig.publish_url, rig.publish):
            return


def end_access(rig: JourneyRig, played: Played) -> None:
    """The rest of the publish queue, then access ends in the journey's order: the sweep and its end-grant
    messages, and the TTL stream for what the table's TTL would delete."""
    drain_publish(rig, played, passes=6)
    rig.clock.at = rig.config.access_ends + timedelta(minutes=5)
    order = {"sweep": ("sweep",), "ttl_then_sweep": ("ttl", "sweep"), "sweep_then_ttl": ("sweep", "ttl")}
    if "ttl" in order[played.journey.ending]:
        for model in played.grants.values():
            model.reasons.add(EXPIRED)
    for path in order[played.journey.ending]:
        if path == "sweep":
            rig.expire({"action": "sweep"}, ALIVE)
            for _ in range(8):  # the end-grant queue's receives (its budget gives up at the fifth)
                if not deliver(rig, rig.end_url, rig.expire):
                    break
        else:
            ttl_stream(rig)


def ttl_stream(rig: JourneyRig) -> None:
    """What DynamoDB's TTL would delete now (grants and custodies past `expires_at`), deleted and streamed to
    the expire function as REMOVE records."""
    from boto3.dynamodb.types import Binary, TypeSerializer

    serializer = TypeSerializer()
    records = []
    for item in rig.store.table.scan()["Items"]:
        if item.get("kind") not in ("grant", "custody") or int(item.get("expires_at", rig.clock.epoch() + 1)) > rig.clock.epoch():
            continue
        rig.store.delete(item["pk"], item["sk"])
        # A stream record carries binary attributes (the sealed tokens) in base64.
        image = {k: {"B": base64.b64encode(bytes(v.value)).decode()} if isinstance(v, Binary) else serializer.serialize(v)
                 for k, v in item.items()}
        records.append({"eventName": "REMOVE", "eventSource": "aws:dynamodb",
                        "userIdentity": {"type": "Service", "principalId": "dynamodb.amazonaws.com"},
                        "dynamodb": {"OldImage": image}})
    for record in records:
        for _ in range(5):  # the stream retries a failed batch
            try:
                rig.expire({"Records": [record]}, ALIVE)
                break
            except Exception:  # noqa: BLE001 — a transient failure: the stream delivers the record again
                continue


# --- the invariants ----------------------------------------------------------------------------------------


def during(rig: JourneyRig, played: Played) -> list[str]:
    """After every step: no live token outside custody, one relay per person, no relay holding another's (read
    from one scan of the table)."""
    from relaycast import credentials

    found = []
    items = rig.store.table.scan()["Items"]
    held = {f for c in items if c.get("kind") == "custody" for f in credentials.fingerprints(rig.config, c)}
    for network, token in rig.issued(played):
        if network.is_token_active(token) and credentials.fingerprint(token) not in held:
            found.append(f"a live {network_name(rig, network)} token is in no custody")
            break
    found += identity_violations(played, items)
    return found


def network_name(rig: JourneyRig, sandbox: Any) -> str:
    return "X" if sandbox is rig.x else "Mastodon"


def identity_violations(played: Played, items: list[dict[str, Any]]) -> list[str]:
    found = []
    owner = {p.relay_id: i for i, p in enumerate(played.people) if p.relay_id}
    if len(owner) != len([p for p in played.people if p.relay_id]):
        found.append("two people share one relay")
    accounts = {("x", p.x_id): i for i, p in enumerate(played.people)} | {("mastodon", p.m_id): i for i, p in enumerate(played.people)}
    for grant in (i for i in items if i.get("kind") == "grant"):
        person = accounts.get((grant["network"], str(grant.get("user_id"))))
        holder = owner.get(grant["relay_id"])
        if person is None or holder != person:
            found.append(f"the relay of person {holder} holds the {grant['network']} grant of person {person}")
    for item in items:
        if not item["pk"].startswith("IDENTITY#"):
            continue
        _, network, _instance, account = item["pk"].split("#", 3)
        person = accounts.get((network, account))
        if person is not None and item["relay_id"] != played.people[person].relay_id:
            found.append(f"person {person}'s {network} account is mapped to another relay")
    return found


def violations(rig: JourneyRig, played: Played) -> list[str]:
    """Everything the journey broke: what was seen after steps, and the state once access has ended."""
    found = list(played.found)
    issued = rig.issued(played)
    live = [(net, t) for net, t in issued if net.is_token_active(t)]
    if live:
        found.append(f"{len(live)} token(s) still live after the end ({network_name(rig, live[0][0])})")
    items = rig.store.table.scan()["Items"]
    leftovers = Counter(i["kind"] for i in items if i.get("kind") in ("grant", "custody"))
    if leftovers:
        found.append(f"left in the table after the end: {dict(leftovers)}")
    found += receipt_violations(rig, played, issued)
    found += identity_violations(played, items)
    found += cap_violations(rig, played)
    found += [f"an answer without the security headers ({status}: {sorted(headers)})" for status, headers in rig.answers
              if "Content-Security-Policy" not in headers or headers.get("X-Content-Type-Options") != "nosniff"][:1]
    return found


def receipt_violations(rig: JourneyRig, played: Played, issued: list[tuple[Any, str]]) -> list[str]:
    from relaycast import credentials

    found = []
    by_fingerprint = {credentials.fingerprint(t): (net, t) for net, t in issued}
    receipts = [r for p in played.people if p.relay_id for r in rig.store.receipts(p.relay_id)]
    seen = Counter(r.get("grant_id") for r in receipts)
    for grant_id, model in played.grants.items():
        expected = 0 if model.replaced else 1
        if seen[grant_id] != expected:
            found.append(f"{seen[grant_id]} receipt(s) for a {model.network} grant of person {model.person} "
                         f"({'replaced by a reconnect' if model.replaced else 'that ended'})")
    for receipt in receipts:
        model = played.grants.get(receipt.get("grant_id"))
        if model is None:
            found.append("a receipt for a grant nobody connected")
            continue
        if receipt.get("status") != "done":
            found.append(f"a receipt left {receipt.get('status')}")
        if receipt["reason"] not in model.reasons:
            found.append(f"a receipt says {receipt['reason']!r} for a grant whose relay did {sorted(model.reasons)}")
        named = [by_fingerprint.get(f) for f in receipt.get("token_fingerprints", [])]
        if not named or None in named:
            found.append("a receipt names a token the network never issued (or none)")
            continue
        alive = any(net.is_token_active(t) for net, token in named for t in net.tokens_of_grant(token))
        if bool(receipt.get("confirmed")) == alive:
            found.append("a receipt says confirmed while a token of its grant is live" if alive
                         else "a receipt says unconfirmed though every token of its grant is dead")
        if not receipt.get("confirmed"):
            found.append("a receipt unconfirmed though the faults were few")
    return found


def cap_violations(rig: JourneyRig, played: Played) -> list[str]:
    found = []
    users = {p.x_id: i for i, p in enumerate(played.people)}
    reposts = Counter((r.user_id, r.tweet_id) for r in rig.x.repost_log if r.user_id in users and not r.duplicate
                      and r.tweet_id in played.posts)
    if any(n > 1 for n in reposts.values()):
        found.append("a post reposted twice for one relay")
    per_user = Counter(user for user, _ in reposts)
    for user, count in per_user.items():
        if count > played.people[users[user]].bound:
            found.append(f"person {users[user]} reposted {count} posts, over their cap")
    for person in played.people:
        if not person.relay_id:
            continue
        ledger = [i for i in rig.store.relay_items(person.relay_id, "LEDGER#x#") if i["status"] in ("published", "undone")]
        counted = {i["post_id"] for i in ledger}
        made = {post for user, post in reposts if user == person.x_id}
        if not made <= counted:
            found.append("a repost X made that the relay's ledger does not count")
    return found
