from datetime import timedelta

import json

import boto3
from handler_support import EVENT, load_function

from relaycast.config import parse_event_config
from relaycast.fanout import Relay, relays_with_room
from relaycast.networks import Post
from relaycast.reasons import MESSAGES
from relaycast.rounds import candidate_item, select

CONFIG = parse_event_config(EVENT)
INSIGHT = [
    "Keynote: our audit found 41% of public datasets lack a licence, measured across 12,000 portals",
    "The study showed that stable identifiers improve reuse by 3x compared to ad-hoc URLs",
    "\"Metadata is a product, not paperwork\" said the speaker, showing a pipeline that validates 2 TB a day",
    "New method: weak supervision labels 10k records per hour with 92% precision on the benchmark",
]
CHATTER = ["Coffee in hall B now", "Congrats to the winners!", "@bob see you at lunch"]


def add(store, texts, start_id=100, author="someone", at=None):
    for i, text in enumerate(texts):
        post = Post(network="x", post_id=str(start_id + i), author=author, author_id="9", text=text,
                    created_at=at or CONFIG.start_utc, url=f"https://x.com/{author}/status/{start_id + i}")
        store.add_candidate(candidate_item(post, CONFIG))


def test_candidates_carry_score_and_reasons(store):
    add(store, INSIGHT[:1], author="amina_data")
    item = store.candidates()[0]
    # Stored as codes (a rule's name, the expert's weight), never as text in one language.
    assert float(item["score"]) > 5 and "expert:2" in item["reasons"]
    assert item["reasons"] and all(r.partition(":")[0] in MESSAGES for r in item["reasons"])


def test_select_paces_picks_and_the_fan_out_names_relays_with_room(store, frozen_clock):
    add(store, INSIGHT + CHATTER, at=CONFIG.start_utc + timedelta(hours=1))
    store.save_grant({"relay_id": "x-1", "network": "x", "cap": 3, "status": "active", "user_id": "1", "username": "a"})
    store.save_grant({"relay_id": "x-2", "network": "x", "cap": 3, "status": "broken", "user_id": "2", "username": "b"})
    frozen_clock.at = CONFIG.start_utc - timedelta(minutes=5)
    assert select(store, CONFIG, "r0")["picks"] == []  # not before the start
    frozen_clock.at = CONFIG.start_utc + timedelta(hours=2)
    first = select(store, CONFIG, "r1")
    assert len(first["picks"]) == 1  # 2 h of a 33 h event: 1 of the 5 picks (cap 3 + margin)
    assert "relays" not in first  # the round's state holds the picks only
    assert list(relays_with_room(store, CONFIG, first["picks"], frozen_clock.at)) == [
        Relay(relay_id="x-1", network="x", mode="approve-each", own="", delay=0, mail=False)]
    assert first["picks"][0]["text"] in INSIGHT
    frozen_clock.at = CONFIG.start_utc + timedelta(hours=14)
    assert select(store, CONFIG, "r2")["picks"] == []  # 13 h old: no longer news, even with budget left
    add(store, [t + " (day two)" for t in INSIGHT] + CHATTER, start_id=200, at=CONFIG.end_utc - timedelta(hours=1))
    frozen_clock.at = CONFIG.end_utc
    rest = select(store, CONFIG, "r3")
    texts = [p["text"] for p in rest["picks"]]
    assert rest["allowed"] == 4  # the budget's remainder
    assert first["picks"][0]["text"] + " (day two)" not in texts  # a near-duplicate of an earlier pick
    assert len(texts) == 3 and not set(texts) & set(CHATTER)  # so 3, substance only


def test_select_handler_selects_then_fans_out_work_items_to_the_propose_queue(stack_env, store, frozen_clock, lambda_context,
                                                                           monkeypatch):
    add(store, INSIGHT, at=CONFIG.end_utc - timedelta(hours=1))
    for i in range(1, 5):
        store.save_grant({"relay_id": f"x-{i}", "network": "x", "cap": 3, "status": "active", "user_id": str(i), "username": f"u{i}",
                          **({"email": "two@example.net"} if i == 2 else {})})
    store.save_grant({"relay_id": "x-9", "network": "x", "cap": 3, "status": "paused", "user_id": "9", "username": "p"})
    frozen_clock.at = CONFIG.end_utc
    select = load_function("select").handler
    result = select({}, lambda_context)
    assert len(result["picks"]) >= 1 and "relays" not in result
    pick = result["picks"][0]
    assert all(isinstance(pick[k], str) for k in ("network", "post_id", "author", "text", "url", "score"))
    stored = next(c for c in store.candidates() if c["post_id"] == pick["post_id"])
    assert pick["reasons"] == list(stored["reasons"]) and set(pick["reasons"]) <= set(MESSAGES)  # the candidate's codes, as they are
    assert result["proposal_expires_at"] <= int(CONFIG.access_ends.timestamp())

    sqs = boto3.client("sqs")
    queue = sqs.create_queue(QueueName="propose")["QueueUrl"]
    monkeypatch.setenv("PROPOSE_QUEUE_URL", queue)
    monkeypatch.setattr("relaycast.fanout.RELAYS_PER_ITEM", 3)
    fields = ("round", "picks", "proposal_expires_at", "expires_at")
    answer = select({"action": "fan_out", "selection": {k: result[k] for k in fields}}, lambda_context)
    assert answer == {"round": result["round"], "relays": 4, "items": 2, "batches": 1}
    items = [json.loads(m["Body"]) for m in sqs.receive_message(QueueUrl=queue, MaxNumberOfMessages=10)["Messages"]]
    assert sorted(r["relay_id"] for item in items for r in item["relays"]) == ["x-1", "x-2", "x-3", "x-4"]  # not the paused
    assert sorted(len(item["relays"]) for item in items) == [1, 3]
    # Only a relay with a confirmed address is read again for a digest.
    assert {r["relay_id"]: r["mail"] for item in items for r in item["relays"]} == {"x-1": False, "x-2": True, "x-3": False, "x-4": False}
    assert all(item["picks"] == [{k: p[k] for k in item["picks"][0]} for p in result["picks"]] for item in items)


def test_only_verified_names_keep_posts_out_of_the_picks(store, frozen_clock):
    """A share-link relay's declared name is their word alone: the posts stay picked, just not proposed to them."""
    add(store, INSIGHT, author="amina_data", at=CONFIG.end_utc - timedelta(hours=1))
    store.save_grant({"relay_id": "x-link-1", "network": "x", "cap": 3, "status": "active", "mode": "share-link",
                      "username": "Amina_Data"})
    store.save_grant({"relay_id": "x-2", "network": "x", "cap": 3, "status": "active", "user_id": "2", "username": "b"})
    frozen_clock.at = CONFIG.end_utc
    result = select(store, CONFIG, "r1")
    assert result["picks"] and all(p["author_key"] == "amina_data" for p in result["picks"])
    reached = relays_with_room(store, CONFIG, result["picks"], frozen_clock.at)
    assert {r.relay_id: r.own for r in reached} == {"x-link-1": "amina_data", "x-2": ""}
    # A verified relay's own posts are never picked at all.
    store.save_grant({"relay_id": "x-3", "network": "x", "cap": 3, "status": "active", "user_id": "3", "username": "@amina_data"})
    add(store, [t + " again" for t in INSIGHT], start_id=300, author="amina_data", at=CONFIG.end_utc - timedelta(minutes=30))
    assert select(store, CONFIG, "r2")["picks"] == []


SPAM = ["🚀 $NOVA is up 340% this week: 12,000 holders already and the presale closes Friday. Follow for follow, "
        "retweet and DM 'moon' for the whitelist #HTS26 #crypto",
        "Senior backend engineer wanted in Lyon: €65,000 to €80,000 a year, 4 days remote, Python and Kubernetes, "
        "start in January. Send your CV to careers@talentbridge.example #HTS26"]
PROGRAMMED = parse_event_config({**EVENT, "programme": [
    {"title": "Open data licences", "start": "2026-12-02T15:30", "end": "2026-12-02T16:30",
     "abstract": "An audit of public datasets, their licences and the portals that publish them."},
    {"title": "Identifiers and reuse", "speakers": ["Rosa Iyer @rosa_i"], "start": "2026-12-02T16:30",
     "end": "2026-12-02T17:30", "abstract": "Stable identifiers, metadata pipelines and weak supervision for reuse."}]})


LATE = PROGRAMMED.end_utc - timedelta(minutes=110)  # 16:10 in Paris, during the first session


def test_spam_riding_the_hashtag_is_never_picked_in_a_round(store, frozen_clock):
    """Spam scored above the floor on form alone (figures, length) by several accounts: the programme says it is
    not about the event, and no round picks it, however much budget is left."""
    for i, text in enumerate(SPAM * 3):  # each text by three accounts
        post = Post(network="x", post_id=str(500 + i), author=f"promo{i}", author_id=str(50 + i), text=text,
                    created_at=LATE + timedelta(minutes=i), url=f"https://x.com/promo{i}/status/{500 + i}")
        store.add_candidate(candidate_item(post, PROGRAMMED))
    spam = [c for c in store.candidates() if c["text"] in SPAM]
    assert len(spam) == 6 and all(c["substantive"] and float(c["quality"]) >= PROGRAMMED.quality_floor for c in spam)
    for i, text in enumerate(INSIGHT):
        post = Post(network="x", post_id=str(600 + i), author=f"person{i}", author_id=str(60 + i), text=text,
                    created_at=LATE + timedelta(minutes=20 * i), url=f"https://x.com/p{i}/status/{600 + i}")
        store.add_candidate(candidate_item(post, PROGRAMMED))
    frozen_clock.at = PROGRAMMED.end_utc  # the whole budget is open: 5 picks, and 4 posts on the subject
    result = select(store, PROGRAMMED, "r1")
    picked, texts = result["picks"], [p["text"] for p in result["picks"]]
    assert result["allowed"] == 5 and result["pool"] == 10
    assert sorted(texts) == sorted(INSIGHT)  # every post on the subject, and budget left that no spam takes
    assert any("session:Identifiers and reuse" in p["reasons"] for p in picked)
