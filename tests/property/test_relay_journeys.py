"""Access never outlives the event, whatever the relays do: hypothesis draws journeys of three people (one hostile,
all clumsy) — connect, connect again, revoke and come back, connect Mastodon from the dashboard and confirm or
decline, approve, undo, lower the cap, rotate the dashboard link, remove the app at X, two publish jobs refreshing
at once across a token expiry, 5xx / 429 / dropped connections during connects, refreshes and revocations — and
the end of access by the sweep and the TTL stream in either order. The sandboxes are the truth: no token live
after the end (nor, before it, outside custody), every receipt's "confirmed" true exactly when every token of its
grant is dead, one receipt per grant with the reason the relay gave, one relay per person and nobody's grant on
another's relay, caps and no duplicates, replaced links dead, relaycast's own URLs only, the security headers.

RELAYCAST_JOURNEYS sets the number of journeys (200 here; `make bench-journeys`, part of `make bench`, runs thousands). Then each of the nine
faults of the custody review is put back, and the same checker finds it."""

from __future__ import annotations

import os
from hypothesis import Phase, event, find, given, settings, strategies as st
from hypothesis.errors import NoSuchExample

from relay_journeys import ENDINGS, FAULTS, KINDS, Journey, JourneyRig, Step, play, violations

EXAMPLES = int(os.environ.get("RELAYCAST_JOURNEYS", "200"))
REPRODUCIBLE = settings(derandomize=True, database=None, deadline=None, print_blob=False,
                        phases=(Phase.explicit, Phase.reuse, Phase.generate, Phase.target, Phase.shrink))


def steps(kinds: tuple[str, ...] = KINDS) -> st.SearchStrategy[Step]:
    # Person 0 is the hostile one in hostile steps; people 1 and 2 act more often.
    return st.builds(Step, kind=st.sampled_from(kinds), who=st.sampled_from((0, 1, 1, 2, 2)), other=st.integers(0, 3),
                     value=st.integers(0, len(FAULTS) - 1))


@st.composite
def journeys(draw: st.DrawFn, must: tuple[Step, ...] = (), max_steps: int = 12) -> Journey:
    """People arrive (connect X or Mastodon from the event page), then random steps, with the `must` steps (in
    their order) among them."""
    arrivals = draw(st.lists(steps(("connect_x", "connect_x", "connect_mastodon")), min_size=1, max_size=3))
    mixed = arrivals + draw(st.lists(steps(), min_size=min(2, max_steps), max_size=max_steps))
    positions = sorted(draw(st.lists(st.integers(0, len(mixed)), min_size=len(must), max_size=len(must))))
    for offset, (position, step) in enumerate(zip(positions, must, strict=True)):
        mixed.insert(position + offset, step)
    return Journey(steps=tuple(mixed), ending=draw(st.sampled_from(ENDINGS)))


@settings(REPRODUCIBLE, max_examples=EXAMPLES)
@given(journey=journeys())
def test_access_never_outlives_the_event_whatever_the_relays_do(journeys: JourneyRig, journey: Journey) -> None:
    played = play(journeys, journey)
    for label in sorted(played.labels):  # --hypothesis-show-statistics: how often each case was met
        event(label)
    assert violations(journeys, played) == []


# --- each fault of the review, put back: the checker finds it --------------------------------------------------


def first_violation(rig: JourneyRig, needle: str, must: tuple[Step, ...], examples: int = 12) -> str:
    """The first violation containing `needle` among journeys that include the `must` steps (no shrinking)."""
    seen: list[str] = []

    def breaks(journey: Journey) -> bool:
        seen[:] = [v for v in violations(rig, play(rig, journey)) if needle in v]
        return bool(seen)

    try:
        find(journeys(must=must, max_steps=4), breaks,
             settings=settings(REPRODUCIBLE, max_examples=examples, phases=[Phase.generate]))
    except NoSuchExample:
        raise AssertionError(f"{examples} journeys and no violation with {needle!r}: the checker misses it") from None
    return seen[0]


def fault_index(name: str) -> int:
    return sorted(FAULTS).index(name)


def test_fault_1_a_receipt_keyed_per_relay_not_per_grant_leaves_the_second_grant_live(journeys, monkeypatch):
    from relaycast import expire

    monkeypatch.setattr(expire, "receipt_sk", lambda network, grant_id: f"RECEIPT#{network}#the-one")
    must = (Step("connect_x", 1), Step("revoke_x", 1), Step("connect_x", 1))
    assert "still live after the end" in first_violation(journeys, "still live", must)


def test_fault_2_connecting_twice_without_ending_the_first_tokens(journeys, monkeypatch):
    from relaycast.storage import Store

    save = Store.save_grant
    monkeypatch.setattr(Store, "save_grant", lambda self, item, **options: save(self, item, **options) and None)  # "nothing replaced"
    must = (Step("connect_x", 2), Step("connect_x", 2))
    assert "still live after the end" in first_violation(journeys, "still live", must)


def test_fault_3_a_refresh_whose_rotated_tokens_are_not_kept(journeys, monkeypatch):
    from relaycast.storage import Store

    monkeypatch.setattr(Store, "rotate_tokens", lambda self, *args, **kwargs: True)
    must = (Step("connect_x", 1), Step("race", 1))
    found = first_violation(journeys, "confirmed while a token of its grant is live", must)
    assert found.startswith("a receipt says confirmed")


def test_fault_4_two_jobs_refreshing_at_once_read_as_a_revocation(journeys, monkeypatch):
    from relaycast import credentials
    from relaycast.networks import TokenRejected, Transient
    from relaycast.storage import Store

    def as_before(store, config, grant_id, seen, rejected=False):
        raise TokenRejected("refused") if rejected else Transient("busy")

    monkeypatch.setattr(Store, "lock_refresh", lambda self, *args: True)  # no single writer
    monkeypatch.setattr(credentials, "_refreshed_by_another", as_before)
    must = (Step("connect_x", 1), Step("race", 1))
    assert "'access was revoked at X'" in first_violation(journeys, "access was revoked at X", must)


def test_fault_5_relay_ids_from_what_the_network_reports(journeys, monkeypatch):
    from relaycast.storage import Store

    # What a 40-bit instance hash plus a reported account id amounts to for an attacker who picks both.
    monkeypatch.setattr(Store, "relay_of_identity", lambda self, network, instance, user_id, proposed, expires: f"r-{user_id}")
    must = (Step("connect_x", 0), Step("connect_mastodon", 1))
    assert "share one relay" in first_violation(journeys, "share one relay", must)


def test_fault_6_tokens_dropped_when_a_connect_fails_half_way(journeys, monkeypatch):
    from relaycast import relays

    monkeypatch.setattr(relays, "_discard", lambda store, settings, config, client, grant_id, reason: store.delete_custody(grant_id))
    must = (Step("fault", 0, value=fault_index("x_me_503")), Step("connect_x", 0))
    assert "in no custody" in first_violation(journeys, "in no custody", must)


def test_fault_7_a_cross_site_connect_links_the_victims_account(journeys, monkeypatch):
    from relaycast import relays

    def attach_at_once(store, config, pending, *, network, grant_id, user_id, username, scopes, followers):
        relay_id, replaced = relays._attach(store, config, pending, asked=pending["relay_id"], network=network,
                                            grant_id=grant_id, user_id=user_id, username=username, scopes=scopes,
                                            label=network, followers=followers)
        return relay_id, username, replaced

    monkeypatch.setattr(journeys.app_module.guard, "is_cross_site", lambda headers, base: False)
    monkeypatch.setattr(relays, "_await_confirmation", attach_at_once)
    must = (Step("connect_mastodon", 0), Step("hostile_connect", 0))
    assert "holds the x grant of person" in first_violation(journeys, "holds the x grant", must)


def test_fault_9_a_replaced_dashboard_link_still_opens_the_dashboard(journeys, monkeypatch):
    from relaycast import relays

    def any_generation(store, settings, config, token):
        return relays._link_claims(settings, config, token)[0]

    monkeypatch.setattr(relays, "relay_from_token", any_generation)
    must = (Step("connect_x", 2), Step("new_link", 2), Step("stale_link", 2))
    assert "still works" in first_violation(journeys, "replaced dashboard link", must)


def test_fault_9_urls_built_from_the_requests_host(journeys, monkeypatch):
    app_module = journeys.app_module

    def from_headers() -> str:
        headers = app_module.app.current_request.headers
        return f"{headers.get('x-forwarded-proto', 'https')}://{headers.get('host', 'localhost')}"

    monkeypatch.setattr(app_module.guard.web, "base_url", from_headers)
    must = (Step("connect_x", 1), Step("forged_host", 1))
    assert "request's headers" in first_violation(journeys, "request's headers", must)


def test_fault_9_answers_without_the_security_headers(journeys, monkeypatch):
    monkeypatch.setattr(journeys.app_module.guard, "SECURITY_HEADERS", {})
    assert "security headers" in first_violation(journeys, "security headers", (Step("health"),))

