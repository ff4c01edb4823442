"""poll: read the event's hashtags since the last cursor and store new candidates."""

from relaycast import rounds
from relaycast.entry import lambda_entry
from relaycast.networks.factory import mastodon_source, x_network
from relaycast.observability import metrics


@lambda_entry
def handler(event, context, settings, store):
    bluesky = rounds.bluesky_source(store, settings)
    kept = dict(bluesky.session) if bluesky and bluesky.session else None
    try:
        result = rounds.poll(store, settings.event(), x_network(settings), mastodon_source(settings), bluesky)
    finally:  # a refreshed session is kept even when X failed the round
        rounds.keep_session(store, settings, bluesky, kept)
    metrics.add_metric(name="PostsRead", unit="Count", value=result["read"])
    metrics.add_metric(name="CandidatesStored", unit="Count", value=result["stored"])
    metrics.add_metric(name="SourcesFailed", unit="Count", value=len(result["failed"]))
    return result
