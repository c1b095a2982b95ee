"""A store folder is portable: copied elsewhere (the original deleted) it still serves its models,
and nothing a run logs or stores names the training machine's absolute paths."""

from __future__ import annotations

import json
import shutil
import sqlite3
from pathlib import Path

import pytest
from mlflow import MlflowClient

from stockcast.prediction.task import run_predict
from stockcast.registry.artifact_root import DEFAULT_ROOT, is_store_relative
from stockcast.registry.store import ModelRegistry
from stockcast.training.summary import METRICS_FILE
from tests.conftest import MODEL, isolated_overrides, run_task, seed_store

pytestmark = pytest.mark.slow


def artifact_locations(store: Path) -> list[str]:
    """Every artifact location and URI the store's database records."""
    with sqlite3.connect(store / "mlruns.db") as db:
        found = db.execute(
            "SELECT artifact_location FROM experiments UNION ALL SELECT artifact_uri FROM runs"
        ).fetchall()
    return [row[0] for row in found]


def test_a_copied_store_predicts_after_the_original_is_deleted(
    trained_run: Path, store_template: Path, tmp_path: Path
) -> None:
    original = seed_store(store_template, tmp_path / "original")
    registry = ModelRegistry(f"sqlite:///{original}/mlruns.db", MODEL, create=True)
    with registry.writing():
        info, created = registry.register(trained_run / "model", {"source": "test"}, promote=True)
        registry.promote("champion", info)
    assert created

    copy = tmp_path / "elsewhere" / "store"
    shutil.copytree(original, copy)
    shutil.rmtree(original)

    assert all(is_store_relative(uri) for uri in artifact_locations(copy))
    ran = run_task(
        run_predict,
        "predict",
        [*isolated_overrides(copy), "model.alias=champion", "input.values=[1,2,3,4,5,6,7,8,9,10]"],
        tmp_path / "run",
    )
    forecast = json.loads((tmp_path / "run" / "forecast.json").read_text())
    assert forecast and "version 1" in ran.stdout
    assert str(original) not in (copy / "mlruns.db").read_bytes().decode("utf-8", "replace")


def test_what_a_pipeline_logs_names_no_absolute_path(registered_store: Path) -> None:
    machine_path = str(registered_store)
    (run,) = (registered_store / "logs" / "pipeline" / "runs").iterdir()
    metrics = json.loads((run / "train" / "train_output" / METRICS_FILE).read_text())
    assert metrics["model_dir"] == "model"
    assert metrics["best_checkpoint"].startswith("checkpoints/")
    report = (run / "monitor" / "monitor" / "report.json").read_text()
    assert json.loads(report)["ledger"] == "ledger.db"
    decision = (run / "register" / "decision" / "decision.json").read_text()

    client = MlflowClient(f"sqlite:///{registered_store}/mlruns.db")
    experiments = client.search_experiments()
    runs = client.search_runs([e.experiment_id for e in experiments])
    params = {key: value for r in runs for key, value in r.data.params.items()}
    tags = {key: value for r in runs for key, value in r.data.tags.items()}
    assert params["paths.output_dir"] == "." and params["train.model_dir"] == "model"
    assert params["registry.tracking_uri"] == "sqlite:///mlruns.db"
    for text in (json.dumps(metrics), report, decision, json.dumps(params), json.dumps(tags)):
        assert machine_path not in text
    assert any(loc == f"{DEFAULT_ROOT}/0" for loc in artifact_locations(registered_store))
    assert all(is_store_relative(uri) for uri in artifact_locations(registered_store))
