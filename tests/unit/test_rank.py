import csv
import io
import subprocess
import sys
from pathlib import Path

import pytest

from relaycast_local.rank import auc, parse_posts

ROOT = Path(__file__).resolve().parents[2]
TWINT = ["id", "conversation_id", "created_at", "date", "tweet", "language", "username", "nlikes", "nreplies", "nretweets", "reply_to"]
PLAIN = ["id", "text", "author", "created_at", "likes", "reposts", "replies", "lang", "is_reply"]
INSIGHT = "Jane Doe: the new index cut query latency by 38% on 2 TB of logs, measured against a B-tree #CONF"
CHATTER = "So excited to be here!! #CONF"


def write(path, header, rows):
    with path.open("w", newline="") as stream:
        writer = csv.writer(stream)
        writer.writerow(header)
        writer.writerows(rows)
    return path


def rank(*args):
    return subprocess.run([sys.executable, "-m", "relaycast_local.cli", "rank", *map(str, args)],
                          capture_output=True, text=True, cwd=ROOT, timeout=60)


def ranking(stdout):
    return list(csv.DictReader(io.StringIO(stdout)))


def test_rank_reads_twint_exports_best_first_with_reasons(tmp_path):
    feed = write(tmp_path / "feed.csv", TWINT, [
        ["1", "1", "1468624355000.0", "2016-07-15 16:12:35", CHATTER, "en", "fan", "400", "20", "90", "[]"],
        ["2", "2", "1468624356000.0", "2016-07-15 16:12:36", INSIGHT, "en", "jdoe_live", "1", "0", "0", "[]"],
        ["3", "1", "1468624357000.0", "2016-07-15 16:12:37", "@fan yes!", "en", "pal", "0", "0", "0", "[{'screen_name': 'fan'}]"],
    ])
    result = rank(feed)
    assert result.returncode == 0, result.stderr
    rows = ranking(result.stdout)
    assert [r["id"] for r in rows] == ["2", "1", "3"]
    assert "states a number" in rows[0]["reasons"] and "reply fragment" in rows[2]["reasons"]
    assert float(rows[0]["score"]) > float(rows[1]["score"]) > float(rows[2]["score"])


def test_rank_reads_the_plain_format_and_weighs_experts(tmp_path):
    feed = write(tmp_path / "posts.csv", PLAIN, [
        ["a", INSIGHT, "@someone", "2026-12-01T10:00:00Z", "0", "0", "0", "en", "false"],
        ["b", INSIGHT.replace("38%", "39%"), "amina_data", "2026-12-01T10:01:00Z", "0", "0", "0", "en", "0"],
        ["c", "Le café est servi salle 3 #CONF", "orga", "2026-12-01T10:02:00Z", "5", "1", "0", "fr", ""],
    ])
    plain = ranking(rank(feed).stdout)
    assert [r["id"] for r in plain][2] == "c" and "logistics" in plain[2]["reasons"]
    weighted = rank(feed, "--experts", "@amina_data:2,@nobody")
    assert weighted.returncode == 0
    top = ranking(weighted.stdout)[0]
    assert top["id"] == "b" and "expert author (weight 2)" in top["reasons"]
    from_event = ranking(rank(feed, "--experts-file", ROOT / "events" / "example.yaml").stdout)[0]
    assert from_event["id"] == "b"  # example.yaml lists @amina_data with weight 2


def test_rank_says_the_reasons_in_french_when_asked(tmp_path):
    feed = write(tmp_path / "posts.csv", PLAIN, [
        ["a", INSIGHT, "amina_data", "2026-12-01T10:00:00Z", "0", "0", "0", "en", "false"],
        ["c", "Le café est servi salle 3 #CONF", "orga", "2026-12-01T10:02:00Z", "5", "1", "0", "fr", ""],
    ])
    english = rank(feed, "--experts", "@amina_data:1.5")
    french = rank(feed, "--experts", "@amina_data:1.5", "--lang", "fr")
    assert english.returncode == french.returncode == 0, french.stderr
    en, fr = ranking(english.stdout), ranking(french.stdout)
    assert [(r["id"], r["score"]) for r in fr] == [(r["id"], r["score"]) for r in en]  # the same ranking, other words
    assert "donne un chiffre" in fr[0]["reasons"] and "auteur expert (poids 1,5)" in fr[0]["reasons"]
    assert "logistique" in fr[1]["reasons"]
    assert "states a number" in en[0]["reasons"] and "expert author (weight 1.5)" in en[0]["reasons"]
    said = [{part for r in rows for part in r["reasons"].split(", ")} for rows in (en, fr)]
    assert len(said[0]) == len(said[1]) > 3 and not said[0] & said[1]  # every reason said, none left in English
    refused = rank(feed, "--lang", "de")
    assert refused.returncode == 2 and "invalid choice: 'de'" in refused.stderr


def test_rank_on_the_shared_twint_feed_uses_the_lambda_scorer():
    feed = ROOT.parent / "shared" / "data" / "events" / "ISMB2019.csv"
    if not feed.exists():
        pytest.skip(f"no shared data at {feed}")
    result = rank(feed)
    assert result.returncode == 0 and result.stderr == ""
    rows = ranking(result.stdout)
    assert len(rows) == 391 and rows[0]["reasons"]


def test_rank_errors_are_clear_and_exit_2(tmp_path):
    missing = rank(tmp_path / "nope.csv")
    assert missing.returncode == 2 and "no such file" in missing.stderr and missing.stdout == ""
    unknown = rank(write(tmp_path / "other.csv", ["a", "b"], [["1", "2"]]))
    assert unknown.returncode == 2 and "unknown format (a, b)" in unknown.stderr
    assert "tweet, username" in unknown.stderr and "id,text,author,created_at,likes,reposts,replies" in unknown.stderr
    bad = write(tmp_path / "bad.csv", PLAIN[:7], [
        ["1", INSIGHT, "ann", "", "3", "0", "0"],
        ["2", "no likes", "bob", "", "many", "0", "0"],
        ["3", "short row"],
        ["4", "", "cyd", "", "0", "0", "0"],
        ["1", "the same id again", "dee", "", "0", "0", "0"],
        ["5", CHATTER, "eve", "", "0", "0", "0"],
    ])
    result = rank(bad)
    assert result.returncode == 2
    assert "skipped 4 bad row(s)" in result.stderr
    assert "line 3: likes is not a number" in result.stderr and "line 4: 2 fields where the header has 7" in result.stderr
    assert "line 5: text is empty" in result.stderr and "line 6: id 1 repeated" in result.stderr
    assert [r["id"] for r in ranking(result.stdout)] == ["1", "5"]
    experts = rank(bad, "--experts", "@not a handle")
    assert experts.returncode == 2 and "--experts @not a handle" in experts.stderr


def test_formats_are_told_apart_by_their_header():
    rows, bad = parse_posts(io.StringIO("id,tweet,username,nlikes\n1,hello there,bob,2\n"))
    assert rows[0].author == "bob" and rows[0].likes == 2 and not bad
    rows, bad = parse_posts(io.StringIO("id,text,author,is_reply\n1,hi,@bob,yes\n"))
    assert rows[0].author == "bob" and rows[0].is_reply and not bad


def test_auc_counts_ties_as_half():
    assert auc([3, 2], [1, 0]) == 1.0
    assert auc([1], [1]) == 0.5
    assert auc([2, 0], [1, 1]) == 0.5
