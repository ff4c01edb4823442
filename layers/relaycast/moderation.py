"""Moderation (optional per event): a round's picks wait for a moderator before any relay sees them.

The round's state machine invokes `select` with a task token (`waitForTaskToken`); `open_round` keeps the
picks and the token and mails the moderator a signed link. The moderator approves or rejects each pick on
the hosted app; `decide` answers the task with the approved picks, which the fan-out proposes. A round
nobody decides in time gets the event's `on_timeout` rule, applied by the next round's `select`
(`resolve_expired`, on the event's clock) — the state's own timeout, a little longer, is the backstop.
"""

from __future__ import annotations

import json
import re
from datetime import timedelta
from typing import Any

from botocore.exceptions import ClientError
from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer

from relaycast import aws, clock, notices
from relaycast.config import EventConfig
from relaycast.errors import Conflict, Forbidden, InvalidRequest, NotFound
from relaycast.observability import logger, metrics
from relaycast.settings import Settings
from relaycast.storage import Attr, Store, is_condition_failure

KIND = "moderation"
ROUND = re.compile(r"^[0-9]{8}T[0-9]{6}Z$")
# The task is already over (answered, timed out, or its execution stopped): nothing left to answer.
TASK_OVER = ("TaskTimedOut", "TaskDoesNotExist", "InvalidToken")


def backstop_seconds(config: EventConfig) -> int:
    """The Moderate state's own timeout: the event's timeout plus one round, so `resolve_expired` acts first."""
    assert config.moderation
    return (config.moderation.timeout_minutes + config.poll_interval_minutes + 5) * 60


def _key(round_id: str) -> dict[str, str]:
    return {"pk": f"ROUND#{round_id}", "sk": "MODERATION"}


def _serializer(settings: Settings) -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(settings.secret().signing_key, salt="moderation")


def open_round(store: Store, settings: Settings, config: EventConfig, selection: dict[str, Any], task_token: str, base_url: str) -> str:
    """Keep the round's picks and task token; mail the moderator once. A retried invoke refreshes the token."""
    assert config.moderation
    round_id = selection["round"]
    deadline = clock.now() + timedelta(minutes=config.moderation.timeout_minutes)
    item = {
        **_key(round_id),
        "kind": KIND,
        "round": round_id,
        "picks": selection["picks"],
        "task_token": task_token,
        "status": "waiting",
        "deadline": int(deadline.timestamp()),
        "expires_at": config.retention_ends,
    }
    if not store.put_new(item):
        store.table.update_item(
            Key=_key(round_id),
            UpdateExpression="SET task_token = :t",
            ConditionExpression="#s = :waiting",
            ExpressionAttributeNames={"#s": "status"},
            ExpressionAttributeValues={":t": task_token, ":waiting": "waiting"},
        )
    if store.claim_once(**_key(round_id), attribute="mailed_at"):
        link = f"{base_url.rstrip('/')}/moderate?t={_serializer(settings).dumps({'round': round_id})}"
        try:
            notices.send_moderation(config, picks=selection["picks"], link=link, deadline=deadline)
        except Exception:
            store.unclaim(**_key(round_id), attribute="mailed_at")  # the retry mails again
            raise
    metrics.add_metric(name="RoundsAwaitingModeration", unit="Count", value=1)
    return round_id


def round_from_token(settings: Settings, config: EventConfig, token: str) -> str:
    assert config.moderation
    try:
        data = _serializer(settings).loads(token[:512], max_age=backstop_seconds(config))
    except SignatureExpired:
        raise Forbidden("This link has expired.") from None
    except BadSignature:
        raise Forbidden("This link is not valid.") from None
    return data["round"]


def view(store: Store, round_id: str) -> dict[str, Any]:
    item = store.get(**_key(round_id))
    if item is None:
        raise NotFound("There is nothing here for this link.")
    return {k: v for k, v in item.items() if k != "task_token"}


def _answer(task_token: str, picks: list[dict[str, Any]], **extra: Any) -> bool:
    """Resume the round with these picks; False when its task is already over."""
    try:
        aws.client("stepfunctions").send_task_success(taskToken=task_token, output=json.dumps({"picks": picks, **extra}))
    except ClientError as error:
        if error.response["Error"]["Code"] in TASK_OVER:
            return False
        raise
    return True


def round_of_link(store: Store, settings: Settings, config: EventConfig, token: str) -> dict[str, Any]:
    """The round a moderator's link opens."""
    return view(store, round_from_token(settings, config, token))


def decide_form(store: Store, settings: Settings, config: EventConfig, form: dict[str, str]) -> str:
    """The moderator's form: the round's link (`t`) and a `pick-<post id>` answer for each pick; returns the link."""
    token = form.get("t", "")
    decide(store, round_from_token(settings, config, token), {k.removeprefix("pick-"): v for k, v in form.items() if k.startswith("pick-")})
    return token


def decide(store: Store, round_id: str, decisions: dict[str, str]) -> list[dict[str, Any]]:
    """Approve or reject every pick of a waiting round, once; the approved picks go to the relays."""
    item = store.get(**_key(round_id))
    if item is None:
        raise NotFound("There is nothing here for this link.")
    ids = [p["post_id"] for p in item["picks"]]
    if set(decisions) != set(ids) or not set(decisions.values()) <= {"approve", "reject"}:
        raise InvalidRequest("Decide every post: approve or reject.")
    approved = [p for p in item["picks"] if decisions[p["post_id"]] == "approve"]
    try:
        store.table.update_item(
            Key=_key(round_id),
            UpdateExpression="SET #s = :decided, decisions = :d, decided_at = :at",
            ConditionExpression="#s = :waiting",
            ExpressionAttributeNames={"#s": "status"},
            ExpressionAttributeValues={":decided": "decided", ":waiting": "waiting", ":d": decisions, ":at": clock.now().isoformat()},
        )
    except ClientError as error:
        if not is_condition_failure(error):
            raise
        raise Conflict("This round is already decided (%(status)s).", status=store.get(**_key(round_id))["status"]) from None
    try:
        answered = _answer(item["task_token"], approved)
    except Exception:
        _reopen(store, round_id)  # nothing lost: the moderator can send again
        raise
    if not answered:
        store.table.update_item(Key=_key(round_id), UpdateExpression="SET #s = :late", ExpressionAttributeNames={"#s": "status"},
                                ExpressionAttributeValues={":late": "too-late"})
        raise Conflict("Too late: the round's time-out rule already applied.")
    metrics.add_metric(name="PicksRejectedByModerator", unit="Count", value=len(ids) - len(approved))
    return approved


def _reopen(store: Store, round_id: str) -> None:
    store.table.update_item(Key=_key(round_id), UpdateExpression="SET #s = :waiting REMOVE decisions, decided_at",
                            ExpressionAttributeNames={"#s": "status"}, ExpressionAttributeValues={":waiting": "waiting"})


def resolve_expired(store: Store, config: EventConfig) -> int:
    """Apply the event's rule to every round that waited past its deadline; returns how many."""
    if not config.moderation:
        return 0
    now, resolved = clock.epoch(), 0
    waiting = store.of_kind(KIND, filter_expression=Attr("status").eq("waiting") & Attr("deadline").lte(now))
    for item in waiting:
        try:
            store.table.update_item(
                Key=_key(item["round"]),
                UpdateExpression="SET #s = :timed_out, decided_at = :at",
                ConditionExpression="#s = :waiting",
                ExpressionAttributeNames={"#s": "status"},
                ExpressionAttributeValues={":timed_out": "timed-out", ":waiting": "waiting", ":at": clock.now().isoformat()},
            )
        except ClientError as error:
            if is_condition_failure(error):
                continue  # the moderator decided meanwhile
            raise
        picks = item["picks"] if config.moderation.on_timeout == "approve-all" else []
        _answer(item["task_token"], picks, timed_out=True)
        logger.info("moderation timed out", extra={"round": item["round"], "rule": config.moderation.on_timeout})
        resolved += 1
    if resolved:
        metrics.add_metric(name="ModerationTimedOut", unit="Count", value=resolved)
    return resolved
