"""How large a model's errors are in its bands' unit, on the windows it was trained on, on its
validation windows and on the held-out ones: where a series' 80% band over-covers the held-out
values, this says whether the held-out windows were calmer than anything the model was fitted
or calibrated on (then only the held-out data could have narrowed the band).

python -m benchmarks.accuracy.band_units --series wineind,ausbeer --seeds 42,1,2
python -m benchmarks.accuracy.band_units --experiment mlp_w10 trainer.max_steps=500

Per series and seed: the evaluated model's mean absolute error over each window's band unit (the
volatility the served bands are scaled by) on its train, validation and held-out windows (the
benchmark's protocol: first 80% fitted, its last fifth validation); the held-out coverage of its
80% band; and the held-out coverage of a band set at each step's 80% quantile of its errors on
its own train windows (no validation or held-out window among them).
"""

from __future__ import annotations

import argparse
import logging
import sys
import warnings
from collections.abc import Sequence
from dataclasses import astuple, dataclass

import numpy as np

from benchmarks.accuracy.arguments import comma_separated, no_names_refusal, seeds_refusal
from benchmarks.accuracy.fit_data import PreparedCsv, prepared_cuts, validation_start
from benchmarks.accuracy.forecasters import evaluated_fit
from benchmarks.accuracy.protocol import HORIZON, Cut, cut
from benchmarks.accuracy.series import (
    BenchSeries,
    SeriesUnavailable,
    load_bench_series,
    series_names,
)
from benchmarks.common import quiet_console
from stockcast.config.compose import compose_config
from stockcast.config.schema import validate_config
from stockcast.config.task import CTRL_C_EXIT
from stockcast.errors import StockcastError

LEVEL = "80"


@dataclass(frozen=True)
class BandUnits:
    """One fit's errors in band units and coverages (see the module's docstring)."""

    train: float
    validation: float
    held_out: float
    held_out_coverage: float
    train_quantile_coverage: float


def band_units(
    split: Cut,
    seed: int,
    experiment: str,
    overrides: Sequence[str],
    prepared: PreparedCsv | None = None,
) -> BandUnits:
    """`experiment`'s evaluated model on `split` (`evaluated_fit`, on its `prepared` data where
    given), measured in band units."""
    from stockcast.forecasting.intervals import recorded_unit, volatility_scale
    from stockcast.serving.metadata import model_spec
    from stockcast.serving.model import open_model_dir

    with evaluated_fit(split, [*overrides, f"seed={seed}"], experiment, prepared) as fitted:
        model = open_model_dir(fitted.model_dir)
        intervals = model_spec(fitted.model_dir)["intervals"]
        window = fitted.prepared.window.previous_time_window
        val_start = validation_start(split)

        def errors(origins: np.ndarray) -> tuple[np.ndarray, float]:
            """(|error| / band unit per window and step, the 80% band's coverage)."""
            inputs = fitted.inputs(split, origins)
            actual = split.values[origins[:, None] + np.arange(HORIZON)]
            forecast, bands = model.forecast(inputs)
            unit = volatility_scale(
                inputs, float(intervals["min_relative_scale"]), **recorded_unit(intervals)
            )
            lower, upper = bands[LEVEL]
            return np.abs(forecast - actual) / unit, float(
                ((actual >= lower) & (actual <= upper)).mean()
            )

        train, _ = errors(np.arange(window, val_start - HORIZON + 1))
        validation, _ = errors(np.arange(max(val_start, window), split.start - HORIZON + 1))
        held_out, coverage = errors(split.origins)
    at_train_quantile = np.quantile(train, int(LEVEL) / 100, axis=0)
    return BandUnits(
        float(train.mean()),
        float(validation.mean()),
        float(held_out.mean()),
        coverage,
        float((held_out <= at_train_quantile).mean()),
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.accuracy.band_units", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument("--series", default="wineind,ausbeer", help="comma-separated series")
    parser.add_argument("--seeds", default="42", help="comma-separated seeds")
    parser.add_argument("--experiment", default="auto", help="the experiment fitted (auto)")
    parser.add_argument("overrides", nargs="*", help="Hydra overrides for the fit")
    args = parser.parse_args(argv)
    refusal = seeds_refusal(args.seeds)
    if refusal is not None:
        parser.error(refusal)
    seeds = [int(s) for s in args.seeds.split(",") if s.strip()]
    if not seeds:
        # No fit: the run printed its header alone and exited 0, as if it had measured.
        parser.error(f"--seeds {args.seeds!r} names no seed")
    # "wineind, ausbeer" named no ' ausbeer'; "," no series, and said so as an unknown [].
    named = comma_separated(args.series)
    refusal = no_names_refusal("--series", args.series, "series", parser.get_default("series"))
    if refusal is not None:
        parser.error(refusal)
    unknown = [n for n in named if n not in series_names()]
    if unknown:
        parser.error(f"--series names no series {unknown}; choose from {series_names()}")
    try:
        series = load_bench_series(named)
    except SeriesUnavailable as err:
        parser.error(str(err))
    quiet_console()
    warnings.filterwarnings("ignore")
    for name in ("stockcast", "mlflow"):
        logging.getLogger(name).setLevel(logging.ERROR)
    try:
        # Composed and validated before the header and the first fit: a refusal came below the
        # header, as if the table had begun.
        validate_config(
            compose_config(
                "pipeline",
                [f"experiment={args.experiment}", *args.overrides],
                what="the band units' config",
            )
        )
        # Each series prepared before any fit, as bench-accuracy's: one too short for the run's
        # windows was refused only after the series before it were fitted.
        cut_series = [(one.name, one.values) for one in series]
        with prepared_cuts(cut_series, args.experiment, args.overrides) as prepared:
            print(
                f"{'series':14s} {'seed':>5s} {'train':>7s} {'val':>7s} {'held-out':>9s} "
                f"{'cover ' + LEVEL:>9s} {'train-q cover':>14s}"
            )
            for one in series:
                print_rows(one, seeds, args, prepared[one.name])
    except StockcastError as err:  # a setting that does not compose or validate, a short series
        print(f"band_units: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        # Each series' rows are printed once its seeds are fitted: those above are whole.
        print(
            "band_units: stopped by Ctrl-C; the rows above are of the series it finished.",
            file=sys.stderr,
        )
        return CTRL_C_EXIT
    return 0


def print_rows(
    one: BenchSeries, seeds: Sequence[int], args: argparse.Namespace, prepared: PreparedCsv
) -> None:
    """One series' rows, one per seed (and their mean), printed once every seed is fitted."""
    measured = [
        band_units(cut(one.values), seed, args.experiment, args.overrides, prepared)
        for seed in seeds
    ]
    rows = list(zip(seeds, measured, strict=True))
    if len(measured) > 1:
        rows.append(("mean", _mean(measured)))
    for seed, units in rows:
        train, val, held_out, coverage, train_q = astuple(units)
        print(
            f"{one.name:14s} {seed!s:>5s} {train:7.3f} {val:7.3f} {held_out:9.3f} "
            f"{coverage:9.2f} {train_q:14.3f}",
            flush=True,
        )


def _mean(measured: Sequence[BandUnits]) -> BandUnits:
    return BandUnits(*np.mean([astuple(units) for units in measured], axis=0).tolist())


if __name__ == "__main__":
    raise SystemExit(main())
