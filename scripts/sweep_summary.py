"""Rank the jobs of a sweep that stopped before its end: `python scripts/sweep_summary.py <folder>`.

A sweep writes `sweep_summary.md` / `.csv` / `.json` when its last job ends; one stopped before
that (Ctrl-C, a closed terminal, a killed machine) writes none. Given the sweep's folder
(logs/train/multiruns/<time>), this writes them from the jobs it holds, ranked by the metric,
direction and searched keys of the `multirun.yaml` Hydra wrote there when the sweep started.
Every job in the folder counts, an earlier sweep's into the same folder too.
"""

import sys
from pathlib import Path

import yaml
from omegaconf import DictConfig, OmegaConf

from stockcast.config.resolvers import register_resolvers
from stockcast.errors import StockcastError, counted, quoted
from stockcast.orchestration.sweeps.jobs import unranked_sweep
from stockcast.orchestration.sweeps.summary import summary_of, to_markdown, write_summary
from stockcast.paths import CONFIG_DIR

SWEEP_CONFIG = "multirun.yaml"
# A training sweep's folder under paths.log_dir (configs/hydra/default.yaml's sweep.dir).
SWEEPS_EXAMPLE = "train/multiruns/<time>"


def sweeps_example() -> str:
    """Where training sweeps are written, as this script's argument: under `paths.log_dir` as
    configs/paths/ reads it, which STOCKCAST_ROOT moves away from the folder the script runs in,
    so a bare `logs/...` would not reach them there."""
    register_resolvers()
    paths = OmegaConf.create({"paths": OmegaConf.load(CONFIG_DIR / "paths" / "default.yaml")})
    return str(Path(paths.paths.log_dir) / SWEEPS_EXAMPLE)


def refusal(argv: list[str]) -> str | None:
    """Why `argv` names no sweep folder to summarise, in one sentence; None where it does."""
    if len(argv) != 1 or argv[0].startswith("-"):
        return (
            f"sweep_summary.py takes one sweep folder and no options, not {' '.join(argv)!r}; "
            f"run python scripts/sweep_summary.py {sweeps_example()}."
        )
    folder = Path(argv[0])
    if not folder.is_dir():
        return f"{folder} is not a folder; give a sweep's folder, e.g. {sweeps_example()}."
    if not (folder / SWEEP_CONFIG).is_file():
        return (
            f"{folder} holds no {SWEEP_CONFIG}, which Hydra writes into every sweep's folder; "
            f"give the sweep's folder ({sweeps_example()}), not one of its jobs'."
        )
    return None


def single_value(path: Path) -> str | None:
    """What is wrong with a config file holding one value (`3`), which OmegaConf refuses as an
    OSError, as it does a file it cannot open; None for any other file."""
    try:
        held = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, ValueError, yaml.YAMLError):  # ValueError: not UTF-8 text
        return None
    if isinstance(held, dict | list | str) or held is None:
        return None
    return f"a single value, {quoted(held)}, not a config"


def main(argv: list[str]) -> int:
    if argv[:1] in (["-h"], ["--help"]):
        print((__doc__ or "").strip())
        return 0
    reason = refusal(argv)
    if reason is not None:
        print(f"error: {reason}", file=sys.stderr)
        return 2
    folder = Path(argv[0])
    try:
        config = OmegaConf.load(folder / SWEEP_CONFIG)
        why = None if isinstance(config, DictConfig) else "a list, not a config"
    except UnicodeDecodeError:  # a binary file in its place: OmegaConf's traceback
        why = "not UTF-8 text"
    except (OSError, yaml.YAMLError) as err:
        why = single_value(folder / SWEEP_CONFIG) or type(err).__name__
    if why is not None:
        print(
            f"error: {folder / SWEEP_CONFIG} cannot be read ({why}); it is what Hydra wrote "
            "when the sweep started, and the ranking reads its metric from it.",
            file=sys.stderr,
        )
        return 2
    unranked = unranked_sweep(config)
    if unranked is not None:
        print(f"error: {unranked}.", file=sys.stderr)
        return 2
    try:
        summary, jobs = summary_of(config, folder)
    except StockcastError as err:
        # A setting edited by hand into one the ranking cannot use, named in its file.
        print(f"error: {folder / SWEEP_CONFIG}'s {err}", file=sys.stderr)
        return 2
    if summary is None:
        print(
            f"error: no job of {folder} wrote metrics.json ({counted(len(jobs), 'job folder')} there), "
            "so there is nothing to rank yet.",
            file=sys.stderr,
        )
        return 2
    paths = write_summary(summary, folder)
    print(to_markdown(summary), flush=True)
    print("summary written to " + ", ".join(str(path) for path in paths))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
