"""The monitor step over dated data revealed one business day at a time: the champion's forecast
goes into the ledger once per origin, matures when its target days arrive, and a champion that
forecasts far worse than naive is flagged and rolled back to the one before it."""

from __future__ import annotations

import contextlib
import json
import logging
import shutil
import sqlite3
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from stockcast.data.calendar import later_than
from stockcast.errors import ArtifactError, ConfigError
from stockcast.evaluation.monitor_status import (
    DAMAGED,
    NO_CHAMPION,
    REFUSED,
    ROLLED_BACK,
    SKIPPED,
)
from stockcast.evaluation.reports import REPORT_FILE
from stockcast.orchestration.steps.monitor import run_monitor
from stockcast.orchestration.steps.monitor_outputs import registered_version
from stockcast.orchestration.steps.prepare import run_prepare
from stockcast.orchestration.steps.table import MONITOR_PLOT_FILE
from stockcast.registry.ledger import LEDGER_FILE, Ledger
from stockcast.registry.runs import OWNER_TAG, owner_value, prepare_store
from stockcast.registry.store import ModelRegistry
from stockcast.registry.versions import ROLLBACK_TAG
from tests.conftest import MODEL, isolated_overrides, run_task

PREVIOUS, HORIZON = 10, 2
N_ROWS = 110
# Origins of the scenario: the data ends on row 100, then one more business day per run.
FIRST_DAY = 100
# How long another run's transaction holds the MLflow store in the preflight's test: past the
# ledger's timeout that test sets.
WRITER_S = 0.3
SPEC = {
    "previous_time_window": PREVIOUS,
    "next_time_window": HORIZON,
    "num_threads": 1,
    "mlp": {"hidden_sizes": [], "activation": "relu", "dropout": 0.0, "anchor": "last"},
    "scaler": {"kind": "per_window", "loc": 0.0, "scale": 1.0, "min_relative_scale": 1e-4},
    "intervals": {
        "method": "split_conformal",
        "calibration_windows": 100,
        "min_relative_scale": 1e-4,
        "bounds": {"80": [[-1.5, -2.0], [1.5, 2.0]]},
    },
}


def prices() -> pd.DataFrame:
    """A random walk on business days from 2024-01-01 (a Monday)."""
    rng = np.random.default_rng(7)
    dates = pd.bdate_range("2024-01-01", periods=N_ROWS)
    return pd.DataFrame({"Date": dates, "Close": 100.0 + rng.normal(0, 1, N_ROWS).cumsum()})


def model_folder(folder: Path, bias: float, horizon: int = HORIZON) -> Path:
    """An anchored linear model: bias 0 repeats the last price (naive); a bias adds that many
    window standard deviations to every forecast. Of another `horizon` than the scenario's, it
    has no bands."""
    import torch

    from stockcast.models.spec import build_price_forecaster
    from stockcast.training.export import save_model_dir

    spec = SPEC
    if horizon != HORIZON:
        spec = {key: value for key, value in SPEC.items() if key != "intervals"}
        spec["next_time_window"] = horizon
    net = build_price_forecaster(spec)
    with torch.no_grad():
        net.core.biases[-1].fill_(bias)
    metadata = {
        "kind": "stockcast.model",
        "previous_time_window": PREVIOUS,
        "next_time_window": horizon,
    }
    return save_model_dir(net, spec, folder, metadata, np.arange(PREVIOUS) + 100.0)


def panel(tickers: str) -> pd.DataFrame:
    """One random walk per ticker (a letter) on the same business days, under a Ticker column."""
    frames = []
    for seed, ticker in enumerate(tickers):
        rng = np.random.default_rng(seed)
        close = 100.0 + rng.normal(0, 1, N_ROWS).cumsum()
        frames.append(prices().assign(Close=close, Ticker=ticker))
    return pd.concat(frames, ignore_index=True)


def data_overrides(
    csv: Path, dated: bool = True, panel: bool = False, horizon: int = HORIZON
) -> list[str]:
    return [
        "data=csv",
        f"data.path={csv}",
        f"data.previous_time_window={PREVIOUS}",
        f"data.next_time_window={horizon}",
        *([] if dated else ["data.date_column=null"]),
        *(["data.id_column=Ticker"] if panel else []),
    ]


def monitor_day(
    tmp: Path,
    rows: int,
    *extra: str,
    dated: bool = True,
    tickers: str = "",
    horizon: int = HORIZON,
    young: str = "",
    stopped: dict[str, int] | None = None,
    data: pd.DataFrame | None = None,
) -> dict:
    """Prepare the first `rows` rows (the data as of that day, windows of `horizon` targets) and
    run the monitor on it, both with the `extra` overrides; with `tickers`, of a panel of those
    series, of which the `young` ones hold only that day's last 5 rows (listed days ago) and the
    `stopped` ones only their first rows (their values stopped coming); of `data` in place of
    `prices()` where given."""
    whole = prices() if data is None else data
    frame = panel(tickers).groupby("Ticker").head(rows) if tickers else whole.iloc[:rows]
    for ticker, kept in (stopped or {}).items():
        cut = frame[frame.Ticker == ticker].iloc[kept:].index
        frame = frame.drop(cut)
    if young:
        listed = frame[frame.Ticker.isin(list(young))].groupby("Ticker").tail(5)
        frame = pd.concat([frame[~frame.Ticker.isin(list(young))], listed])
    csv = tmp / f"prices_{rows}.csv"
    (frame if dated else frame[["Close"]]).to_csv(csv, index=False)
    base = [*isolated_overrides(tmp), *data_overrides(csv, dated, bool(tickers), horizon), *extra]
    prepared = tmp / f"prepared_{rows}"
    run_task(run_prepare, "pipeline", [*base, f"prepare.output_dir={prepared}"], tmp / "prep")
    output = tmp / f"monitor_{rows}"
    overrides = [
        *base,
        f"monitor.prepared_dir={prepared}",
        f"monitor.output_dir={output}",
        "monitor.min_matured=2",
    ]
    report = run_task(run_monitor, "pipeline", overrides, tmp / "run").value
    assert json.loads((output / REPORT_FILE).read_text())["status"] == report["status"]
    assert (output / MONITOR_PLOT_FILE).stat().st_size > 0
    return report


def registry(tmp: Path) -> ModelRegistry:
    return ModelRegistry(
        f"sqlite:///{tmp}/mlruns.db", MODEL, artifact_location=f"{tmp}/mlartifacts", create=True
    )


def register(tmp: Path, name: str, bias: float) -> int:
    """Register a model folder and make it the champion."""
    reg = registry(tmp)
    folder = model_folder(tmp / name, bias)
    with reg.writing():
        info, _ = reg.register(folder, {}, promote=True)
        reg.promote("champion", info)
    return info.version


def iso(row: int) -> str:
    return prices()["Date"].iloc[row].date().isoformat()


def champions_in_turn(tmp: Path, count: int) -> tuple[ModelRegistry, Ledger]:
    """Versions 1 to `count` registered and made the champion one after another, as the
    ledger's champion history records them."""
    reg, ledger = registry(tmp), Ledger(tmp / LEDGER_FILE, 30)
    with reg.writing():
        for version in range(1, count + 1):
            info, _ = reg.register(model_folder(tmp / f"v{version}", 0.0), {})
            reg.promote("champion", info)
            ledger.record_champion(MODEL, "champion", info.version, iso(version), "promoted")
    return reg, ledger


def change_registered_files(tmp: Path, version: int) -> None:
    """Change a registered version's files in the store after registration."""
    reg = registry(tmp)
    store_copy = reg.download(reg.resolve(version=version), tmp / "dl")
    with (store_copy / "MLmodel").open("a") as file:
        file.write("# changed\n")


@pytest.fixture(scope="module")
def degraded(tmp_path_factory: pytest.TempPathFactory, store_template: Path) -> dict:
    """v1 (naive) is champion on day 0; then v2 (far off) takes over and is watched for four
    days with rollback on, the last of which rolls it back. Returns each day's report, and a
    copy of the folder (store and ledger) as the rollback day found it."""
    from tests.conftest import global_state_restored, seed_store

    tmp = seed_store(store_template, tmp_path_factory.mktemp("degraded"))
    before_rollback = tmp_path_factory.mktemp("before_rollback")
    with global_state_restored():
        register(tmp, "good", 0.0)
        reports = {FIRST_DAY: monitor_day(tmp, FIRST_DAY, "monitor.rollback=true")}
        register(tmp, "bad", 3.0)
        for rows in range(FIRST_DAY + 1, FIRST_DAY + 5):
            if rows == FIRST_DAY + 4:
                shutil.copytree(tmp, before_rollback, dirs_exist_ok=True)
            reports[rows] = monitor_day(tmp, rows, "monitor.rollback=true")
    return {"tmp": tmp, "reports": reports, "before_rollback": before_rollback}


@pytest.fixture(scope="module")
def panel_days(tmp_path_factory: pytest.TempPathFactory, store_template: Path) -> dict:
    """A panel of tickers A and B watched for three days under a far-off champion, then B
    leaves the data (delisted). Returns each day's report."""
    from tests.conftest import global_state_restored, seed_store

    tmp = seed_store(store_template, tmp_path_factory.mktemp("panel"))
    with global_state_restored():
        register(tmp, "bad", 3.0)
        reports = {rows: monitor_day(tmp, rows, tickers="AB") for rows in range(100, 103)}
        reports[103] = monitor_day(tmp, 103, tickers="A")
    return {"tmp": tmp, "reports": reports}


@pytest.mark.slow
def test_forecasts_are_stored_once_per_origin_with_their_business_day_targets(degraded) -> None:
    rows = Ledger(degraded["tmp"] / LEDGER_FILE, 30).forecasts(MODEL)
    first = rows[0]
    assert (first.model_version, first.origin_date) == (1, iso(FIRST_DAY - 1))
    assert first.target_dates == (iso(FIRST_DAY), iso(FIRST_DAY + 1))
    assert first.naive == pytest.approx(prices()["Close"].iloc[FIRST_DAY - 1])
    assert set(first.bands) == {"80"}
    # A Friday origin targets the next Monday and Tuesday.
    fridays = [r for r in rows if pd.Timestamp(r.origin_date).dayofweek == 4]
    for row in fridays:
        assert [pd.Timestamp(d).dayofweek for d in row.target_dates] == [0, 1]
    origins = [(r.model_version, r.origin_date) for r in rows]
    assert origins == [
        (1, iso(FIRST_DAY - 1)),
        *((2, iso(row - 1)) for row in range(FIRST_DAY + 1, FIRST_DAY + 4)),
        # The rollback day: the flagged champion's forecast, and the restored one's.
        (1, iso(FIRST_DAY + 3)),
        (2, iso(FIRST_DAY + 3)),
    ]


@pytest.mark.slow
def test_forecasts_mature_when_their_last_target_day_arrives(degraded) -> None:
    reports = degraded["reports"]
    # v1's forecast from row 99 targets rows 100 and 101: present from the run on 102 rows.
    assert reports[FIRST_DAY + 1]["versions"] == {}
    assert reports[FIRST_DAY + 2]["versions"]["1"]["matured"] == 1
    assert reports[FIRST_DAY + 2]["waiting"] == 2  # v2's forecasts from rows 100 and 101
    assert reports[FIRST_DAY + 3]["versions"]["2"]["matured"] == 1
    assert reports[FIRST_DAY + 3]["status"] == "ok", "one matured forecast is not enough to judge"
    assert "needs monitor.min_matured=2" in reports[FIRST_DAY + 3]["flag"]["reason"]
    assert reports[FIRST_DAY + 2]["versions"]["1"]["ratio_vs_naive"] == pytest.approx(1.0)


@pytest.mark.slow
def test_a_degraded_champion_is_flagged_and_rolled_back(degraded) -> None:
    tmp, report = degraded["tmp"], degraded["reports"][FIRST_DAY + 4]
    assert report["status"] == ROLLED_BACK
    assert report["champion"] == 2 and report["rollback"]["to"] == 1
    assert report["champion_live"]["matured"] == 2
    assert report["champion_live"]["ratio_vs_naive"] > 1.2
    assert "above monitor.max_ratio_vs_naive=1.2" in report["message"]
    assert "champion rolled back to version 1" in report["message"]
    reg = ModelRegistry(f"sqlite:///{tmp}/mlruns.db", MODEL)
    assert reg.champion("champion").version == 1
    demoted = reg.resolve(version=2)
    assert "above monitor.max_ratio_vs_naive" in demoted.tags[ROLLBACK_TAG]
    history = Ledger(tmp / LEDGER_FILE, 30).champion_history(MODEL, "champion")
    assert [h.model_version for h in history] == [1, 2, 1]
    assert history[-1].reason == "rollback from 2"
    # The monitor recorded whose model the ledger keeps: another store's is refused.
    with pytest.raises(ConfigError, match=rf"keeps the forecasts of {MODEL} from another store"):
        Ledger(tmp / LEDGER_FILE, 30).claim_store(MODEL, "1")
    from mlflow import MlflowClient

    run = MlflowClient(f"sqlite:///{tmp}/mlruns.db").get_run(report["mlflow_run_id"])
    assert run.data.metrics["champion_live_ratio_vs_naive"] == pytest.approx(
        report["champion_live"]["ratio_vs_naive"]
    )
    assert run.data.metrics["flagged"] == 1.0


@pytest.mark.slow
def test_report_json_names_the_mlflow_run_that_logs_it(degraded) -> None:
    """report.json was written before its MLflow run existed: only the step's return value named
    the run, not the file nor its copy logged in the run."""
    from mlflow import MlflowClient

    tmp, rows = degraded["tmp"], FIRST_DAY + 4
    run_id = degraded["reports"][rows]["mlflow_run_id"]
    on_disk = json.loads((tmp / f"monitor_{rows}" / REPORT_FILE).read_text())
    assert on_disk["mlflow_run_id"] == run_id
    client = MlflowClient(f"sqlite:///{tmp}/mlruns.db")
    logged = client.download_artifacts(run_id, REPORT_FILE, str(tmp / "logged_report"))
    assert json.loads(Path(logged).read_text())["mlflow_run_id"] == run_id
    run = client.get_run(run_id)
    assert (run.info.status, run.info.run_name) == ("FINISHED", f"monitor-{on_disk['as_of']}")


@pytest.mark.slow
def test_a_rerun_of_the_same_day_stores_nothing_new(degraded) -> None:
    tmp = degraded["tmp"]
    before = Ledger(tmp / LEDGER_FILE, 30).forecasts(MODEL)
    again = monitor_day(tmp, FIRST_DAY + 4, "monitor.rollback=true")
    assert again["stored"] == 0 and again["champion"] == 1
    # Restored on this day: its forecast from before it was demoted (day 99, matured and within
    # the window) does not judge it now.
    assert again["champion_live"]["matured"] == 0
    assert Ledger(tmp / LEDGER_FILE, 30).forecasts(MODEL) == before


@pytest.mark.slow
def test_a_ledger_that_cannot_be_written_fails_the_monitor_not_skips_it(
    seeded_tmp: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Its write error was caught as a champion folder's and the day reported as skipped, exit
    0: the day's forecast was lost without a word, and no rerun hint could follow."""
    from stockcast.errors import LedgerUnusable

    register(seeded_tmp, "good", 0.0)

    def unwritable(self: Ledger, forecasts: object) -> int:
        raise LedgerUnusable("the forecast ledger cannot be written (disk I/O error).")

    monkeypatch.setattr(Ledger, "append", unwritable)
    with pytest.raises(LedgerUnusable, match="cannot be written"):
        monitor_day(seeded_tmp, FIRST_DAY)


@pytest.fixture(scope="module")
def flagged_without_rollback(
    tmp_path_factory: pytest.TempPathFactory, store_template: Path
) -> dict:
    """A far-off v1, the only champion, watched for four days with rollback off (the default):
    the folder (store and ledger) and the last day's report."""
    from tests.conftest import global_state_restored, seed_store

    tmp = seed_store(store_template, tmp_path_factory.mktemp("flagged"))
    with global_state_restored():
        register(tmp, "bad", 3.0)
        for rows in range(FIRST_DAY, FIRST_DAY + 4):
            report = monitor_day(tmp, rows)
    return {"tmp": tmp, "report": report}


@pytest.mark.slow
def test_without_rollback_the_champion_is_only_flagged(flagged_without_rollback: dict) -> None:
    report = flagged_without_rollback["report"]
    assert report["status"] == "flagged" and report["rollback"] is None
    assert registry(flagged_without_rollback["tmp"]).champion("champion").version == 1


@pytest.mark.slow
def test_a_version_flagged_while_rollback_was_off_is_never_restored(
    flagged_without_rollback: dict, tmp_path: Path
) -> None:
    """v1 was flagged with monitor.rollback=false and stayed champion until v2 took over; v2 is
    flagged with rollback on: restored, v1 would be a champion the monitor had judged worse
    than naive. The days go on from a copy of `flagged_without_rollback`'s folder."""
    from stockcast.registry.versions import FLAGGED_TAG

    tmp = Path(shutil.copytree(flagged_without_rollback["tmp"], tmp_path / "flagged"))
    report = flagged_without_rollback["report"]
    assert report["status"] == "flagged"
    tag = registry(tmp).resolve(version=1).tags[FLAGGED_TAG]
    assert tag.startswith(f"{iso(FIRST_DAY + 2)}: ") and "above monitor.max_ratio_vs_naive" in tag
    # Flagged again the next day: the tag keeps the first.
    assert monitor_day(tmp, FIRST_DAY + 4)["status"] == "flagged"
    assert registry(tmp).resolve(version=1).tags[FLAGGED_TAG] == tag
    register(tmp, "worse", 4.0)
    for rows in range(FIRST_DAY + 5, FIRST_DAY + 9):
        report = monitor_day(tmp, rows, "monitor.rollback=true")
    assert report["status"] == "flagged" and report["champion"] == 2
    assert report["rollback"] == {
        "done": False,
        "reason": "no previous champion to roll back to (the monitor flagged version 1 before)",
    }
    # The first day it was flagged stays on the tag.
    assert registry(tmp).resolve(version=1).tags[FLAGGED_TAG] == tag
    assert registry(tmp).champion("champion").version == 2


@pytest.mark.slow
def test_a_flagged_first_champion_has_nothing_to_roll_back_to(seeded_tmp: Path) -> None:
    register(seeded_tmp, "bad", 3.0)
    for rows in range(FIRST_DAY, FIRST_DAY + 4):
        report = monitor_day(seeded_tmp, rows, "monitor.rollback=true")
    assert report["status"] == "flagged"
    assert report["rollback"] == {"done": False, "reason": "no previous champion to roll back to"}
    assert report["message"].endswith("; no previous champion to roll back to")
    assert registry(seeded_tmp).champion("champion").version == 1


@pytest.mark.slow
def test_a_champion_of_another_horizon_is_still_watched(seeded_tmp: Path) -> None:
    """data.next_time_window changed and no version of the new horizon has taken over yet: the
    champion still serving is forecast over its own horizon and scored, not skipped."""
    register(seeded_tmp, "bad", 3.0)
    for rows in range(FIRST_DAY, FIRST_DAY + 4):
        report = monitor_day(seeded_tmp, rows, horizon=HORIZON + 3)
        assert report["stored"] == 1, report["message"]
    assert report["status"] == "flagged" and report["champion_live"]["matured"] == 2
    stored = Ledger(seeded_tmp / LEDGER_FILE, 30).forecasts(MODEL)
    assert {len(f.target_dates) for f in stored} == {HORIZON}


def test_a_rollback_skips_champions_of_another_horizon(seeded_tmp: Path) -> None:
    """After data.next_time_window changed, the champions before it forecast another number of
    values: the alias goes back to the latest one of the flagged version's horizon, or nowhere."""
    from stockcast.registry.rollback import roll_back

    reg, ledger = registry(seeded_tmp), Ledger(seeded_tmp / LEDGER_FILE, 30)
    horizons = {1: 2, 2: 3, 3: 2, 4: 3}
    with reg.writing():
        for version, horizon in horizons.items():
            folder = model_folder(seeded_tmp / f"v{version}", float(version))
            info, _ = reg.register(folder, {"next_time_window": str(horizon)}, promote=True)
            reg.promote("champion", info)
            ledger.record_champion(MODEL, "champion", info.version, iso(version), "promoted")
    flagged = reg.champion("champion")
    done = roll_back("champion", reg, ledger, flagged, "decayed", iso(10))
    assert done == {"done": True, "from": 4, "to": 2, "reason": "decayed"}
    # v2 decays too: v3 and v1 forecast 2 values, not its 3, and nothing else is left.
    kept = roll_back("champion", reg, ledger, reg.champion("champion"), "decayed", iso(11))
    assert kept == {
        "done": False,
        "reason": "no previous champion forecasting 3 values to roll back to (the monitor "
        "flagged version 4 before)",
    }
    assert reg.champion("champion").version == 2


def test_a_rollback_passes_over_a_previous_champion_that_does_not_open(seeded_tmp: Path) -> None:
    """Moved onto a version whose files no longer match their hash (or whose signature the key
    refuses), the alias left predict, serve and the monitor a champion none could open, where
    the flagged one still forecast: the alias goes to the latest one that opens, or stays."""
    from stockcast.errors import ArtifactError, DamagedVersion
    from stockcast.registry.lock import LOCK_SUFFIX, _file_lock
    from stockcast.registry.rollback import roll_back

    reg, ledger = champions_in_turn(seeded_tmp, 3)
    damaged = {2: "version 2's model folder does not match its registered hash."}
    tried = []
    store_lock = _file_lock(seeded_tmp / f"mlruns.db{LOCK_SUFFIX}")

    def opens(info) -> None:
        # Opened before the store's write lock is taken: a register step waits on it.
        assert not store_lock.is_locked
        tried.append(info.version)
        if info.version in damaged:
            raise DamagedVersion(damaged[info.version], "its files")

    done = roll_back("champion", reg, ledger, reg.champion("champion"), "decayed", iso(10), opens)
    assert tried == [2, 1]
    assert done == {
        "done": True,
        "from": 3,
        "to": 1,
        "reason": "decayed",
        "passed_over": {"2": "version 2's model folder does not match its registered hash"},
    }
    assert reg.champion("champion").version == 1
    # Nothing before v1 opens either: the alias stays where it is, and the report says why.
    damaged[1] = "version 1 does not load: no module named 'mine'."
    with reg.writing():
        reg.promote("champion", reg.resolve(version=3))
    ledger.record_champion(MODEL, "champion", 3, iso(11), "promoted")

    def refuses_with_another_error(info) -> None:
        if info.version == 1:
            raise ArtifactError(damaged[1])
        opens(info)

    kept = roll_back(
        "champion",
        reg,
        ledger,
        reg.champion("champion"),
        "decayed",
        iso(12),
        refuses_with_another_error,
    )
    # v1 was the champion last (the rollback), then v2, each refused in turn.
    assert kept == {
        "done": False,
        "reason": "no previous champion that opens to roll back to (version 1 does not load: no "
        "module named 'mine'; version 2's model folder does not match its registered hash)",
    }
    assert reg.champion("champion").version == 3


def test_a_rollback_passes_over_a_deleted_champion_and_stops_at_other_errors(
    seeded_tmp: Path,
) -> None:
    """A previous champion deleted from the store is no target, and the search goes on to the
    one before it; an error that says nothing about the version (the store or the disk failing)
    is no reason to pass it over: it stops the rollback with the alias where it was."""
    from stockcast.registry.rollback import roll_back

    reg, ledger = champions_in_turn(seeded_tmp, 3)
    reg.client().delete_model_version(MODEL, "2")

    def disk_full(info) -> None:
        raise OSError(28, "No space left on device")

    with pytest.raises(OSError, match="No space left"):
        roll_back("champion", reg, ledger, reg.champion("champion"), "decayed", iso(10), disk_full)
    assert reg.champion("champion").version == 3
    tried: list[int] = []
    done = roll_back(
        "champion",
        reg,
        ledger,
        reg.champion("champion"),
        "decayed",
        iso(10),
        lambda info: tried.append(info.version),
    )
    assert tried == [1] and done["done"] and done["to"] == 1
    assert done["passed_over"] == {"2": "version 2 was deleted from the store"}


def test_a_rollback_whose_previous_champions_were_deleted_says_so(seeded_tmp: Path) -> None:
    """Every earlier champion deleted from the store: the reason names them, where "no previous
    champion" would deny the versions the user saw as champion."""
    from stockcast.registry.rollback import roll_back

    reg, ledger = champions_in_turn(seeded_tmp, 3)
    for version in ("1", "2"):
        reg.client().delete_model_version(MODEL, version)
    done = roll_back(
        "champion", reg, ledger, reg.champion("champion"), "decayed", iso(10), lambda info: None
    )
    assert done == {
        "done": False,
        "reason": "no previous champion that opens to roll back to (version 2 was deleted from "
        "the store; version 1 was deleted from the store)",
    }
    assert reg.champion("champion").version == 3


def test_a_rollback_moves_nothing_where_the_alias_moved_while_it_opened(seeded_tmp: Path) -> None:
    """The versions are opened before the lock: a run that moved the alias meanwhile (a
    register step promoting its own) keeps it."""
    from stockcast.registry.rollback import roll_back

    reg, ledger = champions_in_turn(seeded_tmp, 3)

    def a_rival_promotes_while_it_opens(info) -> None:
        with reg.writing():
            reg.promote("champion", reg.resolve(version=1))

    flagged = reg.champion("champion")
    kept = roll_back(
        "champion", reg, ledger, flagged, "decayed", iso(10), a_rival_promotes_while_it_opens
    )
    assert kept == {
        "done": False,
        "reason": "the champion alias moved meanwhile; nothing rolled back",
    }
    assert reg.champion("champion").version == 1
    assert ROLLBACK_TAG not in reg.resolve(version=3).tags


def test_the_check_that_a_version_opens_leaves_no_copy(
    seeded_tmp: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from stockcast.errors import DamagedVersion
    from stockcast.serving import model as serving_model

    def downloads_then_refuses(registry, info, workdir) -> None:
        (Path(workdir) / "model").mkdir(parents=True)
        raise DamagedVersion("version 1's files do not match their hash.", "MLmodel")

    monkeypatch.setattr(serving_model, "open_version", downloads_then_refuses)
    workdir = seeded_tmp / "rollback_check"
    with pytest.raises(DamagedVersion):
        serving_model.check_version_opens(registry(seeded_tmp), None, workdir)
    assert not workdir.exists()


def rolled_back_with_changed_files(tmp: Path, good: int, changed: int) -> dict:
    """`good` naive champions seen a day each, then a far-off one flagged over three days; the
    files of version `changed` are changed in the store before the day that rolls back. That
    day's report."""
    from tests.conftest import global_state_restored

    with global_state_restored():
        for day in range(good):
            register(tmp, f"good{day}", 0.0)
            monitor_day(tmp, FIRST_DAY + day)
        register(tmp, "bad", 3.0)
        for rows in range(FIRST_DAY + good, FIRST_DAY + good + 3):
            monitor_day(tmp, rows)
        change_registered_files(tmp, changed)
        return monitor_day(tmp, FIRST_DAY + good + 3, "monitor.rollback=true")


@pytest.mark.slow
def test_a_monitor_rolls_back_past_a_damaged_version(seeded_tmp: Path) -> None:
    report = rolled_back_with_changed_files(seeded_tmp, good=2, changed=2)
    assert report["status"] == ROLLED_BACK and report["rollback"]["to"] == 1
    assert list(report["rollback"]["passed_over"]) == ["2"]
    assert (
        f"champion rolled back to version 1, passing over ({MODEL} version 2 "
        in (report["message"])
    )
    assert registry(seeded_tmp).champion("champion").version == 1


@pytest.mark.slow
def test_a_monitor_does_not_roll_back_onto_a_damaged_version(seeded_tmp: Path) -> None:
    report = rolled_back_with_changed_files(seeded_tmp, good=1, changed=1)
    assert report["status"] == "flagged" and report["champion"] == 2
    assert report["rollback"]["done"] is False
    assert report["rollback"]["reason"].startswith(
        f"no previous champion that opens to roll back to ({MODEL} version 1 does not match "
    )
    assert "it was modified after registration" in report["message"]
    assert registry(seeded_tmp).champion("champion").version == 2


@pytest.mark.slow
def test_a_damaged_champion_is_a_warning_that_says_what_to_do(
    seeded_tmp: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """A champion whose files were changed stays where the day's candidate is refused: the
    monitor then stored nothing and said so at INFO, as a plain skip, though predict and serve
    could not open the champion either."""
    register(seeded_tmp, "good", 0.0)
    monitor_day(seeded_tmp, FIRST_DAY)
    change_registered_files(seeded_tmp, 1)
    with caplog.at_level(logging.INFO, "stockcast"):
        report = monitor_day(seeded_tmp, FIRST_DAY + 1)
    assert (report["status"], report["stored"], report["champion"]) == (DAMAGED, 0, 1)
    assert report["message"] == (
        f"{MODEL} version 1 (champion) is damaged: its files were changed or lost since it was "
        "registered (changed MLmodel), so no forecast was stored, scored or judged, and predict "
        "and serve cannot open it either; register the model again from its original folder, "
        "or run the pipeline on new data: a candidate that passes the gate replaces it"
    )
    said = [r for r in caplog.records if r.getMessage() == report["message"]]
    assert [r.levelno for r in said] == [logging.WARNING]
    # Where the register step does not compare candidates with the champion, none replaces it:
    # the warning said one would.
    kept = monitor_day(seeded_tmp, FIRST_DAY + 2, "gate.require_beat_champion=false")
    assert kept["status"] == DAMAGED
    assert kept["message"].endswith(
        "register the model again from its original folder, or move the champion alias to a "
        "version that opens (with gate.require_beat_champion=false no candidate replaces it; "
        "monitor.rollback=true moves it back to the previous champion that opens)"
    )


def test_a_damaged_champion_is_rolled_back_with_rollback_on(
    seeded_tmp: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """With monitor.rollback=true a decayed champion's alias went back to the previous one
    that opens, but a damaged one, which nothing can forecast with, stayed until a candidate
    replaced it: predict and serve had no champion in the meantime."""
    register(seeded_tmp, "good", 0.0)
    monitor_day(seeded_tmp, FIRST_DAY)
    register(seeded_tmp, "later", 0.0)
    monitor_day(seeded_tmp, FIRST_DAY + 1)
    change_registered_files(seeded_tmp, 2)
    with caplog.at_level(logging.INFO, "stockcast"):
        report = monitor_day(seeded_tmp, FIRST_DAY + 2, "monitor.rollback=true")
    assert (report["status"], report["stored"], report["champion"]) == (ROLLED_BACK, 1, 2)
    assert report["message"] == (
        f"{MODEL} version 2 (champion) is damaged: its files were changed or lost since it was "
        "registered (changed MLmodel), so no forecast of it was stored, scored or judged; "
        "champion rolled back to version 1"
    )
    assert report["rollback"] == {
        "done": True,
        "from": 2,
        "to": 1,
        "reason": "its files were changed or lost since it was registered",
    }
    said = [r for r in caplog.records if r.getMessage() == report["message"]]
    assert [r.levelno for r in said] == [logging.WARNING]
    reg = registry(seeded_tmp)
    assert reg.champion("champion").version == 1
    assert ROLLBACK_TAG in reg.resolve(version=2).tags
    # The restored champion's forecast of the day is what the ledger holds for it.
    stored = Ledger(seeded_tmp / LEDGER_FILE, 30).forecasts(MODEL)
    origins = {f.origin_date for f in stored if f.model_version == 1}
    assert origins == {iso(FIRST_DAY - 1), iso(FIRST_DAY + 1)}


def test_a_champion_the_key_refuses_is_a_warning_in_the_refusals_words(
    seeded_tmp: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """A champion registered unsigned, opened once a public key is set: predict and serve
    refuse it every day until it is signed, and the monitor said so at INFO, as a plain skip."""
    from stockcast.registry.keys import PUBLIC_KEY_FILE, create_key_pair

    create_key_pair(seeded_tmp / "keys")
    register(seeded_tmp, "good", 0.0)
    public_key = f"registry.signing.public_key={seeded_tmp / 'keys' / PUBLIC_KEY_FILE}"
    with caplog.at_level(logging.INFO, "stockcast"):
        report = monitor_day(seeded_tmp, FIRST_DAY, public_key)
    assert (report["status"], report["stored"], report["champion"]) == (REFUSED, 0, 1)
    assert logged_report(seeded_tmp, report)["params"]["status"] == REFUSED
    assert report["message"] == (
        f"{MODEL} version 1 (champion) does not open, so no forecast was stored, scored or "
        f"judged, and predict and serve refuse it too: {MODEL} version 1 carries no signature "
        "(model.sig), so it is not loaded while registry.signing.public_key is set; register it "
        "again with registry.signing.private_key set (the register step signs it)"
    )
    said = [r for r in caplog.records if r.getMessage() == report["message"]]
    assert [r.levelno for r in said] == [logging.WARNING]


def logged_report(tmp: Path, report: dict) -> dict:
    """The report.json logged in the MLflow run the report names, and that run's params."""
    from mlflow import MlflowClient

    client = MlflowClient(f"sqlite:///{tmp}/mlruns.db")
    run_id = report["mlflow_run_id"]
    logged = client.download_artifacts(run_id, REPORT_FILE, str(tmp / f"logged_{run_id}"))
    return json.loads(Path(logged).read_text()) | {"params": client.get_run(run_id).data.params}


def test_days_that_store_nothing_are_logged_in_mlflow_too(seeded_tmp: Path) -> None:
    """A damaged champion (rolled back or not), a refused one and a skipped day were reported
    in files only: the monitor experiment in MLflow showed nothing of exactly those days."""
    register(seeded_tmp, "good", 0.0)
    monitor_day(seeded_tmp, FIRST_DAY)
    register(seeded_tmp, "later", 0.0)
    monitor_day(seeded_tmp, FIRST_DAY + 1)
    change_registered_files(seeded_tmp, 2)
    damaged = monitor_day(seeded_tmp, FIRST_DAY + 2)
    rolled_back = monitor_day(seeded_tmp, FIRST_DAY + 3, "monitor.rollback=true")
    skipped = monitor_day(seeded_tmp, FIRST_DAY + 1, "data.require_new_data=false")
    for report, status in ((damaged, DAMAGED), (rolled_back, ROLLED_BACK), (skipped, SKIPPED)):
        assert report["status"] == status
        logged = logged_report(seeded_tmp, report)
        assert (logged["status"], logged["message"]) == (status, report["message"])
        assert logged["params"]["status"] == status


@pytest.mark.slow
def test_a_monitor_run_left_open_by_a_killed_process_is_closed(seeded_tmp: Path) -> None:
    """Training and registration close their experiments' runs of killed processes, but no one
    closed the monitor's: a monitor killed with its run open left it RUNNING for ever."""
    from mlflow import MlflowClient

    gone = subprocess.Popen([sys.executable, "-c", ""])
    gone.wait()
    uri = f"sqlite:///{seeded_tmp}/mlruns.db"
    experiment_id = prepare_store(uri, "stockcast-monitor")
    client = MlflowClient(uri)
    left = client.create_run(experiment_id, tags={OWNER_TAG: owner_value(gone.pid)})
    register(seeded_tmp, "good", 0.0)
    report = monitor_day(seeded_tmp, FIRST_DAY)
    assert client.get_run(left.info.run_id).info.status == "KILLED"
    assert client.get_run(report["mlflow_run_id"]).info.status == "FINISHED"


@pytest.mark.slow
def test_a_deleted_monitor_experiment_is_refused_before_the_day_is_stored(
    seeded_tmp: Path,
) -> None:
    """The experiment was asked for only to log the report: the day's forecast was stored (a
    rollback done) first, and its report.json never written."""
    from mlflow import MlflowClient

    uri = f"sqlite:///{seeded_tmp}/mlruns.db"
    experiment_id = prepare_store(uri, "stockcast-monitor")
    MlflowClient(uri).delete_experiment(experiment_id)
    register(seeded_tmp, "good", 0.0)
    with pytest.raises(ConfigError) as refused:
        monitor_day(seeded_tmp, FIRST_DAY)
    assert str(refused.value).startswith(
        f"the MLflow experiment 'stockcast-monitor' of {uri} was deleted, so no run can be added "
        "to it; restore it"
    )
    assert not (seeded_tmp / LEDGER_FILE).exists()


@pytest.mark.parametrize(
    ("setting", "experiment"),
    [("monitor.experiment_name", "stockcast-monitor"), ("registry.experiment_name", "mine")],
)
def test_a_later_steps_deleted_experiment_is_refused_before_a_pipelines_first_step(
    seeded_tmp: Path, setting: str, experiment: str
) -> None:
    """The register step failed on it after the day's training, the monitor after the day's
    version was registered."""
    from mlflow import MlflowClient

    from stockcast.orchestration.preflight import check_before_first_step
    from tests.conftest import compose_config

    uri = f"sqlite:///{seeded_tmp}/mlruns.db"
    experiment_id = prepare_store(uri, experiment)
    MlflowClient(uri).delete_experiment(experiment_id)
    cfg = compose_config("pipeline", [f"{setting}={experiment}"], seeded_tmp)
    with pytest.raises(ConfigError) as refused:
        check_before_first_step(cfg, seeded_tmp / "run")
    assert str(refused.value) == (
        f"the MLflow experiment '{experiment}' of {uri} was deleted, so no run can be added to "
        f"it; restore it (MLFLOW_TRACKING_URI={uri} mlflow experiments restore --experiment-id "
        f"{experiment_id}) or name another experiment with {setting}."
    )


@contextlib.contextmanager
def store_committing(store: Path, seconds: float) -> Iterator[None]:
    """Another run's transaction holding MLflow's store `store` for `seconds` from now."""
    writer = sqlite3.connect(store, isolation_level=None, check_same_thread=False)
    writer.execute("BEGIN EXCLUSIVE")
    done = threading.Timer(seconds, lambda: writer.execute("COMMIT"))
    done.start()
    try:
        yield
    finally:
        done.join()
        writer.close()


def test_the_preflight_waits_for_the_mlflow_stores_writer_not_the_ledgers_timeout(
    seeded_tmp: Path,
) -> None:
    """The checks read MLflow's store with monitor.ledger_timeout_s, a setting of the ledger: a
    short one refused a pipeline whose store another run was committing to ("cannot be read
    (database is locked)") or skipped the deleted-experiment check, where the steps wait for
    that store's writers."""
    from mlflow import MlflowClient

    from stockcast.orchestration.preflight import refuse_deleted_experiments
    from stockcast.registry.ledger_check import check_ledger
    from tests.conftest import compose_config

    uri = f"sqlite:///{seeded_tmp}/mlruns.db"
    experiment_id = prepare_store(uri, "stockcast-monitor")
    MlflowClient(uri).delete_experiment(experiment_id)
    cfg = compose_config("pipeline", ["monitor.ledger_timeout_s=0.01"], seeded_tmp)
    Ledger(seeded_tmp / LEDGER_FILE, 1.0).forecasts(MODEL)  # a ledger: the store is read beside it
    with store_committing(seeded_tmp / "mlruns.db", WRITER_S):
        check_ledger(None, uri, MODEL, cfg.monitor.ledger_timeout_s)
    deleted = r"^the MLflow experiment 'stockcast-monitor' of "
    with (
        store_committing(seeded_tmp / "mlruns.db", WRITER_S),
        pytest.raises(ConfigError, match=deleted),
    ):
        refuse_deleted_experiments(cfg)


@pytest.mark.slow
def test_with_no_champion_nothing_is_stored(seeded_tmp: Path) -> None:
    report = monitor_day(seeded_tmp, FIRST_DAY)
    assert report["status"] == NO_CHAMPION and report["stored"] == 0
    assert f"{MODEL} has no champion yet" in report["message"]
    assert not (seeded_tmp / LEDGER_FILE).exists()


@pytest.mark.slow
def test_a_deleted_champion_is_named_not_called_missing(
    seeded_tmp: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """MLflow drops a deleted version's aliases with it: the monitor said the model had no
    champion yet, as if none had ever been chosen. It names the deleted version and what gives
    the alias a version again."""
    from tests.conftest import global_state_restored

    with global_state_restored():
        register(seeded_tmp, "good", 0.0)
        register(seeded_tmp, "bad", 3.0)
        monitor_day(seeded_tmp, FIRST_DAY)
        registry(seeded_tmp).client().delete_model_version(MODEL, "2")
        with caplog.at_level(logging.WARNING, logger="stockcast.orchestration.steps.monitor"):
            report = monitor_day(seeded_tmp, FIRST_DAY + 1)
    assert report["status"] == NO_CHAMPION and report["stored"] == 0
    assert report["message"] == (
        f"{MODEL} version 2, the champion the monitor last saw (on {iso(FIRST_DAY - 1)}), is no "
        "longer in the store (deleted, and its champion alias with it), so no forecast was "
        "stored; set the champion alias on a version the store holds (1), or run the pipeline "
        "on new data: a candidate that passes the gate becomes the champion"
    )
    assert report["message"] in caplog.text


@pytest.mark.slow
def test_a_champion_whose_alias_was_removed_is_named_not_called_missing(
    seeded_tmp: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """The alias taken off a version the store still holds: the monitor said the model had no
    champion yet. It names the version and how to set the alias on it again."""
    from tests.conftest import global_state_restored

    with global_state_restored():
        register(seeded_tmp, "good", 0.0)
        monitor_day(seeded_tmp, FIRST_DAY)
        registry(seeded_tmp).client().delete_registered_model_alias(MODEL, "champion")
        with caplog.at_level(logging.WARNING, logger="stockcast.orchestration.steps.monitor"):
            report = monitor_day(seeded_tmp, FIRST_DAY + 1)
    uri = f"sqlite:///{seeded_tmp}/mlruns.db"
    assert report["status"] == NO_CHAMPION and report["stored"] == 0
    assert report["message"] == (
        f"{MODEL} version 1, the champion the monitor last saw (on {iso(FIRST_DAY - 1)}), is "
        "still in the store but no longer holds the champion alias (it was removed), so no "
        f"forecast was stored; set the alias on it again (MLFLOW_TRACKING_URI={uri} python -c "
        '"import mlflow; mlflow.MlflowClient().set_registered_model_alias('
        f"'{MODEL}', 'champion', '1')\") or on another version, or run the pipeline on new "
        "data: a candidate that passes the gate becomes the champion"
    )
    assert report["message"] in caplog.text
    # The advice works: the alias is back on version 1.
    command = report["message"].split("set the alias on it again (")[1].split(") or on")[0]
    subprocess.run(command.replace("python", sys.executable, 1), shell=True, check=True)
    assert registry(seeded_tmp).champion("champion").version == 1


@pytest.mark.slow
def test_undated_data_is_skipped_with_one_sentence(seeded_tmp: Path) -> None:
    register(seeded_tmp, "good", 0.0)
    report = monitor_day(seeded_tmp, FIRST_DAY, dated=False)
    assert report["status"] == SKIPPED
    assert report["message"].startswith("the monitor needs dated data")
    assert not (seeded_tmp / LEDGER_FILE).exists()


@pytest.mark.slow
def test_a_rerun_of_an_earlier_day_stores_and_judges_nothing(seeded_tmp: Path) -> None:
    """Data that ends before the champion's (data.require_new_data=false): its forecasts from
    there would be scored on values it was fitted on, making a decaying champion look fine."""
    reg = registry(seeded_tmp)
    with reg.writing():
        tags = {"data_last_date": iso(FIRST_DAY + 2)}
        info, _ = reg.register(model_folder(seeded_tmp / "later", 0.0), tags, promote=True)
        reg.promote("champion", info)
    report = monitor_day(seeded_tmp, FIRST_DAY, "data.require_new_data=false")
    assert (report["status"], report["stored"], report["champion"]) == (SKIPPED, 0, 1)
    assert report["message"] == (
        f"the data ends on {iso(FIRST_DAY - 1)}, before the data of {MODEL} version 1 "
        f"(champion), which ends on {iso(FIRST_DAY + 2)}, so nothing was stored, scored or "
        "judged; monitor it on data of that day or later"
    )
    assert not (seeded_tmp / LEDGER_FILE).exists()
    # Data through the day it was fitted through: stored as always.
    assert monitor_day(seeded_tmp, FIRST_DAY + 3, "data.require_new_data=false")["stored"] == 1


@pytest.mark.slow
def test_a_rerun_of_a_day_before_the_ledgers_last_is_skipped(seeded_tmp: Path) -> None:
    """Rerun after later days, the monitor judged today's champion on that day, counted the
    later days' forecasts as waiting, and stored a forecast of the day the champion of then
    never made (the append-only ledger keeps it)."""
    register(seeded_tmp, "good", 0.0)
    for rows in range(FIRST_DAY, FIRST_DAY + 2):
        monitor_day(seeded_tmp, rows)
    register(seeded_tmp, "other", 0.5)
    for rows in range(FIRST_DAY + 2, FIRST_DAY + 4):
        monitor_day(seeded_tmp, rows)
    ledger = Ledger(seeded_tmp / LEDGER_FILE, 30)
    stored, history = ledger.forecasts(MODEL), ledger.champion_history(MODEL, "champion")
    rerun = FIRST_DAY + 1
    for folder in (f"prepared_{rerun}", f"monitor_{rerun}"):
        shutil.rmtree(seeded_tmp / folder)
    report = monitor_day(seeded_tmp, rerun, "data.require_new_data=false")
    assert (report["status"], report["stored"], report["champion"]) == (SKIPPED, 0, 2)
    assert report["message"] == (
        f"the data ends on {iso(rerun - 1)}, before {iso(FIRST_DAY + 2)}, the last day the "
        f"forecast ledger holds of {MODEL}, so nothing was stored, scored or judged; monitor "
        "it on data of that day or later"
    )
    assert ledger.forecasts(MODEL) == stored
    assert ledger.champion_history(MODEL, "champion") == history
    # The next day: judged as always.
    assert monitor_day(seeded_tmp, FIRST_DAY + 4)["status"] == "ok"


def test_a_ledger_day_is_after_the_data_by_its_day_or_by_its_time() -> None:
    """An origin written as a bare date is that whole day, as maturity reads it."""
    assert later_than("2024-05-23T16:00:00", "2024-05-23T15:59:00")
    assert not later_than("2024-05-23T16:00:00", "2024-05-23")
    assert not later_than("2024-05-23", "2024-05-23T16:00:00")
    assert later_than("2024-05-24", "2024-05-23T16:00:00")
    assert not later_than(None, "2024-05-23"), "an empty ledger"


def ny_closes() -> pd.DataFrame:
    """`prices()` as closes at 16:00 in New York, written with their offsets, whose row
    FIRST_DAY - 1 is Friday 8 March 2024: the clocks go forward on the Sunday after it."""
    days = pd.bdate_range(end="2024-03-08", periods=FIRST_DAY)
    days = days.append(pd.bdate_range("2024-03-11", periods=N_ROWS - FIRST_DAY))
    closes = (days + pd.Timedelta(hours=16)).tz_localize("America/New_York")
    return prices().assign(Date=[t.isoformat() for t in closes])


@pytest.mark.slow
def test_zoned_closes_are_forecast_and_matured_on_their_zones_clock(seeded_tmp: Path) -> None:
    """16:00 in New York is 21:00 UTC before the change and 20:00 after it: the ledger's target
    dates went on at 21:00, a time no row of the data holds, where predict's follow the zone.
    They follow it too now, and the forecast still matures on the rows after its origin."""
    from tests.conftest import global_state_restored

    with global_state_restored():
        register(seeded_tmp, "good", 0.0)
        monitor_day(seeded_tmp, FIRST_DAY, data=ny_closes())
        report = monitor_day(seeded_tmp, FIRST_DAY + 2, data=ny_closes())
    (first, *_) = Ledger(seeded_tmp / LEDGER_FILE, 30).forecasts(MODEL)
    assert first.origin_date == "2024-03-08T21:00:00"
    assert first.target_dates == ("2024-03-11T20:00:00", "2024-03-12T20:00:00")
    assert report["versions"]["1"]["matured"] == 1
    assert report["overdue"] == 0


@pytest.mark.slow
def test_forecasts_of_a_series_gone_from_the_data_are_orphaned_not_waiting(panel_days) -> None:
    reports = panel_days["reports"]
    # Both tickers' forecasts from rows 100 and 101 wait for their second target.
    assert (reports[102]["waiting"], reports[102]["orphaned"]) == (4, 0)
    gone = reports[103]
    # B's forecasts from rows 99, 100 and 101 (the first matured the day before): nothing is left
    # to match them with. A's from rows 101 and 102 still wait.
    assert (gone["orphaned"], gone["orphaned_series"], gone["waiting"]) == (3, ["B"], 2)
    assert gone["champion_live"]["matured"] == 2, "A's forecasts from rows 99 and 100"
    stored = Ledger(panel_days["tmp"] / LEDGER_FILE, 30).forecasts(MODEL)
    assert sum(f.series_id == "B" for f in stored) == 3, "the ledger keeps B's forecasts"


@pytest.mark.slow
def test_forecasts_of_a_series_whose_values_stopped_are_overdue(
    seeded_tmp: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """B's values stop at row 100 while A's go on: its forecast from there waits for values
    that may never come. It was counted as waiting like any other; now it is overdue too."""
    from tests.conftest import global_state_restored

    with global_state_restored():
        register(seeded_tmp, "bad", 3.0)
        first = monitor_day(seeded_tmp, 100, tickers="AB")
        with caplog.at_level(logging.WARNING, logger="stockcast.orchestration.steps.monitor"):
            later = monitor_day(seeded_tmp, 108, tickers="AB", stopped={"B": 100})
    assert (first["overdue"], first["overdue_series"]) == (0, {})
    b_last = iso(99)
    assert (later["overdue"], later["overdue_series"]) == (1, {"B": b_last})
    assert later["waiting"] >= later["overdue"]
    assert f"but 1 series end before it (last values: B on {b_last})" in caplog.text


@pytest.mark.slow
def test_forecasts_of_a_series_left_out_as_too_short_are_not_called_gone(
    seeded_tmp: Path,
) -> None:
    """A ticker the day's panel leaves out as too short is still in the file: its stored
    forecasts are not reported as those of a series gone from the data."""
    from tests.conftest import global_state_restored

    with global_state_restored():
        register(seeded_tmp, "bad", 3.0)
        monitor_day(seeded_tmp, 100, tickers="AB")
        report = monitor_day(seeded_tmp, 101, tickers="AB", young="B")
    assert (report["orphaned"], report["orphaned_series"]) == (0, [])
    assert (report["left_out"], report["left_out_series"]) == (1, ["B"])


@pytest.mark.slow
def test_a_panel_is_judged_once_enough_days_have_matured(panel_days) -> None:
    reports = panel_days["reports"]
    # Both tickers' forecasts from row 99: two forecasts, but one day of evidence.
    one_day = reports[102]
    assert (one_day["champion_live"]["matured"], one_day["champion_live"]["origins"]) == (2, 1)
    assert one_day["status"] == "ok"
    assert "has 1 matured origin date in the window" in one_day["flag"]["reason"]
    assert reports[103]["status"] == "flagged", "A's forecasts from rows 99 and 100"


def test_min_matured_beyond_the_window_is_refused_in_one_sentence(make_cfg) -> None:
    """The champion is judged over its last monitor.window origins: more never mature there."""
    from stockcast.config.schema import validate_config
    from stockcast.errors import ConfigError

    validate_config(make_cfg("monitor.window=5", "monitor.min_matured=5", config_name="pipeline"))
    cfg = make_cfg("monitor.window=5", "monitor.min_matured=6", config_name="pipeline")
    with pytest.raises(ConfigError) as refused:
        validate_config(cfg)
    assert str(refused.value) == (
        "monitor.min_matured is 6, more origins than monitor.window=5 keeps, so the champion "
        "would never be judged; make it at most the window."
    )


@pytest.mark.slow
@pytest.mark.parametrize("refused", ["folder", "guard"])
def test_a_restored_champion_that_cannot_forecast_still_reports_its_rollback(
    degraded: dict, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, refused: str
) -> None:
    """The alias has moved when the restored version's forecast is made: a damaged model folder
    there (or a guard refusing its forecast) failed the whole step after the rollback, and the
    report never said it was done. The day is `degraded`'s rollback day, from a copy of the
    store and ledger that day found."""
    from stockcast.errors import ArtifactError, ForecastRefused
    from stockcast.orchestration.steps import monitor_rollback
    from tests.conftest import global_state_restored

    tmp = Path(shutil.copytree(degraded["before_rollback"], tmp_path / "degraded"))

    real = monitor_rollback.store_champion_forecast
    text = "version 1's model folder does not match its registered hash"
    refusal = ArtifactError(f"{text}.") if refused == "folder" else ForecastRefused(f"{text}.")

    def damaged_first_version(ledger, registry, champion, *args):
        if champion.version == 1 and registry.champion("champion").version == 1:
            raise refusal
        return real(ledger, registry, champion, *args)

    with global_state_restored():
        assert registry(tmp).champion("champion").version == 2
        monkeypatch.setattr(monitor_rollback, "store_champion_forecast", damaged_first_version)
        report = monitor_day(tmp, FIRST_DAY + 4, "monitor.rollback=true")
    assert report["status"] == ROLLED_BACK and report["rollback"]["to"] == 1
    assert report["rollback"]["forecast"] == text
    assert registry(tmp).champion("champion").version == 1


def test_a_damaged_decision_file_is_one_sentence(tmp_path: Path) -> None:
    """A decision.json cut short or edited failed the monitor step with JSONDecodeError's
    traceback, exit 1, before it did anything."""
    decision = tmp_path / "decision.json"
    assert registered_version(tmp_path) is None, "no decision: nothing registered"
    decision.write_text(json.dumps({"registered": True, "version": 3}))
    assert registered_version(tmp_path) == 3
    decision.write_text(json.dumps({"registered": False, "version": None}))
    assert registered_version(tmp_path) is None
    for damaged in ('{"regis', "[]", '{"registered": true}'):
        decision.write_text(damaged)
        with pytest.raises(ArtifactError) as refused:
            registered_version(tmp_path)
        assert str(refused.value) == (
            f"{decision} is not the decision.json the register step writes (cut short or "
            "edited); point monitor.decision_dir at the register step's output folder, or run "
            "the register step again."
        )


def test_an_output_folder_that_cannot_be_made_is_one_sentence(tmp_path: Path) -> None:
    """Said before the ledger is touched, not as mkdir's traceback."""
    output = Path("/proc/stockcast-monitor")
    overrides = [
        *isolated_overrides(tmp_path),
        f"monitor.prepared_dir={tmp_path / 'prepared'}",
        f"monitor.output_dir={output}",
    ]
    with pytest.raises(ConfigError) as refused:
        run_task(run_monitor, "pipeline", overrides, tmp_path / "run")
    assert str(refused.value) == (
        f"cannot write the monitor step's output to monitor.output_dir {output} (no such "
        "file or directory); point it at a folder this user can write."
    )
    assert not (tmp_path / LEDGER_FILE).exists()


def test_a_pipeline_writing_a_running_replays_ledger_is_refused_before_its_first_step(
    seeded_tmp: Path,
) -> None:
    """A replay holds its ledger folder's lock while its days run; a pipeline sharing the folder
    was accepted, its monitor claimed the ledger for its own store, and the replay's later days
    lost their forecasts to the ledger's check of which store it belongs to."""
    from filelock import FileLock

    from stockcast.orchestration.preflight import check_before_first_step
    from stockcast.orchestration.replay_locks import LEDGER_LOCK_FILE
    from tests.conftest import compose_config

    ledger = seeded_tmp / "ledger"
    ledger.mkdir()
    cfg = compose_config("pipeline", [f"monitor.ledger_dir={ledger}"], seeded_tmp)
    with FileLock(str(ledger / LEDGER_LOCK_FILE)), pytest.raises(ConfigError) as refused:
        check_before_first_step(cfg, seeded_tmp / "run")
    assert str(refused.value) == (
        f"the forecast ledger {ledger / LEDGER_FILE} is written by a replay running now, whose "
        "days would lose their forecasts to this run's; set monitor.ledger_dir to another folder "
        "for this pipeline, or run it once the replay has ended."
    )
    check_before_first_step(cfg, seeded_tmp / "run")  # once the replay has ended
    assert not (ledger / LEDGER_FILE).exists()


def test_a_monitor_step_run_alone_on_a_running_replays_ledger_is_refused(
    seeded_tmp: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Run alone, the monitor step looked at no lock: beside a replay running on its ledger it
    claimed the ledger for its own store, and the replay's later days lost their forecasts. The
    replay's own days, marked by it, still write the ledger it holds; the mark was its run
    folder, which anyone reading `replay_ledger.run` could set by hand and get in."""
    import os
    import stat

    from stockcast.orchestration.replay_locks import (
        LEDGER_OWNER_FILE,
        REPLAY_RUN_ENV,
        replay_writes_ledger,
    )

    ledger = seeded_tmp / "ledger"
    ledger.mkdir()
    register(seeded_tmp, "naive", 0.0)
    replay_run = seeded_tmp / "replay-run"
    refusal = (
        f"the forecast ledger {ledger / LEDGER_FILE} is written by a replay running now, "
        "whose days would lose their forecasts to this run's; set monitor.ledger_dir to "
        "another folder for this monitor step, or run it once the replay has ended."
    )
    with replay_writes_ledger(ledger, "where", "fix", replay_run):
        owner = ledger / LEDGER_OWNER_FILE
        assert owner.read_text().splitlines()[0] == str(replay_run)
        assert stat.S_IMODE(owner.stat().st_mode) == 0o600
        # This process holds the lock as a replay would; a step run alone carries no mark.
        mark = os.environ[REPLAY_RUN_ENV]
        monkeypatch.delenv(REPLAY_RUN_ENV)
        with pytest.raises(ConfigError) as refused:
            monitor_day(seeded_tmp, FIRST_DAY, f"monitor.ledger_dir={ledger}")
        assert str(refused.value) == refusal
        monkeypatch.setenv(REPLAY_RUN_ENV, str(replay_run))  # the run folder, set by hand
        with pytest.raises(ConfigError) as refused:
            monitor_day(seeded_tmp, FIRST_DAY, f"monitor.ledger_dir={ledger}")
        assert str(refused.value) == refusal
        assert not (ledger / LEDGER_FILE).exists()
        monkeypatch.setenv(REPLAY_RUN_ENV, mark)
        assert monitor_day(seeded_tmp, FIRST_DAY + 1, f"monitor.ledger_dir={ledger}")["stored"]
    assert (ledger / LEDGER_FILE).exists()
