"""The local executor: prepare -> train -> evaluate -> register.

`python -m stockcast.pipeline experiment=mlp_w10` (what `make pipeline` runs). Every step gets the
same overrides, its own folder under one pipeline run directory, and its ports bound to folders
produced by the steps before it. `pipeline.executor=subprocess` runs each step as the exact
command line an Azure ML component runs; `inprocess` (default) composes the same config and calls
the same step function, paying the heavy imports once instead of four times.
"""

from __future__ import annotations

import importlib
import json
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import hydra
from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig

from stockcast.cli import TIMING_FILE, user_errors_exit
from stockcast.config import CONFIG_DIR
from stockcast.errors import StockcastError
from stockcast.steps.register import DECISION_FILE
from stockcast.steps.spec import STEP_SPECS, STRING, StepSpec

EXECUTORS = ("inprocess", "subprocess")
# The heavy libraries each step's work needs.
STEP_IMPORTS = {
    "prepare": ("numpy", "pandas"),
    "train": ("torch", "lightning", "mlflow"),
    "evaluate": ("mlflow.pyfunc", "matplotlib.pyplot"),
    "register": ("mlflow",),
}


class StepFailed(StockcastError):
    """A step exited non-zero: the run stops there."""


@dataclass
class StepTiming:
    name: str
    startup_s: float
    work_s: float
    total_s: float


def step_command(
    step: StepSpec, run_dir: Path, overrides: list[str], folders: dict[str, Path]
) -> list[str]:
    """The step's command line: entry point, user overrides, its run dir, its port bindings."""
    return [
        sys.executable,
        "-m",
        step.module,
        *overrides,
        f"hydra.run.dir={run_dir / step.name}",
        *port_bindings(step, folders),
    ]


def run_step(step: StepSpec, command: list[str], step_dir: Path) -> StepTiming:
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
    timing = json.loads(timing_path.read_text()) if timing_path.is_file() else None
    if timing is None:
        return StepTiming(step.name, float("nan"), float("nan"), ended - spawned)
    return StepTiming(
        step.name,
        timing["entered"] - spawned,
        timing["finished"] - timing["entered"],
        ended - spawned,
    )


def run_step_inprocess(step: StepSpec, overrides: list[str], step_dir: Path) -> StepTiming:
    """Compose the step's config exactly as its entry point would, then call its function."""
    from hydra import compose

    from stockcast.steps import STEP_FUNCTIONS

    started = time.time()
    cfg = compose("pipeline", overrides=[*overrides, f"paths.output_dir={step_dir}"])
    # Counted as start-up: what a fresh process would pay before the step's own work (paid once
    # here, by the first step that needs a library).
    for module in STEP_IMPORTS.get(step.name, ()):
        importlib.import_module(module)
    composed = time.time()
    step_dir.mkdir(parents=True, exist_ok=True)
    try:
        STEP_FUNCTIONS[step.name](cfg)
    except StockcastError as err:
        raise StepFailed(f"step {step.name!r} failed: {err}") from None
    ended = time.time()
    return StepTiming(step.name, composed - started, ended - composed, ended - started)


def user_overrides() -> list[str]:
    """The overrides the pipeline was started with, minus Hydra's own settings."""
    return [o for o in HydraConfig.get().overrides.task if not o.startswith("hydra.")]


def port_bindings(step: StepSpec, folders: dict[str, Path]) -> list[str]:
    return [
        f"{port.key}={folders[port.name]}"
        for port in (*step.inputs, *step.outputs)
        if port.kind != STRING
    ]


def run_pipeline(
    run_dir: Path, overrides: list[str], executor: str = "inprocess"
) -> tuple[dict, list[StepTiming]]:
    if executor not in EXECUTORS:
        raise StockcastError(
            f"pipeline.executor {executor!r} is unknown; choose one of {list(EXECUTORS)}."
        )
    folders: dict[str, Path] = {}
    timings = []
    for step in STEP_SPECS:
        for port in step.outputs:
            folders[port.name] = run_dir / step.name / port.name
        print(f"==> {step.name}", flush=True)
        step_dir = run_dir / step.name
        if executor == "subprocess":
            command = step_command(step, run_dir, overrides, folders)
            timings.append(run_step(step, command, step_dir))
        else:
            step_overrides = [*overrides, *port_bindings(step, folders)]
            timings.append(run_step_inprocess(step, step_overrides, step_dir))
    decision = json.loads((run_dir / "register" / DECISION_FILE).read_text())
    return decision, timings


def timing_table(timings: list[StepTiming]) -> str:
    rows = ["step       start-up s   work s   total s   (start-up: process or compose, imports)"]
    rows += [
        f"{t.name:<10} {t.startup_s:>10.1f} {t.work_s:>8.1f} {t.total_s:>9.1f}" for t in timings
    ]
    return "\n".join(rows)


@hydra.main(version_base="1.3", config_path=str(CONFIG_DIR), config_name="pipeline")
@user_errors_exit
def main(cfg: DictConfig) -> None:
    run_dir = Path(cfg.paths.output_dir)
    decision, timings = run_pipeline(run_dir, user_overrides(), cfg.pipeline.executor)
    (run_dir / "timings.txt").write_text(timing_table(timings) + "\n")
    print(timing_table(timings))
    print(f"pipeline run: {run_dir}")
    print(decision["message"])


if __name__ == "__main__":
    main()
