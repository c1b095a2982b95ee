"""A stopped replay resumes at its first unfinished day, with the overrides, store and data it
started with, and refuses what it cannot resume."""

from __future__ import annotations

import json
import logging
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from stockcast.config.compose import local_store_overrides
from stockcast.errors import ConfigError
from stockcast.orchestration import replay_day_loop
from stockcast.orchestration.replay import run_replay
from stockcast.orchestration.replay_day_start import DAY_START_DIR
from stockcast.orchestration.replay_days import simulated_days
from stockcast.orchestration.replay_locks import LEDGER_LOCK_FILE
from stockcast.orchestration.replay_record import REPLAY_FILE, REPLAY_PLOT_FILE
from stockcast.registry.ledger import LEDGER_FILE
from tests.conftest import (
    compose_config,
    global_state_restored,
    isolated_overrides,
    run_task,
)
from tests.replay_helpers import (
    REPLAY_FAST,
    _fresh_stores_copied,  # noqa: F401 (autouse)
    _replay,
    _stop_on_day,
    _stopped_replay,
)


def test_a_stopped_replay_resumes_at_its_first_unfinished_day(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)  # as Hydra's job logging sets it
    ran = _stopped_replay(tmp_path, monkeypatch, 2, "seed=3")
    planned = simulated_days("2026-06-30", 5)
    written = json.loads((tmp_path / "run" / REPLAY_FILE).read_text())
    assert written["plan"]["days"] == planned
    assert sorted(written["plan"]["overrides"]) == sorted(
        [*isolated_overrides(tmp_path), *REPLAY_FAST, "seed=3"]
    )

    again = _replay(tmp_path, "later", "seed=3", f"replay.resume_from={tmp_path / 'run'}")
    assert ran == [planned[0], planned[1], *planned[1:]], "the stopped day runs again"
    # The resume's log is the replay's too, not only in the resume's own run folder.
    log = (tmp_path / "run" / "replay.log").read_text()
    assert f"resuming the replay in {tmp_path / 'run'} at day 2/5" in log
    assert [day["as_of"] for day in again["days"]] == planned
    assert again == json.loads((tmp_path / "run" / REPLAY_FILE).read_text())
    # What the stopped day left is kept beside its rerun.
    assert again["days"][1]["interrupted_run"] == f"days/{planned[1]}.interrupted"
    assert (tmp_path / "run" / "days" / f"{planned[1]}.interrupted" / "prepare").is_dir()
    assert all("interrupted_run" not in day for i, day in enumerate(again["days"]) if i != 1)
    assert (tmp_path / "run" / REPLAY_PLOT_FILE).is_file()

    with pytest.raises(ConfigError, match="ran all its 5 days; there is nothing to resume"):
        _replay(tmp_path, "later2", "seed=3", f"replay.resume_from={tmp_path / 'run'}")

    # Stopped after its last day's record, before its plot: the resume only draws the plot,
    # even with the store gone (the plot needs only the ledger, and draws what it finds).
    (tmp_path / "run" / REPLAY_PLOT_FILE).unlink()
    shutil.rmtree(tmp_path / "run" / "store")
    finished = _replay(tmp_path, "later3", "seed=3", f"replay.resume_from={tmp_path / 'run'}")
    assert finished == again and len(ran) == 6, "no day runs again"
    assert (tmp_path / "run" / REPLAY_PLOT_FILE).is_file()


def test_a_resumed_replay_checks_its_ledger_folder_before_its_next_day(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Its days' monitors write the ledger the plan recorded: one that cannot be made now is
    refused before a day registers a version and then fails."""
    _stopped_replay(tmp_path, monkeypatch, 2, "seed=3")
    summary_file = tmp_path / "run" / REPLAY_FILE
    written = json.loads(summary_file.read_text())
    blocked = tmp_path / "a-file"
    blocked.write_text("")
    written["plan"]["ledger_dir"] = str(blocked / "ledgers")
    summary_file.write_text(json.dumps(written))
    with pytest.raises(ConfigError, match=r"^cannot make the forecast ledger's folder"):
        _replay(tmp_path, "later", "seed=3", f"replay.resume_from={tmp_path / 'run'}")


def test_days_recorded_with_only_the_80_coverage_resume_in_todays_shape(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A replay.json written before every band's live coverage was recorded keeps one shape."""
    _stopped_replay(tmp_path, monkeypatch, 3, "seed=3")
    summary_file = tmp_path / "run" / REPLAY_FILE
    written = json.loads(summary_file.read_text())
    for entry, share in zip(written["days"], (0.75, None), strict=True):
        entry["live"].pop("coverage")
        entry["live"]["coverage_80"] = share
    summary_file.write_text(json.dumps(written))

    again = _replay(tmp_path, "later", "seed=3", f"replay.resume_from={tmp_path / 'run'}")
    assert [day["live"]["coverage"] for day in again["days"][:2]] == [{"80": 0.75}, {}]
    assert not any("coverage_80" in day["live"] for day in again["days"])


def test_a_replay_resumes_only_with_the_overrides_it_started_with(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _stopped_replay(tmp_path, monkeypatch, 1, "seed=3")
    differ = {
        (): r"\(not given seed=3\)",
        ("seed=4",): r"\(not given seed=3; given seed=4 besides\)",
        ("seed=3", "days=6"): r"\(given days=6 besides\)",
    }
    for other, which in differ.items():
        with pytest.raises(
            ConfigError,
            match=rf"resumes with the overrides it started with \(.*\), and this command's "
            rf"differ {which}; give exactly those",
        ):
            _replay(tmp_path, "later", *other, f"replay.resume_from={tmp_path / 'run'}")
    assert not (tmp_path / "run" / "days" / "2026-06-24.interrupted").exists(), "no work done"


def test_a_folder_that_is_no_resumable_replay_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"holds no replay.json; name the run directory"):
        _replay(tmp_path, "later", f"replay.resume_from={tmp_path}")
    (tmp_path / "old").mkdir()
    (tmp_path / "old" / REPLAY_FILE).write_text(json.dumps({"days": []}))
    with pytest.raises(ConfigError, match="recorded no plan of its days"):
        _replay(tmp_path, "later", f"replay.resume_from={tmp_path / 'old'}")


def test_a_replay_stopped_before_it_wrote_its_record_is_not_resumed(tmp_path: Path) -> None:
    """A replay of a version from before resuming wrote replay.json only after its last day:
    stopped part way, its run directory holds days and no record, and the refusal must not
    tell the user to name the run directory of an earlier replay, which they did."""
    (tmp_path / "stopped" / "days" / "2026-06-26").mkdir(parents=True)
    with pytest.raises(ConfigError) as err:
        _replay(tmp_path, "later", f"replay.resume_from={tmp_path / 'stopped'}")
    assert str(err.value) == (
        f"the replay in {tmp_path / 'stopped'} stopped before it wrote replay.json (a replay of "
        "a version from before resuming writes it only after its last day), so it cannot be "
        "resumed; start a new replay."
    )


def test_a_resume_from_no_replay_names_where_replays_are_written(tmp_path: Path) -> None:
    # Run directories sit under STOCKCAST_ROOT where it is set, not under the folder the
    # command runs in: the refusal names theirs, where a bare logs/replay/runs/... would miss.
    runs = tmp_path / "root" / "logs" / "replay" / "runs"
    with pytest.raises(ConfigError) as err:
        _replay(runs, "later", "replay.resume_from=logs/replay/runs/x")
    assert str(err.value).endswith(f"earlier replay ({runs / '<timestamp>'}).")


def test_a_moved_replay_resumes_into_the_store_it_carries(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    given: list[list[str]] = []
    _stopped_replay(tmp_path, monkeypatch, 2, "seed=3", given=given)
    assert json.loads((tmp_path / "run" / REPLAY_FILE).read_text())["plan"]["store_dir"] == "store"
    (tmp_path / "run").rename(tmp_path / "moved")
    _replay(tmp_path, "later", "seed=3", f"replay.resume_from={tmp_path / 'moved'}")
    moved_store = local_store_overrides((tmp_path / "moved" / "store").resolve())[1]
    assert all(moved_store in overrides for overrides in given[2:]), "every resumed day"
    assert not (tmp_path / "run").exists()
    # The stopped day registered nothing before the stop: its rerun must bring new data too.
    assert all("data.require_new_data=true" in overrides for overrides in given)


def test_a_replay_resumed_from_a_relative_folder_runs_its_days_where_it_started_them(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """README's `replay.resume_from=logs/replay/runs/<timestamp>` is typed relative to the
    folder the command runs in: the resumed days ran in relative folders, so what they recorded
    (metrics.json's `model_dir`, read from its run folder) named a path from the shell's folder
    instead, unlike the days the replay ran before its stop."""
    given: list[list[str]] = []
    ran_in: list[Path] = []
    _stopped_replay(tmp_path, monkeypatch, 2, "seed=3", given=given)
    stub = replay_day_loop.run_pipeline

    def one_day(day_dir: Path, *args: object, **kwargs: object) -> dict[str, float]:
        ran_in.append(day_dir)
        return stub(day_dir, *args, **kwargs)

    monkeypatch.setattr(replay_day_loop, "run_pipeline", one_day)
    monkeypatch.chdir(tmp_path)
    _replay(tmp_path, "later", "seed=3", "replay.resume_from=run")
    days = simulated_days("2026-06-30", 5)
    assert ran_in == [tmp_path / "run" / "days" / day for day in days[1:]]


def test_a_replay_is_not_resumed_beside_a_process_running_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from filelock import FileLock

    _stopped_replay(tmp_path, monkeypatch, 1, "seed=3")
    with (
        FileLock(str(tmp_path / "run" / replay_day_loop.REPLAY_LOCK_FILE)),
        pytest.raises(ConfigError, match="is running in another process; wait for it"),
    ):
        _replay(tmp_path, "later", "seed=3", f"replay.resume_from={tmp_path / 'run'}")
    # The running process holds its ledger folder's lock too (beside its store, or in
    # monitor.ledger_dir): the resume is told that it runs, not that another replay writes there.
    ledger = tmp_path / "other" / "ledger"
    _stopped_replay(tmp_path / "other", monkeypatch, 1, f"monitor.ledger_dir={ledger}")
    for tmp, ledger_folder, given in (
        (tmp_path, tmp_path / "run" / "store", "seed=3"),
        (tmp_path / "other", ledger, f"monitor.ledger_dir={ledger}"),
    ):
        with (
            FileLock(str(tmp / "run" / replay_day_loop.REPLAY_LOCK_FILE)),
            FileLock(str(ledger_folder / LEDGER_LOCK_FILE)),
            pytest.raises(ConfigError, match="is running in another process; wait for it"),
        ):
            _replay(tmp, "later", given, f"replay.resume_from={tmp / 'run'}")


def test_a_replay_whose_record_or_store_is_damaged_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _stopped_replay(tmp_path, monkeypatch, 2, "seed=3")
    resume = ("seed=3", f"replay.resume_from={tmp_path / 'run'}")
    (tmp_path / "run" / "store").rename(tmp_path / "elsewhere")
    with pytest.raises(ConfigError, match=r"ran into the store .*store, which is gone"):
        _replay(tmp_path, "later", *resume)
    (tmp_path / "run" / REPLAY_FILE).write_text('{"plan": {"days"')
    with pytest.raises(ConfigError, match="is not the JSON a replay writes"):
        _replay(tmp_path, "later", *resume)


def test_a_relative_ledger_folder_is_fixed_when_the_replay_starts(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Resolved against the folder a resume was started from, the ledger moved with it; a path
    with a bracket was passed on unquoted, which Hydra could not read."""
    given: list[list[str]] = []
    (tmp_path / "start").mkdir()
    (tmp_path / "elsewhere").mkdir()
    monkeypatch.chdir(tmp_path / "start")
    ledger = "monitor.ledger_dir='ledgers (1)'"
    _stopped_replay(tmp_path, monkeypatch, 2, ledger, given=given)
    monkeypatch.chdir(tmp_path / "elsewhere")
    _replay(tmp_path, "later", ledger, f"replay.resume_from={tmp_path / 'run'}")
    fixed = f"monitor.ledger_dir='{(tmp_path / 'start' / 'ledgers (1)').resolve()}'"
    assert all(fixed in overrides and ledger not in overrides for overrides in given)
    read = compose_config("replay", [fixed], tmp_path).monitor.ledger_dir
    assert read == str((tmp_path / "start" / "ledgers (1)").resolve())


@pytest.mark.parametrize(
    "text",
    [
        "[]",
        "null",
        '{"plan": {"days": []}, "days": []}',
        '{"plan": {"days": 5, "store_dir": "store", "overrides": []}, "days": []}',
        '{"plan": {"days": ["2026-06-30"], "store_dir": 3, "overrides": []}, "days": []}',
        '{"plan": {"days": ["2026-06-30"], "store_dir": "s", "overrides": "seed=3"}, "days": []}',
        '{"plan": {"days": ["2026-06-30"], "store_dir": "s", "overrides": []}, "days": {"a": 1}}',
        '{"plan": {"days": ["2026-06-30"], "store_dir": "s", "overrides": []}, '
        '"days": [{"as_of": "2026-06-30"}]}',
    ],
)
def test_a_replay_json_that_is_no_replay_is_refused(tmp_path: Path, text: str) -> None:
    (tmp_path / "old").mkdir()
    (tmp_path / "old" / REPLAY_FILE).write_text(text)
    with pytest.raises(ConfigError, match="recorded no plan of its days"):
        _replay(tmp_path, "later", f"replay.resume_from={tmp_path / 'old'}")


@pytest.mark.parametrize("fails", [False, True])
def test_a_stopped_day_that_had_registered_reruns_without_new_data(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, fails: bool
) -> None:
    """A replay from before each day's start was kept (none to restore): its version is in the
    store, the rerun registers the same bytes, and the day's entry names it, unless the rerun
    itself failed, whose error stays the record."""
    given: list[list[str]] = []
    _stopped_replay(tmp_path, monkeypatch, 2, "seed=3", given=given)
    shutil.rmtree(tmp_path / "run" / DAY_START_DIR)
    monkeypatch.setattr(replay_day_loop, "registered_on", lambda name, store, as_of: 7)
    if fails:
        from stockcast.errors import DataError

        def refused(day_dir: Path, overrides: list[str], keys: set[str], executor: str) -> None:
            given.append(overrides)
            raise DataError("the day's data was refused.")

        monkeypatch.setattr(replay_day_loop, "run_pipeline", refused)
    resumed = _replay(tmp_path, "later", "seed=3", f"replay.resume_from={tmp_path / 'run'}")
    assert "data.require_new_data=false" in given[2]
    assert "data.require_new_data=true" in given[3]
    stopped = resumed["days"][1]
    if fails:
        assert (stopped["registered_version"], stopped["refusal"]) == (
            None,
            "the day's data was refused.",
        )
    else:
        assert (stopped["registered_version"], stopped["refusal"]) == (7, None)


def test_a_stopped_day_reruns_from_the_store_and_ledger_it_found(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """What a stopped day wrote to the store's database and the ledger (a version, the alias a
    rollback moved, forecasts) is undone before its rerun: each day's rows are there once."""
    import sqlite3

    def write(database: Path, day: str) -> None:
        with sqlite3.connect(database) as connection:
            connection.execute("CREATE TABLE IF NOT EXISTS probe (day TEXT)")
            connection.execute("INSERT INTO probe VALUES (?)", (day,))
        connection.close()

    store = tmp_path / "run" / "store"
    ran: list[str] = []

    def one_day(
        day_dir: Path, overrides: list[str], keys: set[str], executor: str
    ) -> dict[str, float]:
        ran.append(day_dir.name)
        (day_dir / "prepare").mkdir(parents=True)
        write(store / "mlruns.db", day_dir.name)
        write(store / LEDGER_FILE, day_dir.name)
        if len(ran) == 3:
            raise KeyboardInterrupt
        return {}

    monkeypatch.setattr(replay_day_loop, "run_pipeline", one_day)
    with pytest.raises(KeyboardInterrupt):
        _replay(tmp_path, "run")
    # The first resume is stopped too, once the stopped day's folder is set aside: the next
    # resume, which finds no folder of the day, restores its start all the same rather than
    # taking the store the stopped day wrote to as the day's start.
    real_set_aside = replay_day_loop.set_aside

    def stopped_once_set_aside(day_dir: Path) -> Path | None:
        real_set_aside(day_dir)
        monkeypatch.setattr(replay_day_loop, "set_aside", real_set_aside)
        raise KeyboardInterrupt

    monkeypatch.setattr(replay_day_loop, "set_aside", stopped_once_set_aside)
    with pytest.raises(KeyboardInterrupt):
        _replay(tmp_path, "later", f"replay.resume_from={tmp_path / 'run'}")
    resumed = _replay(tmp_path, "later2", f"replay.resume_from={tmp_path / 'run'}")
    planned = simulated_days("2026-06-30", 5)
    assert ran == [*planned[:3], *planned[2:]]
    for database in (store / "mlruns.db", store / LEDGER_FILE):
        with sqlite3.connect(database) as connection:
            days = [row[0] for row in connection.execute("SELECT day FROM probe")]
        connection.close()
        assert days == planned, database.name
    assert resumed["days"][2]["restored_day_start"] is True
    assert "restored_day_start" not in resumed["days"][3]


def test_a_day_of_an_older_replay_stopped_twice_still_reruns_without_new_data(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An older replay has no copy of the stopped day's start; its rerun must not copy one from
    the store the stopped day wrote to, or a second stop would restore that store as clean and
    rerun the day wanting new data its own version already took."""
    _stopped_replay(tmp_path, monkeypatch, 2, "seed=3")
    shutil.rmtree(tmp_path / "run" / DAY_START_DIR)
    monkeypatch.setattr(replay_day_loop, "registered_on", lambda name, store, as_of: 7)
    given: list[list[str]] = []
    _stop_on_day(1, monkeypatch, given)
    with pytest.raises(KeyboardInterrupt):
        _replay(tmp_path, "later", "seed=3", f"replay.resume_from={tmp_path / 'run'}")
    _stop_on_day(0, monkeypatch, given)
    resumed = _replay(tmp_path, "later2", "seed=3", f"replay.resume_from={tmp_path / 'run'}")
    assert "data.require_new_data=false" in given[0] and "data.require_new_data=false" in given[1]
    assert resumed["days"][1]["registered_version"] == 7
    assert resumed["days"][1]["restored_day_start"] is False


def test_a_day_start_whose_copy_is_gone_is_refused_and_the_store_kept(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """SQLite opens a missing file as a new empty database: restoring from a copy that was
    deleted emptied the store and the ledger without a word."""
    import sqlite3
    from contextlib import closing

    def tables(database: Path) -> int:
        with closing(sqlite3.connect(database)) as connection:
            return connection.execute("SELECT count(*) FROM sqlite_master").fetchone()[0]

    _stopped_replay(tmp_path, monkeypatch, 2)
    store = tmp_path / "run" / "store" / "mlruns.db"
    before = tables(store)
    (tmp_path / "run" / DAY_START_DIR / "store-mlruns.db").unlink()
    with pytest.raises(ConfigError, match=r"its copy of the store database is gone"):
        _replay(tmp_path, "later", f"replay.resume_from={tmp_path / 'run'}")
    assert tables(store) == before > 0


def test_a_replay_whose_data_changed_since_it_started_is_not_resumed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Its remaining days would train on other data than its first ones: the resume ran them
    and exited 0, though a resumed replay ends as the uninterrupted one would have."""
    dates = pd.bdate_range(end="2026-06-30", periods=300)
    csv = tmp_path / "prices.csv"
    closes = 100.0 + np.arange(len(dates), dtype=float)
    pd.DataFrame({"Date": dates, "Close": closes}).to_csv(csv, index=False)
    given = [*isolated_overrides(tmp_path), "data=csv", f"data.path={csv}", "days=4"]
    ran = _stop_on_day(2, monkeypatch)
    with global_state_restored(), pytest.raises(KeyboardInterrupt):
        run_task(run_replay, "replay", [*given, "replay.end=2026-06-30"], tmp_path / "run")
    closes[-10:] *= 1.5
    pd.DataFrame({"Date": dates, "Close": closes}).to_csv(csv, index=False)
    resume = [*given, "replay.end=2026-06-30", f"replay.resume_from={tmp_path / 'run'}"]
    with global_state_restored(), pytest.raises(ConfigError) as refused:
        run_task(run_replay, "replay", resume, tmp_path / "later")
    assert str(refused.value).startswith(
        f"the data the replay in {tmp_path / 'run'} reads has changed since it started"
    )
    assert str(refused.value).endswith(
        "; put back the data it started with to resume it, or start a new replay."
    )
    assert len(ran) == 2, "no day runs on the other data"

    # Stopped after its last day, before its plot: the plot draws the days' prepared data.
    closes[-10:] /= 1.5
    pd.DataFrame({"Date": dates, "Close": closes}).to_csv(csv, index=False)
    with global_state_restored():
        run_task(run_replay, "replay", resume, tmp_path / "later2")
    (tmp_path / "run" / REPLAY_PLOT_FILE).unlink()
    closes[-10:] *= 1.5
    pd.DataFrame({"Date": dates, "Close": closes}).to_csv(csv, index=False)
    with global_state_restored():
        run_task(run_replay, "replay", resume, tmp_path / "later3")
    assert (tmp_path / "run" / REPLAY_PLOT_FILE).is_file()


def test_a_replay_resumed_only_to_draw_its_plot_reads_no_data(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The plot draws the days' prepared data: the resume read the data file anyway, so one
    moved or removed after the last day refused the plot with the file's error."""
    dates = pd.bdate_range(end="2026-06-30", periods=300)
    csv = tmp_path / "prices.csv"
    pd.DataFrame({"Date": dates, "Close": 100.0 + np.arange(len(dates.values))}).to_csv(csv)
    given = [*isolated_overrides(tmp_path), "data=csv", f"data.path={csv}", "days=4"]
    ran = _stop_on_day(0, monkeypatch)
    with global_state_restored():
        run_task(run_replay, "replay", [*given, "replay.end=2026-06-30"], tmp_path / "run")
    (tmp_path / "run" / REPLAY_PLOT_FILE).unlink()
    csv.unlink()
    resume = [*given, "replay.end=2026-06-30", f"replay.resume_from={tmp_path / 'run'}"]
    with global_state_restored():
        run_task(run_replay, "replay", resume, tmp_path / "later")
    assert (tmp_path / "run" / REPLAY_PLOT_FILE).is_file() and len(ran) == 4
