"""The monitor step over dated data revealed one business day at a time: the champion's forecast
goes into the ledger once per origin, matures when its target days arrive, and a champion that
forecasts far worse than naive is flagged and rolled back to the one before it."""

from __future__ import annotations

import json
import logging
import shutil
from pathlib import Path

import pandas as pd
import pytest

from stockcast.data.calendar import later_than
from stockcast.errors import ConfigError
from stockcast.evaluation.monitor_status import ROLLED_BACK, SKIPPED
from stockcast.evaluation.reports import REPORT_FILE
from stockcast.registry.ledger import LEDGER_FILE, Ledger
from stockcast.registry.store import ModelRegistry
from stockcast.registry.versions import ROLLBACK_TAG
from tests.conftest import MODEL
from tests.monitor_helpers import (
    FIRST_DAY,
    HORIZON,
    N_ROWS,
    PREVIOUS,  # noqa: F401 (other test modules import the scenario from here)
    iso,
    model_folder,
    monitor_day,
    prices,
    register,
    registry,
)


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
