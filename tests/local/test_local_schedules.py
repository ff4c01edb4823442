"""Schedules on the simulated clock: a Scheduler rate schedule fires only inside StartDate/EndDate, an at()
one-shot (in its time zone) fires once on a state machine and is waited for, an Events rule's cron fires daily."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest

pytestmark = pytest.mark.xdist_group("relaycast-local")


def utc(day, hour, minute=0):
    return datetime(2030, 1, day, hour, minute, tzinfo=UTC)


def test_schedules_fire_in_time_order_inside_their_windows(cloud, stack, sim, log):
    ticks = []
    ddb = cloud.client("dynamodb")
    ddb.put_item(
        TableName=stack.table_name("Table"),
        Item={"pk": {"S": "STATE#x"}, "sk": {"S": "STATE"}, "kind": {"S": "state"}, "expires_at": {"N": str(int(utc(1, 10, 30).timestamp()))}},
    )

    report = cloud.run_until(utc(1, 16), step=timedelta(minutes=15), on_tick=ticks.append)

    fired = [(f.at, f.schedule, f.status) for f in report.firings]
    rule = stack.physical_id("Daily", "AWS::Events::Rule")
    assert fired == [
        (utc(1, 10), "RelaycastLocalFixture-Window", "SUCCEEDED"),  # StartDate 10:00
        (utc(1, 11), "RelaycastLocalFixture-Window", "SUCCEEDED"),
        (utc(1, 12), "RelaycastLocalFixture-Window", "SUCCEEDED"),  # EndDate 13:00 excluded
        (utc(1, 12), rule, "SUCCEEDED"),
        (utc(1, 14, 30), "fixture-one-shot", "SUCCEEDED"),  # at(15:30) Europe/Paris
    ]
    one_shot = report.firings[-1]
    assert one_shot.execution_arn and one_shot.output["selection"]["round"] == "oneshot"
    # Each target ran with the clock at its due instant, with its Input (Scheduler's context attributes filled).
    echoes = sorted(((i["sk"]["S"].split("#")[0], json.loads(i["event"]["S"])) for i in log("ECHO")), key=str)
    assert echoes == [
        (utc(1, 10).isoformat(), {"source": "window", "at": "2030-01-01T10:00:00Z"}),
        (utc(1, 11).isoformat(), {"source": "window", "at": "2030-01-01T11:00:00Z"}),
        (utc(1, 12).isoformat(), {"source": "window", "at": "2030-01-01T12:00:00Z"}),
        (utc(1, 12).isoformat(), {"source": "rule"}),
    ]
    assert ticks == [utc(1, 9, 15) + timedelta(minutes=15 * i) for i in range(28)]
    assert report.ticks == 28 and report.expired == 1 and sim.now() == utc(1, 16)

    later = cloud.run_until(utc(2, 16), step=timedelta(hours=1))
    assert [(f.at, f.schedule) for f in later.firings] == [(utc(2, 12), rule)]


def test_a_failed_target_is_reported_and_the_run_goes_on(cloud, stack, sim):
    from relaycast_local.runtime_schedules import Schedule, Target

    broken = Schedule(
        kind="scheduler",
        logical_id="Broken",
        name="broken",
        expression=f"at({(sim.now() + timedelta(minutes=5)).strftime('%Y-%m-%dT%H:%M:%S')})",
        targets=[Target(arn=stack.state_machine_arn(), input='{"round": "x", "fail": true}')],
    )
    stack.schedules.append(broken)
    try:
        report = cloud.run_until(sim.now() + timedelta(minutes=10), step=timedelta(minutes=5))
    finally:
        stack.schedules.remove(broken)
    (firing,) = report.firings
    assert (firing.status, firing.error) == ("FAILED", "RuntimeError")
