"""The sweep summary without training: ranking a sweep's jobs, finding their folders, writing
its files, and scripts/sweep_summary.py over a sweep's folder."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from hydra_plugins.stockcast_optuna_sweeper.job_folders import launched_job_folders
from stockcast.orchestration.sweeps.jobs import collect_jobs
from stockcast.orchestration.sweeps.summary import summarize, to_markdown, write_summary
from stockcast.orchestration.sweeps.sweep_config import searched_keys


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
