"""forecasting/ is the numeric core every other package builds on (data/ reads its windows,
metrics and float limits): importing anything of theirs would close a circle through it."""

from __future__ import annotations

import ast
from pathlib import Path

import stockcast

PACKAGE = Path(stockcast.__file__).parent
# What forecasting/ may import of stockcast: itself and the user-facing errors.
CORE_IMPORTS = ("stockcast.forecasting", "stockcast.errors")


def stockcast_imports(path: Path) -> set[str]:
    """The stockcast modules `path` imports, at its top or inside a function."""
    modules = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module:
            modules.add(node.module)
        elif isinstance(node, ast.Import):
            modules |= {alias.name for alias in node.names}
    return {module for module in modules if module.split(".")[0] == "stockcast"}


def test_the_forecasting_core_imports_no_other_stockcast_package() -> None:
    outside = {
        path.name: sorted(
            module
            for module in stockcast_imports(path)
            if not any(module == core or module.startswith(core + ".") for core in CORE_IMPORTS)
        )
        for path in sorted((PACKAGE / "forecasting").glob("*.py"))
    }
    assert {name: modules for name, modules in outside.items() if modules} == {}


def test_a_module_importing_the_data_package_is_caught(tmp_path: Path) -> None:
    module = tmp_path / "m.py"
    module.write_text("from stockcast.data.split import SPLITS\nimport numpy\n")
    assert stockcast_imports(module) == {"stockcast.data.split"}
