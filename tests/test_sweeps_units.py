"""Sweep building blocks without training: summary ranking, search space, tags, plugin configs."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import yaml
from optuna.distributions import CategoricalDistribution, FloatDistribution, IntDistribution

from hydra_plugins.stockcast_optuna_sweeper.job_folders import launched_job_folders
from hydra_plugins.stockcast_optuna_sweeper.trial_refusal import trial_refusal
from stockcast.errors import ConfigError
from stockcast.orchestration.sweeps import tracking
from stockcast.orchestration.sweeps.jobs import collect_jobs
from stockcast.orchestration.sweeps.search_space import parse_search_space
from stockcast.orchestration.sweeps.summary import summarize, to_markdown, write_summary
from stockcast.orchestration.sweeps.sweep_config import searched_keys
from stockcast.registry import runs


def _job(
    sweep: Path, num: int, overrides: list[str], val_mase: float | None, fell_back: bool = False
) -> None:
    job = sweep / str(num)
    (job / ".hydra").mkdir(parents=True)
    (job / ".hydra" / "overrides.yaml").write_text(yaml.safe_dump(overrides))
    if val_mase is not None:
        metrics = {"val": {"mase": val_mase, "loss": 1.0}, "test": {"mase": val_mase + 1}}
        (job / "metrics.json").write_text(json.dumps(metrics | {"fell_back_to_naive": fell_back}))


def test_summary_ranks_best_first_and_separates_swept_from_shared(tmp_path: Path) -> None:
    _job(tmp_path, 0, ["data.length=300", "optim.lr=0.001", "model.dropout=0.0"], 2.0, True)
    _job(tmp_path, 1, ["data.length=300", "optim.lr=0.001", "model.dropout=0.1"], 1.0)
    _job(tmp_path, 2, ["data.length=300", "optim.lr=0.003", "model.dropout=0.0"], None)
    _job(tmp_path, 3, ["data.length=300", "optim.lr=0.003", "model.dropout=0.1"], float("inf"))
    summary = summarize(collect_jobs(tmp_path), "val/mase")
    assert [job.num for job in summary.jobs] == [1, 0, 3, 2]
    assert summary.swept_keys == ["optim.lr", "model.dropout"]
    assert summary.common == {"data.length": "300"}
    assert summary.best is not None and summary.best.num == 1
    paths = write_summary(summary, tmp_path)
    assert [p.name for p in paths] == [
        "sweep_summary.csv",
        "sweep_summary.md",
        "sweep_summary.json",
    ]
    content = json.loads(paths[2].read_text())
    assert content["best"] == {"job": 1, "value": 1.0}
    assert content["jobs"][2]["val/mase"] is None, "inf is written as null"
    assert "| 1 | 1 | 0.001 | 0.1 | 1 | 2 | finished |" in to_markdown(summary)
    # A job whose model fell back to the last price says so: such jobs tie on the metric.
    assert "| 2 | 0 | 0.001 | 0.0 | 2 | 3 | finished, repeats the last price |" in (
        to_markdown(summary)
    )
    # A job whose fit diverged ranks last with the jobs that wrote nothing, and says why.
    assert [job["status"] for job in content["jobs"]] == [
        "finished",
        "finished, repeats the last price",
        "finished, val/mase not finite",
        "no metrics",
    ]
    maximized = summarize(collect_jobs(tmp_path), "val/mase", "maximize")
    assert [job.num for job in maximized.jobs] == [0, 1, 3, 2]
    assert summarize(collect_jobs(tmp_path), "val/rmse").status(summary.jobs[0]) == (
        "finished, val/rmse missing"
    )


def test_no_job_is_best_where_none_has_a_finite_metric(tmp_path: Path) -> None:
    """Jobs without a finite value of the ranked metric rank last and say so, and the summary
    named the first of them best where every job was one (every fit diverged)."""
    _job(tmp_path, 0, ["optim.lr=1.0"], float("inf"))
    _job(tmp_path, 1, ["optim.lr=2.0"], float("nan"))
    _job(tmp_path, 2, ["optim.lr=3.0"], None)
    for direction in ("minimize", "maximize"):
        summary = summarize(collect_jobs(tmp_path), "val/mase", direction)
        assert summary.best is None
        content = json.loads(write_summary(summary, tmp_path)[2].read_text())
        assert content["best"] is None


def test_a_searched_key_is_swept_in_the_summary_even_with_one_job(tmp_path: Path) -> None:
    """One trial added to a study (n_trials=1) put its searched values under "shared", and the
    CSV had no column for them."""
    _job(tmp_path, 0, ["data.length=300", "optim.lr=0.002", "model.dropout=0.1"], 1.0)
    searched = searched_keys(
        {"optim.lr": "tag(log, interval(1e-4, 3e-2))"}, ["model.dropout=0.1,0.2", "data.length=300"]
    )
    assert searched == ["optim.lr", "model.dropout"]
    # A key the sweeper adds (`+`) is the job's key without it.
    assert searched_keys({"+model.foo": "interval(0, 1)"}, []) == ["model.foo"]
    summary = summarize(collect_jobs(tmp_path), "val/mase", searched=searched)
    assert summary.swept_keys == ["optim.lr", "model.dropout"]
    assert summary.common == {"data.length": "300"}


def test_search_space_from_params_and_command_line() -> None:
    space = parse_search_space(
        {
            "optim.lr": "tag(log, interval(1e-4, 1e-2))",
            "model.hidden_sizes": "choice([64,64],[128,128])",
            "data.previous_time_window": "choice(5, 10)",
            "model.dropout": "interval(0.0, 0.3)",
        },
        ["model.dropout=0.1", "trainer.max_epochs=tag(int, interval(1, 3))", "data.length=300"],
    )
    dists = space.distributions
    assert dists["optim.lr"] == FloatDistribution(1e-4, 1e-2, log=True)
    assert dists["model.hidden_sizes"] == CategoricalDistribution(["[64,64]", "[128,128]"])
    assert dists["data.previous_time_window"] == CategoricalDistribution([5, 10])
    assert dists["trainer.max_epochs"] == IntDistribution(1, 3)
    assert "model.dropout" not in dists, "a plain command-line value pins the parameter"
    assert space.fixed == ["model.dropout=0.1", "data.length=300"]
    overrides = space.trial_overrides(
        {"optim.lr": 0.001, "model.hidden_sizes": "[64,64]", "data.previous_time_window": 5}
    )
    assert overrides[:3] == [
        "optim.lr=0.001",
        "model.hidden_sizes=[64,64]",
        "data.previous_time_window=5",
    ]


def test_hydras_int_cast_of_an_interval_samples_whole_numbers() -> None:
    """`int(interval(2, 12))`, Hydra's cast, sampled floats, which an int key refused in every
    trial (`model.lags is 5.7...; it must be a valid integer`)."""
    space = parse_search_space(
        {"model.lags": "int(interval(2, 12))", "optim.lr": "tag(log, int(interval(1, 8)))"}, []
    )
    assert space.distributions["model.lags"] == IntDistribution(2, 12)
    assert space.distributions["optim.lr"] == IntDistribution(1, 8, log=True)
    assert parse_search_space({"x": "interval(2, 12)"}, []).distributions["x"] == (
        FloatDistribution(2.0, 12.0)
    )


def test_search_space_refuses_glob_sweeps() -> None:
    with pytest.raises(ConfigError, match="choice"):
        parse_search_space({}, ["model=glob(*)"])


def test_an_interval_optuna_cannot_draw_from_is_one_sentence() -> None:
    """Optuna's ValueError for these was a traceback as the sweep started."""
    with pytest.raises(ConfigError) as refused:
        parse_search_space({}, ["model.dropout=interval(0.3,0)"])
    assert str(refused.value) == (
        "model.dropout=interval(0.3,0): its low end 0.3 is above its high end 0.0; give "
        "interval(low, high) with low at most high."
    )
    with pytest.raises(ConfigError) as refused:
        parse_search_space({"optim.lr": "tag(log, interval(0, 1e-2))"}, [])
    assert str(refused.value) == (
        "optim.lr=tag(log, interval(0, 1e-2)): a log scale needs a low end above 0, not 0.0; "
        "give a positive low end or drop tag(log, ...)."
    )
    with pytest.raises(ConfigError, match="its low end 4 is above its high end 1"):
        parse_search_space({}, ["data.previous_time_window=int(interval(4,1))"])
    # A range of one value is drawn from.
    assert parse_search_space({}, ["model.dropout=interval(0.1,0.1)"]).distributions


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


def test_a_stored_study_searched_over_other_choices_is_refused_in_one_sentence(
    tmp_path: Path,
) -> None:
    import optuna

    from hydra_plugins.stockcast_optuna_sweeper.optuna_sweeper import OptunaSweeper

    storage = f"sqlite:///{tmp_path}/study.db"
    study = optuna.create_study(storage=storage, study_name="s")
    old = {"data.normalization": CategoricalDistribution(["per_window", "standard"])}
    study.tell(study.ask(old), 1.0)
    sweeper = OptunaSweeper(None, "minimize", storage, "s", 1, 1, 0, {})
    new = {"data.normalization": CategoricalDistribution(["[per_window,standard]", "standard"])}
    with pytest.raises(ConfigError) as refused:
        sweeper._ask(study, new)
    assert str(refused.value) == (
        f"study 's' in {storage} was searched over other choices for data.normalization than "
        "hydra.sweeper.params now gives; pass a new hydra.sweeper.study_name to start a fresh "
        "search."
    )
    # The same choices ask as before.
    assert sweeper._ask(study, old).params["data.normalization"] in ("per_window", "standard")
    # A log scale switched off for a parameter is refused the same way.
    study.tell(study.ask({"optim.lr": FloatDistribution(1e-4, 1e-2, log=True)}), 1.0)
    with pytest.raises(ConfigError, match=r"was searched with another scale \(log or linear\)"):
        sweeper._ask(study, {"optim.lr": FloatDistribution(1e-4, 1e-2)})

    class Failing:
        def ask(self, distributions: dict) -> None:
            raise ValueError("another problem")

    # Any other error of Optuna's is not mistaken for a changed choice list.
    with pytest.raises(ValueError, match="another problem"):
        sweeper._ask(Failing(), old)


def test_a_stored_study_searched_with_another_kind_of_values_is_refused_before_a_trial(
    tmp_path: Path,
) -> None:
    """A range where the study drew from a choice (or whole numbers where it drew floats) was
    Optuna's ValueError as a traceback, and left the trial it asked RUNNING in the study."""
    import optuna

    from hydra_plugins.stockcast_optuna_sweeper.optuna_sweeper import OptunaSweeper

    storage = f"sqlite:///{tmp_path}/study.db"
    study = optuna.create_study(storage=storage, study_name="s")
    study.tell(study.ask({"model.dropout": FloatDistribution(0.0, 0.3)}), 1.0)
    sweeper = OptunaSweeper(None, "minimize", storage, "s", 1, 1, 0, {})
    new = {"model.dropout": CategoricalDistribution([0.1, 0.2])}
    with pytest.raises(ConfigError) as refused:
        sweeper._check_space(study, new)
    assert str(refused.value) == (
        f"study 's' in {storage} was searched with another kind of values (a choice, a range, "
        "whole numbers) for model.dropout than hydra.sweeper.params now gives; pass a new "
        "hydra.sweeper.study_name to start a fresh search."
    )
    with pytest.raises(ConfigError, match="another kind of values"):
        sweeper._ask(study, {"model.dropout": IntDistribution(0, 3)})
    # A new range of the same kind, and a key the study never searched, pass.
    sweeper._check_space(study, {"model.dropout": FloatDistribution(0.0, 0.5)})
    sweeper._check_space(study, {"optim.lr": CategoricalDistribution([1e-3])})


def test_a_sweep_stopped_by_a_user_error_prints_one_line_and_exits_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Hydra calls the sweeper outside the task's error handling: the sweeper itself turns a
    StockcastError (here the changed choice list, before any job runs) into the CLI contract."""
    import optuna

    storage = f"sqlite:///{tmp_path}/study.db"
    study = optuna.create_study(storage=storage, study_name="s")
    study.tell(study.ask({"data.normalization": CategoricalDistribution(["per_window"])}), 1.0)

    class NoJobs:
        def launch(self, *args: object, **kwargs: object) -> None:
            raise AssertionError("no job may run")

    params = {"data.normalization": "choice([per_window,standard], standard)"}
    sweeper = random_sweeper(storage, tmp_path, NoJobs(), params)
    with pytest.raises(SystemExit) as exit_info:
        sweeper.sweep([])
    assert exit_info.value.code == 2
    assert capsys.readouterr().err.strip().splitlines()[-1] == (
        f"error: study 's' in {storage} was searched over other choices for data.normalization "
        "than hydra.sweeper.params now gives; pass a new hydra.sweeper.study_name to start a "
        "fresh search."
    )
    # Refused before a trial was asked: none is left RUNNING in the study for good.
    states = [trial.state for trial in optuna.load_study(study_name="s", storage=storage).trials]
    assert states == [optuna.trial.TrialState.COMPLETE]


def test_a_batch_that_cannot_launch_leaves_no_trial_running(tmp_path: Path) -> None:
    """A trial whose overrides do not compose (hparams_search=mlp_optuna's model.hidden_sizes
    with experiment=auto's ensemble) stops the sweep; its batch's trials are told as FAIL, not
    left RUNNING in the stored study, and the sentence names the trial that does not compose."""
    import optuna
    from hydra.errors import ConfigCompositionException

    storage = f"sqlite:///{tmp_path}/study.db"

    class CannotCompose:
        def launch(self, *args: object, **kwargs: object) -> None:
            raise ConfigCompositionException("Could not override 'model.hiden_sizes'.")

    params = {"model.hiden_sizes": "choice(32,64)"}
    sweeper = random_sweeper(storage, tmp_path, CannotCompose(), params, trials=4, jobs=2)
    with pytest.raises(ConfigError) as refused:
        sweeper._sweep([])
    study = optuna.load_study(study_name="s", storage=storage)
    assert [t.state for t in study.trials] == [optuna.trial.TrialState.FAIL] * 2
    assert re.fullmatch(
        r"Optuna trial 0 \(model\.hiden_sizes=(32|64)\) does not compose \(model\.hiden_sizes "
        r"is not a setting of the train config; did you mean model\.hidden_sizes\?\): its keys "
        r"come from the search space \(hydra\.sweeper\.params\), so choose the hparams_search "
        r"made for this run's model \(one of auto_optuna or mlp_optuna\) or search keys its "
        r"config has\.",
        str(refused.value),
    ), str(refused.value)
    # In a batch, the trial named is the one that does not compose, not the batch's first.
    batch = [("optim.lr=0.01",), ("model.hiden_sizes=[1]",)]
    named = trial_refusal(sweeper.config, ConfigCompositionException("x"), 4, batch)
    assert named is not None and str(named).startswith(
        "Optuna trial 5 (model.hiden_sizes=[1]) does not compose ("
    )

    class Interrupted:
        def launch(self, *args: object, **kwargs: object) -> None:
            raise KeyboardInterrupt

    sweeper.launcher = Interrupted()  # type: ignore[assignment]
    with pytest.raises(KeyboardInterrupt):  # any other error goes on as it was
        sweeper._sweep([])
    study = optuna.load_study(study_name="s", storage=storage)
    assert [t.state for t in study.trials] == [optuna.trial.TrialState.FAIL] * 4


@pytest.mark.parametrize("given_as", ["--config-dir", "hydra.searchpath"])
def test_a_trial_refusal_composes_from_the_sweeps_config_dir(tmp_path: Path, given_as: str) -> None:
    """`--config-dir mine -m model=myets hparams_search=...` (or `hydra.searchpath=[file://mine]`):
    the trial that did not compose was composed again from configs/ alone, so the sentence named
    `model=myets` (which the sweep found) instead of the search's key, and listed none of the
    folder's searches."""
    from hydra.conf import ConfigSourceInfo
    from hydra.errors import ConfigCompositionException
    from omegaconf import OmegaConf

    from stockcast.paths import CONFIG_DIR

    mine = tmp_path / "mine"
    (mine / "model").mkdir(parents=True)
    (mine / "model" / "myets.yaml").write_text((CONFIG_DIR / "model" / "ets.yaml").read_text())
    (mine / "hparams_search").mkdir()
    (mine / "hparams_search" / "ets_optuna.yaml").write_text("# @package _global_\n")
    sweeper = random_sweeper(f"sqlite:///{tmp_path}/study.db", tmp_path, None, {})
    sources = [ConfigSourceInfo(path=str(CONFIG_DIR), schema="file", provider="main")]
    if given_as == "--config-dir":
        sources.append(ConfigSourceInfo(path=str(mine), schema="file", provider="command-line"))
    else:
        sweeper.config.hydra.searchpath = [f"file://{mine}"]
    sweeper.config.hydra.runtime = {"config_sources": [OmegaConf.structured(s) for s in sources]}
    batch = [("model.hidden_sizes=[1]", "model=myets")]
    refusal = trial_refusal(sweeper.config, ConfigCompositionException("x"), 0, batch)
    assert str(refusal) == (
        "Optuna trial 0 (model.hidden_sizes=[1] model=myets) does not compose (model.hidden_sizes "
        "is not a setting of the train config; remove it (model holds anchor, combination, "
        "combination_power, huber_delta, interval_levels, interval_scale_values, kind, loss, "
        "quantiles, trends, values and window_scale_power)): its keys come from the search space "
        "(hydra.sweeper.params), so choose the hparams_search made for this run's model (one of "
        "auto_optuna, ets_optuna or mlp_optuna) or search keys its config has."
    )


def test_a_batch_interrupted_after_a_job_finished_keeps_that_jobs_value(tmp_path: Path) -> None:
    """A launch that raises returns no values: a job that finished before it (its metrics.json
    written during this launch, for its trial's overrides) is told its metric, not FAIL; the
    trials' folders are numbered after the one an earlier sweep left."""
    import optuna

    storage = f"sqlite:///{tmp_path}/study.db"
    sweep = tmp_path / "sweep"

    def finished_job(number: int, overrides: list[str], mase: float) -> None:
        folder = sweep / str(number)
        (folder / ".hydra").mkdir(parents=True, exist_ok=True)
        (folder / ".hydra" / "overrides.yaml").write_text(yaml.safe_dump(overrides))
        (folder / "metrics.json").write_text(json.dumps({"val": {"mase": mase}}))

    finished_job(1, ["optim.lr=0.5"], 0.1)  # an earlier sweep's job 1

    class InterruptedAfterTheFirstJob:
        def launch(self, batch: list[tuple[str, ...]], initial_job_idx: int) -> None:
            finished_job(initial_job_idx, list(batch[0]), 0.75)
            raise KeyboardInterrupt

    params = {"optim.lr": "interval(0.001, 0.01)"}
    sweeper = random_sweeper(
        storage, tmp_path, InterruptedAfterTheFirstJob(), params, trials=2, jobs=2
    )
    sweeper.config.optimized_metric = "val/mase"
    with pytest.raises(KeyboardInterrupt):
        sweeper._sweep([])
    study = optuna.load_study(study_name="s", storage=storage)
    states = [t.state for t in study.trials]
    assert states == [optuna.trial.TrialState.COMPLETE, optuna.trial.TrialState.FAIL]
    assert study.trials[0].value == 0.75
    # Numbered after the earlier sweep's folder, never in it.
    assert study.trials[0].user_attrs["job_dir"] == str(sweep / "2")
    # The best trial so far is written, as a finished sweep would leave it.
    results = yaml.safe_load((sweep / "optimization_results.yaml").read_text())
    assert (results["best_value"], results["n_complete"]) == (0.75, 1)

    class InterruptedWhileWriting:
        """Job 2's metric was not finite (stored as null, returned as inf); job 3 was killed
        halfway through writing its metrics.json."""

        def launch(self, batch: list[tuple[str, ...]], initial_job_idx: int) -> None:
            finished_job(initial_job_idx, list(batch[0]), float("nan"))
            (sweep / str(initial_job_idx) / "metrics.json").write_text('{"val": {"mase": null}}')
            finished_job(initial_job_idx + 1, list(batch[1]), 0.5)
            (sweep / str(initial_job_idx + 1) / "metrics.json").write_text('{"val": {"ma')
            raise KeyboardInterrupt

    sweeper.launcher = InterruptedWhileWriting()  # type: ignore[assignment]
    with pytest.raises(KeyboardInterrupt):
        sweeper._sweep([])
    trials = optuna.load_study(study_name="s", storage=storage).trials[2:]
    assert [t.state for t in trials] == [
        optuna.trial.TrialState.COMPLETE,
        optuna.trial.TrialState.FAIL,
    ]
    assert trials[0].value == float("inf")
    # A best-trial file that cannot be written does not hide what stopped the batch.
    results = sweep / "optimization_results.yaml"
    results.unlink()
    results.mkdir()
    sweeper.launcher = InterruptedAfterTheFirstJob()  # type: ignore[assignment]
    with pytest.raises(KeyboardInterrupt):
        sweeper._sweep([])


def test_a_metric_that_was_not_finite_ranks_last_whichever_the_direction(tmp_path: Path) -> None:
    """The train task returns inf for a metric that was not finite: a maximising study must not
    take it for its best trial."""
    import optuna
    from hydra.core.utils import JobReturn, JobStatus

    class Returns:
        def launch(self, batch: list[tuple[str, ...]], initial_job_idx: int) -> list[JobReturn]:
            values = [float("inf"), 0.3]
            return [
                JobReturn(overrides=list(o), status=JobStatus.COMPLETED, _return_value=v)
                for o, v in zip(batch, values, strict=True)
            ]

    storage = f"sqlite:///{tmp_path}/study.db"
    params = {"optim.lr": "interval(0.001, 0.01)"}
    sweeper = random_sweeper(storage, tmp_path, Returns(), params, 2, 2, direction="maximize")
    best = sweeper._sweep([])
    assert best.value == 0.3
    values = [t.value for t in optuna.load_study(study_name="s", storage=storage).trials]
    assert values == [float("-inf"), 0.3]


def test_a_trials_job_folder_is_where_the_sweep_subdir_put_it(tmp_path: Path) -> None:
    """hydra.sweep.subdir=${hydra.job.override_dirname}: the best trial's job_dir named a
    numbered folder that was never made, for a finished batch and for an interrupted one."""
    import optuna
    from hydra.core.utils import JobReturn, JobStatus
    from omegaconf import OmegaConf

    sweep = tmp_path / "sweep"

    def job_folder(number: int, overrides: tuple[str, ...]) -> Path:
        folder = sweep / ",".join(overrides)
        (folder / ".hydra").mkdir(parents=True)
        (folder / ".hydra" / "overrides.yaml").write_text(yaml.safe_dump(list(overrides)))
        (folder / ".hydra" / "hydra.yaml").write_text(
            yaml.safe_dump({"hydra": {"job": {"num": number}}})
        )
        (folder / "metrics.json").write_text(json.dumps({"val": {"mase": 0.4}}))
        return folder

    class Returns:
        def launch(self, batch: list[tuple[str, ...]], initial_job_idx: int) -> list[JobReturn]:
            return [
                JobReturn(
                    overrides=list(o),
                    status=JobStatus.COMPLETED,
                    _return_value=0.4,
                    # As Hydra's run_job sets them: jobs do not chdir, so working_dir is the
                    # folder the sweep started in.
                    working_dir=str(tmp_path),
                    hydra_cfg=OmegaConf.create(
                        {
                            "hydra": {
                                "runtime": {"output_dir": str(job_folder(initial_job_idx + i, o))}
                            }
                        }
                    ),
                )
                for i, o in enumerate(batch)
            ]

    storage = f"sqlite:///{tmp_path}/study.db"
    params = {"optim.lr": "interval(0.001, 0.01)"}
    sweeper = random_sweeper(storage, tmp_path, Returns(), params)
    sweeper._sweep([])
    (trial,) = optuna.load_study(study_name="s", storage=storage).trials
    assert trial.user_attrs["job_dir"] == str(sweep / f"optim.lr={trial.params['optim.lr']}")
    results = yaml.safe_load((sweep / "optimization_results.yaml").read_text())
    assert results["best_job_dir"] == trial.user_attrs["job_dir"]

    class InterruptedAfterTheJob:
        def launch(self, batch: list[tuple[str, ...]], initial_job_idx: int) -> None:
            job_folder(initial_job_idx, batch[0])
            raise KeyboardInterrupt

    sweeper.launcher = InterruptedAfterTheJob()  # type: ignore[assignment]
    sweeper.config.optimized_metric = "val/mase"
    with pytest.raises(KeyboardInterrupt):
        sweeper._sweep([])
    trial = optuna.load_study(study_name="s", storage=storage).trials[1]
    assert trial.value == 0.4  # read from its folder's metrics.json, wherever it lies
    assert trial.user_attrs["job_dir"] == str(sweep / f"optim.lr={trial.params['optim.lr']}")


def test_the_optimised_value_read_back_from_metrics_json_is_what_the_job_returned() -> None:
    """A launcher without the job's return value (a cloud job, a stopped batch) reads it from
    metrics.json, where a metric that was not finite is stored as null: inf, as returned."""
    from stockcast.orchestration.sweeps.metric import optimized_value

    assert optimized_value({"val": {"mase": 0.5}}, "val/mase") == 0.5
    assert optimized_value({"val": {"mase": float("nan")}}, "val/mase") == float("inf")
    assert optimized_value(json.loads('{"val": {"mase": null}}'), "val/mase") == float("inf")
    assert optimized_value({"val": {"mase": 0.5}}, None) is None
    with pytest.raises(ConfigError) as refused:
        optimized_value({"val": {"mase": 0.5}}, "val/smape")
    assert str(refused.value) == (
        "optimized_metric 'val/smape' was not computed; use one of ['val/mase']."
    )


def random_sweeper(
    storage: str,
    tmp_path: Path,
    launcher: object,
    params: dict[str, str],
    trials: int = 1,
    jobs: int = 1,
    direction: str = "minimize",
):
    """The Optuna sweeper over study 's' in `storage`, random sampling, no failures allowed,
    set up as Hydra would with `launcher` and a sweep folder under `tmp_path`."""
    from omegaconf import OmegaConf

    from hydra_plugins.stockcast_optuna_sweeper.optuna_sweeper import OptunaSweeper

    sampler = {"_target_": "optuna.samplers.RandomSampler"}
    sweeper = OptunaSweeper(sampler, direction, storage, "s", trials, jobs, 0, params)
    sweep = {"dir": str(tmp_path / "sweep")}
    sweeper.config = OmegaConf.create({"optimized_metric": "val/mase", "hydra": {"sweep": sweep}})
    sweeper.launcher = launcher  # type: ignore[assignment]
    return sweeper


def test_a_study_resumed_with_other_overrides_is_refused(tmp_path: Path) -> None:
    """Trials on another data file or experiment joined the study under the same name, and its
    best trial could be one trained on other data."""
    from hydra_plugins.stockcast_optuna_sweeper.study import FIXED_OVERRIDES_ATTR, open_study

    storage = f"sqlite:///{tmp_path}/study.db"
    sampler = {"_target_": "optuna.samplers.RandomSampler"}
    first = ["data=csv", "data.path=a.csv"]
    study = open_study(storage, "s", "minimize", sampler, first)
    study.tell(study.ask({"x": FloatDistribution(0, 1)}), 1.0)
    assert len(open_study(storage, "s", "minimize", sampler, first[::-1]).trials) == 1
    with pytest.raises(ConfigError) as refused:
        open_study(storage, "s", "minimize", sampler, ["data=csv", "data.path=b.csv"])
    assert str(refused.value) == (
        f"study 's' in {storage} was searched with the overrides data.path=a.csv data=csv, this "
        "sweep gives data.path=b.csv data=csv: trials on other data or settings do not compare; "
        "give the same overrides to add trials, or a new hydra.sweeper.study_name."
    )
    with pytest.raises(ConfigError, match=r"^hydra.sweeper.storage sqlite:////proc/x/s.db cannot"):
        open_study("sqlite:////proc/x/s.db", "s", "minimize", sampler, [])
    # What changes nothing a trial scores (logging, console output) may change.
    assert open_study(storage, "s", "minimize", sampler, [*first, "logger=csv"]).trials
    # A warm start changes every trial's starting weights: its scores do not compare.
    with pytest.raises(
        ConfigError, match=r"this sweep gives data\.path=a\.csv data=csv train\.init"
    ):
        open_study(storage, "s", "minimize", sampler, [*first, "train.init_from=champion"])
    # A record from before unscored keys were left out is read as it would be written now.
    study.set_user_attr(FIXED_OVERRIDES_ATTR, sorted([*first, "logger=csv"]))
    assert open_study(storage, "s", "minimize", sampler, first).trials


def test_a_sweep_pins_its_data_day_and_a_later_days_run_is_refused(tmp_path: Path) -> None:
    """data.as_of defaults to today: the same command run on a later day trained on other data
    and added its trials to the study, whose best trial then compared scores of two datasets."""
    from omegaconf import OmegaConf

    from hydra_plugins.stockcast_optuna_sweeper.study import (
        FIXED_OVERRIDES_ATTR,
        open_study,
        pinned_data_day,
    )

    config = OmegaConf.create({"data": {"as_of": "2026-12-01"}})
    assert pinned_data_day(config, parse_search_space({}, ["data=csv"])) == [
        "data.as_of=2026-12-01"
    ]
    assert pinned_data_day(config, parse_search_space({}, ["data.as_of=2020-01-01"])) == []
    # A searched day is each trial's own: pinned after it, today's would win.
    searched = parse_search_space({"data.as_of": "choice(2026-01-30,2026-06-30)"}, [])
    assert pinned_data_day(config, searched) == []
    assert pinned_data_day(OmegaConf.create({"x": 1}), parse_search_space({}, [])) == []
    storage = f"sqlite:///{tmp_path}/study.db"
    sampler = {"_target_": "optuna.samplers.RandomSampler"}
    first = ["data=seasonal", "data.as_of=2026-12-01"]
    study = open_study(storage, "s", "minimize", sampler, first)
    study.tell(study.ask({"x": FloatDistribution(0, 1)}), 1.0)
    with pytest.raises(ConfigError, match=r"this sweep gives data\.as_of=2026-12-02 data=seas"):
        open_study(storage, "s", "minimize", sampler, ["data=seasonal", "data.as_of=2026-12-02"])
    # A study recorded before the day was pinned does not know its day: not refused for it.
    study.set_user_attr(FIXED_OVERRIDES_ATTR, ["data=seasonal"])
    assert open_study(storage, "s", "minimize", sampler, first).trials


def test_a_search_over_experiments_leaves_each_its_own_data_day() -> None:
    """An experiment may set its own data.as_of (a backfill day): the sweep's day, given to
    every trial as an override, replaced it where the search picks the experiment
    (`experiment=choice(a,b)`) or the data config. The study still records the day."""
    from omegaconf import OmegaConf

    from hydra_plugins.stockcast_optuna_sweeper.study import day_given_to_trials, pinned_data_day

    choices = {"experiment": None, "data": "gbm", "model": "mlp"}
    config = OmegaConf.create(
        {"data": {"as_of": "2026-12-01"}, "hydra": {"runtime": {"choices": choices}}}
    )
    pinned = ["data.as_of=2026-12-01"]
    for searched in ("experiment=choice(a,b)", "data=choice(gbm,csv)"):
        space = parse_search_space({}, [searched, "optim.lr=interval(1e-4,1e-2)"])
        assert pinned_data_day(config, space) == pinned
        assert day_given_to_trials(config, space, pinned) == []
    space = parse_search_space({}, ["experiment=a", "optim.lr=interval(1e-4,1e-2)"])
    assert day_given_to_trials(config, space, pinned) == pinned


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


def test_a_study_without_a_scored_trial_takes_the_overrides_of_its_next_run(
    tmp_path: Path,
) -> None:
    """A first run whose every trial failed (a misspelt data.path) locked the study to it; a
    study from before the record existed took any overrides for ever."""
    import optuna

    from hydra_plugins.stockcast_optuna_sweeper.study import FIXED_OVERRIDES_ATTR, open_study

    storage = f"sqlite:///{tmp_path}/study.db"
    sampler = {"_target_": "optuna.samplers.RandomSampler"}
    study = open_study(storage, "s", "minimize", sampler, ["data.path=prices.cvs"])
    study.tell(study.ask({"x": FloatDistribution(0, 1)}), state=optuna.trial.TrialState.FAIL)
    study = open_study(storage, "s", "minimize", sampler, ["data.path=prices.csv"])
    assert study.user_attrs[FIXED_OVERRIDES_ATTR] == ["data.path=prices.csv"]

    old = optuna.create_study(storage=storage, study_name="old")
    old.tell(old.ask({"x": FloatDistribution(0, 1)}), 1.0)
    open_study(storage, "old", "minimize", sampler, ["data.path=a.csv"])
    with pytest.raises(ConfigError, match=r"was searched with the overrides data\.path=a\.csv"):
        open_study(storage, "old", "minimize", sampler, ["data.path=b.csv"])


def test_too_many_failed_trials_stop_the_study_with_its_best_trial_written(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from types import SimpleNamespace

    class SecondSucceeds:
        launched = 0

        def launch(self, batch: list[tuple[str, ...]], initial_job_idx: int) -> list:
            self.launched += 1
            ok = self.launched == 2

            class Failed:
                overrides = ("optim.lr=0.005",)

                @property
                def return_value(self) -> float:
                    raise RuntimeError("refused")

            return [SimpleNamespace(return_value=0.5) if ok else Failed() for _ in batch]

    params = {"optim.lr": "interval(0.001, 0.01)"}
    sweeper = random_sweeper(f"sqlite:///{tmp_path}/s.db", tmp_path, SecondSucceeds(), params, 5)
    sweeper.max_failures = 1
    with pytest.raises(SystemExit) as exit_info:
        sweeper.sweep([])
    assert exit_info.value.code == 2
    assert "2 Optuna trials failed (hydra.sweeper.max_failures=1)" in capsys.readouterr().err
    results = yaml.safe_load((tmp_path / "sweep" / "optimization_results.yaml").read_text())
    assert (results["best_value"], results["n_trials"]) == (0.5, 3)


def test_a_bad_sweeper_setting_is_one_sentence(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Checked in the sweeper's constructor, it reached the user wrapped in Hydra's
    instantiation error, exit status 1."""
    sweeper = random_sweeper(f"sqlite:///{tmp_path}/s.db", tmp_path, object(), {}, direction="max")
    with pytest.raises(SystemExit) as exit_info:
        sweeper.sweep([])
    assert exit_info.value.code == 2
    assert capsys.readouterr().err.strip() == (
        "error: hydra.sweeper.direction is 'max'; it must be one of ('minimize', 'maximize')."
    )


@pytest.mark.parametrize(
    ("trials", "jobs", "said"),
    [
        (0, 1, "hydra.sweeper.n_trials is 0; give the trials this run adds, 1 or more."),
        (2, -1, "hydra.sweeper.n_jobs is -1; give the trials to run at a time, 1 or more."),
    ],
)
def test_a_trial_count_below_one_is_named_with_its_value(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], trials: int, jobs: int, said: str
) -> None:
    """One sentence named both settings: the user had to find which was wrong, and why."""
    sweeper = random_sweeper(
        f"sqlite:///{tmp_path}/s.db", tmp_path, object(), {}, trials=trials, jobs=jobs
    )
    with pytest.raises(SystemExit) as exit_info:
        sweeper.sweep(["optim.lr=interval(1e-4,1e-2)"])
    assert exit_info.value.code == 2
    assert capsys.readouterr().err.strip() == f"error: {said}"


def test_an_optuna_sweep_without_a_metric_is_refused_before_a_trial_trains(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """With optimized_metric=null every trial trained, returned no value and was told FAIL:
    hydra.sweeper.max_failures + 1 fits lost before the study stopped."""

    class NoJobs:
        def launch(self, *args: object, **kwargs: object) -> None:
            raise AssertionError("no job may run")

    sweeper = random_sweeper(f"sqlite:///{tmp_path}/s.db", tmp_path, NoJobs(), {})
    sweeper.config.optimized_metric = None
    with pytest.raises(SystemExit) as exit_info:
        sweeper.sweep(["optim.lr=interval(1e-4,1e-2)"])
    assert exit_info.value.code == 2
    assert capsys.readouterr().err.strip() == (
        "error: optimized_metric is null; the Optuna sweeper tells the study each trial's value "
        "of it, so give a validation metric such as optimized_metric=val/mase."
    )


def test_an_optuna_sweep_ranking_by_no_validation_metric_is_refused_before_its_study(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Each trial was refused for it in turn and told FAIL in the stored study, until more than
    hydra.sweeper.max_failures had failed."""
    import optuna

    class NoJobs:
        def launch(self, *args: object, **kwargs: object) -> None:
            raise AssertionError("no job may run")

    storage = f"sqlite:///{tmp_path}/s.db"
    sweeper = random_sweeper(storage, tmp_path, NoJobs(), {})
    sweeper.config.optimized_metric = "val/nope"
    with pytest.raises(SystemExit) as exit_info:
        sweeper.sweep(["optim.lr=interval(1e-4,1e-2)"])
    assert exit_info.value.code == 2
    assert capsys.readouterr().err.strip() == (
        "error: optimized_metric is 'val/nope', which no fit computes; use one of val/loss, "
        "val/mae, val/rmse, val/mape, val/mase, val/naive_mase."
    )
    assert not optuna.get_all_study_names(storage)


def test_a_negative_max_failures_is_refused_before_a_trial_trains(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """No failure at all is more than -1: the study stopped after its first batch had trained,
    saying 0 trials failed."""

    class NoJobs:
        def launch(self, *args: object, **kwargs: object) -> None:
            raise AssertionError("no job may run")

    sweeper = random_sweeper(f"sqlite:///{tmp_path}/s.db", tmp_path, NoJobs(), {})
    sweeper.max_failures = -1
    with pytest.raises(SystemExit) as exit_info:
        sweeper.sweep(["optim.lr=interval(1e-4,1e-2)"])
    assert exit_info.value.code == 2
    assert capsys.readouterr().err.strip() == (
        "error: hydra.sweeper.max_failures is -1; give the failed trials a run may have before "
        "it stops, 0 or more."
    )


def test_the_summary_counts_only_the_jobs_of_this_sweep(tmp_path: Path) -> None:
    """A sweep into a folder an earlier one used: its folders, and a metrics.json that a job of
    this sweep refused before writing its own, were counted as this sweep's finished jobs."""
    import os

    def job(number: int, metrics: bool, at: float) -> None:
        folder = tmp_path / str(number)
        (folder / ".hydra").mkdir(parents=True)
        (folder / ".hydra" / "overrides.yaml").write_text(yaml.safe_dump([f"seed={number}"]))
        files = [folder / ".hydra" / "overrides.yaml"]
        if metrics:
            (folder / "metrics.json").write_text(json.dumps({"val": {"mase": 0.5}}))
            files.append(folder / "metrics.json")
        for file in files:
            os.utime(file, (at, at))

    job(0, metrics=True, at=100.0)  # the earlier sweep's job 0, refused now: its old metrics
    job(1, metrics=True, at=100.0)  # the earlier sweep's job 1, not run now
    os.utime(tmp_path / "0" / ".hydra" / "overrides.yaml", (200.0, 200.0))
    job(2, metrics=True, at=200.0)
    jobs = collect_jobs(tmp_path, since=150.0)
    assert [(j.num, j.finished) for j in jobs] == [(0, False), (2, True)]
    assert len(collect_jobs(tmp_path)) == 3


def test_the_summary_finds_jobs_in_folders_named_by_their_overrides(tmp_path: Path) -> None:
    """hydra.sweep.subdir=${hydra.job.override_dirname}: the summary looked for folders named
    by job numbers only, found none, and a sweep with a refused job exited 0."""
    for number, lr in ((0, "0.001"), (1, "0.01")):
        folder = tmp_path / "nested" / f"optim.lr={lr}"
        (folder / ".hydra").mkdir(parents=True)
        (folder / ".hydra" / "overrides.yaml").write_text(yaml.safe_dump([f"optim.lr={lr}"]))
        (folder / ".hydra" / "hydra.yaml").write_text(
            yaml.safe_dump({"hydra": {"job": {"num": number}}})
        )
    (tmp_path / "nested" / "optim.lr=0.01" / "metrics.json").write_text(
        json.dumps({"val": {"mase": 0.5}})
    )
    jobs = collect_jobs(tmp_path)
    assert [(j.num, j.overrides["optim.lr"], j.finished) for j in jobs] == [
        (0, "0.001", False),
        (1, "0.01", True),
    ]
    # A job cut off while Hydra wrote its folder: no job of the summary's, nor the sweeper's.
    cut = tmp_path / "nested" / "optim.lr=0.1" / ".hydra"
    cut.mkdir(parents=True)
    (cut / "overrides.yaml").write_text(yaml.safe_dump(["optim.lr=0.1"]))
    (cut / "hydra.yaml").write_text("hydra:\n  job: {num: 2\n")
    cut_short = tmp_path / "3" / ".hydra"
    cut_short.mkdir(parents=True)
    (cut_short / "overrides.yaml").write_text("- 'optim.lr=0.\n")
    assert [j.num for j in collect_jobs(tmp_path)] == [0, 1]
    folders = launched_job_folders(tmp_path, since=0.0)
    # The sweeper reads no overrides: a job cut off while writing them is still its folder.
    assert folders == {**{j.num: j.dir for j in jobs}, 3: tmp_path / "3"}


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


def test_a_stopped_sweeps_summary_is_written_from_its_folder(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A sweep stopped before its end (Ctrl-C) wrote no summary: the script ranks its jobs as
    the sweep's own multirun.yaml asks (its metric, direction and searched keys)."""
    import runpy

    from omegaconf import OmegaConf

    # The sweeps a refusal points at are under STOCKCAST_ROOT, not the current folder.
    monkeypatch.setenv("STOCKCAST_ROOT", str(tmp_path / "root"))
    sweeps = tmp_path / "root" / "logs" / "train" / "multiruns" / "<time>"
    script = Path(__file__).parents[1] / "scripts" / "sweep_summary.py"
    main = runpy.run_path(str(script))["main"]
    sweep = tmp_path / "sweep"
    _job(sweep, 0, ["optim.lr=0.001", "seed=1"], 1.0)
    _job(sweep, 1, ["optim.lr=0.001", "seed=2"], 2.0)
    _job(sweep, 2, ["optim.lr=0.001", "seed=3"], None)  # stopped mid-fit
    assert main([str(sweep)]) == 2
    assert capsys.readouterr().err == (
        f"error: {sweep} holds no multirun.yaml, which Hydra writes into every sweep's folder; "
        f"give the sweep's folder ({sweeps}), not one of its jobs'.\n"
    )
    config = {
        "optimized_metric": "val/mase",
        "hydra": {
            "sweeper": {"direction": "maximize", "params": {"optim.lr": "1e-3,1e-2"}},
            "overrides": {"task": ["seed=1,2,3", "optim.lr=0.001"]},
        },
    }
    OmegaConf.save(OmegaConf.create(config), sweep / "multirun.yaml")
    assert main([str(sweep)]) == 0
    printed = capsys.readouterr().out
    content = json.loads((sweep / "sweep_summary.json").read_text())
    assert (content["metric"], content["direction"]) == ("val/mase", "maximize")
    assert content["best"] == {"job": 1, "value": 2.0}
    assert [job["job"] for job in content["jobs"]] == [1, 0, 2]
    # Searched by the sweeper although every job drew the same value.
    assert content["swept"] == ["optim.lr", "seed"]
    assert "| 1 | 1 | 0.001 | 2 | 2 | 3 | finished |" in printed
    assert f"summary written to {sweep / 'sweep_summary.csv'}" in printed
    for argv, told in [
        ([], "takes one sweep folder and no options, not ''"),
        (["--all", str(sweep)], "takes one sweep folder and no options"),
        (
            [str(tmp_path / "none")],
            f"{tmp_path / 'none'} is not a folder; give a sweep's folder, e.g. {sweeps}.",
        ),
        ([str(sweep / "0")], "holds no multirun.yaml"),
    ]:
        assert main(argv) == 2
        err = capsys.readouterr().err
        assert err.startswith("error: ") and told in err and err.count("\n") == 1
    empty = tmp_path / "empty"
    _job(empty, 0, ["seed=1"], None)
    OmegaConf.save(OmegaConf.create(config), empty / "multirun.yaml")
    assert main([str(empty)]) == 2
    assert "no job of" in capsys.readouterr().err
    assert not (empty / "sweep_summary.json").exists()


def test_a_job_whose_metrics_json_is_damaged_is_ranked_last_and_named(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """One metrics.json cut short (a copy from a cloud job that stopped) or holding no object
    ended scripts/sweep_summary.py in a JSONDecodeError or AttributeError, ranking no job."""
    import runpy

    from omegaconf import OmegaConf

    main = runpy.run_path(str(Path(__file__).parents[1] / "scripts" / "sweep_summary.py"))["main"]
    sweep = tmp_path / "sweep"
    _job(sweep, 0, ["optim.lr=0.001"], 1.5)
    _job(sweep, 1, ["optim.lr=0.003"], 1.0)
    _job(sweep, 2, ["optim.lr=0.01"], 0.5)
    _job(sweep, 3, ["optim.lr=0.03"], 0.5)
    (sweep / "1" / "metrics.json").write_text('{"val": {"mase": 1.0')
    (sweep / "2" / "metrics.json").write_text("[0.5]")
    (sweep / "3" / "metrics.json").write_text('{"val": 0.5, "test": {"mase": 0.6}}')
    config = {"optimized_metric": "val/mase", "hydra": {"overrides": {"task": []}}}
    OmegaConf.save(OmegaConf.create(config), sweep / "multirun.yaml")
    assert main([str(sweep)]) == 0
    content = json.loads((sweep / "sweep_summary.json").read_text())
    assert [(job["job"], job["status"]) for job in content["jobs"]] == [
        (0, "finished"),
        (3, "finished, val/mase missing"),
        (1, "metrics.json unreadable"),
        (2, "metrics.json unreadable"),
    ]
    assert "| 3 | 1 | 0.003 |  |  | metrics.json unreadable |" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("edited", "told"),
    [
        (
            "optimized_metric: ${nope}\n",
            "optimized_metric cannot be read (Interpolation key 'nope' not found); set it to the "
            "value the sweep ran with, e.g. optimized_metric: val/mase.",
        ),
        (
            "optimized_metric: 3\n",
            "optimized_metric is 3, not a metric's name; set it to the metric the sweep ranked "
            "by, e.g. optimized_metric: val/mase.",
        ),
        (
            "hydra:\n  sweeper:\n    direction: sideways\n",
            "hydra.sweeper.direction is 'sideways'; set it to minimize or maximize.",
        ),
    ],
)
def test_a_multirun_yaml_edited_into_no_ranking_is_one_sentence(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], edited: str, told: str
) -> None:
    """A metric or direction edited into one the ranking cannot use was OmegaConf's, an
    AttributeError's or a ValueError's traceback: the sentence names it in its file."""
    import runpy

    main = runpy.run_path(str(Path(__file__).parents[1] / "scripts" / "sweep_summary.py"))["main"]
    sweep = tmp_path / "sweep"
    _job(sweep, 0, ["optim.lr=0.001"], 1.0)
    (sweep / "multirun.yaml").write_text(edited)
    assert main([str(sweep)]) == 2
    assert capsys.readouterr().err == f"error: {sweep / 'multirun.yaml'}'s {told}\n"
    assert not (sweep / "sweep_summary.json").exists()


@pytest.mark.parametrize(
    "edited",
    [
        "optimized_metric: val/mase\nhydra:\n  overrides:\n    task: 3\n",
        "optimized_metric: val/mase\nhydra:\n  overrides:\n    task: ['optim.lr=((']\n",
        "optimized_metric: val/mase\nhydra:\n  sweeper:\n    params: ${nope}\n",
    ],
)
def test_a_search_space_edited_into_no_overrides_ranks_without_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], edited: str
) -> None:
    """The searched keys only mark columns (keys whose values differ are columns anyway): a
    command line or search space that cannot be read was a traceback that ranked no job."""
    import runpy

    main = runpy.run_path(str(Path(__file__).parents[1] / "scripts" / "sweep_summary.py"))["main"]
    sweep = tmp_path / "sweep"
    _job(sweep, 0, ["optim.lr=0.001"], 2.0)
    _job(sweep, 1, ["optim.lr=0.003"], 1.0)
    (sweep / "multirun.yaml").write_text(edited)
    assert main([str(sweep)]) == 0
    content = json.loads((sweep / "sweep_summary.json").read_text())
    assert (content["best"], content["swept"]) == ({"job": 1, "value": 1.0}, ["optim.lr"])


@pytest.mark.parametrize(
    ("edited", "why"),
    [
        ("- optimized_metric\n", "a list, not a config"),
        ("3\n", "a single value, 3, not a config"),
        ("true\n", "a single value, True, not a config"),
        # Bytes that are no UTF-8 text were OmegaConf's UnicodeDecodeError traceback.
        (b"\xff\xfe\x00", "not UTF-8 text"),
    ],
)
def test_a_multirun_yaml_holding_no_config_is_one_sentence(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], edited: str | bytes, why: str
) -> None:
    """A list where Hydra's config was ended in OmegaConf's ConfigTypeError traceback; a single
    value was refused as "cannot be read (OSError)", which says nothing of what is wrong."""
    import runpy

    main = runpy.run_path(str(Path(__file__).parents[1] / "scripts" / "sweep_summary.py"))["main"]
    sweep = tmp_path / "sweep"
    _job(sweep, 0, ["optim.lr=0.001"], 1.0)
    path = sweep / "multirun.yaml"
    path.write_bytes(edited) if isinstance(edited, bytes) else path.write_text(edited)
    assert main([str(sweep)]) == 2
    assert capsys.readouterr().err == (
        f"error: {sweep / 'multirun.yaml'} cannot be read ({why}); it is what "
        "Hydra wrote when the sweep started, and the ranking reads its metric from it.\n"
    )


def test_a_summary_that_fails_part_way_leaves_the_previous_one_whole(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The CSV was written before the Markdown and the JSON were made: a failure (or a kill)
    in between left this summary's CSV beside the previous Markdown and JSON."""
    from stockcast.orchestration.sweeps import summary as summary_module

    _job(tmp_path, 0, ["optim.lr=0.001"], 1.0)
    write_summary(summarize(collect_jobs(tmp_path), "val/mase"), tmp_path)
    before = {p.name: p.read_bytes() for p in tmp_path.glob("sweep_summary.*")}
    _job(tmp_path, 1, ["optim.lr=0.003"], 0.5)

    def fails(summary: object) -> str:
        raise OSError("stopped")

    monkeypatch.setattr(summary_module, "to_markdown", fails)
    with pytest.raises(OSError, match="stopped"):
        write_summary(summarize(collect_jobs(tmp_path), "val/mase"), tmp_path)
    assert {p.name: p.read_bytes() for p in tmp_path.glob("sweep_summary.*")} == before
    assert sorted(before) == ["sweep_summary.csv", "sweep_summary.json", "sweep_summary.md"]


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


def test_a_pipeline_sweep_ranks_its_jobs_by_their_train_steps_metrics(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A grid sweep of pipelines that all registered ended "no job wrote metrics.json" and
    "error: 1 of 1 job of the sweep were refused": a pipeline writes its metrics in its train
    step's output folder, not beside its .hydra/. A replay's jobs write none: its sweep ranks
    nothing and counts none refused."""
    from omegaconf import OmegaConf

    from stockcast.orchestration.sweeps.callback import SweepCallback
    from stockcast.orchestration.sweeps.jobs import unranked_sweep
    from stockcast.orchestration.sweeps.summary import summary_of

    for num, lr, mase in ((0, "0.001", 2.0), (1, "0.003", 1.0)):
        _job(tmp_path, num, [f"optim.lr={lr}"], None)
        train_output = tmp_path / str(num) / "train" / "train_output"
        train_output.mkdir(parents=True)
        (train_output / "metrics.json").write_text(json.dumps({"val": {"loss": mase}}))
    pipeline = OmegaConf.create(
        {"task_name": "pipeline", "hydra": {"sweep": {"dir": str(tmp_path)}}}
    )
    summary, jobs = summary_of(pipeline, tmp_path)
    assert summary is not None and [job.num for job in summary.jobs] == [1, 0]
    assert all(job.finished for job in jobs)
    assert unranked_sweep(pipeline) is None
    replay = OmegaConf.create({"task_name": "replay", "hydra": {"sweep": {"dir": str(tmp_path)}}})
    assert unranked_sweep(replay) == (
        "a sweep of replay runs has no metric to rank its jobs by (training runs and pipelines "
        "write metrics.json), so it has no summary"
    )
    assert summary_of(replay, tmp_path) == (None, [])
    SweepCallback(prepare_store=False).on_multirun_end(replay)  # no exit: nothing was refused
    assert "refused" not in capsys.readouterr().err


def test_sweep_summary_of_an_azure_ml_launcher_sweep_says_its_jobs_ran_there(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """scripts/sweep_summary.py on a hydra/launcher=azureml sweep's folder said "no job ...
    wrote metrics.json (0 job folders there), so there is nothing to rank yet": its job folders
    hold azureml_job.yaml, and no metrics ever come to it, as its jobs run on Azure ML."""
    import runpy

    from omegaconf import OmegaConf

    from hydra_plugins.stockcast_azureml_launcher.config import LAUNCHER_TARGET

    main = runpy.run_path(str(Path(__file__).parents[1] / "scripts" / "sweep_summary.py"))["main"]
    sweep = tmp_path / "sweep"
    (sweep / "0").mkdir(parents=True)
    (sweep / "0" / "azureml_job.yaml").write_text("type: command\n")
    config = {
        "optimized_metric": "val/mase",
        "task_name": "train",
        "hydra": {"launcher": {"_target_": LAUNCHER_TARGET, "dry_run": True}},
    }
    OmegaConf.save(OmegaConf.create(config), sweep / "multirun.yaml")
    assert main([str(sweep)]) == 2
    assert capsys.readouterr().err == (
        "error: the jobs of a sweep with hydra/launcher=azureml run on Azure ML (a dry run only "
        "writes each job's azureml_job.yaml), whose runs hold their metrics, so it has no "
        "summary here.\n"
    )
    assert not (sweep / "sweep_summary.json").exists()


def test_a_sighup_in_a_batch_tells_its_trials_failed_and_names_them(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A closed terminal's SIGHUP ended the sweep's process at once: its batch's trials stayed
    RUNNING in the stored study for good. Its handler is put back as the sweep ends."""
    import os
    import signal

    import optuna

    storage = f"sqlite:///{tmp_path}/study.db"

    class HungUp:
        def launch(self, batch: list[tuple[str, ...]], initial_job_idx: int) -> None:
            os.kill(os.getpid(), signal.SIGHUP)
            raise AssertionError("the signal stops the batch")

    before = signal.getsignal(signal.SIGHUP)
    params = {"optim.lr": "interval(0.001, 0.01)"}
    sweeper = random_sweeper(storage, tmp_path, HungUp(), params, trials=4, jobs=2)
    with pytest.raises(SystemExit) as ended:
        sweeper.sweep([])
    assert ended.value.code == 129
    sweep = tmp_path / "sweep"
    assert capsys.readouterr().err.splitlines()[-1] == (
        f"error: stopped by SIGHUP during Optuna trials 0 (its folder: {sweep / '0'}), 1 (its "
        f"folder: {sweep / '1'}); told them failed in study 's'; run the same command again to "
        "add trials to it."
    )
    trials = optuna.load_study(study_name="s", storage=storage).trials
    assert [(t.state, t.user_attrs) for t in trials] == [
        (optuna.trial.TrialState.FAIL, {"stopped_by": "SIGHUP"})
    ] * 2
    assert signal.getsignal(signal.SIGHUP) == before


def test_a_sighup_while_the_study_is_told_leaves_no_trial_running(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """A stop that came while the sweeper told the study a batch's values (or asked its next
    trials) raised there: the trials not yet told stayed RUNNING in the stored study for good.
    Outside a launch it waits until the study is told, then stops the sweep."""
    import os
    import signal

    import optuna
    from hydra.core.utils import JobReturn, JobStatus

    from hydra_plugins.stockcast_optuna_sweeper import optuna_sweeper

    storage = f"sqlite:///{tmp_path}/study.db"

    class Finished:
        def launch(self, batch: list[tuple[str, ...]], initial_job_idx: int) -> list[JobReturn]:
            return [
                JobReturn(overrides=list(o), status=JobStatus.COMPLETED, _return_value=0.5)
                for o in batch
            ]

    told = optuna_sweeper.job_value

    def hung_up_while_told(ret: JobReturn) -> float | None:
        os.kill(os.getpid(), signal.SIGHUP)
        return told(ret)

    monkeypatch.setattr(optuna_sweeper, "job_value", hung_up_while_told)
    params = {"optim.lr": "interval(0.001, 0.01)"}
    sweeper = random_sweeper(storage, tmp_path, Finished(), params, trials=4, jobs=2)
    with pytest.raises(SystemExit) as ended:
        sweeper.sweep([])
    assert ended.value.code == 129
    assert capsys.readouterr().err.splitlines()[-1] == (
        "error: stopped by SIGHUP between Optuna trials; run the command again."
    )
    trials = optuna.load_study(study_name="s", storage=storage).trials
    assert [(t.state, t.value) for t in trials] == [(optuna.trial.TrialState.COMPLETE, 0.5)] * 2
