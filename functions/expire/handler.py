"""expire: end grants — the end-of-event sweep (queues one message per grant and per custody), the end-grant
queue's messages, and the TTL stream backstop of grants and custody items (the same end path)."""

import base64
import json

from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.data_classes import DynamoDBStreamEvent
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord

from relaycast import digest, expire
from relaycast.networks.factory import x_network
from relaycast.observability import bind_service, logger, metrics, tracer
from relaycast.settings import Settings
from relaycast.storage import Store, plain


@logger.inject_lambda_context
@tracer.capture_lambda_handler
@metrics.log_metrics
def handler(event, context):
    bind_service()
    settings = Settings.from_env()
    store = Store(settings.table_name)
    if event.get("action") == "sweep":
        # No round runs after the end: the proposals nobody decided are recorded as expired here.
        expired = digest.expire_proposals(store, settings.event())
        # Raises when grants could not be queued: the scheduler's retry runs the sweep again.
        return {**expire.sweep(store, settings.end_grant_queue_url), "proposals_expired": expired}
    config, x = settings.event(), x_network(settings)
    records = event.get("Records") or []
    if records and records[0].get("eventSource") == "aws:sqs":

        def record_handler(record: SQSRecord) -> str:
            receives = int(record.attributes.approximate_receive_count or 1)
            outcome = expire.end_queued(store, settings, config, x, json.loads(record.body), receives)
            logger.info("end-grant message", extra={"outcome": outcome, "receives": receives})
            return outcome

        return process_partial_response(
            event=event,
            record_handler=record_handler,
            # A batch that fails whole is reported item by item all the same (no function error).
            processor=BatchProcessor(event_type=EventType.SQS, raise_on_entire_batch_failure=False),
            context=context,
        )
    ended = 0
    for record in DynamoDBStreamEvent(event).records:
        item = plain(record.dynamodb.old_image)
        for sealed in ("tokens", "retired"):
            if sealed in item:  # binary attributes arrive as base64 text
                item[sealed] = base64.b64decode(item[sealed])
        if item.get("kind") == "custody":  # tokens whose grant is gone or never was: end them from the image
            ended += expire.end_custody(store, settings, config, x, item, "access expired") == "ended"
        else:
            ended += expire.end_grant(store, settings, config, x, item, "access expired") == "ended"
    return {"ended": ended}
