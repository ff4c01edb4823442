"""Topic relevance and the programme in selection: posts that only ride the hashtag lose to posts about the event."""

import random
from datetime import UTC, datetime, timedelta

from event_support import GOOD

from relaycast import relevance, selection
from relaycast.config import parse_event_config
from relaycast.insight import RULES

START = datetime(2026, 12, 1, 9, tzinfo=UTC)
# Three sessions of a data-engineering meeting, each with its own words.
SUBJECTS = {
    "contracts": "data contract tests producer pipeline breaking schema change dashboard upstream rename lake",
    "observability": "tail sampling traces error budget telemetry spans storage burn rate service retention",
    "migrations": "schema migration rollback snapshot rehearsal window downtime reversible expand database",
}
SPAM = ("🚀 $NOVA is up 340% this week: 12,000 holders already and the presale closes Friday. Follow for follow, "
        "retweet and DM 'moon' for the whitelist #TS26 #crypto")
JOB_AD = ("Senior backend engineer wanted in Lyon: €65,000 to €80,000 a year, 4 days remote, Python and Kubernetes, "
          "start in January. Send your CV to careers@talentbridge.example #TS26")


def candidate(post_id, text, author, score=4.0, minutes=0, network="x"):
    at = START + timedelta(minutes=minutes)
    return {"network": network, "post_id": post_id, "author": author, "text": text, "score": score, "quality": score,
            "substantive": True, "reasons": ["substance"], "created_at": at.isoformat(),
            "url": f"https://x.com/{author}/status/{post_id}"}


def on_topic_pool(authors, seed=1, subjects=SUBJECTS):
    """One post per author on one of the subjects: six of its words, and two words of their own."""
    rng = random.Random(seed)
    pool = []
    for i in range(authors):
        subject = list(subjects)[i % len(subjects)]
        words = rng.sample(subjects[subject].split(), 6) + [f"own{i}word", f"aside{i}note"]
        pool.append(candidate(f"t{i}", f"{' '.join(words)} measured at 38% #TS26", f"person{i}", score=4.0 - i / 100,
                              minutes=i))
    return pool


def ids(picks):
    return [p["post_id"] for p in picks]


def test_spam_riding_the_tag_is_never_picked_from_a_pool_that_can_judge():
    pool = on_topic_pool(relevance.EXCLUDE_FROM)
    spam = [candidate("spam", SPAM, "cryptomoon", score=7.5), candidate("job", JOB_AD, "talentbridge", score=6.5)]
    picks = selection.choose(pool + spam, n=5, event_tags=["TS26"])
    assert len(picks) == 5 and not {"spam", "job"} & set(ids(picks))
    # Without relevance the spam, scored best on form, would have been the first pick.
    assert selection.choose(spam + pool[:2], n=1, event_tags=["TS26"])[0]["post_id"] == "spam"
    topic = selection.learn_topic(pool + spam, event_tags=["TS26"])
    assert topic.rule == "exclude"
    assert topic.judge(spam[0]).off_topic and topic.judge(spam[1]).off_topic
    assert all(not topic.judge(c).off_topic and topic.judge(c).relevance >= relevance.ON_TOPIC for c in pool)


def test_in_a_small_pool_spam_is_lowered_with_its_reason_and_loses_to_posts_on_the_subject():
    pool = on_topic_pool(relevance.LOWER_FROM)
    spam = candidate("spam", SPAM, "cryptomoon", score=7.5)
    picks = selection.choose([spam, *pool], n=len(pool) + 1, event_tags=["TS26"])
    assert picks[-1]["post_id"] == "spam"  # still pickable when nothing else is left…
    assert "off_topic" in picks[-1]["reasons"] and picks[-1]["score"] == round(7.5 - selection.OFF_TOPIC_PENALTY, 3)
    assert all("off_topic" not in p["reasons"] for p in picks[:-1])  # …but after every post on the subject


def test_a_bot_ring_posting_one_text_cannot_become_the_subject():
    pool = on_topic_pool(relevance.EXCLUDE_FROM)
    ring = [candidate(f"bot{i}", SPAM, f"bot{i}", score=7.5, minutes=i) for i in range(40)]  # outnumbers the people
    topic = selection.learn_topic(pool + ring, event_tags=["TS26"])
    assert topic.voters == len(pool) + 1  # the ring's one text is one voice
    assert topic.judge(ring[0]).off_topic and topic.judge(ring[0]).relevance == 0.0
    assert all(not topic.judge(c).off_topic for c in pool)
    assert not {p["post_id"] for p in selection.choose(pool + ring, n=5, event_tags=["TS26"])} & {c["post_id"] for c in ring}
    # One spammer posting many texts votes once for each word too.
    spammer = [candidate(f"s{i}", SPAM.replace("340%", f"{300 + i}% and {i} extra gems {i}x"), "cryptomoon", minutes=i)
               for i in range(10)]
    assert selection.learn_topic(pool + spammer).judge(spammer[0]).off_topic


def test_relevance_stays_neutral_in_a_tiny_pool_without_a_programme():
    pool = on_topic_pool(relevance.LOWER_FROM - 2)
    spam = candidate("spam", SPAM, "cryptomoon", score=7.5)  # the pool's voters: one fewer than LOWER_FROM
    topic = selection.learn_topic([spam, *pool])
    assert topic.rule == "neutral" and topic.judge(spam).relevance is None and not topic.judge(spam).off_topic
    picks = selection.choose([spam, *pool], n=2, event_tags=["TS26"])
    assert picks[0]["post_id"] == "spam" and picks[0]["score"] == 7.5  # an early round still picks on form alone
    assert not any(r in ("off_topic", "on_topic") for p in picks for r in p["reasons"])


PROGRAMME = [
    {"title": "Data contracts at the producer", "speakers": ["Jane Doe @jdoe"], "start": "2026-12-01T10:00",
     "end": "2026-12-01T10:45", "abstract": "Contract tests in the producer pipeline catch breaking schema changes."},
    {"title": "Observability budgets", "speakers": ["Omar Haddad"], "start": "2026-12-01T10:00",
     "end": "2026-12-01T10:45", "abstract": "Tail sampling of traces by error budget cuts stored telemetry."},
    {"title": "Rehearsed schema migrations", "speakers": ["@lena_db"], "start": "2026-12-01T11:00",
     "end": "2026-12-01T11:45", "abstract": "Reversible migrations rehearsed against a production snapshot."},
]
CONFIG = parse_event_config({**GOOD, "programme": PROGRAMME})  # Paris: 10:00 local is 09:00 UTC


def test_the_programme_alone_is_enough_to_judge_the_first_round():
    pool = [candidate("c1", "Contract tests run in the producer pipeline, so breaking schema changes fail there #TS26", "ann"),
            candidate("o1", "Sampling traces by error budget kept the error traces and cut telemetry by 72% #TS26", "bob"),
            candidate("spam", SPAM, "cryptomoon", score=7.5)]
    topic = selection.learn_topic(pool, programme=CONFIG.programme, event_tags=CONFIG.hashtags)
    assert topic.voters == 3 and topic.rule == "exclude"
    assert topic.judge(pool[2]).off_topic and not topic.judge(pool[0]).off_topic
    picks = selection.choose(pool, n=3, programme=CONFIG.programme, event_tags=CONFIG.hashtags)
    assert ids(picks) == ["c1", "o1"]
    assert "session:Data contracts at the producer" in picks[0]["reasons"]
    assert "session:Observability budgets" in picks[1]["reasons"]


def test_french_posts_on_the_subject_are_not_off_topic():
    french = {"contrats": "contrat données tests producteur chaîne changements cassants schéma tableau bord renommage",
              "traces": "échantillonnage traces budget erreur télémétrie stockage service conservation taux requêtes"}
    pool = on_topic_pool(relevance.EXCLUDE_FROM) + [
        {**c, "post_id": f"fr{i}", "author": f"francophone{i}", "lang": "fr"}
        for i, c in enumerate(on_topic_pool(6, seed=2, subjects=french))]
    topic = selection.learn_topic(pool, event_tags=["TS26"])
    french_posts = [c for c in pool if c["post_id"].startswith("fr")]
    assert all(not topic.judge(c).off_topic for c in french_posts)
    assert min(topic.judge(c).relevance for c in french_posts) >= relevance.ON_TOPIC
    # A French post on the subject in its own words, with the tool's name the others use: on topic too.
    pool.append(candidate("fr-new", "Parcelite vérifie les contrats de données chez le producteur, avant le lac : "
                          "212 changements cassants interceptés #TS26", "nouvelle"))
    for c in pool[:3]:
        c["text"] = c["text"].replace("measured", "Parcelite measured")
    assert not selection.learn_topic(pool, event_tags=["TS26"]).judge(pool[-1]).off_topic


def test_a_post_is_matched_to_a_session_by_speaker_words_or_time():
    topic = selection.learn_topic([], programme=CONFIG.programme, event_tags=CONFIG.hashtags)
    at = START + timedelta(minutes=20)  # 10:20 in Paris: two sessions run in parallel

    def session(text, when=at, author="someone"):
        return topic.judge({"text": text, "author": author}, when).session

    assert session("Great point on where to test, from @jdoe") == "Data contracts at the producer"
    assert session("Omar Haddad: keep what you will debug, not what is cheap") == "Observability budgets"
    assert session("Sampling traces by error budget cut telemetry in half") == "Observability budgets"
    assert session("Key insight of the morning, 3 teams agree") is None  # two sessions running: time alone says nothing
    assert session("Key insight of the morning, 3 teams agree", START + timedelta(minutes=80)) == "Rehearsed schema migrations"
    assert session("Key insight of the morning", START + timedelta(minutes=140)) is None  # 35 minutes after the last ended
    # Words beat time: a post on contracts written during the migrations session is about contracts.
    assert session("Contract tests in the producer pipeline, finally", START + timedelta(minutes=80)) == \
        "Data contracts at the producer"


def test_picks_spread_across_the_programmes_sessions():
    pool = [candidate("c1", "Contract tests in the producer pipeline catch breaking schema changes early #TS26", "ann", 6.0, 70),
            candidate("c2", "Versioned contracts checked in CI: 212 breaking changes caught in a year #TS26", "bob", 5.9, 75),
            candidate("o1", "Sampling traces by error budget: 99% of error traces kept with 72% less telemetry #TS26", "cyd", 5.0, 80)]
    # c2 shares no mark with c1 (no name, no tag): only the programme says they are one session.
    assert ids(selection.choose(pool, n=2, event_tags=["TS26"])) == ["c1", "c2"]
    picks = selection.choose(pool, n=2, event_tags=CONFIG.hashtags, programme=CONFIG.programme)
    assert ids(picks) == ["c1", "o1"]
    third = selection.choose(pool, n=3, event_tags=CONFIG.hashtags, programme=CONFIG.programme)[2]
    assert third["post_id"] == "c2" and "same_session" in third["reasons"]


def test_a_post_naming_a_programme_speaker_is_credited_and_says_which():
    named = candidate("n", "Jane Doe made the case for contract tests at the producer, 212 breaks caught #TS26", "ann", 5.0, 70)
    plain = candidate("p", "Contract tests at the producer caught 212 breaking changes before any dashboard #TS26", "bob", 5.4, 72)
    picks = selection.choose([named, plain], n=2, programme=CONFIG.programme, event_tags=CONFIG.hashtags)
    assert ids(picks)[0] == "n" and picks[0]["score"] == round(5.0 + RULES["speaker"], 3)
    assert "programme_speaker:Jane Doe @jdoe" in picks[0]["reasons"]
    # A post the scorer already credits for attributing its point gets the speaker named, not the points twice.
    attributed = {**named, "reasons": ["substance", "speaker"]}
    again = selection.choose([attributed], n=1, programme=CONFIG.programme)[0]
    assert again["score"] == 5.0 and "programme_speaker:Jane Doe @jdoe" in again["reasons"]
    # A mention by handle counts; a speaker's mention of themselves does not.
    assert "programme_speaker:Jane Doe @jdoe" in selection.choose(
        [{**plain, "text": plain["text"] + " @jdoe"}], n=1, programme=CONFIG.programme)[0]["reasons"]


def test_a_programme_speakers_own_posts_weigh_as_an_experts_unless_the_organiser_weighed_them():
    own = candidate("own", "Contract tests at the producer caught 212 breaking changes before any dashboard @jdoe #TS26", "jdoe", 5.0, 70)
    pick = selection.choose([own], n=1, programme=CONFIG.programme)[0]
    assert pick["score"] == round(5.0 + RULES["expert"] * selection.SPEAKER_WEIGHT, 3)
    assert "speaker_author:Jane Doe @jdoe" in pick["reasons"]
    assert not any(r.startswith("programme_speaker:") for r in pick["reasons"])
    listed = selection.choose([own], n=1, programme=CONFIG.programme, expert_weight=lambda a: 2.0 if a == "jdoe" else 0.0)[0]
    assert listed["score"] == 5.0 and "speaker_author:Jane Doe @jdoe" not in listed["reasons"]  # weighed in its score
