"""Every change relaycast_local makes to moto's internals, in one place.

Written against moto 5.2.5 (`PINNED_MOTO_VERSION`, pinned in pyproject.toml): each patch replaces a private
method or module attribute whose name and signature are those of that release. A LocalCloud refuses to start
on another moto until the patches are checked against it and the pin is moved.

`apply` installs them all for one LocalCloud and `undo` puts moto's own back; both are idempotent (applying
again for the same cloud, or undoing twice, changes nothing). What each patch is for:

- `LambdaFunction.invoke`: moto without Docker cannot run a function; the cloud's `LambdaHost` runs the real
  handler in this process (every path that runs a function goes through this method).
- `moto.settings.moto_server_host`: custom resources answer this process's moto server, not a Docker host
  (moto would probe Docker for one).
- Step Functions' Retry sleep (`retrier_decl.time`) and Wait state (`WaitFunction._wait_interval`): moto's
  engine sleeps for real, while an execution runs at one simulated instant; waits are scaled by the cloud's
  `sfn_wait_scale` (0: no waiting; 1: real time).
- `ExecutionWorker._get_evaluation_environment`: moto puts a Python datetime in `$$.Execution.StartTime`, which
  no state can send to a service; it becomes an ISO string read from relaycast's (simulated) clock.
- SQS `Message.delay` and `Message.delayed`: DelaySeconds counted on relaycast's clock, so a job sent back with a
  delay (a publish's jitter, a deferral until a budget turns or quiet hours end) is due in event time.
- DynamoDB's `transact_write_items` backup: moto deep-copies each table a transaction names (once per item),
  every item and every stream record since the table was made, to restore it on a cancelled transaction; over an
  event that is most of the local runtime's time and memory. The backup (`models.copy`, as that module sees it)
  is a table sharing what the transaction cannot change and holding its own copies of the items it names and of
  the stream's record list, so a cancelled transaction still leaves the table and its stream as they were.
- `detach_builtin_delivery`: moto delivers to a mapped function itself, inside the writer's request; emptying
  the queues' and tables' hooks leaves one delivery path, the runtime's pollers (`runtime_events.Pump`).
"""

from __future__ import annotations

import base64
import copy
import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import moto

from relaycast import clock

#: The moto release these patches were written against and tested with.
PINNED_MOTO_VERSION = "5.2.5"


@dataclass(frozen=True)
class Activation:
    """What the patches do for the LocalCloud that applied them."""

    run_lambda: Callable[[Any, Any], tuple[bytes, bool]]  # (moto's LambdaFunction, event) -> (payload, errored)
    server_host: str  # e.g. http://127.0.0.1
    sfn_wait_scale: float


_active: Activation | None = None
_saved: list[tuple[Any, str, Any]] = []  # (owner, attribute, moto's own value) of every applied patch


def check_moto_version() -> None:
    if moto.__version__ != PINNED_MOTO_VERSION:
        raise RuntimeError(
            f"relaycast_local's moto glue was written for moto {PINNED_MOTO_VERSION} and patches its internals "
            f"(local/moto_patches.py: LambdaFunction.invoke, the Step Functions engine's waits and start time, SQS "
            f"delays, event-source hooks); moto {moto.__version__} is installed. Pin moto=={PINNED_MOTO_VERSION} "
            f"or re-check the patches against the new moto and update PINNED_MOTO_VERSION."
        )


def active() -> Activation | None:
    """The activation of the LocalCloud running in this process, if one is."""
    return _active


def apply(activation: Activation) -> None:
    """Patch moto for one LocalCloud (one at a time: the patches, the environment and the clock are global)."""
    global _active
    check_moto_version()
    if _active is activation:
        return
    if _active is not None:
        raise RuntimeError("a LocalCloud is already running in this process (one at a time)")
    for owner, name, replacement in _patches():
        _saved.append((owner, name, getattr(owner, name)))
        setattr(owner, name, replacement)
    _active = activation


def undo() -> None:
    """Put moto's own code back."""
    global _active
    while _saved:
        owner, name, original = _saved.pop()
        setattr(owner, name, original)
    _active = None


def detach_builtin_delivery(account_id: str, region: str) -> None:
    """Empty moto's queue and table hooks; the event-source mappings themselves stay."""
    from moto.dynamodb.models import dynamodb_backends
    from moto.sqs.models import sqs_backends

    for queue in sqs_backends[account_id][region].queues.values():
        queue.lambda_event_source_mappings.clear()
    for table in dynamodb_backends[account_id][region].tables.values():
        table.lambda_event_source_mappings.clear()


def _patches() -> list[tuple[Any, str, Any]]:
    from moto import settings
    from moto.awslambda.models import LambdaFunction
    from moto.sqs.models import Message
    from moto.stepfunctions.parser.asl.component.common.retry import retrier_decl
    from moto.stepfunctions.parser.asl.component.state.wait.wait_function.wait_function import WaitFunction
    from moto.stepfunctions.parser.backend.execution_worker import ExecutionWorker

    import moto.dynamodb.models as dynamodb_models

    start_time = ExecutionWorker._get_evaluation_environment
    transact = dynamodb_models.DynamoDBBackend.transact_write_items
    return [
        (dynamodb_models, "copy", _TransactionBackup()),
        (dynamodb_models.DynamoDBBackend, "transact_write_items",
         lambda backend, items: _naming_keys(backend, items, lambda: transact(backend, items))),
        (LambdaFunction, "invoke", _invoke),
        (settings, "moto_server_host", lambda: _current().server_host),
        (retrier_decl, "time", _ScaledTime()),
        (WaitFunction, "_wait_interval", _wait_interval),
        (ExecutionWorker, "_get_evaluation_environment", lambda worker: _stamp_start_time(start_time(worker))),
        (Message, "delay", _delay),
        (Message, "delayed", property(_delayed)),
    ]


def _current() -> Activation:
    assert _active is not None, "moto is patched only while a LocalCloud runs"
    return _active


def _header(headers: Any, name: str) -> str | None:
    for key, value in dict(headers or {}).items():
        if key.lower() == name:
            return value
    return None


def _invoke(self: Any, body: Any, request_headers: Any, response_headers: Any) -> bytes:
    """`LambdaFunction.invoke` (moto 5.2.5's signature), run by the cloud's LambdaHost."""
    invocation_type = _header(request_headers, "x-amz-invocation-type") or "RequestResponse"
    if invocation_type == "DryRun":
        return b""
    # "Event" invocations run synchronously too: deterministic, and moto answers 202 all the same.
    payload, errored = _current().run_lambda(self, json.loads(body) if body else {})
    if errored:
        response_headers["x-amz-function-error"] = "Unhandled"
    if invocation_type == "RequestResponse":
        response_headers["x-amz-log-result"] = base64.b64encode(b"").decode()
    return payload


class _ScaledTime:
    """The `time` module as moto's Retry sees it, its sleeps scaled by `sfn_wait_scale`."""

    def sleep(self, seconds: float) -> None:
        if seconds * _current().sfn_wait_scale > 0:
            time.sleep(seconds * _current().sfn_wait_scale)

    def __getattr__(self, name: str) -> Any:
        return getattr(time, name)


def _wait_interval(self: Any, env: Any, wait_seconds: float) -> None:
    if wait_seconds * _current().sfn_wait_scale > 0:
        env.program_state_event.wait(wait_seconds * _current().sfn_wait_scale)  # returns early when the execution stops


def _stamp_start_time(env: Any) -> Any:
    started = clock.now().isoformat(timespec="milliseconds").replace("+00:00", "Z")
    env.states.context_object.context_object_data["Execution"]["StartTime"] = started
    return env


def _delay(self: Any, delay_seconds: int) -> None:
    self.delayed_until = clock.now().timestamp() * 1000 + int(delay_seconds) * 1000


def _delayed(self: Any) -> bool:
    return clock.now().timestamp() * 1000 < self.delayed_until


_named = threading.local()  # the keys the transaction running on this thread names, per table


def _naming_keys(backend: Any, transact_items: list[dict[str, Any]], run: Callable[[], Any]) -> Any:
    """`DynamoDBBackend.transact_write_items` (moto 5.2.5), with the keys it names known to its backup."""
    from moto.dynamodb.models.dynamo_type import DynamoType

    keys: dict[str, set[tuple[Any, Any]]] = {}
    for entry in transact_items:
        op = next(iter(entry.values())) if isinstance(entry, dict) and entry else {}
        table = backend.tables.get(op.get("TableName", "")) if isinstance(op, dict) else None
        if table is None:
            continue
        key = op.get("Key") or op.get("Item") or {}
        hash_value = key.get(table.hash_key_attr)
        range_value = key.get(table.range_key_attr) if table.range_key_attr else None
        if hash_value is not None:
            keys.setdefault(table.name, set()).add(
                (DynamoType(hash_value), DynamoType(range_value) if range_value is not None else None))
    _named.keys = keys
    try:
        return run()
    finally:
        _named.keys = None


class _TransactionBackup:
    """The `copy` module as moto's DynamoDB models see it: `deepcopy` of a table during a transaction is the light
    backup (see the module's notes); everything else is the real `copy`."""

    def deepcopy(self, value: Any, memo: Any = None) -> Any:
        from moto.dynamodb.models.table import Table

        keys = getattr(_named, "keys", None)
        if not isinstance(value, Table) or keys is None:
            return copy.deepcopy(value, memo)
        backup = copy.copy(value)
        backup.items = copy.copy(value.items)  # its own partitions map (a defaultdict stays one)
        copied: set[Any] = set()  # partitions the backup holds its own map of
        for hash_key, range_key in keys.get(value.name, ()):
            if hash_key not in value.items:
                continue
            if value.range_key_attr:
                if hash_key not in copied:
                    backup.items[hash_key] = dict(value.items[hash_key])
                    copied.add(hash_key)
                partition = backup.items[hash_key]
                if range_key in partition:
                    partition[range_key] = copy.deepcopy(value.items[hash_key][range_key])
            else:
                backup.items[hash_key] = copy.deepcopy(value.items[hash_key])
        if value.stream_shard is not None:
            backup.stream_shard = copy.copy(value.stream_shard)
            backup.stream_shard.items = list(value.stream_shard.items)
            backup.stream_shard.table = backup
        return backup

    def __getattr__(self, name: str) -> Any:
        return getattr(copy, name)
