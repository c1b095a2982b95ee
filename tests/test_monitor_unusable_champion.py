"""Champions the monitor cannot forecast with: none yet, deleted, its alias removed, its files
changed, or refused by the public key. Each is said in one sentence that says what to do, and
logged in MLflow like any other day."""

from __future__ import annotations

import json
import logging
import subprocess
import sys
from pathlib import Path

import pytest

from stockcast.evaluation.monitor_status import DAMAGED, NO_CHAMPION, REFUSED, ROLLED_BACK, SKIPPED
from stockcast.evaluation.reports import REPORT_FILE
from stockcast.registry.ledger import LEDGER_FILE, Ledger
from stockcast.registry.versions import ROLLBACK_TAG
from tests.conftest import MODEL
from tests.monitor_helpers import (
    FIRST_DAY,
    change_registered_files,
    iso,
    monitor_day,
    register,
    registry,
)


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
