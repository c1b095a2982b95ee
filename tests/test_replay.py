"""Replay: the daily schedule simulated day by day, deterministic into a fresh store; the days
it plans, what it refuses before any day, and its plot."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from stockcast.errors import ConfigError, StockcastError
from stockcast.orchestration import replay, replay_day_loop, replay_plot
from stockcast.orchestration.replay import run_replay
from stockcast.orchestration.replay_day_loop import pipeline_overrides
from stockcast.orchestration.replay_days import simulated_days
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
from tests.replay_helpers import (
    _fresh_stores_copied,  # noqa: F401 (autouse)
    _replay,
    _stopped_replay,
)

# With the gate's champion comparison off, each day's model that passes the gate is registered.
EVERY_DAY_REGISTERS = ("gate.require_beat_champion=false",)


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
