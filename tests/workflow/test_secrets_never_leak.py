"""No secret leaks: the demo's scenarios, plus refused API calls, malformed
Tiqets answers and forged callbacks, run on the local stack with secret values known to the test
(a canary API key, the stack's webhook signing key, every task token the run issued); then every
log line, execution history, outcome event, tracking record, stored object and the summary is
scanned for them. Finding one anywhere is a leak.

The run happens in a child process, once for the module: that way every byte the process writes
to its stdout and stderr (Powertools loggers print JSON there) is captured at the file
descriptor, whatever stream a logger bound when it was created, and a root handler at DEBUG
records every library's log records as well (what caplog at DEBUG would see).

Where task tokens may be by design, and so are not searched for, is said in
local/tiqets_tracker_local/oracles/leaks.py, which the soak's search shares with this test.

Run by hand: `python -m tests.workflow.test_secrets_never_leak OUT_DIR` with LEAK_CANARY_API_KEY
set.
"""

from __future__ import annotations

import json
import os
import secrets
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from tiqets_tracker_local.oracles.leaks import found, key_needles, stored_objects, task_tokens_in

pytestmark = pytest.mark.workflow

REPO = Path(__file__).resolve().parents[2]
TIME_SCALE = 90  # simulated seconds per real second: the demo's 11 minutes take 7.3 s
WEBHOOK_PARAMETERS = {
    "WebhookEnabled": "true",
    "BackoffBaseSeconds": "2",
    "BackoffCapSeconds": "3",
    "DeadlineSeconds": "12",
}
POLLING_PARAMETERS = {
    "WebhookEnabled": "false",
    "BackoffBaseSeconds": "1",
    "BackoffCapSeconds": "1",
    "DeadlineSeconds": "12",
}
RUN_TIMEOUT_SECONDS = 45.0


# -- the run (in the child process) -----------------------------------------------------------


def _extra_orders() -> list[Any]:
    """Scenarios beyond the demo's whose error paths carry messages: a refused key, a body that
    is not JSON, a voucher that is not a PDF."""
    from tiqets_tracker_local.scenarios import DemoOrder
    from tiqets_tracker_local.simulator import Fault, Scenario

    return [
        DemoOrder(
            "API refuses the key (401)",
            "9100001",
            Scenario(faults=(Fault(status=401),)),
            ("TrackingFailed",),
        ),
        DemoOrder(
            "an answer that is not JSON, then failed",
            "9100002",
            Scenario(timeline=((0.0, "failed"),), faults=(Fault(body=b"<html>oops</html>"),)),
            ("OrderFailed",),
            polling_only=True,
        ),
        DemoOrder(
            "voucher that is not a PDF",
            "9100003",
            Scenario(voucher="not_pdf"),
            ("TrackingFailed",),
        ),
    ]


def _with_time_to_spare(order: Any) -> Any:
    """The demo's late cancellation 15 simulated minutes after done instead of 5, so that even a
    slow first check (every library logging at DEBUG) still sees done first."""
    from dataclasses import replace

    from tiqets_tracker_local.simulator import Scenario

    if order.order_reference_id != "9000005":
        return order
    return replace(order, tiqets=Scenario(timeline=((0.0, "done"), (15 * 60.0, "cancelled"))))


def _post(url: str, body: bytes) -> int:
    import urllib.error
    import urllib.request

    request = urllib.request.Request(
        url, data=body, method="POST", headers={"Content-Type": "application/json"}
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return int(response.status)
    except urllib.error.HTTPError as error:
        return int(error.code)


def _forge_callbacks(webhook_url: str, order_reference_id: str, valid_url: str) -> list[int]:
    """Callbacks an attacker could send: no signature, a wrong one, another order's, a body for
    an order that is not the URL's. Their refusals are logged, so they are part of the scan."""
    body = json.dumps({"order_reference_id": order_reference_id}).encode()
    query = valid_url.split("?", 1)[1]
    wrong = query[: query.rindex("sig=") + 4] + "A" * 43
    return [
        _post(webhook_url, body),
        _post(f"{webhook_url}?{wrong}", body),
        _post(f"{webhook_url}?sig={'B' * 43}", body),
        _post(valid_url, json.dumps({"order_reference_id": "not an id"}).encode()),
    ]


def run(out_dir: Path) -> None:
    """Track the demo's orders and the extra ones to their outcomes; write what was produced."""
    import logging

    from tiqets_tracker.callback_urls import callback_url
    from tiqets_tracker_local.scenarios import demo_orders
    from tiqets_tracker_local.simulator import TiqetsSimulator
    from tiqets_tracker_local.stack import FINISHED_STATUSES, LocalStack
    from tiqets_tracker_local.webhook_server import LocalWebhookEndpoint

    # What caplog at DEBUG sees: every record of every logger, one JSON object a line.
    class JsonLines(logging.Handler):
        def __init__(self, path: Path) -> None:
            super().__init__(logging.DEBUG)
            self._file = path.open("a", encoding="utf-8")

        def emit(self, record: logging.LogRecord) -> None:
            entry = {
                "logger": record.name,
                "level": record.levelname,
                "message": record.getMessage(),
                "args": repr(record.args),
                "exc_text": self.format(record) if record.exc_info else None,
                "extra": {
                    key: repr(value)
                    for key, value in record.__dict__.items()
                    if key not in logging.LogRecord("", 0, "", 0, "", (), None).__dict__
                },
            }
            self._file.write(json.dumps(entry) + "\n")
            self._file.flush()

    api_key = os.environ["LEAK_CANARY_API_KEY"]
    orders = [_with_time_to_spare(order) for order in [*demo_orders(), *_extra_orders()]]
    produced: dict[str, Any] = {}
    with (
        TiqetsSimulator(api_key=api_key, time_scale=TIME_SCALE) as tiqets,
        LocalStack(
            tiqets_base_url=tiqets.base_url,
            api_key=api_key,
            parameters=WEBHOOK_PARAMETERS,
            log_level="DEBUG",
        ) as stack,
        LocalWebhookEndpoint(function_name=stack.webhook_function_name) as webhook,
    ):
        (out_dir / "signing_key.txt").write_text(stack.webhook_signing_key)
        # Recorded from here: standing the stack up stores both keys in Secrets Manager (an
        # operator's job in a deployment, and botocore logs that request's body at DEBUG).
        root = logging.getLogger()
        root.setLevel(logging.DEBUG)
        root.addHandler(JsonLines(out_dir / "log_records.jsonl"))
        polling = stack.state_machine(**POLLING_PARAMETERS)
        arns: dict[str, str] = {}
        urls: dict[str, str] = {}
        for order in orders:
            reference = f"leak-{order.order_reference_id}"
            urls[order.order_reference_id] = callback_url(
                webhook.url, external_reference=reference, key=stack.webhook_signing_key.encode()
            )
            tiqets.add_order(
                order.order_reference_id,
                order.tiqets,
                lang=order.lang,
                callback_url=None if order.polling_only else urls[order.order_reference_id],
            )
            started = stack.start_tracking(
                order.order_reference_id,
                lang=order.lang,
                external_reference=reference,
                state_machine_arn=polling if order.polling_only else None,
            )
            arns[order.order_reference_id] = started.execution_arn
        produced["forged_callback_statuses"] = _forge_callbacks(
            webhook.url, "9000002", urls["9000001"]
        )

        deadline = time.monotonic() + RUN_TIMEOUT_SECONDS
        while time.monotonic() < deadline:
            announced = {
                order.order_reference_id: [
                    e.detail_type for e in stack.outcomes_for(order.order_reference_id)
                ]
                for order in orders
            }
            if all(
                len(announced[order.order_reference_id]) >= len(order.expected) for order in orders
            ) and all(e["status"] in FINISHED_STATUSES for e in stack.executions()):
                break
            time.sleep(0.25)

        produced["orders"] = [
            {
                "scenario": order.scenario,
                "order_reference_id": order.order_reference_id,
                "expected": list(order.expected),
                "outcomes": [e.detail_type for e in stack.outcomes_for(order.order_reference_id)],
                "authorized_calls": tiqets.ticket_calls(order.order_reference_id),
            }
            for order in orders
        ]
        descriptions = [stack.describe(e["executionArn"]) for e in stack.executions()]
        produced["executions"] = [
            {
                "arn": description["executionArn"],
                "status": description["status"],
                "description": description,
                "history": stack.history(description["executionArn"]),
            }
            for description in descriptions
        ]
        produced["outcome_events"] = [
            {"detail_type": e.detail_type, "detail": e.detail, "resources": e.resources}
            for e in stack.outcome_events()
        ]
        produced["records"] = stack.records()
        produced["objects"] = list(stored_objects(stack))
    (out_dir / "produced.json").write_text(json.dumps(produced, default=str, indent=1))
    # The summary the demo writes, for these orders.
    (out_dir / "summary.json").write_text(json.dumps(produced["orders"], indent=2))


if __name__ == "__main__":
    run(Path(sys.argv[1]))


# -- the scans (in the test process) ----------------------------------------------------------


class Run:
    def __init__(self, out_dir: Path, api_key: str, stdout: str, stderr: str) -> None:
        self.out_dir = out_dir
        self.api_key = api_key
        self.stdout = stdout
        self.stderr = stderr
        self.signing_key = (out_dir / "signing_key.txt").read_text()
        self.produced: dict[str, Any] = json.loads((out_dir / "produced.json").read_text())
        self.records = [
            json.loads(line)
            for line in (out_dir / "log_records.jsonl").read_text("utf-8").splitlines()
        ]
        self.summary = (out_dir / "summary.json").read_text()
        self.task_tokens = sorted(
            {
                token
                for execution in self.produced["executions"]
                for token in task_tokens_in(execution["history"])
            }
        )

    def key_needles(self) -> list[str]:
        return key_needles(self.api_key, self.signing_key)

    def all_needles(self) -> list[str]:
        return [*self.key_needles(), *self.task_tokens]


@pytest.fixture(scope="module")
def leak_run(tmp_path_factory: pytest.TempPathFactory) -> Run:
    out_dir = tmp_path_factory.mktemp("leak-run")
    api_key = f"sk-LEAKCANARY-{secrets.token_hex(12)}"
    environ = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("AWS_", "POWERTOOLS_", "TIQETS_"))
    }
    environ |= {
        "LEAK_CANARY_API_KEY": api_key,
        "PYTHONPATH": os.pathsep.join([str(REPO), str(REPO / "functions")]),
        "AWS_DEFAULT_REGION": "eu-west-1",
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
    }
    finished = subprocess.run(  # noqa: S603 (our own interpreter and module)
        [sys.executable, "-m", "tests.workflow.test_secrets_never_leak", str(out_dir)],
        cwd=REPO,
        env=environ,
        capture_output=True,
        text=True,
        timeout=RUN_TIMEOUT_SECONDS + 60,
        check=False,
    )
    assert finished.returncode == 0, finished.stderr[-3000:]
    return Run(out_dir, api_key, finished.stdout, finished.stderr)


def test_the_run_tracked_every_scenario_to_its_expected_outcomes_with_the_canary_key(
    leak_run: Run,
) -> None:
    orders = leak_run.produced["orders"]
    assert [(o["order_reference_id"], o["outcomes"]) for o in orders] == [
        (o["order_reference_id"], o["expected"]) for o in orders
    ]
    # The key was used (the simulator only counts authenticated calls), webhooks parked on task
    # tokens, and the logs were captured (at DEBUG): otherwise the scans below would prove nothing.
    assert all(o["authorized_calls"] >= 1 for o in orders)
    assert len(leak_run.task_tokens) >= 3
    assert all(len(token) >= 20 for token in leak_run.task_tokens)
    assert any(r["level"] == "DEBUG" for r in leak_run.records)
    assert '"message":"order checked"' in leak_run.stdout  # Powertools' JSON lines
    assert all(e["status"] == "SUCCEEDED" for e in leak_run.produced["executions"])


def test_forged_callbacks_are_refused_without_a_server_error(leak_run: Run) -> None:
    statuses = leak_run.produced["forged_callback_statuses"]
    assert len(statuses) == 4
    assert all(400 <= status < 500 for status in statuses), statuses


def test_no_line_the_process_printed_contains_a_key_or_a_task_token(leak_run: Run) -> None:
    assert leak_run.stdout.strip()
    assert found(leak_run.all_needles(), leak_run.stdout) == []
    assert found(leak_run.all_needles(), leak_run.stderr) == []


def test_no_log_record_of_this_project_contains_a_key_or_a_task_token(leak_run: Run) -> None:
    ours = [
        r
        for r in leak_run.records
        if not r["logger"].startswith(("botocore", "boto3", "urllib3", "moto", "s3transfer"))
    ]
    assert ours
    assert found(leak_run.all_needles(), json.dumps(ours)) == []


def test_no_debug_record_of_any_library_contains_the_api_key_or_the_signing_key(
    leak_run: Run,
) -> None:
    # secret_store.py silences botocore's body loggers while a secret is fetched: at DEBUG, the
    # records of botocore, urllib3 and moto must not show either key either.
    assert any(r["logger"].startswith("botocore") for r in leak_run.records)
    assert found(leak_run.key_needles(), json.dumps(leak_run.records)) == []


def test_no_debug_record_of_the_projects_own_aws_calls_contains_a_task_token(
    leak_run: Run,
) -> None:
    # The product's own DynamoDB calls are the UpdateItems of records.py, answered with the
    # record ("Attributes"). Other token-bearing records are the stand-ins' work, not logs a
    # deployment writes: the park step's UpdateItem request (made inside Step Functions on AWS)
    # and the histories this test reads back.
    parsed = [r["message"] for r in leak_run.records if r["logger"] == "botocore.parsers"]
    assert parsed  # botocore's DEBUG records of AWS answers were captured at all
    answers = [message for message in parsed if '{"Attributes"' in message]
    assert found(leak_run.task_tokens, "\n".join(answers)) == []


def test_no_execution_history_or_description_contains_the_api_key_or_the_signing_key(
    leak_run: Run,
) -> None:
    executions = leak_run.produced["executions"]
    assert len(executions) >= len(leak_run.produced["orders"])
    for execution in executions:
        text = json.dumps(execution)
        assert found(leak_run.key_needles(), text) == [], execution["arn"]


def test_no_error_in_an_execution_history_carries_a_task_token(leak_run: Run) -> None:
    failures = [
        json.dumps(details)
        for execution in leak_run.produced["executions"]
        for event in execution["history"]
        for name, details in event.items()
        if name.endswith("FailedEventDetails") or name.endswith("TimedOutEventDetails")
    ]
    assert failures  # the refused key, the malformed answer, the bad voucher, the timeouts
    assert found(leak_run.task_tokens, "\n".join(failures)) == []


def test_no_outcome_event_contains_a_key_or_a_task_token(leak_run: Run) -> None:
    events = leak_run.produced["outcome_events"]
    assert len(events) == sum(len(o["expected"]) for o in leak_run.produced["orders"])
    assert found(leak_run.all_needles(), json.dumps(events)) == []


def test_no_tracking_record_contains_a_key_or_a_task_token_once_tracking_ended(
    leak_run: Run,
) -> None:
    records = leak_run.produced["records"]
    assert len(records) == len(leak_run.produced["orders"])
    assert found(leak_run.all_needles(), json.dumps(records)) == []


def test_no_stored_object_contains_a_key_or_a_task_token(leak_run: Run) -> None:
    objects = leak_run.produced["objects"]
    assert any(o["key"].endswith(".pdf") for o in objects)
    for stored in objects:
        assert found(leak_run.all_needles(), json.dumps(stored)) == [], stored["key"]


def test_the_summary_contains_no_key_or_task_token(leak_run: Run) -> None:
    assert "9000001" in leak_run.summary
    assert found(leak_run.all_needles(), leak_run.summary) == []
