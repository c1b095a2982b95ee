"""The monitor's MLflow runs and experiments: a run left open by a killed monitor is closed,
and a deleted experiment is refused before anything is stored or a pipeline's first step, by a
check that waits for the store's writers as the steps do."""

from __future__ import annotations

import contextlib
import sqlite3
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from stockcast.errors import ConfigError
from stockcast.registry.ledger import LEDGER_FILE, Ledger
from stockcast.registry.runs import OWNER_TAG, owner_value, prepare_store
from tests.conftest import MODEL
from tests.monitor_helpers import FIRST_DAY, monitor_day, register

# How long another run's transaction holds the MLflow store in the preflight's test: past the
# ledger's timeout that test sets.
WRITER_S = 0.3


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
