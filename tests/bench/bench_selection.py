"""Benchmark of the selection (not a test): how well the insight score ranks, and what ranking more costs.

    python tests/bench/bench_selection.py [--data ../shared/data]

In one run it prints
  * for each labelled conference feed (`insight/<feed>.labels.csv` joined by id to `events/<feed>.csv`):
    AUC of label 2 against the rest, AUC of labels 1-2 against 0, and the share of label 2 among the top 10 %,
    for the scorer and two baselines (engagement = likes + reposts + replies; text length). No expert list
    exists for these feeds: they are scored without experts, so the figures measure the text scorer alone;
  * for each CrisisLexT26 event (`informativeness/`): AUC of "Related and informative" against everything
    else labelled ("Related - but not informative" and "Not related"; "Not applicable" is left out), for the
    scorer as the Lambda runs it, for the scorer without its repost rule (half of these posts are "RT @…",
    which relays never repost but which can be informative), and for text length (the data has no engagement);
  * the time to rank 1,000, 10,000 and 100,000 synthetic candidates (score every post, then choose a round's
    10 picks: near-duplicates, diversity) and the ratios of successive times.
Goals, printed with pass/fail: on each conference feed AUC(2 vs rest) >= 0.85 and top-10 % precision of label 2
>= 0.70, each at least 0.10 above the better baseline; 10x the candidates costs <= 12x the time.
"""

from __future__ import annotations

import argparse
import csv
import gc
import random
import sys
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path[:0] = [str(ROOT)]

from rich.console import Console  # noqa: E402
from rich.table import Table  # noqa: E402

from relaycast import insight, selection  # noqa: E402
from relaycast_local.rank import Row, auc, read_posts  # noqa: E402

AUC_GOAL, TOP_GOAL, MARGIN, SCALE_GOAL = 0.85, 0.70, 0.10, 12.0
INFORMATIVE = "Related and informative"


def top_share(scored: Sequence[tuple[float, bool]], fraction: float = 0.10) -> float:
    """Share of positives among the best `fraction` of posts; a tie across the cut counts pro rata."""
    k = max(1, round(len(scored) * fraction))
    ordered = sorted(scored, key=lambda pair: -pair[0])
    cut = ordered[k - 1][0]
    above = [positive for value, positive in ordered if value > cut]
    tied = [positive for value, positive in ordered if value == cut]
    return (sum(above) + (k - len(above)) * sum(tied) / len(tied)) / k


def score_of(row: Row, rules: dict | None = None) -> float:
    return insight.score_post(
        text=row.text, author=row.author, likes=row.likes, reposts=row.reposts, replies=row.replies,
        is_reply=row.is_reply, lang=row.lang, rules=rules,
    ).score


RANKERS: dict[str, Callable[[Row], float]] = {
    "scorer": score_of,
    "engagement": lambda row: row.likes + row.reposts + row.replies,
    "length": lambda row: len(row.text),
}


def conference_feeds(data: Path) -> list[tuple[str, list[tuple[int, Row]], int]]:
    feeds = []
    for labels in sorted((data / "insight").glob("*.labels.csv")):
        name = labels.name.removesuffix(".labels.csv")
        posts = {row.id: row for row in read_posts(data / "events" / f"{name}.csv")[0]}
        with labels.open(newline="") as stream:
            pairs = [(int(r["label"]), r["id"]) for r in csv.DictReader(stream)]
        feeds.append((name, [(label, posts[i]) for label, i in pairs if i in posts], sum(i not in posts for _, i in pairs)))
    return feeds


def figures_of(feed: list[tuple[int, Row]], ranker: Callable[[Row], float]) -> tuple[float, float, float]:
    scored = [(ranker(row), label) for label, row in feed]
    return (
        auc([v for v, label in scored if label == 2], [v for v, label in scored if label < 2]),
        auc([v for v, label in scored if label >= 1], [v for v, label in scored if label == 0]),
        top_share([(v, label == 2) for v, label in scored]),
    )


def mark(ok: bool) -> str:
    return "[green]pass[/green]" if ok else "[red]FAIL[/red]"


def bench_conferences(console: Console, data: Path) -> bool:
    table = Table(title="Conference feeds: insight labels 0/1/2 (no expert list: the text scorer alone)")
    for column in ("feed", "posts", "ranker", "AUC 2 vs rest", "AUC ≥1 vs 0", "top 10 %: share of 2"):
        table.add_column(column, justify="left" if column in ("feed", "ranker") else "right")
    table.add_column("goal", justify="left")
    passed = True
    for name, feed, missing in conference_feeds(data):
        results = {ranker: figures_of(feed, fn) for ranker, fn in RANKERS.items()}
        base_auc = max(results["engagement"][0], results["length"][0])
        base_top = max(results["engagement"][2], results["length"][2])
        auc2, _, top = results["scorer"]
        ok_auc = auc2 >= AUC_GOAL and auc2 >= base_auc + MARGIN
        ok_top = top >= TOP_GOAL and top >= base_top + MARGIN
        passed &= ok_auc and ok_top
        counts = "/".join(str(sum(1 for label, _ in feed if label == k)) for k in (0, 1, 2))
        for ranker, (a2, a1, t) in results.items():
            goal = ""
            if ranker == "scorer":
                goal = (f"AUC ≥ {AUC_GOAL} and ≥ baselines + {MARGIN}: {mark(ok_auc)}; "
                        f"top ≥ {TOP_GOAL} and ≥ baselines + {MARGIN}: {mark(ok_top)}")
            posts = f"{len(feed)} ({counts})" + (f", {missing} unmatched" if missing else "") if ranker == "scorer" else ""
            table.add_row(name if ranker == "scorer" else "", posts, ranker, f"{a2:.3f}", f"{a1:.3f}", f"{t:.3f}", goal)
        table.add_section()
    console.print(table)
    return passed


def bench_crisis(console: Console, data: Path) -> None:
    table = Table(title='CrisisLexT26: "Related and informative" vs the rest (no goal: another domain, other languages)')
    for column in ("event", "posts (+/−)", "scorer", "scorer, repost rule off", "length"):
        table.add_column(column, justify="left" if column == "event" else "right")
    no_repost = {**insight.RULES, "repost": 0.0}
    totals = [0.0, 0.0, 0.0]
    files = sorted((data / "informativeness").glob("*.csv"))
    for path in files:
        with path.open(newline="", encoding="utf-8", errors="replace") as stream:
            rows = [r for r in csv.DictReader(stream, skipinitialspace=True) if r["Informativeness"] != "Not applicable"]
        posts = [(r["Informativeness"] == INFORMATIVE, Row(id=r["Tweet ID"], text=r["Tweet Text"], author="")) for r in rows]
        figures = []
        for ranker in (score_of, lambda row: score_of(row, no_repost), lambda row: len(row.text)):
            values = [(ranker(row), positive) for positive, row in posts]
            figures.append(auc([v for v, p in values if p], [v for v, p in values if not p]))
        totals = [t + f for t, f in zip(totals, figures, strict=True)]
        positives = sum(p for p, _ in posts)
        table.add_row(path.name.removesuffix("-tweets_labeled.csv"), f"{positives}/{len(posts) - positives}",
                      *(f"{f:.3f}" for f in figures))
    table.add_section()
    table.add_row("mean", "", *(f"{t / len(files):.3f}" for t in totals))
    console.print(table)


# --- cost of ranking more ------------------------------------------------------------------------------------
def synthetic_candidates(n: int, seed: int = 7) -> list[dict]:
    """Plausible posts of a large event: findings with figures, live-tweets of one slide by several people,
    pointers, logistics, chatter and replies, over invented words (no real feed)."""
    rng = random.Random(seed)
    syllables = ["ka", "lo", "mi", "ter", "van", "so", "du", "rex", "ni", "pal", "qua", "zen", "bor", "ti"]
    vocabulary = ["".join(rng.choice(syllables) for _ in range(rng.randint(2, 4))) for _ in range(4000)]
    names = [f"{rng.choice(vocabulary).title()} {rng.choice(vocabulary).title()}" for _ in range(300)]
    authors = [f"user{i}" for i in range(max(50, n // 20))]
    start = datetime(2026, 12, 1, 8, tzinfo=UTC)

    def words(k: int) -> str:
        return " ".join(rng.choice(vocabulary) for _ in range(k))

    templates = [
        lambda: f"{rng.choice(names)}: {words(6)} cut {words(2)} by {rng.randint(5, 95)}% on {words(5)} #EV26",
        lambda: f'"{words(8)}" says {rng.choice(names)} #EV26',
        lambda: f"{rng.choice(names)} shows that {words(10)} outperforms {words(4)} #EV26 #{rng.choice(vocabulary)}",
        lambda: f"Great talk by @{rng.choice(authors)} on {words(3)} #EV26",
        lambda: f"Coffee is served in hall {rng.choice('ABCD')} until 10:30 #EV26",
        lambda: f"@{rng.choice(authors)} @{rng.choice(authors)} {words(4)} indeed!",
        lambda: f"So excited to be at #EV26 with {words(3)}!",
        lambda: f"Slides of {words(4)} https://example.org/{rng.randint(1, 10**6)} #EV26",
    ]
    posts: list[dict] = []
    while len(posts) < n:
        at = start + timedelta(seconds=rng.randint(0, 2 * 86400))
        if rng.random() < 0.1:  # one slide live-tweeted by up to five people
            slide = f"{words(7)} {rng.randint(10, 99)}% of {words(4)}"
            variants = [f"{rng.choice(names)}: {slide} #EV26", f"Key slide: {slide}!! #EV26",
                        f"{slide} (via {rng.choice(names)}) #EV26", f"Wow: {slide} #EV26", f"#EV26 {slide}"]
            texts = variants[: rng.randint(2, 5)]
        else:
            texts = [rng.choice(templates)()]
        for text in texts:
            posts.append({"network": "x", "post_id": str(len(posts)), "author": rng.choice(authors), "text": text,
                          "created_at": (at + timedelta(seconds=rng.randint(0, 120))).isoformat(),
                          "likes": rng.randint(0, 50), "reposts": rng.randint(0, 10), "replies": rng.randint(0, 5),
                          "is_reply": text.startswith("@")})
    return posts[:n]


def rank_candidates(posts: list[dict]) -> list[dict]:
    """What a round does with a pool: score every post, then choose 10 picks (near-duplicates, diversity)."""
    scored = []
    for post in posts:
        result = selection.score_post(
            text=post["text"], author=post["author"], expert_weight=0.0, likes=post["likes"], reposts=post["reposts"],
            replies=post["replies"], is_reply=post["is_reply"],
        )
        scored.append({**post, "score": result.score, "reasons": list(result.reasons)})
    return selection.choose(scored, n=10, event_tags=["EV26"])


def bench_scaling(console: Console, sizes: Sequence[int] = (1_000, 10_000, 100_000)) -> bool:
    times = []
    for size in sizes:
        posts = synthetic_candidates(size)
        best = float("inf")
        for _ in range(3 if size <= 10_000 else 2):  # the best of a few runs: less noise from other work
            gc.collect()  # the generator's garbage is not the ranking's cost
            started = time.perf_counter()
            rank_candidates(posts)
            best = min(best, time.perf_counter() - started)
        times.append(best)
    table = Table(title="Ranking synthetic candidates (score all, then choose 10: near-duplicates, diversity)")
    for column in ("candidates", "time", "per post", "ratio to the previous", "goal"):
        table.add_column(column, justify="right" if column != "goal" else "left")
    passed = True
    for i, (size, seconds) in enumerate(zip(sizes, times, strict=True)):
        ratio, goal = "", ""
        if i:
            r = seconds / times[i - 1]
            ok = r <= SCALE_GOAL * size / sizes[i - 1] / 10
            passed &= ok
            ratio, goal = f"{r:.1f}×", f"≤ {SCALE_GOAL:g}× for {size // sizes[i - 1]}× the posts: {mark(ok)}"
        table.add_row(f"{size:,}", f"{seconds:.2f} s", f"{seconds / size * 1e6:.0f} µs", ratio, goal)
    console.print(table)
    return passed


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "data", help="the shared data folder")
    args = parser.parse_args(argv)
    console = Console(width=160)
    quality = bench_conferences(console, args.data)
    bench_crisis(console, args.data)
    scaling = bench_scaling(console)
    console.print(f"Goals: conference feeds {mark(quality)}, scaling {mark(scaling)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
