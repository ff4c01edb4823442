"""`make model`: train the insight scorer's learned part on the shared labelled posts, the same way every time.

    python -m relaycast_local.insight_training [--data ../shared/data] [--out FILE] [--check]

Two kinds of labelled feeds are read:
  * conference feeds: `insight/<feed>.labels.csv` (labels 0/1/2, see its RUBRIC.md) joined by id to the posts of
    `events/<feed>.csv`; label 2 (substantive insight) is the positive class, label 1 (some content) counts a
    quarter positive;
  * CrisisLexT26 events: `informativeness/*.csv`; "Related and informative" is the positive class, "Related - but
    not informative" and "Not related" the negative one, "Not applicable" is left out.
The two kinds weigh the same, and within a kind every feed weighs the same, so no large feed sets the model.
The model is a logistic regression (scikit-learn, L2, lbfgs) over `insight.form_inputs`: the rules' strengths and
the post's shape, never a field's words, which is what lets it carry to events it has not seen. `--check` exits 1
when the shipped model is not what training gives (a test runs it).
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import json
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from relaycast import insight
from relaycast_local import ROOT
from relaycast_local.rank import Row, read_posts

DATA = ROOT.parent / "shared" / "data"
INFORMATIVE = "Related and informative"
DIGITS = 4  # the shipped weights' precision: enough for the score's three decimals
SOME_CONTENT = 0.25  # label 1 ("names a topic but gives little of it"): a quarter of an insight
TOLERANCE = 1e-3  # what `--check` forgives: another machine's floating point, never another model


@dataclass(frozen=True)
class Labelled:
    row: Row
    label: int  # conference feeds: 0, 1 or 2; crisis events: 1 informative, 0 not
    credit: float  # how positive training takes it: label 1 ("some content") counts in part

    @property
    def positive(self) -> bool:
        """What the benchmarks rank for: label 2 on a conference feed, informative in a crisis."""
        return self.credit == 1.0


@dataclass(frozen=True)
class Feed:
    name: str
    kind: str  # "conference" or "crisis"
    posts: list[Labelled]
    unmatched: int = 0  # labelled ids the feed's posts do not hold
    sources: tuple[Path, ...] = ()


def conference_feeds(data: Path) -> list[Feed]:
    feeds = []
    for labels in sorted((data / "insight").glob("*.labels.csv")):
        name = labels.name.removesuffix(".labels.csv")
        posts_file = data / "events" / f"{name}.csv"
        posts = {row.id: row for row in read_posts(posts_file)[0]}
        with labels.open(newline="") as stream:
            pairs = [(int(r["label"]), r["id"]) for r in csv.DictReader(stream)]
        credit = {0: 0.0, 1: SOME_CONTENT, 2: 1.0}
        labelled = [Labelled(posts[i], label, credit[label]) for label, i in pairs if i in posts]
        feeds.append(Feed(name, "conference", labelled, sum(i not in posts for _, i in pairs), (labels, posts_file)))
    return feeds


def crisis_feeds(data: Path) -> list[Feed]:
    feeds = []
    for path in sorted((data / "informativeness").glob("*.csv")):
        with path.open(newline="", encoding="utf-8", errors="replace") as stream:
            rows = [r for r in csv.DictReader(stream, skipinitialspace=True) if r["Informativeness"] != "Not applicable"]
        informative = [r["Informativeness"] == INFORMATIVE for r in rows]
        labelled = [Labelled(Row(id=r["Tweet ID"], text=r["Tweet Text"], author=""), int(yes), float(yes))
                    for r, yes in zip(rows, informative, strict=True)]
        feeds.append(Feed(path.name.removesuffix("-tweets_labeled.csv"), "crisis", labelled, sources=(path,)))
    return feeds


def labelled_feeds(data: Path = DATA) -> list[Feed]:
    feeds = conference_feeds(data) + crisis_feeds(data)
    kinds = {feed.kind for feed in feeds}
    if kinds != {"conference", "crisis"}:
        raise SystemExit(f"no labelled {' or '.join(sorted({'conference', 'crisis'} - kinds))} feeds under {data}")
    return feeds


def inputs_of(row: Row) -> dict[str, float]:
    return insight.form_inputs(row.text, insight.features(text=row.text, is_reply=row.is_reply, lang=row.lang))


def train(feeds: Sequence[Feed]) -> insight.FormModel:
    from sklearn.feature_extraction import DictVectorizer  # dev tools only: the layer reads the weights
    from sklearn.linear_model import LogisticRegression

    kinds = {feed.kind for feed in feeds}
    per_kind = {kind: sum(feed.kind == kind for feed in feeds) for kind in kinds}
    inputs, positive, weight = [], [], []
    for feed in feeds:
        share = 1 / (len(kinds) * per_kind[feed.kind] * len(feed.posts))
        for post in feed.posts:  # a partial credit is the post counted twice: that much positive, the rest not
            read = inputs_of(post.row)
            for label, part in ((True, post.credit), (False, 1 - post.credit)):
                if part:
                    inputs.append(read)
                    positive.append(label)
                    weight.append(share * part)
    scale = sum(len(feed.posts) for feed in feeds) / sum(weight)  # weights average 1 a post: L2 means what it does unweighted
    vectoriser = DictVectorizer(sparse=False)
    matrix = vectoriser.fit_transform(inputs)
    fitted = LogisticRegression(C=1.0, max_iter=5000).fit(matrix, positive, sample_weight=[w * scale for w in weight])
    weights = {name: round(float(w), DIGITS) for name, w in zip(vectoriser.feature_names_, fitted.coef_[0], strict=True)}
    return insight.FormModel(intercept=round(float(fitted.intercept_[0]), DIGITS), weights=dict(sorted(weights.items())))


def document(model: insight.FormModel, feeds: Sequence[Feed], data: Path) -> dict:
    """The shipped file: the weights and what they were trained on (each file's SHA-256, to retrain exactly)."""
    return {
        "about": "relaycast insight: the learned part's logistic weights over insight.form_inputs; "
                 "written by `make model` (relaycast_local.insight_training) from the files below",
        "trained_on": [{"feed": feed.name, "kind": feed.kind, "posts": len(feed.posts),
                        "positives": sum(p.positive for p in feed.posts),
                        "files": {str(path.relative_to(data)): hashlib.sha256(path.read_bytes()).hexdigest()
                                  for path in feed.sources}}
                       for feed in feeds],
        "intercept": model.intercept,
        "weights": model.weights,
    }


def differences(shipped: dict, trained: dict) -> str:
    """What differs between a shipped model and a trained one, beyond floating point; "" when nothing does."""
    if shipped.get("trained_on") != trained["trained_on"]:
        return "trained on other data"
    if set(shipped.get("weights", {})) != set(trained["weights"]):
        return "other inputs"
    pairs = [("intercept", shipped["intercept"], trained["intercept"])]
    pairs += [(name, shipped["weights"][name], w) for name, w in trained["weights"].items()]
    off = [name for name, a, b in pairs if abs(a - b) > TOLERANCE]
    return f"other weights: {', '.join(off)}" if off else ""


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=DATA, help="the shared data folder (default: %(default)s)")
    parser.add_argument("--out", type=Path, default=insight.MODEL_FILE, help="where to write (default: the layer's)")
    parser.add_argument("--check", action="store_true", help="write nothing; exit 1 if --out is not what training gives")
    args = parser.parse_args(argv)
    feeds = labelled_feeds(args.data)
    trained = document(train(feeds), feeds, args.data)
    if args.check:
        problem = differences(json.loads(args.out.read_text(encoding="utf-8")) if args.out.exists() else {}, trained)
        if problem:
            print(f"{args.out} is not what training on {args.data} gives ({problem}): run `make model`", file=sys.stderr)
            return 1
        print(f"{args.out} is what training on {args.data} gives")
        return 0
    text = json.dumps(trained, indent=1, ensure_ascii=False) + "\n"
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(text, encoding="utf-8")
    print(f"wrote {args.out}: {len(text.splitlines())} lines, trained on {sum(len(f.posts) for f in feeds):,} posts "
          f"of {len(feeds)} feeds")
    return 0


if __name__ == "__main__":
    sys.exit(main())
