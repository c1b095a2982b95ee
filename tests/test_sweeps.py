"""Sweeps end to end: local multirun, joblib in parallel on SQLite, resumable Optuna, Azure ML.

Each sweep is `python src/train.py -m ...` as a user types it (Hydra's multirun is the point),
started with the session in the background (`prestart`); plugin discovery and the launcher's
refusal of Optuna without waiting are checked in-process.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from mlflow import MlflowClient

from stockcast.paths import PROJECT_ROOT
from tests.conftest import (
    CLI_ENV,
    Command,
    Job,
    JobContext,
    azureml_launcher_refusal,
    isolated_overrides,
    prestart,
)

pytestmark = pytest.mark.slow

README = PROJECT_ROOT / "README.md"
TINY = ("data.length=300", "trainer.max_epochs=1", "data.batch_size=32")
GRID = ("optim.lr=1e-3,3e-3", "model.dropout=0.0,0.1")


def _multirun(
    tmp: Path, *overrides: str, sweep: str = "sweep", fresh: bool = False, check: bool = True
) -> Command:
    """`python src/train.py -m <TINY> <overrides>`, its sweep folder tmp/<sweep>."""
    return Command(
        (
            "src/train.py",
            "-m",
            *TINY,
            *isolated_overrides(tmp),
            f"hydra.sweep.dir={tmp / sweep}",
            *overrides,
        ),
        fresh=fresh,
        check=check,
    )


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
    # Each named apart in the UI (every job's was `train`): the task, the data's day, the job.
    for run in runs:
        day, job = run.data.params["data.as_of"], run.data.tags["sweep_job_num"]
        assert run.info.run_name == f"train-{day}-job{job}"
    # The sweep's folder as the runs' other paths name theirs (relative to the root or log
    # folder, else by its name): no folder of this machine in a store that may be copied.
    (tagged,) = {run.data.tags["sweep_dir"] for run in runs}
    assert tagged == f".../{sweep_dir.name}"

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
    # Every job read the data as of the day the sweep started, however long it ran.
    days = {
        yaml.safe_load((sweep_dir / job / "config_resolved.yaml").read_text())["data"]["as_of"]
        for job in ("0", "1", "2", "3")
    }
    assert len(days) == 1


# Only the joblib test needs a fresh store: the others start from an empty one (see seed_store).
def grid_sweep(job: JobContext) -> Job:
    return job.run(_multirun(job.seeded(), *GRID))


def joblib_sweep(job: JobContext) -> Job:
    # A fresh store: without preparing it first, both workers migrate the schema at once.
    assert not (job.tmp / "mlruns.db").exists()
    # A new interpreter: joblib's idle workers (kept for reuse) hold a fork's end-of-process
    # signal open for minutes after the sweep is done.
    launcher = ("hydra/launcher=joblib", "hydra.launcher.n_jobs=2")
    return job.run(_multirun(job.tmp, *GRID, *launcher, fresh=True))


def optuna_twice(job: JobContext) -> Job:
    search = ("hparams_search=mlp_optuna", "hydra.sweeper.n_trials=3")
    tmp = job.seeded()
    return job.run(_multirun(tmp, *search, sweep="first"), _multirun(tmp, *search, sweep="second"))


def failing_grid_sweep(job: JobContext) -> Job:
    # Job 0's window is longer than the data's train split allows: refused in prepare.
    return job.run(_multirun(job.seeded(), "data.previous_time_window=280,10", check=False))


@prestart(failing_grid_sweep)
def test_a_grid_sweep_with_a_refused_job_goes_on_and_ranks_it_last(prestarted_job: Job) -> None:
    """Hydra's grid sweepers stop at a job that raises: the refused one prints its `error:`
    line and ends without metrics, the others run, the summary ranks it last, and the sweep
    exits 2 saying how many were refused."""
    result, sweep_dir = prestarted_job.result, prestarted_job.tmp / "sweep"
    assert result.returncode == 2
    errors = [line for line in result.stderr.splitlines() if line.startswith("error: ")]
    assert len(errors) == 2 and "raise data.length=300 to at least" in errors[0]
    assert errors[1] == (
        "error: 1 of 2 jobs of the sweep were refused (their error lines above say why); the "
        "summary ranks them last."
    )
    assert "Traceback" not in result.stderr
    summary = json.loads((sweep_dir / "sweep_summary.json").read_text())
    assert [job["job"] for job in summary["jobs"]] == [1, 0]
    # The short job's model repeats the last price, and its status says so.
    assert [job["status"] for job in summary["jobs"]] == [
        "finished, repeats the last price",
        "no metrics",
    ]
    assert summary["best"]["job"] == 1


def readme_sweep_search(store: Path, sweep_id: str) -> list[str]:
    """The run ids the README's way to one sweep's runs finds: its calls as written, with the
    sweep's id for `<id>`, in a Python started in the store's folder, as a user would."""
    text = README.read_text().replace("\n", " ")
    told = text[text.index("find one sweep's runs") :][:600]
    calls = re.findall(r"`(mlflow\.\w+\(.*?\))`", told)
    calls = calls[: next(i for i, c in enumerate(calls) if c.startswith("mlflow.search_runs(")) + 1]
    *setup, search = calls
    code = "\n".join(
        ["import json, mlflow", *setup, f"print(json.dumps(list({search}['run_id'])))"]
    ).replace("<id>", sweep_id)
    env = {k: v for k, v in os.environ.items() if k != "MLFLOW_TRACKING_URI"}
    ran = subprocess.run(
        [sys.executable, "-c", code], cwd=store, env=env, capture_output=True, text=True
    )
    assert ran.returncode == 0, ran.stderr[-2000:]
    return sorted(json.loads(ran.stdout.splitlines()[-1]))


@prestart(grid_sweep)
def test_local_grid_multirun_gives_four_runs_and_a_summary(prestarted_job: Job) -> None:
    """The README's search finds the sweep's runs: it searched the active experiment (MLflow's
    Default) of the default store (mlflow.db in the folder it ran in), and found none."""
    _check_grid_sweep(prestarted_job.tmp, prestarted_job.tmp / "sweep")
    runs = _runs(prestarted_job.tmp)
    (sweep_id,) = {run.data.tags["sweep_id"] for run in runs}
    found = readme_sweep_search(prestarted_job.tmp, sweep_id)
    assert found == sorted(run.info.run_id for run in runs) and len(found) == 4


@prestart(joblib_sweep)
def test_joblib_two_workers_share_a_fresh_sqlite_store(prestarted_job: Job) -> None:
    _check_grid_sweep(prestarted_job.tmp, prestarted_job.tmp / "sweep")


@prestart(optuna_twice)
def test_optuna_study_resumes_from_its_sqlite_storage(prestarted_job: Job) -> None:
    tmp = prestarted_job.tmp
    first, second = tmp / "first", tmp / "second"
    results = yaml.safe_load((second / "optimization_results.yaml").read_text())
    assert results["n_trials"] == 6 and results["n_complete"] == 6
    assert (tmp / "logs" / "optuna" / "pipeline_stock_predictor_gbm.db").is_file()
    assert len(_runs(tmp)) == 6
    sampled = [
        tuple(yaml.safe_load((sweep / str(n) / ".hydra" / "overrides.yaml").read_text())[:5])
        for sweep in (first, second)
        for n in range(3)
    ]
    assert len(set(sampled)) == 6, "the resumed study does not replay the first trials"
    assert json.loads((second / "sweep_summary.json").read_text())["swept"][0] == "optim.lr"


def test_plugins_are_discovered() -> None:
    from hydra.core.plugins import Plugins
    from hydra.plugins.launcher import Launcher
    from hydra.plugins.sweeper import Sweeper

    plugins = Plugins.instance()
    assert "AzureMLLauncher" in {p.__name__ for p in plugins.discover(Launcher)}
    assert "OptunaSweeper" in {p.__name__ for p in plugins.discover(Sweeper)}


def azureml_dry_run_sweep(job: JobContext) -> Job:
    return job.run(
        _multirun(
            job.tmp,
            "hydra/launcher=azureml",
            "hydra.launcher.dry_run=true",
            "experiment=mlp_w10",
            "optim.lr=1e-3,3e-3",
            "model.hidden_sizes=[64,64],[128,128]",
        ),
        # A job the node would refuse is refused here, before any job is written or sent.
        _multirun(
            job.tmp,
            "hydra/launcher=azureml",
            "hydra.launcher.dry_run=true",
            "experiment=mlp_w10",
            "optim.lr=1e-3,-1",
            sweep="refused",
            check=False,
        ),
    )


@prestart(azureml_dry_run_sweep)
def test_azureml_launcher_dry_run_writes_valid_job_yaml(prestarted_job: Job) -> None:
    from azure.ai.ml import load_job

    tmp_path = prestarted_job.tmp
    sweep_dir = tmp_path / "sweep"
    files = sorted(sweep_dir.glob("*/azureml_job.yaml"))
    assert [f.parent.name for f in files] == ["0", "1", "2", "3"]
    commands = set()
    for path in files:
        job = load_job(path)
        assert job._validate().passed, job._validate().error_messages
        assert job.command.startswith("python src/train.py data.length=300 ")
        assert " experiment=mlp_w10 optim.lr=0.00" in job.command
        # The run's date, as make submit-train binds it.
        assert job.command.endswith(
            " registry=azureml hydra.run.dir=outputs/train data.as_of=$(date -u +%Y-%m-%d)"
        )
        assert job.tags["sweep_job_num"] == path.parent.name
        commands.add(job.command.split("experiment=mlp_w10 ")[1])
    assert len(commands) == 4
    assert any(c.startswith("optim.lr=0.003 'model.hidden_sizes=[128,128]'") for c in commands)
    assert not (tmp_path / "mlruns.db").exists(), "nothing is tracked locally for cloud jobs"
    refused = prestarted_job.results[1]
    assert refused.returncode == 2
    assert refused.stderr.strip().splitlines()[-1] == (
        "error: optim.lr is -1; it must be a number above 0."
    )
    assert not list((tmp_path / "refused").glob("*/azureml_job.yaml"))


def _workspace_configured() -> bool:
    from stockcast.orchestration.azureml.workspace import find_config_json

    return find_config_json(PROJECT_ROOT) is not None


def azureml_sweep_without_workspace(job: JobContext) -> Job:
    if _workspace_configured():  # the sweep would really submit: nothing to run
        return job.run()
    env = {k: v for k, v in job.env.items() if not k.startswith(("AZUREML_", "AZURE_"))}
    env |= {**CLI_ENV, "DRY_RUN": "0"}
    args = ["-m", "hydra/launcher=azureml", "optim.lr=1e-3", *isolated_overrides(job.tmp)]
    sweep = Command(
        ("src/train.py", *args, f"hydra.sweep.dir={job.tmp}/sweep"), env=env, check=False
    )
    return job.run(sweep)


@prestart(azureml_sweep_without_workspace)
def test_azureml_launcher_without_workspace_says_what_is_missing(prestarted_job: Job) -> None:
    if _workspace_configured():
        pytest.skip("an Azure config.json is present: a workspace is configured")
    result = prestarted_job.result
    assert result.returncode == 2, result.stderr[-3000:]
    line = result.stderr.strip().splitlines()[-1]
    assert line.startswith("error: No Azure ML workspace configured: missing subscription")
    assert line.endswith("or run with DRY_RUN=1 to only write the YAML.")


def test_azureml_launcher_reads_the_sweep_overrides_as_typed(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """`-m hydra/launcher=azureml 'tags=[${nope}]' local=mine`: reading the overrides resolved
    `${nope}`, so the sweep ended in Hydra's words ("cannot compose the train config:
    Interpolation key 'nope' not found") before any sentence naming a setting."""
    last = azureml_launcher_refusal(
        tmp_path, capsys, task_overrides=["tags=[${nope}]", "local=mine"]
    )
    assert last.startswith("error: local=mine names configs/local/, which stays on this machine")


def test_azureml_launcher_refuses_optuna_without_wait(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # What `src/train.py -m hparams_search=mlp_optuna hydra/launcher=azureml` hands the
    # launcher (the sweep's exit status and one line are test_..._says_what_is_missing's).
    last = azureml_launcher_refusal(tmp_path, capsys, ["hparams_search=mlp_optuna"])
    assert "hydra.launcher.wait=true" in last
