"""Benchmark of the end of access (not a test: it asserts nothing about time).

    python tests/bench/bench_sweep.py --grants 1000

In one process, with moto in-process and the sandbox X on loopback, it measures
  * the sweep's queuing: wall time, DynamoDB queries and SQS SendMessageBatch calls, for a small and a large
    table (by default 100 and --grants), and the ratio of the two;
  * the per-grant cost of ending a grant through expire's SQS branch: calls to X, to DynamoDB, to KMS and to
    SES per grant, and the wall time per grant in process.

Grants used for the end are real (relays connect through the sandbox's OAuth flow, tokens sealed by KMS);
the extra grants that make up the large table for the queuing figure are copies of those items under other
relay ids (the sweep reads only relay_id and network). In-process times leave out the network latency of AWS
and X; the call counts are what carries over to the cloud.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import sys
import time
import warnings
from collections import Counter
from contextlib import contextmanager, redirect_stdout
from datetime import UTC, datetime
from pathlib import Path

warnings.filterwarnings("ignore", message="No application metrics to publish")
ROOT = Path(__file__).resolve().parents[2]
sys.path[:0] = [str(ROOT), str(ROOT / "tests" / "handlers")]

EXPIRE_CONCURRENCY = 20  # the stack's max concurrency of expire on the end-grant queue (infra/schedules.py)


class Calls:
    """Every AWS API call made through botocore, by (service, operation)."""

    def __init__(self) -> None:
        self.counts: Counter[tuple[str, str]] = Counter()

    def install(self) -> None:
        import botocore.client

        original = botocore.client.BaseClient._make_api_call
        calls = self

        def counting(client, operation_name, api_params):
            calls.counts[(client.meta.service_model.service_name, operation_name)] += 1
            return original(client, operation_name, api_params)

        botocore.client.BaseClient._make_api_call = counting

    def snapshot(self) -> Counter[tuple[str, str]]:
        return Counter(self.counts)

    def since(self, before: Counter[tuple[str, str]]) -> Counter[tuple[str, str]]:
        return self.counts - before

    @staticmethod
    def by_service(counts: Counter[tuple[str, str]], service: str) -> int:
        return sum(n for (s, _), n in counts.items() if s == service)


@contextmanager
def environment():
    """What the handler tests get from tests/handlers/conftest.py, in one `with`."""
    for name, value in {
        "AWS_DEFAULT_REGION": "eu-west-3",
        "AWS_REGION": "eu-west-3",
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "POWERTOOLS_TRACE_DISABLED": "true",
        "POWERTOOLS_METRICS_NAMESPACE": "relaycast",
        "POWERTOOLS_LOG_LEVEL": "WARNING",
        "POWERTOOLS_SERVICE_NAME": "expire",
    }.items():
        os.environ[name] = value
    os.environ.pop("AWS_ENDPOINT_URL", None)

    import boto3
    from handler_support import EVENT, create_table
    from moto import mock_aws

    from relaycast import clock, settings as settings_module
    from relaycast.config import parse_event_config
    from relaycast_local.sandbox_x import SandboxX

    clock.use(lambda: datetime(2026, 12, 3, 9, 0, tzinfo=UTC))
    with mock_aws():
        settings_module.reset_caches()
        create_table("relaycast-bench")
        config = parse_event_config(EVENT)
        boto3.client("ssm").put_parameter(Name="/relaycast/bench/config", Value=config.to_json(), Type="String")
        secret = {"x_client_id": "cid", "x_client_secret": "csecret", "x_bearer_token": "bearer", "signing_key": "k" * 32}
        boto3.client("secretsmanager").create_secret(Name="relaycast/bench/app", SecretString=json.dumps(secret))
        boto3.client("ses").verify_email_identity(EmailAddress="relaycast@example.org")
        sqs = boto3.client("sqs")
        os.environ.update(
            {
                "TABLE_NAME": "relaycast-bench",
                "TOKEN_KEY_ID": boto3.client("kms").create_key()["KeyMetadata"]["Arn"],
                "EVENT_CONFIG_PARAMETER": "/relaycast/bench/config",
                "APP_SECRET_NAME": "relaycast/bench/app",
                "PUBLISH_QUEUE_URL": sqs.create_queue(QueueName="publish")["QueueUrl"],
                "END_GRANT_QUEUE_URL": sqs.create_queue(QueueName="end-grant")["QueueUrl"],
            }
        )
        with SandboxX(client_id="cid", client_secret="csecret", bearer_token="bearer") as sandbox:
            os.environ["X_API_BASE"] = sandbox.base_url
            os.environ["X_AUTHORIZE_URL"] = sandbox.authorize_url
            settings_module.reset_caches()
            yield sandbox
        settings_module.reset_caches()
    clock.use(None)


class Context:
    function_name = "relaycast-bench-expire"
    memory_limit_in_mb = 256
    invoked_function_arn = "arn:aws:lambda:eu-west-3:123456789012:function:relaycast-bench-expire"
    aws_request_id = "00000000-0000-0000-0000-00000000bench"

    @staticmethod
    def get_remaining_time_in_millis() -> int:
        return 300_000


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--grants", type=int, default=1000, help="grants in the large table (queuing figure)")
    parser.add_argument("--small", type=int, default=100, help="grants in the small table (queuing figure)")
    parser.add_argument("--end", type=int, default=100, help="real grants connected and ended through the queue")
    parser.add_argument("--page-size", type=int, default=None, help="the sweep's page size (default: relaycast's)")
    args = parser.parse_args(argv)
    args.small = min(args.small, args.grants)
    args.end = min(args.end, args.small)

    calls = Calls()
    calls.install()
    with environment() as sandbox:
        import boto3
        from handler_support import connect, deliver, load_function

        from relaycast import expire
        from relaycast.settings import Settings
        from relaycast.storage import Store

        settings = Settings.from_env()
        store = Store(settings.table_name)
        queue = settings.end_grant_queue_url
        sqs = boto3.client("sqs")
        page_size = args.page_size or expire.SWEEP_PAGE_SIZE

        started = time.perf_counter()
        for i in range(args.end):
            connect(store, settings, f"bench_{i:05d}", f"bench{i}@example.net", sandbox)
        connect_seconds = time.perf_counter() - started
        real = [store.table.get_item(Key={"pk": g["pk"], "sk": g["sk"]})["Item"] for g in store.grants()]

        def fill_to(total: int) -> None:
            """Copies of the real grant items under other relay ids, until the table holds `total` grants."""
            have = len(list(store.grants(fields=("relay_id",))))
            with store.table.batch_writer() as batch:
                for i in range(have, total):
                    item = dict(real[i % len(real)])
                    relay_id = f"copy-{i:06d}"
                    batch.put_item(Item={**item, "pk": f"RELAY#{relay_id}", "relay_id": relay_id})

        def drop_copies() -> None:
            with store.table.batch_writer() as batch:
                for g in store.grants(fields=("pk", "sk", "relay_id")):
                    if g["relay_id"].startswith("copy-"):
                        batch.delete_item(Key={"pk": g["pk"], "sk": g["sk"]})

        class AcceptingSqs:
            """SendMessageBatch that accepts every entry at no cost: the sweep's own time, without moto's
            SQS (whose send recomputes the queue's attributes over every message held: O(depth) per send)."""

            def __init__(self) -> None:
                self.calls = 0

            def send_message_batch(self, QueueUrl: str, Entries: list) -> dict:
                self.calls += 1
                return {"Successful": [{"Id": e["Id"]} for e in Entries], "Failed": []}

        def timed_sweep(total: int) -> dict:
            fill_to(total)
            target = sqs.create_queue(QueueName=f"end-grant-bench-{total}")["QueueUrl"]  # a fresh queue each
            before = calls.snapshot()
            t0 = time.perf_counter()
            result = expire.sweep(store, target, page_size=page_size)
            seconds = time.perf_counter() - t0
            spent = calls.since(before)
            sqs.delete_queue(QueueUrl=target)
            stub = AcceptingSqs()
            t0 = time.perf_counter()
            expire.sweep(store, target, sqs=stub, page_size=page_size)
            own_seconds = time.perf_counter() - t0
            return {
                "grants": total,
                "queued": result["queued"],
                "seconds": seconds,
                "own_seconds": own_seconds,
                "ddb_queries": spent[("dynamodb", "Query")],
                "send_batches": spent[("sqs", "SendMessageBatch")],
            }

        sweeps = [timed_sweep(args.small), timed_sweep(args.grants)]
        drop_copies()

        # The end: the real grants, queued by the sweep handler and consumed by expire's SQS branch.
        expire_fn = load_function("expire")
        quiet = io.StringIO()  # the handler's EMF metric lines
        with redirect_stdout(quiet):
            assert expire_fn.handler({"action": "sweep"}, Context())["queued"] == args.end
        x_before = len(sandbox.request_log)
        before = calls.snapshot()
        t0 = time.perf_counter()
        with redirect_stdout(quiet):
            delivered, failed = deliver(queue, expire_fn.handler, Context())
        end_seconds = time.perf_counter() - t0
        spent = calls.since(before)
        x_calls = Counter(f"{r.method} {r.path}" for r in sandbox.request_log[x_before:])
        ended = len([r for r in sandbox.revocations if r.whole_grant])
        left = len(list(store.grants()))

    n = max(delivered, 1)
    small, large = sweeps
    print(f"relaycast sweep benchmark (moto in-process, sandbox X) — page size {page_size}")
    print(f"  setup: {args.end} relays connected through OAuth in {connect_seconds:.2f} s")
    print("  sweep (queues one message per grant; ends nothing itself):")
    for s in sweeps:
        print(
            f"    {s['grants']:>7} grants: queued {s['queued']:>7}; {s['ddb_queries']} DynamoDB queries, "
            f"{s['send_batches']} SendMessageBatch calls; {s['seconds']:.3f} s with moto's SQS "
            f"({1000 * s['seconds'] / max(s['grants'], 1):.3f} ms/grant), {s['own_seconds']:.3f} s with SQS "
            f"accepting at no cost ({1000 * s['own_seconds'] / max(s['grants'], 1):.3f} ms/grant)"
        )
    if small["seconds"] > 0 and small["own_seconds"] > 0:
        print(
            f"    ratio {large['grants']}/{small['grants']} grants = {large['grants'] / small['grants']:.1f}x: "
            f"calls {large['send_batches'] / max(small['send_batches'], 1):.1f}x, time with moto's SQS "
            f"{large['seconds'] / small['seconds']:.1f}x (moto's send is O(queue depth)), time without "
            f"{large['own_seconds'] / small['own_seconds']:.1f}x"
        )
    print(f"  end through the queue: {delivered} messages, {len(failed)} failed, {ended} grants revoked at X, {left} left")
    print(f"    wall time in process: {end_seconds:.2f} s ({1000 * end_seconds / n:.1f} ms/grant, one consumer)")
    print(
        f"    per grant: X {sum(x_calls.values()) / n:.2f} calls "
        f"({', '.join(f'{k} {v / n:.2f}' for k, v in sorted(x_calls.items()))}); AWS: "
        + "; ".join(f"{svc} {Calls.by_service(spent, svc) / n:.2f}" for svc in sorted({svc for svc, _ in spent}))
        + " (sqs: the harness's receive/delete)"
    )
    print(
        "    DynamoDB by operation per grant: "
        + ", ".join(f"{op} {v / n:.2f}" for (svc, op), v in sorted(spent.items()) if svc == "dynamodb")
    )
    per_grant = end_seconds / n
    print(
        f"  estimate for {args.grants} grants at expire's max concurrency {EXPIRE_CONCURRENCY} "
        f"(in-process cost without moto's SQS, no network latency): "
        f"{large['own_seconds'] + args.grants * per_grant / EXPIRE_CONCURRENCY:.1f} s"
    )
    return 0 if not failed and left == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
