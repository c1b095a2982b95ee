"""The shell command line of a cloud step: the local entry point plus the same Hydra overrides."""

from __future__ import annotations

import re
import shlex
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime

from stockcast.azureml.data_source import DataBinding
from stockcast.azureml.settings import SubmitConfig, override_key

# The code snapshot is the project root; the package lives under src/ and is not installed there.
PACKAGE_PATH = "PYTHONPATH=src"
STANDALONE_TRAIN_SCRIPT = "src/train.py"
BINDING_PATTERN = re.compile(r"\$\{\{\s*(inputs|outputs)\.(\w+)\s*\}\}")
DATE_PATTERN = re.compile(r"\$\(date -u \+([^)]*)\)")
PLACEHOLDER_ROOT = "/mnt/azureml"


def executor_overrides(sc: SubmitConfig, run_name: str) -> list[str]:
    """Overrides every cloud run needs, unless the user already chose them: registry, Hydra run dir."""
    chosen = {override_key(o) for o in sc.step_overrides}
    extra = []
    if "registry" not in chosen:
        extra.append(f"registry={sc.azure.registry}")
    if "hydra.run.dir" not in chosen:
        extra.append(f"hydra.run.dir={sc.azure.run_dir}/{run_name}")
    return extra


def system_overrides(
    sc: SubmitConfig, run_name: str, data: DataBinding | None, bindings: Mapping[str, str]
) -> list[str]:
    """The overrides the executor appends after the user's: registry, run dir, data, port bindings."""
    tokens = executor_overrides(sc, run_name)
    if data is not None:
        tokens += data.overrides
    tokens += [f"{key}={value}" for key, value in bindings.items()]
    return tokens


def build_command(
    entry: Iterable[str],
    sc: SubmitConfig,
    run_name: str,
    data: DataBinding | None,
    bindings: Mapping[str, str],
) -> str:
    """Join entry point, quoted user overrides, and the system overrides.

    User overrides are shell-quoted (`'model.hidden_sizes=[64,64]'`); the data overrides and the
    `${{...}}` bindings are not, so the shell and Azure ML can substitute them.
    """
    tokens = [*entry, *(shlex.quote(o) for o in sc.step_overrides)]
    tokens += system_overrides(sc, run_name, data, bindings)
    return " ".join(tokens)


def substitute_placeholders(text: str, folders: Mapping[str, str] | None = None) -> str:
    """Do what Azure ML and the shell would: fill `${{inputs.x}}`/`${{outputs.y}}` and `$(date)`.

    `folders` maps a port name to a local folder; unnamed ports get a stand-in path. Used to
    compose and to run the cloud command lines locally before anything is paid for.
    """
    folders = folders or {}

    def port(match: re.Match[str]) -> str:
        kind, name = match.group(1), match.group(2)
        return folders.get(name, f"{PLACEHOLDER_ROOT}/{kind}/{name}")

    text = BINDING_PATTERN.sub(port, text)
    return DATE_PATTERN.sub(lambda m: datetime.now(UTC).strftime(m.group(1)), text)


def step_entry(module: str) -> list[str]:
    """`PYTHONPATH=src python -m <module>`: runs from the code snapshot without installing it."""
    return [PACKAGE_PATH, "python", "-m", module]


def script_entry(script: str = STANDALONE_TRAIN_SCRIPT) -> list[str]:
    """`python src/train.py`: a script puts its own folder (src/) on the path."""
    return ["python", script]
