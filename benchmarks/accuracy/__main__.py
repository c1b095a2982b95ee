"""`make bench-accuracy`: stockcast against naive, seasonal naive, AutoETS, AutoTheta and
NeuralForecast's MLP and NHITS on public series and five GBM random walks, in one table (+ CSV
and PNG), with each series' ratio to the best peer and their geometric mean.

python -m benchmarks.accuracy                       # every series
python -m benchmarks.accuracy --series wineind,gbm_1
python -m benchmarks.accuracy model.anchor=none     # stockcast with other Hydra overrides
python -m benchmarks.accuracy --seeds 42,1,2        # stockcast's scores averaged over seeds
python -m benchmarks.accuracy --peers-from "${STOCKCAST_ROOT:-.}/outputs/bench_accuracy/bench_accuracy.csv"

It writes into outputs/bench_accuracy/ under STOCKCAST_ROOT (else the project folder); a run
stopped by Ctrl-C or an error writes the series it scored to bench_accuracy_stopped.csv there.
"""

from __future__ import annotations

import argparse
import logging
import sys
import warnings
from dataclasses import replace
from functools import partial
from pathlib import Path

import numpy as np

from benchmarks.accuracy.arguments import parse_args
from benchmarks.accuracy.fit_data import PreparedCsv, prepared_cuts
from benchmarks.accuracy.forecasters import (
    configured_min_relative_scale,
    naive,
    seasonal_naive,
    stockcast_default,
    warm_up,
)
from benchmarks.accuracy.outputs import (
    STOPPED_CSV,
    rows_not_scored,
    table,
    write_csv,
    write_outputs,
)
from benchmarks.accuracy.peer_cache import (
    cached_peers,
    read_peer_cache,
    series_digests,
    stamped,
    warn_of_peers_left_out,
)
from benchmarks.accuracy.peers import (
    PEER_PACKAGE,
    auto_ets,
    auto_theta,
    autogluon,
    installed_version,
    neuralforecast_mlp,
    neuralforecast_nhits,
)
from benchmarks.accuracy.protocol import Cut, Result, cut
from benchmarks.accuracy.series import (
    BenchSeries,
    SeriesUnavailable,
    load_bench_series,
)
from benchmarks.common import quiet_console, stopped_by_ctrl_c
from stockcast.config.task import CTRL_C_EXIT
from stockcast.errors import StockcastError, counted

# The peers fitted in this environment, each by its own package (AutoGluon: in its own venv).
FITTED_HERE = ("AutoETS", "AutoTheta", "NeuralForecast MLP", "NeuralForecast NHITS")


class StoppedEarly(Exception):
    """Ctrl-C, or the stockcast `error` a user can fix, during a run: the results of the series
    scored before it."""

    def __init__(self, results: list[Result], error: StockcastError | None = None) -> None:
        super().__init__(f"stopped after {len(results)} results")
        self.results = results
        self.error = error


def run(args: argparse.Namespace) -> list[Result]:
    """Every chosen series scored; Ctrl-C or a stockcast error raises `StoppedEarly` with the
    series scored so far (minutes of peers' fits each), which would otherwise be lost."""
    results: list[Result] = []
    try:
        return score_series(args, results)
    except StockcastError as err:  # a setting that does not compose, or a series it refuses
        raise StoppedEarly(results, err) from None
    except KeyboardInterrupt:
        raise StoppedEarly(results) from None
    except SystemExit as err:
        if not stopped_by_ctrl_c(err):
            raise
        raise StoppedEarly(results) from None


def score_series(args: argparse.Namespace, results: list[Result]) -> list[Result]:
    """Each chosen series' results appended to `results` as soon as they are in."""
    names = [n for n in args.series.split(",") if n]
    # One fit with the config's seed, or one per --seeds entry (averaged).
    seed_overrides = [[f"seed={s.strip()}"] for s in args.seeds.split(",") if s.strip()] or [[]]
    cache = read_peer_cache(args.peers_from) if args.peers_from else {}
    if args.no_peers and not args.peers_from:
        print(
            "warning: --no-peers without --peers-from: each series' ratio to the best peer, and "
            "their geometric mean, are to naive and seasonal naive only",
            file=sys.stderr,
        )
    if not args.no_peers and not args.peers_from:
        # With --peers-from, a peer this run cannot fit keeps the CSV's rows, and one the CSV
        # lacks is named by warn_of_peers_left_out.
        warn_of_peers_not_installed()
    try:
        chosen = load_bench_series(names or None)
    except SeriesUnavailable as err:
        raise SystemExit(f"--series {err}") from None
    # The naive baseline's band unit is floored as the fitted experiment's is.
    floor = configured_min_relative_scale((f"experiment={args.experiment}", *args.overrides))
    # Each series prepared once, before any fit (a series too short is refused then), and read
    # by each of its fits.
    named = [(s.name, s.values) for s in chosen]
    with prepared_cuts(named, args.experiment, args.overrides) as prepared:
        print("warming up (one untimed fit of a short series) ...", file=sys.stderr)
        warm_up(args.experiment, args.overrides)
        for series in chosen:
            results += score_one(args, series, prepared[series.name], seed_overrides, floor, cache)
    return results


def score_one(
    args: argparse.Namespace,
    series: BenchSeries,
    prepared: PreparedCsv,
    seed_overrides: list[list[str]],
    floor: float,
    cache: dict[tuple[str, str, str], Result],
) -> list[Result]:
    """One series' results: stockcast's (on its `prepared` data), the baselines' and the
    peers'; each printed as soon as it is in."""
    print(f"running {series.name} ({len(series.values)} points) ...", file=sys.stderr)
    split = cut(series.values)
    runs = [
        stockcast_default(
            series.name,
            split,
            [*args.overrides, *seed],
            refit=True,
            experiment=args.experiment,
            prepared=prepared,
        )
        for seed in seed_overrides
    ]
    candidates = [
        *mean_over_seeds(runs),
        naive(series.name, split, floor),
        seasonal_naive(series.name, split, series.season_length),
    ]
    digests = series_digests(series.values, series.season_length)
    cached = cached_peers(cache, series.name, digests, args.autogluon_python)
    if args.peers_from:
        warn_of_peers_left_out(
            args.peers_from, args.no_peers, args.autogluon_python, series.name, cached, cache
        )
    candidates += peer_results(args, series, split, cached)
    scored = stamped([r for r in candidates if r is not None], digests, args.autogluon_python)
    # Each series' results as soon as they are in: a long run shows (and keeps) its progress.
    for r in scored:
        cover = " ".join(f"{lv}:{c:.2f}" for lv, c in r.coverage.items())
        fit = f" fit {r.fit_seconds:.1f}s" if np.isfinite(r.fit_seconds) else ""
        line = f"  {r.forecaster}: MASE {r.mase:.3f} {cover}{fit}"
        print(line, file=sys.stderr)
    return scored


def warn_of_peers_not_installed() -> None:
    """Say, before any fit, which peers this run cannot fit because their package is missing
    (a run outside `make bench-accuracy`, which installs them): each was left out of every
    series' ratio to the best peer without a word."""
    missing = [p for p in FITTED_HERE if installed_version(PEER_PACKAGE[p]) is None]
    if missing:
        packages = ", ".join(dict.fromkeys(PEER_PACKAGE[p] for p in missing))
        print(
            f"warning: {packages} not installed (pip install -e '.[peers]'; make bench-accuracy "
            f"installs it): each series' ratio to the best peer leaves out {', '.join(missing)}, "
            "which this run cannot fit",
            file=sys.stderr,
        )


def peer_results(
    args: argparse.Namespace, series: BenchSeries, split: Cut, cached: dict[str, Result]
) -> list[Result | None]:
    """Each peer this run scores: its row from `cached` (`--peers-from`, scored alike) where there
    is one, else fitted; a cached peer this run does not fit (`--no-peers`) still counts."""
    name, season = series.name, series.season_length
    fits = {}
    if not args.no_peers:
        fits = {
            "AutoETS": partial(auto_ets, name, split, season),
            "AutoTheta": partial(auto_theta, name, split, season),
            "NeuralForecast MLP": partial(neuralforecast_mlp, name, split),
            "NeuralForecast NHITS": partial(neuralforecast_nhits, name, split, season),
        }
    if args.autogluon_python and not args.no_peers:
        fits["AutoGluon"] = partial(autogluon, name, split, season, args.autogluon_python)
    cached = dict(cached)
    found = [cached.pop(peer, None) or fit() for peer, fit in fits.items()]
    return [*found, *cached.values()]


def mean_over_seeds(runs: list[list[Result]]) -> list[Result]:
    """One result per forecaster: the mean MASE, coverage, fit seconds and serve ms of its fits with
    different seeds (where stockcast and the best peer are close, one seed's luck can decide a row)."""
    means = []
    for same in zip(*runs, strict=True):
        levels = same[0].coverage.keys()
        means.append(
            replace(
                same[0],
                mase=float(np.mean([r.mase for r in same])),
                coverage={lv: float(np.mean([r.coverage[lv] for r in same])) for lv in levels},
                fit_seconds=float(np.mean([r.fit_seconds for r in same])),
                serve_ms=float(np.mean([r.serve_ms for r in same])),
            )
        )
    return means


def report_stop(
    results: list[Result], folder: Path, peers_from: str = "", error: StockcastError | None = None
) -> int:
    """What a run stopped by Ctrl-C or by a stockcast `error` says, after the table of the series
    it scored and their CSV in `folder` (`STOPPED_CSV`, which keeps the `peers_from` rows of the
    series it did not reach); the exit status: a shell's for a process Ctrl-C killed, else 2."""
    scored = len(dict.fromkeys(r.series for r in results))
    by = "by Ctrl-C " if error is None else ""
    if scored:
        print(table(results))
        path = write_csv(results, folder / STOPPED_CSV, rows_not_scored(peers_from, results))
        print(
            f"bench-accuracy: stopped {by}after {counted(scored, 'series', 'series')}; their "
            f"scores are in {path}, which --peers-from takes to reuse their peers' scores.",
            file=sys.stderr,
        )
    if error is not None:
        print(f"bench-accuracy: {error}", file=sys.stderr)
        return 2
    if not scored:
        print("bench-accuracy: stopped by Ctrl-C before any series was scored.", file=sys.stderr)
    return CTRL_C_EXIT


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv, __doc__.split("\n\n")[0])
    quiet_console()
    warnings.filterwarnings("ignore")
    for name in ("stockcast", "mlflow"):
        logging.getLogger(name).setLevel(logging.ERROR)
    try:
        results = run(args)
    except StoppedEarly as stop:
        return report_stop(stop.results, Path(args.output_dir), args.peers_from, stop.error)
    print(table(results))
    for path in write_outputs(results, Path(args.output_dir), args.peers_from):
        print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
