"""publish: one SQS job per approved relay-post; partial batch failures return only what must be retried.
Every few minutes during the event, EventBridge Scheduler asks it to release the parked jobs that are due."""

from aws_lambda_powertools.utilities.batch import EventType, process_partial_response
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from aws_lambda_powertools.utilities.idempotency import IdempotencyConfig, idempotent_function

from relaycast.entry import batch_processor, idempotency_store, lambda_entry
from relaycast.networks.factory import x_network
from relaycast.observability import logger, metrics
from relaycast.publish import Deferred, PublishJob, defer, publish, release

RELEASE = {"action": "release"}


@lambda_entry
def handler(event, context, settings, store):
    config = settings.event()
    if event == RELEASE:
        released = release(store, settings, config)
        metrics.add_metric(name="Released", unit="Count", value=released.released)
        if released.unqueued:
            logger.warning("parked jobs not queued: left for the next release", extra=released.model_dump())
        return released.model_dump()
    x = x_network(settings)
    idempotency = IdempotencyConfig(event_key_jmespath="[relay_id, network, post_id]", expires_after_seconds=3600)
    idempotency.register_lambda_context(context)

    # Idempotent on the business key (relay + post), never on the SQS message id.
    @idempotent_function(data_keyword_argument="job", persistence_store=idempotency_store(settings.table_name),
                         config=idempotency)
    def publish_once(job: dict) -> str:
        return publish(store, settings, config, x, PublishJob.model_validate(job))

    def record_handler(record: SQSRecord) -> str:
        job = PublishJob.model_validate_json(record.body)
        try:
            outcome = publish_once(job=job.model_dump())
        except Deferred as deferred:  # raised inside the idempotent call, so its record is not kept
            outcome = defer(store, settings, config, job, deferred)
            metrics.add_metric(name="Parked" if outcome == "parked" else "Deferred", unit="Count", value=1)
        else:
            metrics.add_metric(name="Published" if outcome == "published" else "NotPublished", unit="Count", value=1)
        logger.info("relay-post", extra={"relay_id": job.relay_id, "post_id": job.post_id, "outcome": outcome})
        return outcome

    return process_partial_response(event=event, record_handler=record_handler, processor=batch_processor(EventType.SQS),
                                    context=context)
