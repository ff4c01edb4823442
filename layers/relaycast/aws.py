"""AWS clients, created on first use and reused while the endpoint stays the same.

Keyed by endpoint and region so the local runtime and tests, which start a new moto server per run,
never talk to a stale one; in Lambda the key never changes and each client is built once per container.
"""

from __future__ import annotations

import itertools
import os
from collections.abc import Iterable
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import boto3
from botocore.config import Config

MAX_SQS_DELAY = 900  # SQS's longest DelaySeconds

_CONFIG = Config(retries={"mode": "standard", "max_attempts": 3}, connect_timeout=3, read_timeout=10)


@lru_cache(maxsize=32)
def _client(service: str, endpoint: str | None, region: str | None) -> Any:
    return boto3.session.Session().client(service, region_name=region, endpoint_url=endpoint, config=_CONFIG)


def client(service: str) -> Any:
    return _client(service, os.environ.get("AWS_ENDPOINT_URL"), os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION"))


@lru_cache(maxsize=32)
def _table(name: str, endpoint: str | None, region: str | None) -> Any:
    return boto3.session.Session().resource("dynamodb", region_name=region, endpoint_url=endpoint, config=_CONFIG).Table(name)


def table(name: str) -> Any:
    return _table(name, os.environ.get("AWS_ENDPOINT_URL"), os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION"))


SQS_BATCH = 10  # SendMessageBatch's limit


@dataclass(frozen=True)
class Queued:
    """What `send_batches` did: messages queued, SendMessageBatch calls, and messages SQS kept refusing."""

    queued: int
    batches: int
    unqueued: int
    left: tuple[dict[str, Any], ...] = ()  # the entries of `unqueued`, as given


def send_batches(queue_url: str, entries: Iterable[dict[str, Any]], *, sqs: Any = None) -> Queued:
    """Queue every entry (`MessageBody`, optionally `DelaySeconds`), ten per SendMessageBatch; entries SQS
    refuses (throttling, internal errors) are sent again, twice. The caller decides what `unqueued` means."""
    sqs = sqs or client("sqs")
    queued = unqueued = batches = 0
    left: list[dict[str, Any]] = []
    remaining = iter(entries)
    while chunk := list(itertools.islice(remaining, SQS_BATCH)):
        batches += 1
        pending = [{"Id": str(i), **entry} for i, entry in enumerate(chunk)]
        for _ in range(3):
            answer = sqs.send_message_batch(QueueUrl=queue_url, Entries=pending)
            queued += len(answer.get("Successful", []))
            failed = {f["Id"] for f in answer.get("Failed", [])}
            pending = [e for e in pending if e["Id"] in failed]
            if not pending:
                break
        unqueued += len(pending)
        left += [chunk[int(entry["Id"])] for entry in pending]
    return Queued(queued=queued, batches=batches, unqueued=unqueued, left=tuple(left))
