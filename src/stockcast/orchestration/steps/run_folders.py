"""Where each step's folders lie in a run directory, as the local runner lays it out: outputs
under the step's own folder, inputs where their producer wrote them (the wiring the step table
derives from port names); a step run on its own takes the same folders, and a pipeline run
refuses a folder port the config sets, which it would leave unused."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from omegaconf import DictConfig, OmegaConf

from stockcast.errors import ConfigError
from stockcast.orchestration.steps.table import STEPS, Step, wiring


def step_folders(run_dir: Path, steps: Sequence[Step]) -> dict[str, dict[str, Path]]:
    """step -> {port -> folder}: outputs under the step's own folder, inputs where their producer
    wrote them (the wiring the step table derives from port names)."""
    edges = wiring(steps)
    written: dict[tuple[str, str], Path] = {}
    folders: dict[str, dict[str, Path]] = {}
    for step in steps:
        for port in step.outputs:
            written[(step.name, port.name)] = run_dir / step.name / port.name
        folders[step.name] = {
            **{port: written[(producer, port)] for port, producer in edges[step.name].items()},
            **{port.name: written[(step.name, port.name)] for port in step.outputs},
        }
    return folders


def refuse_set_ports(
    cfg: DictConfig, run_dir: Path, steps: Sequence[Step] = STEPS, run: str = "a pipeline run"
) -> None:
    """One sentence, before the first step, for a folder port the config sets: a pipeline run
    (and each day of a replay, `run` in the sentence) binds every port to its run folder's
    layout (`step_folders`), after the user's overrides, so the folder set would be left unused
    without a word."""
    folders = step_folders(run_dir, steps)
    for step in steps:
        for port in step.ports:
            value = OmegaConf.select(cfg, port.key)
            if value is not None:
                raise ConfigError(
                    f"{port.key} is set to {value}, but {run} binds each step's folders "
                    f"in its run folder ({folders[step.name][port.name]} here) and would not use "
                    f"it; drop it, or run the {step.name} step alone (python -m {step.module}) "
                    "to use that folder."
                )


def port_folder(run_dir: Path, port: str, steps: Sequence[Step] = STEPS) -> Path:
    """Where the last step that produces `port` writes it in a run directory laid out as the
    local runner lays it out (`step_folders`)."""
    producer = [step for step in steps if port in (p.name for p in step.outputs)][-1]
    return step_folders(run_dir, steps)[producer.name][port]


def with_table_folders(cfg: DictConfig, step: Step) -> DictConfig:
    """`cfg` with each folder port of `step` that the config leaves null bound to the step
    table's folder under `paths.output_dir`: the layout the local runner uses, so a step run on
    its own reads and writes where a pipeline run would."""
    folders = step_folders(Path(cfg.paths.output_dir), STEPS)[step.name]
    for port in step.ports:
        section, _, key = port.key.rpartition(".")
        node = OmegaConf.select(cfg, section) if section else cfg
        if node is not None and key in node and node[key] is None:
            node[key] = str(folders[port.name])
    return cfg
