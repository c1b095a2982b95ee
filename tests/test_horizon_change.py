"""After `data.next_time_window` changes, the champion forecasts another number of values than
the candidates: the gate compares a candidate with the last champion of its own horizon (or lets
it take the alias where its horizon never had one), so a run of another horizon under the same
name cannot carry a worse model past the comparison. Nor can a run of an earlier day's data (a
backfill) take the place of a champion fitted on later data."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from omegaconf import OmegaConf

from stockcast.evaluation.champion import decide, last_champion_of_horizon
from stockcast.evaluation.champion_score import Candidate
from stockcast.evaluation.reports import WINDOWS_FILE
from stockcast.registry.store import ModelRegistry
from tests.conftest import MODEL
from tests.test_monitor import PREVIOUS, model_folder

GATE = OmegaConf.create(
    {
        "registry": {"champion_alias": "champion"},
        "gate": {"require_beat_champion": True, "champion_tolerance": 0.0},
    }
)


def naive_folder(folder: Path, horizon: int) -> Path:
    """A linear model that repeats the last price over `horizon` values."""
    return model_folder(folder, 0.0, horizon)


def champion_of(registry: ModelRegistry, folder: Path, horizon: int) -> int:
    with registry.writing():
        info, _ = registry.register(folder, {"next_time_window": str(horizon)}, promote=True)
        registry.promote("champion", info)
    return info.version


def candidate(folder: Path, horizon: int, off: float) -> Candidate:
    """A report of 40 test windows whose forecasts miss each target by `off` (the naive
    forecast misses by the walk's moves)."""
    rng = np.random.default_rng(3)
    series = 100 + np.cumsum(rng.normal(0, 1, (40, PREVIOUS + horizon)), axis=1)
    inputs, actual = series[:, :PREVIOUS], series[:, PREVIOUS:]
    folder.mkdir(parents=True)
    np.savez(folder / WINDOWS_FILE, inputs=inputs, actual=actual, forecast=actual + off)
    report = {"mase_scale": 1.0, "gate": {"passed": True, "reason": "it beat naive"}}
    return Candidate(folder, folder, report, folder / "work")


def test_a_new_horizon_takes_the_alias_then_answers_to_its_own(seeded_tmp: Path) -> None:
    registry = ModelRegistry(f"sqlite:///{seeded_tmp}/mlruns.db", MODEL, create=True)
    champion_of(registry, naive_folder(seeded_tmp / "h5", 5), 5)
    # The horizon changed to 7: no champion ever forecast 7 values, so the first that passes
    # the thresholds takes the alias.
    first = decide(GATE, registry, candidate(seeded_tmp / "c7", 7, 0.1))
    assert first["promote"]
    assert first["reasons"][0] == (
        "champion version 1 forecasts 5 values and the candidate 7 (data.next_time_window "
        "changed) and no version forecasting 7 values was champion before, so the candidate "
        "takes its place"
    )
    champion_of(registry, naive_folder(seeded_tmp / "h7", 7), 7)
    # Back to 5: a candidate worse than version 1, the last champion of 5 values, does not get
    # past it because version 2 forecasts another horizon.
    worse = decide(GATE, registry, candidate(seeded_tmp / "c5", 5, 3.0))
    assert not worse["promote"] and not worse["passed"]
    assert worse["champion"]["version"] == 1
    assert worse["reasons"][0].startswith(
        "champion version 2 forecasts 7 values and the candidate 5; compared with version 1, "
        "its last champion: test MASE "
    )
    assert " is worse than version 1's " in worse["reasons"][0]
    better = decide(GATE, registry, candidate(seeded_tmp / "b5", 5, 0.01))
    assert better["promote"] and better["champion"]["version"] == 1
    assert " is not worse than version 1's " in better["reasons"][0]
    # With a tolerance the sentence names the limit it was held to: "not worse" read wrong of
    # a worse candidate the tolerance let through, and "worse" of a better one it held back.
    cases = ((5.0, 3.0, True, "is at most"), (-0.9, 1.0, False, "is above"))
    for tolerance, off, promoted, verdict in cases:
        gate = OmegaConf.merge(GATE, {"gate": {"champion_tolerance": tolerance}})
        held = decide(gate, registry, candidate(seeded_tmp / f"t{tolerance}", 5, off))
        assert held["promote"] is promoted
        champion_mase = held["champion"]["test_mase"]
        mase = held["champion"]["candidate_test_mase"]
        assert (mase > champion_mase) is promoted, "worse and let through, or better and held"
        assert (
            f"test MASE {mase:.4f} {verdict} {champion_mase * (1 + tolerance):.4f} (version 1's "
            f"{champion_mase:.4f} with gate.champion_tolerance={tolerance:g}) on "
        ) in held["reasons"][0]


def test_a_version_whose_promotion_was_declined_is_no_rival(seeded_tmp: Path) -> None:
    """A rerun of an interrupted promotion that judged it again and kept the champion leaves a
    version that never held the alias: the last champion of its horizon is the one before."""
    from stockcast.registry.versions import DECLINED, PROMOTION_TAG

    registry = ModelRegistry(f"sqlite:///{seeded_tmp}/mlruns.db", MODEL, create=True)
    champion_of(registry, naive_folder(seeded_tmp / "h5", 5), 5)
    with registry.writing():
        pending, _ = registry.register(
            model_folder(seeded_tmp / "off5", 3.0, 5), {"next_time_window": "5"}, promote=True
        )
        registry.settle(pending, declined=True)
    assert registry.resolve(version=2).tags[PROMOTION_TAG] == DECLINED
    champion_of(registry, naive_folder(seeded_tmp / "h7", 7), 7)
    assert last_champion_of_horizon(registry, 5).version == 1
    # Nor is one a monitor rolled back.
    from stockcast.registry.versions import ROLLBACK_TAG

    registry.client().set_model_version_tag(MODEL, "1", ROLLBACK_TAG, "decayed")
    assert last_champion_of_horizon(registry, 5) is None


def test_a_candidate_of_earlier_data_is_registered_beside_the_champion(seeded_tmp: Path) -> None:
    """A rerun of an earlier day (data.require_new_data=false) scores the champion's refit on
    test windows it was fitted on; promoted, its older model would judge every later day."""
    registry = ModelRegistry(f"sqlite:///{seeded_tmp}/mlruns.db", MODEL, create=True)
    with registry.writing():
        info, _ = registry.register(
            naive_folder(seeded_tmp / "june", 5), {"data_last_date": "2026-06-30"}, promote=True
        )
        registry.promote("champion", info)
    better = candidate(seeded_tmp / "c", 5, 0.1)
    earlier = Candidate(
        better.model_dir,
        better.report_dir,
        {**better.report, "model_metadata": {"data_last_date": "2026-06-10"}},
        better.workdir,
    )
    decision = decide(GATE, registry, earlier)
    assert decision["passed"] and not decision["promote"]
    assert decision["reasons"][0] == (
        "its data ends on 2026-06-10, before champion version 1's (2026-06-30), so the champion "
        "stays: a run of an earlier day does not replace a model of later data"
    )
    # The same data end, or later: compared as always (and here it holds up).
    for day in ("2026-06-30", "2026-07-01"):
        later = Candidate(
            better.model_dir,
            better.report_dir,
            {**better.report, "model_metadata": {"data_last_date": day}},
            better.workdir,
        )
        assert decide(GATE, registry, later)["promote"]


def test_a_candidate_that_ties_the_champion_takes_its_place(seeded_tmp: Path) -> None:
    """The candidate must be "not worse than" the champion (gate.champion_tolerance 0): one
    whose errors are the naive champion's mirrored about each target scores the very same MASE,
    which is not worse, so the newer model takes the alias."""
    registry = ModelRegistry(f"sqlite:///{seeded_tmp}/mlruns.db", MODEL, create=True)
    champion_of(registry, naive_folder(seeded_tmp / "h5", 5), 5)
    steps = np.random.default_rng(3).integers(-3, 4, (40, PREVIOUS + 5))
    series = 100.0 + np.cumsum(steps, axis=1)  # whole prices: every error is exact
    inputs, actual = series[:, :PREVIOUS], series[:, PREVIOUS:]
    mirrored = 2 * actual - inputs[:, -1:]  # misses each target by naive's miss, other side
    folder = seeded_tmp / "tie"
    folder.mkdir()
    np.savez(folder / WINDOWS_FILE, inputs=inputs, actual=actual, forecast=mirrored)
    report = {"mase_scale": 1.0, "gate": {"passed": True, "reason": "it beat naive"}}
    decision = decide(GATE, registry, Candidate(folder, folder, report, folder / "work"))
    assert decision["champion"]["candidate_test_mase"] == decision["champion"]["test_mase"]
    assert decision["promote"] and decision["passed"]
    assert " is not worse than champion version 1's " in decision["reasons"][0]
