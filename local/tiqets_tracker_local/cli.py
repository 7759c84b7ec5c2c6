"""The `tiqets-tracker` command."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import NoReturn

from tiqets_tracker_local import operate, track

EXIT_BAD_USAGE = 2


class _Parser(argparse.ArgumentParser):
    """argparse, but a usage error is one line (the command and what is wrong)."""

    def error(self, message: str) -> NoReturn:
        self.exit(EXIT_BAD_USAGE, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def _seconds(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number of seconds: {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1 second, not {value}")
    return value


def _port(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a port number: {text!r}") from None
    if not 0 <= value <= 65535:
        raise argparse.ArgumentTypeError(f"must be 0 to 65535, not {value}")
    return value


def _add_demo(commands: argparse._SubParsersAction[_Parser]) -> None:
    demo = commands.add_parser(
        "demo",
        help="track simulated orders covering every outcome through the real workflow, locally",
        description=(
            "Stands up the local stack (moto) and the Tiqets simulator and tracks one order per"
            " outcome through the real state machine and handlers, 60 times faster than real"
            " time. Exits 1 if any order ends with the wrong outcome."
        ),
    )
    demo.add_argument(
        "--out",
        type=Path,
        default=Path("demo-output"),
        help="folder for the exported vouchers and summary.json (default: demo-output)",
    )


def _add_test_aws(commands: argparse._SubParsersAction[_Parser]) -> None:
    parser = commands.add_parser(
        "test-aws",
        help="deploy to AWS, run the demo's scenarios there, delete everything (make test-aws)",
        description=(
            "Deploys a test stack serving the Tiqets simulator from a Lambda function URL and"
            " two tracker stacks beside it (webhook, polling only) to the account of your AWS"
            " credentials, runs the demo's scenarios against them, checks every outcome and"
            " voucher, and deletes everything it created. Needs the SAM CLI and Python 3.13."
            " Costs about one US cent a run (README). Exits 1 if any order ends wrong or"
            " anything is left undeleted, 2 when the tools or credentials are missing."
        ),
    )
    parser.add_argument(
        "--region", help="the AWS region (default: your configured one, e.g. AWS_REGION)"
    )


def _add_track(commands: argparse._SubParsersAction[_Parser]) -> None:
    from tiqets_tracker.tiqets import TEST_BASE_URL

    parser = commands.add_parser(
        "track",
        help="track one real order through the real workflow on the local stack",
        description=(
            "Runs the real state machine and handlers on the local stack (moto, in this process,"
            " no AWS account) for one order already confirmed on a Tiqets API, by default the"
            " Tiqets test environment, until its outcome; then exports the voucher and the order"
            " information to --out. Creating the order is the distributor's job. With"
            " --webhook-port the webhook is served on 127.0.0.1 and one line"
            " 'callback_url: <url>' gives the signed URL to POST Tiqets callbacks to; without"
            " it, the tracker only polls. Durations are seconds (the defaults are the deployed"
            " ones: a 24-hour deadline). A --tiqets-url on loopback (a local simulator) allows"
            " voucher URLs on loopback for the run; otherwise production voucher rules hold."
        ),
        epilog=track.EXIT_CODES_HELP,
    )
    parser.add_argument("order_reference_id", metavar="ORDER_REFERENCE_ID", help="Tiqets order ID")
    parser.add_argument(
        "--tiqets-url",
        default=TEST_BASE_URL,
        metavar="URL",
        help=f"the Tiqets API's base URL (default: the test environment, {TEST_BASE_URL})",
    )
    parser.add_argument(
        "--api-key-env",
        default="TIQETS_API_KEY",
        metavar="NAME",
        help="environment variable holding the Tiqets API key (default: TIQETS_API_KEY)",
    )
    parser.add_argument(
        "--lang", default="en", metavar="CODE", help="voucher language (default: en)"
    )
    parser.add_argument(
        "--webhook-port",
        type=_port,
        metavar="PORT",
        help="serve the webhook on 127.0.0.1:PORT (0: a free port); without it, polling only",
    )
    parser.add_argument(
        "--backoff-base",
        type=_seconds,
        metavar="SECONDS",
        help="spacing of checks while fulfilment is likeliest (default: 45 polling, 176 with "
        "the webhook)",
    )
    parser.add_argument(
        "--backoff-cap",
        type=_seconds,
        metavar="SECONDS",
        help="longest wait between checks (default: 900 polling, 5400 with the webhook)",
    )
    parser.add_argument(
        "--deadline",
        type=_seconds,
        metavar="SECONDS",
        help="FulfilmentTimedOut this long after the start (default and most: 86400)",
    )
    parser.add_argument(
        "--out",
        type=Path,
        default=Path("track-output"),
        metavar="DIR",
        help="folder for the voucher PDF and the order JSON (default: track-output)",
    )
    parser.add_argument(
        "--json",
        action="store_true",
        help="print a machine-readable summary as the last line of standard output",
    )


def _add_stack_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("order_reference_id", metavar="ORDER_REFERENCE_ID", help="Tiqets order ID")
    parser.add_argument(
        "--stack", required=True, metavar="NAME", help="the deployed CloudFormation stack's name"
    )
    parser.add_argument(
        "--region", metavar="REGION", help="AWS region (default: the usual AWS configuration)"
    )


def _add_start(commands: argparse._SubParsersAction[_Parser]) -> None:
    parser = commands.add_parser(
        "start",
        help="start tracking an order on a deployed stack (idempotent)",
        description=(
            "Starts the deployed stack's state machine (its StateMachineArn output) for one"
            " confirmed order, as the order-placement Lambda's start_tracking() does. Starting an"
            " order that is already tracked finds the existing tracker instead of a second one."
            " Uses boto3 and the usual AWS credential chain."
        ),
        epilog=operate.EXIT_CODES_HELP,
    )
    _add_stack_arguments(parser)
    parser.add_argument("--lang", default="en", metavar="CODE", help="voucher language (en)")
    parser.add_argument(
        "--external-reference",
        metavar="REF",
        help="your own order reference, as given to Tiqets (it also signs the callback URL)",
    )


def _add_status(commands: argparse._SubParsersAction[_Parser]) -> None:
    parser = commands.add_parser(
        "status",
        help="show an order's tracking record and execution on a deployed stack",
        description=(
            "Shows the tracking record (status history, checks, webhook wake-ups, outcome,"
            " failure, voucher location in S3, restarts by the sweep) and the state of the"
            " execution that looks after the order now (the first, a re-check or a restart),"
            " read from the deployed stack (its TrackingTableName and StateMachineArn outputs)"
            " with boto3 and the usual AWS credential chain."
        ),
        epilog=operate.EXIT_CODES_HELP,
    )
    _add_stack_arguments(parser)
    parser.add_argument("--json", action="store_true", help="print the status as one JSON line")


def _add_diagram(commands: argparse._SubParsersAction[_Parser]) -> None:
    commands.add_parser(
        "diagram",
        help="print the workflow as a Mermaid diagram, from the ASL file",
        description=(
            "Prints statemachine/order_tracking.asl.json as a Mermaid stateDiagram-v2: every"
            " state, and its Next, Default, Choice and Catch transitions (catch edges name the"
            " errors). README.md embeds this output."
        ),
    )


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="tiqets-tracker",
        description="Track confirmed Tiqets orders to a final outcome (see README.md).",
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    _add_demo(commands)
    _add_track(commands)
    _add_start(commands)
    _add_status(commands)
    _add_diagram(commands)
    _add_test_aws(commands)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.command == "demo":
        from tiqets_tracker_local.demo import run_demo

        args.out.mkdir(parents=True, exist_ok=True)
        return run_demo(args.out)
    if args.command == "track":
        return track.run_track(
            track.TrackOptions(
                order_reference_id=args.order_reference_id,
                tiqets_url=args.tiqets_url,
                api_key_env=args.api_key_env,
                lang=args.lang,
                webhook_port=args.webhook_port,
                backoff_base=args.backoff_base,
                backoff_cap=args.backoff_cap,
                deadline=args.deadline,
                out=args.out,
                json=args.json,
            )
        )
    if args.command == "start":
        return operate.run_start(
            args.order_reference_id,
            stack_name=args.stack,
            region=args.region,
            lang=args.lang,
            external_reference=args.external_reference,
        )
    if args.command == "status":
        return operate.run_status(
            args.order_reference_id, stack_name=args.stack, region=args.region, as_json=args.json
        )
    if args.command == "test-aws":
        from tiqets_tracker_local.aws_run import run_on_aws

        return run_on_aws(args.region)
    if args.command == "diagram":
        from tiqets_tracker_local.diagram import render_file

        sys.stdout.write(render_file())
        return 0
    return EXIT_BAD_USAGE


if __name__ == "__main__":
    sys.exit(main())
