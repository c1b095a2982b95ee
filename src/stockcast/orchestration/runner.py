"""The local executor of the step table: prepare -> train -> evaluate -> refit -> register ->
monitor.

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
import shlex
import subprocess
import sys
import time
from collections.abc import Container, Sequence
from dataclasses import dataclass
from pathlib import Path

from omegaconf import DictConfig

from stockcast.config.compose import compose_config
from stockcast.config.overrides import as_typed, hydra_quoted
from stockcast.config.search_path import searched_entries, searchpath_override
from stockcast.config.task import TIMING_FILE, hydra_task, task_config
from stockcast.errors import ConfigError, StockcastError
from stockcast.orchestration.preflight import check_before_first_step
from stockcast.orchestration.steps.table import (
    DECISION,
    DECISION_FILE,
    MONITOR,
    STEPS,
    Step,
    port_folder,
    step_folders,
)
from stockcast.redaction import MASK, redacted_override
from stockcast.registry.signing import PEM_START

# Seconds per step of one pipeline run, in its run directory.
TIMINGS_FILE = "timings.txt"
# The public key a run was given as text (from STOCKCAST_SIGNING_PUBLIC_KEY, say), kept in its run
# directory for the monitor command a failed step prints.
RERUN_PUBLIC_KEY_FILE = "public_key.pem"
# The override the printed monitor command leaves out: the monitor signs nothing.
PRIVATE_KEY = "registry.signing.private_key="


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


def run_pipeline(
    run_dir: Path,
    overrides: list[str],
    config_keys: Container[str],
    executor: str,
    steps: Sequence[Step] = STEPS,
    rerun_pins: Sequence[str] | None = None,
) -> list[StepTiming]:
    """Run every step of `steps` in order; the config (whose top-level keys are `config_keys`)
    was validated once before this. With `rerun_pins` (`pinned_for_rerun`), a step failing after
    this run registered a version says how to store the day's forecast (`registered_before`; a
    replay reruns its days itself, and passes none)."""
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
            hint = (
                ""
                if rerun_pins is None
                else registered_before(run_dir, steps, [*overrides, *rerun_pins], config_keys)
            )
            raise StepFailed(f"{err}{hint}") from None
        except KeyboardInterrupt:
            # Ctrl-C after the register step registered a version: the rerun the stop's sentence
            # would ask for stops at prepare, so the monitor command goes on a line of its own
            # (a sentence's full stop would end up in its last argument), before that sentence.
            if rerun_pins is not None:
                hint = registered_before(run_dir, steps, [*overrides, *rerun_pins], config_keys)
                if hint:
                    print(hint.strip(), file=sys.stderr, flush=True)
            raise
    return timings


def pipeline_goes_on(run_dir: Path) -> str | None:
    """How a pipeline stopped by a signal after its register step registered a version goes
    on: with the monitor command `run_pipeline` printed, as running it again would stop at
    prepare (the version's data is no new data); None where no version was registered."""
    decision = port_folder(run_dir, DECISION) / DECISION_FILE
    if not decision.is_file() or not json.loads(decision.read_text()).get("registered"):
        return None
    return (
        "running it again would stop at prepare, as the version it registered holds this "
        "day's data: store and judge the day's forecast with the monitor command above"
    )


def registered_before(
    run_dir: Path, steps: Sequence[Step], overrides: list[str], config_keys: Container[str]
) -> str:
    """What a step failing after the register step registered a version adds to its error: the
    rerun it asks for would stop at prepare (the version's data is no new data) or, with
    data.require_new_data=false, train again and register another version, so that day's
    forecast would never be stored once. The monitor step alone on this run's folders stores
    and judges it, training and registering nothing."""
    monitor = next((step for step in steps if MONITOR in (p.name for p in step.outputs)), None)
    has_decision = any(DECISION in (port.name for port in step.outputs) for step in steps)
    if monitor is None or not has_decision:
        return ""
    decision_file = port_folder(run_dir, DECISION, steps) / DECISION_FILE
    if not decision_file.is_file():
        return ""
    decision = json.loads(decision_file.read_text())
    if not decision.get("registered"):
        return ""
    # A folder of its own: the failed step's may hold what it wrote before failing.
    folders = step_folders(run_dir, steps)[monitor.name]
    again = run_dir / f"{monitor.name}_again"
    folders |= {port.name: again / port.name for port in monitor.outputs}
    # The monitor signs nothing: a private key (text or a path) stays out of the message.
    settings = [o for o in overrides if not o.lstrip("+").startswith(PRIVATE_KEY)]
    shown = [redacted_override(o) for o in settings]
    command = [
        sys.executable,
        "-m",
        monitor.module,
        *shown,
        f"hydra.run.dir={hydra_quoted(str(again))}",
        *port_bindings(monitor, folders, config_keys),
    ]
    promoted = (decision.get("decision") or {}).get("promote")
    made = "as the champion" if promoted else "without making it the champion"
    masked = (
        f" (it shows each password as {MASK}: put them back before running it)"
        if shown != settings
        else ""
    )
    return (
        f" This run registered version {decision['version']} {made}: to store and judge this "
        "day's forecast without training or registering again, run the monitor step alone on "
        f"this run's folders{masked}: {shlex.join(command)}"
    )


def pinned_for_rerun(cfg: DictConfig) -> list[str]:
    """The settings the monitor step reads from the environment (`STOCKCAST_ROOT`,
    `STOCKCAST_KEYS_DIR`, `MLFLOW_TRACKING_URI`, `STOCKCAST_SIGNING_PUBLIC_KEY`), as this run
    resolved them: the command a failed step prints then reads this run's store and key in any
    shell, where a shell without them found no champion and stored nothing, with exit status 0,
    or checked no signature. A public key given as text is written beside the run's steps
    (`RERUN_PUBLIC_KEY_FILE`) and pinned as that file."""
    pins = [
        f"paths.root_dir={hydra_quoted(str(cfg.paths.root_dir))}",
        f"registry.tracking_uri={hydra_quoted(str(cfg.registry.tracking_uri))}",
    ]
    public = cfg.registry.signing.public_key
    if public is not None and str(public).lstrip().startswith(PEM_START):
        key_file = Path(cfg.paths.output_dir) / RERUN_PUBLIC_KEY_FILE
        key_file.parent.mkdir(parents=True, exist_ok=True)
        key_file.write_text(str(public))
        public = str(key_file)
    value = "null" if public is None else hydra_quoted(str(public))
    return [*pins, f"registry.signing.public_key={value}"]


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


def user_overrides() -> list[str]:
    """The overrides the pipeline was started with, minus Hydra's own settings but for where it
    searched for configs: Hydra gives `--config-dir` and `hydra.searchpath` to the command they
    were typed on only, and each step, composing its config from the overrides alone, must find
    the same configs (an experiment or a model kind outside configs/)."""
    from hydra.core.hydra_config import HydraConfig

    hydra_cfg = HydraConfig.get()
    searched = searched_entries(hydra_cfg)
    return [
        *([searchpath_override(searched)] if searched else []),
        *(o for o in as_typed(hydra_cfg.overrides.task) if not o.startswith("hydra.")),
    ]


def refuse_another_config(own: str) -> None:
    """`--config-name mine` on a command that runs the steps: it composed `mine` itself, but
    every step composes the pipeline config from the overrides alone (as an Azure ML component
    does), so the settings in `mine` reached none of them. Refused before any work."""
    from hydra.core.hydra_config import HydraConfig

    given = HydraConfig.get().job.config_name
    if given != own:
        raise ConfigError(
            f"--config-name {given} reaches this command but not its steps, which compose the "
            f"{STEP_CONFIG} config: drop it, and give its settings as overrides or as an "
            "experiment config (--config-dir <folder> experiment=<name>)."
        )


def run_local_pipeline(cfg: DictConfig) -> dict:
    """`make pipeline`: every step of the table, then the register step's decision."""
    refuse_another_config(STEP_CONFIG)
    run_dir = Path(cfg.paths.output_dir)
    check_before_first_step(cfg, run_dir)
    timings = run_pipeline(
        run_dir, user_overrides(), set(cfg), cfg.pipeline.executor, rerun_pins=pinned_for_rerun(cfg)
    )
    decision = json.loads((port_folder(run_dir, DECISION) / DECISION_FILE).read_text())
    (run_dir / TIMINGS_FILE).write_text(timing_table(timings) + "\n")
    print(timing_table(timings))
    print(f"pipeline run: {run_dir}")
    print(decision["message"])
    return decision


main = hydra_task(run_local_pipeline, STEP_CONFIG, timed=False, goes_on=pipeline_goes_on)

if __name__ == "__main__":
    main()
