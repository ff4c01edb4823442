"""Moderation's edges on moto: the moderator's link and form, refusals, a late answer, the time-out rule.
(The state machine really waiting on its task token is tested in the local runtime: tests/e2e.)"""

import html
import json
import re

import boto3
import pytest
from chalice.test import Client

from handler_support import EVENT, FORM, load_function, sent_mail, table_snapshot

PICKS = [
    {"network": "x", "post_id": "1000", "author": "amina_data", "text": "Insight 0 #HTS26", "url": "https://x.com/i/status/1000",
     "score": "7.5", "reasons": ["figure", "expert:2"]},
    {"network": "x", "post_id": "1001", "author": "k_osei", "text": "Insight 1 #HTS26", "url": "https://x.com/i/status/1001",
     "score": "5.1", "reasons": ["quote", "echoed:1"]},
]
# The picks' reasons (stored as codes) as each language reads them.
SHOWN = {"en": ["states a number, expert author (weight 2)", "quotes a speaker, echoed by 1 other author"],
         "fr": ["donne un chiffre, auteur expert (poids 2)", "cite un orateur, reprise par 1 autre auteur"]}


@pytest.fixture
def moderated(stack_env, frozen_clock, monkeypatch, lambda_context):
    from relaycast import settings as settings_module
    from relaycast.config import parse_event_config

    config = parse_event_config({**EVENT, "moderation": {"moderator_email": "mod@example.org", "timeout_minutes": 30,
                                                         "on_timeout": "approve-all"}})
    boto3.client("ssm").put_parameter(Name="/relaycast/handler-test/config", Value=config.to_json(), Type="String", Overwrite=True)
    boto3.client("ses").verify_email_identity(EmailAddress="relaycast@example.org")
    monkeypatch.setenv("HOSTED_PAGE_URL", "https://hosted.example/live/")
    settings_module.reset_caches()
    select = load_function("select").handler
    select({"action": "moderate", "selection": {"round": "20261201T090000Z", "picks": PICKS}, "task_token": "token-1"}, lambda_context)
    with Client(load_function("oauth", "app").app) as client:
        yield client, select


def moderator_link():
    (mail,) = sent_mail("mod@example.org", "moderate")
    return re.search(r"https://hosted\.example/live/moderate\?t=(\S+)", mail.body).group(1)


def test_the_moderator_gets_one_mail_with_a_signed_link_and_sees_scores_and_reasons(moderated, store, lambda_context):
    client, select = moderated
    token = moderator_link()
    item = store.get("ROUND#20261201T090000Z", "MODERATION")
    assert item["status"] == "waiting" and item["task_token"] == "token-1"
    # A retried invoke (Step Functions retries Lambda errors) refreshes the token and mails nothing more.
    select({"action": "moderate", "selection": {"round": "20261201T090000Z", "picks": PICKS}, "task_token": "token-2"}, lambda_context)
    assert store.get("ROUND#20261201T090000Z", "MODERATION")["task_token"] == "token-2"
    assert len(sent_mail("mod@example.org")) == 1
    page = html.unescape(client.http.get(f"/moderate?t={token}").body.decode())
    for pick, reasons in zip(PICKS, SHOWN["en"], strict=True):  # the event's first language
        assert reasons in page and pick["text"] in page and f'name="pick-{pick["post_id"]}"' in page
    assert "token-2" not in page  # the task token never leaves the table
    # A moderator who reads French (their switch, or their browser) reads the reasons in French.
    for asked in ({"path": f"/moderate?t={token}&lang=fr"}, {"path": f"/moderate?t={token}", "headers": {"Accept-Language": "fr"}}):
        french = html.unescape(client.http.get(**asked).body.decode())
        assert all(r in french for r in SHOWN["fr"]) and not any(r in french for r in SHOWN["en"])


@pytest.mark.parametrize(
    ("body", "status"),
    [
        ("pick-1000=approve", 400),  # one pick undecided
        ("pick-1000=approve&pick-1001=maybe", 400),
        ("pick-1000=approve&pick-1001=approve&pick-999=approve", 400),  # a pick of no such round
    ],
)
def test_an_incomplete_or_odd_decision_is_refused_and_changes_nothing(moderated, store, body, status):
    client, _ = moderated
    before = table_snapshot(store)
    answer = client.http.post("/moderate", body=f"t={moderator_link()}&{body}", headers=FORM)
    assert answer.status_code == status
    assert table_snapshot(store) == before


def test_a_forged_link_is_refused(moderated, store):
    client, _ = moderated
    before = table_snapshot(store)
    assert client.http.get("/moderate?t=forged").status_code == 403
    assert client.http.post("/moderate", body="t=forged&pick-1000=approve&pick-1001=approve", headers=FORM).status_code == 403
    assert table_snapshot(store) == before


def test_a_decision_after_the_task_ended_says_too_late(moderated, store):
    """Step Functions answers TaskTimedOut (stubbed: moto accepts any token) when the backstop already fired."""
    from botocore.stub import Stubber

    from relaycast import aws

    client, _ = moderated
    with Stubber(aws.client("stepfunctions")) as sfn:
        sfn.add_client_error("send_task_success", service_error_code="TaskTimedOut", http_status_code=400)
        answer = client.http.post("/moderate", body=f"t={moderator_link()}&pick-1000=approve&pick-1001=reject", headers=FORM)
    assert answer.status_code == 409 and "Too late" in answer.body.decode()
    assert store.get("ROUND#20261201T090000Z", "MODERATION")["status"] == "too-late"


def test_a_decision_resumes_the_round_with_the_approved_picks_once(moderated, store):
    from botocore.stub import Stubber

    from relaycast import aws

    client, _ = moderated
    with Stubber(aws.client("stepfunctions")) as sfn:
        sfn.add_response("send_task_success", {}, {"taskToken": "token-1", "output": json.dumps({"picks": [PICKS[0]]})})
        answer = client.http.post("/moderate", body=f"t={moderator_link()}&pick-1000=approve&pick-1001=reject", headers=FORM)
        assert answer.status_code == 303
        again = client.http.post("/moderate", body=f"t={moderator_link()}&pick-1000=approve&pick-1001=approve", headers=FORM)
    assert again.status_code == 409 and "already decided" in again.body.decode()
    item = store.get("ROUND#20261201T090000Z", "MODERATION")
    assert item["status"] == "decided" and item["decisions"] == {"1000": "approve", "1001": "reject"}


def test_the_next_round_applies_the_time_out_rule_once(moderated, store, frozen_clock, lambda_context, monkeypatch):
    from relaycast import moderation

    _, select = moderated
    answered = []
    monkeypatch.setattr(moderation, "_answer", lambda token, picks, **extra: answered.append((token, picks, extra)) or True)
    frozen_clock.advance(minutes=29)
    select({}, lambda_context)
    assert answered == [] and store.get("ROUND#20261201T090000Z", "MODERATION")["status"] == "waiting"
    frozen_clock.advance(minutes=2)
    select({}, lambda_context)
    select({}, lambda_context)
    assert answered == [("token-1", PICKS, {"timed_out": True})]  # approve-all: every pick goes to the relays
    assert store.get("ROUND#20261201T090000Z", "MODERATION")["status"] == "timed-out"


def test_without_moderation_the_page_does_not_exist(stack_env):
    with Client(load_function("oauth", "app").app) as client:
        assert client.http.get("/moderate?t=x").status_code == 404
