"""MLflow "model from code": raw prices in, a DataFrame of forecasts and intervals out.

Loads weights with safetensors (no unpickling) and imports only torch, numpy, pandas and the
modules shipped beside it (the model kind, the network and the forecasting core), so prediction
and serving never import Lightning. Every model kind is served by this one file. Contract: one
row per input window of `previous_time_window` prices (float32, float64 or integer); out, per
row, `forecast_1..H` and `lower_<level>_<step>` / `upper_<level>_<step>` for each level. The
input and output guards predict and serve apply run here too, so `mlflow models serve` and an
Azure ML endpoint refuse the same windows and floor the same negative prices.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import mlflow
import numpy as np
import torch
from mlflow.pyfunc import PythonModel
from safetensors.torch import load_file

from stockcast.errors import first_few
from stockcast.forecasting.frame import forecast_frame
from stockcast.forecasting.guard import allows_non_positive, price_rows
from stockcast.forecasting.intervals import (
    Bands,
    apply_intervals,
    recorded_unit,
    volatility_scale,
    window_moves,
)
from stockcast.forecasting.output_guard import guarded_forecast
from stockcast.forecasting.quantiles import (
    conformalized_bands,
    quantile_bands,
    served_quantiles,
)
from stockcast.models.spec import saved_forecaster


def _rows(good: np.ndarray, named: int = 5) -> str:
    """Where the bad rows are, when there are several rows: ' in 7 row(s) (3, 7, 9, 12, 40 and 2
    more) of 5000'."""
    if len(good) == 1:
        return ""
    bad = np.flatnonzero(~good) + 1
    return f" in {len(bad)} row(s) ({first_few(bad, named)}) of {len(good)}"


class PriceForecastModel(PythonModel):
    def load_context(self, context: Any) -> None:
        spec = json.loads(Path(context.artifacts["spec"]).read_text())
        torch.set_num_threads(int(spec.get("num_threads", 1)))
        self.net = saved_forecaster(spec, load_file(context.artifacts["weights"])).eval()
        self.previous_time_window = int(spec["previous_time_window"])
        self.intervals = spec.get("intervals") or {
            "bounds": {},
            "min_relative_scale": float(spec["scaler"]["min_relative_scale"]),
        }
        # Recorded at export from the model's metadata; absent: a price model.
        self.allow_non_positive = allows_non_positive(context.model_config or {})

    # `model_input: np.ndarray` is one of the hints MLflow derives no schema from (the rows may
    # also come as a DataFrame or a list; the input guard reads them all), so it neither
    # validates nor converts the input and does not nudge for hints when the class is defined.
    def predict(self, context: Any, model_input: np.ndarray, params: Any = None) -> Any:
        prices = price_rows(model_input, self.previous_time_window, self.allow_non_positive)
        return forecast_frame(*self.forecast(prices))

    def forecast(self, prices: np.ndarray) -> tuple[np.ndarray, Bands]:
        """Rows of prices the input guard passed -> (point forecasts, {level: (lower, upper)}),
        floored: `predict` without the DataFrame."""
        return self.floor(prices, *self.unfloored_forecast(prices))

    def floor(
        self, prices: np.ndarray, point: np.ndarray, bands: Bands
    ) -> tuple[np.ndarray, Bands]:
        """What this model makes of a forecast below zero (a price model floors it at 0): the
        step of `forecast` after `unfloored_forecast`, for the callers that judge the range in
        between. The floor only: how far from its window a forecast may lie is the caller's
        setting."""
        return guarded_forecast(prices, point, bands, self.allow_non_positive, None)

    def unfloored_forecast(self, prices: np.ndarray) -> tuple[np.ndarray, Bands]:
        """`forecast` before the floor at zero: what the in-process callers (predict, serve,
        the monitor) read straight, saving MLflow's wrapper and a frame round trip per call,
        and judge the range of before they floor it (floored first, a forecast of -700 million
        read as 0, inside any window's range)."""
        with torch.inference_mode():
            # A copy: batch inputs may be read-only views, which torch.from_numpy warns about.
            outputs = self.net.quantile_forecast(torch.tensor(prices, dtype=torch.float32))
        outputs = outputs.double().numpy()
        # Measured once: a quantile model's still windows and the band unit both read them.
        unit = recorded_unit(self.intervals)
        moves = window_moves(prices, unit["span"], unit["drift_free"])
        if self.net.quantiles:
            outputs = served_quantiles(
                outputs,
                prices,
                self.net.quantiles,
                self.net.point_index,
                self.intervals,
                # The still windows are told by the drift-free unit, whichever the bands' is.
                moves if unit["drift_free"] else None,
            )
        point = outputs[:, self.net.point_index, :]
        # Calibrated bounds where a quantile model has them: it fell back to the last price.
        if self.net.quantiles and not self.intervals.get("bounds"):
            bands = quantile_bands(outputs, self.net.quantiles)
            corrections = self.intervals.get("corrections")
            if corrections:
                # Conformalized: each level widened (or narrowed) by its calibrated correction.
                scale = self.band_unit(prices, moves)
                bands = conformalized_bands(bands, point, scale, corrections)
        else:
            bands = apply_intervals(point, self.band_unit(prices, moves), self.intervals["bounds"])
        finite = np.isfinite(point).all(axis=1)
        for lower, upper in bands.values():
            finite &= np.isfinite(lower).all(axis=1) & np.isfinite(upper).all(axis=1)
        if not finite.all():
            raise ValueError(
                f"the forecast is not finite{_rows(finite)} (prices far outside what the model "
                "can represent); check the input's scale"
            )
        return point, bands

    def band_unit(self, prices: np.ndarray, moves: np.ndarray | None = None) -> np.ndarray:
        """Each row's volatility unit (n, 1), as the spec's `intervals` record it: what
        calibrated bounds and corrections are in. `moves`: the rows' `window_moves` as the spec
        records the unit, where the caller has them already."""
        return volatility_scale(
            prices,
            float(self.intervals["min_relative_scale"]),
            **recorded_unit(self.intervals),
            moves=moves,
        )


mlflow.models.set_model(PriceForecastModel())
