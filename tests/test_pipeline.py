"""The local pipeline: steps alone and together, the gate, idempotent registration.

Pipelines and steps run in this process (`python -m stockcast.orchestration.runner`'s task with the same
overrides); the command-line tests are the command lines themselves: every step as its own
process from the exact command an Azure ML component runs, and a failed step's exit status and
one line.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import mlflow.pyfunc
import numpy as np
import pytest

from stockcast.data.prepared import PreparedData
from stockcast.errors import ArtifactError, ConfigError, StockcastError
from stockcast.evaluation.gate import coverage_check, gate_threshold
from stockcast.evaluation.live import live_ratio
from stockcast.evaluation.reports import REPORT_FILE, read_report
from stockcast.evaluation.versus_naive import naive_within_rounding, ratio_vs_naive
from stockcast.forecasting.frame import split_forecast_frame
from stockcast.orchestration import step_run
from stockcast.orchestration.steps.evaluate import run_evaluate
from stockcast.orchestration.steps.prepare import run_prepare
from stockcast.orchestration.steps.register import run_register, version_tags
from stockcast.orchestration.steps.table import STEPS
from stockcast.registry.connection import RegistryError
from stockcast.registry.store import ModelRegistry
from stockcast.serving.metadata import read_model_metadata
from tests.conftest import (
    CLI_ENV,
    CLI_TIMEOUT_S,
    PIPELINE_FAST,
    Command,
    Job,
    JobContext,
    Ran,
    global_state_restored,
    isolated_overrides,
    prestart,
    run_local_pipeline,
    run_task,
    seed_store,
)
from tests.prewarmed import run_forked

pytestmark = pytest.mark.slow


def _with_gate(overrides: tuple[str, ...]) -> tuple[str, ...]:
    # Two epochs make a weak model: keep the thresholds out of the way unless a test sets them.
    if not any(o.startswith("gate.max_mase") for o in overrides):
        overrides = ("gate.max_mase=100", "gate.max_mase_vs_naive=null", *overrides)
    return overrides


def run_pipeline(tmp: Path, *overrides: str) -> Ran:
    """The pipeline in this process; `.stdout` is what the command prints."""
    return run_local_pipeline(tmp, *PIPELINE_FAST, *_with_gate(overrides))


def pipeline_command(tmp: Path, *overrides: str, check: bool = True) -> Command:
    """`python -m stockcast.orchestration.runner ...` as a user types it."""
    return Command(
        (
            "-m",
            "stockcast.orchestration.runner",
            *PIPELINE_FAST,
            *isolated_overrides(tmp),
            *_with_gate(overrides),
        ),
        check=check,
    )


def run_step(task, tmp: Path, run_dir: Path, *overrides: str) -> Ran:
    """One step's task (`python -m stockcast.orchestration.steps.<step> ...`) in this process."""
    return run_task(task, "pipeline", [*isolated_overrides(tmp), *overrides], run_dir)


def pipeline_dirs(tmp: Path) -> list[Path]:
    return sorted((tmp / "logs" / "pipeline" / "runs").iterdir())


def registry(tmp: Path) -> ModelRegistry:
    return ModelRegistry(f"sqlite:///{tmp}/mlruns.db", "pipeline_stock_predictor")


@pytest.fixture(scope="module")
def pipeline_store(tmp_path_factory: pytest.TempPathFactory, store_template: Path) -> Path:
    """Run 1 registers version 1; run 2 (another seed, lenient gate) registers version 2."""
    tmp = seed_store(store_template, tmp_path_factory.mktemp("pipeline"))
    with global_state_restored():
        first = run_pipeline(tmp, "seed=1")
        assert "registered pipeline_stock_predictor version 1 as champion" in first.stdout
        # Both weak models would fall back to naive and forecast alike (not registered again):
        # run 2 keeps its learning so it is a different model.
        second = run_pipeline(
            tmp, "seed=2", "gate.champion_tolerance=100", "fit.naive_fallback=false"
        )
        assert "registered pipeline_stock_predictor version 2 as champion" in second.stdout
    return tmp


def test_two_runs_register_two_versions_with_tags(pipeline_store: Path) -> None:
    versions = registry(pipeline_store).versions()
    assert [v.version for v in versions] == [2, 1]
    assert versions[0].aliases == ("champion",) and versions[1].aliases == ()
    tags = versions[0].tags
    for key in ("training_run_id", "data_hash", "git_commit", "config", "test_mase", "model_hash"):
        assert tags.get(key), key
    assert json.loads(tags["config"])["seed"] == 2
    first_run, second_run = pipeline_dirs(pipeline_store)
    # The run keeps the registered hash outside the store, to check a version against later.
    decision = json.loads((second_run / "register" / "decision" / "decision.json").read_text())
    assert decision["model_hash"] == tags["model_hash"] and decision["version"] == 2
    # The season the model was built for, searchable in the registry as in its metadata.
    metadata = read_model_metadata(second_run / "train" / "model")
    assert metadata["season_from"] == "dates"
    # And the rhythm of its dates, which predict holds an input's dates to.
    assert metadata["date_rhythm"] == "daily"
    assert tags["season_length"] == str(metadata["season_length"])
    # What the next run's freshness check compares with: where the data ended and how much of it.
    prepared = json.loads((second_run / "prepare" / "prepared" / "meta.json").read_text())
    assert (tags["data_last_date"], tags["data_series_at_last_date"]) == (
        prepared["last_date"],
        str(prepared["series_at_last_date"]),
    )
    for run in (first_run, second_run):
        for step in ("prepare", "train", "evaluate", "register"):
            assert (run / step).is_dir()
        assert (run / "train" / "model" / "MLmodel").is_file()
        assert (run / "evaluate" / "report" / "error_by_horizon.png").stat().st_size > 5000


def test_every_run_of_the_pipeline_carries_the_configs_labels(pipeline_store: Path) -> None:
    """The config's `tags` were a param of the training run only (the text "['stockcast']"), so
    no search by tag found a run."""
    client = mlflow.MlflowClient(f"sqlite:///{pipeline_store}/mlruns.db")
    experiments = [e.experiment_id for e in client.search_experiments()]
    every = client.search_runs(experiments)
    labelled = client.search_runs(experiments, filter_string="tags.stockcast = 'true'")
    assert {run.info.run_id for run in labelled} == {run.info.run_id for run in every}
    kinds = {run.info.run_name.split("-")[0] for run in labelled}
    assert kinds == {"pipeline", "register", "monitor"}


def test_a_pipelines_training_run_is_named_by_its_data_day(pipeline_store: Path) -> None:
    """Every pipeline's and replay day's training run was named `pipeline`: the days of a
    replay differed in the UI only by their params."""
    client = mlflow.MlflowClient(f"sqlite:///{pipeline_store}/mlruns.db")
    experiment = client.get_experiment_by_name("stockcast").experiment_id
    runs = client.search_runs([experiment], filter_string="tags.task = 'pipeline'")
    assert len(runs) == 2
    for run in runs:
        assert (
            run.info.run_name
            == f"pipeline-{run.data.params['data.as_of']}"
            == "pipeline-2026-06-30"
        )


def test_a_register_run_is_named_by_its_models_data_day(pipeline_store: Path) -> None:
    """Every register run was named `register-<model>`: runs of different days differed in the
    UI only by their time, unlike the training and monitor runs of the same days."""
    client = mlflow.MlflowClient(f"sqlite:///{pipeline_store}/mlruns.db")
    reg = registry(pipeline_store)
    for version in (1, 2):
        info = reg.resolve(version=version)
        run = client.get_run(info.run_id)
        assert run.info.run_name == f"register-{reg.model_name}-{info.tags['data_as_of']}"
        assert run.info.run_name == "register-pipeline_stock_predictor-2026-06-30"


def test_registered_model_loads_after_the_run_folder_is_gone(pipeline_store: Path) -> None:
    reg = registry(pipeline_store)
    folder = reg.download(reg.resolve(alias="champion"), pipeline_store / "downloaded")
    out = mlflow.pyfunc.load_model(str(folder)).predict(np.linspace(100, 101, 10).reshape(1, -1))
    assert out.shape == (1, 25) and np.isfinite(out.to_numpy()).all()
    assert list(out.columns[:5]) == [f"forecast_{h}" for h in range(1, 6)]


def test_gate_refuses_a_model_worse_than_the_champion(pipeline_store: Path) -> None:
    result = run_pipeline(pipeline_store, "seed=3", "gate.champion_tolerance=-0.999")
    assert result.value["registered"] is False, "a refusal is a decision, not a failure"
    # The reason that decided comes first, the threshold verdict it followed after it.
    assert result.value["message"].startswith("not registered: test MASE ")
    reasons = result.value["decision"]["reasons"]
    assert "(champion version 2's " in reasons[0] and "the gate's" in reasons[-1]
    assert " is above " in reasons[0] and "with gate.champion_tolerance=-0.999)" in reasons[0]
    assert [v.version for v in registry(pipeline_store).versions()] == [2, 1]


# The thresholds are judged before any champion comparison: these refusals need no store of
# their own (and leave the pipeline store's versions as they were).
def test_gate_refuses_above_the_threshold(pipeline_store: Path) -> None:
    result = run_pipeline(
        pipeline_store, "seed=5", "gate.max_mase=0.001", "gate.max_mase_vs_naive=null"
    )
    assert "not registered: test MASE" in result.stdout
    assert "is not below the gate's max_mase 0.001" in result.stdout
    last_run = pipeline_dirs(pipeline_store)[-1]
    decision = json.loads((last_run / "register" / "decision" / "decision.json").read_text())
    assert decision["registered"] is False and decision["decision"]["champion"] is None


def test_a_gate_refusal_where_naive_scores_as_badly_says_what_to_change() -> None:
    """A listing flat for most of its train split: every forecast's MASE is large, naive's too."""
    at_naive = gate_threshold(11.3163, 11.3163, 10.0, 1.05)
    assert not at_naive["passed"]
    assert at_naive["reason"].startswith(
        "test MASE 11.3163 is not below the gate's max_mase 10 (the naive forecast scores 11.3163"
    )
    assert "or set it to null and rely on gate.max_mase_vs_naive)" in at_naive["reason"]
    alone = gate_threshold(11.3163, 11.3163, 10.0, None)["reason"]
    assert alone.endswith("raise gate.max_mase)"), "no advice that would turn the gate off"
    broken = gate_threshold(11.3, 1.7, 10.0, None)["reason"]
    assert broken == "test MASE 11.3000 is not below the gate's max_mase 10"


def test_a_naive_forecast_scoring_exactly_max_mase_is_named_in_the_refusal() -> None:
    """A naive forecast at max_mase is not below it either: the limit refuses repeating the last
    price too, so the refusal says what naive scores and what to change."""
    reason = gate_threshold(10.5, 10.0, 10.0, None)["reason"]
    assert reason.startswith(
        "test MASE 10.5000 is not below the gate's max_mase 10 (the naive forecast scores 10.0000"
    )
    assert reason.endswith("raise gate.max_mase)")


def test_a_model_tied_with_naive_on_a_flat_test_span_passes() -> None:
    """A policy rate held for the whole test span: naive's MASE is 0, and a model repeating it
    (its float32 answer taken as naive's) scored 0/0, read as infinitely worse."""
    tied = gate_threshold(0.0, 0.0, None, 1.05)
    assert tied["passed"] and tied["reason"].startswith("test MASE is 1.000x the naive forecast's")
    assert not gate_threshold(1e-3, 0.0, None, 1.05)["passed"]
    naive = np.full((3, 5), 85.9586)
    fallback = naive.astype(np.float32).astype(np.float64)
    assert (fallback != naive).all()
    np.testing.assert_array_equal(naive_within_rounding(fallback, naive), naive)
    np.testing.assert_array_equal(naive_within_rounding(naive + 1e-3, naive), naive + 1e-3)


@pytest.mark.parametrize("level", [85.9586, 1.2345e6, 3.3e9])
def test_only_naives_own_float32_rounding_is_taken_as_naive(level: float) -> None:
    """A fallback answers the last price through float32, within half a float32 step of it;
    a tolerance of four eps of the level (near 1e6, 0.48: eight steps) also took a model's own
    forecasts as naive's on a series the data checks accept (moving by ten steps), and the
    report scored other forecasts than the model serves (MASE 1.607 where it served 1.529)."""
    naive = np.full((2, 3), level)
    fallback = naive.astype(np.float32).astype(np.float64)
    np.testing.assert_array_equal(naive_within_rounding(fallback, naive), naive)
    step = float(np.spacing(np.float32(level)))
    moved = fallback + 2 * step * np.array([1.0, -1.0, 3.0])
    np.testing.assert_array_equal(naive_within_rounding(moved, naive), moved)


def test_the_gate_and_the_monitor_count_a_ratio_to_naive_alike() -> None:
    """One rule for both: a tie where both are 0, infinitely worse where only naive's is (the
    monitor's JSON holds that as null), and a plain ratio otherwise."""
    cases = [(0.0, 0.0, 1.0), (1e-3, 0.0, float("inf")), (0.5, float("nan"), float("inf"))]
    cases += [(3.0, 1.5, 2.0), (0.0, 2.0, 0.0)]
    for mase, naive_mase, expected in cases:
        assert ratio_vs_naive(mase, naive_mase) == expected
        assert live_ratio(mase, naive_mase) == (None if expected == float("inf") else expected)
        passed = gate_threshold(mase, naive_mase, None, 1.05)["passed"]
        assert passed is (expected <= 1.05)


def test_the_gate_thresholds_pass_and_refuse_at_their_bounds() -> None:
    """MASE below max_mase, at most max_mase_vs_naive times naive's (the model's over naive's,
    not the other way round), and each level's coverage within max_coverage_gap either way."""
    three_times_naive = gate_threshold(3.0, 1.0, None, 0.5)
    assert not three_times_naive["passed"]
    assert three_times_naive["reason"].startswith("test MASE is 3.000x the naive forecast's")
    assert gate_threshold(0.4, 1.0, None, 0.5)["passed"]
    assert gate_threshold(0.5, 1.0, None, 0.5)["passed"], "at the ratio: within"
    assert not gate_threshold(2.0, 1.0, 2.0, None)["passed"], "at max_mase: not below it"
    assert gate_threshold(1.999, 1.0, 2.0, None)["passed"]

    def scored(coverage: float) -> dict:
        return {"80": {"pooled": {"coverage": coverage}, "nominal": 0.5}}

    assert coverage_check(scored(0.9), None) == []
    (over,) = coverage_check(scored(0.9), 0.25)
    assert over == (
        False,
        "80% interval coverage 0.900 is further than the gate's max_coverage_gap 0.25 of 0.5",
    )
    assert coverage_check(scored(0.75), 0.25)[0][0], "at the gap: within"
    assert coverage_check(scored(0.25), 0.25)[0][0] and not coverage_check(scored(0.2), 0.25)[0][0]
    refused = gate_threshold(0.4, 1.0, None, 0.5, coverage_check(scored(0.9), 0.25))
    assert not refused["passed"] and refused["reason"] == over[1]
    # 0.1 is 0.70 to 0.90 for an 80% band, both ends in (0.8 - 0.7 reads 0.10000000000000009).
    eighty = {"80": {"pooled": {"coverage": 0.7}, "nominal": 0.8}}
    assert coverage_check(eighty, 0.1)[0][0]
    assert coverage_check({"95": {"pooled": {"coverage": 1.0}, "nominal": 0.95}}, 0.05)[0][0]
    # A model without bands has nothing to judge: with a gap set it is refused, not passed.
    assert coverage_check({}, 0.05) == [
        (
            False,
            "the gate's max_coverage_gap 0.05 judges the model's bands, and it gives none (no "
            "model.interval_levels, or no pair of model.quantiles); give some, or set "
            "gate.max_coverage_gap=null",
        )
    ]
    assert coverage_check({}, None) == []


def test_gate_refuses_a_model_worse_than_the_naive_forecast(pipeline_store: Path) -> None:
    result = run_pipeline(
        pipeline_store, "seed=6", "gate.max_mase=null", "gate.max_mase_vs_naive=0.5"
    )
    assert "not registered: test MASE is" in result.stdout
    assert "the naive forecast's" in result.stdout and "max_mase_vs_naive 0.5" in result.stdout
    assert [v.version for v in registry(pipeline_store).versions()] == [2, 1]


def test_registering_the_same_folder_twice_creates_no_new_version(pipeline_store: Path) -> None:
    run = pipeline_dirs(pipeline_store)[0]
    again = pipeline_store / "again"
    result = run_step(
        run_register,
        pipeline_store,
        again,
        f"register.model_dir={run / 'refit' / 'candidate'}",
        f"register.report_dir={run / 'evaluate' / 'report'}",
    )
    assert "version 1 already holds this model" in result.value["message"]
    assert (
        json.loads((again / "register" / "decision" / "decision.json").read_text()) == result.value
    )
    assert len(registry(pipeline_store).versions()) == 2


def test_a_score_the_report_holds_as_null_is_left_out_of_the_tags(tmp_path: Path) -> None:
    """A rate held at 0 through the test span: no target to take a percentage of, so MAPE is
    NaN, which report.json holds as null; the register step failed formatting it after the
    gate had passed."""
    held_at_zero = {"mae": 0.0, "rmse": 0.0, "mape": None, "mase": 0.0}
    report = {
        "model_metadata": {"previous_time_window": 10, "next_time_window": 5},
        "model_hash": "0" * 64,
        "data_hash": "abc",
        "metrics": {"model": {"pooled": held_at_zero}, "naive": {"pooled": held_at_zero}},
    }
    tags = version_tags(tmp_path, report)
    assert (tags["test_mae"], tags["test_mase"], tags["naive_test_mase"]) == ("0", "0", "0")
    assert "test_mape" not in tags


@pytest.mark.parametrize("text", ['{"kind": "stockcast.rep', "[1, 2]", "\xff"])
def test_a_report_cut_short_or_edited_is_refused_in_one_sentence(tmp_path: Path, text: str) -> None:
    """The register and refit steps read report.json: one that no longer parses stopped them
    with a JSONDecodeError traceback."""
    (tmp_path / REPORT_FILE).write_text(text, encoding="latin-1")
    with pytest.raises(ArtifactError) as caught:
        read_report(tmp_path)
    assert str(caught.value) == (
        f"{tmp_path / REPORT_FILE} is not a JSON object (cut short or edited); run the evaluate "
        "step again to write it."
    )


def test_a_report_without_what_the_later_steps_read_is_refused_in_one_sentence(
    tmp_path: Path,
) -> None:
    """A report.json of the right kind without model_hash (edited, or an older one) stopped the
    register step with a KeyError traceback."""
    report = {"kind": "stockcast.report", "metrics": {}, "model_metadata": {}, "plots": []}
    (tmp_path / REPORT_FILE).write_text(json.dumps(report))
    with pytest.raises(ArtifactError) as caught:
        read_report(tmp_path)
    assert str(caught.value) == (
        f"{tmp_path / REPORT_FILE} has no model_hash or data_hash (edited, or written by an "
        "older stockcast); run the evaluate step again to write it."
    )
    (tmp_path / REPORT_FILE).write_text(json.dumps(report | {"model_hash": "0", "data_hash": "a"}))
    assert read_report(tmp_path)["model_hash"] == "0"


def test_report_numbers_match_a_direct_recomputation(pipeline_store: Path) -> None:
    run = pipeline_dirs(pipeline_store)[0]
    report = json.loads((run / "evaluate" / "report" / "report.json").read_text())
    # How the model was chosen is in the report: its kind, each member's weight and error.
    selection = report["model_selection"]
    assert selection["kind"] == "mlp" and selection["previous_time_window"] == 10
    assert selection["interval_scale_span"] == 10
    assert [m["name"] for m in selection["combination"]["members"]] == [
        "mlp on 10 values, per_window",
        "mlp on 10 values, standard",
        "mlp on 10 values, per_window_level",
    ]
    prepared = PreparedData.load(run / "prepare" / "prepared")
    model = mlflow.pyfunc.load_model(str(run / "train" / "model"))
    test, p, h = prepared.splits["test"].values, 10, 5
    windows = np.array([test[i : i + p + h] for i in range(len(test) - p - h + 1)])
    forecast, bands = split_forecast_frame(model.predict(windows[:, :p]))
    # Scored as naive's where within float32's rounding of it (a fallback's last price).
    forecast = naive_within_rounding(forecast, np.repeat(windows[:, p - 1 : p], h, axis=1))
    abs_err = np.abs(forecast - windows[:, p:])
    assert report["n_windows"] == len(windows)
    np.testing.assert_allclose(report["metrics"]["model"]["per_step"]["mae"], abs_err.mean(0))
    scale = np.abs(np.diff(prepared.splits["train"].values)).mean()
    assert report["metrics"]["model"]["pooled"]["mase"] == pytest.approx(abs_err.mean() / scale)
    naive = np.abs(windows[:, p - 1 : p] - windows[:, p:]).mean()
    assert report["metrics"]["naive"]["pooled"]["mae"] == pytest.approx(naive)
    for level, (lower, upper) in bands.items():
        inside = (windows[:, p:] >= lower) & (windows[:, p:] <= upper)
        scores = report["intervals"]["model"][level]
        np.testing.assert_allclose(scores["per_step"]["coverage"], inside.mean(0))
        assert scores["pooled"]["width"] == pytest.approx((upper - lower).mean())
    assert set(report["intervals"]) == {"model", "naive"}
    assert len(report["diebold_mariano"]["model_vs_naive"]["p_value"]) == h
    # A statistic may be null (a model fallen back to naive): the report says what that means.
    assert "null: no verdict" in report["diebold_mariano"]["note"]


def a_failing_first_step(job: JobContext) -> Job:
    return job.run(pipeline_command(job.tmp, "data.length=20", check=False))


def forked_step(command: list[str], **_: object) -> subprocess.CompletedProcess[str]:
    """The subprocess executor's `subprocess.run` as a fork of the prewarmed interpreter: each
    step still runs alone from its exact command line, without seconds of imports (a new
    interpreter per step is what the cloud command test runs)."""
    assert command[0] == sys.executable, command
    result = run_forked(command[1:], Path.cwd(), {**os.environ, **CLI_ENV}, CLI_TIMEOUT_S)
    sys.stdout.write(result.stdout)
    return result


def test_each_step_runs_alone_as_its_command_line(
    seeded_tmp: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(
        step_run, "subprocess", SimpleNamespace(run=forked_step, PIPE=subprocess.PIPE)
    )
    ran = run_pipeline(seeded_tmp, "pipeline.executor=subprocess")
    assert "registered pipeline_stock_predictor version 1" in ran.stdout
    # Every step has a row that adds up, and a step process ends after its work is done: its
    # exit time (the total's rest) is never negative.
    table = ran.stdout[ran.stdout.index("step       start-up s") :].splitlines()
    rows = table[1 : 1 + len(STEPS)]
    assert [row.split()[0] for row in rows] == [step.name for step in STEPS]
    for row in rows:
        startup, work, ending, total = (float(cell) for cell in row.split()[1:5])
        assert startup + work + ending == pytest.approx(total, abs=0.11), row
        assert ending >= 0.0 and startup > 0.0, row
    run = pipeline_dirs(seeded_tmp)[0]
    for step in ("prepare", "train", "evaluate", "register"):
        assert (run / step / "timing.json").is_file(), step


@prestart(a_failing_first_step)
def test_a_failed_step_stops_the_run_with_its_name(prestarted_job: Job) -> None:
    result = prestarted_job.result
    assert result.returncode == 2
    assert "step 'prepare' failed" in result.stderr and "each split needs" in result.stderr
    assert "Traceback" not in result.stderr


def evaluate_a_prepared_folder_as_a_model(job: JobContext) -> Job:
    prepared = job.tmp / "prepared"
    with global_state_restored():
        run_step(run_prepare, job.tmp, job.tmp / "h0", f"prepare.output_dir={prepared}")
    evaluate = Command(
        (
            "-m",
            "stockcast.orchestration.steps.evaluate",
            *isolated_overrides(job.tmp),
            f"evaluate.output_dir={job.tmp / 'report'}",
            f"hydra.run.dir={job.tmp / 'h'}",
            f"evaluate.model_dir={prepared}",
            f"evaluate.prepared_dir={prepared}",
        ),
        check=False,
    )
    return job.run(evaluate)


@prestart(evaluate_a_prepared_folder_as_a_model)
def test_step_given_the_wrong_kind_of_folder(
    pipeline_store: Path, tmp_path: Path, prestarted_job: Job
) -> None:
    # The step's command line: exit status 2 and the message, no traceback.
    wrong_kind = prestarted_job.result
    assert wrong_kind.returncode == 2
    assert "is not a stockcast model folder" in wrong_kind.stderr
    assert "Traceback" not in wrong_kind.stderr
    assert not (prestarted_job.tmp / "report").exists(), "refused before doing work"

    run = pipeline_dirs(pipeline_store)[0]
    prepared = run / "prepare" / "prepared"
    evaluate = [f"evaluate.output_dir={tmp_path / 'report'}"]

    def refused(*overrides: str) -> str:
        with pytest.raises(StockcastError) as caught:
            run_step(run_evaluate, tmp_path, tmp_path / "h", *evaluate, *overrides)
        return str(caught.value)

    assert "is not a stockcast model folder" in refused(
        f"evaluate.model_dir={prepared}", f"evaluate.prepared_dir={prepared}"
    )
    missing = refused(
        f"evaluate.model_dir={tmp_path / 'nope'}", f"evaluate.prepared_dir={prepared}"
    )
    assert "does not exist; run the train step first" in missing
    other = tmp_path / "prepared30"
    run_step(
        run_prepare,
        tmp_path,
        tmp_path / "h2",
        "data.previous_time_window=30",
        f"prepare.output_dir={other}",
    )
    mismatch = refused(
        f"evaluate.model_dir={run / 'train' / 'model'}", f"evaluate.prepared_dir={other}"
    )
    assert "takes 10 values and forecasts 5" in mismatch
    assert not (tmp_path / "report").exists(), "refused before doing work"


def test_the_train_step_refuses_data_settings_its_folder_was_not_made_with(
    pipeline_store: Path, tmp_path: Path
) -> None:
    """It trained on the folder's 10-in/5-out windows without a word, asked for 30/7."""
    from stockcast.data.prepared import check_prepared_settings
    from stockcast.orchestration.steps.train import run_train_step

    prepared = pipeline_dirs(pipeline_store)[0] / "prepare" / "prepared"
    meta = json.loads((prepared / "meta.json").read_text())
    with pytest.raises(ConfigError) as caught:
        run_step(
            run_train_step,
            tmp_path,
            tmp_path / "h",
            f"train.prepared_dir={prepared}",
            f"train.output_dir={tmp_path / 'out'}",
            f"train.model_dir={tmp_path / 'model'}",
            "data.previous_time_window=30",
            "data.next_time_window=7",
        )
    message = str(caught.value)
    assert message.startswith(
        f"the prepared folder {prepared} was made with other data settings (data."
        "previous_time_window is 30 here and 10 there; data.next_time_window is 7 here and 5 "
        "there"
    )
    assert message.endswith(
        "; run prepare again with these settings, or give this step the folder's."
    )
    assert not (tmp_path / "model").exists()
    # Another day (a step after midnight) or batch size is the same folder's data.
    check_prepared_settings({**meta["source"], "as_of": "2030-01-01", "batch_size": 1}, meta, "p")


def test_registry_lists_what_exists(pipeline_store: Path, tmp_path: Path) -> None:
    reg = registry(pipeline_store)
    with pytest.raises(
        RegistryError, match=r"has no version 9; .* has version\(s\) 2 \(champion\), 1"
    ):
        reg.resolve(version=9)
    with pytest.raises(RegistryError, match="has no alias 'best'"):
        reg.resolve(alias="best")
    other = ModelRegistry(f"sqlite:///{pipeline_store}/mlruns.db", "nope")
    with pytest.raises(
        RegistryError, match=r"\(registered models here: pipeline_stock_predictor\); "
    ):
        other.resolve()
    missing = ModelRegistry(f"sqlite:///{tmp_path}/none.db", "x")
    with pytest.raises(RegistryError, match="does not exist; register a model first"):
        missing.resolve()
    assert reg.resolve().version == 2


def test_predict_after_train_alone_says_make_pipeline_registers_a_model(seeded_tmp: Path) -> None:
    """`make train` logs runs but registers nothing: predict says what does."""
    from stockcast.prediction.task import run_predict

    with pytest.raises(RegistryError) as refused:
        run_task(run_predict, "predict", isolated_overrides(seeded_tmp), seeded_tmp / "run")
    assert str(refused.value) == (
        f"no registered model named 'pipeline_stock_predictor' in sqlite:///{seeded_tmp}/"
        "mlruns.db (registered models here: none); register one with the pipeline of the "
        'experiment that names it (make pipeline ARGS="experiment=<name>" trains, evaluates and '
        "registers), or set registry.tracking_uri to a store that holds one."
    )
    assert not (seeded_tmp / "run" / "forecast.csv").exists()


def evaluate_again(run: Path, tmp_path: Path, *overrides: str) -> dict:
    """The evaluate step alone on an earlier run's folders, into tmp_path/report: its report."""
    run_step(
        run_evaluate,
        tmp_path,
        tmp_path / "h",
        f"evaluate.model_dir={run / 'train' / 'model'}",
        f"evaluate.prepared_dir={run / 'prepare' / 'prepared'}",
        f"evaluate.output_dir={tmp_path / 'report'}",
        *overrides,
    )
    return json.loads((tmp_path / "report" / "report.json").read_text())


def test_a_step_runs_alone_on_folders_from_an_earlier_run(
    pipeline_store: Path, tmp_path: Path
) -> None:
    run = pipeline_dirs(pipeline_store)[0]
    earlier = json.loads((run / "evaluate" / "report" / "report.json").read_text())
    again = evaluate_again(run, tmp_path)
    assert again["metrics"] == earlier["metrics"] and again["model_hash"] == earlier["model_hash"]


def test_the_evaluate_step_refuses_a_prepared_folder_of_other_data(
    pipeline_store: Path, tmp_path: Path
) -> None:
    """The step alone scored a model on another run's test split (whose windows the model may
    have been selected on) without a word, and register then tagged the version with that
    data's hash beside the model's own dates."""
    model = pipeline_dirs(pipeline_store)[0] / "train" / "model"
    other = tmp_path / "prepared"
    run_step(
        run_prepare,
        tmp_path,
        tmp_path / "h",
        *PIPELINE_FAST,
        "seed=9",
        f"prepare.output_dir={other}",
    )
    with pytest.raises(ArtifactError) as caught:
        run_step(
            run_evaluate,
            tmp_path,
            tmp_path / "h2",
            f"evaluate.model_dir={model}",
            f"evaluate.prepared_dir={other}",
            f"evaluate.output_dir={tmp_path / 'report'}",
        )
    message = str(caught.value)
    assert message.startswith(
        f"evaluate.prepared_dir {other} holds other data than the model in {model} was trained "
        "on (data hash "
    )
    assert message.endswith("); point both at the same pipeline run.")
    assert not (tmp_path / "report").exists(), "refused before doing work"


def test_evaluating_again_into_a_report_folder_removes_the_plots_of_its_old_report(
    pipeline_store: Path, tmp_path: Path
) -> None:
    """A report folder evaluated into again kept the old report's plots of other series (another
    model, another evaluate.plot_series) beside the new ones, as if they were of it."""
    report_dir = tmp_path / "report"
    report_dir.mkdir()
    old = "forecast_vs_actual_OLD.png"
    (report_dir / old).write_bytes(b"old")
    (report_dir / "notes.png").write_bytes(b"mine")
    (report_dir / "report.json").write_text(json.dumps({"plots": [old, "../outside.png"]}))
    (tmp_path / "outside.png").write_bytes(b"kept")
    report = evaluate_again(pipeline_dirs(pipeline_store)[0], tmp_path)
    assert not (report_dir / old).exists()
    assert sorted(p.name for p in report_dir.glob("*.png")) == sorted(
        [*report["plots"], "notes.png"]
    )
    assert (tmp_path / "outside.png").exists(), "only plain names in the folder itself"


def test_the_report_scores_seasonal_naive_for_a_season_longer_than_the_window(
    pipeline_store: Path, tmp_path: Path
) -> None:
    """The model reads 10 values; a 12-value season's baseline comes from each series' past."""
    report = evaluate_again(pipeline_dirs(pipeline_store)[0], tmp_path, "evaluate.season_length=12")
    scored = np.load(tmp_path / "report" / "test_windows.npz")
    history, actual = scored["history"], scored["actual"]
    season_ago = np.array(
        [[history[t + h - 12] for h in range(5)] for t in scored["history_targets"]]
    )
    assert report["season_length"] == 12
    np.testing.assert_allclose(
        report["metrics"]["seasonal_naive"]["per_step"]["mae"], np.abs(season_ago - actual).mean(0)
    )


def test_the_register_step_judges_the_thresholds_it_is_given(
    pipeline_store: Path, seeded_tmp: Path
) -> None:
    """Run alone, the register step read the verdict evaluate recorded under its own settings:
    a stricter gate.max_mase registered the model anyway, naming the looser limit."""
    run = pipeline_dirs(pipeline_store)[0]

    def register(report_dir: Path, name: str, *gate: str) -> dict:
        return run_step(
            run_register,
            seeded_tmp,
            seeded_tmp / name,
            f"register.model_dir={run / 'refit' / 'candidate'}",
            f"register.report_dir={report_dir}",
            f"register.output_dir={seeded_tmp / name / 'decision'}",
            *gate,
        ).value

    strict = register(run / "evaluate" / "report", "strict", "gate.max_mase=0.001")
    assert strict["registered"] is False
    assert "is not below the gate's max_mase 0.001" in strict["message"]
    # And the other way: a report evaluate refused, registered under the step's looser limit.
    refused = evaluate_again(run, seeded_tmp, "gate.max_mase=0.001")
    assert refused["gate"]["passed"] is False
    loose = register(seeded_tmp / "report", "loose", "gate.max_mase=100")
    assert loose["registered"] is True and "below the gate's max_mase 100" in loose["message"]


def test_champion_stays_when_the_gate_does_not_compare(pipeline_store: Path) -> None:
    result = run_pipeline(pipeline_store, "seed=4", "gate.require_beat_champion=false")
    assert "registered pipeline_stock_predictor version 3 (" in result.stdout
    assert "so the champion stays" in result.stdout
    reg = registry(pipeline_store)
    assert reg.resolve(alias="champion").version == 2 and reg.resolve().version == 3


def test_first_registration_creates_the_store_without_an_mlflow_logger(tmp_path: Path) -> None:
    # With logger=csv nothing has created the SQLite store before the register step does.
    result = run_pipeline(tmp_path, "logger=csv")
    assert "registered pipeline_stock_predictor version 1 as champion" in result.stdout
    assert registry(tmp_path).resolve().version == 1


def test_a_model_that_forecasts_as_the_champion_is_not_registered_again(seeded_tmp: Path) -> None:
    """Two models that both fell back to the naive forecast: a second version would add nothing
    (on a random walk that would be one identical version a day)."""
    naive_only = ("fit.min_gain_over_naive=0.99", "data.require_new_data=false")
    first = run_pipeline(seeded_tmp, "seed=1", *naive_only)
    assert first.value["registered"] and first.value["version"] == 1
    second = run_pipeline(seeded_tmp, "seed=2", *naive_only)
    assert second.value["registered"] is False
    assert second.value["decision"]["reasons"][0] == (
        "it forecasts exactly what champion version 1 does on the same test windows, so nothing "
        "new is registered"
    )
    assert [v.version for v in registry(seeded_tmp).versions()] == [1]


def _refit_folder(tmp: Path, outer: Path, evaluated: Path, record: str | None) -> Path:
    """`outer` with `evaluated` inside as the model it was refitted from; `record`: the hash its
    refit record names (None: no refit record)."""
    import shutil

    import yaml

    folder = tmp / "candidate"
    shutil.rmtree(folder, ignore_errors=True)
    shutil.copytree(outer, folder)
    shutil.copytree(evaluated, folder / "evaluated")
    if record is not None:
        mlmodel = yaml.safe_load((folder / "MLmodel").read_text())
        mlmodel["metadata"]["refit"] = {"evaluated_model_hash": record}
        (folder / "MLmodel").write_text(yaml.safe_dump(mlmodel))
    return folder


def test_a_refit_folder_that_does_not_hold_together_is_not_registered(
    pipeline_store: Path, tmp_path: Path
) -> None:
    """The report checks the evaluated model inside a refit; the outer folder, which predict and
    serve load, was registered unchecked: another run's model around it, or truncated weights,
    became the champion under the report's scores."""
    from stockcast.errors import ArtifactError
    from stockcast.registry.integrity import folder_contents

    first_run, second_run = pipeline_dirs(pipeline_store)[:2]
    evaluated = second_run / "train" / "model"
    report = f"register.report_dir={second_run / 'evaluate' / 'report'}"
    digest = folder_contents(evaluated).digest
    versions = len(registry(pipeline_store).versions())

    def register(folder: Path) -> None:
        run_step(run_register, pipeline_store, tmp_path / "run", f"register.model_dir={folder}",
                 report)  # fmt: skip

    mixed = _refit_folder(tmp_path, first_run / "train" / "model", evaluated, None)
    with pytest.raises(ArtifactError, match="not the one it was refitted from"):
        register(mixed)
    damaged = _refit_folder(tmp_path, evaluated, evaluated, digest)
    weights = damaged / "artifacts" / "weights.safetensors"
    weights.write_bytes(weights.read_bytes()[:100])
    with pytest.raises(ArtifactError, match=r"weights\.safetensors is missing, truncated"):
        register(damaged)
    assert len(registry(pipeline_store).versions()) == versions


def test_a_folder_whose_mlmodel_and_spec_name_other_windows_is_refused(
    pipeline_store: Path, tmp_path: Path
) -> None:
    """Callers feed the MLmodel's window and the network reads the spec's: a folder mixing the
    two opened, then failed inside torch on a correct window."""
    import shutil

    from stockcast.errors import ArtifactError
    from stockcast.serving.model import open_model_dir

    folder = tmp_path / "model"
    shutil.copytree(pipeline_dirs(pipeline_store)[0] / "train" / "model", folder)
    spec_file = folder / "artifacts" / "spec.json"
    spec = json.loads(spec_file.read_text())
    spec["previous_time_window"] += 5
    spec_file.write_text(json.dumps(spec))
    with pytest.raises(ArtifactError, match=r"names previous_time_window=\d+ in MLmodel but \d+"):
        open_model_dir(folder)
