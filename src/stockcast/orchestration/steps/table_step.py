"""`table_step`, which every step's function wears: its folder ports left null take the step
table's folders, and its output folders are checked before any work, each refusal one sentence
where writing would otherwise fail half-way or destroy what the step reads."""

from __future__ import annotations

import functools
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from omegaconf import DictConfig, OmegaConf

from stockcast.errors import ArtifactError, ConfigError
from stockcast.files import file_in_the_way, folder_cannot_be_written
from stockcast.orchestration.steps.run_folders import with_table_folders
from stockcast.orchestration.steps.table import MLFLOW_MODEL, Step, step_named

T = TypeVar("T")


def refuse_outputs_in_files(cfg: DictConfig, step: Step) -> None:
    """One sentence, before any work, for an output folder that is a file or lies inside one:
    writing it would fail half-way with the operating system's error."""
    for port in step.outputs:
        value = OmegaConf.select(cfg, port.key)
        if value is None:
            continue
        folder = Path(str(value))
        if file_in_the_way(folder) is not None:
            raise ArtifactError(
                f"{port.key} {folder} is a file or inside one; point it at a folder."
            )


def refuse_outputs_in_inputs(cfg: DictConfig, step: Step) -> None:
    """One sentence, before any work, for an output folder that is one of the step's input
    folders or lies inside one: the step would write into what it reads. evaluate's report in
    its model folder changed the model's files, so no report could ever match the model again."""
    read = {
        port.key: Path(str(value)).resolve()
        for port in step.inputs
        if (value := OmegaConf.select(cfg, port.key)) is not None
    }
    for port in step.outputs:
        value = OmegaConf.select(cfg, port.key)
        if value is None:
            continue
        folder = Path(str(value)).resolve()
        for key, source in read.items():
            if folder == source or source in folder.parents:
                raise ArtifactError(
                    f"{port.key} {value} is {key}'s folder or lies inside it, so the step would "
                    "write into a folder it reads; point it at a folder of its own."
                )


def refuse_models_over_ports(cfg: DictConfig, step: Step) -> None:
    """One sentence, before any work, for a model output folder that is, or holds, another
    folder of the step: a model folder is replaced whole (emptied, then written), which deleted
    that folder with it (the prepared data the fit read, the evaluated model)."""
    folders = {
        port: Path(str(value))
        for port in step.ports
        if (value := OmegaConf.select(cfg, port.key)) is not None
    }
    for port, folder in folders.items():
        if port.kind != MLFLOW_MODEL or port not in step.outputs:
            continue
        replaced = folder.resolve()
        for other, inside in folders.items():
            if other != port and replaced in (inside.resolve(), *inside.resolve().parents):
                raise ConfigError(
                    f"{port.key} {folder} is or holds {other.key} {inside}, which writing the "
                    f"model would delete (its folder is replaced whole); point {port.key} at a "
                    "folder of its own."
                )


def refuse_unwritable_outputs(cfg: DictConfig, step: Step) -> None:
    """One sentence, before any work, for an output folder of `step` that cannot be made or
    written (a read-only mount, a system folder): otherwise the first write's traceback after
    the work (the data read, the model fitted)."""
    for port in step.outputs:
        value = OmegaConf.select(cfg, port.key)
        if value is None:
            continue
        folder = Path(str(value))
        reason = folder_cannot_be_written(folder)
        if reason is not None:
            raise ConfigError(
                f"cannot write the {step.name} step's output to {port.key} {folder} "
                f"({reason.lower()}); point it at a folder this user can write."
            )


def table_step(name: str) -> Callable[[Callable[..., T]], Callable[..., T]]:
    """Decorate a step's function: its folder ports left null in the config take the table's
    default folders (`with_table_folders`), and its output folders are checked
    (`refuse_outputs_in_files`, `refuse_outputs_in_inputs`, `refuse_models_over_ports`,
    `refuse_unwritable_outputs`), before it runs."""

    def decorate(function: Callable[..., T]) -> Callable[..., T]:
        @functools.wraps(function)
        def run(cfg: DictConfig, *args: Any, **kwargs: Any) -> T:
            step = step_named(name)
            cfg = with_table_folders(cfg, step)
            refuse_outputs_in_files(cfg, step)
            refuse_outputs_in_inputs(cfg, step)
            refuse_models_over_ports(cfg, step)
            refuse_unwritable_outputs(cfg, step)
            return function(cfg, *args, **kwargs)

        return run

    return decorate
