"""Monitor settings and folders refused in one sentence before any work: a min_matured no
window can reach, a damaged decision file, an output folder that cannot be made, and a forecast
ledger a running replay writes."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from stockcast.errors import ArtifactError, ConfigError
from stockcast.orchestration.steps.monitor import run_monitor
from stockcast.orchestration.steps.monitor_outputs import registered_version
from stockcast.registry.ledger import LEDGER_FILE
from tests.conftest import isolated_overrides, run_task
from tests.monitor_helpers import FIRST_DAY, monitor_day, register


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
