"""bench-accuracy's command line: what it scores and where it writes, refused in one sentence
before any fit where it cannot work."""

from __future__ import annotations

import argparse
import contextlib
import os
import tempfile
from pathlib import Path

from benchmarks.accuracy.series import series_names
from stockcast.config.resolvers import env_or_default
from stockcast.fields import LARGEST_SEED
from stockcast.files import folder_not_made
from stockcast.paths import PROJECT_ROOT

# Under the root every command writes into (STOCKCAST_ROOT, else the project folder), as a dry
# run's Azure ML YAML is: relative to the folder run in, it landed in the checkout even with
# STOCKCAST_ROOT set.
OUTPUT_DIR = Path("outputs") / "bench_accuracy"


def default_output_dir() -> Path:
    """`OUTPUT_DIR` under STOCKCAST_ROOT (a relative one read from the current folder, as the
    configs read it), else under the project folder."""
    return Path(os.path.abspath(env_or_default("STOCKCAST_ROOT", str(PROJECT_ROOT)))) / OUTPUT_DIR


def parse_args(argv: list[str] | None = None, description: str = "") -> argparse.Namespace:
    """The command line, checked before any fit: names, seeds and the output folder."""
    parser = argparse.ArgumentParser(prog="python -m benchmarks.accuracy", description=description)
    parser.add_argument(
        "--series",
        default="",
        help="comma-separated names (default: every public series and random walk; the "
        "trending, short and check ones only when named)",
    )
    parser.add_argument(
        "--output-dir",
        default=str(default_output_dir()),
        help="where CSV and PNG go (default: outputs/bench_accuracy under STOCKCAST_ROOT, else "
        "under the project folder)",
    )
    parser.add_argument(
        "--no-peers",
        action="store_true",
        help="fit no peer (statsforecast's, NeuralForecast's, AutoGluon); --peers-from rows count",
    )
    parser.add_argument(
        "--autogluon-python",
        default="",
        help="the interpreter of a venv with AutoGluon-TimeSeries (`make install-autogluon` "
        "builds .venv-autogluon): AutoGluon is scored as one more peer",
    )
    parser.add_argument(
        "--peers-from",
        default="",
        help="a CSV of an earlier run: its AutoETS, AutoTheta, NeuralForecast and AutoGluon "
        "scores are reused wherever a peer is scored alike (the series' values and season, the "
        "protocol, the peer's settings and its package's version), instead of fitting it again",
    )
    parser.add_argument(
        "--experiment", default="mlp_w10", help="the experiment stockcast runs (default mlp_w10)"
    )
    parser.add_argument(
        "--seeds",
        # None, not "": `--seeds ''` (an unset variable in a script) names no seed and is refused.
        default=None,
        help="comma-separated seeds: stockcast is fitted once per seed and its MASE, coverage "
        "and fit seconds are the means (default: the config's seed, one fit)",
    )
    parser.add_argument("overrides", nargs="*", help="Hydra overrides for stockcast's run")
    args = parser.parse_args(argv)
    named = comma_separated(args.series)
    refusal = no_names_refusal("--series", args.series, "series") if args.series else None
    if refusal is not None:
        parser.error(refusal)
    unknown = [n for n in named if n not in series_names()]
    if unknown:
        parser.error(f"--series names no series {unknown}; choose from {series_names()}")
    args.series = ",".join(named)
    if args.seeds is not None and not [s for s in args.seeds.split(",") if s.strip()]:
        # Run as if --seeds were left out: one fit with the config's seed, without a word.
        parser.error(f"--seeds {args.seeds!r} names no seed; leave it out for the config's seed")
    args.seeds = args.seeds or ""
    refusal = seeds_refusal(args.seeds)
    if refusal is not None:
        parser.error(refusal)
    if args.autogluon_python:
        refusal = interpreter_refusal(args.autogluon_python)
        if refusal is not None:
            parser.error(refusal)
        # Run as named: a bare file name was looked up on PATH, not in the folder run in.
        args.autogluon_python = os.path.abspath(args.autogluon_python)
    # Before any fit: a folder that cannot be written lost every fit's scores at the end.
    output = Path(args.output_dir)
    made = [path for path in (output, *output.parents) if not path.exists()]
    reason = folder_not_made(output) or file_not_written(output)
    # Made only to find out: the writers make it, so a run refused later leaves no empty folder.
    for path in made:  # the deepest first; one another process has filled meanwhile stays
        with contextlib.suppress(OSError):
            path.rmdir()
    if reason is not None:
        parser.error(f"--output-dir {output} cannot be a folder to write into ({reason})")
    return args


def comma_separated(text: str) -> list[str]:
    """The names in `text`, spaces around each stripped, as --seeds' are: "wineind, gbm_1"
    named no series ' gbm_1'."""
    return [name.strip() for name in text.split(",") if name.strip()]


def no_names_refusal(flag: str, text: str, what: str, left_out: str = "every one") -> str | None:
    """Why `flag` given `text` names no `what` (commas and spaces alone: a script's unset
    variable), else None; `left_out` is what leaving the flag out runs."""
    if comma_separated(text):
        return None
    return f"{flag} {text!r} names no {what}; leave it out for {left_out}"


def seeds_refusal(text: str) -> str | None:
    """Why `--seeds` (comma-separated) names no seeds a fit takes, else None: checked before any
    fit, since a seed out of numpy's range was refused only at the first series' fit with it."""
    seeds = [s.strip() for s in text.split(",") if s.strip()]
    if any(not (s.isascii() and s.isdigit()) or int(s) > LARGEST_SEED for s in seeds):
        return (
            f"--seeds {text!r} is no comma-separated list of whole numbers from 0 to {LARGEST_SEED}"
        )
    # A seed named twice is fitted twice, to the same result, and counts twice in the means.
    twice = sorted({int(s) for s in seeds if [int(t) for t in seeds].count(int(s)) > 1})
    if twice:
        named = ", ".join(str(seed) for seed in twice)
        return f"--seeds {text!r} names seed {named} more than once; name each seed once"
    return None


def interpreter_refusal(python: str) -> str | None:
    """Why `--autogluon-python` names no interpreter that can be run, else None: checked before
    any fit, since one that is not there skipped AutoGluon on every series, and a file that
    cannot be run stopped the run with a traceback after the first series' fits."""
    path = Path(python)
    if path.is_file() and os.access(path, os.X_OK):
        return None
    return (
        f"--autogluon-python {python} is no interpreter that can be run; give the python of a "
        "venv with AutoGluon-TimeSeries (`make install-autogluon` builds "
        ".venv-autogluon/bin/python)"
    )


def file_not_written(folder: Path) -> str | None:
    """The operating system's reason a file cannot be made in the existing `folder` (read-only,
    another user's, /proc), else None: tried, since permissions alone do not say (root)."""
    try:
        with tempfile.TemporaryFile(dir=folder):
            return None
    except OSError as err:
        return err.strerror or str(err)
