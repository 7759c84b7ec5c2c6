"""OPERATIONS.md is true: every alarm of the template has its entry, every reason the tracker can
publish a TrackingFailed for is explained, every `tiqets-tracker` command it shows is one the CLI
accepts, and the example output of `status` and `start` is what those commands print."""

from __future__ import annotations

import argparse
import json
import re
import shlex
from dataclasses import dataclass, field
from datetime import UTC, datetime
from io import StringIO
from typing import Any

import pytest

from tiqets_tracker import tiqets
from tiqets_tracker.outcomes import Outcome
from tiqets_tracker_local import cli, operate
from tiqets_tracker_local.template import PROJECT_ROOT, load_sam_template

pytestmark = pytest.mark.unit

DOC = PROJECT_ROOT / "OPERATIONS.md"
DEFINITION = PROJECT_ROOT / "statemachine" / "order_tracking.asl.json"
OUTCOME_SCHEMA = PROJECT_ROOT / "schemas" / "outcome_event.schema.json"

_FENCE = re.compile(r"^```[^\n]*\n(.*?)^```", re.MULTILINE | re.DOTALL)
_SUBHEADING = re.compile(r"^### .*$", re.MULTILINE)
_CODE_SPAN = re.compile(r"`([^`\n]+)`")


def doc() -> str:
    return DOC.read_text("utf-8")


def section(title: str) -> str:
    """The text of the doc's `## <title>` section, up to the next `## ` heading."""
    text = doc()
    start = re.search(rf"^## {re.escape(title)}$", text, re.MULTILINE)
    assert start is not None, f"OPERATIONS.md has no section '## {title}'"
    rest = text[start.end() :]
    end = re.search(r"^## ", rest, re.MULTILINE)
    return rest if end is None else rest[: end.start()]


def headings_named(title: str) -> list[str]:
    """The names in backticks of the `### ` headings of a section."""
    return [
        name
        for heading in _SUBHEADING.findall(section(title))
        for name in _CODE_SPAN.findall(heading)
    ]


def subsection(title: str, name: str) -> str:
    """The text under the `### ` heading of a section that names `name` in backticks."""
    text = section(title)
    start = re.search(rf"^### .*`{re.escape(name)}`.*$", text, re.MULTILINE)
    assert start is not None, f"'## {title}' has no '### ' heading naming `{name}`"
    rest = text[start.end() :]
    end = re.search(r"^### ", rest, re.MULTILINE)
    return rest if end is None else rest[: end.start()]


# Alarms


def template_alarms() -> set[str]:
    resources = load_sam_template()["Resources"]
    return {
        name
        for name, resource in resources.items()
        if resource.get("Type") == "AWS::CloudWatch::Alarm"
    }


def test_every_alarm_of_the_template_has_an_entry() -> None:
    alarms = template_alarms()

    assert len(alarms) >= 4
    assert alarms - set(headings_named("Alarms")) == set()


def test_every_alarm_the_doc_describes_is_in_the_template_or_being_added() -> None:
    described = headings_named("Alarms")

    assert len(described) == len(set(described)), "an alarm is described twice"
    assert set(described) - template_alarms() == set()


@pytest.mark.parametrize("alarm", sorted(template_alarms()))
def test_each_alarm_entry_says_what_it_means_how_urgent_where_to_look_and_what_to_do(
    alarm: str,
) -> None:
    entry = subsection("Alarms", alarm)

    for part in ("**Means**", "**Urgency**", "**Look first**", "**Do**"):
        assert part in entry, f"{alarm}: no {part}"


# TrackingFailed reasons


def definition_states() -> dict[str, dict[str, Any]]:
    states: dict[str, dict[str, Any]] = json.loads(DEFINITION.read_text("utf-8"))["States"]
    return states


def tracking_failed_entries() -> set[str]:
    """The states that turn an error into the TrackingFailed outcome (NoteTrackingFailed)."""
    return {
        name
        for name, state in definition_states().items()
        if state.get("Result") == Outcome.TRACKING_FAILED.value
        and state.get("ResultPath") == "$.outcome"
    }


def _routed_to_tracking_failed(state: dict[str, Any]) -> tuple[set[str], bool]:
    """The error names a Task's Catch sends to TrackingFailed, and whether it sends the rest
    (States.ALL) there too. A bare name in its Retry that no earlier catcher takes elsewhere
    reaches a States.ALL catcher once its attempts are spent, so it is a reason as well. So is
    a Lambda or Sandbox error the state's comment names (a crash, retried as States.TaskFailed)
    when no catcher takes it elsewhere."""
    entries = tracking_failed_entries()
    retried = {
        name
        for retrier in state.get("Retry", [])
        for name in retrier["ErrorEquals"]
        if not name.startswith("States.")
    }
    mentioned = set(re.findall(r"\b(?:Lambda|Sandbox)\.\w+", state.get("Comment", "")))
    seen: set[str] = set()
    reasons: set[str] = set()
    catch_all = False
    for catcher in state.get("Catch", []):
        names = set(catcher["ErrorEquals"])
        if catcher["Next"] in entries:
            reasons |= names - {"States.ALL"}
            if "States.ALL" in names:
                catch_all = True
                reasons |= (retried | mentioned) - seen
        seen |= names
    return reasons, catch_all


def tracking_failed_reasons() -> set[str]:
    """Every `failure.Error` a TrackingFailed event can name that the definition spells out."""
    reasons: set[str] = set()
    for state in definition_states().values():
        routed, _ = _routed_to_tracking_failed(state)
        reasons |= routed
    return reasons


def test_the_reasons_are_found_in_the_definition_at_all() -> None:
    assert len(tracking_failed_entries()) == 1
    reasons = tracking_failed_reasons()

    assert {"TiqetsRequestRejectedError", "TiqetsUnavailableError", "VoucherDownloadError"} <= (
        reasons
    )
    assert "Lambda.Unknown" in reasons


@pytest.mark.parametrize("reason", sorted(tracking_failed_reasons()))
def test_every_reason_the_definition_can_publish_is_documented(reason: str) -> None:
    assert reason in headings_named("TrackingFailed reasons")


def test_every_error_the_outcome_schema_names_for_a_failure_is_documented() -> None:
    schema = json.loads(OUTCOME_SCHEMA.read_text("utf-8"))
    description = schema["properties"]["failure"]["description"]
    named = set(re.findall(r"\b[A-Z]\w+Error\b", description))

    assert named
    assert named - set(headings_named("TrackingFailed reasons")) == set()


def test_every_state_that_sends_the_rest_to_tracking_failed_has_its_crashes_documented() -> None:
    # A States.ALL catcher also takes what nobody named: a crash's own error name.
    states = [s for s in definition_states().values() if _routed_to_tracking_failed(s)[1]]
    crash_entry = subsection("TrackingFailed reasons", "Lambda.Unknown")

    assert states
    assert "States.TaskFailed" in crash_entry
    assert "other error name" in crash_entry


@pytest.mark.parametrize(
    ("status", "hint"),
    sorted(
        (status, hint)
        for status, hint in tiqets._STATUS_HINTS.items()
        if 400 <= status < 500 and status not in tiqets._UNAVAILABLE_STATUSES
    ),
)
def test_every_refusal_message_of_the_tiqets_client_is_explained(status: int, hint: str) -> None:
    entry = subsection("TrackingFailed reasons", "TiqetsRequestRejectedError")

    assert f"Tiqets answered HTTP {status} ({hint})" in entry


def test_every_way_an_execution_fails_on_purpose_is_under_the_failed_executions_alarm() -> None:
    fail_errors = {
        state["Error"] for state in definition_states().values() if state["Type"] == "Fail"
    }
    entry = subsection("Alarms", "FailedExecutionsAlarm")

    assert fail_errors
    for error in fail_errors:
        assert f"`{error}`" in entry, error


# The tiqets-tracker command


def subparsers() -> dict[str, argparse.ArgumentParser]:
    parser = cli.build_parser()
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            return dict(action.choices)
    raise AssertionError("tiqets-tracker has no subcommands")


def option_strings(parser: argparse.ArgumentParser) -> set[str]:
    return {option for action in parser._actions for option in action.option_strings}


def _command_tokens(line: str) -> list[str] | None:
    """The arguments after `tiqets-tracker` of a command line, or None for other lines."""
    line = line.strip().removeprefix("$ ")
    first = line.split(maxsplit=1)[0] if line else ""
    if first.rsplit("/", 1)[-1] != "tiqets-tracker":
        return None
    return shlex.split(line)[1:]


def command_lines() -> list[list[str]]:
    """Every `tiqets-tracker` command line in the doc's code blocks. In a block that shows a
    session (its first line starts with `$ `), only the lines after a `$ ` prompt."""
    found = []
    for block in _FENCE.findall(doc()):
        lines = block.splitlines()
        if lines and lines[0].startswith("$ "):
            lines = [line for line in lines if line.startswith("$ ")]
        for line in lines:
            tokens = _command_tokens(line)
            if tokens is not None:
                found.append(tokens)
    return found


def inline_commands() -> list[list[str]]:
    """Every code span in the doc's prose that is a `tiqets-tracker` command."""
    prose = _FENCE.sub("", doc())
    return [
        tokens
        for span in _CODE_SPAN.findall(prose)
        if (tokens := _command_tokens(span)) is not None and tokens
    ]


def test_the_doc_shows_commands_at_all() -> None:
    shown = {tokens[0] for tokens in command_lines()}

    assert {"start", "status"} <= shown


@pytest.mark.parametrize("tokens", command_lines(), ids=shlex.join)
def test_every_command_in_a_code_block_is_accepted_by_the_cli(tokens: list[str]) -> None:
    try:
        cli.build_parser().parse_args(tokens)
    except SystemExit as exited:  # argparse reports a bad command line by exiting
        pytest.fail(f"tiqets-tracker {shlex.join(tokens)}: refused (exit {exited.code})")


@pytest.mark.parametrize("tokens", inline_commands(), ids=shlex.join)
def test_every_command_in_the_prose_names_a_subcommand_and_its_options(
    tokens: list[str],
) -> None:
    commands = subparsers()

    assert tokens[0] in commands, f"tiqets-tracker has no subcommand {tokens[0]}"
    options = {token.split("=", 1)[0] for token in tokens[1:] if token.startswith("--")}
    assert options - option_strings(commands[tokens[0]]) == set()


@pytest.mark.parametrize("command", ["start", "status"])
def test_every_option_of_the_operator_commands_is_documented(command: str) -> None:
    text = section("Finding and re-driving a stuck order")

    for option in option_strings(subparsers()[command]) - {"-h", "--help"}:
        assert f"`{option}" in text, f"{command} {option}"


def test_every_exit_status_of_the_operator_commands_is_in_the_table() -> None:
    text = section("Finding and re-driving a stuck order")
    codes = {
        value
        for name, value in vars(operate).items()
        if name.startswith("EXIT_") and isinstance(value, int)
    }

    assert codes == {0, 1, 2, 8}
    for code in codes:
        assert re.search(rf"^\| {code} \|", text, re.MULTILINE), code


# The example output of status and start


MACHINE_ARN = "arn:aws:states:eu-west-1:123456789012:stateMachine:TrackerStateMachine-Hx2dLq9Zb4Rt"
EXECUTIONS = MACHINE_ARN.replace(":stateMachine:", ":execution:")
BUCKET = "tiqets-tracker-voucherbucket-1a2b3c4d5e6f"


def _s(value: str) -> dict[str, str]:
    return {"S": value}


def _n(value: int) -> dict[str, str]:
    return {"N": str(value)}


def _history(*changes: tuple[str, str]) -> dict[str, Any]:
    return {"L": [{"M": {"status": _s(status), "at": _s(at)}} for status, at in changes]}


def _at(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


@dataclass(frozen=True)
class Example:
    """A tracking record (as DynamoDB returns it) and the execution it names."""

    item: dict[str, Any] | None
    execution_status: str | None = None
    started: datetime | None = None
    stopped: datetime | None = None


# The orders of the doc's examples. 1234567: the API key was refused at the second check.
# 7654321: done, but its outcome could not be published four times; the sweep gave up.
EXAMPLES: dict[str, Example] = {
    "1234567": Example(
        item={
            "order_reference_id": _s("1234567"),
            "tracking_state": _s("finished"),
            "last_status": _s("pending"),
            "status_history": _history(("pending", "2026-12-04T09:15:03.208Z")),
            "checks_made": _n(2),
            "webhook_count": _n(0),
            "last_checked_at": _s("2026-12-04T09:19:41.517Z"),
            "announced_outcome": _s("TrackingFailed"),
            "failure": _s(
                json.dumps(
                    {
                        "Error": "TiqetsRequestRejectedError",
                        "Cause": json.dumps(
                            {
                                "errorMessage": "Tiqets answered HTTP 401 (the API key was"
                                " refused)",
                                "errorType": "TiqetsRequestRejectedError",
                                "requestId": "5d0c6f3e-8a51-4f0e-9c36-2f7d9e1b4a20",
                                "stackTrace": [],
                            }
                        ),
                    }
                )
            ),
            "execution_arn": _s(f"{EXECUTIONS}:1234567"),
        },
        execution_status="SUCCEEDED",
        started=_at("2026-12-04T09:15:02.951"),
        stopped=_at("2026-12-04T09:19:42.130"),
    ),
    "7654321": Example(
        item={
            "order_reference_id": _s("7654321"),
            "tracking_state": _s("finished"),
            "last_status": _s("done"),
            "status_history": _history(
                ("pending", "2026-12-04T10:02:11.730Z"), ("done", "2026-12-04T10:20:36.044Z")
            ),
            "checks_made": _n(7),
            "webhook_count": _n(1),
            "last_checked_at": _s("2026-12-04T10:46:05.377Z"),
            "voucher": _s(
                json.dumps(
                    {
                        "bucket": BUCKET,
                        "key": "vouchers/7654321/en/tickets.pdf",
                        "information_key": "vouchers/7654321/en/order.json",
                        "size_bytes": 48213,
                        "sha256": "9f2c1e8a4b7d6c5e3f2a1b0c9d8e7f6a"
                        "5b4c3d2e1f0a9b8c7d6e5f4a3b2c1d0e",
                    }
                )
            ),
            "execution_arn": _s(f"{EXECUTIONS}:7654321-sweep-3"),
            "sweep_restarts": _n(3),
            "last_swept_at": _s("2026-12-04T11:00:04.912Z"),
            "sweep_gave_up_at": _s("2026-12-04T11:00:04.912Z"),
        },
        execution_status="FAILED",
        started=_at("2026-12-04T10:45:04.655"),
        stopped=_at("2026-12-04T10:46:29.802"),
    ),
    "2345678": Example(item=None),
}


class _ExecutionDoesNotExistError(Exception):
    pass


@dataclass
class _StepFunctions:
    example: Example | None
    started: list[dict[str, Any]] = field(default_factory=list)

    class exceptions:  # noqa: N801 - boto3's spelling
        ExecutionDoesNotExist = _ExecutionDoesNotExistError
        ExecutionAlreadyExists = type("ExecutionAlreadyExists", (Exception,), {})

    def describe_execution(self, *, executionArn: str) -> dict[str, Any]:  # noqa: N803
        if self.example is None or self.example.execution_status is None:
            raise _ExecutionDoesNotExistError(executionArn)
        return {
            "status": self.example.execution_status,
            "startDate": self.example.started,
            "stopDate": self.example.stopped,
        }

    def start_execution(self, **request: Any) -> dict[str, Any]:
        self.started.append(request)
        return {
            "executionArn": f"{EXECUTIONS}:{request['name']}",
            "startDate": datetime.now(UTC),
        }


@dataclass
class _DynamoDb:
    example: Example | None

    def get_item(self, **request: Any) -> dict[str, Any]:
        item = None if self.example is None else self.example.item
        return {} if item is None else {"Item": item}


@dataclass(frozen=True)
class _ExampleStack(operate.DeployedStack):
    example: Example | None = None

    def client(self, service: str) -> Any:
        if service == "dynamodb":
            return _DynamoDb(self.example)
        if service == "stepfunctions":
            return _StepFunctions(self.example)
        raise AssertionError(f"the operator commands do not call {service}")


def example_blocks(command: str) -> list[tuple[list[str], list[str]]]:
    """(arguments, output lines) of every code block that runs `tiqets-tracker <command>`."""
    found = []
    for block in _FENCE.findall(doc()):
        lines = block.splitlines()
        if not lines or not lines[0].startswith("$ "):
            continue
        tokens = _command_tokens(lines[0])
        if tokens and tokens[0] == command:
            found.append((tokens, lines[1:]))
    return found


def run_example(monkeypatch: pytest.MonkeyPatch, tokens: list[str]) -> tuple[int, str, str]:
    args = cli.build_parser().parse_args(tokens)
    example = EXAMPLES.get(args.order_reference_id)
    stack = _ExampleStack(
        name=args.stack,
        outputs={
            "StateMachineArn": MACHINE_ARN,
            "TrackingTableName": "tiqets-tracker-TrackingTable-1XQ0Z3J8V5K7W",
        },
        region=args.region,
        example=example,
    )
    monkeypatch.setattr(operate, "open_stack", lambda name, region: stack)
    out, err = StringIO(), StringIO()
    if args.command == "status":
        code = operate.run_status(
            args.order_reference_id,
            stack_name=args.stack,
            region=args.region,
            as_json=args.json,
            out=out,
            err=err,
        )
    else:
        code = operate.run_start(
            args.order_reference_id,
            stack_name=args.stack,
            region=args.region,
            lang=args.lang,
            external_reference=args.external_reference,
            out=out,
            err=err,
        )
    return code, out.getvalue(), err.getvalue()


def test_the_doc_shows_status_as_text_and_as_json_and_a_start() -> None:
    status = example_blocks("status")

    assert any("--json" in tokens for tokens, _ in status)
    assert any("--json" not in tokens for tokens, _ in status)
    assert example_blocks("start")


@pytest.mark.parametrize(
    ("tokens", "shown"), example_blocks("status"), ids=lambda value: str(value)[:60]
)
def test_each_status_example_is_what_status_prints_for_its_order(
    monkeypatch: pytest.MonkeyPatch, tokens: list[str], shown: list[str]
) -> None:
    code, out, err = run_example(monkeypatch, tokens)
    printed = (out or err).splitlines()

    if "--json" in tokens:
        assert code == operate.EXIT_OK
        assert json.loads("\n".join(shown)) == json.loads(out)
    else:
        assert [line.rstrip() for line in shown] == printed


def test_the_json_example_is_one_line_when_printed(monkeypatch: pytest.MonkeyPatch) -> None:
    tokens = next(tokens for tokens, _ in example_blocks("status") if "--json" in tokens)

    _, out, _ = run_example(monkeypatch, tokens)

    assert len(out.splitlines()) == 1
    assert "printed as one line" in section("Finding and re-driving a stuck order")


@pytest.mark.parametrize(
    ("tokens", "shown"), example_blocks("start"), ids=lambda value: str(value)[:60]
)
def test_each_start_example_is_what_start_prints(
    monkeypatch: pytest.MonkeyPatch, tokens: list[str], shown: list[str]
) -> None:
    code, out, _ = run_example(monkeypatch, tokens)

    assert code == operate.EXIT_OK
    assert out.splitlines() == shown


def test_an_order_the_stack_does_not_track_exits_8_as_the_doc_says(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    code, _, err = run_example(monkeypatch, ["status", "2345678", "--stack", "tiqets-tracker"])

    assert code == operate.EXIT_NOT_TRACKED == 8
    assert "is not tracked by stack tiqets-tracker" in err
    assert "is not tracked by stack tiqets-tracker" in section(
        "Finding and re-driving a stuck order"
    )


# Links


def _slug(heading: str) -> str:
    """GitHub's anchor for a heading."""
    return re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")


def local_links() -> list[tuple[str, str | None]]:
    links = re.findall(r"\]\(([^)\s]+)\)", doc())
    return [
        (path, anchor or None)
        for link in links
        if not link.startswith(("http://", "https://"))
        for path, _, anchor in [link.partition("#")]
    ]


@pytest.mark.parametrize(("path", "anchor"), local_links(), ids=str)
def test_every_link_into_the_project_leads_somewhere(path: str, anchor: str | None) -> None:
    target = PROJECT_ROOT / path if path else DOC
    assert target.exists(), path
    if anchor is not None:
        headings = re.findall(r"^#+ (.+)$", target.read_text("utf-8"), re.MULTILINE)
        assert anchor in {_slug(heading) for heading in headings}, f"{path}#{anchor}"


def test_the_doc_links_the_key_rotation_section_of_the_readme() -> None:
    assert ("README.md", "secrets-their-formats-and-rotating-keys") in local_links()


def test_every_resource_the_doc_names_is_in_the_template() -> None:
    resources = set(load_sam_template()["Resources"])
    kinds = r"(?:LogGroup|Function|Table|Bucket|StateMachine|Api|Alarm|Topic|Bus)"
    named = {
        span for span in _CODE_SPAN.findall(doc()) if re.fullmatch(rf"[A-Z][A-Za-z]+{kinds}", span)
    }

    assert len(named) >= 10
    assert named - resources == set()
