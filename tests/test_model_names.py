"""Each experiment registers under its own model name, so one never displaces another's champion."""

from __future__ import annotations

from pathlib import Path

import pytest

from stockcast.config.compose import CONFIG_DIR
from stockcast.prediction.task import run_predict
from stockcast.registry.store import ModelRegistry
from tests.conftest import (
    LENIENT_GATE,
    MODEL,
    PIPELINE_FAST,
    run_local_pipeline,
    run_task,
    seed_store,
)
from tests.conftest import isolated_overrides as store_overrides

EXPERIMENTS = sorted(path.stem for path in (CONFIG_DIR / "experiment").glob("*.yaml"))


def test_every_experiment_has_a_name_of_its_own_and_mlp_w10_keeps_the_original(make_cfg) -> None:
    names = {name: make_cfg(f"experiment={name}").registry.model_name for name in EXPERIMENTS}
    assert names["mlp_w10"] == MODEL
    assert len(set(names.values())) == len(names), f"experiments share a model name: {names}"
    assert make_cfg().registry.model_name == MODEL, "a run without an experiment"
    assert make_cfg(config_name="predict").model.name == MODEL, "a bare scripts/predict.py"


def test_the_azure_pipeline_and_deployment_carry_the_experiments_name() -> None:
    from omegaconf import OmegaConf

    from stockcast.orchestration.azureml.jobs import build_deployment
    from stockcast.orchestration.azureml.pipeline import build_pipeline_job, build_schedule
    from stockcast.orchestration.azureml.settings import compose_submit_config

    sc = compose_submit_config(["experiment=mlp_seasonal"])
    # Every step composes the experiment, and so its name; the schedule is named by it too.
    pipeline = build_pipeline_job(sc)
    for step, job in pipeline.jobs.items():
        assert "experiment=mlp_seasonal" in job.component.command, step
    assert build_schedule(sc.azure.schedule, pipeline).name == "stock_predictor_mlp_seasonal-daily"
    settings = OmegaConf.merge(sc.azure.endpoint, {"model_version": 1})
    assert build_deployment(settings, sc.cfg.registry.model_name, 1).model == (
        "azureml:stock_predictor_mlp_seasonal:1"
    )


@pytest.mark.slow
def test_two_experiments_keep_separate_champions(tmp_path: Path, store_template: Path) -> None:
    store = seed_store(store_template, tmp_path)
    fast = [*PIPELINE_FAST, *LENIENT_GATE]
    first = run_local_pipeline(store, "experiment=mlp_w10", *fast)
    second = run_local_pipeline(store, "experiment=mlp_w30", *fast)
    assert f"registered {MODEL} version 1 as champion" in first.stdout
    # Its own first version and champion: never weighed against, nor replacing, mlp_w10's.
    assert "registered stock_predictor_mlp_w30 version 1 as champion" in second.stdout

    uri = f"sqlite:///{store}/mlruns.db"
    for name in (MODEL, "stock_predictor_mlp_w30"):
        registry = ModelRegistry(uri, name)
        assert [v.version for v in registry.versions()] == [1]
        assert registry.champion("champion") is not None

    values = "[" + ",".join(str(100 + i % 7) for i in range(40)) + "]"
    plain = run_task(
        run_predict, "predict", [*store_overrides(store), f"input.values={values}"], tmp_path / "p"
    )
    assert plain.value["model"]["name"] == MODEL
    assert plain.value["model"]["previous_time_window"] == 10
    other = run_task(
        run_predict,
        "predict",
        [*store_overrides(store), "model.name=stock_predictor_mlp_w30", f"input.values={values}"],
        tmp_path / "q",
    )
    assert other.value["model"]["previous_time_window"] == 30
