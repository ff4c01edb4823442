"""The end of access at scale: the sweep pages through the grants and queues one message per grant; expire
consumes the queue (partial batch failures) and ends each grant once; after the retry budget a grant whose
revocation X will not confirm ends anyway, with a receipt that says so.

moto plays AWS in-process; the sandbox X is the truth of what was revoked.
"""

import json
from collections import Counter

import boto3
from handler_support import connect, deliver, load_function, receipt_of, sent_mail, sqs_event

from relaycast import expire
from relaycast.settings import Settings

SETTINGS_LINK = "https://x.com/settings/connected_apps"


def _metrics(capsys):
    return [json.loads(line) for line in capsys.readouterr().out.splitlines() if line.startswith('{"_aws"')]


def _queued(queue_url):
    sqs = boto3.client("sqs")
    attributes = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["ApproximateNumberOfMessages"])
    return int(attributes["Attributes"]["ApproximateNumberOfMessages"])


def test_sweep_queues_one_message_per_grant_across_pages_and_the_queue_ends_each_once(
    x_sandbox, store, frozen_clock, lambda_context, monkeypatch
):
    settings = Settings.from_env()
    names = [f"relay_{i:02d}" for i in range(25)]
    relay_ids = {connect(store, settings, name, None, x_sandbox).relay_id for name in names}
    assert len(relay_ids) == 25

    queries, sends = [], []
    real_query = store.table.query
    monkeypatch.setattr(store.table, "query", lambda **kw: queries.append(kw) or real_query(**kw))
    sqs = boto3.client("sqs")
    real_send = sqs.send_message_batch
    monkeypatch.setattr(sqs, "send_message_batch", lambda **kw: sends.append(kw) or real_send(**kw))

    result = expire.sweep(store, settings.end_grant_queue_url, sqs=sqs, page_size=4)
    assert result == {"queued": 25, "batches": 3, "unqueued": 0}
    assert len(queries) >= 7 and all(q["IndexName"] == "by_kind" and q["Limit"] == 4 for q in queries)  # paged
    assert [len(s["Entries"]) for s in sends] == [10, 10, 5]
    bodies = [json.loads(e["MessageBody"]) for s in sends for e in s["Entries"]]
    assert {b["relay_id"] for b in bodies} == relay_ids and {b["network"] for b in bodies} == {"x"}
    assert all(set(b) == {"relay_id", "network"} for b in bodies)  # no token material on the queue
    assert len(list(store.grants())) == 25  # the sweep itself ends nothing
    assert not x_sandbox.revocations

    # A second sweep (the scheduler retrying) queues every grant again: the duplicates are harmless.
    assert load_function("expire").handler({"action": "sweep"}, lambda_context)["queued"] == 25
    assert _queued(settings.end_grant_queue_url) == 50
    expire_fn = load_function("expire")
    assert deliver(settings.end_grant_queue_url, expire_fn.handler, lambda_context) == (50, [])
    assert _queued(settings.end_grant_queue_url) == 0

    assert list(store.grants()) == []
    assert not any("tokens" in i or i.get("kind") == "custody" for i in store.table.scan()["Items"])
    revoked = Counter(r.username for r in x_sandbox.revocations if r.whole_grant)
    assert set(revoked) == set(names) and set(revoked.values()) == {1}  # one revocation per grant at X
    receipts = [receipt_of(store, relay_id) for relay_id in relay_ids]
    assert all(r["status"] == "done" and r["confirmed"] is True and r["reason"] == "the event ended" for r in receipts)

    # The same message delivered again later: the grant is gone, nothing more happens.
    late = sqs_event(*({"relay_id": relay_id, "network": "x"} for relay_id in sorted(relay_ids)[:3]))
    assert expire_fn.handler(late, lambda_context) == {"batchItemFailures": []}
    assert len([r for r in x_sandbox.revocations if r.whole_grant]) == 25


def test_provider_failing_is_retried_under_the_budget_then_the_grant_ends_unconfirmed(
    x_sandbox, store, frozen_clock, lambda_context, capsys
):
    settings = Settings.from_env()
    healthy = connect(store, settings, "relay_ok", "ok@example.net", x_sandbox)
    stuck = connect(store, settings, "relay_stuck", "stuck@example.net", x_sandbox)
    expire_fn = load_function("expire")
    assert expire_fn.handler({"action": "sweep"}, lambda_context)["queued"] == 2
    capsys.readouterr()

    # X fails the first revocation call of each delivery of the stuck grant, for longer than the budget.
    queue = settings.end_grant_queue_url
    delivered, failed = None, None
    for attempt in range(1, expire.RECEIVE_BUDGET):
        x_sandbox.fail_next("POST", "/2/oauth2/revoke", status=503, times=1)
        delivered, failed = deliver(queue, expire_fn.handler, lambda_context)
        emitted = _metrics(capsys)
        if attempt == 1:  # the other grant went through on the first pass (one of the two took the failure)
            assert (delivered, len(failed)) == (2, 1)
        else:
            assert (delivered, len(failed)) == (1, 1)  # a batch item failure while under the budget
        assert any(m.get("RevocationFailed") for m in emitted)
        assert not any(m.get("RevocationUnconfirmed") for m in emitted)
    assert len(list(store.grants())) == 1  # still there, tokens and all, while it is retried
    (left,) = list(store.grants())
    assert left["relay_id"] in (healthy.relay_id, stuck.relay_id)
    stuck_id = left["relay_id"]
    stuck_name = "relay_ok" if stuck_id == healthy.relay_id else "relay_stuck"
    receipt = receipt_of(store, stuck_id)
    assert receipt["status"] == "revoking"

    # At the budget (receive 4, below the DLQ's 5) X still fails: the grant ends, unconfirmed.
    x_sandbox.fail_next("POST", "/2/oauth2/revoke", status=503, times=5)
    assert deliver(queue, expire_fn.handler, lambda_context) == (1, [])
    assert _queued(queue) == 0
    assert list(store.grants()) == []
    assert not any("tokens" in i or i.get("kind") == "custody" for i in store.table.scan()["Items"])
    receipt = receipt_of(store, stuck_id)
    assert receipt["status"] == "done" and receipt["confirmed"] is False and receipt["reason"] == "the event ended"
    text = receipt["verification"]["x"]
    assert text.startswith("could not confirm (") and text.endswith(f"; revoke by hand at {SETTINGS_LINK}")
    assert any(m.get("RevocationUnconfirmed") for m in _metrics(capsys))  # ops see it (alarmed)
    assert x_sandbox.active_grants(stuck_name)  # the truth: X never revoked it — the receipt says so
    assert len(sent_mail(subject="revoked")) == 2  # both relays got their receipt, once each
    # A later duplicate of that message changes nothing.
    assert expire_fn.handler(sqs_event({"relay_id": stuck_id, "network": "x"}, receives=1), lambda_context) == {
        "batchItemFailures": []
    }
    assert len(sent_mail(subject="revoked")) == 2


def test_budget_is_read_from_the_record_receive_count(x_sandbox, store, frozen_clock, lambda_context, capsys):
    settings = Settings.from_env()
    relay = connect(store, settings, "relay_late", None, x_sandbox)
    expire_fn = load_function("expire")
    body = {"relay_id": relay.relay_id, "network": "x"}
    x_sandbox.fail_next("POST", "/2/oauth2/revoke", status=503, times=1)
    answer = expire_fn.handler(sqs_event(body, receives=expire.RECEIVE_BUDGET - 1), lambda_context)
    assert answer == {"batchItemFailures": [{"itemIdentifier": "m-0"}]}
    assert store.grant(relay.relay_id, "x") is not None
    x_sandbox.fail_next("POST", "/2/oauth2/revoke", status=503, times=1)
    assert expire_fn.handler(sqs_event(body, receives=expire.RECEIVE_BUDGET), lambda_context) == {"batchItemFailures": []}
    assert store.grant(relay.relay_id, "x") is None
    assert receipt_of(store, relay.relay_id)["confirmed"] is False


def test_the_receipt_speaks_the_relays_language(x_sandbox, store, frozen_clock):
    from moto.ses.models import ses_backends

    from relaycast import expire
    from relaycast.networks.factory import x_network
    from relaycast.settings import Settings

    settings = Settings.from_env()
    for name, lang in (("relay_fr", "fr"), ("relay_en", "en")):
        connected = connect(store, settings, name, f"{name}@example.net", x_sandbox, lang=lang)
        grant = store.grant(connected.relay_id, "x")
        assert grant["lang"] == lang
        assert expire.end_grant(store, settings, settings.event(), x_network(settings), grant, "the event ended") == "ended"
    sent = {m.destinations["ToAddresses"][0]: m for m in ses_backends["123456789012"]["eu-west-3"].sent_messages}
    assert "révoqué" in sent["relay_fr@example.net"].subject and "Publié en votre nom" in sent["relay_fr@example.net"].body
    assert "revoked" in sent["relay_en@example.net"].subject and "Published in your name" in sent["relay_en@example.net"].body
