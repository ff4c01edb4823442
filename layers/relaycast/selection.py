"""Which posts are worth a relay's name: the insight score, near-duplicates, diversity and pacing.

Engagement is a weak compass at conferences (awards and chatter collect the likes), so it only breaks ties;
substance and the organiser's expert list carry the score (`relaycast.insight`). Every score comes with its
reasons, and so does every adjustment made here (an echoed slide, a second pick of one author).
"""

from __future__ import annotations

import heapq
import math
import re
import zlib
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from relaycast.insight import HASHTAG, MENTION, RULES, URL, WORD, Scored, clean, content_words, score_post
from relaycast.reasons import code
from relaycast.relevance import ON_TOPIC, Judgement, Topic

if TYPE_CHECKING:
    from relaycast.config import Session

__all__ = [
    "MIN_SCORE",
    "PICK_MAX_AGE",
    "Scored",
    "choose",
    "content_words",
    "learn_topic",
    "near_duplicate_groups",
    "picks_allowed",
    "score_post",
    "selection_total",
]

MIN_SCORE = 2.0  # below this a post is chatter, whatever its likes
PICK_MAX_AGE = timedelta(hours=12)  # older posts are no longer news for the relays' followers
ECHO_BONUS, ECHO_MAX = 0.3, 1.2  # per other post of the same point (live-tweets of one slide), capped
AUTHOR_PENALTY = 2.0  # per earlier pick of the same author in this round…
EARLIER_AUTHOR_PENALTY = 1.0  # …and per pick of theirs in earlier rounds
SESSION_PENALTY = 1.0  # a second pick from the session another pick of this round comes from
SESSION_WINDOW = timedelta(minutes=30)
# An off-topic post in a pool too small to exclude it: below any post on the subject (scores end near 12, and the
# floor keeps picks at 2 or more).
OFF_TOPIC_PENALTY = 10.0
SPEAKER_WEIGHT = 1.0  # a programme speaker the organiser did not list weighs as a listed expert does by default


# --- near-duplicates: MinHash over word 3-shingles, banded (sub-quadratic) ------------------------------
BANDS, ROWS = 16, 2
SLOTS = BANDS * ROWS
CONTAINED = 0.8  # share of the shorter post's shingles found in the longer one
SHINGLE_TOKEN = re.compile(r"\d+(?:[.,]\d+)*|[^\W\d_](?:[\w'’-]*\w)?")


def _shingle_words(text: str) -> list[str]:
    # Figures are the most distinctive words of a slide: keep them, unlike content_words.
    bare = HASHTAG.sub(" ", MENTION.sub(" ", URL.sub(" ", clean(text)))).lower()
    return SHINGLE_TOKEN.findall(bare)


def _shingles(text: str) -> set[int]:
    """Word 3-shingles, hashed (CRC-32: fast, stable across processes; a rare collision only adds a pair)."""
    words = _shingle_words(text)
    if len(words) < 3:
        return {zlib.crc32(" ".join(words).encode())} if words else set()
    return {zlib.crc32(" ".join(words[i : i + 3]).encode()) for i in range(len(words) - 2)}


def _signature(shingles: set[int]) -> tuple[int, ...]:
    """One-permutation MinHash: each shingle's hash lands in one of SLOTS bins, each bin keeps its minimum;
    empty bins borrow the next filled one (rotation), so one hash per shingle is enough."""
    bins = [-1] * SLOTS
    for h in shingles:
        slot, value = h % SLOTS, h // SLOTS
        if bins[slot] < 0 or value < bins[slot]:
            bins[slot] = value
    first = next((i for i in range(SLOTS) if bins[i] >= 0), None)
    if first is None:
        return ()
    signature = [0] * SLOTS
    following = first + SLOTS  # the next filled bin, circularly
    for i in range(SLOTS - 1, -1, -1):
        if bins[i] >= 0:
            following = i
        signature[i] = bins[following % SLOTS] * SLOTS + (following - i)
    return tuple(signature)


def similar(a: set[int], b: set[int], threshold: float = 0.5) -> bool:
    """Near-duplicates: half the shingles shared (Jaccard), or the shorter post (3+ shingles) four fifths
    inside the longer one ("Key slide from X: <slide>" and "X: <slide>")."""
    if not a or not b:
        return False
    shared, shorter = len(a & b), min(len(a), len(b))
    return shared / len(a | b) >= threshold or (shorter >= 3 and shared / shorter >= CONTAINED)


def near_duplicate_groups(texts: Sequence[str], threshold: float = 0.5) -> list[list[int]]:
    """Indices grouped by near-duplicate text; candidate pairs come from LSH buckets, then exact similarity.

    Each post is compared with a bounded number of bucket mates, so the cost grows linearly with the posts."""
    shingles = [_shingles(t) for t in texts]
    parent = list(range(len(texts)))

    def find(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    # Per band, a bucket's first and latest members are enough to join a cluster (union-find chains the
    # rest); keeping only those two keeps every post's work constant however full a bucket gets.
    first: list[dict[int, int]] = [{} for _ in range(BANDS)]
    latest: list[dict[int, int]] = [{} for _ in range(BANDS)]
    for i, sh in enumerate(shingles):
        signature = _signature(sh)
        if not signature:
            continue
        for band in range(BANDS):
            key = hash(signature[band * ROWS : (band + 1) * ROWS])  # ints hash alike in every process
            for j in {first[band].setdefault(key, i), latest[band].get(key, i)} - {i}:
                a, b = find(j), find(i)
                if a != b and similar(shingles[j], sh, threshold):
                    parent[b] = a
            latest[band][key] = i
    groups: dict[int, list[int]] = {}
    for i in range(len(texts)):
        groups.setdefault(find(i), []).append(i)
    return list(groups.values())


# --- pacing ---------------------------------------------------------------------------------------------
def picks_allowed(*, total: int, start: datetime, end: datetime, now: datetime, already: int) -> int:
    """How many picks this round may add so the event's total is spread over its duration.

    The allowance grows linearly with the time elapsed (rounded up: at most one pick ahead of the line), so
    the last picks, and the relays' caps, reach the end of the event; a quiet spell is made up later."""
    if now <= start:
        return 0
    elapsed = min(1.0, (now - start) / (end - start))
    return max(0, math.ceil(total * elapsed) - already)


def selection_total(cap: int) -> int:
    """Picks over the whole event: the cap plus a margin, since relays skip some proposals."""
    return cap + math.ceil(cap / 2)


# --- the round's choice ---------------------------------------------------------------------------------
def _instant(value: Any) -> datetime | None:
    try:
        at = value if isinstance(value, datetime) else datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError:
        return None
    return at if at.tzinfo else at.replace(tzinfo=UTC)


def _session_marks(text: str) -> set[str]:
    """What places a post in a session: its hashtags, @mentions and names (Capitalised, CamelCase or ACRONYM
    words that do not open a sentence). `choose` drops the marks most posts carry, such as the event's tag."""
    text = clean(text)
    marks = {m.lower() for m in HASHTAG.findall(text) + MENTION.findall(text)}
    bare = HASHTAG.sub(" ", MENTION.sub(" ", URL.sub(" ", text)))
    for sentence in re.split(r"[.!?:;]\s+", bare):
        words = WORD.findall(sentence)
        marks.update(w.lower() for w in words[1:] if w[0].isupper() and len(w) > 2)
    return marks


def _same_session(a: tuple[set[str], datetime | None], b: tuple[set[str], datetime | None]) -> bool:
    """Two shared marks, a shared topic hashtag, or one shared mark within half an hour."""
    shared = a[0] & b[0]
    if len(shared) >= 2 or any(m.startswith("#") for m in shared):
        return True
    return bool(shared) and a[1] is not None and b[1] is not None and abs(a[1] - b[1]) <= SESSION_WINDOW


def above_floor(candidate: Mapping[str, Any], floor: float) -> bool:
    """A stored candidate worth a relay's name (`Scored.eligible`): a substance reason and quality at the floor."""
    return bool(candidate.get("substantive")) and float(candidate.get("quality", 0)) >= floor


def learn_topic(posts: Sequence[Mapping[str, Any]], *, programme: Sequence[Session] = (),
                event_tags: Iterable[str] = ()) -> Topic:
    """The event's subject as a round's whole pool says it (every network's candidates), with the programme."""
    groups = near_duplicate_groups([str(p["text"]) for p in posts])
    return Topic.learn(posts, groups, programme=programme, event_tags=event_tags)


def _programme_credit(post: Mapping[str, Any], judged: Judgement, weight: float) -> tuple[float, list[str]]:
    """What the programme adds to a post: the speakers it names (as the "speaker" rule would, once) and its
    author being a programme speaker (an expert's default weight, unless the organiser weighed them already)."""
    value, codes = 0.0, []
    if judged.speakers:
        if "speaker" not in (post.get("reasons") or []):
            value += RULES["speaker"]
        codes.append(code("programme_speaker", judged.speakers[0]))
    if judged.speaker_author and not weight:
        value += RULES["expert"] * SPEAKER_WEIGHT
        codes.append(code("speaker_author", judged.speaker_author))
    return value, codes


def choose(
    candidates: Iterable[Mapping[str, Any]],
    *,
    n: int,
    already_selected: Sequence[Mapping[str, Any]] = (),
    min_score: float = MIN_SCORE,
    expert_weight: Callable[[str], float] | None = None,
    event_tags: Iterable[str] = (),
    floor: float | None = None,
    programme: Sequence[Session] = (),
    topic: Topic | None = None,
) -> list[dict[str, Any]]:
    """The round's n picks (with `floor`, only candidates above it: `above_floor`): best first, one per near-duplicate group, none repeating an earlier pick, and no
    author or session taking the whole round (maximal marginal relevance, with its reason on the pick).

    A group of near-duplicates (five people live-tweeting one slide) is one candidate, credited to its best
    author: the organiser's expert first, then the best score. `already_selected` are earlier picks (their
    `text` and `author`); `event_tags` (the event's hashtags) say nothing about a session. Picks are copies
    with `score` and `reasons` adjusted.

    Relevance (`relevance.Topic`, learnt from this pool and the `programme` unless a round's `topic` is given): an
    off-topic post is lowered, or left out once the pool or the programme can judge; the programme's sessions
    spread the picks and its speakers are credited."""
    event_tags = list(event_tags)
    listed = expert_weight or (lambda _author: 0.0)
    pool = sorted(
        (c for c in candidates if float(c["score"]) >= min_score and (floor is None or above_floor(c, floor))),
        key=lambda c: (-float(c["score"]), str(c.get("post_id", ""))),
    )
    if n <= 0 or not pool:
        return []
    earlier = list(already_selected)
    offset = len(earlier)
    groups = near_duplicate_groups([str(c["text"]) for c in earlier] + [str(c["text"]) for c in pool])
    if topic is None:
        own = [[i - offset for i in g if i >= offset] for g in groups]
        topic = Topic.learn(pool, [g for g in own if g], programme=programme, event_tags=event_tags)

    def weight(author: str) -> float:
        return listed(author) or (SPEAKER_WEIGHT if topic.speaker_of(author) else 0.0)

    # One offer per group: (value, the credited post, its echo note and programme codes). Copies wait until a
    # post is picked.
    offers: list[tuple[float, Mapping[str, Any], list[str]]] = []
    programme_session: dict[int, str] = {}  # offer → its programme session, when one is known
    for group in groups:
        if any(i < offset for i in group):  # the point was picked in an earlier round
            continue
        members = [pool[i - offset] for i in group]
        best = max(members, key=lambda c: (weight(str(c["author"])), float(c["score"])))
        value, echo = max(float(c["score"]) for c in members), []
        others = len({str(c["author"]).lower() for c in members} - {str(best["author"]).lower()})
        if others:
            value += min(ECHO_MAX, ECHO_BONUS * others)
            echo = [code("echoed", others)]
        judged = topic.judge(best, _instant(best.get("created_at")))
        if judged.off_topic:
            if topic.rule == "exclude":
                continue
            value -= OFF_TOPIC_PENALTY
            echo.append(code("off_topic"))
        elif judged.relevance is not None and judged.relevance >= ON_TOPIC and not judged.session:
            echo.append(code("on_topic"))
        if judged.session:
            programme_session[len(offers)] = judged.session
            echo.append(code("session", judged.session))
        credit, codes = _programme_credit(best, judged, listed(str(best["author"])))
        offers.append((value + credit, best, echo + codes))

    # Maximal marginal relevance, lazily: a value only falls as picks are added, so an offer whose value is
    # up to date and still heads the queue is the best one (few offers are ever re-evaluated).
    order = sorted(range(len(offers)), key=lambda i: (-offers[i][0], str(offers[i][1].get("post_id", ""))))
    # The event's hashtags and handles, on most posts, say nothing about a session.
    head = [_session_marks(str(offers[i][1]["text"])) for i in order[:200]]
    counts = Counter(m for marks in head for m in marks)
    common = {m for m, k in counts.items() if k > max(2, len(head) // 4)}
    common |= {"#" + t.lower().lstrip("#") for t in event_tags}
    before = Counter(str(c.get("author", "")).lower() for c in earlier)
    sessions: dict[int, tuple[set[str], datetime | None]] = {}
    chosen: list[int] = []
    notes: dict[int, list[str]] = {}

    def session_of(i: int) -> tuple[set[str], datetime | None]:
        if i not in sessions:
            post = offers[i][1]
            sessions[i] = (_session_marks(str(post["text"])) - common, _instant(post.get("created_at")))
        return sessions[i]

    def same_session(i: int, j: int) -> bool:
        # The programme's session, when both posts have one, replaces the guess from marks and times.
        if i in programme_session and j in programme_session:
            return programme_session[i] == programme_session[j]
        return _same_session(session_of(i), session_of(j))

    def value_of(i: int) -> float:
        value, post, _ = offers[i]
        author = str(post["author"]).lower()
        in_round = sum(1 for j in chosen if str(offers[j][1]["author"]).lower() == author)
        notes[i] = []
        if in_round or before[author]:
            value -= AUTHOR_PENALTY * in_round + EARLIER_AUTHOR_PENALTY * before[author]
            notes[i].append(code("repeat_author", in_round + before[author] + 1, post["author"]))
        if any(same_session(i, j) for j in chosen):
            value -= SESSION_PENALTY
            notes[i].append(code("same_session"))
        return value

    picks: list[dict[str, Any]] = []
    queue = [(-offers[i][0], place, i, -1) for place, i in enumerate(order)]  # sorted, so already a heap
    while queue and len(picks) < n:
        negative, place, i, fresh_at = heapq.heappop(queue)
        if fresh_at != len(picks):
            heapq.heappush(queue, (-value_of(i), place, i, len(picks)))
            continue
        _, post, echo = offers[i]
        chosen.append(i)
        picks.append({**post, "score": round(-negative, 3), "reasons": [*(post.get("reasons") or []), *echo, *notes[i]]})
    return picks
