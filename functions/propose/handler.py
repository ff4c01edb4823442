"""propose: one SQS work item of a round's fan-out — its relays' proposals or publish jobs, then their digests."""

from aws_lambda_powertools.utilities.batch import EventType, process_partial_response
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord

from relaycast import digest, fanout
from relaycast.entry import batch_processor, lambda_entry
from relaycast.observability import logger, metrics


@lambda_entry
def handler(event, context, settings, store):
    config = settings.event()

    def record_handler(record: SQSRecord) -> dict:
        item = fanout.WorkItem.model_validate_json(record.body)
        done = fanout.propose(store, item, settings.publish_queue_url)
        # A digest not sent fails the record: its retry finds the proposals written and mails only the rest.
        done["mailed"] = digest.send_digests(store, settings, config, item.round, done.pop("to_mail"), settings.hosted_page_url)
        metrics.add_metric(name="Proposed", unit="Count", value=done["proposed"])
        logger.info("work item proposed", extra={"round": item.round, "relays": len(item.relays), **done})
        return done

    # A failed item is reported, not raised: SQS delivers it again, and the invocation is not a Lambda error.
    processor = batch_processor(EventType.SQS, raise_on_entire_batch_failure=False)
    return process_partial_response(event=event, record_handler=record_handler, processor=processor, context=context)
