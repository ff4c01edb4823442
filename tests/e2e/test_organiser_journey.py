"""The organiser's journey with the real commands: `relaycast init` writes the event, `relaycast deploy --local`
runs it in the local runtime, a relay connects on its hosted page, `relaycast status --local` shows them, `relaycast
report --local` writes the page; once the event stops, status says so. No value of the stack's secret appears in
anything any of these commands printed.
"""

from __future__ import annotations

import json
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import boto3
import pytest

from relaycast_local.attach import attached, state_path
from relaycast_local.simrelay import SimulatedRelay

pytestmark = pytest.mark.xdist_group("organiser")
ROOT = Path(__file__).resolve().parents[2]
RELAYCAST = str(Path(sys.executable).with_name("relaycast"))
SLUG = "organiser-journey-2027"
STARTUP_SECONDS = 240  # synth and deploy, on a busy machine
# A two-day event at 300x: about ten minutes of wall time before access ends, far longer than the journey (≈ 30 s).
SPEED = 300


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([RELAYCAST, *args], capture_output=True, text=True, cwd=ROOT, stdin=subprocess.DEVNULL, timeout=300)


def test_init_deploy_local_status_and_report_and_no_secret_is_ever_printed(tmp_path):
    event = tmp_path / "oj27.yaml"
    outputs = []
    made = _run("init", "--yes", "--name", "Organiser Journey 2027", "--slug", SLUG, "--hashtag", "#OJ27",
                "--start", "2027-03-10T09:00", "--end", "2027-03-11T18:00", "--timezone", "Europe/Paris",
                "--networks", "x", "--notice-sender", "relaycast@example.org", "--out", str(event))
    outputs.append(made.stdout + made.stderr)
    assert made.returncode == 0, made.stderr
    assert _run("check", str(event)).returncode == 0

    missing = _run("status", "--local", str(event))
    assert missing.returncode == 2 and f"no local event of {SLUG} is running" in missing.stderr

    log = tmp_path / "deploy.log"
    port = _free_port()
    with log.open("w") as out:
        deploying = subprocess.Popen([RELAYCAST, "deploy", "--local", str(event), "--port", str(port), "--speed", str(SPEED)],
                                     cwd=ROOT, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + STARTUP_SECONDS
        while not state_path(SLUG).exists():
            assert deploying.poll() is None, f"deploy --local exited with {deploying.returncode}:\n{log.read_text()[-3000:]}"
            assert time.monotonic() < deadline, f"deploy --local not running after {STARTUP_SECONDS}s:\n{log.read_text()[-3000:]}"
            time.sleep(0.5)
        state = json.loads(state_path(SLUG).read_text())
        assert state["url"] == f"http://127.0.0.1:{port}/live/" and state["stack"] == f"relaycast-{SLUG}"

        relay = SimulatedRelay(username="oj_relay", email=None, seed=1)
        relay.connect(state["url"].rstrip("/"))

        status = _run("status", "--local", str(event))
        outputs.append(status.stdout + status.stderr)
        assert status.returncode == 0, status.stderr
        assert "Organiser Journey 2027" in status.stdout and "approve-each" in status.stdout
        assert "1 active" in status.stdout and "dead letters: 0" in status.stdout
        assert "next round" in status.stdout or "no round left" in status.stdout

        # --watch redraws as the event's clock moves (into a pipe: one status after another), until Ctrl-C.
        watching = subprocess.Popen([RELAYCAST, "status", "--local", str(event), "--watch", "0.5"], cwd=ROOT, text=True,
                                    stdout=subprocess.PIPE, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL)
        seen, deadline = [], time.monotonic() + 120
        try:
            while len(set(seen)) < 2:  # two different event times
                assert time.monotonic() < deadline, f"the watch showed one event time only: {seen[-1:]}"
                line = watching.stdout.readline()
                assert line or watching.poll() is None, watching.stderr.read()
                if line.startswith("Organiser Journey 2027 — "):
                    seen.append(line)
        finally:
            watching.send_signal(signal.SIGINT)
            rest, errors = watching.communicate(timeout=30)
        assert watching.returncode == 0, errors
        outputs.append("".join(seen) + rest + errors)

        page = tmp_path / "report" / "index.html"
        report = _run("report", "--local", str(event), "--out", str(page))
        outputs.append(report.stdout + report.stderr)
        assert report.returncode == 0, report.stderr
        figures = json.loads(page.with_suffix(".json").read_text())
        assert figures["networks"]["x"]["relays"] == 1 and figures["event"]["name"] == "Organiser Journey 2027"

        # Every value of the stack's secret, read where the local runtime keeps it.
        with attached(json.loads(state_path(SLUG).read_text())):
            secret = json.loads(boto3.client("secretsmanager").get_secret_value(SecretId=f"relaycast/{SLUG}/app")["SecretString"])
    finally:
        if deploying.poll() is None:
            deploying.send_signal(signal.SIGINT)
            try:
                deploying.wait(timeout=30)
            except subprocess.TimeoutExpired:
                deploying.kill()
                deploying.wait()
    printed = log.read_text()
    assert f"relaycast-{SLUG} is deployed in the local runtime" in printed
    assert f"x callback URL: http://127.0.0.1:{port}/live/callback/x" in printed
    assert "e-mail sender relaycast@example.org" in printed
    outputs.append(printed)

    values = [v for v in secret.values() if isinstance(v, str) and len(v) >= 8]
    assert len(values) >= 4  # X's three and the signing key at least
    everything = "\n".join(outputs)
    assert not [key for key, value in secret.items() if isinstance(value, str) and len(value) >= 8 and value in everything]

    assert not state_path(SLUG).exists()  # stopped: nothing claims it still runs
    stopped = _run("status", "--local", str(event))
    assert stopped.returncode == 2 and f"start it with relaycast deploy --local {event}" in stopped.stderr
