"""What a sweep sets up around its jobs: its tracking store and tags, the data day its jobs
share, the refusals before any job, and an Azure ML dry run's note."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from stockcast.errors import ConfigError
from stockcast.orchestration.sweeps import tracking
from stockcast.registry import runs


def test_sweep_id_is_stable_per_folder_and_tags_merge(tmp_path: Path) -> None:
    assert tracking.sweep_id(tmp_path / "a") == tracking.sweep_id(tmp_path / "a")
    assert tracking.sweep_id(tmp_path / "a") != tracking.sweep_id(tmp_path / "b" / "a")
    merged = json.loads(runs.run_context_value({"sweep_id": "x"}, '{"team": "fx"}'))
    assert merged == {"team": "fx", "sweep_id": "x"}


def test_prepare_store_creates_the_experiment_once(tmp_path: Path) -> None:
    uri = f"sqlite:///{tmp_path}/mlruns.db"
    first = runs.prepare_store(uri, "stockcast", str(tmp_path / "artifacts"))
    assert runs.prepare_store(uri, "stockcast") == first
    assert runs.is_embedded_store(uri) and not runs.is_embedded_store("http://x")


def test_a_deleted_experiment_is_one_sentence_saying_how_to_restore_it(seeded_tmp: Path) -> None:
    """MLflow hands back a deleted experiment by name; runs added to it failed with its own
    traceback (the registry's experiment deleted in MLflow's UI stopped every registration)."""
    from mlflow import MlflowClient

    uri = f"sqlite:///{seeded_tmp}/mlruns.db"
    experiment_id = runs.prepare_store(uri, "stockcast-registry")
    MlflowClient(uri).delete_experiment(experiment_id)
    with pytest.raises(ConfigError) as caught:
        runs.prepare_store(uri, "stockcast-registry")
    assert str(caught.value) == (
        f"the MLflow experiment 'stockcast-registry' of {uri} was deleted, so no run can be added "
        f"to it; restore it (MLFLOW_TRACKING_URI={uri} mlflow experiments restore "
        f"--experiment-id {experiment_id}) or name another experiment."
    )


def test_a_local_sweep_gives_every_job_the_day_it_started_on(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """data.as_of defaults to today, read as each job composes its config: a grid sweep running
    past midnight UTC trained its later jobs on the next day's data and ranked them with the
    earlier ones. Only the default is pinned: the day appended as an override also replaced the
    one a swept experiment gives (`experiment=a,b`); a cloud launcher's jobs each read the day
    they run on."""
    from omegaconf import OmegaConf

    from stockcast.config.hydra_compose import searching
    from stockcast.data import calendar
    from stockcast.orchestration.sweeps.callback import SweepCallback

    monkeypatch.delenv(calendar.PINNED_DAY_ENV, raising=False)
    experiments = tmp_path / "experiment"
    experiments.mkdir()
    (experiments / "backfill.yaml").write_text(
        "# @package _global_\ndata:\n  as_of: '2024-03-01'\n"
    )
    (experiments / "today.yaml").write_text("# @package _global_\nseed: 3\n")

    def job_day(experiment: str) -> str:
        return searching([tmp_path])("train", [f"experiment={experiment}"]).data.as_of

    def sweep(task: list[str], launcher: str = "") -> SweepCallback:
        config = OmegaConf.create(
            {
                "hydra": {
                    "sweep": {"dir": str(tmp_path / "sweep")},
                    "overrides": {"task": task},
                    "launcher": {"_target_": launcher},
                },
            }
        )
        callback = SweepCallback(prepare_store=False, summary=False)
        callback.on_multirun_start(config)
        assert list(config.hydra.overrides.task) == task
        return callback

    grid = ["experiment=backfill,today"]
    monkeypatch.setattr(calendar, "today_utc", lambda: "2026-12-01")
    callback = sweep(grid)
    monkeypatch.setattr(calendar, "today_utc", lambda: "2026-12-02")  # past midnight
    assert [job_day("backfill"), job_day("today")] == ["2024-03-01", "2026-12-01"]
    # The sweep over, the clock's day is the default again.
    callback.on_multirun_end(OmegaConf.create({"hydra": {"launcher": {}}}))
    assert job_day("today") == "2026-12-02"
    azureml = "hydra_plugins.stockcast_azureml_launcher.azureml_launcher.AzureMLLauncher"
    sweep(grid, launcher=azureml)
    monkeypatch.setattr(calendar, "today_utc", lambda: "2026-12-03")
    assert job_day("today") == "2026-12-03"


@pytest.mark.parametrize(("job", "task"), [("runner", "pipeline"), ("replay", "replay")])
def test_a_search_of_a_pipeline_or_replay_is_refused_before_any_job(
    job: str, task: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """`make pipeline ARGS="hparams_search=mlp_optuna"` ran a whole pipeline as the first trial
    and then ended in a traceback: only a training run returns the metric a search is told."""
    from omegaconf import OmegaConf

    from stockcast.orchestration.sweeps.callback import SweepCallback

    config = OmegaConf.create(
        {
            "task_name": task,
            "hydra": {
                "sweep": {"dir": str(tmp_path / "sweep")},
                "sweeper": {"_target_": "hydra_plugins.stockcast_optuna_sweeper.X"},
                "runtime": {"choices": {"hydra/sweeper": "optuna"}},
                "job": {"name": job},
            },
        }
    )
    with pytest.raises(SystemExit) as stopped:
        SweepCallback(prepare_store=False).on_multirun_start(config)
    assert stopped.value.code == 2
    assert capsys.readouterr().err == (
        f"error: the optuna sweeper searches training runs by the metric each returns, and a "
        f'{task} run returns none; search with src/train.py (make train ARGS="..."), then '
        f"run the {task} with the best trial's settings (optimization_results.yaml).\n"
    )
    assert not (tmp_path / "sweep").exists()


def test_a_joblib_launcher_of_no_jobs_is_refused_before_the_sweep_starts(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """joblib refused n_jobs=0 with a traceback once the sweep's folder was made."""
    from omegaconf import OmegaConf

    from stockcast.orchestration.sweeps.callback import SweepCallback

    config = OmegaConf.create(
        {"hydra": {"sweep": {"dir": str(tmp_path / "sweep")}, "launcher": {"n_jobs": 0}}}
    )
    with pytest.raises(SystemExit) as stopped:
        SweepCallback(prepare_store=False).on_multirun_start(config)
    assert stopped.value.code == 2
    assert capsys.readouterr().err == (
        "error: hydra.launcher.n_jobs=0 runs no job; give the number of jobs to run at once, "
        "1 or more (-1: one per CPU core).\n"
    )
    assert not (tmp_path / "sweep").exists()


def test_a_sweep_of_jobs_inside_their_run_folders_is_refused_once_before_it_starts(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """`-m ... hydra.job.chdir=true`: refused once, before the sweep starts, rather than by
    every job (each one's entry point refuses it too)."""
    from omegaconf import OmegaConf

    from stockcast.orchestration.sweeps.callback import SweepCallback

    config = OmegaConf.create(
        {"hydra": {"sweep": {"dir": str(tmp_path / "sweep")}, "job": {"chdir": True}}}
    )
    with pytest.raises(SystemExit) as stopped:
        SweepCallback(prepare_store=False).on_multirun_start(config)
    assert stopped.value.code == 2
    assert capsys.readouterr().err.startswith("error: hydra.job.chdir=true would read relative")
    assert not (tmp_path / "sweep").exists()


def test_a_range_under_the_grid_sweeper_is_refused_before_the_store_is_prepared(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Hydra's grid sweeper cannot draw from `interval(...)`: it raised a traceback, exit 1,
    once this callback had prepared the MLflow store (seconds)."""
    from omegaconf import OmegaConf

    from stockcast.orchestration.sweeps.callback import GRID_SWEEPER, SweepCallback

    overrides = ["seed=1,2", "optim.lr=tag(log,interval(1e-4,1e-2))"]
    config = OmegaConf.create(
        {
            "hydra": {
                "sweep": {"dir": str(tmp_path / "sweep")},
                "sweeper": {"_target_": GRID_SWEEPER},
                "overrides": {"task": overrides},
            },
            "logger": {
                "mlflow": {
                    "_target_": "lightning.pytorch.loggers.MLFlowLogger",
                    "experiment_name": "stockcast",
                    "tracking_uri": f"sqlite:///{tmp_path}/mlruns.db",
                }
            },
        }
    )
    with pytest.raises(SystemExit) as stopped:
        SweepCallback().on_multirun_start(config)
    assert stopped.value.code == 2
    assert capsys.readouterr().err == (
        "error: optim.lr=tag(log,interval(1e-4,1e-2)) is a range to draw from, which only the "
        "Optuna sweeper searches: add hydra/sweeper=optuna (or an hparams_search, with its own "
        "keys as well), or give the grid sweeper values to run with choice(...), range(...) or a "
        "comma list.\n"
    )
    assert not (tmp_path / "mlruns.db").exists()


def test_an_azure_sweep_dry_runs_command_quotes_a_folder_the_shell_would_split(
    tmp_path: Path,
) -> None:
    """The dry run names `az ml job create -f <file>`: a sweep folder holding a space split the
    file in two, so the copied command sent nothing."""
    from stockcast.orchestration.azureml.jobs import sweep_dry_run_note

    written = tmp_path / "my sweep" / "0" / "azureml_job.yaml"
    assert sweep_dry_run_note([written, tmp_path / "1.yaml"]) == (
        f"dry run: nothing was sent; to send a job yourself: az ml job create -f '{written}'"
    )
    plain = tmp_path / "sweep" / "0" / "azureml_job.yaml"
    assert sweep_dry_run_note([plain]).endswith(f"az ml job create -f {plain}")
