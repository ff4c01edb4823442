"""`relaycast report`: after the event, one self-contained HTML page for the organiser — how visible the event was.

It reads what the stack recorded: the table (picks, relay-posts, proposals, receipts, the event's visibility) and
CloudWatch (what Lambda metered), through boto3, so the same code reads a stack on AWS and one in the local runtime
(where boto3 points at moto). Charts are drawn by matplotlib as SVG and written into the page: it loads nothing.

Reach is the sum, over the posts made in relays' names, of the followers each relay had when they connected (read
from the network's own profile call at connect: no extra paid read). It counts feeds a post could appear in, not
people who saw it; a network that does not tell an app its members' followers (LinkedIn) counts apart.
"""

from __future__ import annotations

import io
import json
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from functools import partial
from pathlib import Path
from typing import Any

import boto3
from botocore.exceptions import ClientError

from relaycast.config import EventConfig
from relaycast.networks import NETWORK_NAMES
from relaycast.storage import plain

# List prices (USD, us-east-1, checked December 2026; other regions are a few per cent dearer). The report says so.
LAMBDA_PER_MILLION_REQUESTS = 0.20
LAMBDA_ARM_PER_GB_SECOND = 0.0000133334
SES_PER_THOUSAND = 0.10
KMS_KEY_PER_MONTH = 1.00
SECRET_PER_MONTH = 0.40
ALARM_PER_MONTH = 0.10
WAF_ACL_PER_MONTH, WAF_RULE_PER_MONTH = 5.00, 1.00
# X's pay-per-use rates (docs.x.com/x-api/getting-started/pricing): a post read (once per UTC day), the user read
# a connect makes (users/me, which also brings the followers), a repost, an undo. The other networks charge nothing.
X_POST_READ, X_USER_READ, X_REPOST, X_UNDO = 0.005, 0.010, 0.015, 0.010


class StackNotFound(RuntimeError):
    """The event's stack does not exist where the report looked."""


@dataclass(frozen=True)
class Stack:
    """Where an event's stack keeps its records."""

    name: str
    table_name: str
    functions: dict[str, int]  # function name -> memory (MB)
    alarms: int
    waf_rules: int
    queues: dict[str, str] = field(default_factory=dict)  # logical id -> queue URL


def find_stack(stack_name: str) -> Stack:
    """The deployed stack's table and functions, from CloudFormation; StackNotFound when there is none."""
    cloudformation = boto3.client("cloudformation")
    try:
        resources = [r for page in cloudformation.get_paginator("list_stack_resources").paginate(StackName=stack_name)
                     for r in page["StackResourceSummaries"]]
    except ClientError as error:
        if "does not exist" in str(error):
            raise StackNotFound(f"no stack named {stack_name} in {boto3.session.Session().region_name}") from None
        raise

    def physical(kind: str) -> list[str]:
        return [r["PhysicalResourceId"] for r in resources if r["ResourceType"] == kind]

    tables = physical("AWS::DynamoDB::Table")
    if not tables:
        raise StackNotFound(f"the stack {stack_name} has no table: is it a relaycast stack?")
    lambdas = boto3.client("lambda")
    functions = {}
    for name in physical("AWS::Lambda::Function"):
        try:
            functions[name] = int(lambdas.get_function_configuration(FunctionName=name).get("MemorySize", 128))
        except ClientError:  # a function the deploy could not create (a custom resource's provider, say)
            continue
    # What the template declares (the local runtime does not create every kind of resource it prices).
    body = cloudformation.get_template(StackName=stack_name)["TemplateBody"]
    declared = list((json.loads(body) if isinstance(body, str) else body).get("Resources", {}).values())
    rules = sum(len(r["Properties"].get("Rules", [])) for r in declared if r.get("Type") == "AWS::WAFv2::WebACL")
    alarms = sum(1 for r in declared if r.get("Type") == "AWS::CloudWatch::Alarm")
    queues = {r["LogicalResourceId"]: r["PhysicalResourceId"] for r in resources if r["ResourceType"] == "AWS::SQS::Queue"}
    return Stack(stack_name, tables[0], functions, alarms=alarms, waf_rules=rules, queues=queues)


def scan(table_name: str) -> list[dict[str, Any]]:
    table = boto3.resource("dynamodb").Table(table_name)
    items, kwargs = [], {}
    while True:
        page = table.scan(**kwargs)
        items += [plain(i) for i in page["Items"]]
        if "LastEvaluatedKey" not in page:
            return items
        kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]


def lambda_usage(functions: dict[str, int], start: datetime, end: datetime) -> dict[str, dict[str, float]]:
    """Per function: invocations, errors and billed GB-seconds Lambda recorded in CloudWatch over the event."""
    cloudwatch = boto3.client("cloudwatch")
    usage = {}
    for name, memory in functions.items():
        def total(metric: str, statistic: str) -> float:
            points = cloudwatch.get_metric_statistics(
                Namespace="AWS/Lambda", MetricName=metric, Dimensions=[{"Name": "FunctionName", "Value": name}],
                StartTime=start, EndTime=end, Period=86400, Statistics=[statistic])["Datapoints"]
            return float(sum(p[statistic] for p in points))
        milliseconds = total("Duration", "Sum")
        usage[name] = {"invocations": total("Invocations", "Sum"), "errors": total("Errors", "Sum"),
                       "gb_seconds": milliseconds / 1000 * memory / 1024}
    return usage


def by_kind(table_name: str) -> dict[str, list[dict[str, Any]]]:
    """The table's items, by `kind` (an absent kind: an empty list)."""
    kinds: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for item in scan(table_name):
        kinds[item.get("kind", "")].append(item)
    return kinds


def gather(config: EventConfig, stack: Stack) -> dict[str, Any]:
    """Every figure of the report, as plain data (the HTML and the JSON are made from it)."""
    kinds = by_kind(stack.table_name)
    ledger = kinds["ledger"]
    made = [i for i in ledger if i["status"] in ("published", "undone")]
    published = [i for i in ledger if i["status"] == "published"]
    carriers: dict[tuple[str, str], list[dict[str, Any]]] = defaultdict(list)
    for item in published:
        carriers[(item["network"], item["post_id"])].append(item)
    picks = sorted((i for i in kinds["candidate"] if i.get("selected_round")),
                   key=lambda i: (i["selected_round"], -float(i.get("score", 0))))
    visibility = next(iter(kinds["visibility"]), {})
    receipts = kinds["receipt"]
    per_network = {}
    for network in config.networks:
        proposals = [p for p in kinds["proposal"] if p.get("network") == network]
        decided = Counter(p.get("status") for p in proposals)
        mine = [r for r in receipts if r.get("network") == network]
        per_network[network] = {
            "name": NETWORK_NAMES.get(network, network),
            "mode": config.mode(network),
            "relays": len({r["relay_id"] for r in mine} | {g["relay_id"] for g in kinds["grant"] if g.get("network") == network}),
            "posts": visibility.get(f"posts_{network}", 0),
            "reach": visibility.get(f"reach_{network}", 0),
            "unknown_reach": visibility.get(f"unknown_reach_{network}", 0),
            "shared": sum(1 for i in ledger if i["network"] == network and i["status"] == "shared"),
            "proposals": len(proposals),
            "approved": decided["approved"],
            "skipped_by_relay": decided["skipped"],
            "expired": decided["expired"],
            "approval_rate": round(decided["approved"] / len(proposals), 3) if proposals else None,
            "receipts": len(mine),
            "confirmed": sum(1 for r in mine if r.get("confirmed") is True),
            "unconfirmed": sum(1 for r in mine if r.get("confirmed") is False),
        }
    verified = Counter(how for r in receipts for how in (r.get("verification") or {}).values())
    return {
        "event": {"name": config.name, "slug": config.slug, "start": config.start.isoformat(), "end": config.end.isoformat(),
                  "timezone": config.timezone, "hashtags": config.hashtags, "cap_per_relay": config.cap_per_relay},
        "generated_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "relays_carried": visibility.get("relays", 0),
        "posts": sum(n["posts"] for n in per_network.values()),
        "reach": sum(n["reach"] for n in per_network.values()),
        "networks": per_network,
        "published_at": sorted((i["network"], i["published_at"]) for i in made if i.get("published_at")),
        "picks": [{"network": p["network"], "author": p.get("author", ""), "text": p.get("text", ""),
                   "score": float(p.get("score", 0)), "reasons": list(p.get("reasons", [])), "round": p["selected_round"],
                   "carried": len(carriers[(p["network"], p["post_id"])]),
                   "reach": sum(i.get("followers", 0) for i in carriers[(p["network"], p["post_id"])])}
                  for p in picks],
        "skipped": dict(Counter(_reason(i.get("reason", "")) for i in ledger if i["status"] == "skipped").most_common()),
        "revocations": {"receipts": len(receipts), "confirmed": sum(1 for r in receipts if r.get("confirmed") is True),
                        "unconfirmed": sum(1 for r in receipts if r.get("confirmed") is False),
                        "how": dict(verified.most_common())},
        "cost": cost(config, stack, kinds),
    }


def _reason(reason: str) -> str:
    """A skip's reason without what differs per relay-post (the network's detail after a colon)."""
    return reason.split(": ", 1)[0] if reason.startswith("refused by") else reason


def cost(config: EventConfig, stack: Stack, kinds: dict[str, list[dict[str, Any]]]) -> dict[str, Any]:
    """The event's cost estimate: what CloudWatch metered (Lambda), what the table counts (e-mails, X's billed
    calls), and the fixed monthly prices prorated to the days the stack stands (from a day before the start to the
    end of receipt retention)."""
    usage = lambda_usage(stack.functions, config.start_utc - timedelta(days=2), datetime.fromtimestamp(config.retention_ends, UTC))
    invocations = sum(u["invocations"] for u in usage.values())
    gb_seconds = sum(u["gb_seconds"] for u in usage.values())
    months = (config.access_ends - config.start_utc + timedelta(days=1)).total_seconds() / (30 * 86400)
    mails = sum(1 for r in kinds["receipt"] if r.get("email")) + len(kinds["digest"])
    x_reads = sum(1 for c in kinds["candidate"] if c.get("network") == "x")
    x_connects = sum(1 for r in kinds["receipt"] if r.get("network") == "x" and r.get("mode") != "share-link")
    x_reposts = sum(1 for i in kinds["ledger"] if i["network"] == "x" and i["status"] in ("published", "undone"))
    x_undos = sum(1 for i in kinds["ledger"] if i["network"] == "x" and i["status"] == "undone")
    lines = [
        ("Lambda requests", invocations * LAMBDA_PER_MILLION_REQUESTS / 1e6, f"{invocations:,.0f} invocations (CloudWatch)"),
        ("Lambda compute", gb_seconds * LAMBDA_ARM_PER_GB_SECOND, f"{gb_seconds:,.1f} GB-s on arm64 (CloudWatch)"),
        ("SES e-mails", mails * SES_PER_THOUSAND / 1000, f"{mails:,} receipts and digests (table)"),
        ("KMS key, secret, alarms, WAF", months * (KMS_KEY_PER_MONTH + SECRET_PER_MONTH + stack.alarms * ALARM_PER_MONTH
                                                   + (WAF_ACL_PER_MONTH + stack.waf_rules * WAF_RULE_PER_MONTH if stack.waf_rules else 0)),
         f"monthly prices over {months:.2f} months, {stack.alarms} alarms"),
    ]
    platform = [
        ("X post reads", x_reads * X_POST_READ, f"{x_reads:,} posts read once each"),
        ("X connects (users/me)", x_connects * X_USER_READ, f"{x_connects:,} accounts"),
        ("X reposts and undos", x_reposts * X_REPOST + x_undos * X_UNDO, f"{x_reposts:,} reposts, {x_undos:,} undone"),
    ]
    return {
        "aws": [{"item": i, "usd": round(v, 4), "basis": b} for i, v, b in lines],
        "platform": [{"item": i, "usd": round(v, 4), "basis": b} for i, v, b in platform],
        "aws_usd": round(sum(v for _, v, _ in lines), 2),
        "platform_usd": round(sum(v for _, v, _ in platform), 2),
        "not_metered": "DynamoDB, SQS, Step Functions and API Gateway requests (pennies at an event's scale; read them "
                       "in Cost Explorer on AWS)",
        "functions": usage,
    }


# --- the page ---------------------------------------------------------------------------------------------------

def _svg(figure: Any) -> str:
    import matplotlib.pyplot as plt

    out = io.StringIO()
    figure.savefig(out, format="svg", bbox_inches="tight")
    plt.close(figure)
    text = out.getvalue()
    return text[text.index("<svg"):]  # the XML prologue and doctype cannot sit inside HTML


def charts(figures: dict[str, Any], config: EventConfig) -> dict[str, str]:
    """The report's charts, each an inline SVG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.dates as mdates
    import matplotlib.pyplot as plt

    plt.rcParams.update({"svg.fonttype": "none", "font.size": 10, "axes.spines.top": False, "axes.spines.right": False,
                         "svg.hashsalt": config.slug})  # the same figures draw the same SVG
    zone = config.start.tzinfo
    out = {}
    figure, axis = plt.subplots(figsize=(8, 3.2))
    by_network: dict[str, list[datetime]] = defaultdict(list)
    for network, at in figures["published_at"]:
        by_network[network].append(datetime.fromisoformat(at).astimezone(zone))
    hours = int((config.access_ends - config.start_utc).total_seconds() // 3600) + 2
    edges = [config.start.replace(minute=0, second=0, microsecond=0) + timedelta(hours=h) for h in range(hours)]
    for network, times in sorted(by_network.items()):
        counts = Counter(t.replace(minute=0, second=0, microsecond=0) for t in times)
        axis.step(edges, [counts.get(e, 0) for e in edges], where="post", label=NETWORK_NAMES.get(network, network))
    axis.set_ylabel("posts per hour")
    axis.xaxis.set_major_formatter(mdates.DateFormatter("%a %H:%M", tz=zone))
    if by_network:
        axis.legend(frameon=False)
    figure.autofmt_xdate()
    axis.set_title("Posts made in relays' names, per hour (event time)")
    out["over_time"] = _svg(figure)

    networks = figures["networks"]
    figure, axis = plt.subplots(figsize=(8, 2.6))
    names = [n["name"] for n in networks.values()]
    axis.barh(names, [n["reach"] for n in networks.values()], color="#3b6ea8")
    for y, n in enumerate(networks.values()):
        label = f"{n['reach']:,} ({n['posts']} posts)" + (f", {n['unknown_reach']} uncounted" if n["unknown_reach"] else "")
        axis.annotate(label, (n["reach"], y), xytext=(4, 0), textcoords="offset points", va="center")
    axis.set_xlabel("followers reached (sum over posts)")
    axis.set_title("Reach per network")
    out["reach"] = _svg(figure)

    rated = {n["name"] + f" ({n['mode']})": n["approval_rate"] for n in networks.values() if n["approval_rate"] is not None}
    if rated:
        figure, axis = plt.subplots(figsize=(8, 2.4))
        axis.barh(list(rated), [100 * r for r in rated.values()], color="#5a9e6f")
        axis.set_xlim(0, 100)
        axis.set_xlabel("proposals approved (%)")
        axis.set_title("Approval rate by network and mode")
        out["approvals"] = _svg(figure)

    if figures["skipped"]:
        figure, axis = plt.subplots(figsize=(8, 0.6 + 0.35 * len(figures["skipped"])))
        reasons = list(figures["skipped"])[:12]
        axis.barh([r[:70] for r in reasons], [figures["skipped"][r] for r in reasons], color="#b5643c")
        axis.invert_yaxis()
        axis.set_xlabel("relay-posts")
        axis.set_title("Relay-posts skipped, by reason")
        out["skipped"] = _svg(figure)
    return out


def render(figures: dict[str, Any], config: EventConfig, lang: str | None = None) -> str:
    """The page; the picks' reasons (stored as codes) in `lang`, by default the event's first language."""
    from jinja2 import Environment, FileSystemLoader, select_autoescape

    from markupsafe import Markup

    from relaycast.pages import count
    from relaycast.reasons import describe

    environment = Environment(loader=FileSystemLoader(Path(__file__).parent / "data"), autoescape=select_autoescape(["html"]))
    environment.filters["count"] = partial(count, "en")  # the relays' pages' own grouping
    lang = lang or config.languages[0]
    environment.filters["reasons"] = partial(describe, lang=lang)

    svgs = {name: Markup(svg) for name, svg in charts(figures, config).items()}
    return environment.get_template("report.html").render(f=figures, charts=svgs, config=config, reasons_lang=lang)


def write_report(config: EventConfig, stack: Stack, out: Path, lang: str | None = None) -> dict[str, Any]:
    """Gather, render, write `out` (and `out` with .json: the same figures, reasons as codes); returns the figures."""
    figures = gather(config, stack)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(render(figures, config, lang))
    out.with_suffix(".json").write_text(json.dumps(figures, indent=2, default=str) + "\n")
    return figures


def credentials_or_none() -> str | None:
    """Why the AWS account cannot be reached, in one line; None when boto3 has credentials and a region."""
    session = boto3.session.Session()
    if session.get_credentials() is None:
        return "no AWS credentials: set AWS_PROFILE (or AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY), or run aws configure"
    if not session.region_name:
        return "no AWS region: set AWS_DEFAULT_REGION (the region the event's stack is deployed in)"
    return None


def main(event: str, out: str = "report/index.html", local: bool = False, lang: str | None = None) -> int:
    """`relaycast report EVENT`: the deployed stack of EVENT's file, on AWS (where boto3 points), or with `local`
    the event `relaycast deploy --local` runs; the picks' reasons in `lang` (default: the event's first language)."""
    import sys
    from contextlib import nullcontext

    from relaycast.config import EventConfigError, load_event_config

    from .attach import NotRunning, attached, read_state

    try:
        config = load_event_config(event)
    except EventConfigError as error:
        print(error, file=sys.stderr)
        return 2
    try:
        where = attached(read_state(config.slug, event)) if local else nullcontext()
    except NotRunning as missing:
        print(f"relaycast report: {missing}", file=sys.stderr)
        return 2
    with where:
        refused = None if local else credentials_or_none()
        if refused:
            print(f"relaycast report: {refused}", file=sys.stderr)
            return 2
        try:
            stack = find_stack(f"relaycast-{config.slug}")
        except StackNotFound as missing:
            print(f"relaycast report: {missing}; deploy it first (relaycast deploy {event})", file=sys.stderr)
            return 2
        figures = write_report(config, stack, Path(out), lang)
    print(f"{out}: {figures['relays_carried']:,} relays carried {config.name}, {figures['posts']:,} posts, "
          f"reach {figures['reach']:,}, about ${figures['cost']['aws_usd'] + figures['cost']['platform_usd']:.2f}")
    return 0
