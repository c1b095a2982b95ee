"""A champion trained before `data.previous_time_window=auto` grew with the data: the daily loop
still compares it, stores its forecasts and warm-starts (cold that day) instead of failing."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from omegaconf import OmegaConf

from stockcast.evaluation.champion import Candidate, compare_with_champion
from stockcast.evaluation.live import Observed
from stockcast.evaluation.reports import WINDOWS_FILE
from stockcast.forecasting.metrics import pooled_errors
from stockcast.forecasting.windows import WindowSizes
from stockcast.orchestration.replay import store_champion
from stockcast.prediction.ledger_forecast import champion_forecasts
from stockcast.registry.store import ModelRegistry
from stockcast.serving.metadata import evaluated_model_dir
from stockcast.serving.model import open_model_dir, open_version
from tests.conftest import MODEL

# The session's registered model reads 10 values and forecasts 5.
P, H = 10, 5


def registry_of(store: Path) -> ModelRegistry:
    return ModelRegistry(f"sqlite:///{store}/mlruns.db", MODEL)


def prices(rows: int, width: int, seed: int = 0) -> np.ndarray:
    steps = np.random.default_rng(seed).normal(0, 1, (rows, width))
    return 100 + np.cumsum(steps, axis=1)


def candidate_with_windows(folder: Path, width: int) -> Candidate:
    """A candidate whose report holds 30 test windows of `width` inputs (naive forecasts)."""
    series = prices(30, width + H)
    inputs, actual = series[:, :width], series[:, width:]
    forecast = np.repeat(inputs[:, -1:], H, axis=1)
    folder.mkdir(parents=True)
    np.savez(folder / WINDOWS_FILE, inputs=inputs, actual=actual, forecast=forecast)
    return Candidate(folder, folder, {"mase_scale": 1.0}, folder / "work")


def test_a_champion_is_scored_on_the_newest_values_of_longer_windows(
    registered_store: Path, tmp_path: Path
) -> None:
    registry = registry_of(registered_store)
    champion = registry.resolve(version=1)
    candidate = candidate_with_windows(tmp_path / "report", P + 4)
    score = compare_with_champion(registry, champion, candidate)

    windows = np.load(tmp_path / "report" / WINDOWS_FILE)
    opened = open_version(registry, champion, tmp_path / "expected")
    scored = open_model_dir(evaluated_model_dir(opened.folder))
    expected, _ = scored.forecast(windows["inputs"][:, -P:])
    assert score.windows == 30
    assert score.champion_mase == pytest.approx(
        pooled_errors(expected, windows["actual"], 1.0)["mase"], rel=1e-12
    )
    # Windows shorter than the champion's, or another horizon, still cannot be scored.
    short = compare_with_champion(registry, champion, candidate_with_windows(tmp_path / "s", P - 2))
    assert short.champion_mase is None and short.windows == 0
    assert f"takes {P} values and forecasts {H}, but the report's test data has windows of" in (
        short.note
    )


def test_the_champions_ledger_forecast_reads_its_own_window_of_longer_data(
    registered_store: Path, tmp_path: Path
) -> None:
    registry = registry_of(registered_store)
    champion = registry.resolve(version=1)
    values = prices(1, 40, seed=1)[0]
    dates = tuple(pd.bdate_range("2025-01-01", periods=40).strftime("%Y-%m-%d"))
    observed = [Observed("s", values, dates)]
    stored = champion_forecasts(registry, champion, observed, tmp_path, WindowSizes(P + 6, H))
    expected, bands = open_version(registry, champion, tmp_path / "expected").forecast(values[-P:])
    assert len(stored) == 1 and stored[0].model_version == 1
    np.testing.assert_array_equal(stored[0].point, expected[0])
    assert stored[0].bands["80"][0] == tuple(bands["80"][0][0].tolist())


def test_the_replay_names_the_stores_champion_when_a_day_failed_before_its_monitor(
    registered_store: Path, tmp_path: Path
) -> None:
    cfg = OmegaConf.create({"registry": {"model_name": MODEL}, "register": {"alias": "champion"}})
    assert store_champion(cfg, registered_store) == 1
    assert store_champion(cfg, tmp_path) is None  # no store yet: no champion
    other = OmegaConf.merge(cfg, {"register": {"alias": "staging"}})
    assert store_champion(other, registered_store) is None
