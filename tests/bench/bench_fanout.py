"""Benchmark of a round's fan-out (not a test: it asserts nothing about time).

    python tests/bench/bench_fanout.py [--relays 10000 100000] [--mailed 1000] [--json PATH]

With moto in-process, for each size: the table holds that many active approve-each grants on X (written
directly, as `Store.save_grant` shapes them, without tokens: the fan-out never reads them); a round selects
its picks with the real `select` handler, fans out with `{"action": "fan_out"}`, and the real `propose`
handler consumes every work item from moto's SQS. It reports wall time (select's fan-out and propose apart),
SQS messages, DynamoDB reads and writes per relay, and the largest state document the round's definition
builds from these outputs (its input, `$.poll`, `$.selection`, `$.fan_out`: the state machine keeps
nothing else). A smaller run gives every relay a confirmed address, so each is mailed its digest: what a
digest adds per relay.

moto answers a query by reading every item of the table (DynamoDB reads only the page): paging N grants costs
it O(N) per page, so the time of select's paging grows faster than N here; the report gives the time spent
inside DynamoDB queries apart, with the count of pages, which is what carries over to the cloud.
"""

from __future__ import annotations

import argparse
import io
import json
import sys
import time
import warnings
from collections import Counter
from contextlib import redirect_stdout
from datetime import timedelta
from pathlib import Path
from typing import Any

warnings.filterwarnings("ignore", message="No application metrics to publish")
ROOT = Path(__file__).resolve().parents[2]
sys.path[:0] = [str(ROOT), str(ROOT / "tests" / "handlers"), str(ROOT / "tests" / "bench")]

STATE_LIMIT = 256 * 1024  # Step Functions' payload limit for a state's input or output


class Meter:
    """AWS calls by (service, operation) and the wall time spent inside them, through botocore."""

    def __init__(self) -> None:
        self.counts: Counter[tuple[str, str]] = Counter()
        self.seconds: Counter[tuple[str, str]] = Counter()

    def install(self) -> None:
        import botocore.client

        original = botocore.client.BaseClient._make_api_call
        meter = self

        def metered(client, operation_name, api_params):
            key = (client.meta.service_model.service_name, operation_name)
            started = time.perf_counter()
            try:
                return original(client, operation_name, api_params)
            finally:
                meter.counts[key] += 1
                meter.seconds[key] += time.perf_counter() - started

        botocore.client.BaseClient._make_api_call = metered

    def snapshot(self) -> tuple[Counter, Counter]:
        return Counter(self.counts), Counter(self.seconds)

    def since(self, before: tuple[Counter, Counter]) -> tuple[Counter, Counter]:
        return self.counts - before[0], self.seconds - before[1]


def run(relays: int, mailed: bool, meter: Meter, context: Any) -> dict[str, Any]:
    """One round over `relays` grants on a fresh table; every relay is proposed the round's picks."""
    import boto3
    from handler_support import create_table, load_function

    from relaycast import clock, settings as settings_module
    from relaycast.config import parse_event_config
    from relaycast.networks import Post
    from relaycast.rounds import candidate_item
    from relaycast.settings import Settings
    from relaycast.storage import Store

    settings = Settings.from_env()
    table = f"relaycast-fanout-{relays}-{int(mailed)}"
    create_table(table)
    settings = settings.model_copy(update={"table_name": table})
    store = Store(table)
    config = settings.event()
    at = config.start_utc + timedelta(hours=6)
    clock.use(lambda: at)
    for i, text in enumerate(["Our audit found 41% of public datasets lack a licence, across 12,000 portals",
                              "Stable identifiers improve reuse by 3x compared to ad-hoc URLs, the study showed"]):
        post = Post(network="x", post_id=str(9000 + i), author="amina_data", author_id="7", text=text,
                    created_at=at - timedelta(minutes=30), url=f"https://x.com/amina_data/status/{9000 + i}")
        store.add_candidate(candidate_item(post, config))
    started = time.perf_counter()
    with store.table.batch_writer() as batch:
        for i in range(relays):
            relay_id = f"x-{i:06d}"
            batch.put_item(Item={
                "pk": f"RELAY#{relay_id}", "sk": "GRANT#x", "kind": "grant", "relay_id": relay_id, "network": "x",
                "status": "active", "cap": 8, "published_count": 0, "user_id": str(100000 + i), "username": f"relay{i}",
                "grant_id": f"g-{i:06d}", "mode": "approve-each", "lang": "en", "connected_at": at.isoformat(),
                "expires_at": config.retention_ends, **({"email": f"relay{i}@example.net"} if mailed else {}),
            })
    fill_seconds = time.perf_counter() - started

    import os

    os.environ["TABLE_NAME"] = table
    settings_module.reset_caches()
    select, propose = load_function("select").handler, load_function("propose").handler
    quiet = io.StringIO()  # the handlers' EMF metric lines
    state: dict[str, Any] = {"trigger": "schedule", "scheduled_at": at.isoformat()}
    with redirect_stdout(quiet):
        state["poll"] = {"read": 2, "stored": 2, "failed": [], "since_id": "9001"}  # the round's poll, as it answers
        state["selection"] = select({}, context)
        before = meter.snapshot()
        t0 = time.perf_counter()
        fields = ("round", "picks", "proposal_expires_at", "expires_at")
        state["fan_out"] = select({"action": "fan_out", "selection": {k: state["selection"][k] for k in fields}}, context)
        fan_out_seconds = time.perf_counter() - t0
        fan_out_calls, fan_out_times = meter.since(before)

        sqs = boto3.client("sqs")
        before = meter.snapshot()
        t0 = time.perf_counter()
        items = failed = 0
        while True:
            messages = sqs.receive_message(QueueUrl=settings.propose_queue_url, MaxNumberOfMessages=10).get("Messages", [])
            if not messages:
                break
            for message in messages:  # one per invocation, as the stack's event source does
                event = {"Records": [{"messageId": message["MessageId"], "receiptHandle": message["ReceiptHandle"],
                                      "body": message["Body"], "attributes": {"ApproximateReceiveCount": "1"},
                                      "messageAttributes": {}, "md5OfBody": "", "eventSource": "aws:sqs",
                                      "eventSourceARN": "arn:aws:sqs:eu-west-3:123456789012:propose", "awsRegion": "eu-west-3"}]}
                failed += len(propose(event, context)["batchItemFailures"])
                sqs.delete_message(QueueUrl=settings.propose_queue_url, ReceiptHandle=message["ReceiptHandle"])
                items += 1
        propose_seconds = time.perf_counter() - t0
        propose_calls, propose_times = meter.since(before)
    proposals = sum(1 for _ in store.of_kind("proposal", fields=("pk",)))
    picks = len(state["selection"]["picks"])
    largest = max(len(json.dumps(state, default=str).encode()), len(json.dumps(state["selection"]).encode()))
    boto3.client("dynamodb").delete_table(TableName=table)
    clock.use(None)

    def per_relay(calls: Counter, *operations: tuple[str, str]) -> float:
        return sum(calls[op] for op in operations) / relays

    writes = ("dynamodb", "PutItem"), ("dynamodb", "UpdateItem"), ("dynamodb", "DeleteItem"), ("dynamodb", "TransactWriteItems")
    return {
        "relays": relays,
        "mailed": mailed,
        "picks": picks,
        "proposals": proposals,
        "work_items": items,
        "failed_items": failed,
        "fill_seconds": round(fill_seconds, 2),
        "fan_out_seconds": round(fan_out_seconds, 3),
        "fan_out_query_seconds": round(fan_out_times[("dynamodb", "Query")], 3),
        "fan_out_pages": fan_out_calls[("dynamodb", "Query")],
        "send_message_batch_calls": fan_out_calls[("sqs", "SendMessageBatch")],
        "propose_seconds": round(propose_seconds, 3),
        "propose_query_seconds": round(propose_times[("dynamodb", "Query")], 3),
        "wall_seconds": round(fan_out_seconds + propose_seconds, 3),
        "messages_per_relay": round(items / relays, 4),
        "writes_per_relay": round(per_relay(propose_calls + fan_out_calls, *writes), 3),
        "reads_per_relay": round(per_relay(propose_calls + fan_out_calls, ("dynamodb", "Query"), ("dynamodb", "GetItem")), 4),
        "mails_per_relay": round(per_relay(propose_calls, ("sesv2", "SendEmail"), ("ses", "SendEmail"), ("ses", "SendRawEmail")), 3),
        "max_state_payload_bytes": largest,
        "calls": {f"{s}:{o}": n for (s, o), n in sorted((propose_calls + fan_out_calls).items())},
    }


def proposal_figures(run_figures: dict[str, Any]) -> dict[str, float]:
    """What the proposal before an approval costs, per relay-post, in bench_publish's units: propose's invocations
    and the calls they make, DynamoDB units (a conditional put is 1 WRU; a full 1 MB page of grants read
    eventually consistent is 128 RRU), SQS requests (a work item is under 64 KB; propose's event source receives and
    deletes it) and the round's five state transitions, shared by every relay of the round."""
    proposals = max(run_figures["proposals"], 1)
    calls = run_figures["calls"]
    items = run_figures["work_items"]
    return {
        "invocations": items / proposals,
        "dynamodb": (calls.get("dynamodb:PutItem", 0) + calls.get("dynamodb:Query", 0)) / proposals,
        "sqs": (items + calls.get("sqs:SendMessageBatch", 0)) / proposals,
        "esm_sqs": 2 * items / proposals,
        "WRU": calls.get("dynamodb:PutItem", 0) / proposals,
        "RRU": 128 * run_figures["fan_out_pages"] / proposals,
        "transitions": 5 / proposals,
    }


def measure(sizes: tuple[int, ...] = (10_000, 100_000), mailed: int = 1_000) -> dict[str, Any]:
    """The fan-out's figures for the bench report: one run per size, and one with every relay mailed."""
    from bench_sweep import Context, environment

    meter = Meter()
    meter.install()
    with environment():
        import os

        import boto3

        sqs = boto3.client("sqs")
        os.environ["PROPOSE_QUEUE_URL"] = sqs.create_queue(QueueName="propose")["QueueUrl"]
        os.environ["HOSTED_PAGE_URL"] = "https://hosted.example/live/"
        os.environ["POWERTOOLS_SERVICE_NAME"] = "propose"
        boto3.client("sesv2")  # the digest's client, created before the meter counts
        runs = [run(n, False, meter, Context()) for n in sizes]
        mailed_run = run(mailed, True, meter, Context()) if mailed else None
    small, large = runs[0], runs[-1]
    scale = large["relays"] / small["relays"]
    return {
        "relays": [r["relays"] for r in runs],
        "runs": runs,
        "mailed_run": mailed_run,
        "max_state_payload_bytes": max(r["max_state_payload_bytes"] for r in [*runs, *([mailed_run] if mailed_run else [])]),
        "state_limit_bytes": STATE_LIMIT,
        # The goal: 10x the relays for at most 12x the time.
        "time_ratio_10x": round(large["wall_seconds"] / small["wall_seconds"], 2) if scale == 10 else None,
        "time_ratio_10x_without_moto_query_scans": round(
            (large["wall_seconds"] - large["fan_out_query_seconds"] - large["propose_query_seconds"])
            / (small["wall_seconds"] - small["fan_out_query_seconds"] - small["propose_query_seconds"]), 2) if scale == 10 else None,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--relays", type=int, nargs="+", default=[10_000, 100_000])
    parser.add_argument("--mailed", type=int, default=1_000, help="relays in the run where every relay is mailed (0: none)")
    parser.add_argument("--json", type=Path, help="also write the figures to this file")
    args = parser.parse_args(argv)
    figures = measure(tuple(args.relays), args.mailed)
    print_figures(figures)
    if args.json:
        args.json.write_text(json.dumps(figures, indent=2) + "\n")
    return 0 if all(r["failed_items"] == 0 and r["proposals"] == r["relays"] * r["picks"] for r in figures["runs"]) else 1


def print_figures(figures: dict[str, Any]) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(title="Fan-out of one round (moto in-process; select's fan_out, then propose per work item)",
                  title_justify="left")
    for column in ("relays", "picks", "proposals", "work items", "SendMessageBatch", "grant pages", "fan-out s (in queries)",
                   "propose s (in queries)", "wall s", "msgs/relay", "writes/relay", "reads/relay", "mails/relay", "largest state"):
        table.add_column(column, justify="right")
    for r in [*figures["runs"], *([figures["mailed_run"]] if figures["mailed_run"] else [])]:
        table.add_row(f"{r['relays']:,}{' mailed' if r['mailed'] else ''}", str(r["picks"]), f"{r['proposals']:,}", f"{r['work_items']:,}",
                      f"{r['send_message_batch_calls']:,}", str(r["fan_out_pages"]),
                      f"{r['fan_out_seconds']:.2f} ({r['fan_out_query_seconds']:.2f})",
                      f"{r['propose_seconds']:.2f} ({r['propose_query_seconds']:.2f})", f"{r['wall_seconds']:.2f}",
                      f"{r['messages_per_relay']:.3f}", f"{r['writes_per_relay']:.2f}", f"{r['reads_per_relay']:.3f}",
                      f"{r['mails_per_relay']:.2f}", f"{r['max_state_payload_bytes']:,} B")
    table.caption = (f"largest state {figures['max_state_payload_bytes']:,} B of {figures['state_limit_bytes']:,}; "
                     f"10x the relays: {figures['time_ratio_10x']}x the time (goal <= 12x); without the time moto spends "
                     f"reading the whole table for each query: {figures['time_ratio_10x_without_moto_query_scans']}x")
    Console().print(table)


if __name__ == "__main__":
    sys.exit(main())
