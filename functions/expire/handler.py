"""expire: end grants — the end-of-event sweep (queues one message per grant and per custody), the end-grant
queue's messages, and the TTL stream backstop of grants and custody items (the same end path)."""

import base64
import json

from aws_lambda_powertools.utilities.batch import EventType, process_partial_response
from aws_lambda_powertools.utilities.data_classes.dynamo_db_stream_event import DynamoDBRecord
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord

from relaycast import digest, expire
from relaycast.entry import batch_processor, lambda_entry
from relaycast.networks.factory import x_network
from relaycast.observability import logger
from relaycast.storage import plain


@lambda_entry
def handler(event, context, settings, store):
    if event.get("action") == "sweep":
        # No round runs after the end: the proposals nobody decided are recorded as expired here.
        expired = digest.expire_proposals(store, settings.event())
        # Raises when grants could not be queued: the scheduler's retry runs the sweep again.
        return {**expire.sweep(store, settings.end_grant_queue_url), "proposals_expired": expired}
    config, x = settings.event(), x_network(settings)

    def queued_end(record: SQSRecord) -> str:
        receives = int(record.attributes.approximate_receive_count or 1)
        outcome = expire.end_queued(store, settings, config, x, json.loads(record.body), receives)
        logger.info("end-grant message", extra={"outcome": outcome, "receives": receives})
        return outcome

    def ttl_end(record: DynamoDBRecord) -> str:
        item = plain(record.dynamodb.old_image)
        if "tokens" in item:  # binary attributes arrive as base64 text
            item["tokens"] = base64.b64decode(item["tokens"])
        # Tokens whose grant is gone or never was are ended from the image.
        end = expire.end_custody if item.get("kind") == "custody" else expire.end_grant
        outcome = end(store, settings, config, x, item, "access expired")
        logger.info("TTL deletion", extra={"kind": item.get("kind"), "outcome": outcome})
        return outcome

    if (event.get("Records") or [{}])[0].get("eventSource") == "aws:sqs":
        # A batch that fails whole is reported item by item all the same (no function error).
        processor = batch_processor(EventType.SQS, raise_on_entire_batch_failure=False)
        return process_partial_response(event=event, record_handler=queued_end, processor=processor, context=context)
    processor = batch_processor(EventType.DynamoDBStreams)
    return process_partial_response(event=event, record_handler=ttl_end, processor=processor, context=context)
