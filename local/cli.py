"""The `relaycast` command: write and check an event file, run the local demo, serve the hosted page locally, rank
posts, report on an event."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from relaycast.config import LANGUAGES, EventConfigError, load_event_config


def _check(args: argparse.Namespace) -> int:
    try:
        config = load_event_config(args.event)
    except EventConfigError as error:
        print(error, file=sys.stderr)
        return 2
    print(f"{args.event}: valid — {config.name}, {config.start_utc:%Y-%m-%d %H:%M} → {config.end_utc:%Y-%m-%d %H:%M} UTC, "
          f"access ends {config.access_ends:%Y-%m-%d %H:%M} UTC, cap {config.cap_per_relay}")
    if args.expected_relays is not None:
        _capacity(config, args.expected_relays)
    return 0


def _capacity(config, expected_relays: int) -> None:
    """Per network: what N relays at the cap would ask, against what the platform's limits allow."""
    from relaycast.capacity import plan

    print(f"capacity, if all {expected_relays:,} expected relays connect each network (cap {config.cap_per_relay}, "
          f"publishing from the start to the access end):")
    for row in plan(config, expected_relays):
        allowed = "no app-wide limit" if row.allowed is None else f"{row.allowed:,} allowed"
        print(f"  {row.network} ({row.mode}): {row.asked:,} relay-posts asked, {allowed} — {row.limit}")
        if row.exceeded:
            print(f"warning: on {row.network}, {expected_relays:,} relays × cap {config.cap_per_relay} ask more than the "
                  f"platform allows: about {row.allowed // config.cap_per_relay:,} relays get their whole cap; lower the cap, "
                  "use share-link there, or expect relay-posts to wait for the next window, or be skipped when access ends", file=sys.stderr)


def _count(text: str) -> int:
    if not text.isdigit():
        raise argparse.ArgumentTypeError(f"'{text}' is not a whole number of relays")
    return int(text)


def _demo(args: argparse.Namespace) -> int:
    from relaycast_local.demo import main as demo_main

    return demo_main(event=args.event, relays=args.relays, report=args.report)


def _serve(args: argparse.Namespace) -> int:
    from relaycast_local.serve import serve

    return serve(args.event, host=args.host, port=args.port, speed=args.speed, ready_file=args.ready_file)


def _rank(args: argparse.Namespace) -> int:
    from relaycast_local.rank import main as rank_main

    return rank_main(args.file, experts=args.experts, experts_file=args.experts_file, lang=args.lang)


def _init(args: argparse.Namespace) -> int:
    from relaycast_local.init import QUESTIONS, init

    given = {q.field: getattr(args, q.field) for q in QUESTIONS if getattr(args, q.field) is not None}
    return init(given, out=args.out, yes=args.yes, force=args.force)


def _report(args: argparse.Namespace) -> int:
    from relaycast_local.report import main as report_main

    return report_main(args.event, out=args.out, local=args.local, lang=args.lang)


def _status(args: argparse.Namespace) -> int:
    from relaycast_local.status import main as status_main

    return status_main(args.event, local=args.local, watch=args.watch)


def _deploy(args: argparse.Namespace) -> int:
    from relaycast_local.deploy import main as deploy_main

    return deploy_main(args.event, local=args.local, dry_run=args.dry_run, port=args.port, speed=args.speed)


def _bluesky_key(args: argparse.Namespace) -> int:
    from relaycast.networks.bluesky import new_client_key

    print(new_client_key())  # for the stack's secret only: `bluesky_client_key`
    return 0


LOCAL_HELP = "the event `relaycast deploy --local` runs, not AWS"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="relaycast", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    from relaycast_local.init import add_arguments

    init = commands.add_parser("init", help="write an event file, question by question (each has a flag; --yes takes the defaults)")
    add_arguments(init)
    init.set_defaults(run=_init)
    check = commands.add_parser("check", help="validate an event file and name every problem with its fix")
    check.add_argument("event")
    check.add_argument("--expected-relays", type=_count, metavar="N",
                       help="also report, per network, how many relay-posts the platforms' limits allow for N relays")
    check.set_defaults(run=_check)
    demo = commands.add_parser("demo", help="run a whole event locally: moto + sandbox X, simulated relays")
    demo.add_argument("--event", default="events/demo.yaml")
    demo.add_argument("--relays", type=int, default=20)
    demo.add_argument("--report", default="demo-report.json")
    demo.set_defaults(run=_demo)
    serve = commands.add_parser(
        "serve", help="serve the hosted page on a fixed port while an event runs on a fast clock, with a sandbox X"
    )
    serve.add_argument("--event", default="events/demo.yaml")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8000)
    serve.add_argument("--speed", type=float, help="simulated seconds per wall second (default: a round every ~25 s)")
    serve.add_argument("--ready-file", type=Path, help="written with the page's URL once it is served")
    serve.set_defaults(run=_serve)
    rank = commands.add_parser(
        "rank", help="score the posts of a CSV (twint or id,text,author,…) as the Lambda does: id,score,reasons, best first"
    )
    rank.add_argument("file")
    rank.add_argument("--experts", help="expert handles with optional weights: @a,@b:2")
    rank.add_argument("--experts-file", help="take the experts of an event file (events/x.yaml)")
    rank.add_argument("--lang", choices=LANGUAGES, default="en", help="the language of the reasons (default: en)")
    rank.set_defaults(run=_rank)
    deploy = commands.add_parser(
        "deploy", help="deploy an event's stack (checks the file and the account first; the networks' credentials from "
                       "RELAYCAST_<KEY> variables or asked without echo) and say what to do next"
    )
    deploy.add_argument("event")
    where = deploy.add_mutually_exclusive_group()
    where.add_argument("--local", action="store_true",
                       help="into the local runtime instead (moto, sandbox networks), kept running for status and report")
    where.add_argument("--dry-run", action="store_true", help="print the plan; change nothing")
    deploy.add_argument("--port", type=int, default=8000, help="with --local: the hosted page's port")
    deploy.add_argument("--speed", type=float, help="with --local: simulated seconds per wall second")
    deploy.set_defaults(run=_deploy)
    report = commands.add_parser(
        "report", help="after the event: one self-contained HTML page of how visible it was (charts, picks, reach, "
                       "skips, revocations, cost), from the deployed stack's table and CloudWatch"
    )
    report.add_argument("event")
    report.add_argument("--out", default="report/index.html", help="where to write the page (its figures go next to it as .json)")
    report.add_argument("--local", action="store_true", help=LOCAL_HELP)
    report.add_argument("--lang", choices=LANGUAGES, help="the language of the picks' reasons (default: the event's first)")
    report.set_defaults(run=_report)
    status = commands.add_parser(
        "status", help="during the event: relays per network and mode, proposals, relay-posts, the platforms' budgets, "
                       "alarms, dead letters, the next round"
    )
    status.add_argument("event")
    status.add_argument("--local", action="store_true", help=LOCAL_HELP)
    status.add_argument("--watch", type=float, nargs="?", const=5.0, metavar="SECONDS",
                        help="redraw every SECONDS (5 by default) until Ctrl-C")
    status.set_defaults(run=_status)
    key = commands.add_parser(
        "bluesky-key", help="print a new ES256 private key (JWK) for the stack's secret, `bluesky_client_key`: "
                            "relaycast's own key toward Bluesky's servers"
    )
    key.set_defaults(run=_bluesky_key)
    args = parser.parse_args(argv)
    return args.run(args)


if __name__ == "__main__":
    sys.exit(main())
