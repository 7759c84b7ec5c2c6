"""Domain log records reach CloudWatch as Powertools JSON under the Lambda Python runtime.

The runtime (awslambdaric's bootstrap.py, `_setup_logging`) gives the root logger a plain-text
handler, and sets its level only when an application log level (`AWS_LAMBDA_LOG_LEVEL`) is
configured: otherwise it stays at Python's WARNING. pytest's caplog captures standard-library
records whatever happens in Lambda, so each case here runs in a fresh interpreter that sets the
root logger up the way the runtime does, imports a handler as the runtime would (CodeUri
functions/, `<handler>.app`), and logs INFO from every domain module that logs.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

import pytest

from tiqets_tracker_local.template import PROJECT_ROOT, load_sam_template

pytestmark = pytest.mark.unit

HANDLERS = ["check_order_status", "store_vouchers", "sweep_orders", "webhook"]
DOMAIN_LOGGERS = [
    "tiqets_tracker.checking",
    "tiqets_tracker.sweep",
    "tiqets_tracker.tiqets",
    "tiqets_tracker.vouchers",
]
CORRELATION_ID = "7654321"

# What awslambdaric's _setup_logging leaves when AWS_LAMBDA_LOG_LEVEL is unset: a text handler
# on the root logger, the root level untouched (WARNING).
RUNTIME_SETUP = """
import logging, sys
root = logging.getLogger()
handler = logging.StreamHandler(sys.stdout)
handler.setFormatter(logging.Formatter("[%(levelname)s]\\t%(asctime)s\\t%(message)s"))
root.addHandler(handler)
"""


STACK_NAME = "tiqets-tracker"


def service_name() -> str:
    """The service name the template gives the functions, in a stack named STACK_NAME."""
    environment = load_sam_template()["Globals"]["Function"]["Environment"]["Variables"]
    assert environment["POWERTOOLS_SERVICE_NAME"] == {"Ref": "AWS::StackName"}
    return STACK_NAME


def run_in_runtime(handler: str | None) -> list[str]:
    """stdout lines of a fresh interpreter set up like the runtime, with the handler imported
    (None: no handler), after each domain logger logged one INFO probe."""
    importing = (
        f"import {handler}.app as app\napp.logger.set_correlation_id({CORRELATION_ID!r})"
        if handler
        else ""
    )
    probes = "\n".join(
        f"logging.getLogger({name!r}).info('probe ' + {name!r})" for name in DOMAIN_LOGGERS
    )
    script = RUNTIME_SETUP + importing + "\n" + probes + "\n"
    environment = {
        "PATH": os.environ.get("PATH", ""),
        "PYTHONPATH": str(PROJECT_ROOT / "functions"),
        "POWERTOOLS_SERVICE_NAME": service_name(),
        "POWERTOOLS_LOG_LEVEL": "INFO",
        "POWERTOOLS_METRICS_NAMESPACE": "TiqetsTracker",
        "AWS_DEFAULT_REGION": "eu-west-1",
    }
    finished = subprocess.run(  # noqa: S603 - our own script, run by our own interpreter
        [sys.executable, "-c", textwrap.dedent(script)],
        capture_output=True,
        text=True,
        env=environment,
        cwd=PROJECT_ROOT / "functions",
        timeout=60,
        check=False,
    )
    assert finished.returncode == 0, finished.stderr
    return finished.stdout.splitlines()


@pytest.mark.parametrize("handler", HANDLERS)
def test_an_info_record_of_each_domain_module_is_one_powertools_json_line(handler: str) -> None:
    lines = run_in_runtime(handler)

    for name in DOMAIN_LOGGERS:
        matching = [line for line in lines if f"probe {name}" in line]
        assert len(matching) == 1, (name, lines)
        record = json.loads(matching[0])
        assert record["level"] == "INFO"
        assert record["service"] == service_name()
        assert record["correlation_id"] == CORRELATION_ID
        assert record["message"] == f"probe {name}"


def test_without_the_handlers_set_up_the_runtime_drops_them() -> None:
    # The control: the root logger the runtime leaves drops INFO, so the test above would fail
    # if handler_logger() did not route the domain modules through Powertools.
    assert not [line for line in run_in_runtime(None) if "probe" in line]
