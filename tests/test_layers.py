"""The packages' order, bottom up, as README's layout lists it: each imports only the ones below
it, so no import closes a circle. forecasting/ ships inside every model: it imports nothing else
of the project but its errors."""

from __future__ import annotations

import ast
from pathlib import Path

import stockcast

PACKAGE = Path(stockcast.__file__).parent
# What forecasting/ may import of stockcast: itself and the user-facing errors.
CORE_IMPORTS = ("stockcast.forecasting", "stockcast.errors")
# README's order (the modules directly under stockcast/ are the ground floor).
LAYERS = (
    "registry",
    "forecasting",
    "data",
    "models",
    "config",
    "serving",
    "training",
    "evaluation",
    "prediction",
    "orchestration",
)
# The one import README names against the order: fields.py reads a day with data/calendar.py.
AGAINST_THE_ORDER = {("stockcast.fields", "stockcast.data.calendar")}


def floor(module: str) -> int:
    """A stockcast module's place in LAYERS, 0 for the modules directly under stockcast/."""
    package = module.split(".")[1] if module.count(".") else ""
    return LAYERS.index(package) + 1 if package in LAYERS else 0


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


def test_no_package_imports_one_above_it_in_the_readmes_order() -> None:
    upward = []
    for path in sorted(PACKAGE.rglob("*.py")):
        module = ".".join(path.relative_to(PACKAGE.parent).with_suffix("").parts)
        for imported in sorted(stockcast_imports(path)):
            if floor(imported) > floor(module) and (module, imported) not in AGAINST_THE_ORDER:
                upward.append(f"{module} -> {imported}")
    assert upward == []
    assert (
        floor("stockcast.training.fit") > floor("stockcast.data.split") > floor("stockcast.errors")
    )


def test_a_module_importing_the_data_package_is_caught(tmp_path: Path) -> None:
    module = tmp_path / "m.py"
    module.write_text("from stockcast.data.split import SPLITS\nimport numpy\n")
    assert stockcast_imports(module) == {"stockcast.data.split"}
