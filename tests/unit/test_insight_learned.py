"""The insight scorer's learned part: shipped as trained, reading form and never a field's words, and scoring
French as it scores English."""

import csv
import json
import statistics
from pathlib import Path

import pytest
from scipy.stats import kendalltau

from relaycast import insight
from relaycast_local import insight_training

ROOT = Path(__file__).resolve().parents[2]
SAMPLE = ROOT / "tests" / "bench" / "data" / "french_sample.csv"
SHAPE = {"length", "links", "hashtags", "hashtag_share", "mentions", "question", "exclamation", "colon", "digits",
         "capitals", "sympathy", "report", "via"}
RULE_INPUTS = set(insight.RULES) - {"expert", "form", "form_low"}


@pytest.fixture(scope="module")
def feeds():
    return insight_training.labelled_feeds()


def test_the_shipped_model_is_what_training_on_the_shared_data_gives(capsys):
    assert insight_training.main(["--check"]) == 0
    assert "is what training" in capsys.readouterr().out


def test_a_model_that_differs_beyond_floating_point_is_refused(tmp_path, capsys):
    shipped = json.loads(insight.MODEL_FILE.read_text(encoding="utf-8"))
    shipped["weights"]["figure"] += 0.01
    tampered = tmp_path / "model.json"
    tampered.write_text(json.dumps(shipped), encoding="utf-8")
    assert insight_training.main(["--check", "--out", str(tampered)]) == 1
    assert "other weights: figure" in capsys.readouterr().err
    shipped["trained_on"][0]["files"] = {"insight/other.csv": "0" * 64}
    tampered.write_text(json.dumps(shipped), encoding="utf-8")
    assert insight_training.main(["--check", "--out", str(tampered)]) == 1
    assert "trained on other data" in capsys.readouterr().err


def test_it_was_trained_on_both_kinds_of_feeds_and_reads_form_only(feeds):
    shipped = json.loads(insight.MODEL_FILE.read_text(encoding="utf-8"))
    kinds = {feed["kind"] for feed in shipped["trained_on"]}
    assert kinds == {"conference", "crisis"}
    assert set(shipped["weights"]) <= RULE_INPUTS | SHAPE
    # Whatever a post's words, the inputs are the same few names: no vocabulary of a field or a language.
    for feed in feeds[:3]:
        for post in feed.posts[:200]:
            assert set(insight_training.inputs_of(post.row)) <= RULE_INPUTS | SHAPE


def test_the_learned_part_counts_in_quality_and_says_so_when_it_matters():
    report = "Officials confirmed 12 dead and 40 injured after the bridge collapsed; shelters open at the town hall"
    sympathy = "So sad, praying for everyone there. My heart goes out to them"
    pushed_up = insight.score_post(text=report)
    pushed_down = insight.score_post(text=sympathy)
    assert "form" in pushed_up.reasons
    assert "form_low" in pushed_down.reasons
    without = {**insight.RULES, "form": 0.0, "form_low": 0.0}
    assert pushed_up.quality > insight.score_post(text=report, rules=without).quality
    assert pushed_down.quality < insight.score_post(text=sympathy, rules=without).quality
    # A push too small to matter gets no reason.
    for text in ("Caching hides slow queries", report, sympathy):
        push = insight.form_push(text, insight.features(text=text))
        shown = {"form", "form_low"} & set(insight.score_post(text=text).reasons)
        assert bool(shown) == (abs(push) >= insight.FORM_SHOWN)


def test_the_french_sample_scores_like_its_english_originals(feeds):
    posts = {(feed.name, post.row.id): post for feed in feeds for post in feed.posts}
    with SAMPLE.open(newline="", encoding="utf-8") as stream:
        sample = [(posts[(r["feed"], r["id"])], r["french"]) for r in csv.DictReader(stream)]
    assert len(sample) >= 30
    assert {post.label for post, _ in sample} == {0, 1, 2}
    english = [insight.score_post(text=p.row.text, is_reply=p.row.is_reply) for p, _ in sample]
    french = [insight.score_post(text=text, is_reply=p.row.is_reply, lang="fr") for p, text in sample]
    gap = statistics.fmean(f.score - e.score for e, f in zip(english, french, strict=True))
    assert abs(gap) <= 0.5
    assert kendalltau([e.score for e in english], [f.score for f in french]).statistic >= 0.8
    same_side = sum(e.eligible(2.0) == f.eligible(2.0) for e, f in zip(english, french, strict=True))
    assert same_side >= 0.9 * len(sample)

