"""The runtime's pure parts: EventBridge-pattern matching, schedules' due instants, the simulated clock."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from relaycast_local.runtime import Schedule, SimClock, matches

pytestmark = pytest.mark.xdist_group("relaycast-local")

TTL_RECORD = {
    "eventName": "REMOVE",
    "userIdentity": {"type": "Service", "principalId": "dynamodb.amazonaws.com"},
    "dynamodb": {"OldImage": {"kind": {"S": "grant"}, "pk": {"S": "RELAY#1"}}},
}


@pytest.mark.parametrize(
    ("pattern", "expected"),
    [
        ({"userIdentity": {"principalId": ["dynamodb.amazonaws.com"]}}, True),
        ({"userIdentity": {"principalId": ["someone"]}}, False),
        ({"eventName": ["INSERT", "REMOVE"]}, True),  # alternatives
        ({"dynamodb": {"OldImage": {"kind": {"S": ["grant"]}}}}, True),  # nested
        ({"dynamodb": {"OldImage": {"pk": {"S": [{"prefix": "RELAY#"}]}}}}, True),
        ({"dynamodb": {"OldImage": {"pk": {"S": [{"prefix": "STATE#"}]}}}}, False),
        ({"dynamodb": {"NewImage": {"kind": {"S": ["grant"]}}}}, False),  # missing key
        ({"dynamodb": {"NewImage": [{"exists": False}]}}, True),
        ({"eventName": [{"anything-but": ["INSERT"]}]}, True),
        ({"eventName": [{"equals-ignore-case": "remove"}]}, True),
    ],
)
def test_patterns(pattern, expected):
    assert matches(pattern, TTL_RECORD) is expected


def test_numeric_and_list_values():
    assert matches({"n": [{"numeric": [">", 0, "<=", 5]}]}, {"n": 5})
    assert not matches({"n": [{"numeric": [">", 5]}]}, {"n": 5})
    assert matches({"tags": ["b"]}, {"tags": ["a", "b"]})


def utc(hour, minute=0, day=1):
    return datetime(2030, 1, day, hour, minute, tzinfo=UTC)


def test_rate_window_and_first_fire_without_start():
    window = Schedule("scheduler", "W", "w", "rate(30 minutes)", [], start=utc(10), end=utc(11))
    assert window.fire_times(utc(9), utc(12), True, utc(9)) == [utc(10), utc(10, 30)]
    assert window.fire_times(utc(10), utc(12), False, utc(9)) == [utc(10, 30)]
    free = Schedule("scheduler", "F", "f", "rate(1 hour)", [])
    assert free.fire_times(utc(9, 10), utc(11, 10), True, utc(9, 10)) == [utc(9, 10), utc(10, 10), utc(11, 10)]


def test_at_in_a_time_zone_once_and_cron():
    one_shot = Schedule("scheduler", "O", "o", "at(2030-01-01T15:30:00)", [], timezone="Europe/Paris")
    assert one_shot.fire_times(utc(0), utc(23), True, utc(0)) == [utc(14, 30)]
    one_shot.fired.append(utc(14, 30))
    assert one_shot.fire_times(utc(0), utc(23), True, utc(0)) == []
    weekdays = Schedule("events-rule", "C", "c", "cron(0/30 8-9 ? * MON-FRI *)", [])
    # 2030-01-04 is a Friday, 2030-01-05 a Saturday.
    assert weekdays.fire_times(utc(0, day=4), utc(23, day=5), True, utc(0)) == [
        utc(8, day=4), utc(8, 30, day=4), utc(9, day=4), utc(9, 30, day=4)
    ]
    with pytest.raises(ValueError):
        Schedule("events-rule", "X", "x", "cron(0 12 L * ? *)", [])


def test_sim_clock():
    clock = SimClock(utc(9))
    assert clock.advance(by=timedelta(minutes=5)) == utc(9, 5)
    assert clock.advance(to=utc(10)) == clock.now() == utc(10)
    with pytest.raises(ValueError):
        clock.advance(to=utc(9))
    with pytest.raises(ValueError):
        SimClock(datetime(2030, 1, 1))


def test_local_cloud_points_boto3_at_moto_and_restores_everything(monkeypatch):
    import os

    import boto3
    from moto import settings
    from moto.awslambda.models import LambdaFunction

    from relaycast import clock
    from relaycast_local.runtime import LocalCloud

    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-west-2")
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    original_invoke, original_host = LambdaFunction.invoke, settings.moto_server_host
    sim = SimClock(utc(9))
    with LocalCloud(clock=sim) as cloud:
        assert os.environ["AWS_ENDPOINT_URL"] == cloud.endpoint_url.replace("localhost", "127.0.0.1")
        assert cloud.endpoint_url.startswith("http://127.0.0.1:")
        assert boto3.client("sqs").list_queues().get("QueueUrls", []) == []  # plain boto3 reaches moto
        assert boto3.client("sts").get_caller_identity()["Account"] == cloud.account_id
        assert clock.now() == utc(9)
        assert LambdaFunction.invoke is not original_invoke
    assert os.environ["AWS_DEFAULT_REGION"] == "us-west-2" and "AWS_ENDPOINT_URL" not in os.environ
    assert LambdaFunction.invoke is original_invoke and settings.moto_server_host is original_host
    assert clock.now() != utc(9)


def test_moto_patches_apply_once_per_cloud_and_undo_to_motos_own():
    from moto.awslambda.models import LambdaFunction
    from moto.sqs.models import Message

    from relaycast_local import moto_patches

    original_invoke, original_delayed = LambdaFunction.invoke, Message.delayed
    activation = moto_patches.Activation(run_lambda=lambda fn, event: (b"{}", False), server_host="http://127.0.0.1", sfn_wait_scale=0.0)
    moto_patches.apply(activation)
    try:
        patched_invoke, patched_delayed = LambdaFunction.invoke, Message.delayed
        moto_patches.apply(activation)  # again for the same cloud: nothing is patched twice
        assert LambdaFunction.invoke is patched_invoke is not original_invoke
        assert Message.delayed is patched_delayed is not original_delayed
        assert moto_patches.active() is activation
        with pytest.raises(RuntimeError, match="one at a time"):
            moto_patches.apply(moto_patches.Activation(activation.run_lambda, "http://127.0.0.2", 1.0))
    finally:
        moto_patches.undo()
    moto_patches.undo()  # twice: still moto's own
    assert LambdaFunction.invoke is original_invoke and Message.delayed is original_delayed
    assert moto_patches.active() is None


def test_deploy_touches_the_cloud_only_through_its_public_interface():
    """runtime_deploy reads and writes nothing of the cloud but the members DeployTarget names, all public,
    and LocalCloud has each of them."""
    import ast
    import inspect

    from relaycast_local import runtime_deploy
    from relaycast_local.runtime import LocalCloud

    target = runtime_deploy.DeployTarget
    methods = {name for name, value in vars(target).items() if callable(value) and not name.startswith("_")}
    allowed = methods | set(target.__annotations__)
    used = set()
    for node in ast.walk(ast.parse(inspect.getsource(runtime_deploy))):
        base = getattr(node, "value", None)
        if isinstance(node, ast.Attribute) and (
            (isinstance(base, ast.Name) and base.id == "cloud") or (isinstance(base, ast.Attribute) and base.attr == "cloud")
        ):
            used.add(node.attr)
    assert {"client", "register_code", "code_folder", "detach_builtin_delivery", "invoke"} <= used
    assert used <= allowed and not [name for name in allowed if name.startswith("_")]
    assert all(callable(getattr(LocalCloud, name, None)) for name in methods)


def test_a_handler_captures_only_its_own_thread_s_prints(capsys):
    """While a handler runs, the serve clock's thread still prints its mails to the terminal (a swapped process
    stdout once swallowed a confirmation link into a function's log)."""
    import io
    import threading

    from relaycast_local.runtime_lambda import capture_stdout_of_this_thread

    printed = io.StringIO()
    with capture_stdout_of_this_thread(printed):
        print("the handler's EMF line")
        other = threading.Thread(target=print, args=("  mail to ada@example.net: confirm",))
        other.start()
        other.join()
    print("after the call")

    assert printed.getvalue() == "the handler's EMF line\n"
    assert capsys.readouterr().out == "  mail to ada@example.net: confirm\nafter the call\n"


def test_a_handler_s_log_lines_are_in_its_output_as_cloudwatch_would_keep_them():
    """`serve` shows the functions' ERROR lines from their captured output: the logger writes there too."""
    import io
    import json

    from relaycast.observability import logger
    from relaycast_local.runtime_lambda import capture_stdout_of_this_thread

    printed = io.StringIO()
    with capture_stdout_of_this_thread(printed):
        logger.error("confirmation e-mail not sent")

    assert json.loads(printed.getvalue())["message"] == "confirmation e-mail not sent"
