"""select: score, de-duplicate and pace the round's picks; name the relays to propose them to.

With moderation on, the round invokes it a second time with a task token (`action: moderate`): the picks
wait for the moderator. Each round first applies the time-out rule to rounds the moderator left waiting, and
records as expired the proposals nobody decided in time. Then `action: fan_out` pages the relays with room and
queues the round's work items for `propose` (the round's state never holds the relays).
"""

import os

from relaycast import clock, digest, fanout, moderation, rounds
from relaycast.entry import lambda_entry
from relaycast.observability import logger, metrics


@lambda_entry
def handler(event, context, settings, store):
    config = settings.event()
    if event.get("action") == "fan_out":
        return fanout.fan_out(store, config, event["selection"], settings.propose_queue_url)
    if event.get("action") == "moderate":
        round_id = moderation.open_round(
            store, settings, config, event["selection"], event["task_token"], os.environ["HOSTED_PAGE_URL"]
        )
        logger.info("round waits for the moderator", extra={"round": round_id, "picks": len(event["selection"]["picks"])})
        return {"round": round_id}
    moderation.resolve_expired(store, config)
    digest.expire_proposals(store, config)
    round_id = clock.now().strftime("%Y%m%dT%H%M%SZ")
    result = rounds.select(store, config, round_id)
    metrics.add_metric(name="Picks", unit="Count", value=len(result["picks"]))
    logger.info("round selected", extra={"round": round_id, "picks": len(result["picks"])})
    return result
