"""publish: one SQS job per approved relay-post; partial batch failures return only what must be retried."""

from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from aws_lambda_powertools.utilities.idempotency import (
    DynamoDBPersistenceLayer,
    IdempotencyConfig,
    idempotent_function,
)

from relaycast import aws
from relaycast.networks.factory import x_network
from relaycast.observability import bind_service, logger, metrics, tracer
from relaycast.publish import Deferred, PublishJob, defer, publish
from relaycast.settings import Settings
from relaycast.storage import Store


@logger.inject_lambda_context
@tracer.capture_lambda_handler
@metrics.log_metrics
def handler(event, context):
    bind_service()
    settings = Settings.from_env()
    store, config, x = Store(settings.table_name), settings.event(), x_network(settings)
    persistence = DynamoDBPersistenceLayer(
        table_name=settings.table_name,
        key_attr="pk",
        sort_key_attr="sk",
        static_pk_value="IDEMPOTENCY#publish",
        expiry_attr="expires_at",
        boto3_client=aws.client("dynamodb"),
    )
    idempotency = IdempotencyConfig(event_key_jmespath="[relay_id, network, post_id]", expires_after_seconds=3600)
    idempotency.register_lambda_context(context)

    # Idempotent on the business key (relay + post), never on the SQS message id.
    @idempotent_function(data_keyword_argument="job", persistence_store=persistence, config=idempotency)
    def publish_once(job: dict) -> str:
        return publish(store, settings, config, x, PublishJob.model_validate(job))

    def record_handler(record: SQSRecord) -> str:
        job = PublishJob.model_validate_json(record.body)
        try:
            outcome = publish_once(job=job.model_dump())
        except Deferred as deferred:  # raised inside the idempotent call, so its record is not kept
            outcome = defer(store, settings, config, job, deferred)
            metrics.add_metric(name="Deferred", unit="Count", value=1)
        else:
            metrics.add_metric(name="Published" if outcome == "published" else "NotPublished", unit="Count", value=1)
        logger.info("relay-post", extra={"relay_id": job.relay_id, "post_id": job.post_id, "outcome": outcome})
        return outcome

    return process_partial_response(
        event=event, record_handler=record_handler, processor=BatchProcessor(event_type=EventType.SQS), context=context
    )
