"""expire: end grants — the end-of-event sweep, and the TTL stream backstop (same path)."""

import base64

from aws_lambda_powertools.utilities.data_classes import DynamoDBStreamEvent

from relaycast import expire
from relaycast.networks import x_network
from relaycast.observability import bind_service, logger, metrics, tracer
from relaycast.settings import Settings
from relaycast.storage import Store, plain


@logger.inject_lambda_context
@tracer.capture_lambda_handler
@metrics.log_metrics
def handler(event, context):
    bind_service()
    settings = Settings.from_env()
    store, config, x = Store(settings.table_name), settings.event(), x_network(settings)
    if event.get("action") == "sweep":
        result = expire.sweep(store, settings, config, x)
        logger.info("sweep", extra=result)
        if result["failed"]:
            # The scheduler's retry policy runs the sweep again; ended grants are skipped then.
            raise RuntimeError(f"{result['failed']} grant(s) could not be revoked yet")
        return result
    ended = 0
    for record in DynamoDBStreamEvent(event).records:
        grant = plain(record.dynamodb.old_image)
        grant["tokens"] = base64.b64decode(grant["tokens"])  # binary attributes arrive as base64 text
        ended += expire.end_grant(store, settings, config, x, grant, "access expired") == "ended"
    return {"ended": ended}
