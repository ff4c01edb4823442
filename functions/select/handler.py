"""select: score, de-duplicate and pace the round's picks; name the relays to propose them to."""

from relaycast import clock, rounds
from relaycast.observability import bind_service, logger, metrics, tracer
from relaycast.settings import Settings
from relaycast.storage import Store


@logger.inject_lambda_context
@tracer.capture_lambda_handler
@metrics.log_metrics
def handler(event, context):
    bind_service()
    settings = Settings.from_env()
    round_id = clock.now().strftime("%Y%m%dT%H%M%SZ")
    result = rounds.select(Store(settings.table_name), settings.event(), round_id)
    metrics.add_metric(name="Picks", unit="Count", value=len(result["picks"]))
    logger.info("round selected", extra={"round": round_id, "picks": len(result["picks"]), "relays": len(result["relays"])})
    return result
