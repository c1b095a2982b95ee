"""The accuracy benchmarks prepare each series' (or panel's) data once, before any fit, and every
fit of it reads that data: one prepare per series whatever the seeds, the same scores."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from benchmarks.accuracy.protocol import cut
from benchmarks.accuracy.series import BenchSeries

FAST = ["trainer.max_steps=4", "fit.naive_fallback=false"]


def counted_prepares(monkeypatch: pytest.MonkeyPatch) -> list[Any]:
    """The data configs prepared from here on, one per call (by the prepare step or not)."""
    import stockcast.data.prepared as prepared
    import stockcast.orchestration.steps.prepare as step

    calls: list[Any] = []
    prepare = prepared.prepare_data

    def counted(data_cfg: Any) -> Any:
        calls.append(data_cfg)
        return prepare(data_cfg)

    for module in (prepared, step):
        monkeypatch.setattr(module, "prepare_data", counted)
    return calls


def seasonal_series(points: int = 160) -> np.ndarray:
    steps = np.arange(points)
    noise = np.random.default_rng(3).normal(0, 1.0, points)
    return 100.0 + 5 * np.sin(2 * np.pi * steps / 12) + noise


@pytest.mark.slow
def test_accuracy_fits_read_the_data_prepared_before_any_fit(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Each series was prepared before any fit (to refuse a short one) and again by each of
    its seeds' fits; now once, and a fit on that data scores what a fit preparing its own does
    (the panels' test below fits two seeds on one prepare)."""
    import benchmarks.accuracy.__main__ as bench
    import benchmarks.accuracy.forecasters as forecasters
    from benchmarks.accuracy.forecasters import stockcast_default

    values = seasonal_series()
    monkeypatch.setattr(
        bench, "load_bench_series", lambda names: [BenchSeries("s", values, 12, "public")]
    )
    monkeypatch.setattr(bench, "warm_up", lambda *args: None)
    # Timing the served forecast is no part of it, and takes the most of a short fit's time.
    monkeypatch.setattr(forecasters, "served_milliseconds", lambda *args: 0.0)
    fits: dict[str, list[Any]] = {}

    def recorded(name: str, split: Any, overrides: list[str], **kwargs: Any) -> list[Any]:
        fits[overrides[-1]] = stockcast_default(name, split, overrides, **kwargs)
        return fits[overrides[-1]]

    monkeypatch.setattr(bench, "stockcast_default", recorded)
    prepares = counted_prepares(monkeypatch)
    bench.run(bench.parse_args(["--no-peers", "--seeds", "42", *FAST]))
    assert len(prepares) == 1
    assert list(fits) == ["seed=42"]
    # Same seed, same numbers: as the fit that prepares its data itself.
    alone = stockcast_default("s", cut(values), [*FAST, "seed=42"], refit=True)
    assert len(prepares) == 2
    for reused, own in zip(fits["seed=42"], alone, strict=True):
        assert (reused.forecaster, reused.mase, reused.coverage) == (
            own.forecaster,
            own.mase,
            own.coverage,
        )


@pytest.mark.slow
def test_panel_fits_read_the_data_prepared_before_any_fit(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Each panel was prepared before any fit and again by each seed's fit; now once."""
    import benchmarks.accuracy.panels as panels
    from benchmarks.accuracy.panel_scores import score_panel

    # Random walks, which no optional package reads.
    monkeypatch.setitem(
        panels.PANELS, "walks", (("walk150_1000", "walk150_1001"), "D", "2000-01-01")
    )
    scored: dict[int, Any] = {}

    def recorded(panel: str, seed: int, *args: Any, **kwargs: Any) -> Any:
        scored[seed] = score_panel(panel, seed, *args, **kwargs)
        return scored[seed]

    monkeypatch.setattr(panels, "score_panel", recorded)
    prepares = counted_prepares(monkeypatch)
    argv = ["--panels", "walks", "--seeds", "42,1", "--experiment", "mlp_w10", *FAST]
    assert panels.main(argv) == 0
    assert len(prepares) == 1
    assert sorted(scored) == [1, 42]
    alone = score_panel("walks", 42, "mlp_w10", FAST)
    assert len(prepares) == 2
    assert scored[42].mase == alone.mase
