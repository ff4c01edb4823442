"""Which posts are worth a relay's name: a first, explainable scoring, near-duplicate removal, pacing.

Engagement is a weak compass at conferences (awards and chatter collect the likes), so it only breaks
ties; substance and the organiser's expert list carry the score. Every score comes with its reasons.
"""

from __future__ import annotations

import hashlib
import math
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

URL = re.compile(r"https?://\S+")
MENTION = re.compile(r"@\w+")
HASHTAG = re.compile(r"#\w+")
WORD = re.compile(r"[^\W\d_][\w'’-]*", re.UNICODE)
NUMBER = re.compile(r"(?<![\w#@])\d+(?:[.,]\d+)?\s?(?:%|x|×|ms|s|k|m|gb|tb|€|\$)?", re.IGNORECASE)
QUOTE = re.compile(r"[\"“«].{12,}?[\"”»]")
LOGISTICS = re.compile(
    r"\b(coffee|lunch|break|room|hall|wifi|wi-fi|badge|registration|shuttle|dinner|pause|salle|déjeuner|inscription)\b",
    re.IGNORECASE,
)
PROMOTION = re.compile(
    r"\b(visit our booth|booth|stand|discount|promo|sign up|register now|giveaway|venez|notre stand)\b", re.IGNORECASE
)
CONGRATS = re.compile(r"\b(congrat\w*|bravo|félicitations|well deserved|award|prize|proud)\b", re.IGNORECASE)
METHOD = re.compile(
    r"\b(method|approach|benchmark|dataset|model|results?|study|trial|evaluation|architecture|pipeline|"
    r"algorithm|paper|measured|found|shows?|showed|reduces?|improves?|increases?|compared|"
    r"méthode|résultats?|étude|montre|mesuré|réduit|améliore|jeu de données|modèle)\b",
    re.IGNORECASE,
)


MIN_SCORE = 2.0  # below this a post is chatter, whatever its likes
PICK_MAX_AGE = timedelta(hours=12)  # older posts are no longer news for the relays' followers


@dataclass(frozen=True)
class Scored:
    score: float
    reasons: tuple[str, ...]


def content_words(text: str) -> list[str]:
    bare = HASHTAG.sub(" ", MENTION.sub(" ", URL.sub(" ", text)))
    return [w.lower() for w in WORD.findall(bare)]


def score_post(
    *, text: str, author: str, expert_weight: float, likes: int, reposts: int, replies: int, is_reply: bool
) -> Scored:
    """An explainable insight score in [0, ~10]: substance + expert weight, penalties, a weak engagement tie-break."""
    words = content_words(text)
    reasons: list[str] = []
    score = 0.0

    substance = min(len(words), 40) / 40 * 3.0
    score += substance
    if len(words) >= 20:
        reasons.append("substantial text")
    if NUMBER.search(URL.sub(" ", text)):
        score += 1.2
        reasons.append("states a number")
    if QUOTE.search(text):
        score += 1.0
        reasons.append("quotes a speaker")
    if METHOD.search(text):
        score += 1.0
        reasons.append("describes a method or result")
    if expert_weight > 0:
        score += 1.5 * expert_weight
        reasons.append(f"expert author (weight {expert_weight:g})")

    if LOGISTICS.search(text):
        score -= 2.5
        reasons.append("logistics")
    if PROMOTION.search(text):
        score -= 2.5
        reasons.append("promotion")
    if CONGRATS.search(text) and len(words) < 20:
        score -= 2.0
        reasons.append("congratulations without content")
    if is_reply or text.lstrip().startswith("@"):
        score -= 2.0
        reasons.append("reply fragment")
    if len(words) < 4 and URL.search(text):
        score -= 3.0
        reasons.append("link only")

    engagement = math.log1p(likes + 2 * reposts + replies) * 0.15  # weak tie-breaker only
    score += engagement
    return Scored(score=round(score, 3), reasons=tuple(reasons))


# --- near-duplicates: MinHash over word 3-shingles, banded (sub-quadratic) ------------------------
BANDS, ROWS = 16, 2


def _shingles(text: str) -> set[str]:
    words = content_words(text)
    if len(words) < 3:
        return {" ".join(words)} if words else set()
    return {" ".join(words[i : i + 3]) for i in range(len(words) - 2)}


def _minhash(shingles: set[str]) -> tuple[int, ...]:
    hashes = [int.from_bytes(hashlib.blake2b(s.encode(), digest_size=8).digest(), "big") for s in shingles]
    if not hashes:
        return (0,) * (BANDS * ROWS)
    mask = (1 << 64) - 1
    return tuple(min(((h ^ seed) * 0x9E3779B97F4A7C15) & mask for h in hashes) for seed in _SEEDS)


_SEEDS = [int.from_bytes(hashlib.blake2b(str(i).encode(), digest_size=8).digest(), "big") for i in range(BANDS * ROWS)]


def jaccard(a: set[str], b: set[str]) -> float:
    return len(a & b) / len(a | b) if a and b else 0.0


def near_duplicate_groups(texts: Sequence[str], threshold: float = 0.5) -> list[list[int]]:
    """Indices grouped by near-duplicate text; candidate pairs come from LSH buckets, then exact Jaccard."""
    shingles = [_shingles(t) for t in texts]
    parent = list(range(len(texts)))

    def find(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    buckets: dict[tuple[int, tuple[int, ...]], list[int]] = {}
    for i, sh in enumerate(shingles):
        if not sh:
            continue
        signature = _minhash(sh)
        for band in range(BANDS):
            buckets.setdefault((band, signature[band * ROWS : (band + 1) * ROWS]), []).append(i)
    for members in buckets.values():
        for other in members[1:]:
            a, b = find(members[0]), find(other)
            if a != b and jaccard(shingles[members[0]], shingles[other]) >= threshold:
                parent[b] = a
    groups: dict[int, list[int]] = {}
    for i in range(len(texts)):
        groups.setdefault(find(i), []).append(i)
    return list(groups.values())


# --- pacing ---------------------------------------------------------------------------------------
def picks_allowed(*, total: int, start: datetime, end: datetime, now: datetime, already: int) -> int:
    """How many picks this round may add so the event's total is spread over its duration."""
    if now <= start:
        return 0
    elapsed = min(1.0, (now - start) / (end - start))
    return max(0, math.ceil(total * elapsed) - already)


def selection_total(cap: int) -> int:
    """Picks over the whole event: the cap plus a margin, since relays skip some proposals."""
    return cap + math.ceil(cap / 2)


def choose(
    candidates: Iterable[dict], *, n: int, already_selected_texts: Sequence[str], min_score: float = MIN_SCORE
) -> list[dict]:
    """The best n candidates that are not near-duplicates of each other or of earlier picks."""
    pool = sorted((c for c in candidates if c["score"] >= min_score), key=lambda c: -c["score"])
    if n <= 0 or not pool:
        return []
    texts = list(already_selected_texts) + [c["text"] for c in pool]
    offset = len(already_selected_texts)
    taken: list[dict] = []
    # Each group keeps its best-scored member (the pool is sorted), unless an earlier pick is in it.
    for group in sorted(near_duplicate_groups(texts), key=min):
        if any(i < offset for i in group):
            continue
        taken.append(pool[min(group) - offset])
    taken.sort(key=lambda c: -c["score"])
    return taken[:n]
