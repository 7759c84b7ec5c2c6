"""`tiqets-tracker track` end to end: the command stands up its own local stack (one at a time in
this process) and tracks one order on the Tiqets simulator, which plays the API on loopback.

Back-offs that should not finish an order within a test are 600 s; nothing here asserts a
wall-clock duration.
"""

from __future__ import annotations

import hashlib
import json
import os
import socket
import sys
import threading
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tiqets_tracker_local.cli import main
from tiqets_tracker_local.simulator import Scenario, TiqetsSimulator
from tiqets_tracker_local.stack import LocalStack
from tiqets_tracker_local.track import (
    EXIT_BAD_USAGE,
    EXIT_ERROR,
    EXIT_FULFILMENT_TIMED_OUT,
    EXIT_ORDER_CANCELLED,
    EXIT_ORDER_FAILED,
    EXIT_TICKETS_READY,
    EXIT_TRACKING_FAILED,
)

pytestmark = pytest.mark.workflow

API_KEY = "sk-cli-test-5d1e8b"
KEY_ENV = "TIQETS_TRACKER_CLI_TEST_KEY"
FAST = ["--backoff-base", "1", "--backoff-cap", "1", "--deadline", "600"]
PARKED_FOR_LONG = ["--backoff-base", "600", "--backoff-cap", "600", "--deadline", "3600"]


@pytest.fixture(scope="module")
def tiqets() -> Iterator[TiqetsSimulator]:
    with TiqetsSimulator(api_key=API_KEY) as simulator:
        yield simulator


@pytest.fixture(autouse=True)
def api_key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(KEY_ENV, API_KEY)


def track_argv(tiqets: TiqetsSimulator, order_id: str, out: Path, *extra: str) -> list[str]:
    return [
        "track",
        order_id,
        "--tiqets-url",
        tiqets.base_url,
        "--api-key-env",
        KEY_ENV,
        "--out",
        str(out),
        "--json",
        *extra,
    ]


def summary_of(stdout: str) -> dict[str, Any]:
    """The --json summary: the last line of standard output."""
    summary: dict[str, Any] = json.loads(stdout.strip().splitlines()[-1])
    return summary


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def test_a_ready_order_exits_0_with_its_voucher_and_order_in_the_out_folder(
    tiqets: TiqetsSimulator, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    tiqets.add_order("8100001")

    code = main(track_argv(tiqets, "8100001", tmp_path, *FAST))

    captured = capsys.readouterr()
    summary = summary_of(captured.out)
    assert code == EXIT_TICKETS_READY
    assert summary["outcome"] == "TicketsReady"
    assert summary["order_reference_id"] == "8100001"
    assert summary["checks"] >= 1
    assert summary["webhook_wakeups"] == 0
    voucher = Path(summary["voucher_path"])
    assert voucher.parent == tmp_path
    assert voucher.read_bytes() == tiqets.voucher_bytes("8100001")
    assert summary["sha256"] == hashlib.sha256(tiqets.voucher_bytes("8100001")).hexdigest()
    assert json.loads(voucher.with_suffix(".json").read_text())
    assert API_KEY not in captured.out + captured.err


@pytest.mark.parametrize(
    ("order_id", "timeline", "outcome", "expected_code"),
    [
        ("8100002", ((0.0, "failed"),), "OrderFailed", EXIT_ORDER_FAILED),
        ("8100003", ((0.0, "cancelled"),), "OrderCancelled", EXIT_ORDER_CANCELLED),
    ],
)
def test_a_final_status_other_than_done_exits_with_its_own_code_and_no_voucher(
    tiqets: TiqetsSimulator,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    *,
    order_id: str,
    timeline: tuple[tuple[float, str], ...],
    outcome: str,
    expected_code: int,
) -> None:
    tiqets.add_order(order_id, Scenario(timeline=timeline))

    code = main(track_argv(tiqets, order_id, tmp_path, *FAST))

    summary = summary_of(capsys.readouterr().out)
    assert code == expected_code
    assert summary["outcome"] == outcome
    assert "voucher_path" not in summary
    assert list(tmp_path.iterdir()) == []


def test_an_order_still_pending_at_the_deadline_exits_with_the_timed_out_code(
    tiqets: TiqetsSimulator, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    tiqets.add_order("8100004", "always_pending")

    code = main(
        track_argv(
            tiqets, "8100004", tmp_path, "--backoff-base", "1", "--backoff-cap", "1",
            "--deadline", "2",
        )
    )  # fmt: skip

    summary = summary_of(capsys.readouterr().out)
    assert code == EXIT_FULFILMENT_TIMED_OUT
    assert summary["outcome"] == "FulfilmentTimedOut"
    assert summary["checks"] >= 2


def test_an_order_tiqets_does_not_know_ends_in_tracking_failed_with_the_404(
    tiqets: TiqetsSimulator, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(track_argv(tiqets, "8100404", tmp_path, *FAST))

    captured = capsys.readouterr()
    summary = summary_of(captured.out)
    assert code == EXIT_TRACKING_FAILED
    assert summary["outcome"] == "TrackingFailed"
    assert summary["failure"]["error"] == "TiqetsRequestRejectedError"
    assert "404" in summary["failure"]["message"]
    assert len(captured.err.splitlines()) == 1
    assert "404" in captured.err
    assert "Traceback" not in captured.out + captured.err


def test_a_callback_posted_to_the_printed_url_finishes_a_parked_order_at_once(
    tiqets: TiqetsSimulator, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # No callback URL at Tiqets: the only callback is the one this test POSTs.
    tiqets.add_order("8100005", "always_pending")
    read_end, write_end = os.pipe()
    writer = os.fdopen(write_end, "w")
    monkeypatch.setattr(sys, "stdout", writer)
    codes: list[int] = []

    def run() -> None:
        try:
            argv = track_argv(tiqets, "8100005", tmp_path, "--webhook-port", "0", *PARKED_FOR_LONG)
            codes.append(main(argv))
        finally:
            writer.close()

    worker = threading.Thread(target=run, daemon=True)
    worker.start()
    lines: list[str] = []
    callback_urls: list[str] = []
    answers: list[int] = []
    with os.fdopen(read_end) as reader:
        for line in reader:
            lines.append(line)
            if line.startswith("callback_url: "):
                callback_urls.append(line.removeprefix("callback_url: ").strip())
            if line.startswith("check 1:") and callback_urls:
                # Tiqets fulfils the order and calls back; only the callback can end the wait.
                tiqets.set_status("8100005", "done")
                body = json.dumps({"order_reference_id": "8100005"}).encode()
                request = urllib.request.Request(callback_urls[0], data=body, method="POST")
                with urllib.request.urlopen(request, timeout=10) as response:
                    answers.append(int(response.status))
    worker.join(timeout=60)

    summary = summary_of("".join(lines))
    assert len(callback_urls) == 1
    assert callback_urls[0].startswith("http://127.0.0.1:")
    assert "sig=" in callback_urls[0]
    assert answers
    assert 200 <= answers[0] < 300
    assert codes == [EXIT_TICKETS_READY]
    assert summary["outcome"] == "TicketsReady"
    assert summary["webhook_wakeups"] >= 1
    assert Path(summary["voucher_path"]).read_bytes() == tiqets.voucher_bytes("8100005")


def test_a_missing_api_key_is_one_line_on_stderr_and_exit_2(
    tiqets: TiqetsSimulator,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv(KEY_ENV)

    code = main(track_argv(tiqets, "8100006", tmp_path))

    captured = capsys.readouterr()
    assert code == EXIT_BAD_USAGE
    assert captured.out == ""
    assert len(captured.err.splitlines()) == 1
    assert KEY_ENV in captured.err


def test_a_webhook_port_in_use_is_one_line_on_stderr_and_a_non_zero_exit(
    tiqets: TiqetsSimulator, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]

        code = main(track_argv(tiqets, "8100007", tmp_path, "--webhook-port", str(port)))

    captured = capsys.readouterr()
    assert code == EXIT_ERROR
    assert captured.err.splitlines() == [captured.err.strip()]
    assert str(port) in captured.err
    assert "in use" in captured.err


def test_an_unreachable_tiqets_is_one_line_on_stderr_and_a_non_zero_exit(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    url = f"http://127.0.0.1:{free_port()}/v2/"

    code = main(
        ["track", "8100008", "--tiqets-url", url, "--api-key-env", KEY_ENV, "--out", str(tmp_path)]
    )

    captured = capsys.readouterr()
    assert code == EXIT_ERROR
    assert len(captured.err.splitlines()) == 1
    assert "cannot reach the Tiqets API" in captured.err
    assert API_KEY not in captured.err


@pytest.mark.parametrize(
    "bad",
    [
        ["--deadline", "0"],
        ["--deadline", "90000"],
        ["--backoff-base", "soon"],
        ["--backoff-base", "10", "--backoff-cap", "5"],
        ["--webhook-port", "70000"],
        ["--lang", "English"],
        ["--tiqets-url", "ftp://example.com/"],
    ],
)
def test_a_bad_option_value_is_one_line_on_stderr_and_exit_2(
    tiqets: TiqetsSimulator, tmp_path: Path, capsys: pytest.CaptureFixture[str], bad: list[str]
) -> None:
    try:
        code = main([*track_argv(tiqets, "8100009", tmp_path), *bad])
    except SystemExit as exit_:  # argparse's own refusals
        code = int(exit_.code or 0)

    captured = capsys.readouterr()
    assert code == EXIT_BAD_USAGE
    assert len(captured.err.splitlines()) == 1
    assert "error" in captured.err
    assert "Traceback" not in captured.err


def test_a_stack_without_loopback_vouchers_refuses_the_simulators_voucher_url(
    tiqets: TiqetsSimulator,
) -> None:
    # What `track` stands up for a --tiqets-url that is not on loopback: production voucher
    # rules, which refuse an http voucher URL on 127.0.0.1.
    tiqets.add_order("8100010")
    with LocalStack(
        tiqets_base_url=tiqets.base_url,
        api_key=API_KEY,
        parameters={"WebhookEnabled": "false", "BackoffBaseSeconds": "1"},
        allow_loopback_vouchers=False,
    ) as stack:
        started = stack.start_tracking("8100010")
        stack.wait_for(started.execution_arn, timeout=60)
        events = stack.outcomes_for("8100010")

    assert [event.detail_type for event in events] == ["TrackingFailed"]
    assert events[0].detail["voucher"] is None
