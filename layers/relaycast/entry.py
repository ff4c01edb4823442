"""The one way into a Lambda handler: Powertools' logger, metrics and (when on) tracer, the function named, its
settings and its table read; and the Powertools processors a handler keeps for the life of its container."""

from __future__ import annotations

import functools
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from relaycast import aws
from relaycast.observability import bind_service, logger, metrics, traced
from relaycast.settings import Settings
from relaycast.storage import Store

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType
    from aws_lambda_powertools.utilities.idempotency import DynamoDBPersistenceLayer

Handler = Callable[[dict, Any, Settings, Store], Any]


def lambda_entry(handler: Handler) -> Callable[[dict, Any], Any]:
    """Turn `handler(event, context, settings, store)` into Lambda's `handler(event, context)`."""

    @logger.inject_lambda_context
    @traced
    @metrics.log_metrics
    @functools.wraps(handler)
    def entry(event: dict, context: Any) -> Any:
        bind_service()
        settings = Settings.from_env()
        return handler(event, context, settings, Store(settings.table_name))

    return entry


_per_thread = threading.local()


def batch_processor(event_type: EventType, *, raise_on_entire_batch_failure: bool = True) -> BatchProcessor:
    """The handler's batch processor, built once per thread: in Lambda that is once per container. A processor
    holds the batch it is working on, so two invocations at once (the local runtime's and the tests' concurrent
    deliveries, in one process) must never share one."""
    processors = _per_thread.__dict__.setdefault("processors", {})
    key = (event_type, raise_on_entire_batch_failure)
    if key not in processors:
        from aws_lambda_powertools.utilities.batch import BatchProcessor  # loaded only by the functions that batch

        processors[key] = BatchProcessor(event_type=event_type, raise_on_entire_batch_failure=raise_on_entire_batch_failure)
    return processors[key]


def idempotency_store(table_name: str) -> DynamoDBPersistenceLayer:
    """The idempotency records of `publish`, in the one table under their own partition.

    Built once per table and client: in Lambda that is once per container; the local runtime runs every
    stack in one process, each with its table and its moto server, so none shares another's."""
    return _idempotency_store(table_name, aws.client("dynamodb"))


@functools.lru_cache(maxsize=8)
def _idempotency_store(table_name: str, client: Any) -> DynamoDBPersistenceLayer:
    from aws_lambda_powertools.utilities.idempotency import DynamoDBPersistenceLayer  # publish's alone

    return DynamoDBPersistenceLayer(
        table_name=table_name,
        key_attr="pk",
        sort_key_attr="sk",
        static_pk_value="IDEMPOTENCY#publish",
        expiry_attr="expires_at",
        boto3_client=client,
    )
