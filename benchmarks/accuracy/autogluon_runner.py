"""AutoGluon-TimeSeries as a `make bench-accuracy` peer, run by AutoGluon's own interpreter
(`--autogluon-python`; `make install-autogluon` builds it): its pins do not fit beside
stockcast's, so this script imports only numpy, pandas and AutoGluon, and talks through files.

python autogluon_runner.py request.json answer.json

The request holds the series, the index of the first held-out value, the origins, the horizon,
the season, the quantile levels, the models and the time limit. AutoGluon fits once on the
values before the first held-out one (its own validation windows inside them) and forecasts
every origin from the history before it, as the other peers do. Its global models and ensemble
weights are not fitted again; its local ones (naive, ETS, Theta) are, on each history, as
AutoGluon always fits them, and their fits are not in the fit seconds. The answer holds
each origin's mean forecast, its quantiles, the fit seconds and the models it kept.
"""

from __future__ import annotations

import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

# A regular calendar whose season AutoGluon infers as the series' own (its tabular models take
# their lags from it; the statistical ones are also given `seasonal_period`). A series without a
# season gets days: years would run past the last date pandas can hold (2262) on long series.
FREQ_BY_SEASON = {4: "QS", 5: "B", 7: "D", 12: "MS", 24: "h", 48: "30min", 52: "W"}
STATISTICAL = ("Naive", "SeasonalNaive", "ETS", "Theta", "AutoETS", "AutoARIMA", "AutoCES")


def frame(values: np.ndarray, ends: list[int], freq: str) -> pd.DataFrame:
    """One item per history: the values before each end, on the same calendar."""
    stamps = pd.date_range("2000-01-01", periods=len(values), freq=freq)
    parts = [
        pd.DataFrame({"item_id": str(end), "timestamp": stamps[:end], "target": values[:end]})
        for end in ends
    ]
    return pd.concat(parts, ignore_index=True)


def main(request_path: str, answer_path: str) -> None:
    from autogluon.timeseries import TimeSeriesDataFrame, TimeSeriesPredictor

    request = json.loads(Path(request_path).read_text())
    values = np.asarray(request["values"], dtype=np.float64)
    season = int(request["season"])
    freq = FREQ_BY_SEASON.get(season, "D")
    models = {
        name: ({"seasonal_period": season} if name in STATISTICAL else {})
        for name in request["models"]
    }
    start, horizon = int(request["start"]), int(request["horizon"])
    quantiles = [float(q) for q in request["quantiles"]]
    with tempfile.TemporaryDirectory(prefix="stockcast-bench-ag-") as tmp:
        predictor = TimeSeriesPredictor(
            prediction_length=horizon,
            freq=freq,
            eval_metric="MASE",
            eval_metric_seasonal_period=1,
            quantile_levels=quantiles,
            path=tmp,
            verbosity=0,
        )
        begin = time.perf_counter()
        predictor.fit(
            TimeSeriesDataFrame(frame(values, [start], freq)),
            hyperparameters=models,
            time_limit=int(request["time_limit"]),
            random_seed=int(request["seed"]),
        )
        seconds = time.perf_counter() - begin
        origins = [int(o) for o in request["origins"]]
        forecast = predictor.predict(TimeSeriesDataFrame(frame(values, origins, freq)))
        kept = list(predictor.leaderboard(silent=True)["model"])
    rows = {str(o): forecast.loc[str(o)] for o in origins}
    answer = {
        "mean": [rows[str(o)]["mean"].tolist() for o in origins],
        "quantiles": {str(q): [rows[str(o)][str(q)].tolist() for o in origins] for q in quantiles},
        "fit_seconds": seconds,
        "models": kept,
        "best": predictor.model_best,
    }
    Path(answer_path).write_text(json.dumps(answer))


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
