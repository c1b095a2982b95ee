"""The local executor of the step table: prepare -> train -> evaluate -> register.

`python -m stockcast.orchestration.runner experiment=mlp_w10` (what `make pipeline` runs). It loops over the
table: every step gets the same overrides, its own folder under one pipeline run directory, and
its input ports bound to the folders that earlier steps wrote under the same port names.
`pipeline.executor=subprocess` runs each step as the exact command line an Azure ML component
runs; `inprocess` (default) composes the same config and calls the same step function, paying the
heavy imports once instead of once per step.
"""

from __future__ import annotations

import importlib
import json
import subprocess
import sys
import time
from collections.abc import Container, Sequence
from dataclasses import dataclass
from pathlib import Path

from omegaconf import DictConfig

from stockcast.config.compose import compose_config, hydra_quoted
from stockcast.config.task import TIMING_FILE, hydra_task
from stockcast.errors import StockcastError
from stockcast.orchestration.preflight import check_before_first_step
from stockcast.orchestration.steps.table import (
    DECISION,
    DECISION_FILE,
    STEPS,
    Step,
    port_folder,
    step_folders,
)

# Seconds per step of one pipeline run, in its run directory.
TIMINGS_FILE = "timings.txt"


class StepFailed(StockcastError):
    """A step failed: the run stops there."""


@dataclass
class StepTiming:
    name: str
    startup_s: float
    work_s: float
    total_s: float


def port_bindings(step: Step, folders: dict[str, Path], config_keys: Container[str]) -> list[str]:
    """`key=folder` overrides for the step's folder ports (string ports come from the config)."""
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
    """Compose the step's config exactly as its entry point would, then call its function."""
    started = time.time()
    cfg = compose_config(
        "pipeline",
        [*overrides, f"paths.output_dir={hydra_quoted(str(step_dir))}"],
        what=f"the {step.name} step",
    )
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


def run_pipeline(
    run_dir: Path,
    overrides: list[str],
    config_keys: Container[str],
    executor: str,
    steps: Sequence[Step] = STEPS,
    rerun_hint: bool = False,
) -> list[StepTiming]:
    """Run every step of `steps` in order; the config (whose top-level keys are `config_keys`)
    was validated once before this. `rerun_hint`: a step failing after this run promoted a
    version says how to store the day's forecast (`promoted_before`; a replay reruns its days
    itself)."""
    folders = step_folders(run_dir, steps)
    timings = []
    for step in steps:
        print(f"==> {step.name}", flush=True)
        step_dir = run_dir / step.name
        try:
            if executor == "subprocess":
                command = step_command(step, run_dir, overrides, folders[step.name], config_keys)
                timings.append(run_step_subprocess(step, command, step_dir))
            else:
                step_overrides = [*overrides, *port_bindings(step, folders[step.name], config_keys)]
                timings.append(run_step_inprocess(step, step_overrides, step_dir))
        except StepFailed as err:
            hint = promoted_before(run_dir, steps) if rerun_hint else ""
            raise StepFailed(f"{err}{hint}") from None
    return timings


def promoted_before(run_dir: Path, steps: Sequence[Step]) -> str:
    """What a step failing after the register step promoted a version adds to its error: the
    rerun it asks for would stop at prepare (the version's data is no new data), so that day's
    forecast would never be stored. With data.require_new_data=false the same seed and data
    train the same model, which forecasts exactly as the champion does and is not registered
    again. Nothing where the version was registered without the alias: a rerun would register
    another."""
    if not any(DECISION in (port.name for port in step.outputs) for step in steps):
        return ""
    decision_file = port_folder(run_dir, DECISION, steps) / DECISION_FILE
    if not decision_file.is_file():
        return ""
    decision = json.loads(decision_file.read_text())
    if not decision.get("registered") or not (decision.get("decision") or {}).get("promote"):
        return ""
    return (
        f" This run had made version {decision['version']} the champion: rerun with "
        "data.require_new_data=false to store and judge this day's forecast (the same seed and "
        "data train the same model, which is not registered again)."
    )


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


# Hydra settings every step needs to compose the same config: where configs are found (a model
# kind's config outside configs/, say). The run dir and the like are each step's own.
SHARED_HYDRA_KEYS = ("hydra.searchpath=",)


def user_overrides() -> list[str]:
    """The overrides the pipeline was started with, minus Hydra's own settings (but its config
    search path)."""
    from hydra.core.hydra_config import HydraConfig

    overrides = HydraConfig.get().overrides
    shared = [o for o in overrides.hydra if o.startswith(SHARED_HYDRA_KEYS)]
    return [*shared, *(o for o in overrides.task if not o.startswith("hydra."))]


def run_local_pipeline(cfg: DictConfig) -> dict:
    """`make pipeline`: every step of the table, then the register step's decision."""
    run_dir = Path(cfg.paths.output_dir)
    check_before_first_step(cfg, run_dir)
    timings = run_pipeline(
        run_dir, user_overrides(), set(cfg), cfg.pipeline.executor, rerun_hint=True
    )
    decision = json.loads((port_folder(run_dir, DECISION) / DECISION_FILE).read_text())
    (run_dir / TIMINGS_FILE).write_text(timing_table(timings) + "\n")
    print(timing_table(timings))
    print(f"pipeline run: {run_dir}")
    print(decision["message"])
    return decision


main = hydra_task(run_local_pipeline, "pipeline", timed=False)

if __name__ == "__main__":
    main()
