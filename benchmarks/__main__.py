"""`make bench`: training, windowing, start-up, thread-policy, prediction, DDP, replay and panel
benchmarks in one table.

Run from the repository root:

python -m benchmarks                      # everything, full sizes (a few minutes)
python -m benchmarks --quick              # small sizes, about a minute
python -m benchmarks --only train,windows
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import time

from benchmarks import BENCHMARKS, BenchOptions, StoppedEarly, format_table, run_benchmarks
from benchmarks.common import CommandFailed, load_average
from benchmarks.ddp import SERIES_LENGTH
from stockcast.config.task import CTRL_C_EXIT


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument("--quick", action="store_true", help="small sizes, for a smoke run")
    parser.add_argument(
        "--only",
        default=",".join(BENCHMARKS),
        help=f"comma-separated subset of {','.join(BENCHMARKS)} (default: all)",
    )
    parser.add_argument(
        "--train-points",
        type=int,
        help="GBM length for the training run; the ddp runs train on its whole tickers of "
        f"{SERIES_LENGTH:,} values (at least one)",
    )
    parser.add_argument("--rounds", type=int, help="interleaved rounds of the training variants")
    parser.add_argument("--repeats", type=int, help="timed epochs per training variant and round")
    parser.add_argument("--window-points", type=int, help="series length for the windowing run")
    parser.add_argument("--loop-points", type=int, help="prefix the Python loop is timed on")
    parser.add_argument(
        "--no-validation-row", action="store_true", help="skip the fit-with-validation row"
    )
    parser.add_argument(
        "overrides", nargs="*", help="Hydra overrides for the composed train config (key=value)"
    )
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    for flag, value in (("--rounds", args.rounds), ("--repeats", args.repeats)):
        if value is not None and value < 1:
            # Nothing timed: the fits ran and then there was no median to print.
            print(f"bench: {flag} is {value}; time at least 1", file=sys.stderr)
            return 2
    opts = BenchOptions.quick() if args.quick else BenchOptions()
    for name, value in (
        ("train_points", args.train_points),
        ("train_rounds", args.rounds),
        ("train_repeats", args.repeats),
        ("window_points", args.window_points),
        ("loop_points", args.loop_points),
    ):
        if value is not None:
            setattr(opts, name, value)
    if args.no_validation_row:
        opts.with_validation = False
    opts.overrides = list(args.overrides)
    names = [n.strip() for n in args.only.split(",") if n.strip()]
    if not names:
        # Nothing run: an empty table and "0 met, 0 missed", exit status 0, read as a pass.
        print(
            f"bench: --only {args.only!r} names no benchmark; choose from {','.join(BENCHMARKS)}",
            file=sys.stderr,
        )
        return 2
    twice = sorted({name for name in names if names.count(name) > 1})
    if twice:
        # Run again, minutes at full sizes, for a second set of the same rows.
        print(
            f"bench: --only {args.only!r} names {twice[0]} more than once; name each once",
            file=sys.stderr,
        )
        return 2

    def progress(name: str) -> None:
        print(f"running {name} ...", file=sys.stderr, flush=True)

    begin = time.perf_counter()
    load = load_average()
    try:
        rows = run_benchmarks(names, opts, progress)
    except ValueError as error:
        print(f"bench: {error}", file=sys.stderr)
        return 2
    except CommandFailed as error:
        print(f"bench: {error}", file=sys.stderr)
        return 1
    except StoppedEarly as stop:
        during = names[len(stop.finished)]
        if not stop.finished:
            print(
                f"bench: stopped by Ctrl-C during {during}, before any benchmark finished.",
                file=sys.stderr,
            )
            return CTRL_C_EXIT
        print(f"\n{format_table(stop.rows)}")
        print(
            f"bench: stopped by Ctrl-C during {during}; the table above holds "
            f"{', '.join(stop.finished)}, which finished.",
            file=sys.stderr,
        )
        return CTRL_C_EXIT
    print(
        f"\nstockcast bench — {platform.python_version()}, {os.cpu_count()} CPUs, "
        f"load average at start {load}, {'quick' if args.quick else 'full'} sizes, "
        f"{time.perf_counter() - begin:.0f} s\n"
    )
    print(format_table(rows))
    failed = [r for r in rows if r.met is False]
    print(f"\ntargets: {sum(r.met is True for r in rows)} met, {len(failed)} missed")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
