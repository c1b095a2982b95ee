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

import json
import sys
from collections.abc import Container, Sequence
from pathlib import Path

from omegaconf import DictConfig

from stockcast.config.overrides import as_typed
from stockcast.config.search_path import searched_entries, searchpath_override
from stockcast.config.task import hydra_task
from stockcast.errors import ConfigError
from stockcast.orchestration.monitor_rerun import (
    monitor_command_hint,
    pinned_for_rerun,
    pipeline_goes_on,
)
from stockcast.orchestration.preflight import check_before_first_step
from stockcast.orchestration.replay_locks import pipeline_writes_ledger
from stockcast.orchestration.step_run import (
    STEP_CONFIG,
    StepFailed,
    StepTiming,
    port_bindings,
    run_step_inprocess,
    run_step_subprocess,
    step_command,
    timing_table,
)
from stockcast.orchestration.steps.run_folders import port_folder, refuse_set_ports, step_folders
from stockcast.orchestration.steps.table import DECISION, DECISION_FILE, STEPS, Step
from stockcast.registry.ledger import ledger_path

# Seconds per step of one pipeline run, in its run directory.
TIMINGS_FILE = "timings.txt"


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
    this run registered a version says how to store the day's forecast (`monitor_command_hint`; a
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
                else monitor_command_hint(run_dir, steps, [*overrides, *rerun_pins], config_keys)
            )
            raise StepFailed(f"{err}{hint}") from None
        except KeyboardInterrupt:
            # Ctrl-C after the register step registered a version: the rerun the stop's sentence
            # would ask for stops at prepare, so the monitor command goes on a line of its own
            # (a sentence's full stop would end up in its last argument), before that sentence.
            if rerun_pins is not None:
                hint = monitor_command_hint(run_dir, steps, [*overrides, *rerun_pins], config_keys)
                if hint:
                    print(hint.strip(), file=sys.stderr, flush=True)
            raise
    return timings


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
    refuse_set_ports(cfg, run_dir)
    check_before_first_step(cfg, run_dir)
    # Held while the steps run: a replay started meanwhile on the same ledger is refused.
    with pipeline_writes_ledger(
        ledger_path(cfg.monitor.ledger_dir, cfg.registry.tracking_uri), run_dir
    ):
        timings = run_pipeline(
            run_dir,
            user_overrides(),
            set(cfg),
            cfg.pipeline.executor,
            rerun_pins=pinned_for_rerun(cfg),
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
