"""`--help` on the command and every subcommand: exit 0 and say what it does."""

from __future__ import annotations

from pathlib import Path

import pytest

from tiqets_tracker_local.cli import main

pytestmark = pytest.mark.unit


@pytest.mark.parametrize(
    ("command", "says"),
    [
        ([], "track"),
        (["demo"], "per outcome"),
        (["track"], "--webhook-port"),
        (["start"], "--stack"),
        (["status"], "--stack"),
        (["diagram"], "Mermaid"),
        (["test-aws"], "function URL"),
    ],
)
def test_help_on_every_subcommand_exits_0_and_describes_it(
    capsys: pytest.CaptureFixture[str], command: list[str], says: str
) -> None:
    with pytest.raises(SystemExit) as exited:
        main([*command, "--help"])

    out = capsys.readouterr().out
    assert exited.value.code == 0
    assert out.startswith("usage: tiqets-tracker")
    assert says in out


@pytest.mark.parametrize("command", ["track", "start", "status"])
def test_the_help_of_commands_with_outcomes_documents_their_exit_statuses(
    capsys: pytest.CaptureFixture[str], command: str
) -> None:
    with pytest.raises(SystemExit):
        main([command, "--help"])

    out = capsys.readouterr().out
    assert "exit status: 0" in out
    assert "2 bad usage" in out


def test_a_missing_argument_is_one_line_on_stderr_and_exit_2(
    capsys: pytest.CaptureFixture[str],
) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["start", "1234567"])

    err = capsys.readouterr().err
    assert exited.value.code == 2
    assert len(err.splitlines()) == 1
    assert "--stack" in err


def test_test_aws_without_the_sam_cli_says_so_and_touches_no_aws(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))  # no sam on it

    assert main(["test-aws", "--region", "eu-west-1"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("test-aws: the SAM CLI is not on PATH")
    assert len(err.splitlines()) == 1
