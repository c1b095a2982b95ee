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
from omegaconf import OmegaConf

from stockcast.errors import counted
from stockcast.orchestration.sweeps.summary import summary_of, to_markdown, write_summary

SWEEP_CONFIG = "multirun.yaml"
EXAMPLE = "logs/train/multiruns/<time>"


def refusal(argv: list[str]) -> str | None:
    """Why `argv` names no sweep folder to summarise, in one sentence; None where it does."""
    if len(argv) != 1 or argv[0].startswith("-"):
        return (
            f"sweep_summary.py takes one sweep folder and no options, not {' '.join(argv)!r}; "
            f"run python scripts/sweep_summary.py {EXAMPLE}."
        )
    folder = Path(argv[0])
    if not folder.is_dir():
        return f"{folder} is not a folder; give a sweep's folder, e.g. {EXAMPLE}."
    if not (folder / SWEEP_CONFIG).is_file():
        return (
            f"{folder} holds no {SWEEP_CONFIG}, which Hydra writes into every sweep's folder; "
            f"give the sweep's folder ({EXAMPLE}), not one of its jobs'."
        )
    return None


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
    except (OSError, yaml.YAMLError) as err:
        print(
            f"error: {folder / SWEEP_CONFIG} cannot be read ({type(err).__name__}); it is what "
            "Hydra wrote when the sweep started, and the ranking reads its metric from it.",
            file=sys.stderr,
        )
        return 2
    summary, jobs = summary_of(config, folder)
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
