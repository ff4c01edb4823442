"""The event config: one file per event, validated before anything runs.

Every problem is reported with the field it concerns and how to fix it, all at once, so an organiser
fixes the file in one pass instead of one error per run.
"""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Annotated, Any, Literal, NamedTuple
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import (
    AfterValidator,
    AliasChoices,
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from relaycast.policy import modes_allowed, policy

KNOWN_NETWORKS = ("x", "mastodon", "bluesky", "linkedin")
# Networks an organiser may ask for that relaycast does not offer, and why.
NOT_OFFERED = {
    "facebook": "publishing to a personal profile through the API ended on 1 August 2018; Pages belong to organisations, not relays",
    "googleplus": "Google+ closed to consumers in April 2019",
    "viadeo": "Viadeo documents no API to publish through",
}
LANGUAGES = ("en", "fr")

# A hint per kind of mistake, shown next to pydantic's message.
_FIXES = {
    "missing": "add this field",
    "extra_forbidden": "remove this field or check its spelling",
    "greater_than_equal": "use a larger value",
    "less_than_equal": "use a smaller value",
    "string_pattern_mismatch": "use lowercase letters, digits and dashes",
    "datetime_from_date_parsing": "write it as YYYY-MM-DDTHH:MM, e.g. 2026-12-01T09:00",
    "datetime_parsing": "write it as YYYY-MM-DDTHH:MM, e.g. 2026-12-01T09:00",
    "literal_error": "use one of the values listed",
    "too_short": "give at least one value",
    "too_long": "list fewer values",
    "string_too_long": "shorten it",
}


def _email_address(value: str) -> str:
    if not re.fullmatch(r"[^@\s]+@[^@\s]+\.[^@\s]+", value):
        raise ValueError(f"'{value}' is not an e-mail address")
    return value


EmailAddress = Annotated[str, AfterValidator(_email_address)]


class ConfigProblem(BaseModel):
    field: str
    problem: str
    fix: str

    def __str__(self) -> str:
        return f"{self.field}: {self.problem} — fix: {self.fix}"


class EventConfigError(ValueError):
    """The event config is invalid; `problems` lists each one with its field and a fix."""

    def __init__(self, problems: list[ConfigProblem], source: str = "event config"):
        self.problems = problems
        self.source = source
        lines = "\n".join(f"  - {p}" for p in problems)
        super().__init__(f"{source} has {len(problems)} problem(s):\n{lines}")


class Expert(BaseModel):
    model_config = ConfigDict(extra="forbid")

    handle: Annotated[str, Field(min_length=1, max_length=64)]
    weight: Annotated[float, Field(gt=0, le=10)] = 1.0
    # The same person on Mastodon, as @user@instance: their statuses under the event's tag count as an expert's.
    mastodon: Annotated[str, Field(max_length=320)] | None = None
    # The same person on Bluesky, by handle (e.g. amina.bsky.social).
    bluesky: Annotated[str, Field(max_length=253)] | None = None

    @field_validator("handle")
    @classmethod
    def _normalise_handle(cls, value: str) -> str:
        handle = value.strip().lstrip("@").lower()
        if not re.fullmatch(r"[a-z0-9_]{1,50}", handle):
            raise ValueError(f"'{value}' is not a handle (letters, digits and _ after an optional @)")
        return handle

    @field_validator("mastodon")
    @classmethod
    def _normalise_account(cls, value: str | None) -> str | None:
        if value is None:
            return None
        account = value.strip().lstrip("@").lower()
        if not re.fullmatch(r"[a-z0-9_]{1,30}@[a-z0-9-]+(\.[a-z0-9-]+)+", account):
            raise ValueError(f"'{value}' is not a Mastodon account (@user@instance)")
        return account

    @field_validator("bluesky")
    @classmethod
    def _normalise_bluesky(cls, value: str | None) -> str | None:
        if value is None:
            return None
        handle = value.strip().lstrip("@").lower()
        if not re.fullmatch(r"([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]([a-z0-9-]{0,61}[a-z0-9])?", handle) or len(handle) > 253:
            raise ValueError(f"'{value}' is not a Bluesky handle (e.g. amina.bsky.social)")
        return handle


class Moderation(BaseModel):
    """A moderator approves or rejects each round's picks before any relay sees them."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    moderator_email: EmailAddress
    # How long a round waits for the moderator; then `on_timeout` applies.
    timeout_minutes: Annotated[int, Field(ge=5, le=720)] = 60
    on_timeout: Literal["approve-all", "skip-round"] = "skip-round"


class Speaker(NamedTuple):
    """A programme speaker as the organiser wrote them: a name, an @handle, or both ("Jane Doe @jdoe")."""

    label: str  # as written, for the reasons
    name: str  # "" when only a handle is given
    handle: str  # lower case, without "@"; "" when only a name is given


_SPEAKER_HANDLE = re.compile(r"\(?@(\w{1,50})\)?")
_SPEAKER_NAME = re.compile(r"[^\W\d_][\w'’.-]*(?:\s+[^\W\d_][\w'’.-]*){0,4}")


def speaker_of(value: str) -> Speaker:
    """A name of up to five words and/or one @handle (X, or the user part of @user@instance)."""
    handles = _SPEAKER_HANDLE.findall(value)
    name = " ".join(_SPEAKER_HANDLE.sub(" ", value).split())
    if len(handles) > 1 or (name and not _SPEAKER_NAME.fullmatch(name)) or not (name or handles):
        raise ValueError(f"'{value}' is not a speaker (a name, an @handle, or both: \"Jane Doe @jdoe\")")
    return Speaker(label=" ".join(value.split()), name=name, handle=handles[0].lower() if handles else "")


def _speaker(value: str) -> str:
    return speaker_of(value).label


#: The most sessions a programme lists, and the longest abstract: the whole event file must fit the 8 KB of the
#: SSM parameter that hands it to the functions (`infra/storage.py`), and a round reads it every time.
MAX_SESSIONS = 80
MAX_ABSTRACT = 400
CONFIG_LIMIT = 8192  # bytes of the config as JSON: SSM's advanced tier


class Session(BaseModel):
    """One session of the programme: what it is about and who speaks, so selection can tell posts about the
    event from posts that only carry its hashtag, credit its speakers, and spread picks over sessions."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    title: Annotated[str, Field(min_length=1, max_length=120)]
    speakers: Annotated[list[Annotated[str, Field(min_length=1, max_length=80), AfterValidator(_speaker)]],
                        Field(max_length=8)] = []
    # Local to the event's time zone unless they carry an offset, like the event's own start and end.
    start: datetime | None = None
    end: datetime | None = None
    room: Annotated[str, Field(min_length=1, max_length=60)] | None = None
    abstract: Annotated[str, Field(max_length=MAX_ABSTRACT)] | None = Field(
        default=None, validation_alias=AliasChoices("abstract", "description"))

    @field_validator("title", "room", "abstract")
    @classmethod
    def _one_line(cls, value: str | None) -> str | None:
        return None if value is None else " ".join(value.split())

    @model_validator(mode="after")
    def _times(self) -> Session:
        if (self.start is None) != (self.end is None):
            raise ValueError("give both start and end, or neither")
        return self

    @property
    def speaker_refs(self) -> list[Speaker]:
        return [speaker_of(s) for s in self.speakers]


#: The default `quality_floor` (insight's quality scale: chatter ends below 2).
QUALITY_FLOOR = 2.0
_HOSTNAME = re.compile(r"([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]([a-z0-9-]{0,61}[a-z0-9])?")


def _hostname(value: str) -> str:
    name = value.strip().lower().rstrip(".")
    if not _HOSTNAME.fullmatch(name) or len(name) > 253:
        raise ValueError(f"'{value}' is not a domain name (e.g. relay.x27.example)")
    return name


class Domain(BaseModel):
    """The hosted page on the organiser's own name (an ACM certificate and an API Gateway custom domain). With
    a Route 53 zone of the account, relaycast validates the certificate and points the name itself; without, the
    deploy waits until the organiser adds the validation record ACM shows, and the name's CNAME is theirs to add."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str
    hosted_zone_id: Annotated[str, Field(pattern=r"^Z[A-Z0-9]{1,31}$")] | None = None
    hosted_zone_name: str | None = None

    @field_validator("name", "hosted_zone_name")
    @classmethod
    def _names(cls, value: str | None) -> str | None:
        return None if value is None else _hostname(value)

    @model_validator(mode="after")
    def _zone(self) -> Domain:
        if (self.hosted_zone_id is None) != (self.hosted_zone_name is None):
            raise ValueError("give both hosted_zone_id and hosted_zone_name (a Route 53 zone), or neither")
        if self.hosted_zone_name and not (self.name == self.hosted_zone_name or self.name.endswith("." + self.hosted_zone_name)):
            raise ValueError(f"'{self.name}' is not in the zone {self.hosted_zone_name}")
        return self


class EventConfig(BaseModel):
    """What the organiser writes; times are local to `timezone` unless they carry an offset."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: Annotated[str, Field(min_length=1, max_length=120)]
    slug: Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9-]{1,40}[a-z0-9]$")]
    hashtags: Annotated[list[str], Field(min_length=1, max_length=5)]
    timezone: str
    start: datetime
    end: datetime
    experts: list[Expert] = []
    networks: Annotated[list[str], Field(min_length=1)] = ["x"]
    # Per network: "approve-each" (the relay approves every post), "auto" where the network allows it, or
    # "share-link" (no token at all: the relay opens the network's own repost or boost page and clicks there).
    modes: dict[str, Literal["auto", "approve-each", "share-link"]] = {}
    # LinkedIn posts the organiser wants reshared (their links, or share/ugcPost URNs): LinkedIn's own picks, since
    # relaycast cannot search LinkedIn.
    linkedin_posts: Annotated[list[Annotated[str, Field(max_length=500)]], Field(max_length=50)] = []
    # The instance whose public timeline of the event's hashtags relaycast reads (required with mastodon).
    mastodon_source: Annotated[str, Field(max_length=253)] | None = None
    cap_per_relay: Annotated[int, Field(ge=1, le=50)] = 8
    # Per network, the most relays it takes at once (X's app cap sets one of its own; the lower one applies).
    max_relays: dict[str, Annotated[int, Field(ge=1)]] = {}
    grace_hours: Annotated[float, Field(ge=0, le=168)] = 2
    poll_interval_minutes: Annotated[int, Field(ge=1, le=60)] = 5
    notice_sender: EmailAddress
    languages: Annotated[list[Literal["en", "fr"]], Field(min_length=1)] = ["en"]
    receipt_retention_days: Annotated[int, Field(ge=1, le=400)] = 90
    proposal_ttl_hours: Annotated[float, Field(gt=0, le=72)] = 12
    moderation: Moderation | None = None
    # The hosted page on the organiser's own domain; absent: API Gateway's own address.
    domain: Domain | None = None
    # Each approved publish waits its own delay in [0, this] seconds: many relays approving one post at once
    # must not become a burst of identical actions.
    publish_jitter_seconds: Annotated[int, Field(ge=0, le=900)] = 120
    # A relay's night, local to their own time zone (the event's unless they chose one): nothing is published in
    # their name from start to end, "22:00-07:00" crossing midnight; null or off turns it off.
    quiet_hours: str | None = "22:00-07:00"
    # The least a post must carry to be picked, the expert's weight and engagement left out (insight.Scored.quality);
    # a post also needs one substance reason. A round with nothing above it picks nothing.
    quality_floor: Annotated[float, Field(ge=0, le=10)] = QUALITY_FLOOR
    # The sessions, optional (`Session`): their titles, abstracts and speakers tell selection what the event is about.
    programme: Annotated[list[Session], Field(max_length=MAX_SESSIONS)] = []
    # Where the organiser publishes the event's public summary (`relaycast report`'s page): each receipt links it.
    summary_url: Annotated[str, Field(max_length=500)] | None = None

    @field_validator("hashtags")
    @classmethod
    def _normalise_hashtags(cls, values: list[str]) -> list[str]:
        tags = []
        for value in values:
            tag = value.strip().lstrip("#")
            if not re.fullmatch(r"\w{1,100}", tag):
                raise ValueError(f"'{value}' is not a hashtag (letters, digits and _ after an optional #)")
            tags.append(tag)
        return tags

    @field_validator("timezone")
    @classmethod
    def _known_timezone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"'{value}' is not an IANA time zone") from None
        return value

    @field_validator("quiet_hours", mode="before")
    @classmethod
    def _quiet_hours(cls, value: Any) -> str | None:
        if value is None or value is False or (isinstance(value, str) and value.strip().lower() in ("off", "")):
            return None  # YAML reads a bare off as False
        found = re.fullmatch(r"\s*(\d{1,2}):(\d{2})\s*-\s*(\d{1,2}):(\d{2})\s*", value) if isinstance(value, str) else None
        if not found or int(found[1]) > 23 or int(found[3]) > 23 or int(found[2]) > 59 or int(found[4]) > 59:
            raise ValueError(f"'{value}' is not a start and end time (HH:MM-HH:MM)")
        start, end = f"{int(found[1]):02d}:{found[2]}", f"{int(found[3]):02d}:{found[4]}"
        if start == end:
            raise ValueError(f"'{value}' starts and ends at the same time")
        return f"{start}-{end}"

    @field_validator("summary_url")
    @classmethod
    def _summary_url(cls, value: str | None) -> str | None:
        if value is None:
            return None
        parts = urlsplit(value.strip())
        if parts.scheme != "https" or not parts.hostname or parts.username or parts.password:
            raise ValueError(f"'{value[:80]}' is not an https address (e.g. https://example.org/x27/summary)")
        return parts.geturl()

    @field_validator("linkedin_posts")
    @classmethod
    def _linkedin_posts(cls, values: list[str]) -> list[str]:
        from relaycast.networks.base import NetworkError
        from relaycast.networks.linkedin import post_urn  # only when an event lists some

        urns = []
        for value in values:
            try:
                urns.append(post_urn(value))
            except NetworkError:
                raise ValueError(f"'{value[:80]}' is not a LinkedIn post's link (it names no share or ugcPost)") from None
        if len(set(urns)) != len(urns):
            raise ValueError("a LinkedIn post is listed twice")
        return urns

    @field_validator("networks")
    @classmethod
    def _known_networks(cls, values: list[str]) -> list[str]:
        for value in values:
            if value in NOT_OFFERED:
                raise ValueError(f"'{value}' is not offered: {NOT_OFFERED[value]}")
            if value not in KNOWN_NETWORKS:
                raise ValueError(f"'{value}' is not a network relaycast knows ({', '.join(KNOWN_NETWORKS)})")
        if len(set(values)) != len(values):
            raise ValueError("a network is listed twice")
        return values

    @model_validator(mode="after")
    def _localise_and_order(self) -> EventConfig:
        zone = ZoneInfo(self.timezone)
        for name in ("start", "end"):
            value: datetime = getattr(self, name)
            if value.tzinfo is None:
                object.__setattr__(self, name, value.replace(tzinfo=zone))
        if self.end <= self.start:
            raise ValueError("end is not after start")
        if self.end - self.start > timedelta(days=14):
            raise ValueError("the event lasts more than 14 days")
        for network, mode in self.modes.items():
            if network not in self.networks:
                raise ValueError(f"modes.{network}: the network is not in networks")
            if mode not in modes_allowed(network):  # the network's policy row says why
                raise ValueError(f"modes.{network}: {mode} is not allowed on {network} — {policy(network).why}")
        for network in self.max_relays:
            if network not in self.networks:
                raise ValueError(f"max_relays.{network}: the network is not in networks")
        handles = [e.handle for e in self.experts]
        if len(set(handles)) != len(handles):
            raise ValueError("an expert is listed twice")
        self._localise_programme(zone)
        if "mastodon" in self.networks and not self.mastodon_source:
            raise ValueError("mastodon_source: an event on Mastodon needs the instance whose #tag timeline relaycast reads")
        if self.mastodon_source:
            from relaycast.netguard import InstanceRejected, parse_instance

            try:
                object.__setattr__(self, "mastodon_source", parse_instance(self.mastodon_source))
            except InstanceRejected as error:
                raise ValueError(f"mastodon_source: {error}") from None
        return self

    def _localise_programme(self, zone: ZoneInfo) -> None:
        sessions = []
        for number, session in enumerate(self.programme, start=1):
            if session.start is None or session.end is None:
                sessions.append(session)
                continue
            start, end = (t if t.tzinfo else t.replace(tzinfo=zone) for t in (session.start, session.end))
            where = f"programme.{number - 1}.{{}}: {_session_label(number, session.title)}"
            if end <= start:
                raise ValueError(f"{where.format('end')} ends before it starts")
            if start < self.start or end > self.end:
                raise ValueError(f"{where.format('end' if self.start <= start < self.end else 'start')} is not within the event "
                                 f"({self.start:%Y-%m-%d %H:%M} to {self.end:%Y-%m-%d %H:%M})")
            sessions.append(session.model_copy(update={"start": start, "end": end}))
        object.__setattr__(self, "programme", sessions)
        size = len(self.to_json().encode())
        if size > CONFIG_LIMIT and self.programme:
            raise ValueError(f"programme: the event file is {size:,} bytes as JSON, more than the {CONFIG_LIMIT:,} its SSM parameter holds")

    # Derived values: one place computes them for the stack, the handlers and the demo.
    @property
    def start_utc(self) -> datetime:
        return self.start.astimezone(UTC)

    @property
    def end_utc(self) -> datetime:
        return self.end.astimezone(UTC)

    @property
    def access_ends(self) -> datetime:
        """When every grant ends: the event's end plus the grace period."""
        return self.end_utc + timedelta(hours=self.grace_hours)

    @property
    def retention_ends(self) -> int:
        """Epoch until which a relay's records (receipts, ledger, proposals) and their links are kept."""
        return int((self.access_ends + timedelta(days=self.receipt_retention_days)).timestamp())

    @property
    def search_query(self) -> str:
        """The X recent-search query: any of the hashtags, original posts only."""
        tags = " OR ".join(f"#{t}" for t in self.hashtags)
        return f"({tags}) -is:retweet" if len(self.hashtags) > 1 else f"#{self.hashtags[0]} -is:retweet"

    def mode(self, network: str) -> str:
        return self.modes.get(network, "approve-each")

    def expert_weight(self, handle: str) -> float:
        """An X handle, a Mastodon account as user@instance, or a Bluesky handle."""
        handle = handle.lstrip("@").lower()
        return next((e.weight for e in self.experts if handle in (e.handle, e.mastodon, e.bluesky)), 0.0)

    def to_json(self) -> str:
        return self.model_dump_json()


def _session_label(number: int, title: Any) -> str:
    return f'session {number} ("{str(title)[:40]}")' if title else f"session {number}"


def _field_name(loc: tuple[Any, ...]) -> str:
    parts = [str(p) for p in loc if p not in ("function-after", "function-before")]
    return ".".join(parts) or "(file)"


def _problem_from(error: dict[str, Any], data: dict[str, Any]) -> ConfigProblem:
    message = error["msg"].removeprefix("Value error, ")
    loc = error["loc"]
    if len(loc) >= 2 and loc[0] == "programme" and isinstance(loc[1], int):  # name the session, not only its index
        session = (data.get("programme") or [])[loc[1]]
        message = f"{_session_label(loc[1] + 1, session.get('title') if isinstance(session, dict) else None)}: {message}"
    fix = _FIXES.get(error["type"], "correct the value")
    if not loc:  # model-level checks name their field in the message
        field, fix = _model_level(message)
        if message.startswith("programme"):
            message = message.split(": ", 1)[1]
    else:
        field = _field_name(loc)
        if field == "timezone":
            fix = "use an IANA name such as Europe/Paris or America/New_York"
        elif field.startswith("networks"):
            fix = f"use one of: {', '.join(KNOWN_NETWORKS)}"
        elif field == "cap_per_relay":
            fix = "use a number from 1 to 50 (8 is the default)"
        elif field == "quiet_hours":
            fix = 'write local start and end times, e.g. "22:00-07:00" (it may cross midnight), or off'
        elif field == "programme":
            fix = f"list at most {MAX_SESSIONS} sessions, each as a mapping with at least a title"
        elif field.startswith("programme.") and ".speakers." in field:
            fix = 'write each speaker as a name, an @handle, or both, e.g. "Jane Doe @jdoe"'
        elif field.startswith("programme.") and field.count(".") == 1:
            fix = "give the session both a start and an end, or neither"
        elif field == "notice_sender":
            fix = "use an address of a domain you verify in SES, e.g. relaycast@example.org"
    return ConfigProblem(field=field, problem=message, fix=fix)


def _model_level(message: str) -> tuple[str, str]:
    if message.startswith("end is not after start"):
        return "end", "set end after start (both in the event's time zone)"
    if message.startswith("the event lasts"):
        return "end", "split the event into several stacks or shorten it"
    if message.startswith("modes."):
        field = message.split(":", 1)[0]
        if "not in networks" in message:
            return field, "add the network to networks or remove its mode"
        return field, "use approve-each: each relay approves every repost from their dashboard"
    if message.startswith("max_relays."):
        return message.split(":", 1)[0], "add the network to networks or remove its limit"
    if message.startswith("mastodon_source"):
        return "mastodon_source", "name a public instance where the event's hashtag is followed, e.g. mastodon.social"
    if message.startswith("programme."):
        field = message.split(":", 1)[0]
        if "ends before" in message:
            return field, "set its end after its start (both local to the event's time zone)"
        return field, "move it within the event's start and end, or correct its day"
    if message.startswith("programme:"):
        return "programme", f"shorten the abstracts (at most {MAX_ABSTRACT} characters) or list fewer sessions"
    if message.startswith("an expert is listed twice"):
        return "experts", "list each handle once"
    return "(file)", "correct the file"


def parse_event_config(data: dict[str, Any], source: str = "event config") -> EventConfig:
    """Validate a mapping; raise EventConfigError with every problem, each with field and fix."""
    if not isinstance(data, dict):
        raise EventConfigError(
            [ConfigProblem(field="(file)", problem="is not a mapping of fields", fix="write key: value lines")],
            source,
        )
    try:
        return EventConfig.model_validate(data)
    except ValidationError as exc:
        problems = [_problem_from(e, data) for e in exc.errors()]
    # Field errors stop pydantic before the cross-field checks: run the order check on its own so
    # every problem is reported in one pass.
    if not any(p.field in ("start", "end", "timezone") for p in problems):
        window = _Window.model_validate({k: data.get(k) for k in ("start", "end", "timezone")}) if _has_window(data) else None
        if window is not None and window.end_local <= window.start_local:
            problems.append(ConfigProblem(field="end", problem="end is not after start", fix=_model_level("end is not after start")[1]))
    raise EventConfigError(problems, source)


class _Window(BaseModel):
    start: datetime
    end: datetime
    timezone: str

    @property
    def start_local(self) -> datetime:
        return self.start if self.start.tzinfo else self.start.replace(tzinfo=ZoneInfo(self.timezone))

    @property
    def end_local(self) -> datetime:
        return self.end if self.end.tzinfo else self.end.replace(tzinfo=ZoneInfo(self.timezone))


def _has_window(data: dict[str, Any]) -> bool:
    try:
        _Window.model_validate({k: data.get(k) for k in ("start", "end", "timezone")})
        return True
    except ValidationError:
        return False


def load_event_config(path: str | Path) -> EventConfig:
    """Read a YAML (or JSON) event file and validate it."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise EventConfigError(
            [ConfigProblem(field="(file)", problem=f"cannot be read ({exc.strerror})", fix="check the path")],
            str(path),
        ) from None
    if path.suffix == ".json":
        data = json.loads(text)
    else:
        import yaml  # only tools read YAML; the Lambdas receive the validated JSON

        try:
            data = yaml.safe_load(text)
        except yaml.YAMLError as exc:
            raise EventConfigError(
                [ConfigProblem(field="(file)", problem=f"is not valid YAML ({exc})", fix="fix the syntax")],
                str(path),
            ) from None
    return parse_event_config(data, str(path))


def event_config_from_json(text: str) -> EventConfig:
    """The validated config as the stack hands it to the functions."""
    return EventConfig.model_validate_json(text)
