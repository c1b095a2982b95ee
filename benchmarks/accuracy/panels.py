"""Panels: several of the benchmark's named series fitted as one model (`data.id_column`), each
series scored on its own test windows in its own units. It measures the choice an ensemble makes
on a panel: one set of member weights for the whole panel (what the model serves) or a set per
series, fitted on that series' own validation (and fold) windows that every member serves.

python -m benchmarks.accuracy.panels                            # the three panels, seed 42
python -m benchmarks.accuracy.panels --panels macro --seeds 42,1
python -m benchmarks.accuracy.panels trainer.max_steps=500     # with Hydra overrides

Protocol: each series is dated evenly from its panel's start and cut as the config cuts it
(`data.split`: train, validation, test); the model fits on the train splits, weighs its members
on the validation splits (and any rolling-origin folds) and forecasts every test window.
Scores: each series' test MAE over its train one-step naive MAE (its MASE), then their mean and
geometric mean over the series.
"""

from __future__ import annotations

import argparse
import logging
import sys
import tempfile
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from benchmarks.accuracy.arguments import seeds_refusal
from benchmarks.accuracy.forecasters import csv_config
from benchmarks.accuracy.series import SeriesUnavailable, load_bench_series
from benchmarks.common import quiet_console
from stockcast.config.compose import compose_config
from stockcast.config.task import CTRL_C_EXIT
from stockcast.errors import DataError, StockcastError, counted

# name: (series, their spacing as a pandas frequency, the first date).
PANELS: dict[str, tuple[tuple[str, ...], str, str]] = {
    "macro": (
        (
            *("realgdp", "realcons", "realinv", "cpi", "m1"),
            *("realgovt", "realdpi", "pop", "unemp", "tbilrate"),
        ),
        "QS",
        "1959-01-01",
    ),
    "fertility": (
        tuple(
            f"fertility_{c}" for c in ("australia", "brazil", "china", "india", "japan", "kenya")
        ),
        "YS",
        "1960-01-01",
    ),
    "danish": (("dk_lrm", "dk_lry", "dk_lpy", "dk_ibo", "dk_ide"), "QS", "1974-01-01"),
}
# What is scored: the model as fitted, each series with its own weights, the last price.
FORECASTERS = ("panel weights", "per-series weights", "naive")
# How a panel's CSV (`panel_csv`) is read: one long table of several series.
PANEL_COLUMNS = ("data.date_column=date", "data.value_column=value", "data.id_column=id")


@dataclass(frozen=True)
class PanelScores:
    """One panel fitted with one seed: each forecaster's MASE per series."""

    panel: str
    seed: int
    mase: dict[str, dict[str, float]]  # forecaster -> series -> MASE

    def summary(self, forecaster: str) -> tuple[float, float]:
        """(mean, geometric mean) of the forecaster's MASE over the series."""
        values = np.array(list(self.mase[forecaster].values()))
        return float(values.mean()), float(np.exp(np.log(values).mean()))


def panel_csv(names: Sequence[str], frequency: str, start: str, path: Path) -> Path:
    """The named series as one long table: date, id, value."""
    import pandas as pd

    frames = []
    for series in load_bench_series(list(names)):
        dates = pd.date_range(start, periods=len(series.values), freq=frequency)
        frames.append(
            pd.DataFrame(
                {"date": dates.strftime("%Y-%m-%d"), "id": series.name, "value": series.values}
            )
        )
    pd.concat(frames).to_csv(path, index=False)
    return path


def score_panel(
    panel: str,
    seed: int,
    experiment: str = "auto",
    overrides: Sequence[str] = (),
    panels: dict[str, tuple[tuple[str, ...], str, str]] = PANELS,
) -> PanelScores:
    """Fit `experiment` on the panel and score every series' test windows."""
    from stockcast.data.mase_scales import series_of_windows, series_scales
    from stockcast.data.prepared import PreparedData
    from stockcast.forecasting.metrics import inverse_mse_weights
    from stockcast.models.level_range import combine_member_forecasts, set_aside_mask
    from stockcast.orchestration.steps.prepare import run_prepare
    from stockcast.training.fit import fit
    from stockcast.training.validation import (
        held_out_set_aside,
        validation_forecasts,
        windows_every_member_serves,
    )

    names, frequency, start = panels[panel]
    with tempfile.TemporaryDirectory(prefix="stockcast-panel-") as tmp:
        folder = Path(tmp)
        csv = panel_csv(names, frequency, start, folder / "panel.csv")
        cfg = csv_config(folder, csv, experiment, PANEL_COLUMNS, [f"seed={seed}", *overrides])
        prepared = PreparedData.load(run_prepare(cfg, folder / "run" / "prepared"))
        # The fitted network as the fit leaves it (weighed, fallen back where it did), and the
        # rolling-origin folds it weighed on beside the validation windows, if any.
        fitted = fit(cfg, prepared, folder / "run")
    net, spec, folds = fitted.model.net, fitted.spec, fitted.folds
    val, test = prepared.splits["val"], prepared.splits["test"]
    batch_size = int(cfg.data.eval_batch_size)
    val_windows, val_members = validation_forecasts(
        net, prepared, batch_size=batch_size, members=True
    )
    test_windows, test_members = validation_forecasts(
        net, prepared, batch_size=batch_size, members=True, splits=("test",)
    )
    test_set_aside = set_aside_mask(net, test_windows.inputs)
    held_out_owner = series_of_windows(val, val_windows.origins)
    held_out_members, held_out_actual = val_members, val_windows.actual
    if folds is not None:
        held_out_owner = np.concatenate([held_out_owner, folds.series])
        held_out_members = np.concatenate([val_members, folds.member_forecasts], axis=1)
        held_out_actual = np.concatenate([held_out_actual, folds.actual])
    test_owner = series_of_windows(test, test_windows.origins)
    scales = series_scales(prepared.splits["train"])
    combination = spec.get("combination") or {}
    weights = np.asarray(
        combination.get("weights") or np.full(len(test_members), 1.0 / len(test_members))
    )
    # Members the fit set aside (the level rule) stay aside in each series' own weights, which
    # are fitted, as the panel's, on the held-out windows every member serves.
    weighed = weights > 0 if combination.get("weights") else np.ones(len(weights), dtype=bool)
    served_by_all = windows_every_member_serves(
        held_out_set_aside(net, val_windows, folds), ~weighed, len(held_out_owner)
    )
    mase: dict[str, dict[str, float]] = {name: {} for name in FORECASTERS}
    for index in np.unique(test_owner):
        name, rows = test.series_ids[index], test_owner == index
        actual, own = test_windows.actual[rows], held_out_owner == index
        if (own & served_by_all).any():
            own &= served_by_all
        per_series = np.zeros(len(weights))
        if cfg.model.get("combination") == "inverse_mse":
            per_series[weighed] = inverse_mse_weights(
                held_out_members[weighed][:, own],
                held_out_actual[own],
                float(cfg.model.combination_power),
            )
        else:  # the members' mean, as the panel's
            per_series = weights
        # Combined as the network combines them: without the members it sets aside for a
        # window outside its fitted range.
        aside = test_set_aside[:, rows]
        forecasts = {
            "panel weights": combine_member_forecasts(test_members[:, rows], weights, aside),
            "per-series weights": combine_member_forecasts(
                test_members[:, rows], per_series, aside
            ),
            "naive": np.repeat(test_windows.inputs[rows][:, -1:], actual.shape[1], axis=1),
        }
        for forecaster, forecast in forecasts.items():
            mase[forecaster][name] = float(np.abs(forecast - actual).mean() / scales[index])
    return PanelScores(panel, seed, mase)


def refuse_too_short(
    panels: Sequence[str],
    experiment: str,
    overrides: Sequence[str],
    table: dict[str, tuple[tuple[str, ...], str, str]] = PANELS,
) -> None:
    """Each panel's data prepared as its fit prepares it, before any fit: a panel too short for
    the run's windows (danish with data.previous_time_window=40) stopped the run at its turn,
    after the fits of the panels before it."""
    from stockcast.config.compose import plain
    from stockcast.data.prepared import prepare_data

    for panel in panels:
        names, frequency, start = table[panel]
        with tempfile.TemporaryDirectory(prefix="stockcast-panel-") as tmp:
            folder = Path(tmp)
            try:
                csv = panel_csv(names, frequency, start, folder / "panel.csv")
            except SeriesUnavailable as err:
                raise SystemExit(f"panel {panel}: {err}") from None
            cfg = csv_config(folder, csv, experiment, PANEL_COLUMNS, overrides)
            try:
                prepare_data(plain(cfg.data))
            except DataError as err:
                raise DataError(f"panel {panel}: {err}") from None


def table(scores: Sequence[PanelScores]) -> str:
    """One row per panel: each forecaster's mean and geometric mean MASE over its series, each
    averaged over the seeds."""
    lines = ["panel      seeds  " + "  ".join(f"{f:>26s}" for f in FORECASTERS)]
    for panel in dict.fromkeys(s.panel for s in scores):
        runs = [s for s in scores if s.panel == panel]
        cells = []
        for forecaster in FORECASTERS:
            mean, geo = np.mean([run.summary(forecaster) for run in runs], axis=0)
            cells.append(f"{mean:>12.3f} (geo {geo:.3f})")
        seeds = ",".join(str(run.seed) for run in runs)
        lines.append(f"{panel:10s} {seeds:6s} " + "  ".join(f"{c:>26s}" for c in cells))
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.accuracy.panels", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument("--panels", default=",".join(PANELS), help="comma-separated panels")
    parser.add_argument("--seeds", default="42", help="comma-separated seeds")
    parser.add_argument("--experiment", default="auto", help="the experiment fitted (auto)")
    parser.add_argument("overrides", nargs="*", help="Hydra overrides for the fit")
    args = parser.parse_args(argv)
    # Spaces around a name stripped, as --seeds' are: "macro, danish" was an unknown ' danish'.
    named = [panel.strip() for panel in args.panels.split(",") if panel.strip()]
    if not named:
        parser.error(f"--panels {args.panels!r} names no panel; leave it out for every one")
    unknown = sorted(set(named) - set(PANELS))
    if unknown:
        parser.error(f"unknown panel {unknown[0]!r}; choose from {', '.join(PANELS)}")
    twice = sorted({panel for panel in named if named.count(panel) > 1})
    if twice:
        # Each fitted again with every seed, to the same scores, which the means counted twice.
        parser.error(f"--panels {args.panels!r} names {twice[0]} more than once; name each once")
    # Checked before any fit: a seed that is no number stopped the run after the fits before it.
    refusal = seeds_refusal(args.seeds)
    if refusal is not None:
        parser.error(refusal)
    seeds = [int(s) for s in args.seeds.split(",") if s.strip()]
    if not seeds:
        parser.error(f"--seeds {args.seeds!r} names no seed")
    quiet_console()
    warnings.filterwarnings("ignore")
    for name in ("stockcast", "mlflow"):
        logging.getLogger(name).setLevel(logging.ERROR)
    scores: list[PanelScores] = []
    try:
        # The experiment and overrides as the fits compose them, before the first fit.
        compose_config(
            "pipeline",
            [f"experiment={args.experiment}", *args.overrides],
            what="the panels' config",
        )
        refuse_too_short(named, args.experiment, args.overrides)
        score_panels(named, seeds, args.experiment, args.overrides, scores)
    except StockcastError as err:  # a setting that does not compose, validate or fit a panel
        return report_stop(scores, err)
    except KeyboardInterrupt:
        return report_stop(scores)
    print(table(scores))
    return 0


def report_stop(scores: Sequence[PanelScores], error: StockcastError | None = None) -> int:
    """The table of the fits that finished, averaged as a whole run's are rather than lost, then
    what stopped the rest (Ctrl-C, or the `error` last); the exit status: a shell's for a
    process Ctrl-C killed, else 2."""
    if scores:
        print(table(scores))
    if error is not None:
        if scores:
            print(f"panels: stopped after {counted(len(scores), 'fit')}.", file=sys.stderr)
        print(f"panels: {error}", file=sys.stderr)
        return 2
    done = f"after {counted(len(scores), 'fit')}" if scores else "before any fit finished"
    print(f"panels: stopped by Ctrl-C {done}.", file=sys.stderr)
    return CTRL_C_EXIT


def score_panels(
    panels: Sequence[str],
    seeds: Sequence[int],
    experiment: str,
    overrides: Sequence[str],
    scores: list[PanelScores],
) -> list[PanelScores]:
    """Every panel fitted once per seed, each printed as it comes in and appended to `scores`,
    which keeps the fits that finished when Ctrl-C stops the rest."""
    for panel in panels:
        for seed in seeds:
            try:
                result = score_panel(panel, seed, experiment, overrides)
            except SeriesUnavailable as err:
                raise SystemExit(f"panel {panel}: {err}") from None
            for forecaster in FORECASTERS:
                mean, geo = result.summary(forecaster)
                print(f"{panel} seed {seed} {forecaster}: mean {mean:.3f}, geo {geo:.3f}")
            scores.append(result)
    return scores


if __name__ == "__main__":
    raise SystemExit(main())
