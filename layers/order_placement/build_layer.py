"""Builds the order-placement layer: the part of tiqets_tracker that a distributor's
order-placement function imports (`start_tracking`, `callback_url_for_order`), and nothing else.

    python3 build_layer.py <layer>/python

copies into `<layer>/python/tiqets_tracker/` the modules that `tiqets_tracker.tracking` and
`tiqets_tracker.callback_urls` import, directly or through each other, at module level or
inside a function (the lazy imports that keep a cold start short), plus the package's
`__init__.py`, `py.typed` and the JSON Schemas the validation reads. Imports under
`if TYPE_CHECKING:` are for type checkers and are left out. The Makefile next to this file runs
it for `sam build`, then installs requirements.txt beside it. Standard library only: it runs on
whatever Python runs `sam build`.
"""

from __future__ import annotations

import ast
import shutil
import sys
from pathlib import Path

PACKAGE = "tiqets_tracker"
ENTRY_MODULES = ("tracking", "callback_urls")
SOURCE = Path(__file__).resolve().parents[2] / "functions" / PACKAGE
# Files of the package that are not modules but are read at run time.
DATA = ("__init__.py", "py.typed", "schemas")


def _is_type_checking_block(node: ast.AST) -> bool:
    return isinstance(node, ast.If) and (
        (isinstance(node.test, ast.Name) and node.test.id == "TYPE_CHECKING")
        or (isinstance(node.test, ast.Attribute) and node.test.attr == "TYPE_CHECKING")
    )


def _imported_siblings(path: Path) -> set[str]:
    """The modules of the package that one module imports, anywhere but under TYPE_CHECKING."""
    found: set[str] = set()
    pending: list[ast.AST] = [ast.parse(path.read_text("utf-8"), filename=str(path))]
    while pending:
        node = pending.pop()
        if _is_type_checking_block(node):
            continue
        if isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            if node.module == PACKAGE:
                found.update(alias.name for alias in node.names)
            elif node.module.startswith(f"{PACKAGE}."):
                found.add(node.module.split(".")[1])
        elif isinstance(node, ast.Import):
            found.update(
                alias.name.split(".")[1]
                for alias in node.names
                if alias.name.startswith(f"{PACKAGE}.")
            )
        pending.extend(ast.iter_child_nodes(node))
    return found


def layer_modules(source: Path = SOURCE) -> list[str]:
    """The package's modules the entry modules need, by name, sorted."""
    needed: set[str] = set()
    pending = list(ENTRY_MODULES)
    while pending:
        module = pending.pop()
        if module in needed:
            continue
        path = source / f"{module}.py"
        if not path.is_file():
            raise FileNotFoundError(f"{PACKAGE}.{module} is imported but {path} does not exist")
        needed.add(module)
        pending.extend(_imported_siblings(path) - needed)
    return sorted(needed)


def build(target: Path, source: Path = SOURCE) -> list[Path]:
    """Copy the layer's part of the package under `target` (the layer's python/ directory);
    returns the files written, relative to `target`."""
    package = target / PACKAGE
    if package.exists():
        shutil.rmtree(package)
    package.mkdir(parents=True)
    for name in DATA:
        if (source / name).is_dir():
            shutil.copytree(source / name, package / name)
        else:
            shutil.copy2(source / name, package / name)
    for module in layer_modules(source):
        shutil.copy2(source / f"{module}.py", package / f"{module}.py")
    return sorted(path.relative_to(target) for path in package.rglob("*") if path.is_file())


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        print(f"usage: {argv[0]} <layer python/ directory>", file=sys.stderr)
        return 2
    written = build(Path(argv[1]))
    print(f"order-placement layer: {len(written)} files of {PACKAGE} in {argv[1]}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
