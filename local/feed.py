"""A generated conference feed for the demo and the tests.

`generate_conference_feed` writes a plausible hashtag feed of a two-day professional conference: posts
about talks (findings with figures, methods, named tools, quotes of speakers), several people live-tweeting
the same slide with small variations, logistics, promotion, congratulations, social chatter, reply
fragments, link-only posts and a few native reposts, some of them in French. Every sentence comes from
the package's data files (`data/feed/`: the talks, the people, the post templates), written for this
project; nothing is copied from a real feed. The talks, speakers, tools and figures are fictional.

Engagement (likes, reposts, replies, quotes) deliberately does not follow insight: social chatter and
congratulations collect the most likes, as on the real network, so a selector that ranks by likes picks
the wrong posts.

Each `Post` carries hidden labels for the demo and the tests, never served by the sandbox:
`kind` (insight, pointer, logistics, promotion, congrats, chatter, reply, link, retweet; with `off_topic=True`
also off_topic: spam, a job ad and unrelated chatter that only ride the hashtag), `insight`
(0/1/2, same scale as `shared/data/insight/RUBRIC.md`) and `slide` (the key shared by live-tweets of one
slide). The generator is deterministic for a given seed and event span; it never reads the clock.
"""

from __future__ import annotations

import functools
import math
import random
import re
import string
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, time, timedelta
from importlib import resources
from typing import Any

import yaml

__all__ = [
    "conference_programme",
    "KINDS",
    "Metrics",
    "OFF_TOPIC",
    "Post",
    "generate_conference_feed",
    "hashtags_of",
    "snowflake_id",
    "snowflake_time",
]

#: The hidden `kind` labels.
KINDS = ("insight", "pointer", "logistics", "promotion", "congrats", "chatter", "reply", "link", "retweet")
#: The kind of the posts `off_topic=True` adds: they carry the hashtag and nothing of the event.
OFF_TOPIC = "off_topic"

_TWITTER_EPOCH_MS = 1288834974657
#: Worker bits of generated feed ids (the sandbox uses another worker for the posts it creates).
FEED_WORKER = 7

_HASHTAG = re.compile(r"(?<![\w&])#(\w*[^\W\d]\w*)", re.UNICODE)


def snowflake_id(created_at: datetime, sequence: int = 0, worker: int = FEED_WORKER) -> str:
    """An X-style post id (decimal string) for an instant: ids grow with time, like real ones."""
    ms = int(created_at.timestamp() * 1000) - _TWITTER_EPOCH_MS
    if ms < 0:
        raise ValueError("instant before the X id epoch (2010-11-04)")
    return str((ms << 22) | ((worker & 0x3FF) << 12) | (sequence & 0xFFF))


def snowflake_time(post_id: str | int) -> datetime:
    """The instant encoded in an X-style id."""
    return datetime.fromtimestamp(((int(post_id) >> 22) + _TWITTER_EPOCH_MS) / 1000, UTC)


def hashtags_of(text: str) -> list[tuple[str, int, int]]:
    """Hashtags of a text as (tag without '#', start, end) with code-point offsets, as X's entities."""
    return [(m.group(1), m.start(), m.end()) for m in _HASHTAG.finditer(text)]


@dataclass(frozen=True, slots=True)
class Metrics:
    """Public engagement counters of a post."""

    like_count: int = 0
    retweet_count: int = 0
    reply_count: int = 0
    quote_count: int = 0
    bookmark_count: int = 0
    impression_count: int = 0

    def as_public_metrics(self) -> dict[str, int]:
        """X's `public_metrics` object. Both `retweet_count` (what the API and tweepy use) and
        `repost_count` (what the v2.167 OpenAPI document requires) are given."""
        return {
            "retweet_count": self.retweet_count,
            "repost_count": self.retweet_count,
            "reply_count": self.reply_count,
            "like_count": self.like_count,
            "quote_count": self.quote_count,
            "bookmark_count": self.bookmark_count,
            "impression_count": self.impression_count,
        }


@dataclass(frozen=True, slots=True)
class Post:
    """One post of a feed. `kind`, `insight` and `slide` are hidden labels (never served)."""

    id: str
    text: str
    author_id: str
    username: str
    created_at: datetime
    lang: str = "en"
    metrics: Metrics = field(default_factory=Metrics)
    is_reply: bool = False
    name: str = ""
    conversation_id: str = ""
    in_reply_to_id: str | None = None
    in_reply_to_user_id: str | None = None
    retweet_of: str | None = None
    kind: str = "chatter"
    insight: int = 0
    slide: str | None = None

    @property
    def is_retweet(self) -> bool:
        return self.retweet_of is not None

    @property
    def hashtags(self) -> list[str]:
        return [tag for tag, _, _ in hashtags_of(self.text)]

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict (times in ISO 8601 UTC), labels included."""
        return {
            "id": self.id,
            "text": self.text,
            "author_id": self.author_id,
            "username": self.username,
            "name": self.name,
            "created_at": self.created_at.astimezone(UTC).isoformat().replace("+00:00", "Z"),
            "lang": self.lang,
            "metrics": self.metrics.as_public_metrics(),
            "is_reply": self.is_reply,
            "conversation_id": self.conversation_id or self.id,
            "in_reply_to_id": self.in_reply_to_id,
            "in_reply_to_user_id": self.in_reply_to_user_id,
            "retweet_of": self.retweet_of,
            "kind": self.kind,
            "insight": self.insight,
            "slide": self.slide,
        }

    @classmethod
    def from_mapping(cls, data: Mapping[str, Any]) -> Post:
        """Build a post from a dict such as `to_dict()`'s (created_at as ISO string or datetime)."""
        created = data["created_at"]
        if isinstance(created, str):
            created = datetime.fromisoformat(created.replace("Z", "+00:00"))
        if created.tzinfo is None:
            raise ValueError("created_at must be timezone-aware")
        raw = data.get("metrics") or data.get("public_metrics") or {}
        if isinstance(raw, Metrics):
            metrics = raw
        else:
            metrics = Metrics(
                like_count=int(raw.get("like_count", 0)),
                retweet_count=int(raw.get("retweet_count", raw.get("repost_count", 0))),
                reply_count=int(raw.get("reply_count", 0)),
                quote_count=int(raw.get("quote_count", 0)),
                bookmark_count=int(raw.get("bookmark_count", 0)),
                impression_count=int(raw.get("impression_count", 0)),
            )
        return cls(
            id=str(data["id"]),
            text=data["text"],
            author_id=str(data["author_id"]),
            username=data["username"],
            created_at=created.astimezone(UTC),
            lang=data.get("lang", "en"),
            metrics=metrics,
            is_reply=bool(data.get("is_reply", False)),
            name=data.get("name") or data["username"],
            conversation_id=str(data.get("conversation_id") or data["id"]),
            in_reply_to_id=data.get("in_reply_to_id"),
            in_reply_to_user_id=data.get("in_reply_to_user_id"),
            retweet_of=data.get("retweet_of"),
            kind=data.get("kind", "chatter"),
            insight=int(data.get("insight", 0)),
            slide=data.get("slide"),
        )


# --------------------------------------------------------------------------------------------------
# The content: fictional talks, people and post templates, written for this project (local/data/feed/).
# --------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Talk:
    topic: str
    topic_fr: str
    tool: str
    what: str
    what_fr: str
    finding: str
    finding_fr: str
    method: str
    quote: str
    slide: str
    takeaway: str
    tags: tuple[str, ...]


_CORPUS = "data/feed"  # under the package: talks.yaml, people.yaml, posts.yaml


@dataclass(frozen=True)
class _Corpus:
    """The literal text of the feed, from the package's data files."""

    talks: tuple[_Talk, ...]
    first_names: tuple[str, ...]
    last_names: tuple[str, ...]
    french_first_names: frozenset[str]
    organisations: tuple[tuple[str, str], ...]  # (handle, display name)
    products: Mapping[str, str]
    default_product: str
    templates: Mapping[str, Mapping[str, tuple[str, ...]]]  # kind -> language -> templates
    pointer_before_talk: frozenset[str]  # pointer templates posted just before their talk
    rooms: tuple[str, ...]
    rooms_fr: tuple[str, ...]
    emoji: tuple[str, ...]


@functools.cache
def _corpus() -> _Corpus:
    root = resources.files("relaycast_local").joinpath(_CORPUS)

    def load(name: str) -> dict[str, Any]:
        return yaml.safe_load(root.joinpath(name).read_text(encoding="utf-8"))

    talks, people, posts = load("talks.yaml"), load("people.yaml"), load("posts.yaml")
    pointers = {lang: [next(iter(item.items())) for item in items] for lang, items in posts.pop("pointer").items()}
    templates = {kind: {lang: tuple(items) for lang, items in by_lang.items()}
                 for kind, by_lang in posts.items() if kind not in ("rooms", "rooms_fr", "emoji")}
    templates["pointer"] = {lang: tuple(text for _, text in items) for lang, items in pointers.items()}
    return _Corpus(
        talks=tuple(_Talk(**{**talk, "tags": tuple(talk["tags"])}) for talk in talks["talks"]),
        first_names=tuple(people["first_names"]),
        last_names=tuple(people["last_names"]),
        french_first_names=frozenset(people["french_first_names"]),
        organisations=tuple((org["handle"], org["name"]) for org in people["organisations"]),
        products=people["products"],
        default_product=people["default_product"],
        templates=templates,
        pointer_before_talk=frozenset(text for items in pointers.values() for when, text in items if when == "before"),
        rooms=tuple(posts["rooms"]),
        rooms_fr=tuple(posts["rooms_fr"]),
        emoji=tuple(posts["emoji"]),
    )


_TOPIC_TAG_CHANCE = 0.18


@dataclass
class _Author:
    id: str
    username: str
    name: str
    french: bool
    popularity: float
    expert: bool = False
    org: bool = False


@dataclass
class _Draft:
    at: datetime
    author: _Author
    text: str
    lang: str
    kind: str
    insight: int
    slide: str | None = None
    parent: int | None = None  # index of the draft replied to
    retweet_of: int | None = None  # index of the draft reposted
    order: int = 0


def _username_from(first: str, last: str, rng: random.Random, taken: set[str]) -> str:
    def ascii_only(value: str) -> str:
        table = str.maketrans("éèêëàâäîïôöûüùçÉ", "eeeeaaaiioouuucE")
        return "".join(ch for ch in value.translate(table) if ch in string.ascii_letters)

    f, last_ascii = ascii_only(first), ascii_only(last)
    shapes = (
        f"{f}{last_ascii}",
        f"{f.lower()}_{last_ascii.lower()}",
        f"{f[0].lower()}{last_ascii.lower()}",
        f"{f}_{last_ascii[0]}",
        f"{last_ascii.lower()}{f[0].lower()}",
        f"{f.lower()}{last_ascii.lower()}_dev",
        f"{f}{last_ascii}Data",
    )
    start = rng.randrange(len(shapes))
    for i in range(len(shapes) * 3):
        candidate = shapes[(start + i) % len(shapes)][:15]
        if i >= len(shapes):
            candidate = f"{candidate[:12]}{rng.randrange(10, 99)}"
        if candidate.lower() not in taken:
            taken.add(candidate.lower())
            return candidate
    raise RuntimeError("could not make a unique username")


def _tag_variant(tag: str, rng: random.Random) -> str:
    roll = rng.random()
    if roll < 0.10:
        return tag.lower()
    if roll < 0.14:
        return tag.upper()
    return tag


def _link(rng: random.Random) -> str:
    return "https://t.co/" + "".join(rng.choice(string.ascii_letters + string.digits) for _ in range(10))


def _day_windows(start: datetime, end: datetime, day_hours: tuple[int, int]) -> list[tuple[datetime, datetime]]:
    tz = start.tzinfo
    local_start, local_end = start.astimezone(tz), end.astimezone(tz)
    windows = []
    day = local_start.date()
    while day <= local_end.date():
        open_at = datetime.combine(day, time(day_hours[0]), tz)
        close_at = datetime.combine(day, time(day_hours[1]), tz)
        lo, hi = max(open_at, local_start), min(close_at, local_end)
        if hi - lo >= timedelta(hours=1):
            windows.append((lo.astimezone(UTC), hi.astimezone(UTC)))
        day += timedelta(days=1)
    if not windows:
        windows.append((start.astimezone(UTC), end.astimezone(UTC)))
    return windows


def _lognormal_count(rng: random.Random, median: float, sigma: float) -> int:
    return max(0, int(round(median * math.exp(rng.gauss(0.0, sigma)))))


_LIKE_MEDIAN = {
    OFF_TOPIC: 2.0,
    "insight": 5.0, "pointer": 4.0, "logistics": 3.0, "promotion": 4.0, "congrats": 16.0,
    "chatter": 13.0, "reply": 1.0, "link": 1.0, "retweet": 0.0,
}


def _metrics(kind: str, author: _Author, rng: random.Random, viral: bool) -> Metrics:
    if kind == "retweet":
        return Metrics(impression_count=_lognormal_count(rng, 40, 0.6))
    likes = _lognormal_count(rng, _LIKE_MEDIAN[kind] * author.popularity, 0.9)
    if viral:
        likes = likes * 6 + 40
    reposts = _lognormal_count(rng, likes * (0.25 if kind in ("promotion", "insight") else 0.15) + 0.3, 0.7)
    replies = _lognormal_count(rng, likes * 0.12 + (1.5 if kind == "chatter" else 0.3), 0.8)
    quotes = 1 if rng.random() < (0.05 + 0.002 * likes) else 0
    bookmarks = _lognormal_count(rng, likes * (0.3 if kind in ("insight", "pointer") else 0.05), 0.8)
    impressions = max(likes * 25, _lognormal_count(rng, (likes + 2) * 70 * author.popularity, 0.5))
    return Metrics(likes, reposts, replies, quotes, bookmarks, impressions)


def generate_conference_feed(start: datetime, end: datetime, hashtag: str, **options: Any) -> list[Post]:
    """Generate the hashtag feed of a professional conference held from `start` to `end`.

    Posts fall in conference hours (`day_hours`, local to `start`'s time zone: pass `start` in the
    event's zone to get its local hours) of each day of the span; the result is sorted by time and ids
    grow with time (X-style snowflakes). `experts` are usernames (with or without '@') that become
    authors (more of the insightful posts, some of them speakers). Deterministic for a `seed`. With
    `off_topic`, a few posts that only ride the hashtag are added (`OFF_TOPIC`, from `data/feed/off_topic.yaml`),
    drawn apart so every other post stays as it is without them. The options and their defaults: `_generate`'s.
    """
    return _generate(start, end, hashtag, **options)[0]


def conference_programme(start: datetime, end: datetime, hashtag: str, **options: Any) -> list[dict[str, Any]]:
    """The programme of the feed `generate_conference_feed` writes with the same arguments, as an event file's
    `programme:` lists it: each talk's title, speaker, local start and end, room and abstract."""
    return _generate(start, end, hashtag, **{**options, "off_topic": False})[1]


def _generate(
    start: datetime,
    end: datetime,
    hashtag: str,
    *,
    seed: int = 7,
    n_posts: int = 360,
    n_authors: int = 48,
    experts: Sequence[str] = (),
    day_hours: tuple[int, int] = (9, 18),
    off_topic: bool = False,
) -> tuple[list[Post], list[dict[str, Any]]]:
    if start.tzinfo is None or end.tzinfo is None:
        raise ValueError("start and end must be timezone-aware")
    if end <= start:
        raise ValueError("end must be after start")
    experts = [e.lstrip("@") for e in experts]
    if len(set(e.lower() for e in experts)) != len(experts):
        raise ValueError("experts must be distinct")
    if n_posts < 40:
        raise ValueError("n_posts must be at least 40")
    corpus = _corpus()
    if n_authors < len(experts) + len(corpus.organisations) + 6:
        raise ValueError("n_authors too small for the experts and the organisation accounts")
    tag_body = hashtag.lstrip("#")
    if not tag_body or not re.fullmatch(r"\w*[^\W\d]\w*", tag_body):
        raise ValueError(f"not a hashtag: {hashtag!r}")
    tag = "#" + tag_body
    rng = random.Random(f"relaycast-feed:{seed}")
    templates = corpus.templates
    windows = _day_windows(start, end, day_hours)

    # ---- authors --------------------------------------------------------------------------------
    taken: set[str] = {e.lower() for e in experts}
    names = [(f, last) for f in corpus.first_names for last in corpus.last_names]
    rng.shuffle(names)
    used_ids: set[str] = set()

    def new_user_id() -> str:
        while True:
            candidate = str(rng.randrange(10**8, 10**10) if rng.random() < 0.5 else rng.randrange(10**17, 10**18))
            if candidate not in used_ids:
                used_ids.add(candidate)
                return candidate

    authors: list[_Author] = []
    name_iter = iter(names)
    for username in experts:
        first, last = next(name_iter)
        authors.append(_Author(new_user_id(), username, f"{first} {last}", first in corpus.french_first_names,
                               popularity=rng.uniform(0.8, 2.2), expert=True))
    orgs: list[_Author] = []
    for handle, display in corpus.organisations:
        username = f"{tag_body[:11]}_org" if handle == "org" else handle
        display = f"{tag_body} {display}" if handle == "org" else display
        taken.add(username.lower())
        org = _Author(new_user_id(), username, display, False, popularity=rng.uniform(1.2, 2.5), org=True)
        orgs.append(org)
        authors.append(org)
    while len(authors) < n_authors:
        first, last = next(name_iter)
        username = _username_from(first, last, rng, taken)
        authors.append(_Author(new_user_id(), username, f"{first} {last}",
                               first in corpus.french_first_names or rng.random() < 0.08,
                               popularity=math.exp(rng.gauss(0.0, 0.6))))
    people = [a for a in authors if not a.org]
    organiser, sponsors, press = orgs[0], orgs[1:3], orgs[3]
    expert_authors = [a for a in authors if a.expert]

    def pick_person(expert_weight: float = 1.0, french: bool | None = None) -> _Author:
        pool = people if french is None else [a for a in people if a.french == french] or people
        weights = [expert_weight if a.expert else 1.0 for a in pool]
        return rng.choices(pool, weights=weights)[0]

    # ---- talks on the programme ---------------------------------------------------------------------
    talks = list(corpus.talks)
    rng.shuffle(talks)
    per_day = max(1, math.ceil(len(talks) / len(windows)))
    speakers: dict[int, tuple[str, str]] = {}  # talk index -> (reference in text, speaker name)
    schedule: list[tuple[_Talk, datetime, datetime, int]] = []  # talk, start, end, day index
    speaker_pool = iter(names[len(names) // 2:])
    talk_index = 0
    for day_no, (lo, hi) in enumerate(windows):
        slot = (hi - lo) / per_day
        for k in range(per_day):
            talk = talks[talk_index % len(talks)]
            t_start = lo + slot * k
            schedule.append((talk, t_start, t_start + slot * 0.8, day_no))
            i = len(schedule) - 1
            if i < min(len(expert_authors), len(talks) // 2) and i % 2 == 0:
                speaker = expert_authors[(i // 2) % len(expert_authors)]
                speakers[i] = ("@" + speaker.username, speaker.name)
            else:
                first, last = next(speaker_pool)
                speakers[i] = (f"{first} {last}", f"{first} {last}")
            talk_index += 1

    programme = []
    for i, (talk, t_start, t_end, _day) in enumerate(schedule):
        ref, name = speakers[i]
        local = start.tzinfo
        programme.append({
            "title": f"{talk.tool}: {talk.topic[0].upper()}{talk.topic[1:]}",
            "speakers": [f"{name} {ref}" if ref.startswith("@") else name],
            "start": t_start.astimezone(local).strftime("%Y-%m-%dT%H:%M"),
            "end": t_end.astimezone(local).strftime("%Y-%m-%dT%H:%M"),
            "room": corpus.rooms[i % len(corpus.rooms)].removeprefix("the "),
            "abstract": f"{talk.tool} {talk.what}.",
        })

    def window_of(at: datetime) -> tuple[datetime, datetime]:
        for lo, hi in windows:
            if lo <= at <= hi:
                return lo, hi
        return min(windows, key=lambda w: min(abs((w[0] - at).total_seconds()), abs((w[1] - at).total_seconds())))

    def clamp(at: datetime, day_no: int) -> datetime:
        # Outside the day's hours: fall back to the first or last quarter of an hour of the day.
        lo, hi = windows[day_no]
        if at > hi:
            return hi - timedelta(seconds=rng.uniform(0, min(900, (hi - lo).total_seconds())))
        if at < lo:
            return lo + timedelta(seconds=rng.uniform(0, min(600, (hi - lo).total_seconds())))
        return at

    def uniform_time(day_no: int | None = None) -> tuple[datetime, int]:
        if day_no is None:
            day_no = rng.randrange(len(windows))
        lo, hi = windows[day_no]
        return lo + timedelta(seconds=rng.uniform(0, (hi - lo).total_seconds())), day_no

    def fields(i: int) -> dict[str, str]:
        talk = schedule[i][0]
        ref, _ = speakers[i]
        return {
            "s": ref, "topic": talk.topic, "topic_fr": talk.topic_fr, "tool": talk.tool, "what": talk.what,
            "what_fr": talk.what_fr, "finding": talk.finding, "finding_fr": talk.finding_fr,
            "method": talk.method, "quote": talk.quote, "takeaway": talk.takeaway, "slide": talk.slide,
        }

    def tagged(extra_tags: Sequence[str] = ()) -> str:
        text = _tag_variant(tag, rng)
        if extra_tags and rng.random() < _TOPIC_TAG_CHANCE:
            text += " #" + rng.choice(extra_tags)
        return text

    def fill(template: str, base: Mapping[str, str], extra_tags: Sequence[str] = (), **more: str) -> str:
        values = dict(base)
        values.update(more)
        values.setdefault("tag", tagged(extra_tags))
        values.setdefault("link", _link(rng))
        values.setdefault("emoji", rng.choice(corpus.emoji))
        values.setdefault("room", rng.choice(corpus.rooms))
        values.setdefault("room_fr", rng.choice(corpus.rooms_fr))
        text = template.format(**values)
        text = re.sub(r"\s+", " ", text).strip()
        if len(text) > 280:
            text = text[:279].rstrip() + "…"
        return text

    # ---- how many of each kind -------------------------------------------------------------------------
    shares = {
        "insight": 0.25, "slide": 0.12, "pointer": 0.07, "logistics": 0.10, "promotion": 0.07,
        "congrats": 0.08, "reply": 0.10, "link": 0.04, "retweet": 0.04,
    }
    counts = {kind: int(round(n_posts * share)) for kind, share in shares.items()}
    counts["chatter"] = n_posts - sum(counts.values())

    drafts: list[_Draft] = []

    def add(at: datetime, author: _Author, text: str, lang: str, kind: str, insight: int, **extra: Any) -> None:
        drafts.append(_Draft(at.replace(microsecond=0), author, text, lang, kind, insight, order=len(drafts), **extra))

    def talk_time(i: int, before: float = 5, after: float = 20) -> datetime:
        _, t_start, t_end, day_no = schedule[i]
        at = t_start + timedelta(minutes=before) + timedelta(
            seconds=rng.uniform(0, (t_end - t_start).total_seconds() + (after - before) * 60))
        return clamp(at, day_no)

    # Insight: experts write a larger share; some francophones write in French.
    for _ in range(counts["insight"]):
        i = rng.randrange(len(schedule))
        author = pick_person(expert_weight=6.0)
        french = author.french and rng.random() < 0.7
        template = rng.choice(templates["insight"]["fr" if french else "en"])
        add(talk_time(i), author, fill(template, fields(i), schedule[i][0].tags), "fr" if french else "en",
            "insight", 2)

    # Live-tweets of one slide: 3 to 5 people within a few minutes, small variations.
    remaining = counts["slide"]
    cluster_talks = list(range(len(schedule)))
    rng.shuffle(cluster_talks)
    cluster_no = 0
    while remaining > 0:
        i = cluster_talks[cluster_no % len(cluster_talks)]
        size = min(remaining, rng.randint(3, 5))
        if remaining - size in (1, 2):
            size = remaining
        t0 = talk_time(i, before=8, after=0)
        key = f"slide-{cluster_no:02d}"
        writers = rng.sample(people, size)
        slides = templates["slide"]["en"]
        chosen = rng.sample(slides, size) if size <= len(slides) else [rng.choice(slides) for _ in range(size)]
        at = t0
        for author, template in zip(writers, chosen, strict=True):
            add(clamp(at, schedule[i][3]), author, fill(template, fields(i), schedule[i][0].tags), "en",
                "insight", 2, slide=key)
            at += timedelta(seconds=rng.randint(15, 100))
        remaining -= size
        cluster_no += 1

    for _ in range(counts["pointer"]):
        i = rng.randrange(len(schedule))
        author = rng.choice([organiser, press]) if rng.random() < 0.35 else pick_person(expert_weight=2.0)
        french = author.french and rng.random() < 0.6
        template = rng.choice(templates["pointer"]["fr" if french else "en"])
        if template in corpus.pointer_before_talk:
            at = clamp(schedule[i][1] - timedelta(minutes=rng.uniform(0, 12)), schedule[i][3])
        else:
            at = clamp(schedule[i][2] + timedelta(minutes=rng.uniform(0, 150)), schedule[i][3])
        add(at, author, fill(template, fields(i)), "fr" if french else "en", "pointer", 1)

    for _ in range(counts["logistics"]):
        author = organiser if rng.random() < 0.55 else pick_person()
        french = (author.french and rng.random() < 0.8) or (author is organiser and rng.random() < 0.15)
        at, day_no = uniform_time()
        later = at.astimezone(start.tzinfo) + timedelta(minutes=rng.choice((20, 30, 45)))
        clock = later.replace(minute=later.minute - later.minute % 15).strftime("%H:%M")
        i = rng.randrange(len(schedule))
        template = rng.choice(templates["logistics"]["fr" if french else "en"])
        add(at, author, fill(template, fields(i), clock=clock), "fr" if french else "en", "logistics", 0)

    for _ in range(counts["promotion"]):
        author = rng.choice(sponsors) if rng.random() < 0.8 else pick_person()
        product = corpus.products.get(author.username, corpus.default_product)
        french = rng.random() < 0.15
        at, _ = uniform_time()
        template = rng.choice(templates["promotion"]["fr" if french else "en"])
        add(at, author, fill(template, {}, product=product, booth=str(rng.randint(3, 48))),
            "fr" if french else "en", "promotion", 0)

    for _ in range(counts["congrats"]):
        i = rng.randrange(len(schedule))
        author = pick_person(expert_weight=1.5)
        french = author.french and rng.random() < 0.75
        at = clamp(schedule[i][2] + timedelta(minutes=rng.uniform(0, 40)), schedule[i][3])
        template = rng.choice(templates["congrats"]["fr" if french else "en"])
        add(at, author, fill(template, fields(i)), "fr" if french else "en", "congrats", 0)

    for _ in range(counts["chatter"]):
        author = pick_person()
        french = author.french and rng.random() < 0.8
        at, day_no = uniform_time()
        template = rng.choice(templates["chatter"]["fr" if french else "en"])
        add(at, author, fill(template, {}, day=str(day_no + 1)), "fr" if french else "en", "chatter", 0)

    for _ in range(counts["link"]):
        author = pick_person()
        at, _ = uniform_time()
        template = rng.choice(templates["link"]["zxx"])
        # X labels posts without linguistic content "zxx".
        add(at, author, fill(template, {}), "zxx", "link", 0)

    originals = list(range(len(drafts)))

    def reaction(min_seconds: int, max_seconds: int,
                 allowed: Callable[[_Draft], bool] = lambda _: True) -> tuple[int, datetime, _Author] | None:
        """An earlier post, a time some minutes after it within its day, and someone else reacting to it
        (None only with absurdly short windows)."""
        for _attempt in range(50):
            idx = rng.choice(originals)
            _, hi = window_of(drafts[idx].at)
            at = drafts[idx].at + timedelta(seconds=rng.randint(min_seconds, max_seconds))
            if at <= hi and allowed(drafts[idx]):
                break
        else:  # pragma: no cover
            return None
        author = pick_person()
        while author is drafts[idx].author:
            author = pick_person()
        return idx, at, author

    # Replies: fragments answering an earlier post, a few minutes later, within the same day.
    for _ in range(counts["reply"]):
        if (replying := reaction(60, 40 * 60)) is None:  # pragma: no cover
            continue
        parent_idx, at, author = replying
        parent = drafts[parent_idx]
        french = (author.french or parent.lang == "fr") and rng.random() < 0.6
        template = rng.choice(templates["reply"]["fr" if french else "en"])
        text = fill(template, {}, to=parent.author.username)
        if tag.lower() not in text.lower():
            text = f"{text} {_tag_variant(tag, rng)}"
        add(at, author, text, "fr" if french else "en", "reply", 0, parent=parent_idx)

    # Native reposts of earlier posts.
    for _ in range(counts["retweet"]):
        if (reposting := reaction(120, 90 * 60, lambda draft: draft.kind != "link")) is None:  # pragma: no cover
            continue
        idx, at, author = reposting
        original = drafts[idx]
        text = f"RT @{original.author.username}: {original.text}"
        if len(text) > 280:
            text = text[:279].rstrip() + "…"
        add(at, author, text, original.lang, "retweet", 0, retweet_of=idx)

    # Posts that only ride the hashtag, from their own random stream: without them every other post is unchanged.
    aside = random.Random(f"relaycast-feed-off-topic:{seed}")
    if off_topic:
        _add_off_topic(aside, windows, tag, used_ids, add)

    # ---- ids, threading, metrics ---------------------------------------------------------------------
    order = sorted(range(len(drafts)), key=lambda k: (drafts[k].at, drafts[k].order))
    ids: dict[int, str] = {}
    last_ms, seq = None, 0
    for k in order:
        ms = int(drafts[k].at.timestamp() * 1000)
        seq = seq + 1 if ms == last_ms else 0
        last_ms = ms
        ids[k] = snowflake_id(drafts[k].at, seq)

    viral = set(rng.sample([k for k in range(len(drafts)) if drafts[k].kind in ("chatter", "congrats")],
                           k=max(1, len(drafts) // 90)))
    viral.update(rng.sample([k for k in range(len(drafts)) if drafts[k].kind == "insight"], k=1))
    posts: dict[int, Post] = {}
    for k in order:
        d = drafts[k]
        conversation = ids[k]
        in_reply_to_id = in_reply_to_user_id = None
        if d.parent is not None:
            parent_post = posts[d.parent]
            conversation = parent_post.conversation_id
            in_reply_to_id = parent_post.id
            in_reply_to_user_id = parent_post.author_id
        posts[k] = Post(
            id=ids[k],
            text=d.text,
            author_id=d.author.id,
            username=d.author.username,
            name=d.author.name,
            created_at=d.at,
            lang=d.lang,
            metrics=_metrics(d.kind, d.author, aside if d.kind == OFF_TOPIC else rng, k in viral),
            is_reply=d.parent is not None,
            conversation_id=conversation,
            in_reply_to_id=in_reply_to_id,
            in_reply_to_user_id=in_reply_to_user_id,
            retweet_of=ids[d.retweet_of] if d.retweet_of is not None else None,
            kind=d.kind,
            insight=d.insight,
            slide=d.slide,
        )
    # A repost carries the original's repost count as X shows it; replies bump their parent's count.
    reply_counts: dict[str, int] = {}
    for post in posts.values():
        if post.in_reply_to_id:
            reply_counts[post.in_reply_to_id] = reply_counts.get(post.in_reply_to_id, 0) + 1
    result = []
    for k in order:
        post = posts[k]
        if post.id in reply_counts:
            m = post.metrics
            post = replace(post, metrics=replace(m, reply_count=max(m.reply_count, reply_counts[post.id])))
        result.append(post)
    return result, programme


def _add_off_topic(rng: random.Random, windows: Sequence[tuple[datetime, datetime]], tag: str, used_ids: set[str],
                   add: Callable[..., None]) -> None:
    """The ring's texts by each of its accounts on each day, the job ad once a day, the chatter once."""
    data = yaml.safe_load(resources.files("relaycast_local").joinpath(_CORPUS, "off_topic.yaml").read_text(encoding="utf-8"))

    def account(username: str) -> _Author:
        while (user_id := str(rng.randrange(10**17, 10**18))) in used_ids:
            pass
        used_ids.add(user_id)
        return _Author(user_id, username, username, False, popularity=rng.uniform(0.3, 1.0))

    def when(day: int) -> datetime:
        lo, hi = windows[day % len(windows)]
        return lo + timedelta(seconds=rng.uniform(0, (hi - lo).total_seconds()))

    ring = [account(name) for name in data["ring"]["accounts"]]
    for day in range(len(windows)):
        for author, text in zip(ring, rng.sample(data["ring"]["texts"], len(ring)), strict=True):
            add(when(day), author, text.format(tag=tag), "en", OFF_TOPIC, 0)
    recruiter = account(data["job"]["account"])
    for day, text in enumerate(data["job"]["texts"]):
        add(when(day), recruiter, text.format(tag=tag), "en", OFF_TOPIC, 0)
    for day, post in enumerate(data["chatter"]):
        add(when(day), account(post["account"]), post["text"].format(tag=tag), "en", OFF_TOPIC, 0)
