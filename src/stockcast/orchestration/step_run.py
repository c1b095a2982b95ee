"""Running one step of the table: in this process (its config composed and validated as its
entry point would) or as the command line an Azure ML component runs, and the seconds it took."""

from __future__ import annotations

import importlib
import json
import subprocess
import sys
import time
from collections.abc import Container
from dataclasses import dataclass
from pathlib import Path

from stockcast.config.compose import compose_config
from stockcast.config.overrides import hydra_quoted
from stockcast.config.task import TIMING_FILE, task_config
from stockcast.errors import StockcastError
from stockcast.orchestration.steps.table import Step

# The config every step composes (its entry point's, and an Azure ML component's).
STEP_CONFIG = "pipeline"


class StepFailed(StockcastError):
    """A step failed: the run stops there."""


@dataclass
class StepTiming:
    name: str
    startup_s: float
    work_s: float
    total_s: float


def port_bindings(step: Step, folders: dict[str, Path], config_keys: Container[str]) -> list[str]:
    """`key=folder` overrides for the step's ports."""
    values = {name: hydra_quoted(str(folder)) for name, folder in folders.items()}
    return [f"{key}={value}" for key, value in step.bindings(values, config_keys).items()]


def step_command(
    step: Step,
    run_dir: Path,
    overrides: list[str],
    folders: dict[str, Path],
    config_keys: Container[str],
) -> list[str]:
    """The step's command line: entry point, user overrides, its run dir, its port bindings."""
    return [
        sys.executable,
        "-m",
        step.module,
        *overrides,
        f"hydra.run.dir={hydra_quoted(str(run_dir / step.name))}",
        *port_bindings(step, folders, config_keys),
    ]


def run_step_subprocess(step: Step, command: list[str], step_dir: Path) -> StepTiming:
    spawned = time.time()
    result = subprocess.run(command, stderr=subprocess.PIPE, text=True)
    ended = time.time()
    if result.stderr:
        sys.stderr.write(result.stderr)
    if result.returncode != 0:
        errors = [line for line in result.stderr.splitlines() if line.strip()]
        last = errors[-1] if errors else "no error output"
        raise StepFailed(
            f"step {step.name!r} failed (exit {result.returncode}): {last} -- fix it and rerun; "
            f"its log is in {step_dir}."
        )
    timing_path = step_dir / TIMING_FILE
    if not timing_path.is_file():
        return StepTiming(step.name, float("nan"), float("nan"), ended - spawned)
    timing = json.loads(timing_path.read_text())
    return StepTiming(
        step.name,
        timing["entered"] - spawned,
        timing["finished"] - timing["entered"],
        ended - spawned,
    )


def run_step_inprocess(step: Step, overrides: list[str], step_dir: Path) -> StepTiming:
    """Compose and validate the step's config exactly as its entry point would, then call its
    function. Unvalidated, the step read what Hydra parsed, not what the schema read: the text
    `monitor.rollback=no` as a condition is true, `trainer.max_steps=1e3` a float."""
    started = time.time()
    composed_cfg = compose_config(
        STEP_CONFIG,
        [*overrides, f"paths.output_dir={hydra_quoted(str(step_dir))}"],
        what=f"the {step.name} step",
    )
    # A step's own section (a row added to the table) is named by its ports, as its entry
    # point names it to `hydra_task`.
    cfg = task_config(composed_cfg, step.sections)
    # Counted as start-up: what a fresh process would pay before the step's own work (paid once
    # here, by the first step that needs a library).
    for module in step.imports:
        importlib.import_module(module)
    function = step.function
    composed = time.time()
    step_dir.mkdir(parents=True, exist_ok=True)
    try:
        function(cfg)
    except StockcastError as err:
        raise StepFailed(f"step {step.name!r} failed: {err}") from None
    ended = time.time()
    return StepTiming(step.name, composed - started, ended - composed, ended - started)


def timing_table(timings: list[StepTiming]) -> str:
    """Each step's seconds; a step run as a process also takes time to exit after its work
    (logging's and MLflow's shutdown, the interpreter's), which the total counts."""
    rows = [
        "step       start-up s   work s   exit s   total s   "
        "(start-up: process or compose, imports; exit: a step process ending)"
    ]
    rows += [
        f"{t.name:<10} {t.startup_s:>10.1f} {t.work_s:>8.1f} "
        f"{t.total_s - t.startup_s - t.work_s:>8.1f} {t.total_s:>9.1f}"
        for t in timings
    ]
    return "\n".join(rows)
