"""The day a model's data was read as of is the day its run records: in its training config (and
so the registry's `config` tag), its MLflow params and its resume settings, even where the
clock's default day (`data.as_of` unset) has moved on since the data was prepared."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import torch
import yaml
from omegaconf import OmegaConf

from stockcast.config.resolvers import register_resolvers
from stockcast.data.calendar import default_day
from stockcast.orchestration.steps import train
from stockcast.serving.metadata import TRAINING_CONFIG_FILE, read_model_metadata
from stockcast.training import training_run
from stockcast.training.checkpoint_file import CHECKPOINT_DIR, RESUME_CHECKPOINTS
from stockcast.training.resume_state import SETTINGS_KEY
from tests.conftest import (
    FAST_OVERRIDES,
    global_state_restored,
    isolated_overrides,
    run_task,
    run_train,
)

pytestmark = pytest.mark.slow

PREPARED_ON, NEXT_DAY = "2026-06-30", "2026-07-01"
# FAST_OVERRIDES less its data.as_of: the run reads the clock's day.
UNPINNED = tuple(o for o in FAST_OVERRIDES if not o.startswith("data.as_of="))


def _midnight_at(
    monkeypatch: pytest.MonkeyPatch, module: object, name: str, after: bool
) -> Iterator[None]:
    """The clock says PREPARED_ON until `module.name` is called (`after`: until it returns),
    NEXT_DAY from then on, for as long as the generator is suspended."""
    day = {"today": PREPARED_ON}
    step = getattr(module, name)

    def midnight_around_the_step(*args, **kwargs):
        if not after:
            day["today"] = NEXT_DAY
        result = step(*args, **kwargs)
        day["today"] = NEXT_DAY
        return result

    monkeypatch.setattr(module, name, midnight_around_the_step)
    register_resolvers()
    OmegaConf.register_new_resolver("stockcast_today", lambda: day["today"], replace=True)
    try:
        yield
    finally:
        OmegaConf.register_new_resolver("stockcast_today", default_day, replace=True)


@pytest.fixture
def midnight_after_prepare(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """The clock says PREPARED_ON until the run's data is prepared, NEXT_DAY after it: a run
    started a minute before midnight UTC."""
    yield from _midnight_at(monkeypatch, train, "run_prepare", after=True)


@pytest.fixture
def midnight_during_fit(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """The clock says PREPARED_ON until the fit starts, NEXT_DAY from then on: a fit that ran
    past midnight UTC."""
    yield from _midnight_at(monkeypatch, training_run, "fit", after=False)


def test_a_run_past_midnight_records_the_day_its_data_was_read_as_of(
    tmp_path: Path, midnight_after_prepare: None
) -> None:
    """Its training config said the next day, which names more data than the model saw: a run
    repeated from it trained another model, and a resume on that day's as_of was refused."""
    run_dir = tmp_path / "run"
    with global_state_restored():
        run_train(tmp_path, run_dir, *UNPINNED, "logger=csv")
    model = run_dir / "model"
    assert read_model_metadata(model)["data_as_of"] == PREPARED_ON
    recorded = yaml.safe_load((model / TRAINING_CONFIG_FILE).read_text())
    assert recorded["data"]["as_of"] == PREPARED_ON
    resolved = yaml.safe_load((run_dir / "config_resolved.yaml").read_text())
    assert resolved["data"]["as_of"] == PREPARED_ON
    checkpoint = run_dir / CHECKPOINT_DIR / RESUME_CHECKPOINTS[0]
    saved = torch.load(checkpoint, map_location="cpu", weights_only=False)[SETTINGS_KEY]
    assert saved["data"]["as_of"] == PREPARED_ON
    params = next((run_dir / "csv").rglob("hparams.yaml")).read_text()
    assert f"data.as_of: '{PREPARED_ON}'" in params


def test_a_fit_past_midnight_records_the_day_its_data_was_read_as_of(
    tmp_path: Path, midnight_during_fit: None
) -> None:
    """The day was left to the clock where it still matched the prepared folder's when the fit
    began: a fit that ended after midnight recorded the next day in its training config."""
    run_dir = tmp_path / "run"
    with global_state_restored():
        run_train(tmp_path, run_dir, *UNPINNED, "logger=csv")
    recorded = yaml.safe_load((run_dir / "model" / TRAINING_CONFIG_FILE).read_text())
    assert recorded["data"]["as_of"] == PREPARED_ON
    resolved = yaml.safe_load((run_dir / "config_resolved.yaml").read_text())
    assert resolved["data"]["as_of"] == PREPARED_ON
    params = next((run_dir / "csv").rglob("hparams.yaml")).read_text()
    assert f"data.as_of: '{PREPARED_ON}'" in params


def test_the_train_step_records_the_day_of_the_folder_it_trained_on(tmp_path: Path) -> None:
    """A pipeline step composes its own config: its default day is the clock's when the step
    runs (a later one past midnight, or on a cloud node), not the prepare step's."""
    with global_state_restored():
        run_train(tmp_path, tmp_path / "prepared_on", *UNPINNED, f"data.as_of={PREPARED_ON}")
    step = tmp_path / "step"
    with global_state_restored():
        run_task(
            train.run_train_step,
            "pipeline",
            [
                *isolated_overrides(tmp_path),
                *UNPINNED,
                f"data.as_of={NEXT_DAY}",
                f"train.prepared_dir={tmp_path / 'prepared_on' / 'prepared'}",
                f"train.output_dir={step}",
                f"train.model_dir={step / 'model'}",
                "logger=none",
            ],
            step,
        )
    recorded = yaml.safe_load((step / "model" / TRAINING_CONFIG_FILE).read_text())
    assert recorded["data"]["as_of"] == PREPARED_ON
