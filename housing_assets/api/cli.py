"""`housing-api`: the GraphQL client from a shell. One subcommand per client function, JSON out.

The output is the client's return value as JSON on stdout, so it pipes into `jq` or a script.
`value` is the exception: it prices houses locally (`housing_assets.api.value`) and prints a
valuation a person reads, or JSON with `--json`.
Failures are one line on stderr, `error: ...`, with exit code 1 (2 for a usage error), never a
traceback: the user needs the cause (the server at that URL is down, that asset does not exist),
not the stack. A launched run that ends in anything but SUCCESS also exits 1.
"""

import argparse
import json
import sys
from pathlib import Path

import requests

from housing_assets.api.client import (
    DEFAULT_URL,
    JOB_NAME,
    LOCATION_NAME,
    SCHEDULE_NAME,
    HousingApi,
    HousingApiError,
)


def _connection_options(suppress_defaults: bool) -> argparse.ArgumentParser:
    """--url/--timeout/--location, accepted before or after the subcommand."""
    parser = argparse.ArgumentParser(add_help=False)

    def default(value):
        return argparse.SUPPRESS if suppress_defaults else value

    parser.add_argument(
        "--url",
        default=default(DEFAULT_URL),
        help=f"base URL of the Dagster webserver (default {DEFAULT_URL})",
    )
    parser.add_argument(
        "--timeout",
        type=float,
        default=default(30.0),
        help="seconds to wait for each HTTP answer (default 30)",
    )
    parser.add_argument(
        "--location",
        default=default(LOCATION_NAME),
        help=f"code location name (default {LOCATION_NAME})",
    )
    return parser


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="housing-api",
        description="Query and drive the housing_assets pipeline through Dagster's GraphQL API. "
        "Every subcommand prints JSON.",
        parents=[_connection_options(suppress_defaults=False)],
        epilog="Secrets come from the environment only: HOUSING_API_TOKEN (sent as "
        "'Authorization: Bearer <token>', or as the header named by HOUSING_API_TOKEN_HEADER).",
    )
    common = [_connection_options(suppress_defaults=True)]
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    commands.add_parser("assets", parents=common, help="assets with groups and lineage")
    latest = commands.add_parser(
        "latest", parents=common, help="latest materialisation of each asset, with metadata"
    )
    latest.add_argument("assets", nargs="*", metavar="ASSET", help="only these assets")
    commands.add_parser(
        "metrics", parents=common, help="latest model metrics, MLflow run id and URL"
    )
    commands.add_parser("checks", parents=common, help="latest result of every asset check")
    commands.add_parser(
        "freshness", parents=common, help="freshness policy and state of the assets with one"
    )
    runs = commands.add_parser("runs", parents=common, help="recent runs, newest first")
    runs.add_argument("--limit", type=int, default=20, help="how many runs (default 20)")
    run = commands.add_parser("run", parents=common, help="one run: status, times, duration")
    run.add_argument("run_id")
    logs = commands.add_parser("logs", parents=common, help="the last events of one run")
    logs.add_argument("run_id")
    logs.add_argument("--limit", type=int, default=50, help="how many events (default 50)")
    status = commands.add_parser("status", parents=common, help="one run's status")
    status.add_argument("run_id")
    launch = commands.add_parser(
        "launch",
        parents=common,
        help=f"launch {JOB_NAME} (or only the given assets) and wait for it",
    )
    launch.add_argument("assets", nargs="*", metavar="ASSET", help="only these assets")
    launch.add_argument("--job", default=JOB_NAME, help=f"job to launch (default {JOB_NAME})")
    launch.add_argument("--no-wait", action="store_true", help="return once the run is launched")
    launch.add_argument(
        "--wait-timeout",
        type=float,
        default=600.0,
        help="seconds to wait for the run to end (default 600)",
    )
    schedule = commands.add_parser(
        "schedule", parents=common, help="the schedule's state and next tick"
    )
    schedule.add_argument("--name", default=SCHEDULE_NAME, help=f"default {SCHEDULE_NAME}")
    value = commands.add_parser(
        "value",
        parents=common,
        help="one house's estimate, range, reasons and comparable sales, priced locally by the "
        "champion (not through the webserver)",
    )
    value.add_argument("--pid", type=int, action="append", default=[], help="a house's PID")
    value.add_argument("--file", help="houses in the source format (default: the warehouse)")
    value.add_argument("--html", type=Path, help="also write one page per house in this directory")
    value.add_argument("--json", action="store_true", help="print JSON instead of text")
    return parser


def value_command(args: argparse.Namespace) -> int:
    from housing_assets.api.value import ValuationError, as_json, printable, value, write_pages

    if not args.pid and not args.file:
        sys.stderr.write("error: give --pid PID, --file FILE, or both\n")
        return 2
    try:
        valuations = value(args.pid, args.file)
    except ValuationError as exc:
        sys.stderr.write(f"error: {exc}\n")
        return 1
    if args.json:
        sys.stdout.write(json.dumps([as_json(v) for v in valuations], indent=2) + "\n")
    else:
        sys.stdout.write(printable(valuations))
    if args.html:
        for path in write_pages(valuations, args.html):
            sys.stderr.write(f"wrote {path}\n")
    return 0


def run_command(api: HousingApi, args: argparse.Namespace):
    match args.command:
        case "assets":
            return api.assets()
        case "latest":
            return api.latest_materializations(args.assets or None)
        case "metrics":
            return api.model_metrics()
        case "checks":
            return api.check_results()
        case "freshness":
            return api.freshness()
        case "runs":
            return api.runs(limit=args.limit)
        case "run":
            return api.run(args.run_id)
        case "logs":
            return api.run_logs(args.run_id, limit=args.limit)
        case "status":
            return {"run_id": args.run_id, "status": api.run_status(args.run_id)}
        case "launch":
            return api.launch(
                args.assets or None, job=args.job, wait=not args.no_wait, timeout=args.wait_timeout
            )
        case "schedule":
            return api.schedule(args.name)
    raise AssertionError(f"unhandled command {args.command}")


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.command == "value":
        return value_command(args)
    try:
        with HousingApi(args.url, timeout=args.timeout, location=args.location) as api:
            result = run_command(api, args)
    except HousingApiError as exc:
        sys.stderr.write(f"error: {exc}\n")
        return 1
    except requests.RequestException as exc:
        sys.stderr.write(f"error: request to {args.url} failed: {exc}\n")
        return 1
    sys.stdout.write(json.dumps(result, indent=2, allow_nan=False) + "\n")
    if args.command == "launch" and not args.no_wait and result["status"] != "SUCCESS":
        sys.stderr.write(f"error: run {result['run_id']} ended {result['status']}\n")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
