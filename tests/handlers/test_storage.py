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


def test_a_custody_larger_than_kms_can_encrypt_is_sealed_in_an_envelope(kms_key):
    """KMS encrypts 4 KiB at most (moto does not hold it to that: the hook below does, as KMS would); a Bluesky
    custody with its proof key and a day of retired tokens is larger."""
    from relaycast import aws

    kms = aws.client("kms")
    sent = []

    def kms_limit(params, **kwargs):
        sent.append(len(params.get("Plaintext", b"")))
        if len(params.get("Plaintext", b"")) > 4096:
            raise ValueError("KMS refuses a plaintext over 4096 bytes")

    kms.meta.events.register("provide-client-params.kms.Encrypt", kms_limit)
    try:
        with pytest.raises(ValueError, match="4096"):  # the hook holds the client crypto uses to KMS's limit
            kms.encrypt(KeyId=kms_key, Plaintext=b"x" * 5000)
        held = {"current": {"access_token": "a" * 900}, "retired": [{"token": f"t{i}" * 300, "hint": "access_token"} for i in range(30)]}
        blob = crypto.seal(held, key_id=kms_key, event_slug="ev", relay_id="grant:g-1", network="bluesky")
    finally:
        kms.meta.events.unregister("provide-client-params.kms.Encrypt", kms_limit)
    assert len(blob) > 4096 + 1000 and sent == [5000]  # KMS made a data key; it never saw the tokens
    assert b"t1t1" not in blob
    assert crypto.unseal(blob, event_slug="ev", relay_id="grant:g-1", network="bluesky") == held
    with pytest.raises(ClientError):  # the data key is bound to the context: another grant's item cannot open it
        crypto.unseal(blob, event_slug="ev", relay_id="grant:g-2", network="bluesky")
    altered = blob[:-5] + bytes([blob[-5] ^ 1]) + blob[-4:]
    with pytest.raises(crypto.Tampered):
        crypto.unseal(altered, event_slug="ev", relay_id="grant:g-1", network="bluesky")


def test_a_blob_kms_sealed_by_itself_still_opens(kms_key):
    from relaycast import aws

    context = {"event": "ev", "relay": "x-1", "network": "x"}
    blob = aws.client("kms").encrypt(KeyId=kms_key, Plaintext=b'{"access_token":"old"}', EncryptionContext=context)["CiphertextBlob"]
    assert crypto.unseal(blob, event_slug="ev", relay_id="x-1", network="x") == {"access_token": "old"}


def test_take_quotas_takes_every_budget_or_none(store, frozen_clock):
    budgets = [("a", 2, 60), ("b", 1, 60), ("c", 5, 60)]
    assert store.take_quotas(budgets) == (0, None)
    wait, spent = store.take_quotas(budgets)  # b is spent: a is given back, c never touched
    assert spent == "b" and 0 < wait <= 60
    used = {i["pk"]: int(i["used"]) for i in store.table.scan()["Items"] if i["kind"] == "quota"}
    assert used == {"QUOTA#a": 1, "QUOTA#b": 1, "QUOTA#c": 1}


def test_a_sliding_budget_holds_in_every_window_wherever_it_starts(store, frozen_clock):
    """X counts its 24 hours from its own start: a new UTC day opens nothing, and a call fits again only once
    the calls before it have left every 24 hours that could still count them."""
    day = 24 * 3600
    for hour in (9, 10, 11):  # 09:00, 10:00, 11:00 on Dec 1st
        frozen_clock.at = frozen_clock.at.replace(hour=hour, minute=0)
        assert store.take_quota("x#app", 3, day, sliding=True) == 0
    frozen_clock.at = frozen_clock.at.replace(day=2, hour=0, minute=30)  # a fixed UTC day would open here
    wait = store.take_quota("x#app", 3, day, sliding=True)
    # The 09:00 bucket leaves the 25 hours counted at 10:00 on the 2nd: past any 24 hours holding 09:xx.
    assert frozen_clock.at.timestamp() + wait == frozen_clock.at.replace(hour=10, minute=0).timestamp()
    assert store.quota_room("x#app", 3, day, sliding=True) == 0
    frozen_clock.advance(seconds=wait)
    assert store.quota_room("x#app", 3, day, sliding=True) == 1
    assert store.take_quota("x#app", 3, day, sliding=True) == 0
    assert store.take_quota("x#app", 3, day, sliding=True) > 0  # 10:00 and 11:00 still count, and this one
    store.give_back_quota("x#app", day, sliding=True)
    assert store.quota_room("x#app", 3, day, sliding=True) == 1
    store.hold_quota("x#app", day, int(frozen_clock.at.timestamp()) + 600, sliding=True)  # X's 429 says 10 minutes
    assert store.quota_room("x#app", 3, day, sliding=True) == 0
    assert store.take_quota("x#app", 3, day, sliding=True) == 600


def test_a_sliding_budget_counts_a_call_written_between_its_read_and_its_write(store, frozen_clock, monkeypatch):
    """Two publishes take the last unit together: the second one's write finds the item moved and reads again."""
    day = 24 * 3600
    assert store.take_quota("x#app", 2, day, sliding=True) == 0
    real_get, raced = store.get, []

    def get_then_someone_else_takes(pk, sk):
        item = real_get(pk, sk)
        if not raced:
            raced.append(True)
            assert store.take_quota("x#app", 2, day, sliding=True) == 0  # the other publish, in between
        return item

    monkeypatch.setattr(store, "get", get_then_someone_else_takes)
    assert store.take_quota("x#app", 2, day, sliding=True) > 0  # read again: 2 of 2 used, refused
    monkeypatch.setattr(store, "get", real_get)
    assert sum(store.get("QUOTA#x#app", "sliding")["buckets"].values()) == 2
