"""Write a trained network as an MLflow model directory: raw prices in, raw prices out.

The folder holds the weights (safetensors), the JSON spec, the served model's code
(`pyfunc_model.py`) and the modules that code imports, found by following its imports and the
model kind's from the source (nothing hand-listed, nothing else of the project shipped).
"""

from __future__ import annotations

import ast
import functools
import importlib
import json
import logging
import re
import shutil
import sys
import tempfile
import warnings
from collections.abc import Iterable, Mapping
from importlib.metadata import distribution, packages_distributions, version
from pathlib import Path
from typing import Any

import numpy as np

from stockcast.forecasting.frame import forecast_columns
from stockcast.forecasting.guard import ALLOW_NON_POSITIVE, allows_non_positive
from stockcast.models.kind import kind_module_name, model_kind
from stockcast.models.network import PriceForecaster
from stockcast.models.spec import spec_levels, upgrade_spec

log = logging.getLogger(__name__)

# The served model's code (imported by MLflow when the model loads, never here: importing it
# registers it as MLflow's current model).
PYFUNC_MODULE = "stockcast.serving.pyfunc_model"
# What the model needs at serving time; the rest of the project stays out of its environment.
SERVING_REQUIREMENTS = ("torch", "numpy", "pandas", "safetensors", "mlflow", "pydantic")


def _requirement(name: str) -> str:
    return f"{name}=={version(name).split('+')[0]}"


def _names_imported(node: ast.AST) -> set[str]:
    """The modules an import statement imports (`from google import protobuf` imports
    google.protobuf; for a name that is no module, its package decides); none for another
    statement or a relative import."""
    if isinstance(node, ast.Import):
        return {alias.name for alias in node.names}
    if isinstance(node, ast.ImportFrom) and node.module and not node.level:
        return {
            node.module if alias.name == "*" else f"{node.module}.{alias.name}"
            for alias in node.names
        }
    return set()


def _top_level_imports(source: Path) -> set[str]:
    """The modules a file imports as it is imported: at its top level, also inside a top-level
    `if`, `try` or `with` (a fallback import), but not inside functions or classes (the ets
    kind's statsforecast, imported where training calls it) nor under `if TYPE_CHECKING`."""
    names: set[str] = set()
    todo = list(ast.parse(source.read_text()).body)
    while todo:
        node = todo.pop()
        names |= _names_imported(node)
        if isinstance(node, ast.If):
            # `if TYPE_CHECKING:` runs only for type checkers; its `else` runs.
            checking = ast.unparse(node.test).split(".")[-1] == "TYPE_CHECKING"
            todo.extend([*([] if checking else node.body), *node.orelse])
        elif isinstance(node, ast.With):
            todo.extend(node.body)
        elif isinstance(node, ast.Try):
            todo.extend([*node.body, *node.orelse, *node.finalbody])
            todo.extend(statement for handler in node.handlers for statement in handler.body)
    return names


# Import name -> the distributions installing it: a scan of every installed distribution
# (about 0.3 s), done once per process and only for a package SERVING_REQUIREMENTS lacks.
_installed_distributions = functools.cache(packages_distributions)


def _owners(module: str, candidates: list[str]) -> list[str]:
    """The distributions among `candidates` that install `module` or the nearest package above
    it that one installs (a namespace package such as google is shared: google.protobuf is
    protobuf's, not google-auth's; google.protobuf.message.Message, a class, is its module's);
    all of them where only the shared top level itself is named."""
    if len(candidates) < 2:
        return candidates
    files = {name: [str(file) for file in distribution(name).files or ()] for name in candidates}
    parts = module.split(".")
    for length in range(len(parts), 1, -1):
        folder = "/".join(parts[:length])
        owners = [
            name
            for name in candidates
            if any(file.startswith(f"{folder}/") or file == f"{folder}.py" for file in files[name])
        ]
        if owners:
            return owners
    return candidates


def serving_requirements(modules: Mapping[str, Path]) -> list[str]:
    """The pinned distributions the served model needs: SERVING_REQUIREMENTS and every other
    installed package a shipped module imports as it is imported (an outside kind's scipy,
    say), so an endpoint built from the folder's requirements can import its code."""
    excluded = {name.split(".")[0] for name in modules} | set(sys.stdlib_module_names)
    imported = set().union(*(_top_level_imports(source) for source in modules.values()))
    needed = list(SERVING_REQUIREMENTS)
    for module in sorted(name for name in imported if name.split(".")[0] not in excluded):
        top = module.split(".")[0]
        listed = {_normalized(name) for name in needed}
        if _normalized(top) in listed:
            continue  # mlflow.pyfunc is mlflow's, whichever of its distributions holds it
        found = _installed_distributions().get(top, [])
        if not found:
            log.warning(
                "The model's code imports %s, which no installed distribution provides: "
                "its requirements.txt cannot name it.",
                module,
            )
            continue
        owners = _owners(module, found)
        if not listed & {_normalized(name) for name in owners}:
            needed.extend([top] if top in owners else owners)
    return [_requirement(name) for name in needed]


def _normalized(name: str) -> str:
    """Distribution names compare case-blind with `-`, `_` and `.` alike (PEP 503)."""
    return re.sub(r"[-_.]+", "-", name).lower()


def _module_file(name: str) -> Path | None:
    """The source file of module `name` (a package's `__init__.py`), None when `name` is not a
    module (a function or class imported from one)."""
    top = importlib.import_module(name.split(".")[0])
    base = Path(top.__file__).parent.parent.joinpath(*name.split("."))
    for candidate in (base / "__init__.py", base.with_suffix(".py")):
        if candidate.is_file():
            return candidate
    return None


def _imported_names(source: Path) -> set[str]:
    """Every module name a file imports, at any depth (function-level imports too), with the
    module each `from` import reads its names from."""
    names: set[str] = set()
    for node in ast.walk(ast.parse(source.read_text())):
        names |= _names_imported(node)
        if isinstance(node, ast.ImportFrom) and node.module and not node.level:
            names.add(node.module)
    return names


def shipped_modules(roots: Iterable[str]) -> dict[str, Path]:
    """module name -> source file: `roots`, every module of their top-level packages that they
    import, directly or not, and the packages holding them."""
    roots = list(roots)
    packages = {root.split(".")[0] for root in roots}
    found: dict[str, Path] = {}
    todo = list(roots)
    while todo:
        name = todo.pop()
        if name in found or name.split(".")[0] not in packages:
            continue
        source = _module_file(name)
        if source is None:
            continue
        found[name] = source
        parts = name.split(".")
        todo.extend(".".join(parts[:i]) for i in range(1, len(parts)))
        todo.extend(_imported_names(source))
    return found


def served_modules(spec: Mapping[str, Any]) -> dict[str, Path]:
    """The modules the served model imports: the pyfunc's and those of every kind the network
    uses (a kind is imported by name, not by an import statement the source could show)."""
    kinds = model_kind(spec["kind"]).kinds_used(spec["network"])
    return shipped_modules([PYFUNC_MODULE, *(kind_module_name(kind) for kind in kinds)])


def _stage_code(staging: Path, modules: Mapping[str, Path]) -> Path:
    """`modules` laid out as packages under `code/`."""
    code = staging / "code"
    for name, source in modules.items():
        relative = Path(*name.split("."))
        if source.name == "__init__.py":
            target = code / relative / "__init__.py"
        else:
            target = code / relative.with_suffix(".py")
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(source, target)
    return code


def save_model_dir(
    net: PriceForecaster,
    spec: Mapping[str, Any],
    path: str | Path,
    metadata: Mapping[str, Any],
    input_example: np.ndarray,
) -> Path:
    """Save weights (safetensors) + spec next to the pyfunc code; replaces an existing folder."""
    import mlflow.pyfunc
    from mlflow.models import ModelSignature
    from mlflow.types import ColSpec, Schema
    from safetensors.torch import save_file

    spec = upgrade_spec(spec)
    path = Path(path)
    if path.exists():
        shutil.rmtree(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    previous, following = int(spec["previous_time_window"]), int(spec["next_time_window"])
    # Outputs only: MLflow enforces an input tensor's dtype exactly (float64 would refuse float32
    # and integer prices), so the pyfunc checks its input itself and the example documents it.
    signature = ModelSignature(
        inputs=None,
        outputs=Schema(
            [ColSpec("double", name) for name in forecast_columns(following, spec_levels(spec))]
        ),
    )
    with tempfile.TemporaryDirectory() as staging:
        weights = Path(staging) / "weights.safetensors"
        state = {k: v.detach().cpu().contiguous() for k, v in net.state_dict().items()}
        save_file(state, str(weights))
        spec_file = Path(staging) / "spec.json"
        spec_file.write_text(json.dumps(spec, indent=2))
        modules = served_modules(spec)
        code = _stage_code(Path(staging), modules)
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message=".*type hint", category=UserWarning)
            mlflow.pyfunc.save_model(
                path=str(path),
                python_model=str(_module_file(PYFUNC_MODULE)),
                artifacts={"weights": str(weights), "spec": str(spec_file)},
                code_paths=[str(package) for package in sorted(code.iterdir())],
                signature=signature,
                input_example=np.asarray(input_example, dtype=np.float64).reshape(-1, previous),
                metadata=dict(metadata),
                # What the served code reads of the metadata (it sees no MLmodel metadata).
                model_config={ALLOW_NON_POSITIVE: allows_non_positive(metadata)},
                pip_requirements=serving_requirements(modules),
            )
    _drop_caches(path)
    _drop_build_paths(path / "MLmodel")
    return path


def _drop_build_paths(mlmodel: Path) -> None:
    """MLflow records where the code and artifacts were copied from (absolute paths of this
    machine); loading uses only the copies inside the folder, so keep just their names."""
    import yaml

    content = yaml.safe_load(mlmodel.read_text())
    flavor = content["flavors"]["python_function"]
    flavor["model_code_path"] = Path(flavor["model_code_path"]).name
    for artifact in flavor.get("artifacts", {}).values():
        artifact["uri"] = artifact["path"]
    mlmodel.write_text(yaml.safe_dump(content, sort_keys=False))


def _drop_caches(path: Path) -> None:
    for cache in path.rglob("__pycache__"):
        shutil.rmtree(cache, ignore_errors=True)
