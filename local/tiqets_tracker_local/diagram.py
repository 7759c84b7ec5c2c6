"""The tracker's state machine as a Mermaid `stateDiagram-v2`, rendered from the ASL file.

    python -m tiqets_tracker_local.diagram      # or: tiqets-tracker diagram

README.md holds the output between `<!-- diagram:start -->` and `<!-- diagram:end -->`;
tests/unit/test_diagram.py fails when the two drift apart (`--write-readme` updates it).
"""

from __future__ import annotations

import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Final

PROJECT_ROOT: Final = Path(__file__).resolve().parents[2]
ASL_PATH: Final = PROJECT_ROOT / "statemachine" / "order_tracking.asl.json"
README_PATH: Final = PROJECT_ROOT / "README.md"
START_MARKER: Final = "<!-- diagram:start -->"
END_MARKER: Final = "<!-- diagram:end -->"

_COMPARATORS: Final = {
    "StringEquals": "==",
    "NumericEquals": "==",
    "BooleanEquals": "==",
    "TimestampEquals": "==",
    "NumericLessThan": "<",
    "NumericGreaterThan": ">",
    "NumericLessThanEquals": "<=",
    "NumericGreaterThanEquals": ">=",
    "TimestampLessThan": "<",
    "TimestampGreaterThan": ">",
    "TimestampLessThanEquals": "<=",
    "TimestampGreaterThanEquals": ">=",
}


def _variable(path: str) -> str:
    return path.removeprefix("$.").removeprefix("$")


def describe_condition(rule: dict[str, Any]) -> str:
    """A short text for one Choice rule (without its Next)."""
    if "And" in rule:
        return " and ".join(describe_condition(part) for part in rule["And"])
    if "Or" in rule:
        return " or ".join(describe_condition(part) for part in rule["Or"])
    if "Not" in rule:
        return f"not ({describe_condition(rule['Not'])})"
    variable = _variable(str(rule.get("Variable", "?")))
    for key, value in rule.items():
        if key in ("Variable", "Next", "Comment"):
            continue
        if key in _COMPARATORS:
            shown = json.dumps(value) if not isinstance(value, str) else value
            return f"{variable} {_COMPARATORS[key]} {shown}"
        if key.startswith("Is"):
            kind = key.removeprefix("Is").lower()
            return f"{variable} is {kind}" if value else f"{variable} is not {kind}"
        if key.endswith("Path"):
            return f"{variable} {key.removesuffix('Path')} {_variable(str(value))}"
        if key == "StringMatches":
            return f"{variable} matches {value}"
    return variable


def _label(text: str) -> str:
    # Mermaid ends a transition label at a line break and reads ':' and ';' specially.
    return " ".join(text.replace(":", " ").replace(";", ",").split())


def render(definition: dict[str, Any]) -> str:
    """The definition as Mermaid stateDiagram-v2 text (ends with a newline)."""
    states: dict[str, dict[str, Any]] = definition["States"]
    lines = ["stateDiagram-v2", "    direction TB"]
    for name, state in states.items():
        lines.append(f'    state "{name} ({state["Type"]})" as {name}')
    edges: list[tuple[str, str, str]] = [("[*]", definition["StartAt"], "")]
    for name, state in states.items():
        for rule in state.get("Choices", []):
            edges.append((name, rule["Next"], describe_condition(rule)))
        if "Default" in state:
            edges.append((name, state["Default"], "otherwise"))
        if "Next" in state:
            edges.append((name, state["Next"], ""))
        for catch in state.get("Catch", []):
            errors = ", ".join(catch["ErrorEquals"])
            edges.append((name, catch["Next"], f"catch {errors}"))
        if state.get("End") or state["Type"] in ("Succeed", "Fail"):
            edges.append((name, "[*]", "fails" if state["Type"] == "Fail" else ""))
    for source, target, label in edges:
        shown = _label(label)
        lines.append(f"    {source} --> {target}" + (f" : {shown}" if shown else ""))
    return "\n".join(lines) + "\n"


def render_file(path: Path = ASL_PATH) -> str:
    return render(json.loads(path.read_text("utf-8")))


def readme_block(diagram: str) -> str:
    """What README.md holds between the markers (markers included)."""
    return f"{START_MARKER}\n```mermaid\n{diagram}```\n{END_MARKER}"


def embedded_in(readme: str) -> str | None:
    """The block README.md holds now (markers included), or None without markers."""
    start = readme.find(START_MARKER)
    end = readme.find(END_MARKER)
    if start < 0 or end < start:
        return None
    return readme[start : end + len(END_MARKER)]


def write_readme(readme_path: Path = README_PATH, asl_path: Path = ASL_PATH) -> bool:
    """Replace the README's block with a fresh rendering; whether anything changed."""
    readme = readme_path.read_text("utf-8")
    current = embedded_in(readme)
    if current is None:
        raise ValueError(f"{readme_path} has no {START_MARKER} ... {END_MARKER} block")
    fresh = readme_block(render_file(asl_path))
    if current == fresh:
        return False
    readme_path.write_text(readme.replace(current, fresh, 1), "utf-8")
    return True


def main(argv: Sequence[str] | None = None) -> int:
    arguments = list(sys.argv[1:] if argv is None else argv)
    if arguments == ["--write-readme"]:
        changed = write_readme()
        print("README.md updated" if changed else "README.md already up to date")
        return 0
    if arguments:
        print("usage: python -m tiqets_tracker_local.diagram [--write-readme]", file=sys.stderr)
        return 2
    sys.stdout.write(render_file())
    return 0


if __name__ == "__main__":
    sys.exit(main())
