"""Shared behaviour of the command-line entry points: one Hydra task wrapper for all of them."""

from __future__ import annotations

import functools
import json
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from omegaconf import DictConfig, OmegaConf

from stockcast.config.command_line import composition_errors_reported
from stockcast.config.compose import CONFIG_DIR
from stockcast.config.hang_up import HangUp
from stockcast.config.overrides import typed_override, typed_word
from stockcast.config.quiet import silence_library_noise
from stockcast.config.resolvers import register_resolvers
from stockcast.config.schema import validate_config
from stockcast.config.shown_settings import hydra_settings_resolvable
from stockcast.errors import ConfigError, StockcastError, exit_with_error
from stockcast.redaction import has_hidden_credentials

T = TypeVar("T")
# When each task body ran, in its run dir: the runner splits a step's wall time with it.
TIMING_FILE = "timing.json"
# Artifact copies here are local folders: MLflow's progress bars only clutter the logs.
QUIET_ENVIRONMENT = {"MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR": "false"}
# MLflow prints a link to each run it ends, with its store's URI whole; this switch stops it.
NO_RUN_LINKS = "MLFLOW_SUPPRESS_PRINTING_URL_TO_STDOUT"
# The settings naming a store a task may log runs to.
STORE_SETTINGS = ("registry.tracking_uri", "logger.mlflow.tracking_uri")


def hide_store_links_with_credentials(cfg: DictConfig) -> None:
    """Stop MLflow printing run links where a store's URI holds a password (`redaction`)."""
    for key in STORE_SETTINGS:
        uri = OmegaConf.select(cfg, key, default=None)
        if isinstance(uri, str) and has_hidden_credentials(uri):
            os.environ[NO_RUN_LINKS] = "true"
            return


def task_config(cfg: DictConfig, sections: tuple[str, ...] = ()) -> DictConfig:
    """The config a task runs with: validated (the schema's readings stored back: `no` as false,
    `1e3` as 1000) and with store links hidden where they hold a password. Its entry point's and
    the in-process pipeline step's alike."""
    validated = validate_config(cfg, sections)
    hide_store_links_with_credentials(validated)
    return validated


# `hydra.job.chdir=true` runs the task inside its run folder: the paths a user gives relative to
# the folder they run in (data.path, a relative STOCKCAST_ROOT, train.resume) would be read from
# there instead, and a relative store would land inside the run folder.
JOB_CHDIR_REFUSAL = (
    "hydra.job.chdir=true would read relative paths (data.path, a relative STOCKCAST_ROOT) from "
    "inside the run folder instead of the folder you run in; drop it: every file of a run is "
    "written to its run folder (paths.output_dir) as it is."
)


# How a task stopped in its run directory goes on, where its own record there says (a replay's
# `replay.resume_from`); None where it has no such record.
GoesOn = Callable[[Path], str | None]


def user_errors_exit(func: Callable[..., T], goes_on: GoesOn | None = None) -> Callable[..., T]:
    """Turn a StockcastError into one line on stderr and exit status 2 instead of a traceback;
    a task stopped by SIGTERM, SIGHUP (a closed terminal: stopped as SIGTERM stops it, `HangUp`)
    or Ctrl-C into one line saying where it stopped (and how it goes on: `goes_on`), and the
    exit status a shell gives a process that signal killed."""

    @functools.wraps(func)
    def wrapper(*args, **kwargs):
        hang_up = HangUp()
        try:
            with hang_up.stops_as_sigterm():
                return func(*args, **kwargs)
        except KeyboardInterrupt:
            if _sweeper_says_stops():
                raise
            print(f"error: {stopped_sentence('Ctrl-C', goes_on)}", file=sys.stderr, flush=True)
            raise SystemExit(CTRL_C_EXIT) from None
        except SystemExit as err:
            if not stopped_by_sigterm(err) or _sweeper_says_stops():
                raise
            # Lightning ends a fit that got SIGTERM with a SystemExit of no code: exit status 0,
            # as if the run (or the sweep, or a pipeline's step) had finished.
            by, status = ("SIGHUP", SIGHUP_EXIT) if hang_up.received else ("SIGTERM", SIGTERM_EXIT)
            print(f"error: {stopped_sentence(by, goes_on)}", file=sys.stderr, flush=True)
            raise SystemExit(status) from None
        except StockcastError as err:
            if not _in_multirun():
                exit_with_error(str(err))
            print(f"error: {err}", file=sys.stderr)
            if sweeper_records_failures(_sweeper_target()):
                # Optuna tells the study the trial failed and goes on with the others.
                raise
            # Hydra's grid sweepers stop the whole sweep at a failed job: this one ends without
            # metrics.json instead, which the sweep summary ranks last as failed.
            return None

    return wrapper


# A command stopped by a signal exits as a shell reports one killed by it: 128 + its number
# (SIGTERM 15, SIGHUP 1: a closed terminal, SIGINT 2: Ctrl-C).
SIGTERM_EXIT = 128 + 15
SIGHUP_EXIT = 128 + 1
CTRL_C_EXIT = 128 + 2


def stopped_by_sigterm(err: BaseException) -> bool:
    """Whether `err` is how Lightning's loops stop a fit on SIGTERM (`SIGTERMException`, a
    SystemExit without a code). Looked up, not imported: a task that never trained has not
    loaded Lightning, and cannot have raised it."""
    exceptions = sys.modules.get("lightning.pytorch.utilities.exceptions")
    signalled = getattr(exceptions, "SIGTERMException", None)
    return signalled is not None and isinstance(err, signalled)


def stopped_sentence(by: str, goes_on: GoesOn | None = None) -> str:
    """What a task stopped `by` a signal says: that it did not finish, where it stopped, how a
    training run continues (its `checkpoints/resume.ckpt`, written at each validation) or a
    task with a record of its own goes on (`goes_on`: a replay, which the same command again
    would start anew from its first day) and, in a sweep where a job finished, how those jobs
    are ranked (the sweep writes no summary)."""
    from hydra.core.hydra_config import HydraConfig

    if not HydraConfig.initialized():
        return f"stopped by {by} before it finished; run the command again."
    run_dir = Path(HydraConfig.get().runtime.output_dir)
    if (run_dir / "checkpoints" / "resume.ckpt").is_file():
        resume = typed_override("train.resume", str(run_dir))
        advice = f"continue it with {resume} and the same settings"
    elif goes_on is not None and (own := goes_on(run_dir)) is not None:
        advice = own
    else:
        advice = "run the command again"
    sweep = Path(HydraConfig.get().sweep.dir) if _in_multirun() else None
    if sweep is not None and any(sweep.glob("*/metrics.json")):
        # The folder is not the sentence's last word: its full stop, copied with it, named none;
        # quoted as the shell needs it, so a folder holding a space is still one argument.
        summary = f"python scripts/sweep_summary.py {typed_word(str(sweep))}"
        advice += f"; {summary} ranks the jobs that finished"
    return f"stopped by {by} before it finished (its folder: {run_dir}); {advice}."


def _in_multirun() -> bool:
    from hydra.core.hydra_config import HydraConfig
    from hydra.types import RunMode

    return HydraConfig.initialized() and HydraConfig.get().mode == RunMode.MULTIRUN


def _sweeper_target() -> str:
    from hydra.core.hydra_config import HydraConfig

    # Read where it may be unset (a config built without Hydra's defaults): no sweeper named.
    return str(OmegaConf.select(HydraConfig.get(), "sweeper._target_", default="") or "")


def _sweeper_says_stops() -> bool:
    """Whether the sweep running this job says itself which job a signal stopped, and ends it
    (the Optuna sweeper, which tells the study its trial failed): the job then raises the stop
    on to it and says nothing, or the stop took two lines."""
    return _in_multirun() and sweeper_records_failures(_sweeper_target())


def sweeper_records_failures(target: str) -> bool:
    """Whether the sweeper `target` records a job that raised and goes on (Optuna tells the
    study the trial failed); Hydra's grid sweepers stop the sweep at it."""
    return "optuna" in target.lower()


def _record_timing(output_dir: Path, entered: float) -> None:
    """When the task body ran (timing.json in the run dir): the runner splits each step's wall
    time into start-up (imports, config) and work with it."""
    output_dir.mkdir(parents=True, exist_ok=True)
    (output_dir / TIMING_FILE).write_text(json.dumps({"entered": entered, "finished": time.time()}))


def hydra_task(
    task: Callable[[Any], T],
    config_name: str = "pipeline",
    *,
    timed: bool = True,
    sections: tuple[str, ...] = (),
    goes_on: GoesOn | None = None,
) -> Callable[[], T]:
    """The `main()` of an entry point: compose `config_name`, validate it against the schema,
    run `task(cfg)`, and report user errors as one line (exit 2).

    Every step, `src/train.py` and predict use this, so validation and error handling are the
    same everywhere and happen before any data is read. `sections` are top-level config
    sections the task reads that the shared schema does not know (a step added to the table
    brings its own, bound with `+section.key=...`). `goes_on` says how the task, stopped by a
    signal, goes on from what it recorded in its run directory (`user_errors_exit`).
    """
    import hydra

    task_errors: list[BaseException] = []

    @functools.wraps(task)
    def body(cfg: DictConfig) -> T:
        from hydra.core.hydra_config import HydraConfig

        entered = time.time()
        silence_library_noise()
        try:
            if HydraConfig.get().job.chdir:
                raise ConfigError(JOB_CHDIR_REFUSAL)
            return task(task_config(cfg, sections))
        except BaseException as err:
            task_errors.append(err)  # the task's own: not a composition error
            raise
        finally:
            if timed:
                _record_timing(Path(HydraConfig.get().runtime.output_dir), entered)

    decorated = hydra.main(
        version_base="1.3", config_path=str(CONFIG_DIR), config_name=config_name
    )(user_errors_exit(body, goes_on))

    def main() -> T:
        register_resolvers()
        for name, value in QUIET_ENVIRONMENT.items():
            os.environ.setdefault(name, value)
        with composition_errors_reported(config_name, task_errors), hydra_settings_resolvable():
            return decorated()

    return main
