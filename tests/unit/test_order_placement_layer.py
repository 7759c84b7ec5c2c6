"""The order-placement layer (layers/order_placement): what the distributor's function gets.

`sam build` runs layers/order_placement/Makefile, which runs build_layer.py (tested here, into a
temporary directory) and then pip-installs requirements.txt (not here: it needs the network;
README, "Adopting it", shows the layer's contents after a real `sam build`).
"""

from __future__ import annotations

import ast
import subprocess
import sys
import sysconfig
from pathlib import Path
from typing import Any

import pytest

from tests.order_placement_support import LAYER_SOURCE, build_layer_module
from tiqets_tracker_local.template import PROJECT_ROOT, load_sam_template

pytestmark = pytest.mark.unit

# Written out, so that a new import reaching the layer shows in review.
EXPECTED_MODULES = [
    "aws",
    "callback_urls",
    "errors",
    "order_input",
    "quiet_logs",
    "secret_store",
    "timestamps",
    "tracking",
    "validation",
]
# The Lambda Python runtime has boto3 and botocore; the layer installs the rest.
RUNTIME_PACKAGES = {"boto3", "botocore"}
LAYER_PACKAGES = {"aws_lambda_powertools", "fastjsonschema"}


@pytest.fixture(scope="module")
def built_layer(tmp_path_factory: pytest.TempPathFactory) -> Path:
    target = tmp_path_factory.mktemp("layer") / "python"
    build_layer_module().build(target)
    return target


def _top_level_imports(path: Path) -> set[str]:
    """The top-level packages a module imports, outside `if TYPE_CHECKING:` blocks."""
    found: set[str] = set()
    pending: list[ast.AST] = [ast.parse(path.read_text("utf-8"))]
    while pending:
        node = pending.pop()
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            continue
        if isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.add(node.module.split(".")[0])
        elif isinstance(node, ast.Import):
            found.update(alias.name.split(".")[0] for alias in node.names)
        pending.extend(ast.iter_child_nodes(node))
    return found


def test_the_layer_holds_the_client_modules_and_the_schemas_and_nothing_else(
    built_layer: Path,
) -> None:
    package = built_layer / "tiqets_tracker"
    modules = sorted(path.stem for path in package.glob("*.py") if path.stem != "__init__")
    schemas = sorted(path.name for path in (package / "schemas").iterdir())
    shipped_schemas = PROJECT_ROOT / "functions" / "tiqets_tracker" / "schemas"

    assert modules == EXPECTED_MODULES
    assert schemas == sorted(path.name for path in shipped_schemas.iterdir())
    assert sorted(path.name for path in built_layer.iterdir()) == ["tiqets_tracker"]
    assert (package / "py.typed").is_file()


def test_what_the_layer_modules_import_is_the_standard_library_the_runtime_or_the_layer(
    built_layer: Path,
) -> None:
    standard = set(sys.stdlib_module_names) | {"__future__"}
    imported = set().union(
        *(_top_level_imports(path) for path in (built_layer / "tiqets_tracker").glob("*.py"))
    )

    assert imported - standard == {"tiqets_tracker"} | RUNTIME_PACKAGES | LAYER_PACKAGES


def test_the_layer_installs_powertools_as_the_functions_do_and_no_boto3_or_requests() -> None:
    def requirements(path: Path) -> list[str]:
        lines = path.read_text("utf-8").splitlines()
        return [line.strip() for line in lines if line.strip() and not line.startswith("#")]

    layer = requirements(LAYER_SOURCE / "requirements.txt")
    functions = requirements(PROJECT_ROOT / "functions" / "requirements.txt")

    assert layer == [line for line in functions if line.startswith("aws-lambda-powertools")]
    assert not any(line.startswith(("boto3", "botocore", "requests")) for line in layer)


def test_start_tracking_and_callback_urls_work_from_the_layer_alone(built_layer: Path) -> None:
    # A fresh interpreter without site processing: the project's editable install and functions/
    # are not on its path, only the layer and the third-party packages a function would have.
    site_packages = sysconfig.get_paths()["purelib"]
    script = f"""
import sys
sys.path[:0] = [{str(built_layer)!r}, {site_packages!r}]
from tiqets_tracker.tracking import build_execution_input, callback_url_for_order, start_tracking
from tiqets_tracker.callback_urls import callback_url
import tiqets_tracker.aws, tiqets_tracker.secret_store
payload = build_execution_input("1234567", external_reference="shop-42")
url = callback_url("https://hooks.example/tiqets/callbacks", external_reference="shop-42",
                   key=b"k" * 32)
assert payload["external_reference"] == "shop-42", payload
assert url.startswith("https://hooks.example/tiqets/callbacks?ref=shop-42&sig="), url
loaded = sorted(name for name in sys.modules if name.startswith("tiqets_tracker"))
assert all(module.__file__.startswith({str(built_layer)!r})
           for name, module in sys.modules.items() if name.startswith("tiqets_tracker")), loaded
assert not any(name.startswith(("tiqets_tracker_local", "moto")) for name in sys.modules)
print(len(loaded))
"""
    result = subprocess.run(  # noqa: S603 (our own script, run by this interpreter)
        [sys.executable, "-I", "-S", "-c", script],
        capture_output=True,
        text=True,
        check=False,
        cwd=built_layer,
        timeout=120,
    )

    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == str(len(EXPECTED_MODULES) + 1)


def test_the_template_builds_the_layer_with_its_makefile_and_exports_its_arn() -> None:
    template: dict[str, Any] = load_sam_template()
    layer = template["Resources"]["OrderPlacementLayer"]
    output = template["Outputs"]["OrderPlacementLayerArn"]
    makefile = (LAYER_SOURCE / "Makefile").read_text("utf-8")

    assert layer["Type"] == "AWS::Serverless::LayerVersion"
    assert layer["Metadata"] == {"BuildMethod": "makefile"}
    assert PROJECT_ROOT / layer["Properties"]["ContentUri"] == LAYER_SOURCE
    assert "build-OrderPlacementLayer:" in makefile.splitlines()
    assert layer["Properties"]["RetentionPolicy"] == "Retain"
    assert output["Value"] == {"Ref": "OrderPlacementLayer"}


def test_a_missing_imported_module_stops_the_build(tmp_path: Path) -> None:
    source = tmp_path / "tiqets_tracker"
    source.mkdir()
    (source / "tracking.py").write_text("from tiqets_tracker.gone import x\n", "utf-8")
    (source / "callback_urls.py").write_text("", "utf-8")

    with pytest.raises(FileNotFoundError, match=r"tiqets_tracker\.gone"):
        build_layer_module().layer_modules(source)
