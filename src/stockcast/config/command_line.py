"""The command line an entry point was started with, as Hydra reads it (its overrides, its
`--config-name` and `--config-dir`), and the errors Hydra raises composing it or outside a run
(`--help`, `--info`, the run folder) told as one sentence and exit status 2."""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

from stockcast.config.composition_errors import composition_error
from stockcast.errors import exit_with_error, first_line
from stockcast.files import file_in_the_way


@contextlib.contextmanager
def composition_errors_reported(
    config_name: str, task_errors: Sequence[BaseException]
) -> Iterator[None]:
    """While Hydra runs the command: an error composing the config (an unknown experiment, a
    misspelt key, an override it cannot parse) is one sentence and exit status 2, instead of
    Hydra's 7-13 lines and exit 1. Errors the task raised are Hydra's to report, as before.

    Hydra composes before any code of ours runs, and reports every error through one function
    of its own (`run_and_report`, pinned hydra-core 1.3): it is wrapped for the command's run.
    """
    from hydra._internal import utils as hydra_utils

    original = hydra_utils.run_and_report

    def run_and_report(func: Callable[[], Any]) -> Any:
        def guarded() -> Any:
            try:
                return func()
            except Exception as err:
                # HYDRA_FULL_ERROR=1 asks for Hydra's full traceback, composition errors included.
                if os.environ.get("HYDRA_FULL_ERROR") == "1" or any(
                    err is raised for raised in task_errors
                ):
                    raise
                sentence = run_folder_error(err) or composition_error(
                    err,
                    config_name_given(config_name),
                    command_line_overrides(),
                    config_dirs=command_line_config_dirs(),
                )
                if sentence is None:
                    raise
                exit_with_error(sentence)

        return original(guarded)

    hydra_utils.run_and_report = run_and_report
    try:
        yield
    except Exception as err:
        # `--help`, `--hydra-help` and `--info` compose, and Hydra checks its flags, outside
        # `run_and_report`: their errors were tracebacks, exit 1.
        if os.environ.get("HYDRA_FULL_ERROR") == "1" or any(
            err is raised for raised in task_errors
        ):
            raise
        exit_with_error(outside_run_error(err, config_name_given(config_name)))
    finally:
        hydra_utils.run_and_report = original


# Hydra's flag for its own help, which composes Hydra's config without the task's.
HYDRA_HELP_FLAG = "--hydra-help"


def outside_run_error(err: Exception, config_name: str) -> str:
    """One sentence for an error Hydra raised outside a run: a mistake in the overrides given
    to `--help` or `--info`, task overrides given to `--hydra-help` (which composes Hydra's own
    config alone, so none of the task's keys are there), or flags that do not go together."""
    from hydra.errors import ConfigCompositionException

    overrides = command_line_overrides()
    task_overrides = [o for o in overrides if not o.lstrip("+~").startswith("hydra")]
    if (
        HYDRA_HELP_FLAG in sys.argv[1:]
        and task_overrides
        and isinstance(err, ConfigCompositionException)
    ):
        return (
            f"{HYDRA_HELP_FLAG} composes Hydra's own settings only, not the {config_name} config "
            f"that {task_overrides[0]} sets; drop it, or give it to --help or --cfg job to see "
            f"the {config_name} config with it."
        )
    sentence = composition_error(
        err, config_name, overrides, config_dirs=command_line_config_dirs()
    )
    return sentence or f"{first_line(err, '.')}; {HYDRA_HELP_FLAG} lists the flags."


def run_folder_error(err: BaseException) -> str | None:
    """One sentence for Hydra failing to make or write the command's run folder (a
    `hydra.run.dir`, `paths.log_dir` or `STOCKCAST_ROOT` that is a file, lies inside one, or
    cannot be written), or None for any other error: it was an OSError's traceback, exit 1.
    Only Hydra's own errors reach here (the task's are re-raised first). An existing folder
    this user cannot write fails as Hydra opens the log file in it, which logging reports as a
    ValueError ('Unable to configure handler') caused by the OSError: the folder is the file's."""
    logged = not isinstance(err, OSError) and isinstance(err.__cause__, OSError)
    if logged:
        err = err.__cause__
    if not isinstance(err, OSError) or not err.filename:
        return None
    folder = Path(os.fsdecode(err.filename))
    if logged:
        folder = folder.parent
    blocking = file_in_the_way(folder)
    why = (
        f"{blocking} is a file, not a folder"
        if blocking is not None
        else (err.strerror or type(err).__name__).lower()
    )
    return (
        f"cannot make or write the run folder {folder} ({why}); point hydra.run.dir, "
        "paths.log_dir or STOCKCAST_ROOT at a folder that can be written."
    )


def _hydra_flags() -> argparse.Namespace | None:
    """This command line's Hydra flags as Hydra reads them; None for flags it refuses (its own
    error says so)."""
    from hydra._internal.utils import get_args_parser

    parser = get_args_parser()
    parser.exit_on_error = False
    try:
        return parser.parse_known_args(sys.argv[1:])[0]
    except (argparse.ArgumentError, SystemExit):
        return None


def config_name_given(default: str) -> str:
    """The config the command line composes: the one `--config-name` (`-cn`) names, else the
    command's own `default`. A mistake in it named the command's own config instead."""
    flags = _hydra_flags()
    return str(flags.config_name or default) if flags is not None else default


def command_line_config_dirs() -> list[str]:
    """The folder the command line's `--config-dir` (`-cd`) adds to configs/, if any."""
    flags = _hydra_flags()
    folder = flags.config_dir if flags is not None else None
    return [os.path.abspath(folder)] if folder else []


def command_line_overrides() -> list[str]:
    """The Hydra overrides on this command line (its `key=value` words and `~key` deletions;
    not its flags)."""
    return [
        arg for arg in sys.argv[1:] if ("=" in arg and not arg.startswith("-")) or arg[:1] == "~"
    ]
