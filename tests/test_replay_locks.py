"""A replay's store, ledger and day starts held against other replays and pipelines, and a
ledger that cannot be written."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from stockcast.errors import ConfigError, StockcastError
from stockcast.orchestration import replay_day_loop
from stockcast.orchestration.replay import STORE_LOCK_FILE
from stockcast.orchestration.replay_days import simulated_days
from stockcast.orchestration.replay_locks import LEDGER_LOCK_FILE
from stockcast.orchestration.replay_record import REPLAY_FILE, REPLAY_PLOT_FILE
from stockcast.registry.ledger import LEDGER_FILE
from tests.conftest import (
    global_state_restored,
    run_local_pipeline,
)
from tests.replay_helpers import (
    _fresh_stores_copied,  # noqa: F401 (autouse)
    _replay,
    _stop_on_day,
    _stopped_replay,
)


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
