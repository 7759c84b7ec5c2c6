"""The README's "Where each rule lives" is true: every file it names exists, and every function,
class, method, state or resource it names is defined where it says."""

from __future__ import annotations

import ast
import json
import re
from pathlib import Path

import pytest

pytestmark = pytest.mark.unit

ROOT = Path(__file__).resolve().parents[2]
_TOKEN = re.compile(r"`([^`]+)`")
_PLACE = re.compile(
    r"(?P<path>[\w./-]+\.(?:py|json|yaml))?::(?P<name>[\w.]+)|(?P<file>[\w./-]+\.(?:py|json|yaml))"
)


def _map_rows() -> list[str]:
    readme = (ROOT / "README.md").read_text("utf-8")
    section = readme.split("## Where each rule lives", 1)[1].split("\n## ", 1)[0]
    return [line for line in section.splitlines() if line.startswith("| ") and "::" in line]


def _places() -> list[tuple[str, str | None]]:
    """(file, name or None) of every place the map names; `::name` is in the row's last file."""
    places: list[tuple[str, str | None]] = []
    for row in _map_rows():
        last_path: str | None = None
        for token in _TOKEN.findall(row):
            match = _PLACE.fullmatch(token)
            if match is None:
                continue
            if match["file"]:
                places.append((match["file"], None))
                continue
            last_path = match["path"] or last_path
            assert last_path is not None, f"{token!r} comes before any file in its row"
            places.append((last_path, match["name"]))
    return places


def _python_names(path: Path) -> set[str]:
    """Module-level functions, classes and constants, and Class.method, of a Python file."""
    tree = ast.parse(path.read_text("utf-8"))
    names: set[str] = set()
    for node in tree.body:
        if isinstance(node, ast.FunctionDef | ast.ClassDef):
            names.add(node.name)
        if isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
            names.add(node.target.id)
        if isinstance(node, ast.Assign):
            names |= {target.id for target in node.targets if isinstance(target, ast.Name)}
        if isinstance(node, ast.ClassDef):
            names |= {
                f"{node.name}.{item.name}"
                for item in node.body
                if isinstance(item, ast.FunctionDef)
            }
    return names


def _defined(path: Path, name: str) -> bool:
    if path.suffix == ".py":
        return name in _python_names(path)
    if path.name.endswith(".asl.json"):
        return name in json.loads(path.read_text("utf-8"))["States"]
    if path.suffix == ".yaml":
        return (
            re.search(rf"^  {re.escape(name)}:$", path.read_text("utf-8"), re.MULTILINE) is not None
        )
    raise AssertionError(f"the map cannot name a {path.suffix} file's parts: {path}")


def test_the_map_names_places_at_all() -> None:
    assert len(_map_rows()) >= 10
    assert len(_places()) >= 30


@pytest.mark.parametrize(("file", "name"), _places(), ids=str)
def test_every_place_the_map_names_exists(file: str, name: str | None) -> None:
    path = ROOT / file
    assert path.is_file(), f"{file} does not exist"
    if name is not None:
        assert _defined(path, name), f"{file} defines no {name}"
