"""Sweeps end to end: local multirun, joblib in parallel on SQLite, resumable Optuna, Azure ML."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from mlflow import MlflowClient

from stockcast.config import PROJECT_ROOT
from tests.conftest import isolated_overrides, run_cli

pytestmark = pytest.mark.slow

TINY = ("data.length=300", "trainer.max_epochs=1", "data.batch_size=32")
GRID = ("optim.lr=1e-3,3e-3", "model.dropout=0.0,0.1")


def _multirun(tmp: Path, *overrides: str, sweep: str = "sweep") -> Path:
    sweep_dir = tmp / sweep
    run_cli(
        [
            "src/train.py",
            "-m",
            *TINY,
            *isolated_overrides(tmp),
            f"hydra.sweep.dir={sweep_dir}",
            *overrides,
        ],
        tmp,
    )
    return sweep_dir


def _runs(tmp: Path) -> list:
    client = MlflowClient(tracking_uri=f"sqlite:///{tmp}/mlruns.db")
    experiment = client.get_experiment_by_name("stockcast")
    return client.search_runs([experiment.experiment_id]) if experiment else []


def _check_grid_sweep(tmp: Path, sweep_dir: Path) -> None:
    """Four job folders, four finished runs tagged with one sweep id, a summary best first."""
    assert sorted(p.name for p in sweep_dir.iterdir() if p.is_dir()) == ["0", "1", "2", "3"]
    runs = _runs(tmp)
    assert len(runs) == 4 and {run.info.status for run in runs} == {"FINISHED"}
    assert len({run.data.tags["sweep_id"] for run in runs}) == 1
    assert sorted(run.data.tags["sweep_job_num"] for run in runs) == ["0", "1", "2", "3"]

    summary = json.loads((sweep_dir / "sweep_summary.json").read_text())
    assert summary["metric"] == "val/mase" and summary["swept"] == ["optim.lr", "model.dropout"]
    values = [job["val/mase"] for job in summary["jobs"]]
    assert values == sorted(values) and len(values) == 4
    for job in summary["jobs"]:
        metrics = json.loads((sweep_dir / str(job["job"]) / "metrics.json").read_text())
        assert metrics["val"]["mase"] == pytest.approx(job["val/mase"])
    pairs = {(job["optim.lr"], job["model.dropout"]) for job in summary["jobs"]}
    assert pairs == {(lr, d) for lr in ("0.001", "0.003") for d in ("0.0", "0.1")}
    assert summary["best"]["job"] == summary["jobs"][0]["job"]
    assert (sweep_dir / "sweep_summary.csv").is_file() and (
        sweep_dir / "sweep_summary.md"
    ).is_file()


def test_local_grid_multirun_gives_four_runs_and_a_summary(tmp_path: Path) -> None:
    sweep_dir = _multirun(tmp_path, *GRID)
    _check_grid_sweep(tmp_path, sweep_dir)


def test_joblib_two_workers_share_a_fresh_sqlite_store(tmp_path: Path) -> None:
    # A fresh store: without preparing it first, both workers migrate the schema at once.
    assert not (tmp_path / "mlruns.db").exists()
    sweep_dir = _multirun(tmp_path, *GRID, "hydra/launcher=joblib", "hydra.launcher.n_jobs=2")
    _check_grid_sweep(tmp_path, sweep_dir)


def test_optuna_study_resumes_from_its_sqlite_storage(tmp_path: Path) -> None:
    search = ("hparams_search=mlp_optuna", "hydra.sweeper.n_trials=3")
    first = _multirun(tmp_path, *search, sweep="first")
    second = _multirun(tmp_path, *search, sweep="second")
    results = yaml.safe_load((second / "optimization_results.yaml").read_text())
    assert results["n_trials"] == 6 and results["n_complete"] == 6
    assert (tmp_path / "logs" / "optuna" / "mlp_gbm.db").is_file()
    assert len(_runs(tmp_path)) == 6
    sampled = [
        tuple(yaml.safe_load((sweep / str(n) / ".hydra" / "overrides.yaml").read_text())[:5])
        for sweep in (first, second)
        for n in range(3)
    ]
    assert len(set(sampled)) == 6, "the resumed study does not replay the first trials"
    assert json.loads((second / "sweep_summary.json").read_text())["swept"][0] == "optim.lr"


def test_plugins_are_discovered() -> None:
    result = subprocess.run(
        [sys.executable, "src/train.py", "--info", "plugins"],
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
        check=True,
    )
    assert "AzureMLLauncher" in result.stdout and "OptunaSweeper" in result.stdout


def test_azureml_launcher_dry_run_writes_valid_job_yaml(tmp_path: Path) -> None:
    from azure.ai.ml import load_job

    sweep_dir = _multirun(
        tmp_path,
        "hydra/launcher=azureml",
        "hydra.launcher.dry_run=true",
        "experiment=mlp_w10",
        "optim.lr=1e-3,3e-3",
        "model.hidden_sizes=[64,64],[128,128]",
    )
    files = sorted(sweep_dir.glob("*/azureml_job.yaml"))
    assert [f.parent.name for f in files] == ["0", "1", "2", "3"]
    commands = set()
    for path in files:
        job = load_job(path)
        assert job._validate().passed, job._validate().error_messages
        assert job.command.startswith("python src/train.py data.length=300 ")
        assert " experiment=mlp_w10 optim.lr=0.00" in job.command
        assert job.command.endswith(" registry=azureml hydra.run.dir=outputs/train")
        assert job.tags["sweep_job_num"] == path.parent.name
        commands.add(job.command.split("experiment=mlp_w10 ")[1])
    assert len(commands) == 4
    assert any(c.startswith("optim.lr=0.003 'model.hidden_sizes=[128,128]'") for c in commands)
    assert not (tmp_path / "mlruns.db").exists(), "nothing is tracked locally for cloud jobs"


def test_azureml_launcher_without_workspace_says_what_is_missing(tmp_path: Path) -> None:
    from stockcast.azureml.workspace import find_config_json

    if find_config_json(PROJECT_ROOT) is not None:
        pytest.skip("an Azure config.json is present: a workspace is configured")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AZUREML_", "AZURE_"))}
    env |= {"MPLBACKEND": "Agg", "PYTHONWARNINGS": "ignore", "DRY_RUN": "0"}
    args = ["-m", "hydra/launcher=azureml", "optim.lr=1e-3", *isolated_overrides(tmp_path)]
    result = subprocess.run(
        [sys.executable, "src/train.py", *args, f"hydra.sweep.dir={tmp_path}/sweep"],
        cwd=PROJECT_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 2, result.stderr[-3000:]
    line = result.stderr.strip().splitlines()[-1]
    assert line.startswith("error: No Azure ML workspace configured: missing subscription")
    assert line.endswith("or run with DRY_RUN=1 to only write the YAML.")


def test_azureml_launcher_refuses_optuna_without_wait(tmp_path: Path) -> None:
    result = run_cli(
        [
            "src/train.py",
            "-m",
            "hparams_search=mlp_optuna",
            "hydra/launcher=azureml",
            *isolated_overrides(tmp_path),
            f"hydra.sweep.dir={tmp_path}/sweep",
        ],
        tmp_path,
        check=False,
    )
    assert result.returncode == 2
    assert "hydra.launcher.wait=true" in result.stderr.strip().splitlines()[-1]
