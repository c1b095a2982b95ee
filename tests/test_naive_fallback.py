"""The fallback decision after training: the validation margin and the optional
Diebold–Mariano test (`fit.max_p_value_vs_naive`)."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest
import torch
from omegaconf import OmegaConf

from stockcast.data.split import SplitData
from stockcast.forecasting.baselines import naive_forecast
from stockcast.forecasting.metrics import diebold_mariano
from stockcast.forecasting.windows import WindowSizes
from stockcast.training.folds import FoldEvidence
from stockcast.training.naive_fallback import falls_back_to_naive

WINDOW = WindowSizes(10, 5)


class ForecastTable(torch.nn.Module):
    """A 'network' whose forecast for each validation window is given: it finds the window by
    its last price (unique on a random walk)."""

    anchored = True
    member_weights = None

    def __init__(self, inputs: np.ndarray, forecasts: np.ndarray) -> None:
        super().__init__()
        self.last = torch.as_tensor(inputs[:, -1], dtype=torch.float32)
        self.forecasts = torch.as_tensor(forecasts, dtype=torch.float32)

    def forward(self, prices: torch.Tensor) -> torch.Tensor:
        rows = (prices[:, -1:] - self.last[None]).abs().argmin(dim=1)
        return self.forecasts[rows]


def _lucky_model() -> tuple[SimpleNamespace, ForecastTable, float]:
    """A random walk's validation split and a model that is exact on a quarter of the windows
    (drawn at random) and naive elsewhere: clearly past the 5% margin, with a one-sided DM
    p-value in between."""
    rng = np.random.default_rng(7)
    values = 100.0 + rng.normal(size=60).cumsum()
    val = SplitData("val", values, np.array([0, len(values)]), 10, ("s",))
    windows = val.origins(WINDOW)
    forecasts = naive_forecast(windows.inputs, 5)
    exact = rng.random(len(forecasts)) < 0.25
    forecasts[exact] = windows.actual[exact]
    model_error = np.abs(forecasts - windows.actual).mean(axis=1)
    naive_error = np.abs(naive_forecast(windows.inputs, 5) - windows.actual).mean(axis=1)
    statistic, p_value = diebold_mariano(model_error, naive_error, 5)
    assert statistic < 0
    # Its train split: the series before it (one series, so one scale: the errors' units).
    train = SplitData("train", 100.0 + rng.normal(size=40).cumsum(), np.array([0, 40]), 0, ("s",))
    prepared = SimpleNamespace(splits={"train": train, "val": val}, window=WINDOW)
    return prepared, ForecastTable(windows.inputs, forecasts), p_value / 2.0


def _cfg(max_p_value: float | None, min_gain: float = 0.05):
    return OmegaConf.create(
        {
            "fit": {
                "naive_fallback": True,
                "min_gain_over_naive": min_gain,
                "max_p_value_vs_naive": max_p_value,
            },
            "data": {"eval_batch_size": 4096},
        }
    )


def test_the_margin_alone_decides_without_a_p_value() -> None:
    prepared, net, _ = _lucky_model()
    assert not falls_back_to_naive(_cfg(None), net, {"mase": 0.8, "naive_mase": 1.0}, prepared)
    # 0.97 of naive is not a 5% gain.
    assert falls_back_to_naive(_cfg(None), net, {"mase": 0.97, "naive_mase": 1.0}, prepared)


def test_a_model_past_the_margin_falls_back_unless_dm_rejects_at_the_set_p_value() -> None:
    prepared, net, one_sided = _lucky_model()
    assert 1e-6 < one_sided < 0.3
    val = {"mase": 0.8, "naive_mase": 1.0}
    # One-sided: 1.5x its p-value keeps the model (the two-sided p-value, 2x, would not).
    assert not falls_back_to_naive(_cfg(1.5 * one_sided), net, val, prepared)
    assert falls_back_to_naive(_cfg(one_sided / 2), net, val, prepared)


@pytest.mark.parametrize("anchored", [False, True])
def test_no_fallback_when_it_is_off_or_the_model_has_no_anchor(anchored: bool) -> None:
    prepared, net, _ = _lucky_model()
    net.anchored = anchored
    cfg = _cfg(None)
    cfg.fit.naive_fallback = not anchored
    assert not falls_back_to_naive(cfg, net, {"mase": 2.0, "naive_mase": 1.0}, prepared)


def test_folds_the_model_loses_on_outvote_a_lucky_validation_split() -> None:
    """The validation windows say the model beats naive well past the margin; the folds' windows
    (as many again, where it is naive plus an error) pool with them into a loss."""
    prepared, net, _ = _lucky_model()
    val = {"mase": 0.8, "naive_mase": 1.0}
    rng = np.random.default_rng(3)
    walk = 100.0 + rng.normal(size=60).cumsum()
    windows = SplitData("fold", walk, np.array([0, 60]), 10, ("s",)).origins(WINDOW)
    naive = naive_forecast(windows.inputs, 5)

    def evidence(member_forecast: np.ndarray) -> FoldEvidence:
        series = np.zeros(len(windows), dtype=np.int64)
        return FoldEvidence(windows.inputs, windows.actual, member_forecast[None], 1, series)

    assert not falls_back_to_naive(_cfg(None), net, val, prepared)
    assert falls_back_to_naive(_cfg(None), net, val, prepared, evidence(naive + 3.0))
    # Exact on the folds: the pooled gain holds.
    assert not falls_back_to_naive(_cfg(None), net, val, prepared, evidence(windows.actual))
    # Where the validation windows lose, the folds cannot save the model: both are pooled.
    table = ForecastTable(windows.inputs, naive + 50.0)
    lost_val = SplitData("val", walk, np.array([0, 60]), 10, ("s",))
    lost = SimpleNamespace(splits=prepared.splits | {"val": lost_val}, window=WINDOW)
    assert falls_back_to_naive(_cfg(None), table, val, lost, evidence(windows.actual))


@pytest.mark.parametrize("dated", [False, True])
def test_a_panels_windows_of_one_time_are_one_observation_in_the_test(dated: bool) -> None:
    """Four series that move together (here: copies) are one series' evidence, not four times
    as much: counted apart, their windows shrank the p-value enough to keep a model the test
    of one series sends back to naive. Dated windows group by their first target's date,
    undated ones by their distance from the series' end."""
    one, net, one_sided = _lucky_model()
    copies = 4

    def panel(split: SplitData) -> SplitData:
        length = len(split.values)
        dates = np.datetime64("2020-01-01") + np.arange(length).astype("timedelta64[D]")
        return SplitData(
            split.name,
            np.tile(split.values, copies),
            np.arange(copies + 1) * length,
            split.context,
            tuple(f"s{i}" for i in range(copies)),
            np.tile(dates, copies) if dated else None,
        )

    prepared = SimpleNamespace(
        splits={name: panel(split) for name, split in one.splits.items()}, window=WINDOW
    )
    val = {"mase": 0.8, "naive_mase": 1.0}
    for p_value, falls_back in ((1.5 * one_sided, False), (one_sided / 2, True)):
        assert falls_back_to_naive(_cfg(p_value), net, val, one) is falls_back
        assert falls_back_to_naive(_cfg(p_value), net, val, prepared) is falls_back
