import pytest
from botocore.exceptions import ClientError

from relaycast import crypto


def grant(store, relay="x-1", cap=3, status="active"):
    store.save_grant({"relay_id": relay, "network": "x", "user_id": "1", "username": "r1", "cap": cap, "status": status, "tokens": b"t"})


def test_state_is_single_use_and_expires(store, frozen_clock):
    store.put_state("s" * 30, {"network": "x", "verifier": "v"})
    assert store.take_state("s" * 30)["verifier"] == "v"
    assert store.take_state("s" * 30) is None  # replay
    store.put_state("t" * 30, {"network": "x", "verifier": "v"})
    frozen_clock.advance(minutes=11)
    assert store.take_state("t" * 30) is None  # expired, even before TTL removes it
    assert store.get("STATE#" + "t" * 30, "STATE") is None  # and consumed


def test_cap_cannot_be_exceeded_and_a_post_is_reserved_once(store, frozen_clock):
    grant(store, cap=3)
    outcomes = [store.reserve_publish("x-1", "x", str(i), 3) for i in range(5)]
    assert outcomes == ["reserved", "reserved", "reserved", "cap", "cap"]
    assert store.reserve_publish("x-1", "x", "0", 3) == "resume"  # unfinished earlier attempt
    store.finish_ledger("x-1", "x", "0", status="published")
    assert store.reserve_publish("x-1", "x", "0", 3) == "done"
    assert store.grant("x-1", "x")["published_count"] == 3


def test_release_gives_the_slot_back_and_records_why(store, frozen_clock):
    grant(store, cap=1)
    assert store.reserve_publish("x-1", "x", "7", 1) == "reserved"
    store.release_publish("x-1", "x", "7", "refused by X")
    assert store.grant("x-1", "x")["published_count"] == 0
    ledger = store.get("RELAY#x-1", "LEDGER#x#7")
    assert (ledger["status"], ledger["reason"]) == ("skipped", "refused by X")
    assert store.reserve_publish("x-1", "x", "8", 1) == "reserved"


def test_inactive_grant_reserves_nothing(store, frozen_clock):
    grant(store, status="broken")
    assert store.reserve_publish("x-1", "x", "1", 3) == "inactive"


def test_reconnect_keeps_the_count(store, frozen_clock):
    grant(store, cap=3)
    store.reserve_publish("x-1", "x", "1", 3)
    grant(store, cap=3)
    assert store.grant("x-1", "x")["published_count"] == 1


def test_grants_are_listed_by_kind(store):
    grant(store, relay="x-1")
    grant(store, relay="x-2")
    store.add_candidate({"network": "x", "post_id": "5", "text": "t"})
    assert sorted(g["relay_id"] for g in store.grants()) == ["x-1", "x-2"]
    assert not store.add_candidate({"network": "x", "post_id": "5", "text": "t"})  # stored once


def test_tokens_are_sealed_and_bound_to_their_relay(kms_key):
    blob = crypto.seal({"access_token": "secret-abc"}, key_id=kms_key, event_slug="ev", relay_id="x-1", network="x")
    assert b"secret-abc" not in blob
    assert crypto.unseal(blob, event_slug="ev", relay_id="x-1", network="x") == {"access_token": "secret-abc"}
    with pytest.raises(ClientError):
        crypto.unseal(blob, event_slug="ev", relay_id="x-2", network="x")


def test_take_quotas_takes_every_budget_or_none(store, frozen_clock):
    budgets = [("a", 2, 60), ("b", 1, 60), ("c", 5, 60)]
    assert store.take_quotas(budgets) == (0, None)
    wait, spent = store.take_quotas(budgets)  # b is spent: a is given back, c never touched
    assert spent == "b" and 0 < wait <= 60
    used = {i["pk"]: int(i["used"]) for i in store.table.scan()["Items"] if i["kind"] == "quota"}
    assert used == {"QUOTA#a": 1, "QUOTA#b": 1, "QUOTA#c": 1}
