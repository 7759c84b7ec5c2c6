"""`tiqets-tracker track ORDER_REFERENCE_ID`: one real order through the real workflow, locally.

The local stack (moto, in this process) runs the real state machine and handlers against a Tiqets
API, by default the Tiqets test environment, so a distributor can watch the tracker follow one of
its test orders before deploying anything. With `--webhook-port`, the webhook is served on
127.0.0.1 and the signed callback URL is printed once it listens; without it, polling only.

Exit statuses are the `EXIT_*` constants below (documented in README.md and `--help`).
"""

from __future__ import annotations

import hashlib
import ipaddress
import json
import logging
import os
import socket
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final, TextIO
from urllib.parse import urlsplit

from tiqets_tracker.validation import LANGS, ORDER_REFERENCE_ID

EXIT_TICKETS_READY: Final = 0
EXIT_ERROR: Final = 1  # the tracker could not run: Tiqets unreachable, port in use, ...
EXIT_BAD_USAGE: Final = 2  # bad options or a missing API key
EXIT_ORDER_FAILED: Final = 3
EXIT_ORDER_CANCELLED: Final = 4
EXIT_FULFILMENT_TIMED_OUT: Final = 5
EXIT_TRACKING_FAILED: Final = 6
EXIT_INTERRUPTED: Final = 130

OUTCOME_EXIT_CODES: Final = {
    "TicketsReady": EXIT_TICKETS_READY,
    "OrderFailed": EXIT_ORDER_FAILED,
    "OrderCancelled": EXIT_ORDER_CANCELLED,
    "FulfilmentTimedOut": EXIT_FULFILMENT_TIMED_OUT,
    "TrackingFailed": EXIT_TRACKING_FAILED,
}

EXIT_CODES_HELP: Final = (
    "exit status: 0 TicketsReady (voucher stored), 3 OrderFailed, 4 OrderCancelled,"
    " 5 FulfilmentTimedOut, 6 TrackingFailed, 2 bad usage (bad option, missing API key),"
    " 1 the tracker could not run (Tiqets unreachable, port in use), 130 interrupted"
)

MAX_DEADLINE_SECONDS: Final = 86400
_PREFLIGHT_TIMEOUT_SECONDS: Final = 10.0
_POLL_SECONDS: Final = 0.2


class UsageError(Exception):
    """A mistake in how the command was called: one line, exit 2."""


class CannotRunError(Exception):
    """The tracker cannot run here (Tiqets unreachable, port in use): one line, exit 1."""


@dataclass(frozen=True)
class TrackOptions:
    order_reference_id: str
    tiqets_url: str
    api_key_env: str
    lang: str
    webhook_port: int | None
    backoff_base: int | None
    backoff_cap: int | None
    deadline: int | None
    out: Path
    json: bool


@dataclass
class TrackResult:
    order_reference_id: str
    outcome: str | None
    execution_status: str
    checks: int
    webhook_wakeups: int
    failure: dict[str, Any] | None = None
    voucher_path: Path | None = None
    order_json_path: Path | None = None
    sha256: str | None = None

    @property
    def exit_code(self) -> int:
        if self.outcome is None:
            return EXIT_TRACKING_FAILED
        return OUTCOME_EXIT_CODES.get(self.outcome, EXIT_TRACKING_FAILED)

    def summary(self) -> dict[str, Any]:
        summary: dict[str, Any] = {
            "order_reference_id": self.order_reference_id,
            "outcome": self.outcome,
            "exit_code": self.exit_code,
            "execution_status": self.execution_status,
            "checks": self.checks,
            "webhook_wakeups": self.webhook_wakeups,
            "failure": self.failure,
        }
        if self.voucher_path is not None:
            summary["voucher_path"] = str(self.voucher_path)
            summary["sha256"] = self.sha256
            summary["order_json_path"] = str(self.order_json_path)
        return summary


def is_loopback_url(url: str) -> bool:
    host = urlsplit(url).hostname or ""
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def check_options(options: TrackOptions) -> None:
    """Raise UsageError for option values the tracker cannot use."""
    if not ORDER_REFERENCE_ID.fullmatch(options.order_reference_id):
        raise UsageError(
            "ORDER_REFERENCE_ID must be 1 to 64 characters among A-Z, a-z, 0-9, '_' and '-'"
        )
    if options.lang not in LANGS:
        raise UsageError(f"--lang must be one of Tiqets' languages: {', '.join(sorted(LANGS))}")
    parts = urlsplit(options.tiqets_url)
    try:
        port_ok = parts.port is None or parts.port > 0
    except ValueError:
        port_ok = False
    if parts.scheme not in ("http", "https") or not parts.hostname or not port_ok:
        raise UsageError(
            "--tiqets-url must be an absolute http(s) URL, e.g. http://127.0.0.1:8080/v2/"
        )
    if parts.username is not None or parts.password is not None or parts.query or parts.fragment:
        raise UsageError("--tiqets-url must carry no credentials, query or fragment")
    if options.webhook_port is not None and not 0 <= options.webhook_port <= 65535:
        raise UsageError("--webhook-port must be between 0 and 65535")
    if options.backoff_base is not None and not 1 <= options.backoff_base <= 999_999:
        raise UsageError("--backoff-base must be 1 to 999999 seconds")
    if options.backoff_cap is not None and not 1 <= options.backoff_cap <= 999_999:
        raise UsageError("--backoff-cap must be 1 to 999999 seconds")
    if (
        options.backoff_base is not None
        and options.backoff_cap is not None
        and options.backoff_cap < options.backoff_base
    ):
        raise UsageError("--backoff-cap must be at least --backoff-base")
    if options.deadline is not None and not 1 <= options.deadline <= MAX_DEADLINE_SECONDS:
        raise UsageError(f"--deadline must be 1 to {MAX_DEADLINE_SECONDS} seconds")
    deadline = options.deadline or MAX_DEADLINE_SECONDS
    if options.backoff_cap is not None and options.backoff_cap * 1000 < deadline:
        raise UsageError(
            f"--backoff-cap must be at least the deadline / 1000 ({-(-deadline // 1000)} s)"
        )
    if options.out.exists() and not options.out.is_dir():
        raise UsageError(f"--out {options.out} exists and is not a folder")


def read_api_key(name: str) -> str:
    key = os.environ.get(name, "").strip()
    if not key:
        raise UsageError(
            f"the environment variable {name} holding the Tiqets API key is not set"
            " (set it, or name another one with --api-key-env)"
        )
    return key


def preflight(tiqets_url: str) -> None:
    """One cheap GET of the API's base URL: any HTTP answer will do; no answer is an error."""
    import requests

    try:
        requests.get(tiqets_url, timeout=_PREFLIGHT_TIMEOUT_SECONDS, allow_redirects=False).close()
    except requests.exceptions.SSLError:
        raise CannotRunError(f"cannot reach the Tiqets API at {tiqets_url}: TLS error") from None
    except requests.Timeout:
        raise CannotRunError(f"cannot reach the Tiqets API at {tiqets_url}: timed out") from None
    except requests.ConnectionError:
        raise CannotRunError(
            f"cannot reach the Tiqets API at {tiqets_url}: connection refused or host unknown"
        ) from None
    except requests.RequestException as error:
        raise CannotRunError(
            f"cannot reach the Tiqets API at {tiqets_url} ({type(error).__name__})"
        ) from None


def check_port_free(port: int) -> None:
    if port == 0:
        return
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            raise CannotRunError(
                f"--webhook-port {port}: the port is in use on 127.0.0.1 (pick another, or 0)"
            ) from None


def stack_parameters(options: TrackOptions) -> dict[str, str]:
    parameters = {"WebhookEnabled": "false" if options.webhook_port is None else "true"}
    if options.backoff_base is not None:
        parameters["BackoffBaseSeconds"] = str(options.backoff_base)
    if options.backoff_cap is not None:
        parameters["BackoffCapSeconds"] = str(options.backoff_cap)
    if options.deadline is not None:
        parameters["DeadlineSeconds"] = str(options.deadline)
    return parameters


def external_reference_for(order_reference_id: str) -> str:
    return f"tiqets-tracker-track-{order_reference_id}"


def run_track(options: TrackOptions, out: TextIO | None = None, err: TextIO | None = None) -> int:
    """Track one order to its outcome; the exit status (see EXIT_CODES_HELP)."""
    out = sys.stdout if out is None else out
    err = sys.stderr if err is None else err
    try:
        check_options(options)
        api_key = read_api_key(options.api_key_env)
        if options.webhook_port is not None:
            check_port_free(options.webhook_port)
        preflight(options.tiqets_url)
        result = _track(options, api_key, out)
    except UsageError as error:
        print(f"tiqets-tracker track: error: {error}", file=err)
        return EXIT_BAD_USAGE
    except CannotRunError as error:
        print(f"tiqets-tracker track: error: {error}", file=err)
        return EXIT_ERROR
    except KeyboardInterrupt:
        print("tiqets-tracker track: interrupted; nothing is tracked any more", file=err)
        return EXIT_INTERRUPTED
    _report(result, out)
    if result.outcome != "TicketsReady" and result.exit_code == EXIT_TRACKING_FAILED:
        why = f": {result.failure['error']}: {result.failure['message']}" if result.failure else ""
        print(f"tiqets-tracker track: {result.outcome or 'no outcome'}{why}", file=err)
    if options.json:
        print(json.dumps(result.summary(), sort_keys=True), file=out, flush=True)
    return result.exit_code


def _say(out: TextIO, message: str) -> None:
    print(message, file=out, flush=True)


def _track(options: TrackOptions, api_key: str, out: TextIO) -> TrackResult:
    from contextlib import ExitStack

    from tiqets_tracker.callback_urls import callback_url
    from tiqets_tracker_local.stack import LocalStack
    from tiqets_tracker_local.webhook_server import LocalWebhookEndpoint

    # The SAM translator warns about its own metrics when the process exits: not ours to say.
    logging.getLogger("samtranslator").setLevel(logging.ERROR)
    loopback = is_loopback_url(options.tiqets_url)
    with ExitStack() as resources:
        stack = resources.enter_context(
            LocalStack(
                tiqets_base_url=options.tiqets_url,
                api_key=api_key,
                parameters=stack_parameters(options),
                allow_loopback_vouchers=loopback,
                stack_name="tiqets-tracker-track",
                log_level="CRITICAL",
            )
        )
        _say(
            out,
            f"local stack up; tracking order {options.order_reference_id}"
            f" against {options.tiqets_url}",
        )
        external_reference = external_reference_for(options.order_reference_id)
        if options.webhook_port is not None:
            assert stack.webhook_function_name is not None
            endpoint = LocalWebhookEndpoint(stack.webhook_function_name, port=options.webhook_port)
            try:
                endpoint.start()
            except OSError:
                raise CannotRunError(
                    f"--webhook-port {options.webhook_port}: cannot listen on 127.0.0.1"
                    " (port in use?)"
                ) from None
            resources.callback(endpoint.stop)
            url = callback_url(
                endpoint.url,
                external_reference=external_reference,
                key=stack.webhook_signing_key.encode(),
            )
            _say(out, f"callback_url: {url}")
        else:
            _say(out, "webhook off: polling only (give --webhook-port to serve the webhook)")
        started = stack.start_tracking(
            options.order_reference_id,
            lang=options.lang,
            external_reference=external_reference,
        )
        described = _follow(stack, options.order_reference_id, started.execution_arn, out)
        record = stack.record(options.order_reference_id) or {}
        events = stack.outcomes_for(options.order_reference_id)
        event = events[-1] if events else None
        result = TrackResult(
            order_reference_id=options.order_reference_id,
            outcome=event.detail_type if event else None,
            execution_status=str(described["status"]),
            checks=int(record.get("checks_made", 0)),
            webhook_wakeups=int(record.get("webhook_count", 0)),
            failure=_failure(event.detail.get("failure"))
            if event
            else {"error": "NoOutcome", "message": f"the execution ended {described['status']}"},
        )
        voucher = event.detail.get("voucher") if event else None
        if voucher:
            _export(stack, voucher, options, result)
        return result


def _failure(failure: Any) -> dict[str, Any] | None:
    """An outcome's failure as {"error", "message"}: the Lambda's error message, not its
    stack trace."""
    if not isinstance(failure, dict):
        return None
    message = str(failure.get("Cause") or "")
    try:
        cause = json.loads(message)
    except ValueError:
        cause = None
    if isinstance(cause, dict) and "errorMessage" in cause:
        message = str(cause["errorMessage"])
    return {"error": str(failure.get("Error") or "Unknown"), "message": message}


def _follow(stack: Any, order_reference_id: str, execution_arn: str, out: TextIO) -> dict[str, Any]:
    """Wait for the execution to finish, saying each status Tiqets reports as it comes."""
    from tiqets_tracker_local.stack import FINISHED_STATUSES

    seen: tuple[Any, Any] = (None, None)
    while True:
        described: dict[str, Any] = stack.describe(execution_arn)
        record = stack.record(order_reference_id) or {}
        now = (record.get("last_status"), record.get("checks_made"))
        if now != seen and now[1] is not None:
            status = now[0] or "nothing (the check failed)"
            _say(out, f"check {int(now[1])}: Tiqets says {status}")
            seen = now
        if described["status"] in FINISHED_STATUSES:
            return described
        time.sleep(_POLL_SECONDS)


def _export(
    stack: Any, voucher: dict[str, Any], options: TrackOptions, result: TrackResult
) -> None:
    options.out.mkdir(parents=True, exist_ok=True)
    s3 = stack.client("s3")
    body = s3.get_object(Bucket=voucher["bucket"], Key=voucher["key"])["Body"].read()
    path = options.out / f"{options.order_reference_id}-{options.lang}.pdf"
    path.write_bytes(body)
    result.voucher_path = path
    result.sha256 = hashlib.sha256(body).hexdigest()
    information_key = voucher.get("information_key")
    if information_key:
        information = s3.get_object(Bucket=voucher["bucket"], Key=information_key)
        order_path = path.with_suffix(".json")
        order_path.write_bytes(information["Body"].read())
        result.order_json_path = order_path


def _report(result: TrackResult, out: TextIO) -> None:
    _say(
        out,
        f"outcome: {result.outcome or 'none (the execution ended without one)'}"
        f" after {result.checks} check(s), {result.webhook_wakeups} webhook wake-up(s)",
    )
    if result.failure:
        _say(out, f"failure: {result.failure['error']}: {result.failure['message']}")
    if result.voucher_path is not None:
        _say(out, f"voucher: {result.voucher_path} (sha256 {result.sha256})")
    if result.order_json_path is not None:
        _say(out, f"order: {result.order_json_path}")
