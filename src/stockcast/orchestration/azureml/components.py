"""The cloud side of a step: its command line, environment and compute, as one `command` component.

Generic over the step table: the command is the row's module with the user's Hydra overrides,
and each port becomes a typed input or output bound to the port's Hydra key.
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path

from azure.ai.ml import Input, Output
from azure.ai.ml.entities import BuildContext, CommandComponent, Environment
from omegaconf import DictConfig, OmegaConf

from stockcast.config.overrides import override_key
from stockcast.orchestration.azureml.datastore import folder_bindings, folder_outputs
from stockcast.orchestration.azureml.distribution import Distribution, step_distribution
from stockcast.orchestration.azureml.dry_run import ensure_valid
from stockcast.orchestration.azureml.settings import (
    AzureMLConfigError,
    DataBinding,
    SubmitConfig,
)
from stockcast.orchestration.azureml.snapshot import code_root, node_overrides
from stockcast.orchestration.steps.table import STEPS, Step

# The code snapshot is the project root; the package lives under src/ and is not installed there.
PACKAGE_PATH = "PYTHONPATH=src"
STANDALONE_TRAIN_SCRIPT = "src/train.py"
BINDING_PATTERN = re.compile(r"\$\{\{\s*(inputs|outputs)\.(\w+)\s*\}\}")
DATE_PATTERN = re.compile(r"\$\(date -u \+([^)]*)\)")
PLACEHOLDER_ROOT = "/mnt/azureml"
COMPONENT_PREFIX = "stockcast_"
ENVIRONMENTS_DIR = "environments"
CONDA_FILE = "conda.yaml"
DOCKERFILE = "Dockerfile"
STEP_COMPUTE_KEY = "azureml.compute.steps"


def step_entry(module: str) -> list[str]:
    """`PYTHONPATH=src python -m <module>`: runs from the code snapshot without installing it."""
    return [PACKAGE_PATH, "python", "-m", module]


def script_entry(script: str = STANDALONE_TRAIN_SCRIPT) -> list[str]:
    """`python src/train.py`: a script puts its own folder (src/) on the path."""
    return ["python", script]


def step_bindings(step: Step, cfg: DictConfig) -> dict[str, str]:
    """Each port's Hydra key bound to `${{inputs.<port>}}` / `${{outputs.<port>}}`."""
    placeholders = {
        **{port.name: f"${{{{inputs.{port.name}}}}}" for port in step.inputs},
        **{port.name: f"${{{{outputs.{port.name}}}}}" for port in step.outputs},
    }
    return step.bindings(placeholders, cfg)


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

    User overrides are shell-quoted and name `hydra.searchpath` folders by their path in the
    code snapshot (`'model.hidden_sizes=[64,64]'`); the data overrides and the
    `${{...}}` bindings are not, so the shell and Azure ML can substitute them.
    """
    overrides = node_overrides(sc.step_overrides, code_root(sc))
    tokens = [*entry, *(shlex.quote(o) for o in overrides)]
    tokens += system_overrides(sc, run_name, data, bindings)
    return " ".join(tokens)


def substitute_placeholders(text: str, values: Mapping[str, str] | None = None) -> str:
    """Do what Azure ML and the shell would: fill `${{inputs.x}}`/`${{outputs.y}}` and `$(date)`.

    `values` maps a port name to the local folder the node gets for it; unnamed ports get a
    stand-in path. Used to compose and to run the cloud command lines locally before anything is
    paid for.
    """
    values = values or {}

    def port(match: re.Match[str]) -> str:
        kind, name = match.group(1), match.group(2)
        return values.get(name, f"{PLACEHOLDER_ROOT}/{kind}/{name}")

    text = BINDING_PATTERN.sub(port, text)
    return DATE_PATTERN.sub(lambda m: datetime.now(UTC).strftime(m.group(1)), text)


def build_environment(spec: DictConfig, image: str, root: Path, name: str) -> Environment:
    """A conda file on the base image, or a Docker build context; paths relative to `root`.

    Azure would only discover a missing Dockerfile after uploading the context, so check first.
    """
    conda_file = spec.get("conda_file")
    context = spec.get("build_context")
    if bool(conda_file) == bool(context):
        raise AzureMLConfigError(
            f"Environment {name!r} needs exactly one of conda_file or build_context "
            f"(azureml.environments.*.{name})."
        )
    if context:
        context_dir = root / context
        if not (context_dir / DOCKERFILE).is_file():
            raise AzureMLConfigError(
                f"Docker build context {context} of environment {name!r} has no {DOCKERFILE}; "
                f"add one or give the step a conda_file instead."
            )
        return Environment(build=BuildContext(path=str(context_dir)))
    conda_path = root / conda_file
    if not conda_path.is_file():
        raise AzureMLConfigError(f"Conda file {conda_file} of environment {name!r} does not exist.")
    if not image:
        # The SDK's own Environment.validate() refuses it only when the job is created.
        raise AzureMLConfigError(
            f"azureml.environments.image is empty, but environment {name!r} installs its conda "
            "file on that image; name a Docker image, or leave the setting out for the one "
            "configs/azureml/environments.yaml names."
        )
    return Environment(image=image, conda_file=str(conda_path))


def step_environment(settings: DictConfig, step: str, root: Path) -> Environment:
    """A pipeline step's environment (`step_environment_spec`), built."""
    return build_environment(
        step_environment_spec(settings, step, root), settings.image, root, step
    )


def step_environment_spec(settings: DictConfig, step: str, root: Path) -> DictConfig:
    """A step's `conda_file` or `build_context`: its entry in azureml.environments.steps, else
    its own folder `environments/<step>/` (a Docker build context if it holds a Dockerfile, else
    its conda.yaml), so a new step needs no config entry."""
    spec = (settings.get("steps") or {}).get(step)
    if spec is None:
        folder = Path(ENVIRONMENTS_DIR) / step
        if (root / folder / DOCKERFILE).is_file():
            spec = OmegaConf.create({"build_context": folder.as_posix()})
        elif (root / folder / CONDA_FILE).is_file():
            spec = OmegaConf.create({"conda_file": (folder / CONDA_FILE).as_posix()})
        else:
            raise AzureMLConfigError(
                f"the {step} step has no environment: add {folder / CONDA_FILE} (or a "
                f"{DOCKERFILE} there), or name one in azureml.environments.steps.{step}."
            )
    return spec


def _unknown_step(name: str, steps: Sequence[Step]) -> AzureMLConfigError:
    return AzureMLConfigError(
        f"Unknown compute key {name!r} in {STEP_COMPUTE_KEY}; expected one of "
        f"{', '.join(step.name for step in steps)}."
    )


def check_compute_overrides(overrides: Iterable[str], steps: Sequence[Step] = STEPS) -> None:
    """Refuse `azureml.compute.steps.<typo>=...` with a clear message before Hydra does tersely."""
    prefix = f"{STEP_COMPUTE_KEY}."
    names = {step.name for step in steps}
    for override in overrides:
        key = override_key(override)
        if key.startswith(prefix) and key[len(prefix) :] not in names:
            raise _unknown_step(key[len(prefix) :], steps)


def check_compute(compute: DictConfig, steps: Sequence[Step] = STEPS) -> None:
    """Every per-step key names a step, and there is a default to fall back on."""
    names = {step.name for step in steps}
    for key in compute.steps:
        if key not in names:
            raise _unknown_step(str(key), steps)
    if not compute.default:
        raise AzureMLConfigError(
            "azureml.compute.default is empty; name a compute cluster of the workspace."
        )


def step_compute(compute: DictConfig, step: str, steps: Sequence[Step] = STEPS) -> str:
    """The cluster for one pipeline step, the pipeline default unless the step has its own."""
    check_compute(compute, steps)
    return compute.steps.get(step) or compute.default


def job_compute(compute: DictConfig) -> str:
    """The cluster for a standalone command job (training, sweep)."""
    check_compute(compute)
    return compute.job or compute.default


def _inputs(step: Step, data: DataBinding | None) -> dict[str, Input]:
    """Typed inputs: the step's ports, and the data input if the step gets it."""
    inputs = {port.name: Input(type=port.kind) for port in step.inputs}
    return inputs | {name: Input(type=kind) for name, kind in (data.inputs if data else {}).items()}


def build_component(
    sc: SubmitConfig, step: Step, data: DataBinding, distribution: Distribution | None = None
) -> CommandComponent:
    """One row of the table as a component; only steps that read the outside world get the data,
    and a distributed step its PyTorch distribution with the matching trainer keys."""
    step_data = data.for_step(step.reads_outside_world)
    trainer_keys = distribution.trainer_overrides if distribution else {}
    command = build_command(
        step_entry(step.module),
        sc,
        step.name,
        step_data,
        {**step_bindings(step, sc.cfg), **trainer_keys, **folder_bindings(sc.azure, step)},
    )
    component = CommandComponent(
        name=f"{COMPONENT_PREFIX}{step.name}",
        display_name=step.name,
        description=step.description,
        command=command,
        code=str(sc.root / sc.azure.code),
        environment=step_environment(sc.azure.environments, step.name, sc.root),
        inputs=_inputs(step, step_data),
        outputs={port.name: Output(type=port.kind) for port in step.outputs}
        | folder_outputs(sc.azure, step),
        # An old output of a step that reads today's data must never be reused.
        is_deterministic=not step.reads_outside_world,
        **(distribution.job_settings() if distribution else {}),
    )
    return ensure_valid(component, f"The {step.name} component")


def build_components(
    sc: SubmitConfig, data: DataBinding, steps: Sequence[Step] = STEPS
) -> dict[str, CommandComponent]:
    """Every step's component, in table order."""
    names = {step.name for step in steps}
    return {
        step.name: build_component(sc, step, data, step_distribution(sc, step.name, names))
        for step in steps
    }
