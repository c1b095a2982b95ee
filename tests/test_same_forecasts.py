"""A candidate whose evaluated model forecasts exactly what the champion does adds nothing, so it
is not registered; unless it is a refit on later data than the champion's, which is no copy of
the champion: its evaluated model is the same (a day's value added no train window), but what
gets registered was fitted on prices the champion never saw."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from stockcast.evaluation.champion import decide
from stockcast.evaluation.champion_score import Candidate
from stockcast.evaluation.reports import WINDOWS_FILE
from stockcast.registry.freshness import LAST_DATE_TAG
from stockcast.registry.store import ModelRegistry
from tests.conftest import MODEL
from tests.test_horizon_change import GATE, champion_of, naive_folder
from tests.test_monitor import HORIZON, PREVIOUS


def naive_candidate(folder: Path, data_last_date: str, refit: bool) -> Candidate:
    """A report whose 40 test forecasts repeat each window's last price, as the naive champion's
    do; `refit`: the folder carries an evaluated model inside, as a refit does."""
    rng = np.random.default_rng(3)
    series = 100 + np.cumsum(rng.normal(0, 1, (40, PREVIOUS + HORIZON)), axis=1)
    inputs, actual = series[:, :PREVIOUS], series[:, PREVIOUS:]
    forecast = np.repeat(inputs[:, -1:], HORIZON, axis=1)
    folder.mkdir(parents=True)
    np.savez(folder / WINDOWS_FILE, inputs=inputs, actual=actual, forecast=forecast)
    if refit:
        (folder / "evaluated").mkdir()
        (folder / "evaluated" / "MLmodel").write_text("")
    report = {
        "mase_scale": 1.0,
        "gate": {"passed": True, "reason": "it beat naive"},
        "model_metadata": {"data_last_date": data_last_date},
    }
    return Candidate(folder, folder, report, folder / "work")


def test_a_refit_on_later_data_is_not_refused_as_the_champion_again(seeded_tmp: Path) -> None:
    """The refit of a day whose evaluated model came out as the champion's was refused as
    forecasting exactly what the champion does, so the model that had seen the latest prices was
    never registered and the champion stayed a day older."""
    registry = ModelRegistry(f"sqlite:///{seeded_tmp}/mlruns.db", MODEL, create=True)
    version = champion_of(registry, naive_folder(seeded_tmp / "champion", HORIZON), HORIZON)
    client = registry.client()
    client.set_model_version_tag(MODEL, str(version), LAST_DATE_TAG, "2026-06-29")

    same = f"it forecasts exactly what champion version {version} does on the same test windows"
    # The evaluated model itself, as the champion's: nothing new.
    unrefit = decide(GATE, registry, naive_candidate(seeded_tmp / "e", "2026-06-30", False))
    assert not unrefit["passed"] and not unrefit["promote"]
    assert unrefit["reasons"][0] == f"{same}, so nothing new is registered"
    # A rerun of the champion's own day: its refit was fitted on the same prices.
    rerun = decide(GATE, registry, naive_candidate(seeded_tmp / "r", "2026-06-29", True))
    assert not rerun["passed"] and rerun["reasons"][0].startswith(same)
    # The next day's refit: compared as any candidate, and it holds up (a tie).
    later = decide(GATE, registry, naive_candidate(seeded_tmp / "l", "2026-06-30", True))
    assert later["passed"] and later["promote"]
    assert later["champion"]["version"] == version
    assert later["reasons"][0].startswith("test MASE ")
    assert f" is not worse than champion version {version}'s " in later["reasons"][0]
