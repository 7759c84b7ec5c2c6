"""The order-placement side, loaded from its files for the tests: the layer's build script
(layers/order_placement/build_layer.py) and the worked example's handler
(examples/order_placement/src/app.py). Neither is a package on the path, and `app` is every
function's module name."""

from __future__ import annotations

import importlib.util
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from types import ModuleType

from tiqets_tracker_local.template import PROJECT_ROOT

EXAMPLE = PROJECT_ROOT / "examples" / "order_placement"
HANDLER = EXAMPLE / "src" / "app.py"
LAYER_SOURCE = PROJECT_ROOT / "layers" / "order_placement"


def _load(name: str, path: Path) -> ModuleType:
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


def build_layer_module() -> ModuleType:
    """layers/order_placement/build_layer.py, as a module."""
    return _load("build_layer", LAYER_SOURCE / "build_layer.py")


@contextmanager
def example_handler(name: str) -> Iterator[ModuleType]:
    """The example's app.py as a module of its own `name`, for as long as the block runs."""
    try:
        yield _load(name, HANDLER)
    finally:
        sys.modules.pop(name, None)
