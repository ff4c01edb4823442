"""Moderation in the local runtime: the round's state machine really waits on its task token (moto's Step
Functions engine) until the moderator decides on the hosted page; a round left waiting gets the event's
time-out rule at the next round, on the simulated clock."""

import html
import re
import time
from datetime import timedelta

import pytest
import requests
from markupsafe import escape

from relaycast.reasons import describe
from relaycast_local.simrelay import SimulatedRelay

pytestmark = pytest.mark.xdist_group("moderation")


def wait_for(condition, what, timeout=30):
    deadline = time.monotonic() + timeout
    while not (value := condition()):
        assert time.monotonic() < deadline, f"no {what} after {timeout}s"
        time.sleep(0.2)
    return value


def test_a_moderated_round_waits_for_the_moderator_then_the_time_out_rule_applies(local_event):
    with local_event("moderated", lead=timedelta(minutes=5)) as stack:
        config, cloud, api, scan = stack.config, stack.cloud, stack.api_url, stack.scan
        relay = SimulatedRelay(username="relay_mod", email=None)
        relay.connect(api)
        runs = []

        def items(kind):
            return [i for i in scan() if i.get("kind") == kind]

        def proposed_after_pump():
            """The answered round goes on in moto's Step Functions on its own: its fan-out queues work items,
            which the pump delivers to propose as Lambda's poller would."""
            cloud.pump()
            return {p["post_id"] for p in items("proposal")} or None

        def waiting_round():
            return next((m for m in items("moderation") if m["status"] == "waiting"), None)

        # Run rounds until one has picks: it stops at the moderator.
        while not waiting_round():
            runs.append(cloud.run_until(cloud.now() + timedelta(hours=1), step=timedelta(hours=1)))
            assert cloud.now() < config.end_utc, "no round with picks"
        first = waiting_round()
        assert items("proposal") == []  # no relay sees anything before the decision
        mail = next(m for m in stack.sent_emails() if "mod@example.org" in m["to"])
        assert "to moderate" in mail["subject"] and first["picks"][0]["text"][:30] in mail["body"]
        link = re.search(r"https?://\S+/moderate\?t=\S+", mail["body"]).group(0)

        # The moderator's page: each pick with its score and reasons; reject the first, approve the rest.
        page = requests.get(link, timeout=10)
        assert page.status_code == 200
        for pick in first["picks"]:
            # Kept as codes, said in the event's first language (the moderator's browser asks for none).
            said = describe(pick["reasons"], config.languages[0])
            assert said != describe(pick["reasons"], "fr") and str(escape(said)) in page.text  # as the page escapes it
            assert f'name="pick-{pick["post_id"]}"' in page.text
        decisions = {f"pick-{p['post_id']}": "approve" for p in first["picks"]}
        rejected = first["picks"][0]["post_id"]
        decisions[f"pick-{rejected}"] = "reject"
        token = html.unescape(re.search(r'name="t" value="([^"]+)"', page.text).group(1))
        answer = requests.post(link.split("?", 1)[0], data={"t": token, **decisions}, allow_redirects=False, timeout=10)
        assert answer.status_code == 303, answer.text[:500]
        proposed = wait_for(proposed_after_pump, "proposals after the decision")
        assert proposed == {p["post_id"] for p in first["picks"]} - {rejected}
        assert next(m for m in items("moderation") if m["round"] == first["round"])["status"] == "decided"
        # A second submission is refused and changes nothing.
        again = requests.post(link.split("?", 1)[0], data={"t": token, **decisions}, allow_redirects=False, timeout=10)
        assert again.status_code == 409

        # The next round with picks is left waiting: 90 minutes later, a round applies the rule (approve-all).
        while not waiting_round():
            runs.append(cloud.run_until(cloud.now() + timedelta(hours=1), step=timedelta(hours=1)))
            assert cloud.now() < config.end_utc, "no second round with picks"
        second = waiting_round()
        runs.append(cloud.run_until(cloud.now() + timedelta(hours=2), step=timedelta(hours=1)))
        resolved = next(m for m in items("moderation") if m["round"] == second["round"])
        assert resolved["status"] == "timed-out"
        wait_for(lambda: {p["post_id"] for p in second["picks"]} <= (proposed_after_pump() or set()), "proposals of the timed-out round")
        assert [f for run in runs for f in run.failures()] == []
