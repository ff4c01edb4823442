"""The e-mail digest of a round's proposals and its signed single-use links, on moto with the sandbox X.

The round's fan-out is played by handing the real `propose` handler a work item for the relays (as the
propose queue does): it writes their proposals, then mails their digests.
"""

import html
import json
import re
from datetime import timedelta
from urllib.parse import unquote

import boto3
import pytest
from chalice.test import Client
from handler_support import FORM, connect, load_function, refusal_messages, sent_mail, sqs_event, table_snapshot
from relaycast import digest, notices, relays
from relaycast.settings import Settings
from relaycast.storage import Store

ROUND = "20261201T090000Z"
PICKS = [
    {"network": "x", "post_id": "1000", "author": "amina_data", "text": "Insight 0 #HTS26: 40% fewer false positives",
     "url": "https://x.com/amina_data/status/1000", "score": "7.5", "reasons": ["figure", "expert:2"]},
    {"network": "x", "post_id": "1001", "author": "amina_data", "text": "Insight 1 #HTS26 <b>not markup</b> & co",
     "url": "https://x.com/amina_data/status/1001", "score": "5.1", "reasons": ["quote"]},
]
# The picks' reasons (stored as codes) as each language reads them.
SHOWN = {"en": {"1000": "states a number, expert author (weight 2)", "1001": "quotes a speaker"},
         "fr": {"1000": "donne un chiffre, auteur expert (poids 2)", "1001": "cite un orateur"}}


@pytest.fixture
def env(x_sandbox, store, frozen_clock, monkeypatch, lambda_context):
    monkeypatch.setenv("HOSTED_PAGE_URL", "https://hosted.example/live/")
    select, propose = load_function("select").handler, load_function("propose").handler
    with Client(load_function("oauth", "app").app) as client:
        yield {"select": lambda event: select(event, lambda_context), "client": client, "settings": Settings.from_env(),
               "propose": lambda *items: propose(sqs_event(*items), lambda_context)}


def work_item(relay_ids, at, round_id=ROUND, picks=PICKS, hours=12):
    """A work item as the round's fan-out queues it: approve-each relays on X, the round's picks."""
    return {
        "round": round_id, "picks": [{**p, "author_key": p["author"].lower()} for p in picks],
        "relays": [{"relay_id": r, "network": "x", "mode": "approve-each", "own": "", "delay": 0, "mail": True}
                   for r in relay_ids],
        "proposal_expires_at": int((at + timedelta(hours=hours)).timestamp()),
        "expires_at": int((at + timedelta(days=90)).timestamp()),
    }


def fan_out(env, frozen_clock, relay_ids, **item):
    """The round's fan-out reaching these relays: propose's answer (no failures) for one work item."""
    assert env["propose"](work_item(relay_ids, frozen_clock.at, **item)) == {"batchItemFailures": []}


def write_proposals(store, frozen_clock, relay_ids, round_id, picks):
    """Pending proposals an earlier round wrote (and mailed)."""
    at = frozen_clock.at
    for relay_id in relay_ids:
        for pick in picks:
            store.put_new({
                "pk": f"RELAY#{relay_id}", "sk": f"PROPOSAL#{pick['network']}#{pick['post_id']}", "kind": "proposal",
                "relay_id": relay_id, **pick, "round": round_id, "status": "pending", "proposed_at": at.isoformat(),
                "proposal_expires_at": int((at + timedelta(hours=12)).timestamp()),
                "expires_at": int((at + timedelta(days=90)).timestamp()),
            })


def links(mail, settings):
    """{(action, post_id): (path with query)} from a digest's body."""
    found = {}
    for path in re.findall(r"https://hosted\.example/live(/proposal/\w+\?p=\S+)", mail.body):
        token = unquote(re.search(r"\?p=([^&\s]+)", path).group(1))
        action = path.split("?")[0].rsplit("/", 1)[1]
        found[(action, digest.link_claims(settings, token, action).post_id)] = path
    return found


def queued(settings):
    sqs = boto3.client("sqs")
    bodies = []
    while messages := sqs.receive_message(QueueUrl=settings.publish_queue_url, MaxNumberOfMessages=10).get("Messages", []):
        for m in messages:
            bodies.append(json.loads(m["Body"]))
            sqs.delete_message(QueueUrl=settings.publish_queue_url, ReceiptHandle=m["ReceiptHandle"])
    return bodies


def relay(store, settings, sandbox, name, email=None, lang="en", confirm=True):
    return connect(store, settings, name, email, sandbox, lang=lang, confirm=confirm).relay_id


def digest_links(env, store, sandbox, frozen_clock, name, email, lang="en"):
    """A relay with a confirmed address, proposed the round's picks and mailed its digest: (relay id, its links)."""
    relay_id = relay(store, env["settings"], sandbox, name, email, lang=lang)
    fan_out(env, frozen_clock, [relay_id])
    (mail,) = sent_mail(email, "approuver" if lang == "fr" else "to approve")
    return relay_id, links(mail, env["settings"])


def test_one_digest_per_relay_and_round_to_confirmed_addresses_only_in_their_language(env, store, x_sandbox, frozen_clock):
    settings = env["settings"]
    en = relay(store, settings, x_sandbox, "relay_en", "en@example.net")
    fr = relay(store, settings, x_sandbox, "relay_fr", "fr@example.net", lang="fr")
    unconfirmed = relay(store, settings, x_sandbox, "relay_unconf", "late@example.net", confirm=False)
    silent = relay(store, settings, x_sandbox, "relay_silent")
    earlier = {**PICKS[0], "post_id": "999", "text": "An earlier round's post"}
    write_proposals(store, frozen_clock, [en], round_id="20261201T084000Z", picks=[earlier])
    fan_out(env, frozen_clock, [en, fr, unconfirmed, silent])

    (mail,) = sent_mail("en@example.net", "to approve")
    assert "2 post(s) to approve for Handler Test Summit" in mail.subject
    for pick in PICKS:
        for shown in (pick["author"], pick["text"], pick["url"], SHOWN["en"][pick["post_id"]]):
            assert shown in mail.body  # exactly as it would be reposted, nothing escaped in a text mail
    assert "An earlier round's post" not in mail.body  # one round per digest
    assert "01/12/2026 22:00 CET" in mail.body  # 12 hours after 09:00 UTC, in the event's time zone
    assert set(links(mail, settings)) == {(a, p["post_id"]) for a in ("approve", "skip") for p in PICKS}
    dashboard = re.search(r"/relay\?t=(\S+)", mail.body).group(1)
    assert relays.relay_from_token(Store(settings.table_name), settings, settings.event(), dashboard) == en

    (mail_fr,) = sent_mail("fr@example.net", "approuver")
    assert "publication(s) à approuver" in mail_fr.subject
    assert "Approuver le repartage" in mail_fr.body and "jusqu'au 01/12/2026 22:00 CET" in mail_fr.body
    assert all(path.endswith("&lang=fr") for path in links(mail_fr, settings).values())
    assert all(SHOWN["fr"][p] in mail_fr.body and SHOWN["en"][p] not in mail_fr.body for p in SHOWN["fr"])

    assert sent_mail("late@example.net", "approve") == []  # an unconfirmed address gets nothing
    assert len(sent_mail("late@example.net")) == 1  # its confirmation request only
    digests = [i for i in store.table.scan()["Items"] if i["kind"] == "digest"]
    assert sorted(d["relay_id"] for d in digests) == sorted([en, fr])
    # Each proposal keeps the pick's codes: the page and the mail say them in their reader's language.
    codes = {p["post_id"]: p["reasons"] for p in PICKS}
    proposals = [i for i in store.table.scan()["Items"] if i["kind"] == "proposal" and i.get("round") == ROUND]
    assert proposals and all(p["reasons"] == codes[p["post_id"]] for p in proposals)

    # The same work item again (SQS delivers at least once) writes and mails nothing more.
    before = table_snapshot(store)
    fan_out(env, frozen_clock, [en, fr, unconfirmed, silent])
    assert table_snapshot(store) == before
    assert len(sent_mail("en@example.net", "to approve")) == 1 and len(sent_mail("fr@example.net", "approuver")) == 1


def test_a_failed_send_is_retried_for_that_relay_only(env, store, x_sandbox, frozen_clock, monkeypatch):
    settings = env["settings"]
    one = relay(store, settings, x_sandbox, "relay_a", "a@example.net")
    two = relay(store, settings, x_sandbox, "relay_b", "b@example.net")
    real = notices.send_digest

    def flaky(config, **kwargs):
        if kwargs["email"] == "b@example.net":
            raise RuntimeError("SES throttled")
        return real(config, **kwargs)

    monkeypatch.setattr(notices, "send_digest", flaky)
    item = work_item([one, two], frozen_clock.at)
    # The work item fails (SQS delivers it again); the proposals of both are written, a's digest sent.
    assert env["propose"](item) == {"batchItemFailures": [{"itemIdentifier": "m-0"}]}
    assert {p["relay_id"] for p in store.table.scan()["Items"] if p["kind"] == "proposal"} == {one, two}
    assert len(sent_mail("a@example.net", "to approve")) == 1 and sent_mail("b@example.net", "to approve") == []
    monkeypatch.setattr(notices, "send_digest", real)
    assert env["propose"](item) == {"batchItemFailures": []}
    assert len(sent_mail("a@example.net", "to approve")) == 1 and len(sent_mail("b@example.net", "to approve")) == 1


def test_a_paused_or_share_link_grant_gets_no_approve_links(env, store, x_sandbox, frozen_clock):
    settings = env["settings"]
    paused = relay(store, settings, x_sandbox, "relay_paused", "paused@example.net")
    sharer = relay(store, settings, x_sandbox, "relay_sharer", "sharer@example.net")
    relays.set_paused(store, settings.event(), paused, "x", True)
    store.table.update_item(Key={"pk": f"RELAY#{sharer}", "sk": "GRANT#x"}, UpdateExpression="SET #m = :m",
                            ExpressionAttributeNames={"#m": "mode"}, ExpressionAttributeValues={":m": "share-link"})
    fan_out(env, frozen_clock, [paused, sharer])
    assert [i for i in store.table.scan()["Items"] if i["kind"] == "digest"] == []
    assert sent_mail("paused@example.net", "to approve") == [] and sent_mail("sharer@example.net", "to approve") == []


@pytest.mark.parametrize("spoil", [
    lambda item: item.pop("round"),
    lambda item: item.update(round="yesterday"),
    lambda item: item["relays"][0].update(relay_id="RELAY#x-1"),
    lambda item: item["relays"][0].update(delay=901),
    lambda item: item["picks"][0].update(post_id="1; drop"),
    lambda item: item.update(relays=item["relays"] * 101),
    lambda item: item.update(extra="field"),
])
def test_a_malformed_work_item_fails_and_writes_nothing(env, store, frozen_clock, spoil):
    item = work_item(["x-1"], frozen_clock.at)
    spoil(item)
    before = table_snapshot(store)
    assert env["propose"](item) == {"batchItemFailures": [{"itemIdentifier": "m-0"}]}
    assert table_snapshot(store) == before


def test_the_approve_link_shows_the_post_then_approves_once_and_queues_one_job(env, store, x_sandbox, frozen_clock):
    settings, client = env["settings"], env["client"]
    relay_id, found = digest_links(env, store, x_sandbox, frozen_clock, "relay_clicks", "clicks@example.net")

    # Opening the link (or a mail scanner following it) shows the exact post and a button, and changes nothing.
    before = table_snapshot(store)
    shown = client.http.get(found[("approve", "1001")])
    page = html.unescape(shown.body.decode())
    assert shown.status_code == 200
    for text in (PICKS[1]["text"], "@amina_data", SHOWN["en"]["1001"], PICKS[1]["url"], "Approve repost", "01/12/2026 22:00"):
        assert text in page
    assert "<b>not markup</b>" not in shown.body.decode()  # the post's text is escaped on the page
    assert re.search(r'<form method="post" action="[^"]*/proposal/approve"', page)
    assert table_snapshot(store) == before and queued(settings) == []

    token = unquote(re.search(r"\?p=([^&]+)", found[("approve", "1001")]).group(1))
    done = client.http.post("/proposal/approve", body=f"p={token}&lang=en", headers=FORM)
    assert done.status_code == 303 and "/relay?t=" in done.headers["Location"]
    assert store.get(f"RELAY#{relay_id}", "PROPOSAL#x#1001")["status"] == "approved"
    assert queued(settings) == [{"relay_id": relay_id, "network": "x", "post_id": "1001"}]
    assert store.get(f"RELAY#{relay_id}", "PROPOSAL#x#1000")["status"] == "pending"  # bound to its one post

    # Single use: a second POST, the link opened again, or the same post's skip link act no more.
    before = table_snapshot(store)
    again = client.http.post("/proposal/approve", body=f"p={token}&lang=en", headers=FORM)
    assert again.status_code == 409 and "already approved" in again.body.decode()
    assert client.http.get(found[("approve", "1001")]).status_code == 409
    skip_after = client.http.post("/proposal/skip", body=f"p={unquote(found[('skip', '1001')].split('p=')[1].split('&')[0])}",
                                  headers=FORM)
    assert skip_after.status_code == 409 and "already approved" in skip_after.body.decode()
    assert table_snapshot(store) == before and queued(settings) == []


def test_the_skip_link_skips_and_the_dashboard_says_not_published(env, store, x_sandbox, frozen_clock):
    settings, client = env["settings"], env["client"]
    relay_id, found = digest_links(env, store, x_sandbox, frozen_clock, "relay_skips", "skips@example.net", lang="fr")
    path = found[("skip", "1000")]
    shown = client.http.get(path)
    page = html.unescape(shown.body.decode())
    assert shown.status_code == 200 and '<html lang="fr">' in page and "Passer cette publication ?" in page
    token = unquote(re.search(r"\?p=([^&]+)", path).group(1))
    assert client.http.post("/proposal/skip", body=f"p={token}&lang=fr", headers=FORM).status_code == 303
    assert store.get(f"RELAY#{relay_id}", "PROPOSAL#x#1000")["status"] == "skipped"
    assert queued(settings) == []
    again = client.http.get(path)
    assert again.status_code == 409 and "déjà été passée" in again.body.decode()
    board = html.unescape(client.http.get(f"/relay?t={relays.dashboard_token(Store(settings.table_name), settings, relay_id)}").body.decode())
    assert "passé (non publié) · @amina_data: Insight 0" in board


def test_the_dashboard_says_each_proposals_reasons_in_the_relays_language(env, store, x_sandbox, frozen_clock):
    settings, client = env["settings"], env["client"]
    en = relay(store, settings, x_sandbox, "relay_reads_en")
    fr = relay(store, settings, x_sandbox, "relay_reads_fr", lang="fr")
    fan_out(env, frozen_clock, [en, fr])
    # Items another version wrote: a reason as text (before reasons were codes), and a code this one does not know.
    older = {**PICKS[0], "post_id": "998", "reasons": "substantial text"}
    newer = {**PICKS[0], "post_id": "997", "reasons": ["figure", "on_programme:Keynote: data"]}
    write_proposals(store, frozen_clock, [en, fr], ROUND, [older, newer])

    def board(relay_id):
        answer = client.http.get(f"/relay?t={relays.dashboard_token(Store(settings.table_name), settings, relay_id)}")
        assert answer.status_code == 200
        return html.unescape(answer.body.decode())

    english, french = board(en), board(fr)
    assert '<html lang="fr">' in french
    assert all(SHOWN["en"][p] in english and SHOWN["fr"][p] not in english for p in SHOWN["en"])
    assert all(SHOWN["fr"][p] in french and SHOWN["en"][p] not in french for p in SHOWN["fr"])
    assert "· substantial text" in french and "· donne un chiffre, on_programme:Keynote: data" in french


def test_an_expired_link_answers_410_and_the_next_round_records_the_proposal_as_expired(env, store, x_sandbox, frozen_clock):
    settings, client = env["settings"], env["client"]
    relay_id, found = digest_links(env, store, x_sandbox, frozen_clock, "relay_late", "late@example.net")
    token = unquote(re.search(r"\?p=([^&]+)", found[("approve", "1000")]).group(1))
    dashboard_token = relays.dashboard_token(Store(settings.table_name), settings, relay_id)
    assert client.http.post("/proposal/skip", body=f"p={unquote(found[('skip', '1001')].split('p=')[1].split('&')[0])}",
                            headers=FORM).status_code == 303

    frozen_clock.advance(hours=11, minutes=59)
    assert client.http.get(found[("approve", "1000")]).status_code == 200  # still open a minute before
    frozen_clock.advance(minutes=1)
    before = table_snapshot(store)
    for answer in (client.http.get(found[("approve", "1000")]),
                   client.http.post("/proposal/approve", body=f"p={token}", headers=FORM),
                   client.http.post("/relay/approve", body=f"t={dashboard_token}&network=x&post=1000", headers=FORM)):
        body = html.unescape(answer.body.decode())
        assert answer.status_code == 410 and "expired on 01/12/2026 22:00 CET: nothing was published" in body
    assert table_snapshot(store) == before and queued(settings) == []

    # The next round records it: status expired on the item, kept until its retention TTL; the skip stays a skip.
    env["select"]({})
    expired = store.get(f"RELAY#{relay_id}", "PROPOSAL#x#1000")
    assert expired["status"] == "expired" and expired["expired_at"] and expired["expires_at"] > frozen_clock.at.timestamp()
    assert store.get(f"RELAY#{relay_id}", "PROPOSAL#x#1001")["status"] == "skipped"
    marked = table_snapshot(store)
    env["select"]({})
    assert [i for i in table_snapshot(store) if "PROPOSAL" in i] == [i for i in marked if "PROPOSAL" in i]
    assert client.http.get(found[("approve", "1000")]).status_code == 410
    board = html.unescape(client.http.get(f"/relay?t={dashboard_token}").body.decode())
    assert "expired (not published) · @amina_data: Insight 0" in board
    assert "skipped (not published) · @amina_data: Insight 1" in board
    assert "Nothing waiting." in board


def test_a_proposal_decided_before_its_time_is_never_marked_expired(env, store, x_sandbox, frozen_clock):
    settings = env["settings"]
    relay_id = relay(store, settings, x_sandbox, "relay_quick")
    fan_out(env, frozen_clock, [relay_id])
    relays.decide(store, settings, settings.event(), relay_id=relay_id, action="approve", network="x", post_id="1000")
    frozen_clock.advance(hours=13)
    assert digest.expire_proposals(store, settings.event()) == 1
    assert store.get(f"RELAY#{relay_id}", "PROPOSAL#x#1000")["status"] == "approved"
    assert store.get(f"RELAY#{relay_id}", "PROPOSAL#x#1001")["status"] == "expired"


def _tampered(token):
    # Not the last character: its low bits are base64 padding, so some flips decode to the same signature.
    flip = "A" if token[-2] != "A" else "B"
    return token[:-2] + flip + token[-1]


@pytest.mark.parametrize(
    ("make", "status", "words"),
    [
        (lambda t, s: ("get", "/proposal/approve?p=forged"), 403, "This link is not valid."),
        (lambda t, s: ("get", "/proposal/approve"), 403, "This link is not valid."),
        (lambda t, s: ("get", "/proposal/approve?p=" + "x" * 600), 403, "This link is not valid."),
        (lambda t, s: ("get", f"/proposal/approve?p={_tampered(t)}"), 403, "This link is not valid."),
        (lambda t, s: ("post", f"p={_tampered(t)}"), 403, "This link is not valid."),
        # Another signed link of relaycast (the dashboard's) is not a proposal link.
        (lambda t, s: ("get", f"/proposal/approve?p={relays.dashboard_token(Store(s.table_name), s, 'x-1')}"), 403, "This link is not valid."),
        (lambda t, s: ("get", f"/proposal/skip?p={t}"), 400, "not for this action"),
        (lambda t, s: ("get", f"/proposal/delete?p={t}"), 400, "not for this action"),
        # Signed with the right key, for a post never proposed to this relay.
        (lambda t, s: ("get", "/proposal/approve?p=" + digest.link_token(
            s, {"relay_id": "x-1", "network": "x", "post_id": "1000", "proposal_expires_at": 1_900_000_000}, "approve")),
         404, "There is nothing here for this link."),
    ],
)
def test_bad_links_get_a_4xx_page_and_change_nothing(env, store, x_sandbox, frozen_clock, make, status, words):
    settings, client = env["settings"], env["client"]
    _, found = digest_links(env, store, x_sandbox, frozen_clock, "relay_target", "target@example.net")
    token = unquote(re.search(r"\?p=([^&]+)", found[("approve", "1000")]).group(1))
    before = table_snapshot(store)
    method, target = make(token, settings)
    answer = client.http.get(target) if method == "get" else client.http.post("/proposal/approve", body=target, headers=FORM)
    assert answer.status_code == status
    assert "text/html" in answer.headers["Content-Type"] and words in html.unescape(answer.body.decode())
    assert table_snapshot(store) == before and queued(settings) == []


def test_a_refused_link_speaks_the_relays_language(env, store, x_sandbox, frozen_clock):
    client = env["client"]
    _, found = digest_links(env, store, x_sandbox, frozen_clock, "relay_fr_bad", "frbad@example.net", lang="fr")
    path = found[("approve", "1000")]
    wrong = client.http.get(path.replace("/proposal/approve", "/proposal/skip"))
    body = html.unescape(wrong.body.decode())
    assert wrong.status_code == 400 and '<html lang="fr">' in body and "n'est pas destiné à cette action" in body
    forged = html.unescape(client.http.get(path.replace("?p=", "?p=zz")).body.decode())
    assert '<html lang="fr">' in forged and "Ce lien n'est pas valide." in forged  # the link's own lang=fr


def test_every_digest_refusal_and_page_is_translated():
    from pathlib import Path

    from relaycast.i18n import FR

    layer = Path(digest.__file__).parent
    refusals = refusal_messages((layer / "digest.py").read_text())
    assert len(refusals) >= 5 and sorted(m for m in refusals if m not in FR) == []
    page = (layer / "templates" / "proposal.html").read_text()
    messages = set(re.findall(r"_\('([^']+)'", page))
    assert len(messages) >= 6 and sorted(m for m in messages if m not in FR) == []
    assert "not published" in FR and "Expired" in FR
