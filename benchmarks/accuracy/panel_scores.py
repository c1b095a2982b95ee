"""One panel fitted as one model and scored: each series on its own test windows in its own
units, with the panel's member weights, with its own and as the last price (the protocol is
`panels.py`'s)."""

from __future__ import annotations

import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from benchmarks.accuracy.fit_data import PreparedCsv, csv_config, fit_data
from benchmarks.accuracy.series import load_bench_series

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
    prepared: PreparedCsv | None = None,
) -> PanelScores:
    """Fit `experiment` on the panel (on its `prepared` data where given, else prepared here)
    and score every series' test windows."""
    from stockcast.data.mase_scales import series_of_windows, series_scales
    from stockcast.forecasting.metrics import inverse_mse_weights
    from stockcast.models.level_range import combine_member_forecasts, set_aside_mask
    from stockcast.training.fit import fit
    from stockcast.training.member_weights import windows_every_member_serves
    from stockcast.training.validation import held_out_set_aside, validation_forecasts

    names, frequency, start = panels[panel]
    with tempfile.TemporaryDirectory(prefix="stockcast-panel-") as tmp:
        folder = Path(tmp)
        csv = prepared.csv if prepared else panel_csv(names, frequency, start, folder / "panel.csv")
        cfg = csv_config(folder, csv, experiment, PANEL_COLUMNS, [f"seed={seed}", *overrides])
        data = fit_data(cfg, folder / "run" / "prepared", prepared)
        # The fitted network as the fit leaves it (weighed, fallen back where it did), and the
        # rolling-origin folds it weighed on beside the validation windows, if any.
        fitted = fit(cfg, data, folder / "run")
    net, spec, folds = fitted.model.net, fitted.spec, fitted.folds
    val, test = data.splits["val"], data.splits["test"]
    batch_size = int(cfg.data.eval_batch_size)
    val_windows, val_members = validation_forecasts(net, data, batch_size=batch_size, members=True)
    test_windows, test_members = validation_forecasts(
        net, data, batch_size=batch_size, members=True, splits=("test",)
    )
    test_set_aside = set_aside_mask(net, test_windows.inputs)
    held_out_owner = series_of_windows(val, val_windows.origins)
    held_out_members, held_out_actual = val_members, val_windows.actual
    if folds is not None:
        held_out_owner = np.concatenate([held_out_owner, folds.series])
        held_out_members = np.concatenate([val_members, folds.member_forecasts], axis=1)
        held_out_actual = np.concatenate([held_out_actual, folds.actual])
    test_owner = series_of_windows(test, test_windows.origins)
    scales = series_scales(data.splits["train"])
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
