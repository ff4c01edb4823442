"""`relaycast serve`'s clock: it stands still from a connect to its callback (the OAuth state lives 10 minutes of
event time, a fraction of a second of wall time), a connect made during a round waits for the round's end, and a
machine too slow for the asked speed runs the event slower instead of jumping several rounds at once."""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace

import pytest

from relaycast.config import load_event_config
from relaycast_local import serve

pytestmark = pytest.mark.xdist_group("relaycast-local")

START = datetime(2026, 12, 8, 8, 0, tzinfo=UTC)


class FakeCloud:
    """What run_clock uses of the local cloud: the clock, a move, a pump."""

    def __init__(self, on_move=None, on_pump=None) -> None:
        self.at = START
        self.moves: list[tuple[datetime, datetime]] = []
        self.log: list[str] = []
        self.on_move, self.on_pump = on_move, on_pump
        self.lambda_host = SimpleNamespace(output={})  # the functions' log lines serve shows errors from

    def now(self) -> datetime:
        return self.at

    def run_until(self, target: datetime, step: timedelta) -> SimpleNamespace:
        self.log.append("move starts")
        if self.on_move:
            self.on_move(self)
        self.moves.append((self.at, target))
        self.at = target
        self.log.append("move ends")
        return SimpleNamespace(firings=[])

    def pump(self) -> None:
        self.log.append("pump")
        if self.on_pump:
            self.on_pump(self)


@pytest.fixture
def config():
    return load_event_config("events/demo.yaml")


@pytest.fixture(autouse=True)
def quick(monkeypatch):
    monkeypatch.setattr(serve, "TICK_SECONDS", 0.05)  # time enough for a waiting connect to take its turn
    monkeypatch.setattr(serve, "sent_emails", lambda cloud: [])


def test_a_machine_behind_the_speed_moves_one_round_at_a_time(config):
    cloud = FakeCloud()
    step = timedelta(minutes=config.poll_interval_minutes)
    until = START + 6 * step
    serve.run_clock(cloud, config, speed=1e9, until=until, holds=serve.Holds())  # far more than any machine keeps up with
    assert cloud.at == until
    assert len(cloud.moves) == 6
    assert all(target - begin <= step for begin, target in cloud.moves)


def test_a_connect_during_a_round_waits_for_its_end_and_the_clock_stands_still_until_the_callback(config):
    holds = serve.Holds()
    connected = threading.Event()

    def connect() -> None:  # as Front does for /connect/
        with holds.moving:
            holds.add("request:1")
        connected.set()

    def first_move_meets_a_connect(cloud: FakeCloud) -> None:
        if len(cloud.moves) == 0:
            threading.Thread(target=connect).start()
            assert not connected.wait(0.3), "the connect went through while the clock was moving"

    def callback_after_three_pumps(cloud: FakeCloud) -> None:
        if cloud.log.count("pump") == 3:
            held_at = cloud.at
            cloud.log.append("callback")
            holds.drop("request:1")
            assert held_at == cloud.moves[0][1]

    cloud = FakeCloud(on_move=first_move_meets_a_connect, on_pump=callback_after_three_pumps)
    step = timedelta(minutes=config.poll_interval_minutes)
    serve.run_clock(cloud, config, speed=1e9, until=START + 3 * step, holds=holds)

    assert connected.is_set()
    first_pump = cloud.log.index("pump")
    assert cloud.log[:first_pump] == ["move starts", "move ends"]
    # Between the connect and its callback: pumps only, no move.
    assert cloud.log[first_pump:cloud.log.index("callback") + 1] == ["pump", "pump", "pump", "callback"]
    assert cloud.log.count("move starts") == 3 and cloud.at == START + 3 * step


def test_an_abandoned_consent_page_stops_holding_the_clock(monkeypatch):
    holds = serve.Holds()
    holds.add("state:abandoned")
    assert holds.active()
    monkeypatch.setattr(serve.time, "monotonic", lambda: time.monotonic_ns() / 1e9 + serve.HOLD_SECONDS + 1)
    assert not holds.active()


def test_the_functions_errors_are_shown_once(capsys):
    import collections
    import json

    cloud = FakeCloud()
    log = collections.deque([json.dumps({"level": "INFO", "message": "fine"})])
    cloud.lambda_host.output["relaycast-demo-oauth"] = log
    mailbox = serve.Mailbox(cloud)
    mailbox.show_new()
    log.append(json.dumps({"level": "ERROR", "message": "confirmation e-mail not sent",
                           "exception": "Traceback ...\nbotocore.exceptions.ReadTimeoutError: timed out"}))
    mailbox.show_new()
    mailbox.show_new()
    shown = capsys.readouterr().out.splitlines()
    assert shown == ["  error in relaycast-demo-oauth: confirmation e-mail not sent botocore.exceptions.ReadTimeoutError: timed out"]
