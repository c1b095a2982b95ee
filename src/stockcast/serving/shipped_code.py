"""Load a model folder with the code it was saved with, even inside a process running stockcast.

A model folder ships the modules its served code imports (`code/stockcast/...`, and the package of
a kind named by module path). `mlflow models serve` and an endpoint load only that copy. In a
process that has imported `stockcast` already (predict, serve, evaluate, the monitor) Python would
find the project's modules in `sys.modules` first, so a model saved by older code would be
served with today's maths there and with its own maths everywhere else. While the folder loads,
its packages are taken out of `sys.modules` (and the folder's code put first on `sys.path`, as
MLflow does), so every import of the model resolves to its own files; afterwards the project's
modules and path are put back. The loaded model keeps its modules through the references its
functions hold.

Loading is not thread-safe: nothing else may import these packages while a folder loads (models
are opened before serving starts and one at a time elsewhere).
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from importlib.machinery import ModuleSpec, PathFinder
from pathlib import Path
from types import ModuleType
from typing import Any

# Where MLflow puts a models-from-code folder's `code_paths` (its fixed default subpath).
SHIPPED_CODE_DIR = "code"


def shipped_packages(code_dir: Path) -> list[str]:
    """The top-level module names a folder's `code/` directory provides (a folder without an
    `__init__.py` is a namespace package all the same)."""
    if not code_dir.is_dir():
        return []
    return sorted(
        entry.stem
        for entry in code_dir.iterdir()
        if (entry.is_dir() and entry.name != "__pycache__") or entry.suffix == ".py"
    )


def _modules_of(packages: list[str]) -> dict[str, ModuleType]:
    return {
        name: module for name, module in list(sys.modules.items()) if name.split(".")[0] in packages
    }


def _inside(module: ModuleType, folder: Path) -> bool:
    file = getattr(module, "__file__", None)
    # A path under `folder` names it in its text (in either case, where paths ignore it): the
    # cheap test spares a Path for each of the thousands of modules a process holds.
    return (
        isinstance(file, str)
        and os.path.normcase(folder.name) in os.path.normcase(file)
        and Path(file).is_relative_to(folder)
    )


class _ShippedFinder:
    """Finds the top-level names a folder ships in its `code/` alone, ahead of every other
    finder. On `sys.path` alone a folder there without `__init__.py` is only a namespace
    package, which Python passes over for a regular package of that name anywhere on the path
    (the project's own, installed): its submodules would then be the project's."""

    def __init__(self, code_dir: Path, names: list[str]) -> None:
        self.code_dir, self.names = str(code_dir), frozenset(names)

    def find_spec(self, name: str, path: Any = None, target: Any = None) -> ModuleSpec | None:
        return PathFinder.find_spec(name, [self.code_dir]) if name in self.names else None


@contextmanager
def shipped_code_imports(folder: Path, code_dir: Path) -> Iterator[None]:
    """Within the block, importing a package the model folder `folder` ships in `code_dir`
    imports the shipped files. Afterwards no module of the folder stays importable by name
    (MLflow's module for the model file included: the loaded model holds what it needs)."""
    packages = shipped_packages(code_dir)
    own = _modules_of(packages)
    path = list(sys.path)
    for name in own:
        del sys.modules[name]
    sys.path.insert(0, str(code_dir))
    finder = _ShippedFinder(code_dir, packages)
    sys.meta_path.insert(0, finder)
    try:
        yield
    finally:
        for name, module in list(sys.modules.items()):
            if name.split(".")[0] in packages or _inside(module, folder):
                del sys.modules[name]
        sys.modules.update(own)
        sys.path[:] = path
        # Gone already only where the folder's own code took it out.
        sys.meta_path[:] = [entry for entry in sys.meta_path if entry is not finder]
