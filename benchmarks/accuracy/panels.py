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
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

import numpy as np

from benchmarks.accuracy.arguments import comma_separated, no_names_refusal, seeds_refusal
from benchmarks.accuracy.fit_data import PreparedCsv, csv_config, prepare_csv
from benchmarks.accuracy.panel_scores import (
    FORECASTERS,
    PANEL_COLUMNS,
    PANELS,
    PanelScores,
    panel_csv,
    score_panel,
)
from benchmarks.accuracy.series import SeriesUnavailable
from benchmarks.common import quiet_console
from stockcast.config.compose import compose_config
from stockcast.config.task import CTRL_C_EXIT
from stockcast.errors import StockcastError, counted


@contextmanager
def prepared_panels(
    panels: Sequence[str],
    experiment: str,
    overrides: Sequence[str],
    table: dict[str, tuple[tuple[str, ...], str, str]] = PANELS,
) -> Iterator[dict[str, PreparedCsv]]:
    """Each panel's data prepared as its fit prepares it, before any fit, kept while the context
    lasts for every fit of it: a panel too short for the run's windows (danish with
    data.previous_time_window=40) stopped the run at its turn, after the fits of the panels
    before it."""
    with tempfile.TemporaryDirectory(prefix="stockcast-panel-") as tmp:
        prepared = {}
        for index, panel in enumerate(panels):
            names, frequency, start = table[panel]
            folder = Path(tmp) / str(index)
            folder.mkdir()
            try:
                csv = panel_csv(names, frequency, start, folder / "panel.csv")
            except SeriesUnavailable as err:
                raise SystemExit(f"panel {panel}: {err}") from None
            cfg = csv_config(folder, csv, experiment, PANEL_COLUMNS, overrides)
            prepared[panel] = prepare_csv(cfg, folder, f"panel {panel}")
        yield prepared


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
    # "macro, danish" was an unknown ' danish'.
    named = comma_separated(args.panels)
    refusal = no_names_refusal("--panels", args.panels, "panel")
    if refusal is not None:
        parser.error(refusal)
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
        with prepared_panels(named, args.experiment, args.overrides) as prepared:
            score_panels(prepared, seeds, args.experiment, args.overrides, scores)
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
    panels: dict[str, PreparedCsv],
    seeds: Sequence[int],
    experiment: str,
    overrides: Sequence[str],
    scores: list[PanelScores],
) -> list[PanelScores]:
    """Every panel fitted once per seed on its prepared data, each printed as it comes in and
    appended to `scores`, which keeps the fits that finished when Ctrl-C stops the rest."""
    for panel, prepared in panels.items():
        for seed in seeds:
            try:
                result = score_panel(panel, seed, experiment, overrides, prepared=prepared)
            except SeriesUnavailable as err:
                raise SystemExit(f"panel {panel}: {err}") from None
            for forecaster in FORECASTERS:
                mean, geo = result.summary(forecaster)
                print(f"{panel} seed {seed} {forecaster}: mean {mean:.3f}, geo {geo:.3f}")
            scores.append(result)
    return scores


if __name__ == "__main__":
    raise SystemExit(main())
