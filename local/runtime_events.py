"""Event-source mappings and DynamoDB TTL, done the way Lambda and DynamoDB do them, on moto.

moto delivers to a function itself when a message is sent to a queue, or a stream record is written, that has a
mapping: synchronously, inside the writer's request, with no visibility timeout, no partial batch failures and
no FilterCriteria. The runtime switches that off (`moto_patches.detach_builtin_delivery`: the mapping stays, the
queue's and the table's hooks are emptied) so there is exactly one delivery path: `Pump.pump()`, a poller like Lambda's.

SQS and the clock: the pump receives with the longest visibility timeout (12 h, real time), so moto never
makes a message visible again on its own; it remembers each failed message with the instant, on the *runtime's*
clock (`relaycast.clock.now()`, the simulated one when installed), at which the queue's visibility timeout
expires, and makes it visible (ChangeMessageVisibility 0) when a later pump runs at or after that instant. moto's
own redrive then moves a message received `maxReceiveCount` times to the dead-letter queue on the next receive.
So with a simulated clock: a failure comes back after the queue's VisibilityTimeout of simulated time.

Streams: the pump reads the table's stream records from moto's shard (kept whole once moto's own delivery is
off) from a cursor per mapping, drops records that match none of the mapping's FilterCriteria patterns, and
invokes with the rest. A failed batch is retried on the next pump (never twice in one), and skipped after
MaximumRetryAttempts retries when the mapping sets it, Lambda's invocation record of it going to the mapping's
OnFailure queue; ReportBatchItemFailures advances to the first failure. Not modelled: BisectBatchOnFunctionError,
MaximumRecordAgeInSeconds, batching windows, parallelisation, FIFO group ordering on failures.

TTL: `sweep_ttl` deletes every item whose TTL attribute (a Number) is at or before the given instant, as the
TTL service does, and marks the REMOVE stream record it produces with the TTL principal's `userIdentity`
(moto's records never carry one; ordinary deletes keep none).
"""

from __future__ import annotations

import base64
import copy
import json
import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from moto.awslambda.models import lambda_backends
from moto.dynamodb.models import dynamodb_backends

from . import moto_patches

#: The TTL principal as a Lambda event record carries it ...
TTL_IDENTITY = {"type": "Service", "principalId": "dynamodb.amazonaws.com"}
#: ... and as the DynamoDB Streams API (GetRecords) returns it.
_TTL_IDENTITY_API = {"Type": "Service", "PrincipalId": "dynamodb.amazonaws.com"}
#: The visibility timeout the pump receives with: moto never re-shows a message on its own before we do.
_HOLD_SECONDS = 43_200
#: Batches delivered per mapping per round before the pump moves on to the next mapping (and round).
_BATCHES_PER_ROUND = 20
_MISSING = object()


# -- EventBridge-style patterns (the subset Lambda's FilterCriteria use) ------------------------------------------


def matches(pattern: dict[str, Any], event: Any) -> bool:
    """Does `event` match an EventBridge pattern? Exact values, nested keys, lists of alternatives, and the
    operators prefix, suffix, anything-but, exists, equals-ignore-case, numeric."""
    if not isinstance(pattern, dict):
        raise ValueError(f"a pattern is an object, not {pattern!r}")
    for key, rule in pattern.items():
        value = event.get(key, _MISSING) if isinstance(event, dict) else _MISSING
        if isinstance(rule, dict):
            if not isinstance(value, dict) or not matches(rule, value):
                return False
        elif isinstance(rule, list):
            if not _match_alternatives(rule, value):
                return False
        else:
            raise ValueError(f"pattern leaf for {key!r} must be a list, not {rule!r}")
    return True


def _match_alternatives(alternatives: list[Any], value: Any) -> bool:
    values = value if isinstance(value, list) else [value]
    for alternative in alternatives:
        if isinstance(alternative, dict):
            if _match_operator(alternative, value, values):
                return True
        elif value is not _MISSING and any(_equal(alternative, v) for v in values):
            return True
    return False


def _equal(expected: Any, actual: Any) -> bool:
    if isinstance(expected, bool) or isinstance(actual, bool):
        return expected is actual
    if isinstance(expected, (int, float)) and isinstance(actual, (int, float)):
        return float(expected) == float(actual)
    return expected == actual


def _match_operator(operator: dict[str, Any], value: Any, values: list[Any]) -> bool:
    (name, argument), *rest = operator.items()
    if rest:
        raise ValueError(f"one operator per object: {operator!r}")
    if name == "exists":
        return (value is not _MISSING) == bool(argument)
    if value is _MISSING:
        return False
    strings = [v for v in values if isinstance(v, str)]
    if name == "prefix":
        if isinstance(argument, dict) and "equals-ignore-case" in argument:
            return any(v.lower().startswith(argument["equals-ignore-case"].lower()) for v in strings)
        return any(v.startswith(argument) for v in strings)
    if name == "suffix":
        if isinstance(argument, dict) and "equals-ignore-case" in argument:
            return any(v.lower().endswith(argument["equals-ignore-case"].lower()) for v in strings)
        return any(v.endswith(argument) for v in strings)
    if name == "equals-ignore-case":
        return any(v.lower() == argument.lower() for v in strings)
    if name == "anything-but":
        if isinstance(argument, dict):
            return not any(_match_operator(argument, value, [v]) for v in values)
        excluded = argument if isinstance(argument, list) else [argument]
        return all(not any(_equal(e, v) for e in excluded) for v in values)
    if name == "numeric":
        checks = list(zip(argument[::2], argument[1::2]))
        ops = {"<": float.__lt__, "<=": float.__le__, "=": float.__eq__, ">": float.__gt__, ">=": float.__ge__}
        for v in values:
            try:
                number = float(v)
            except (TypeError, ValueError):
                continue
            if all(ops[op](number, float(bound)) for op, bound in checks):
                return True
        return False
    raise ValueError(f"unsupported pattern operator {name!r}")


def filter_patterns(esm: Any) -> list[dict[str, Any]]:
    criteria = getattr(esm, "filter_criteria", None) or {}
    return [json.loads(f["Pattern"]) if isinstance(f["Pattern"], str) else f["Pattern"] for f in criteria.get("Filters", [])]


def passes(patterns: list[dict[str, Any]], record: dict[str, Any]) -> bool:
    return not patterns or any(matches(p, record) for p in patterns)


# -- the pump -----------------------------------------------------------------------------------------------------


@dataclass
class Delivery:
    """One batch delivered to a function."""

    source_arn: str
    function_arn: str
    records: int
    failed: int
    error: str | None = None


@dataclass
class PumpReport:
    deliveries: list[Delivery] = field(default_factory=list)
    filtered_out: int = 0
    skipped_records: int = 0  # stream batches given up after MaximumRetryAttempts

    @property
    def invocations(self) -> int:
        return len(self.deliveries)

    def merge(self, other: PumpReport) -> None:
        self.deliveries += other.deliveries
        self.filtered_out += other.filtered_out
        self.skipped_records += other.skipped_records


@dataclass
class _Held:
    receipt_handle: str
    visible_at: datetime


class Pump:
    """Lambda's pollers for the mappings of one account and region, on the runtime's clock."""

    def __init__(self, account_id: str, region: str, clients: Callable[[str], Any], now: Callable[[], datetime]) -> None:
        self.account_id = account_id
        self.region = region
        self._client = clients
        self._now = now
        self.lock = threading.RLock()
        self._held: dict[str, list[_Held]] = {}  # queue URL -> failed messages waiting for their visibility timeout
        self._cursors: dict[str, int] = {}  # mapping UUID -> index in the stream shard
        self._stream_attempts: dict[tuple[str, int], int] = {}
        self._queue_urls: dict[str, str] = {}
        self._visibility: dict[str, int] = {}

    # mappings ---------------------------------------------------------------------------------------------------

    def mappings(self) -> list[Any]:
        return list(lambda_backends[self.account_id][self.region]._event_source_mappings.values())

    def detach_builtin_delivery(self) -> None:
        """Empty moto's queue and table hooks (the mappings themselves stay) and start new stream cursors."""
        moto_patches.detach_builtin_delivery(self.account_id, self.region)
        for esm in self.mappings():
            if esm.uuid not in self._cursors and esm.event_source_arn.split(":")[2] == "dynamodb":
                shard = self._shard(esm.event_source_arn)
                latest = (esm.starting_position or "TRIM_HORIZON") == "LATEST"
                self._cursors[esm.uuid] = len(shard.items) if (latest and shard is not None) else 0

    def pump(self, max_rounds: int = 200) -> PumpReport:
        """Deliver until every queue and stream is drained of what is due now. Bounded: raises after
        `max_rounds` rounds that all delivered something (a handler that keeps feeding its own source)."""
        report = PumpReport()
        blocked: set[str] = set()
        with self.lock:
            for _ in range(max_rounds):
                self.detach_builtin_delivery()
                delivered = 0
                for esm in self.mappings():
                    if not esm.enabled or esm.uuid in blocked:
                        continue
                    service = esm.event_source_arn.split(":")[2]
                    if service == "sqs":
                        delivered += self._pump_queue(esm, report)
                    elif service == "dynamodb":
                        delivered += self._pump_stream(esm, report, blocked)
                if not delivered:
                    return report
        raise RuntimeError(f"pump(): sources still delivering after {max_rounds} rounds (a handler feeding its own source?)")

    # SQS --------------------------------------------------------------------------------------------------------

    def _queue(self, arn: str) -> tuple[str, int]:
        if arn not in self._queue_urls:
            name = arn.split(":")[5]
            sqs = self._client("sqs")
            url = sqs.get_queue_url(QueueName=name, QueueOwnerAWSAccountId=arn.split(":")[4])["QueueUrl"]
            attributes = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["VisibilityTimeout"])["Attributes"]
            self._queue_urls[arn] = url
            self._visibility[arn] = int(attributes.get("VisibilityTimeout", 30))
        return self._queue_urls[arn], self._visibility[arn]

    def in_flight(self) -> dict[str, int]:
        """Failed messages waiting for their visibility timeout, per queue URL."""
        return {url: len(held) for url, held in self._held.items() if held}

    def _release_due(self, url: str) -> None:
        now = self._now()
        held = self._held.get(url, [])
        due = [h for h in held if h.visible_at <= now]
        self._held[url] = [h for h in held if h.visible_at > now]
        sqs = self._client("sqs")
        for h in due:
            try:
                sqs.change_message_visibility(QueueUrl=url, ReceiptHandle=h.receipt_handle, VisibilityTimeout=0)
            except sqs.exceptions.ReceiptHandleIsInvalid:
                pass  # deleted meanwhile

    def _pump_queue(self, esm: Any, report: PumpReport) -> int:
        url, visibility = self._queue(esm.event_source_arn)
        self._release_due(url)
        sqs = self._client("sqs")
        patterns = filter_patterns(esm)
        report_failures = "ReportBatchItemFailures" in (esm.function_response_types or [])
        delivered = 0
        while delivered < _BATCHES_PER_ROUND:
            messages: list[dict[str, Any]] = []
            while len(messages) < esm.batch_size:
                got = sqs.receive_message(
                    QueueUrl=url,
                    MaxNumberOfMessages=min(10, esm.batch_size - len(messages)),
                    VisibilityTimeout=_HOLD_SECONDS,
                    WaitTimeSeconds=0,
                    MessageSystemAttributeNames=["All"],
                    MessageAttributeNames=["All"],
                ).get("Messages", [])
                if not got:
                    break
                messages += got
            if not messages:
                return delivered
            records = [self._sqs_record(m, esm.event_source_arn) for m in messages]
            kept = []
            for message, record in zip(messages, records):
                if passes(patterns, _with_json_body(record)):
                    kept.append((message, record))
                else:  # Lambda deletes messages its filters drop
                    report.filtered_out += 1
                    sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])
            if not kept:
                continue
            payload, error = self._invoke(esm.function_arn, {"Records": [r for _, r in kept]})
            failed_ids = {r["messageId"] for _, r in kept}
            if error is None:
                failed_ids = set()
                if report_failures and isinstance(payload, dict) and payload.get("batchItemFailures"):
                    ids = [f.get("itemIdentifier") if isinstance(f, dict) else None for f in payload["batchItemFailures"]]
                    known = {r["messageId"] for _, r in kept}
                    failed_ids = set(ids) if all(i in known for i in ids) else known  # invalid response: whole batch
            now = self._now()
            for message, record in kept:
                if record["messageId"] in failed_ids:
                    self._held.setdefault(url, []).append(
                        _Held(message["ReceiptHandle"], now + timedelta(seconds=visibility))
                    )
                else:
                    sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])
            report.deliveries.append(Delivery(esm.event_source_arn, esm.function_arn, len(kept), len(failed_ids), error))
            delivered += 1
        return delivered

    def _sqs_record(self, message: dict[str, Any], arn: str) -> dict[str, Any]:
        attributes = {
            k: v
            for k, v in message.get("Attributes", {}).items()
            if k
            in (
                "ApproximateReceiveCount",
                "SentTimestamp",
                "SenderId",
                "ApproximateFirstReceiveTimestamp",
                "SequenceNumber",
                "MessageGroupId",
                "MessageDeduplicationId",
                "AWSTraceHeader",
            )
        }
        message_attributes = {}
        for name, value in message.get("MessageAttributes", {}).items():
            message_attributes[name] = {
                "stringValue": value.get("StringValue"),
                "binaryValue": value.get("BinaryValue"),
                "stringListValues": value.get("StringListValues", []),
                "binaryListValues": value.get("BinaryListValues", []),
                "dataType": value.get("DataType"),
            }
            if message_attributes[name]["binaryValue"] is not None:
                message_attributes[name]["binaryValue"] = base64.b64encode(message_attributes[name]["binaryValue"]).decode()
            message_attributes[name] = {k: v for k, v in message_attributes[name].items() if v is not None}
        return {
            "messageId": message["MessageId"],
            "receiptHandle": message["ReceiptHandle"],
            "body": message["Body"],
            "attributes": attributes,
            "messageAttributes": message_attributes,
            "md5OfBody": message["MD5OfBody"],
            "eventSource": "aws:sqs",
            "eventSourceARN": arn,
            "awsRegion": self.region,
        }

    # DynamoDB streams -------------------------------------------------------------------------------------------

    def _table_of(self, stream_arn: str) -> Any:
        for table in dynamodb_backends[self.account_id][self.region].tables.values():
            if table.stream_shard is not None and f"{table.table_arn}/stream/{table.latest_stream_label}" == stream_arn:
                return table
        return None

    def _shard(self, stream_arn: str) -> Any:
        table = self._table_of(stream_arn)
        return table.stream_shard if table is not None else None

    def _pump_stream(self, esm: Any, report: PumpReport, blocked: set[str]) -> int:
        shard = self._shard(esm.event_source_arn)
        if shard is None:
            return 0
        patterns = filter_patterns(esm)
        report_failures = "ReportBatchItemFailures" in (esm.function_response_types or [])
        delivered = 0
        while delivered < _BATCHES_PER_ROUND:
            cursor = self._cursors.setdefault(esm.uuid, 0)
            batch = [self._stream_record(r, esm.event_source_arn) for r in shard.items[cursor : cursor + esm.batch_size]]
            if not batch:
                return delivered
            kept = [r for r in batch if passes(patterns, r)]
            report.filtered_out += len(batch) - len(kept)
            if not kept:
                self._cursors[esm.uuid] = cursor + len(batch)
                continue
            payload, error = self._invoke(esm.function_arn, {"Records": kept})
            advance = len(batch) if error is None else 0
            if error is None and report_failures and isinstance(payload, dict) and payload.get("batchItemFailures"):
                sequence = [f.get("itemIdentifier") for f in payload["batchItemFailures"] if isinstance(f, dict)]
                positions = [i for i, r in enumerate(batch) if r["dynamodb"]["SequenceNumber"] in sequence]
                advance = min(positions) if positions else 0
                error = "batchItemFailures"
            kept_ids = {r["eventID"] for r in kept}
            failed = 0 if error is None else sum(1 for r in batch[advance:] if r["eventID"] in kept_ids)
            report.deliveries.append(Delivery(esm.event_source_arn, esm.function_arn, len(kept), failed, error))
            delivered += 1
            self._cursors[esm.uuid] = cursor + advance
            if error is None:
                continue
            attempt_key = (esm.uuid, cursor + advance)
            attempts = self._stream_attempts.get(attempt_key, 0) + 1
            self._stream_attempts[attempt_key] = attempts
            limit = esm.max_retry_attempts
            if limit is not None and int(limit) >= 0 and attempts > int(limit):
                rest = batch[advance:]
                report.skipped_records += len(rest)
                self._cursors[esm.uuid] = cursor + len(batch)
                self._on_failure(esm, rest, attempts)
                continue
            blocked.add(esm.uuid)  # retried on the next pump
            return delivered
        return delivered

    def _on_failure(self, esm: Any, records: list[dict[str, Any]], attempts: int) -> None:
        """Send Lambda's invocation record of a discarded stream batch to the mapping's OnFailure queue."""
        destination = ((esm.destination_config or {}).get("OnFailure") or {}).get("Destination") or ""
        if not destination.startswith("arn:aws:sqs:") or not records:
            return
        arrivals = [r["dynamodb"].get("ApproximateCreationDateTime", 0) for r in records]

        def iso(epoch: float) -> str:
            return datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%dT%H:%M:%S.000Z")

        body = {
            "requestContext": {
                "requestId": str(uuid.uuid4()),
                "functionArn": esm.function_arn,
                "condition": "RetryAttemptsExhausted",
                "approximateInvokeCount": attempts,
            },
            "responseContext": {"statusCode": 200, "executedVersion": "$LATEST", "functionError": "Unhandled"},
            "version": "1.0",
            "timestamp": self._now().strftime("%Y-%m-%dT%H:%M:%S.000Z"),
            "DDBStreamBatchInfo": {
                "shardId": "shardId-00000001541626099285-f35f62ef",
                "startSequenceNumber": records[0]["dynamodb"]["SequenceNumber"],
                "endSequenceNumber": records[-1]["dynamodb"]["SequenceNumber"],
                "approximateArrivalOfFirstRecord": iso(min(arrivals)),
                "approximateArrivalOfLastRecord": iso(max(arrivals)),
                "batchSize": len(records),
                "streamArn": esm.event_source_arn,
            },
        }
        url, _ = self._queue(destination)
        self._client("sqs").send_message(QueueUrl=url, MessageBody=json.dumps(body))

    def _stream_record(self, item: Any, arn: str) -> dict[str, Any]:
        record = copy.deepcopy(item.to_json())
        created = record["dynamodb"].get("ApproximateCreationDateTime")
        if isinstance(created, datetime):
            record["dynamodb"]["ApproximateCreationDateTime"] = int(created.timestamp())
        identity = record.pop("userIdentity", None)
        if identity is not None:  # Lambda's event spells the Streams API's Identity in camelCase
            record["userIdentity"] = {"type": identity["Type"], "principalId": identity["PrincipalId"]}
        record["awsRegion"] = self.region  # moto writes us-east-1
        record["eventSourceARN"] = arn
        for image in ("Keys", "NewImage", "OldImage"):
            if image in record["dynamodb"]:
                record["dynamodb"][image] = {k: _base64_binaries(v) for k, v in record["dynamodb"][image].items()}
        return record

    # TTL --------------------------------------------------------------------------------------------------------

    def sweep_ttl(self, now: datetime) -> list[tuple[str, dict[str, Any]]]:
        """Delete expired items of every table with TTL enabled, as the TTL principal. Returns (table, key)s."""
        deleted = []
        epoch = int(now.timestamp())
        oldest = epoch - 5 * 365 * 86_400  # DynamoDB leaves items expired more than five years ago
        ddb = self._client("dynamodb")
        with self.lock:
            for table in list(dynamodb_backends[self.account_id][self.region].tables.values()):
                if table.ttl.get("TimeToLiveStatus") != "ENABLED" or not table.ttl.get("AttributeName"):
                    continue
                key_names = [table.hash_key_attr] + ([table.range_key_attr] if table.range_key_attr else [])
                names = {"#ttl": table.ttl["AttributeName"]}
                values = {":now": {"N": str(epoch)}, ":oldest": {"N": str(oldest)}}
                pages = ddb.get_paginator("scan").paginate(
                    TableName=table.name,
                    FilterExpression="#ttl <= :now AND #ttl >= :oldest",
                    ExpressionAttributeNames=names,
                    ExpressionAttributeValues=values,
                )
                expired = [{k: item[k] for k in key_names} for page in pages for item in page.get("Items", [])]
                for key in expired:
                    shard = table.stream_shard
                    mark = len(shard.items) if shard is not None else 0
                    try:
                        ddb.delete_item(
                            TableName=table.name,
                            Key=key,
                            ConditionExpression="#ttl <= :now",
                            ExpressionAttributeNames=names,
                            ExpressionAttributeValues={":now": values[":now"]},
                        )
                    except ddb.exceptions.ConditionalCheckFailedException:
                        continue  # renewed meanwhile
                    deleted.append((table.name, key))
                    if shard is not None:
                        for record in shard.items[mark:]:
                            body = record.record
                            if body["eventName"] == "REMOVE" and body["dynamodb"]["Keys"] == key and "userIdentity" not in body:
                                body["userIdentity"] = dict(_TTL_IDENTITY_API)
                                break
        return deleted

    # invoking ---------------------------------------------------------------------------------------------------

    def _invoke(self, function_arn: str, event: dict[str, Any]) -> tuple[Any, str | None]:
        response = self._client("lambda").invoke(FunctionName=function_arn, Payload=json.dumps(event).encode())
        raw = response["Payload"].read()
        try:
            payload = json.loads(raw) if raw else None
        except ValueError:
            payload = raw.decode(errors="replace")
        if response.get("FunctionError"):
            error = payload.get("errorType", "Unhandled") if isinstance(payload, dict) else "Unhandled"
            return payload, error
        return payload, None


def _with_json_body(record: dict[str, Any]) -> dict[str, Any]:
    """SQS filters see a JSON body as an object."""
    try:
        body = json.loads(record["body"])
    except ValueError:
        return record
    return {**record, "body": body} if isinstance(body, dict) else record


def _base64_binaries(value: Any) -> Any:
    """Binary attributes as Lambda's JSON event carries them: base64 text (moto keeps raw bytes)."""
    if isinstance(value, dict):
        return {
            k: base64.b64encode(v).decode() if k == "B" and isinstance(v, bytes)
            else [base64.b64encode(b).decode() if isinstance(b, bytes) else b for b in v] if k == "BS"
            else _base64_binaries(v)
            for k, v in value.items()
        }
    if isinstance(value, list):
        return [_base64_binaries(v) for v in value]
    return value
