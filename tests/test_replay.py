"""Replay: the daily schedule simulated day by day, deterministic into a fresh store."""

from __future__ import annotations

import json
import logging
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from stockcast.config.compose import local_store_overrides
from stockcast.errors import ConfigError, StockcastError
from stockcast.orchestration import replay, replay_day_loop, replay_plot
from stockcast.orchestration.replay import STORE_LOCK_FILE, run_replay
from stockcast.orchestration.replay_day_loop import pipeline_overrides
from stockcast.orchestration.replay_day_start import DAY_START_DIR
from stockcast.orchestration.replay_days import simulated_days
from stockcast.orchestration.replay_locks import LEDGER_LOCK_FILE
from stockcast.orchestration.replay_record import REPLAY_FILE, REPLAY_PLOT_FILE, why_not
from stockcast.registry.ledger import LEDGER_FILE
from stockcast.registry.store import ModelRegistry
from tests.conftest import (
    LENIENT_GATE,
    MODEL,
    compose_config,
    global_state_restored,
    isolated_overrides,
    run_local_pipeline,
    run_task,
)


@pytest.fixture(autouse=True)
def _fresh_stores_copied(request: pytest.FixtureRequest) -> None:
    """The replays here create a store each (often several); the end-to-end run creates its
    first one itself."""
    if request.node.get_closest_marker("slow") is None:
        request.getfixturevalue("stores_from_template")


# With the gate's champion comparison off, each day's model that passes the gate is registered.
EVERY_DAY_REGISTERS = ("gate.require_beat_champion=false",)
# A short horizon, so day 1's forecast matures on day 3 of a 5-day replay.
REPLAY_FAST = (
    "data.length=300",
    "data.next_time_window=2",
    "trainer.max_steps=60",
    "train.warm_max_steps=20",
    "data.batch_size=32",
    "days=5",
    "replay.end=2026-06-30",
    *LENIENT_GATE,
)


def test_simulated_days_are_business_days_ending_at_the_end() -> None:
    assert simulated_days("2026-06-29", 3) == ["2026-06-25", "2026-06-26", "2026-06-29"]
    assert simulated_days("2026-06-28", 2) == ["2026-06-25", "2026-06-26"], "a Sunday end"


def test_simulated_days_follow_the_datas_own_dates() -> None:
    """Business days put a weekend's values of data that trades on it into Monday's run (the
    days ending on a Sunday left out its last two values), and replayed about twenty refused
    days for each value of monthly data."""
    every_day = pd.date_range(end="2026-06-28", periods=400, freq="D").values
    assert simulated_days("2026-06-28", 3, [every_day]) == [
        "2026-06-26",
        "2026-06-27",
        "2026-06-28",
    ]
    monthly = pd.date_range(end="2026-06-30", periods=120, freq="ME").values
    assert simulated_days("2026-07-15", 2, [monthly]) == ["2026-05-31", "2026-06-30"]
    # A panel's days are its series' days together; times of day make no more days.
    hours = pd.date_range("2026-06-26 09:00", periods=3, freq="h").values
    assert simulated_days("2026-06-30", 2, [monthly, hours]) == ["2026-06-26", "2026-06-30"]
    # Each value is known data.release_lag_days after its date.
    assert simulated_days("2026-07-15", 1, [monthly], lag_days=10) == ["2026-07-10"]
    # Before the data's first date (a source keeping only its latest values): on its week.
    weekdays = pd.bdate_range(end="2026-06-29", periods=2).values
    assert simulated_days("2026-06-30", 4, [weekdays]) == [
        "2026-06-24",
        "2026-06-25",
        "2026-06-26",
        "2026-06-29",
    ]


def test_a_replay_ending_after_today_is_refused_before_any_day(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Each day after today was run and then refused at its own prepare step."""
    from stockcast.data import calendar

    monkeypatch.setattr(calendar, "today_utc", lambda: "2026-06-29")
    assert simulated_days("2026-06-29", 1) == ["2026-06-29"]
    with pytest.raises(ConfigError) as refused:
        simulated_days("2026-07-03", 5)
    assert str(refused.value) == (
        "replay.end=2026-07-03 is after today (2026-06-29, UTC), and a day that has not come "
        "cannot be replayed; give a past day, or leave it unset for today."
    )


def test_the_replay_keeps_its_own_keys_and_store_to_itself(tmp_path: Path) -> None:
    given = ["days=4", "replay.end=2026-06-30", "seed=3", "registry.tracking_uri=sqlite:///x.db"]
    overrides = pipeline_overrides(given, tmp_path)
    assert overrides[0] == "seed=3"
    assert f"registry.tracking_uri='sqlite:///{tmp_path}/mlruns.db'" in overrides
    assert "registry.tracking_uri=sqlite:///x.db" not in overrides
    assert overrides[-1] == "data.require_new_data=true"


def test_a_refused_day_says_the_deciding_reason_first_and_once() -> None:
    """The gate's verdict after the deciding reason reads as passed, not as a reason against."""
    passed = "test MASE 0.99 is below the gate's max_mase 10"
    decision = {
        "registered": False,
        "message": "not registered: ...",
        "decision": {"reasons": ["worse than champion version 1", passed]},
    }
    assert why_not(decision) == f"worse than champion version 1 (the gate passed: {passed})"
    refused = {"reasons": ["test MASE 12 is not below the gate's max_mase 10"]}
    assert why_not({"decision": refused}) == "test MASE 12 is not below the gate's max_mase 10"
    # A day refused before the gate (no new data, say) has only its message.
    assert why_not({"message": "no new data"}) == "no new data"


def _replay(tmp: Path, name: str, *extra: str) -> dict:
    with global_state_restored():
        return run_task(
            run_replay, "replay", [*isolated_overrides(tmp), *REPLAY_FAST, *extra], tmp / name
        ).value


@pytest.mark.slow
def test_a_five_day_replay_end_to_end_and_again_the_same(
    tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    # Every day that passes the gate is registered, whether it beats the champion or not.
    first = _replay(tmp_path, "first", *EVERY_DAY_REGISTERS)
    days = first["days"]
    assert [d["as_of"] for d in days] == simulated_days("2026-06-30", 5)
    assert days[0]["registered_version"] == 1 and days[0]["champion_version"] == 1
    assert all(d["champion_version"] is not None for d in days)
    # Day 1's 2-step forecast has both targets by day 3; from then on forecasts mature daily.
    assert [d["live"]["matured"] for d in days[:2]] == [0, 0]
    assert 0 < days[2]["live"]["matured"] < days[4]["live"]["matured"]
    assert days[4]["live"]["mase"] > 0 and days[4]["live"]["naive_mase"] > 0
    assert set(days[4]["live"]["coverage"]) == {"80", "95"}
    assert all(0.0 <= share <= 1.0 for share in days[4]["live"]["coverage"].values())
    written = json.loads((tmp_path / "first" / REPLAY_FILE).read_text())
    assert written == json.loads(json.dumps(first))
    assert (tmp_path / "first" / REPLAY_PLOT_FILE).stat().st_size > 10_000

    # Again into a fresh store, stopped once day 3 had registered, moved the alias and stored
    # its forecast (before its entry was written), and resumed: the same five days. The rerun
    # starts from the store and ledger day 3 found; it used to register a second version of
    # the day (its model folder is not byte for byte the first one's). The first replay
    # created its store itself: this one's is a copy of an empty store, without the seconds of
    # migrations.
    request.getfixturevalue("stores_from_template")
    real_pipeline = replay_day_loop.run_pipeline

    def stop_after_day_3(
        day_dir: Path, overrides: list[str], keys: set[str], executor: str
    ) -> object:
        timings = real_pipeline(day_dir, overrides, keys, executor=executor)
        if day_dir.name == days[2]["as_of"]:
            raise KeyboardInterrupt
        return timings

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(replay_day_loop, "run_pipeline", stop_after_day_3)
        with pytest.raises(KeyboardInterrupt):
            _replay(tmp_path, "second", *EVERY_DAY_REGISTERS)
    resumed = _replay(
        tmp_path, "resumer", *EVERY_DAY_REGISTERS, f"replay.resume_from={tmp_path / 'second'}"
    )
    assert not (tmp_path / "resumer" / REPLAY_FILE).exists(), "the days went on in second/"
    assert resumed == json.loads((tmp_path / "second" / REPLAY_FILE).read_text())
    for a, b in zip(days, resumed["days"], strict=True):
        assert {k: v for k, v in a.items() if k != "seconds"} == {
            k: v
            for k, v in b.items()
            if k not in ("seconds", "interrupted_run", "restored_day_start")
        }
    stopped = resumed["days"][2]
    assert stopped["interrupted_run"] == f"days/{days[2]['as_of']}.interrupted"
    assert stopped["restored_day_start"] is True
    registered = [d["registered_version"] for d in days if d["registered_version"]]
    assert len(registered) >= 3 and days[2]["registered_version"] is not None
    store = ModelRegistry(f"sqlite:///{tmp_path / 'second' / 'store'}/mlruns.db", MODEL)
    assert sorted(v.version for v in store.versions()) == registered


def test_a_replay_refuses_a_store_that_exists(tmp_path: Path) -> None:
    store = tmp_path / "store"
    store.mkdir()
    (store / "mlruns.db").write_bytes(b"")
    with pytest.raises(ConfigError, match="already holds a store"):
        _replay(tmp_path, "run", f"replay.store_dir={store}")


def test_a_refused_plan_leaves_no_store_to_refuse_its_rerun(tmp_path: Path) -> None:
    """The store was made before the days were planned: a replay.end refused left it behind,
    and the corrected rerun was refused as a store that exists."""
    store = tmp_path / "store"
    with pytest.raises(ConfigError, match="is after today"):
        _replay(tmp_path, "run", f"replay.store_dir={store}", "replay.end=2999-01-04")
    assert not store.exists()


def test_a_replay_refuses_a_ledger_that_exists(tmp_path: Path) -> None:
    """Its versions restart at 1 in a fresh store: another run's ledger rows would pass for
    them."""
    ledgers = tmp_path / "ledgers"
    ledgers.mkdir()
    (ledgers / LEDGER_FILE).write_bytes(b"")
    with pytest.raises(ConfigError, match="already holds a forecast ledger"):
        _replay(tmp_path, "run", f"monitor.ledger_dir={ledgers}")
    assert not (tmp_path / "run" / "store").exists(), "refused before any work"
    # A store folder whose mlruns.db was removed to start over, its ledger left behind.
    with pytest.raises(ConfigError, match=r"replay.store_dir .* already holds a forecast ledger"):
        _replay(tmp_path, "run", f"replay.store_dir={ledgers}")


def test_a_ledger_folder_the_monitor_could_not_open_is_refused_before_any_step(
    tmp_path: Path,
) -> None:
    """The monitor step runs last: a pipeline registered a version before it failed there, and
    its rerun found no new data, so that day's forecast was never stored."""
    blocked = tmp_path / "a-file"
    blocked.write_text("")
    ledger_dir = f"monitor.ledger_dir={blocked / 'ledgers'}"
    expected = (
        rf"^cannot make the forecast ledger's folder {blocked / 'ledgers'} \(Not a directory\); "
        r"set monitor\.ledger_dir to a folder this user can write\.$"
    )
    with global_state_restored(), pytest.raises(ConfigError, match=expected):
        run_local_pipeline(tmp_path / "pipeline", ledger_dir)
    assert not list(tmp_path.glob("pipeline/logs/pipeline/runs/*/prepare")), "before any step"
    assert not (tmp_path / "pipeline" / "mlruns.db").exists()
    with pytest.raises(ConfigError, match=expected):
        _replay(tmp_path, "run", ledger_dir)
    assert not (tmp_path / "run" / "store").exists(), "refused before any work"


@pytest.mark.parametrize(
    ("override", "said"),
    [
        (
            "data.as_of=2026-01-30",
            "a replay sets data.as_of to each day it simulates, so data.as_of=2026-01-30 would "
            "be ignored; give replay.end=2026-01-30 to end the replay on that day instead.",
        ),
        (
            "data.require_new_data=false",
            "a replay requires each day to bring new data, as the daily schedule does, so "
            "data.require_new_data=false would be ignored; leave it out.",
        ),
    ],
)
def test_a_setting_the_replay_sets_itself_is_refused_before_the_store(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, override: str, said: str
) -> None:
    """Each day's pipeline set its own data.as_of and data.require_new_data after the given
    ones: `data.as_of=2026-01-30` was dropped without a word and the replay ran the days up to
    replay.end (today)."""
    monkeypatch.setattr(replay, "run_days", lambda *args: pytest.fail("a day ran"))
    given = [*isolated_overrides(tmp_path), "days=2", override]
    with global_state_restored(), pytest.raises(ConfigError) as refused:
        run_task(run_replay, "replay", given, tmp_path / "run")
    assert str(refused.value) == said
    assert not (tmp_path / "run" / "store").exists(), "refused before any work"


def test_an_accelerator_this_machine_lacks_is_refused_before_the_store(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`trainer=gpu` without a GPU failed every day at its train step, after its prepare step,
    and the replay ended only after the last day."""
    from lightning.pytorch.accelerators import CUDAAccelerator, MPSAccelerator

    for accelerator in (CUDAAccelerator, MPSAccelerator):
        monkeypatch.setattr(accelerator, "is_available", staticmethod(lambda: False))
    monkeypatch.setattr(replay, "run_days", lambda *args: pytest.fail("a day ran"))
    given = [*isolated_overrides(tmp_path), "days=2", "trainer=gpu"]
    with global_state_restored(), pytest.raises(ConfigError) as refused:
        run_task(run_replay, "replay", given, tmp_path / "run")
    assert str(refused.value).startswith(
        "trainer.accelerator is 'gpu', but this machine has no GPU"
    )
    assert not (tmp_path / "run" / "store").exists(), "refused before any work"


def test_a_plan_runs_on_the_days_its_data_gains_values(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Business days up to replay.end: a file that ended before them (replay.end defaults to
    today) was refused, and one that trades every day lost its weekends."""
    planned: list[list[str]] = []
    monkeypatch.setattr(
        replay, "run_days", lambda cfg, run_dir, plan, _: planned.append(plan["days"])
    )

    def plan(csv: Path, dates: pd.DatetimeIndex, days: int) -> list[str]:
        pd.DataFrame({"Date": dates, "Close": 100.0 + np.arange(len(dates))}).to_csv(csv)
        given = [*isolated_overrides(tmp_path), f"days={days}", "replay.end=2026-06-30"]
        run = tmp_path / csv.stem
        with global_state_restored():
            run_task(run_replay, "replay", [*given, "data=csv", f"data.path={csv}"], run)
        return planned[-1]

    stale = pd.bdate_range(end="2026-04-01", periods=200)
    assert plan(tmp_path / "stale.csv", stale, 3) == ["2026-03-30", "2026-03-31", "2026-04-01"]
    every_day = pd.date_range(end="2026-06-28", periods=200, freq="D")
    assert plan(tmp_path / "daily.csv", every_day, 2) == ["2026-06-27", "2026-06-28"]


def test_a_replay_whose_every_day_failed_ends_with_an_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A train step that fails every day (its trainer refused): each day was recorded with the
    error, and the replay printed its record and exited 0."""
    from stockcast.orchestration.step_run import StepFailed

    def stopped(*args: object, **kwargs: object) -> None:
        raise StepFailed("step 'train' failed: the trainer settings cannot run here.")

    monkeypatch.setattr(replay_day_loop, "run_pipeline", stopped)
    given = [*isolated_overrides(tmp_path), "days=2", "replay.end=2026-06-30"]
    with global_state_restored(), pytest.raises(StockcastError) as refused:
        run_task(run_replay, "replay", given, tmp_path / "run")
    assert str(refused.value) == (
        "every day of the replay failed and none left a champion (the last, 2026-06-30: step "
        "'train' failed: the trainer settings cannot run here); fix that and start a new replay."
    )
    written = json.loads((tmp_path / "run" / REPLAY_FILE).read_text())
    assert [day["refusal"] for day in written["days"]] == [
        "step 'train' failed: the trainer settings cannot run here."
    ] * 2, "each day is recorded first"


def test_a_plan_without_data_to_train_on_is_refused_before_the_store(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """days=100000 reached back to 1643 and ran for hours, each day refused at prepare in turn.
    A first day before the data has enough names that day; data that no day could train on (a
    file too short as a whole, one that is not there) is refused in prepare's own sentence."""
    monkeypatch.setattr(replay, "run_days", lambda *args: pytest.fail("a day ran"))

    def refusal(*overrides: str) -> str:
        given = [*isolated_overrides(tmp_path), "replay.end=2026-06-30", *overrides]
        with global_state_restored(), pytest.raises(StockcastError) as refused:
            run_task(run_replay, "replay", given, tmp_path / "run")
        assert not (tmp_path / "run" / "store").exists(), "refused before any work"
        return str(refused.value)

    first = simulated_days("2026-06-30", 100000)[0]
    assert refusal("days=100000") == (
        f"the replay's first day, {first}, has too little data to train on: data.as_of={first} "
        "is before the market's first business day (data.start_date=2015-01-01), so there is no "
        "data yet; give fewer days or a later replay.end or an earlier data.start_date."
    )
    short = tmp_path / "short.csv"
    dates = pd.bdate_range(end="2026-06-30", periods=30)
    pd.DataFrame({"Date": dates, "Close": 100.0 + np.arange(30.0)}).to_csv(short, index=False)
    too_short = refusal("days=3", "data=csv", f"data.path={short}", "data.value_column=Close")
    assert not too_short.startswith("the replay's first day") and "30" in too_short
    missing = refusal("days=3", "data=csv", f"data.path={tmp_path / 'gone.csv'}")
    assert missing.startswith(f"CSV file {tmp_path / 'gone.csv'} does not exist")
    # Undated data: every day saw all of it, and the plot of the days failed with a traceback.
    undated = tmp_path / "undated.csv"
    pd.DataFrame({"Close": 100.0 + np.arange(300.0)}).to_csv(undated, index=False)
    overrides = ("days=2", "data=csv", f"data.path={undated}", "data.date_column=null")
    assert refusal(*overrides) == (
        "a replay steps through days by data.as_of, and the data has no dates "
        "(data.date_column=null), so every day would see all of it: replay dated data, or run "
        "the pipeline on this data."
    )
    # A store folder that cannot be made, and keys every day's register step would refuse.
    blocked = tmp_path / "a-file"
    blocked.write_text("")
    assert refusal("days=2", f"replay.store_dir={blocked}") == (
        f"cannot make replay.store_dir {blocked} (file exists); set replay.store_dir to a "
        "folder that can be made."
    )
    public = tmp_path / "keys" / "model-signing.pub"
    public.parent.mkdir()
    public.write_text("-----BEGIN PUBLIC KEY-----\nMCowBQYDK2VwAyEA\n-----END PUBLIC KEY-----\n")
    signing = ("registry.signing.private_key=null", f"registry.signing.public_key={public}")
    assert refusal("days=2", *signing).startswith(
        "registry.signing.public_key is set but registry.signing.private_key is not"
    )


def test_a_replay_ending_before_the_data_has_enough_names_replay_end(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The refusal said only "pick a later data.as_of", which a replay refuses (it sets
    data.as_of to each day itself): the day to move is replay.end."""
    monkeypatch.setattr(replay, "run_days", lambda *args: pytest.fail("a day ran"))
    given = [*isolated_overrides(tmp_path), "replay.end=2015-01-05", "days=2"]
    with global_state_restored(), pytest.raises(ConfigError) as refused:
        run_task(run_replay, "replay", given, tmp_path / "run")
    assert str(refused.value) == (
        "replay.end=2015-01-05 has too little data to train on: data.as_of=2015-01-05 leaves 3 "
        "business day(s) since data.start_date=2015-01-01, fewer than the 32 values the windows "
        "and split need; give a later replay.end or an earlier data.start_date, or shorten the "
        "windows."
    )
    assert not (tmp_path / "run" / "store").exists(), "refused before any work"


def test_a_replay_stopped_part_way_keeps_the_days_it_ran(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    ran: list[str] = []

    def one_day(
        day_dir: Path, overrides: list[str], keys: set[str], executor: str
    ) -> dict[str, float]:
        ran.append(day_dir.name)
        day_dir.mkdir(parents=True)
        if len(ran) == 2:
            raise KeyboardInterrupt
        return {}

    monkeypatch.setattr(replay_day_loop, "run_pipeline", one_day)
    with pytest.raises(KeyboardInterrupt):
        _replay(tmp_path, "run")
    written = json.loads((tmp_path / "run" / REPLAY_FILE).read_text())
    assert [day["as_of"] for day in written["days"]] == ran[:1]


def _stop_on_day(
    number: int, monkeypatch: pytest.MonkeyPatch, given: list[list[str]] | None = None
) -> list[str]:
    """Days that only make their folder (and keep the overrides they were given in `given`);
    day `number` stops the replay (a kill) once."""
    ran: list[str] = []

    def one_day(
        day_dir: Path, overrides: list[str], keys: set[str], executor: str
    ) -> dict[str, float]:
        ran.append(day_dir.name)
        if given is not None:
            given.append(overrides)
        (day_dir / "prepare").mkdir(parents=True)
        if len(ran) == number:
            raise KeyboardInterrupt
        return {}

    monkeypatch.setattr(replay_day_loop, "run_pipeline", one_day)
    return ran


def _stopped_replay(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    day: int,
    *extra: str,
    given: list[list[str]] | None = None,
) -> list[str]:
    """A replay into `run/` with stubbed days, stopped on `day`: the days it ran."""
    ran = _stop_on_day(day, monkeypatch, given)
    with pytest.raises(KeyboardInterrupt):
        _replay(tmp_path, "run", *extra)
    return ran


@pytest.mark.parametrize("executor", ["inprocess", "subprocess"])
def test_each_day_runs_its_steps_with_the_pipelines_executor(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, executor: str
) -> None:
    """`pipeline.executor=subprocess` runs a day's steps as their own command lines, as the
    pipeline does; the schema accepts it for the replay, so no day may quietly ignore it."""
    used: list[str] = []

    def one_day(
        day_dir: Path, overrides: list[str], keys: set[str], executor: str
    ) -> dict[str, float]:
        used.append(executor)
        (day_dir / "prepare").mkdir(parents=True)
        return {}

    monkeypatch.setattr(replay_day_loop, "run_pipeline", one_day)
    _replay(tmp_path, "run", f"pipeline.executor={executor}")
    assert used == [executor] * len(simulated_days("2026-06-30", 5))


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


def test_a_warm_replay_starts_each_day_from_the_champion_before_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """By version, not by the alias: a day stopped after registering would otherwise rerun from
    the version it registered itself."""
    given: list[list[str]] = []
    champions = iter([None, 1, 2, 2, 3])
    monkeypatch.setattr(replay_day_loop, "store_champion", lambda cfg, store: next(champions))
    warm = ("replay.warm_start=true",)
    _stopped_replay(tmp_path, monkeypatch, 3, *warm, given=given)
    _replay(tmp_path, "later", *warm, f"replay.resume_from={tmp_path / 'run'}")
    starts = [[o for o in overrides if o.startswith("train.init_from=")] for overrides in given]
    # Days 1-2 left champions None and 1; day 3 stopped and ran again from version 1.
    assert starts == [[], [], ["train.init_from=1"], ["train.init_from=1"], ["train.init_from=2"],
                      ["train.init_from=2"]]  # fmt: skip


@pytest.mark.slow
def test_a_warm_replay_whose_data_found_another_season_says_how_to_go_on(tmp_path: Path) -> None:
    """A market that starts trading on Saturdays moves the season its dates give from 5 to 6:
    the refusal advised train.init_from=null, which the replay overrides every day."""
    business = pd.bdate_range("2025-01-01", periods=100)
    every_day = pd.date_range(business[-1] + pd.Timedelta(days=1), periods=200)
    dates = business.append(every_day)
    steps = np.arange(len(dates))
    noise = np.random.default_rng(0).normal(0.0, 1.0, len(dates))
    csv = tmp_path / "sales.csv"
    prices = 100 + 0.05 * steps + 5 * np.sin(2 * np.pi * steps / 5) + noise
    pd.DataFrame({"Date": dates, "Sales": prices}).to_csv(csv, index=False)
    given = [
        *isolated_overrides(tmp_path),
        "experiment=auto",
        "data=csv",
        f"data.path={csv}",
        "data.value_column=Sales",
        "trainer.max_steps=30",
        "train.warm_max_steps=10",
        "data.batch_size=32",
        "days=2",
        "replay.end=2025-09-05",
        "replay.warm_start=true",
        *LENIENT_GATE,
    ]
    with global_state_restored():
        days = run_task(run_replay, "replay", given, tmp_path / "run").value["days"]
    assert days[0]["registered_version"] == 1
    assert days[1]["refusal"].endswith(
        "its data.season_length is 5, this run's 6); data.season_length is null, so the season "
        "is found in the data, which now gives another; set data.season_length=5 to keep that "
        "model's, or train cold (train.init_from=null; in a replay, replay.warm_start=false)."
    )


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


def test_the_days_of_a_replay_in_a_folder_of_any_name_compose(tmp_path: Path) -> None:
    """Paths were passed to the days unquoted: a run directory named with a comma, an equals
    sign, a bracket, a quote or `${` made every day fail to compose."""
    from stockcast.config.compose import compose_config as compose_pipeline

    folder = tmp_path / "run (1),x=${y}'s"
    overrides = pipeline_overrides(["seed=3"], folder / "store", folder / "ledgers")
    with global_state_restored():
        cfg = compose_pipeline("pipeline", overrides)
    assert cfg.registry.tracking_uri == f"sqlite:///{folder / 'store'}/mlruns.db"
    assert cfg.paths.log_dir == f"{folder / 'store'}/logs"
    assert cfg.monitor.ledger_dir == str(folder / "ledgers")


def test_the_replay_plot_draws_forecasts_made_from_lagged_data(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With data.release_lag_days each day's forecast starts from data dated a week earlier: the
    plot used to keep only origins from the replay's first day on, so it drew none of them."""
    import numpy as np
    import pandas as pd

    from stockcast.config.compose import plain
    from stockcast.data.prepared import prepare_data
    from stockcast.data.sources import load_series
    from stockcast.orchestration.steps.run_folders import port_folder
    from stockcast.orchestration.steps.table import PREPARED
    from stockcast.registry.ledger import Ledger, LedgerForecast

    dates = pd.bdate_range("2025-01-01", "2026-06-30")
    csv = tmp_path / "daily.csv"
    pd.DataFrame({"Date": dates, "Close": 100 + 0.01 * np.arange(len(dates))}).to_csv(csv)
    days = simulated_days("2026-06-30", 3)
    cfg = compose_config(
        "replay", ["data=csv", f"data.path={csv}", "data.release_lag_days=7"], tmp_path
    )
    ledger = Ledger(tmp_path / LEDGER_FILE, 10)
    entries = []
    for day in days:
        (series,) = load_series(plain(cfg.data) | {"as_of": day})
        origin = str(series.dates[-1])[:10]
        assert origin < days[0]
        forecast = LedgerForecast(cfg.registry.model_name, 1, "series", origin, ("x",), (1.0,), 1.0)
        ledger.append([forecast])
        entries.append({"as_of": day})
    prepared = prepare_data(plain(cfg.data) | {"as_of": days[-1]})
    prepared.save(port_folder(tmp_path / "run" / "days" / days[-1], PREPARED))
    drawn: list = []
    monkeypatch.setattr(replay_plot, "plot_replay_days", lambda *args: drawn.append(args[2]))
    replay_plot.plot_replay(tmp_path / "replay.png", cfg, tmp_path, tmp_path / "run", entries)
    assert len(drawn[0]) == len(days)


def test_the_replay_plot_draws_the_prices_a_refused_last_day_did_not_prepare(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A last day refused for want of new data (a weekend's file, a holiday, a release lag)
    prepares nothing: the plot read only that day's folder and drew empty price axes."""
    import numpy as np
    import pandas as pd

    from stockcast.config.compose import plain
    from stockcast.data.prepared import prepare_data
    from stockcast.orchestration.steps.run_folders import port_folder
    from stockcast.orchestration.steps.table import PREPARED

    dates = pd.bdate_range("2025-01-01", "2026-06-26")
    csv = tmp_path / "daily.csv"
    pd.DataFrame({"Date": dates, "Close": 100 + 0.01 * np.arange(len(dates))}).to_csv(csv)
    days = simulated_days("2026-06-30", 3)
    cfg = compose_config("replay", ["data=csv", f"data.path={csv}"], tmp_path)
    prepared = prepare_data(plain(cfg.data) | {"as_of": days[0]})
    prepared.save(port_folder(tmp_path / "run" / "days" / days[0], PREPARED))
    entries = [{"as_of": day} for day in days]
    drawn: list = []
    monkeypatch.setattr(replay_plot, "plot_replay_days", lambda *args: drawn.append(args[1]))
    replay_plot.plot_replay(tmp_path / "replay.png", cfg, tmp_path, tmp_path / "run", entries)
    (observed,) = drawn
    assert observed is not None and observed.dates[-1] == "2026-06-26"


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


def test_a_ledger_that_cannot_be_written_stops_the_replay_at_that_day(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Another run holds the ledger after day 1: the days after it were recorded as failed and
    the replay went on, so their forecasts were lost for good (their reruns find no new data)."""
    import sqlite3

    from stockcast.orchestration.step_run import StepFailed
    from stockcast.registry.ledger import Ledger

    ledger = tmp_path / "run" / "store" / LEDGER_FILE
    ran: list[str] = []
    holders: list[sqlite3.Connection] = []

    def one_day(
        day_dir: Path, overrides: list[str], keys: set[str], executor: str
    ) -> dict[str, float]:
        ran.append(day_dir.name)
        (day_dir / "prepare").mkdir(parents=True)
        if len(ran) == 1:
            Ledger(ledger, 1.0).append([])
            holders.append(sqlite3.connect(ledger, isolation_level=None))
            holders[0].execute("BEGIN IMMEDIATE")
        elif holders:
            raise StepFailed("step 'monitor' failed: the forecast ledger cannot be written.")
        return {}

    monkeypatch.setattr(replay_day_loop, "run_pipeline", one_day)
    given = ("days=3", "monitor.ledger_timeout_s=0.2")
    with pytest.raises(StockcastError) as stopped:
        _replay(tmp_path, "run", *given)
    planned = simulated_days("2026-06-30", 3)
    assert str(stopped.value) == (
        f"day 2/3 ({planned[1]}) of the replay could not write its forecast ledger {ledger} "
        "(database is locked), so the replay stopped there rather than lose that day's "
        f"forecast; once it can be written (no other run holding it), add "
        f"replay.resume_from={tmp_path / 'run'} to the same command to run the day again."
    )
    assert ran == planned[:2], "no later day runs"
    written = json.loads((tmp_path / "run" / REPLAY_FILE).read_text())
    assert [day["as_of"] for day in written["days"]] == planned[:1], "the day is not recorded"

    holders.pop().close()
    again = _replay(tmp_path, "later", *given, f"replay.resume_from={tmp_path / 'run'}")
    assert ran == [*planned[:2], *planned[1:]]
    assert [day["refusal"] for day in again["days"]] == [None] * 3


def test_a_day_start_another_run_holds_is_refused_after_the_wait(tmp_path: Path) -> None:
    """SQLite's backup retried a locked database forever: the replay hung before the day."""
    import sqlite3

    from stockcast.orchestration.replay_day_start import keep_day_start, restore_day_start

    ledger = tmp_path / LEDGER_FILE
    created = sqlite3.connect(ledger)
    created.execute("CREATE TABLE forecasts (day TEXT)")
    created.commit()
    created.close()
    databases = {"ledger": ledger}
    held = sqlite3.connect(ledger, isolation_level=None)
    held.execute("BEGIN EXCLUSIVE")
    with pytest.raises(ConfigError) as refused:
        keep_day_start(tmp_path, "2026-06-30", databases, 0.2)
    assert str(refused.value) == (
        f"the replay's ledger database {ledger} was held by another run for 0.2 s "
        "(monitor.ledger_timeout_s), so its day 2026-06-30 did not start; once no other run "
        f"holds it, resume the replay (replay.resume_from={tmp_path}) to go on."
    )
    held.execute("ROLLBACK")
    keep_day_start(tmp_path, "2026-06-30", databases, 0.2)
    held.execute("BEGIN IMMEDIATE")  # a writer: the copy cannot go back onto it
    with pytest.raises(ConfigError, match="could not be put back to its start; once no"):
        restore_day_start(tmp_path, "2026-06-30", databases, 0.2)
    held.execute("ROLLBACK")
    held.close()
    assert restore_day_start(tmp_path, "2026-06-30", databases, 0.2)


def test_a_plot_whose_ledger_is_held_says_to_resume_the_replay_to_draw_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The ledger's own advice, to rerun when the other run is done, started a new replay."""
    import sqlite3

    from stockcast.registry.ledger import Ledger

    ledger = tmp_path / "run" / "store" / LEDGER_FILE
    holders: list[sqlite3.Connection] = []

    def one_day(
        day_dir: Path, overrides: list[str], keys: set[str], executor: str
    ) -> dict[str, float]:
        (day_dir / "prepare").mkdir(parents=True)
        if day_dir.name == "2026-06-30":
            Ledger(ledger, 1.0).append([])
            holders.append(sqlite3.connect(ledger, isolation_level=None))
            holders[0].execute("BEGIN EXCLUSIVE")
        return {}

    monkeypatch.setattr(replay_day_loop, "run_pipeline", one_day)
    given = ("days=2", "monitor.ledger_timeout_s=0.2")
    with pytest.raises(StockcastError) as stopped:
        _replay(tmp_path, "run", *given)
    assert str(stopped.value) == (
        f"the replay ran all its days, but its plot could not read the forecast ledger {ledger} "
        "(database is locked); once no other run holds it, add "
        f"replay.resume_from={tmp_path / 'run'} to the same command to draw {REPLAY_PLOT_FILE}."
    )
    holders.pop().close()
    finished = _replay(tmp_path, "later", *given, f"replay.resume_from={tmp_path / 'run'}")
    assert len(finished["days"]) == 2
    assert (tmp_path / "run" / REPLAY_PLOT_FILE).is_file()


@pytest.mark.parametrize(
    ("lock_file", "held_for"),
    [
        (STORE_LOCK_FILE, "is the store of another replay running now; pick another folder"),
        (
            LEDGER_LOCK_FILE,
            "holds the forecast ledger of another replay running now; set monitor.ledger_dir to "
            "another folder",
        ),
    ],
)
def test_a_store_folder_another_replay_holds_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, lock_file: str, held_for: str
) -> None:
    """Two replays started at once into one replay.store_dir both found it fresh (MLflow takes
    seconds to make its database) and registered their versions into one store; and without
    monitor.ledger_dir, where a replay's days keep the ledger beside its store, one into the
    ledger folder of another replay running now was accepted, and both wrote that ledger."""
    from filelock import FileLock

    ran = _stop_on_day(0, monkeypatch)
    store = tmp_path / "shared"
    store.mkdir()
    with FileLock(str(store / lock_file)), pytest.raises(ConfigError) as refused:
        _replay(tmp_path, "run", f"replay.store_dir={store}")
    assert str(refused.value) == f"replay.store_dir {store} {held_for} for this one."
    assert ran == [] and not (store / "mlruns.db").exists()
    _replay(tmp_path, "run2", f"replay.store_dir={store}")
    assert len(ran) == 5, "free again, the folder is a store"


def test_a_ledger_folder_another_replay_is_writing_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two replays sharing monitor.ledger_dir: the second was refused only once the ledger file
    existed; one started before the first's first champion made it was accepted, and its
    monitor days then lost their forecasts to the ledger's "another store" check."""
    from filelock import FileLock

    ledger = tmp_path / "ledger"
    ledger.mkdir()
    ran = _stop_on_day(0, monkeypatch)
    shared = f"monitor.ledger_dir={ledger}"
    with FileLock(str(ledger / LEDGER_LOCK_FILE)):
        with pytest.raises(ConfigError) as refused:
            _replay(tmp_path, "run", shared)
        assert str(refused.value) == (
            f"monitor.ledger_dir {ledger} holds the forecast ledger of another replay running "
            "now; set monitor.ledger_dir to another folder for this one."
        )
        assert ran == [] and not (tmp_path / "run" / "store" / "mlruns.db").exists()
    _stopped_replay(tmp_path, monkeypatch, 1, shared)
    with (
        FileLock(str(ledger / LEDGER_LOCK_FILE)),
        pytest.raises(ConfigError, match="running now; resume this one once it has ended"),
    ):
        _replay(tmp_path, "later", shared, f"replay.resume_from={tmp_path / 'run'}")
    resumed = _replay(tmp_path, "later", shared, f"replay.resume_from={tmp_path / 'run'}")
    assert len(resumed["days"]) == 5


def test_a_replay_may_keep_its_store_in_its_own_run_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The run folder's lock and the store's were one file there, which the replay then held
    twice: it was refused as "the store of another replay running now"."""
    ran = _stop_on_day(0, monkeypatch)
    _replay(tmp_path, "run", f"replay.store_dir={tmp_path / 'run'}")
    assert len(ran) == len(simulated_days("2026-06-30", 5))
    assert (tmp_path / "run" / "mlruns.db").is_file()


def test_two_pipelines_of_one_process_id_hold_ledger_locks_of_their_own(tmp_path: Path) -> None:
    """Named by the process id alone, two pipelines of one id on a shared ledger folder
    (containers on one volume, each its own pid 1) shared one lock file: the second waited for
    the first, which then deleted the files the second held, and a replay started after that
    was let in beside it."""
    from stockcast.orchestration.replay_locks import (
        pipeline_writes_ledger,
        refuse_running_pipelines,
    )

    ledger = tmp_path / LEDGER_FILE
    with pipeline_writes_ledger(ledger, tmp_path / "first-run"):
        with pipeline_writes_ledger(ledger, tmp_path / "second-run"):
            assert len(list(tmp_path.glob("pipeline_ledger.*.lock"))) == 2
        assert len(list(tmp_path.glob("pipeline_ledger.*.lock"))) == 1
        with pytest.raises(ConfigError, match=r"the pipeline running now in .*first-run writes"):
            refuse_running_pipelines(tmp_path, "monitor.ledger_dir", "wait")
    assert not list(tmp_path.glob("pipeline_ledger.*"))


# A pipeline on the ledger in argv[1], run folder argv[2], that says so, then waits to be killed.
HOLD_A_LEDGER = """
import sys, time
from pathlib import Path
from stockcast.orchestration.replay_locks import pipeline_writes_ledger
with pipeline_writes_ledger(Path(sys.argv[1]), Path(sys.argv[2])):
    print("held", flush=True)
    time.sleep(600)
"""


def test_a_pipeline_removes_the_lock_files_of_pipelines_killed_on_its_ledger(
    tmp_path: Path,
) -> None:
    """A pipeline killed outright (SIGKILL) left its lock and run files in the ledger folder for
    good: they refused nothing, but the folder filled with them over a schedule's life and a
    person reading it took them for pipelines running. A live pipeline's are kept."""
    import os
    import subprocess
    import sys

    from stockcast.orchestration.replay_locks import (
        pipeline_writes_ledger,
        refuse_running_pipelines,
    )

    ledger = tmp_path / LEDGER_FILE
    killed = subprocess.Popen(
        [sys.executable, "-c", HOLD_A_LEDGER, str(ledger), str(tmp_path / "killed-run")],
        stdout=subprocess.PIPE,
        text=True,
        env=dict(os.environ),
    )
    assert killed.stdout is not None and killed.stdout.readline() == "held\n"
    killed.kill()
    killed.wait()
    left = {path.name for path in tmp_path.glob("pipeline_ledger.*")}
    assert {Path(name).suffix for name in left} == {".lock", ".run"} and len(left) == 2
    with pipeline_writes_ledger(ledger, tmp_path / "live-run"):
        live = {path.name for path in tmp_path.glob("pipeline_ledger.*")} - left
        with pipeline_writes_ledger(ledger, tmp_path / "new-run"):
            now = {path.name for path in tmp_path.glob("pipeline_ledger.*")}
            assert not now & left and live < now and len(now) == 4
        assert {path.name for path in tmp_path.glob("pipeline_ledger.*")} == live
        with pytest.raises(ConfigError, match=r"the pipeline running now in .*live-run writes"):
            refuse_running_pipelines(tmp_path, "monitor.ledger_dir", "wait")
    assert not list(tmp_path.glob("pipeline_ledger.*"))


def test_a_ledger_folder_a_pipeline_is_writing_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A pipeline running on a ledger only looked at the replays' lock before its first step:
    a replay started while it ran on the same ledger was accepted, and both wrote it."""
    from stockcast.orchestration.replay_locks import pipeline_writes_ledger

    ledger = tmp_path / "ledger"
    ledger.mkdir()
    pipeline_run = tmp_path / "pipeline-run"
    ran = _stop_on_day(0, monkeypatch)
    shared = f"monitor.ledger_dir={ledger}"
    with pipeline_writes_ledger(ledger / LEDGER_FILE, pipeline_run):
        with pytest.raises(ConfigError) as refused:
            _replay(tmp_path, "run", shared)
        assert str(refused.value) == (
            f"monitor.ledger_dir {ledger} holds the forecast ledger that the pipeline running "
            f"now in {pipeline_run} writes; set monitor.ledger_dir to another folder for this "
            "one."
        )
        assert ran == [] and not (tmp_path / "run" / "store" / "mlruns.db").exists()
        # Without monitor.ledger_dir the days write the ledger beside the replay's store.
        store = tmp_path / "pipelines-store"
        store.mkdir()
        with (
            pipeline_writes_ledger(store / LEDGER_FILE, pipeline_run),
            pytest.raises(ConfigError, match=f"^replay.store_dir {store} holds the"),
        ):
            _replay(tmp_path, "other", f"replay.store_dir={store}")
        assert ran == [] and not (store / "mlruns.db").exists()
    assert not list(ledger.glob("pipeline_ledger.*")), "the pipeline's lock files are gone"
    _stopped_replay(tmp_path, monkeypatch, 1, shared)
    with (
        pipeline_writes_ledger(ledger / LEDGER_FILE, pipeline_run),
        pytest.raises(ConfigError, match=r"now in .* writes; resume this one once it has ended"),
    ):
        _replay(tmp_path, "later", shared, f"replay.resume_from={tmp_path / 'run'}")
    resumed = _replay(tmp_path, "later", shared, f"replay.resume_from={tmp_path / 'run'}")
    assert len(resumed["days"]) == 5


def test_a_replay_started_while_a_pipeline_runs_on_its_ledger_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The pipeline holds its ledger lock while its steps run, not only looks at the replays'
    before its first step: a replay started meanwhile on the same ledger was accepted."""
    from stockcast.orchestration import runner
    from stockcast.orchestration.step_run import StepFailed

    ledger = tmp_path / "ledger"
    shared = f"monitor.ledger_dir={ledger}"
    ran = _stop_on_day(0, monkeypatch)
    refusals: list[str] = []

    def steps_starting_a_replay(run_dir: Path, *args: object, **kwargs: object) -> None:
        with pytest.raises(ConfigError) as refused:
            _replay(tmp_path, "replay", shared)
        refusals.append(str(refused.value).replace(str(run_dir), "<run>"))
        raise StepFailed("step 'prepare' failed: stopped here.")

    monkeypatch.setattr(runner, "run_pipeline", steps_starting_a_replay)
    with global_state_restored(), pytest.raises(StepFailed):
        run_local_pipeline(tmp_path / "pipeline", shared)
    assert refusals == [
        f"monitor.ledger_dir {ledger} holds the forecast ledger that the pipeline running now in "
        "<run> writes; set monitor.ledger_dir to another folder for this one."
    ]
    assert ran == [] and not list(ledger.glob("pipeline_ledger.*"))
    _replay(tmp_path, "after", shared)  # free once the pipeline has ended
    assert len(ran) == 5


def test_a_folder_port_set_on_a_replay_is_refused_before_any_day(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Each day binds its steps' folders after the user's overrides: `train.model_dir=...` on
    a replay was left unused without a word, as on a pipeline run before it was refused."""
    ran = _stop_on_day(0, monkeypatch)
    wanted = tmp_path / "models"
    with pytest.raises(ConfigError) as refused:
        _replay(tmp_path, "run", f"train.model_dir={wanted}")
    first_day = tmp_path / "run" / "days" / simulated_days("2026-06-30", 5)[0]
    assert str(refused.value) == (
        f"train.model_dir is set to {wanted}, but each day of a replay binds each step's "
        f"folders in its run folder ({first_day / 'train' / 'model'} here) and would not use "
        "it; drop it, or run the train step alone (python -m stockcast.orchestration.steps.train) "
        "to use that folder."
    )
    assert ran == [] and not wanted.exists() and not (tmp_path / "run" / "store").exists()


def test_a_pipeline_on_the_ledger_beside_a_running_replays_store_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Without monitor.ledger_dir a replay's days write the ledger beside its store, but the
    replay held its ledger lock only in monitor.ledger_dir (and a resume held none there): a
    pipeline on that store's ledger was accepted while the replay's days ran."""
    from stockcast.orchestration.replay_locks import REPLAY_RUN_ENV, refuse_a_replays_ledger

    ledger = tmp_path / "run" / "store" / LEDGER_FILE
    refusals: list[str] = []

    def one_day(day_dir: Path, *args: object, **kwargs: object) -> dict[str, float]:
        # As a pipeline in a process of its own looks, without the replay's mark on its steps.
        monkeypatch.delenv(REPLAY_RUN_ENV, raising=False)
        try:
            refuse_a_replays_ledger(ledger)
        except ConfigError as err:
            refusals.append(str(err))
        else:
            refusals.append("accepted")
        (day_dir / "prepare").mkdir(parents=True)
        if len(refusals) == 2:
            raise KeyboardInterrupt
        return {}

    monkeypatch.setattr(replay_day_loop, "run_pipeline", one_day)
    with pytest.raises(KeyboardInterrupt):
        _replay(tmp_path, "run")
    _replay(tmp_path, "later", f"replay.resume_from={tmp_path / 'run'}")
    # Two days of the new replay, then days 2 to 5 of the resume.
    assert refusals == 6 * [
        f"the forecast ledger {ledger.resolve()} is written by a replay running now, whose days "
        "would lose their forecasts to this run's; set monitor.ledger_dir to another folder for "
        "this pipeline, or run it once the replay has ended."
    ]
    refuse_a_replays_ledger(ledger)  # free once the replay has ended


@pytest.mark.parametrize("executor", ["inprocess", "subprocess"])
def test_a_replays_own_monitor_days_are_not_refused_its_ledger(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, executor: str
) -> None:
    """The monitor step refuses a ledger a running replay holds; the replay's own days, whose
    steps run in its process or as processes of their own, carry its mark and are not refused,
    and a monitor step without it is."""
    import dataclasses
    import os
    import subprocess
    from types import SimpleNamespace

    from stockcast.evaluation.monitor_status import NO_CHAMPION
    from stockcast.orchestration import runner, step_run
    from stockcast.orchestration.replay_locks import REPLAY_RUN_ENV
    from stockcast.orchestration.step_run import StepFailed
    from stockcast.orchestration.steps.table import MONITOR_REPORT_FILE, STEPS
    from tests.conftest import CLI_ENV, CLI_TIMEOUT_S
    from tests.prewarmed import run_forked

    def forked_step(command: list[str], **_: object) -> object:
        return run_forked(command[1:], Path.cwd(), {**os.environ, **CLI_ENV}, CLI_TIMEOUT_S)

    monkeypatch.setattr(
        step_run, "subprocess", SimpleNamespace(run=forked_step, PIPE=subprocess.PIPE)
    )
    prepare, monitor = STEPS[0], next(step for step in STEPS if step.name == "monitor")
    # The day's prepare and monitor steps only: the monitor's decision is read where it is.
    prepared = tuple(port for port in monitor.inputs if port.name == "prepared")
    steps = (prepare, dataclasses.replace(monitor, inputs=prepared))
    statuses: list[str] = []

    def one_day(day_dir: Path, overrides: list[str], keys: set[str], executor: str) -> None:
        runner.run_pipeline(day_dir, overrides, keys, executor, steps=steps)
        report = day_dir / "monitor" / "monitor" / MONITOR_REPORT_FILE
        statuses.append(json.loads(report.read_text())["status"])
        mark = os.environ.pop(REPLAY_RUN_ENV)
        try:
            with pytest.raises(StepFailed, match="is written by a replay running now"):
                runner.run_pipeline(day_dir / "alone", overrides, keys, executor, steps=steps)
        finally:
            os.environ[REPLAY_RUN_ENV] = mark
        raise KeyboardInterrupt

    monkeypatch.setattr(replay_day_loop, "run_pipeline", one_day)
    with pytest.raises(KeyboardInterrupt):
        _replay(tmp_path, "run", f"pipeline.executor={executor}")
    assert statuses == [NO_CHAMPION]
    assert REPLAY_RUN_ENV not in os.environ
