"""What the bench test modules share: bench-accuracy's default output folder under tmp_path
for every test, prepared data stood in for where the fits are faked, and an accuracy run
stopped at its second series."""

from __future__ import annotations

from collections.abc import Iterable
from contextlib import AbstractContextManager, nullcontext
from pathlib import Path
from typing import Any

import numpy as np
import pytest


@pytest.fixture(autouse=True)
def output_dir_in_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """bench-accuracy's default --output-dir, which its writers make, under tmp_path: a test
    that gives none wrote into outputs/bench_accuracy in the checkout."""
    import benchmarks.accuracy.arguments as arguments

    monkeypatch.setattr(arguments, "OUTPUT_DIR", tmp_path / "outputs" / "bench_accuracy")


def unprepared(panels: Iterable[str], *args: object) -> AbstractContextManager[dict[str, None]]:
    """Stands in for the data prepared before any fit, where the fits are faked: none read."""
    return nullcontext(dict.fromkeys(panels))


def _stopped_at_series_b(monkeypatch) -> list[Any]:
    """An accuracy run over stand-ins of series a and b (returned), whose fit of b is stopped
    by Ctrl-C."""
    from types import SimpleNamespace

    import benchmarks.accuracy.__main__ as bench
    from benchmarks.accuracy.protocol import Result

    def fit(name, split, overrides, refit, experiment, prepared):
        if name == "b":
            raise KeyboardInterrupt
        return [Result(name, "stockcast", 0.5), Result(name, "stockcast+refit", 0.5)]

    named = [SimpleNamespace(name=n, values=np.arange(1.0, 51.0), season_length=1) for n in "ab"]
    monkeypatch.setattr(bench, "stockcast_default", fit)
    monkeypatch.setattr(bench, "warm_up", lambda *args: None)
    monkeypatch.setattr(bench, "load_bench_series", lambda names: named)
    monkeypatch.setattr(bench, "naive", lambda name, split, floor: Result(name, "naive", 1.0))
    monkeypatch.setattr(bench, "seasonal_naive", lambda *args: None)
    return named
