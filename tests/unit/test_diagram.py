"""The workflow picture in README.md is rendered from the ASL file and must not drift from it."""

from __future__ import annotations

import json

import pytest

from tiqets_tracker_local.cli import main
from tiqets_tracker_local.diagram import (
    ASL_PATH,
    README_PATH,
    embedded_in,
    readme_block,
    render,
    render_file,
)

pytestmark = pytest.mark.unit


def test_the_readme_diagram_is_what_the_current_asl_file_renders() -> None:
    embedded = embedded_in(README_PATH.read_text("utf-8"))

    assert embedded is not None, "README.md lost its <!-- diagram:start/end --> markers"
    assert embedded == readme_block(render_file()), (
        "README.md's workflow diagram is stale: run"
        " `.venv/bin/python -m tiqets_tracker_local.diagram --write-readme`"
    )


def test_every_state_and_every_transition_of_the_asl_file_is_drawn() -> None:
    definition = json.loads(ASL_PATH.read_text("utf-8"))
    diagram = render(definition)

    for name, state in definition["States"].items():
        assert f" as {name}\n" in diagram
        targets = [state.get("Next"), state.get("Default")]
        targets += [rule["Next"] for rule in state.get("Choices", [])]
        for target in filter(None, targets):
            assert f"    {name} --> {target}" in diagram
        for catch in state.get("Catch", []):
            errors = ", ".join(catch["ErrorEquals"])
            assert f"    {name} --> {catch['Next']} : catch {errors}\n" in diagram
    assert f"    [*] --> {definition['StartAt']}\n" in diagram


def test_a_changed_transition_changes_the_diagram() -> None:
    definition = json.loads(ASL_PATH.read_text("utf-8"))
    before = render(definition)
    definition["States"]["PrepareTracking"]["Next"] = "Tracked"

    after = render(definition)

    assert "    PrepareTracking --> Tracked\n" in after
    assert after != before


def test_the_diagram_subcommand_prints_the_rendering(capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["diagram"])

    assert code == 0
    assert capsys.readouterr().out == render_file()
