"""Where a sweep's jobs wrote their folders, wherever `hydra.sweep.subdir` put them: what a
trial's `job_dir` names, and where an interrupted batch's finished jobs left their metrics."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf


def returned_job_folder(ret: Any, sweep_dir: Path) -> Path | None:
    """Where hydra.sweep.subdir put a job's folder, numbered or not: its runtime output folder
    (its `working_dir` is the folder the sweep started in, as jobs do not chdir); None where a
    launcher's return names none inside the sweep's folder (a cloud job's)."""
    hydra_cfg = getattr(ret, "hydra_cfg", None)
    folder = (
        OmegaConf.select(hydra_cfg, "hydra.runtime.output_dir", default=None)
        if isinstance(hydra_cfg, DictConfig)
        else None
    )
    if not folder or not Path(folder).resolve().is_relative_to(sweep_dir.resolve()):
        return None
    return Path(folder)


def launched_job_folders(sweep_dir: Path, since: float) -> dict[int, Path]:
    """The folder of each job (by its number) launched since `since`, wherever
    `hydra.sweep.subdir` put it (its metrics may be cut off: they are not read here)."""
    from stockcast.orchestration.sweeps.jobs import job_folders

    return dict(job_folders(sweep_dir, since))
