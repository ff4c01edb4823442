"""poll: read the event's hashtags since the last cursor and store new candidates."""

from relaycast import rounds
from relaycast.networks.factory import mastodon_source, x_network
from relaycast.observability import bind_service, logger, metrics, tracer
from relaycast.settings import Settings
from relaycast.storage import Store


@logger.inject_lambda_context
@tracer.capture_lambda_handler
@metrics.log_metrics
def handler(event, context):
    bind_service()
    settings = Settings.from_env()
    result = rounds.poll(Store(settings.table_name), settings.event(), x_network(settings), mastodon_source(settings))
    metrics.add_metric(name="PostsRead", unit="Count", value=result["read"])
    metrics.add_metric(name="CandidatesStored", unit="Count", value=result["stored"])
    metrics.add_metric(name="SourcesFailed", unit="Count", value=len(result["failed"]))
    return result
