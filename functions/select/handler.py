"""select: score, de-duplicate and pace the round's picks; name the relays to propose them to.

With moderation on, the round invokes it a second time with a task token (`action: moderate`): the picks
wait for the moderator. Each round first applies the time-out rule to rounds the moderator left waiting, and
records as expired the proposals nobody decided in time. After the fan-out, `action: digest` mails each relay
the round's proposals with signed Approve and Skip links.
"""

import os

from relaycast import clock, digest, moderation, rounds
from relaycast.entry import lambda_entry
from relaycast.observability import logger, metrics


@lambda_entry
def handler(event, context, settings, store):
    config = settings.event()
    if event.get("action") == "digest":
        mailed = digest.send_round(store, settings, config, event.get("round", ""), os.environ["HOSTED_PAGE_URL"])
        logger.info("round's digests sent", extra={"round": event["round"], "mailed": mailed})
        return {"round": event["round"], "mailed": mailed}
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
    logger.info("round selected", extra={"round": round_id, "picks": len(result["picks"]), "relays": len(result["relays"])})
    return result
