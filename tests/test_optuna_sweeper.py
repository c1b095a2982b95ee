"""The Optuna sweeper's runs with stand-in launchers: batches told to the study, stopped or
refused batches leaving no trial RUNNING, and its settings refused before a trial trains."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import yaml
from optuna.distributions import CategoricalDistribution

from hydra_plugins.stockcast_optuna_sweeper.trial_refusal import trial_refusal
from stockcast.errors import ConfigError


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
