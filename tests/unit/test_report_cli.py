"""`relaycast report` refuses what it cannot read, in one clear line, and writes nothing."""

import os
import subprocess
import sys
from pathlib import Path

from moto import mock_aws

from relaycast_local import report

ROOT = Path(__file__).resolve().parents[2]


def _run(*args, env=None, cwd=None):
    return subprocess.run([sys.executable, "-m", "relaycast_local.cli", "report", *args], capture_output=True, text=True,
                          env=env, cwd=cwd or ROOT)


def test_an_invalid_event_file_is_refused_before_aws_is_asked(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: X\nslug: bad-event\nhashtags: ['#a']\ntimezone: Mars/Olympus\n"
                   "start: 2026-12-02T09:00\nend: 2026-12-03T09:00\nnotice_sender: a@b.org\n")
    result = _run(str(bad), "--out", str(tmp_path / "r.html"))
    assert result.returncode == 2 and "timezone" in result.stderr
    assert not (tmp_path / "r.html").exists()


def test_an_account_without_credentials_is_named_in_one_line(tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env.update(AWS_CONFIG_FILE=str(tmp_path / "none"), AWS_SHARED_CREDENTIALS_FILE=str(tmp_path / "none"),
               AWS_EC2_METADATA_DISABLED="true", AWS_DEFAULT_REGION="eu-west-3")
    result = _run(str(ROOT / "events" / "example.yaml"), "--out", str(tmp_path / "r.html"), env=env)
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        "relaycast report: no AWS credentials: set AWS_PROFILE (or AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY), or run aws configure"]
    assert not (tmp_path / "r.html").exists()


def test_a_stack_that_does_not_exist_is_said_so(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("AWS_DEFAULT_REGION", "eu-west-3")
    for key in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        monkeypatch.setenv(key, "testing")
    with mock_aws():
        code = report.main(str(ROOT / "events" / "example.yaml"), out=str(tmp_path / "r.html"))
    assert code == 2
    err = capsys.readouterr().err
    assert "no stack named relaycast-" in err and "in eu-west-3" in err and "relaycast deploy" in err
    assert not (tmp_path / "r.html").exists()


def test_status_on_a_stack_that_does_not_exist_says_so(monkeypatch, capsys):
    from relaycast_local import status

    monkeypatch.setenv("AWS_DEFAULT_REGION", "eu-west-3")
    for key in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        monkeypatch.setenv(key, "testing")
    with mock_aws():
        code = status.main(str(ROOT / "events" / "example.yaml"))
    assert code == 2
    err = capsys.readouterr().err
    assert "relaycast status: no stack named relaycast-" in err and "relaycast deploy" in err


def test_status_without_credentials_is_one_line(tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env.update(AWS_CONFIG_FILE=str(tmp_path / "none"), AWS_SHARED_CREDENTIALS_FILE=str(tmp_path / "none"),
               AWS_EC2_METADATA_DISABLED="true", AWS_DEFAULT_REGION="eu-west-3")
    result = subprocess.run([sys.executable, "-m", "relaycast_local.cli", "status", str(ROOT / "events" / "example.yaml")],
                            capture_output=True, text=True, env=env, cwd=ROOT)
    assert result.returncode == 2 and result.stderr.strip().splitlines() == [
        "relaycast status: no AWS credentials: set AWS_PROFILE (or AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY), or run aws configure"]


def test_a_language_the_report_cannot_speak_is_refused(tmp_path):
    result = _run(str(ROOT / "events" / "example.yaml"), "--lang", "de", "--out", str(tmp_path / "r.html"))
    assert result.returncode == 2 and "--lang: invalid choice: 'de'" in result.stderr
    assert not (tmp_path / "r.html").exists()
