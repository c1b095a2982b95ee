"""`train.resume`: a fit stopped early or late ends, once resumed, exactly as the uninterrupted fit
did (optimizer steps, best step, validation and test metrics), and a resume with other settings is
refused in one sentence before any training."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from stockcast.config.compose import flatten
from stockcast.errors import ArtifactError
from tests.conftest import AS_OF, global_state_restored, run_train
from tests.reliability_helpers import global_step
from tests.reliability_kill import RAISE_AT_STEP, Killed

pytestmark = pytest.mark.slow

# A short fit whose checkpoints fall inside epochs (9 optimizer steps an epoch, 2 per Lightning
# batch, a validation every 4 steps), with dropout, a learning-rate schedule and early stopping
# that ends it at step 53, its best at step 44.
SETTINGS = (
    AS_OF,
    "data=seasonal",
    "data.length=400",
    "data.steps_per_batch=2",
    "fit.val_every_steps=4",
    "trainer.max_steps=60",
    "callbacks.early_stopping.patience=2",
    "logger=none",
    # In every run alike; RAISE_AT_STEP, set for the stopped run only, stops it.
    "+callbacks.kill._target_=tests.reliability_kill.RaiseAtStep",
    # A seed whose dropout draws give that course (and LOWERED's schedule below).
    "seed=2",
)


def result(run_dir: Path) -> dict[str, Any]:
    """What must not depend on an interruption: metrics.json less its folders and run id."""
    summary = json.loads((run_dir / "metrics.json").read_text())
    keys = ("optimizer_steps", "best_step", "epochs", "val", "test", "fell_back_to_naive")
    return flatten({key: summary[key] for key in keys})


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    tmp = tmp_path_factory.mktemp("resume")
    with global_state_restored():
        run_train(tmp, tmp / "whole", *SETTINGS)
    return result(tmp / "whole")


def stopped_run(tmp: Path, step: int, monkeypatch: pytest.MonkeyPatch) -> Path:
    run_dir = tmp / "stopped"
    monkeypatch.setenv(RAISE_AT_STEP, str(step))
    with pytest.raises(Killed):
        run_train(tmp, run_dir, *SETTINGS)
    monkeypatch.delenv(RAISE_AT_STEP)
    assert not (run_dir / "model").exists()
    return run_dir


@pytest.mark.parametrize(
    ("stop_at", "checkpointed"),
    [
        # Early: the checkpoint at step 8 is inside the first epoch (its 9th step is still due).
        (10, 8),
        # Late: after the best (step 44), so the best score must survive the resume.
        (50, 49),
        # After early stopping ended it (step 53), before its member weights and export: the
        # resume must not train on.
        (1000, 53),
    ],
)
def test_a_stopped_fit_resumes_to_the_uninterrupted_result(
    uninterrupted: dict[str, Any],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    stop_at: int,
    checkpointed: int,
) -> None:
    assert (uninterrupted["optimizer_steps"], uninterrupted["best_step"]) == (53, 44)
    stopped = stopped_run(tmp_path, stop_at, monkeypatch)
    assert global_step(stopped) == checkpointed
    files_before = sorted(path.name for path in (stopped / "checkpoints").iterdir())
    run_train(tmp_path, tmp_path / "resumed", *SETTINGS, f"train.resume={stopped}")
    resumed = result(tmp_path / "resumed")
    assert resumed == pytest.approx(uninterrupted, rel=1e-6)
    # The resumed run keeps its checkpoints in its own folder; the stopped run's stay as they were.
    assert sorted(path.name for path in (stopped / "checkpoints").iterdir()) == files_before
    best = json.loads((tmp_path / "resumed" / "metrics.json").read_text())["best_checkpoint"]
    # Named within the run folder (metrics.json is logged and copied): the resumed run's own.
    assert Path(best).parent == Path("checkpoints")
    assert (tmp_path / "resumed" / best).is_file()


# A fit whose plateau schedule lowers the learning rate four times before its best step.
LOWERED = (
    *SETTINGS[:5],
    "trainer.max_steps=120",
    "optim.lr=0.01",
    "optim.scheduler.patience=0",
    "callbacks.early_stopping.patience=30",
    *SETTINGS[7:],
)


@pytest.fixture(scope="module")
def lowered_runs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """LOWERED's uninterrupted fit (whole/) and the same fit stopped at step 30 (stopped/),
    trained once for both cases of the test below: each resumes its own copy of stopped/."""
    tmp = tmp_path_factory.mktemp("lowered")
    with global_state_restored(), pytest.MonkeyPatch.context() as patch:
        run_train(tmp, tmp / "whole", *LOWERED)
        patch.setenv(RAISE_AT_STEP, "30")
        with pytest.raises(Killed):
            run_train(tmp, tmp / "stopped", *LOWERED)
    return tmp


@pytest.mark.parametrize("saved_schedule", [True, False])
def test_a_resumed_fit_records_the_learning_rate_schedule_it_knows(
    lowered_runs: Path, tmp_path: Path, saved_schedule: bool
) -> None:
    """A refit repeats `lr_drops`: a resume must end with the uninterrupted fit's, and a
    checkpoint saved before they were kept (its rate maybe lowered already, from a start it
    does not record) leaves them unknown, not wrong (it recorded the later ones only, against
    the lowered rate)."""
    import shutil

    import torch

    def schedule(run_dir: Path) -> tuple[int, Any]:
        summary = json.loads((run_dir / "metrics.json").read_text())
        return summary["best_step"], summary["lr_drops"]

    best_step, drops = schedule(lowered_runs / "whole")
    assert len(drops) >= 2 and drops[0][0] < 30 < best_step, drops
    shutil.copytree(lowered_runs / "stopped", tmp_path / "stopped")
    if not saved_schedule:
        path = tmp_path / "stopped" / "checkpoints" / "resume.ckpt"
        checkpoint = torch.load(path, weights_only=False)
        del checkpoint["stockcast_lr_drops"]
        torch.save(checkpoint, path)
    run_train(tmp_path, tmp_path / "resumed", *LOWERED, f"train.resume={tmp_path / 'stopped'}")
    assert schedule(tmp_path / "resumed") == (best_step, drops if saved_schedule else None)


def test_a_resume_with_other_settings_is_refused_before_training(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    stopped = stopped_run(tmp_path, 10, monkeypatch)
    run_dir = tmp_path / "resumed"
    with pytest.raises(ArtifactError) as refused:
        run_train(
            tmp_path,
            run_dir,
            *SETTINGS,
            "optim.lr=0.5",
            "model.hidden_sizes=[8]",
            # Folders, tracking, the store, signing and console output may change.
            "logger=csv",
            f"registry.tracking_uri=sqlite:///{tmp_path}/elsewhere.db",
            "registry.signing.private_key=null",
            "trainer.enable_progress_bar=true",
            f"train.resume={stopped}",
        )
    assert str(refused.value) == (
        f"train.resume={stopped} was started with other settings (model.hidden_sizes: "
        "[100, 100] -> [8], optim.lr: 0.001 -> 0.5); resume with the same settings, or start a "
        "new run without train.resume."
    )
    assert not (run_dir / "checkpoints").exists() and not (run_dir / "model").exists()


def test_a_setting_added_since_a_run_was_killed_counts_as_its_old_behaviour(make_cfg) -> None:
    """A CSV fit killed before data.release_lag_days existed saved no such key: unset is the
    lag 0 it read with, and only another lag is a change."""
    from stockcast.config.compose import flatten, plain
    from stockcast.training.resume_settings import settings_differences

    cfg = make_cfg("data=csv", "data.path=prices.csv")
    saved = flatten(plain(cfg))
    del saved["data.release_lag_days"]
    assert settings_differences(saved, cfg) == []
    lagged = make_cfg("data=csv", "data.path=prices.csv", "data.release_lag_days=31")
    assert settings_differences(saved, lagged) == ["data.release_lag_days: 0 -> 31"]
    # A fit saved before the gradient clipping's algorithm was a key resumes as it was.
    del saved["trainer.gradient_clip_algorithm"]
    assert settings_differences(saved, cfg) == []
    # One saved while trainer.check_val_every_n_epoch was a key (1, which the fit replaced
    # with its own schedule either way) too; another value was a change.
    saved["trainer.check_val_every_n_epoch"] = 1
    assert settings_differences(saved, cfg) == []
    saved["trainer.check_val_every_n_epoch"] = 3
    assert settings_differences(saved, cfg) == ["trainer.check_val_every_n_epoch: 3 -> unset"]


def test_a_resume_folder_under_home_is_read_from_there(
    make_cfg, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`train.resume='~/run'` (quoted, Hydra passes the `~` on as typed) names the run in the
    home folder, as `replay.resume_from` does; it was refused as a folder that does not exist."""
    import torch

    from stockcast.training.resume import resume_checkpoint

    monkeypatch.setenv("HOME", str(tmp_path))
    checkpoint = tmp_path / "run" / "checkpoints" / "resume.ckpt"
    checkpoint.parent.mkdir(parents=True)
    torch.save({}, checkpoint)
    assert resume_checkpoint(make_cfg("train.resume='~/run'"), {}) == checkpoint


def test_a_resume_given_the_run_checkpoints_folder_continues_from_its_checkpoint(
    make_cfg, tmp_path: Path
) -> None:
    """The folder the checkpoints are seen in was refused as one holding none, with advice to
    run the command again without train.resume (losing the fit so far)."""
    import torch

    from stockcast.training.resume import resume_checkpoint

    checkpoint = tmp_path / "run" / "checkpoints" / "resume.ckpt"
    checkpoint.parent.mkdir(parents=True)
    torch.save({}, checkpoint)
    folder = checkpoint.parent
    assert resume_checkpoint(make_cfg(f"train.resume={folder}"), {}) == checkpoint
    # Still the run's data the resume is held to: its prepared/ beside checkpoints/.
    (tmp_path / "run" / "prepared").mkdir()
    (tmp_path / "run" / "prepared" / "meta.json").write_text('{"data_hash": "old"}')
    with pytest.raises(ArtifactError, match=r"trained on other data \(hash old, now new\)"):
        resume_checkpoint(make_cfg(f"train.resume={folder}"), {"data_hash": "new"})


def test_a_fit_killed_before_the_champion_alias_moved_resumes(make_cfg) -> None:
    """A checkpoint saved before `register.alias` became `registry.champion_alias` differs by
    that key alone, which says which alias the register step moves, nothing of the fit."""
    from stockcast.config.compose import flatten, plain
    from stockcast.training.resume_settings import settings_differences

    cfg = make_cfg(config_name="pipeline")
    saved = flatten(plain(cfg))
    del saved["registry.champion_alias"]
    saved["register.alias"] = "champion"
    assert settings_differences(saved, cfg) == []


def test_a_resume_whose_alias_moved_is_refused_naming_the_version_it_started_from(
    tmp_path: Path,
) -> None:
    """The checkpoint's weights came from version 1; `champion` now names version 2."""
    import torch
    from omegaconf import OmegaConf

    from stockcast.training.resume_settings import check_same_warm_start
    from stockcast.training.resume_state import SETTINGS_KEY, WARM_KEY

    checkpoint = tmp_path / "resume.ckpt"
    started = {"model_name": "m", "version": 1, "model_hash": "a", "weights": "evaluated"}
    torch.save({WARM_KEY: started}, checkpoint)
    cfg = OmegaConf.create({"train": {"resume": "run", "init_from": "champion"}})
    check_same_warm_start(cfg, checkpoint, dict(started))
    with pytest.raises(ArtifactError) as refused:
        check_same_warm_start(cfg, checkpoint, started | {"version": 2})
    assert str(refused.value) == (
        "train.resume=run started from version 1, and train.init_from=champion now names "
        "version 2; resume with train.init_from=1."
    )
    with pytest.raises(ArtifactError, match="now names a version 1 whose files differ"):
        check_same_warm_start(cfg, checkpoint, started | {"model_hash": "b"})
    # Written before the record was kept: held to the setting as written.
    torch.save({SETTINGS_KEY: {"train": {"init_from": "champion"}}}, checkpoint)
    check_same_warm_start(cfg, checkpoint, started | {"version": 2})
    torch.save({SETTINGS_KEY: {"train": {"init_from": None}}}, checkpoint)
    with pytest.raises(ArtifactError) as refused:
        check_same_warm_start(cfg, checkpoint, started)
    assert str(refused.value) == (
        "train.resume=run was started with other settings (train.init_from: null -> champion); "
        "resume with the same settings, or start a new run without train.resume."
    )


def test_a_stop_before_min_epochs_trains_on_to_the_epochs_end_when_resumed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The stopping callback fires at step 4, inside epoch 0: Lightning trains on to the end of
    trainer.min_epochs=1 (step 9), and so must the resumed fit."""
    settings = (
        *SETTINGS,
        "fit.val_every_steps=2",
        "fit.min_gain_over_naive=0.9",
        "callbacks.naive_gain_stopping.patience=2",
    )
    with global_state_restored():
        run_train(tmp_path, tmp_path / "whole", *settings)
    whole = result(tmp_path / "whole")
    assert (whole["optimizer_steps"], whole["best_step"]) == (9, 9)
    monkeypatch.setenv(RAISE_AT_STEP, "6")
    with pytest.raises(Killed):
        run_train(tmp_path, tmp_path / "stopped", *settings)
    monkeypatch.delenv(RAISE_AT_STEP)
    assert global_step(tmp_path / "stopped") == 4
    run_train(tmp_path, tmp_path / "resumed", *settings, f"train.resume={tmp_path / 'stopped'}")
    assert result(tmp_path / "resumed") == pytest.approx(whole, rel=1e-6)


def test_a_moved_run_folder_resumes_with_the_best_checkpoint_beside_its_own(
    tmp_path: Path,
) -> None:
    """The state names the best checkpoint where the killed run wrote it; a run folder moved
    since (downloaded from another machine) holds it beside the checkpoint resumed from. It
    was not copied, and the resumed fit stopped with a FileNotFoundError as it ended."""
    from stockcast.training.resume_state import move_checkpoint_state

    gone = tmp_path / "elsewhere" / "checkpoints"
    moved = tmp_path / "moved" / "checkpoints"
    moved.mkdir(parents=True)
    (moved / "epoch_007.ckpt").write_bytes(b"best")

    def state() -> dict[str, Any]:
        best = str(gone / "epoch_007.ckpt")
        return {"monitor": "val/mase", "dirpath": str(gone), "best_model_path": best,
                "best_k_models": {best: 1.0}}  # fmt: skip

    resumed = tmp_path / "resumed" / "checkpoints"
    moving = state()
    move_checkpoint_state(moving, str(resumed), copy=True, beside=moved)
    assert moving["best_model_path"] == str(resumed / "epoch_007.ckpt")
    assert (resumed / "epoch_007.ckpt").read_bytes() == b"best"
    (moved / "epoch_007.ckpt").unlink()
    with pytest.raises(ArtifactError) as refused:
        move_checkpoint_state(state(), str(tmp_path / "again"), copy=True, beside=moved)
    assert str(refused.value) == (
        f"the checkpoint train.resume continues from names {gone / 'epoch_007.ckpt'} as the "
        f"best so far, which is not there nor in {moved}; the resumed fit ends on its best "
        "weights, so put that file back, or start a new run without train.resume."
    )


def test_a_budget_ending_between_validations_validates_at_its_last_step(
    tmp_path: Path,
) -> None:
    """A budget that ends after one validation and before the next (every 50 steps, 70 here)
    validates at its last step too: its last 20 steps were trained and never judged, so the best
    checkpoint could not be among them, and train.resume continued from step 50's state."""
    run_dir = tmp_path / "run"
    max_steps = 70
    run_train(
        tmp_path,
        run_dir,
        *SETTINGS,
        "fit.val_every_steps=50",
        f"trainer.max_steps={max_steps}",
        "callbacks.early_stopping.patience=10",
    )
    summary = json.loads((run_dir / "metrics.json").read_text())
    assert summary["optimizer_steps"] == max_steps
    assert global_step(run_dir) == max_steps


def test_a_budget_ending_before_any_validation_validates_at_its_last_step(
    tmp_path: Path,
) -> None:
    """Lightning ends a fit at trainer.max_steps without validating: one whose budget ended
    before its first validation (6 epochs, 54 steps, apart here) had no best checkpoint and no
    resume.ckpt, and kept its last weights unjudged."""
    run_dir = tmp_path / "run"
    max_steps = 20
    run_train(
        tmp_path, run_dir, *SETTINGS, "fit.val_every_steps=50", f"trainer.max_steps={max_steps}"
    )
    summary = json.loads((run_dir / "metrics.json").read_text())
    assert summary["optimizer_steps"] == max_steps
    assert summary["best_checkpoint"] is not None
    assert (run_dir / summary["best_checkpoint"]).is_file()
    # The latest state, saved at the last step's validation: what train.resume continues from.
    assert global_step(run_dir) == max_steps


def test_a_fit_stopped_after_its_step_budget_resumes_counting_its_last_epoch(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A fit whose budget ends at a validation (step 12, inside its second epoch) and is killed
    after it resumes with nothing left to train: Lightning skipped its loop, and metrics.json
    recorded one epoch fewer than the uninterrupted fit's."""
    settings = (*SETTINGS, "trainer.max_steps=12", "callbacks.early_stopping.patience=50")
    with global_state_restored():
        run_train(tmp_path, tmp_path / "whole", *settings)
    whole = result(tmp_path / "whole")
    assert (whole["optimizer_steps"], whole["epochs"]) == (12, 2)
    monkeypatch.setenv(RAISE_AT_STEP, "1000")
    with pytest.raises(Killed):
        run_train(tmp_path, tmp_path / "stopped", *settings)
    monkeypatch.delenv(RAISE_AT_STEP)
    assert global_step(tmp_path / "stopped") == 12
    run_train(tmp_path, tmp_path / "resumed", *settings, f"train.resume={tmp_path / 'stopped'}")
    assert result(tmp_path / "resumed") == pytest.approx(whole, rel=1e-6)
