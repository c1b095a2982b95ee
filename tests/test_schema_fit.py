"""The config schema over the fit's settings: the optimizer, gradient clipping, the metrics
monitored, and the Lightning arguments and limits the trainer takes."""

from __future__ import annotations

from datetime import timedelta

import pytest
from omegaconf import OmegaConf

from stockcast.config.schema import validate_config
from stockcast.errors import ConfigError


def test_the_default_optimizer_is_fused_adam_and_steps_on_cpu(make_cfg) -> None:
    """optim.optimizer asks for Adam's fused kernel; torch before 2.4 refuses it on CPU, which is
    why the install floor is 2.4."""
    import hydra
    import torch

    weight = torch.nn.Parameter(torch.ones(3))
    optimizer = hydra.utils.instantiate(make_cfg().optim.optimizer)(params=[weight])
    assert isinstance(optimizer, torch.optim.Adam) and optimizer.defaults["fused"] is True
    weight.grad = torch.ones(3)
    optimizer.step()
    assert torch.all(weight < 1)


def test_clipping_a_fused_step_under_mixed_precision_is_refused_with_the_config(
    make_cfg,
) -> None:
    """Refused as the config is read, so a pipeline stops before its prepare step, not when
    the train step builds the fit; an unfused optimizer, or no clipping, is accepted."""
    clipped = ("+trainer.precision=bf16-mixed", "trainer.gradient_clip_val=1")
    for config_name in ("train", "pipeline"):
        with pytest.raises(ConfigError) as caught:
            validate_config(make_cfg(*clipped, config_name=config_name))
        assert str(caught.value) == (
            "trainer.gradient_clip_val cannot clip a fused optimizer's gradients under "
            "trainer.precision=bf16-mixed (it unscales them inside its own step, after they "
            "would be clipped): set optim.optimizer.fused=false, or leave "
            "trainer.gradient_clip_val null."
        )
        validate_config(make_cfg(*clipped, "optim.optimizer.fused=false", config_name=config_name))
        validate_config(make_cfg("+trainer.precision=bf16-mixed", config_name=config_name))
        validate_config(make_cfg("trainer.gradient_clip_val=1", config_name=config_name))


@pytest.mark.parametrize(
    "key",
    ["optim.monitor", "callbacks.early_stopping.monitor", "callbacks.model_checkpoint.monitor"],
)
def test_a_monitor_the_fit_never_logs_is_refused_before_any_work(make_cfg, key: str) -> None:
    """A misspelt metric failed the fit with Lightning's traceback at its first validation
    (early stopping, the checkpoint) or, for the schedule, silently never lowered the rate."""
    for config_name in ("train", "pipeline"):
        with pytest.raises(ConfigError) as caught:
            validate_config(make_cfg(f"{key}=val/mse", config_name=config_name))
        assert str(caught.value) == (
            f"{key} is 'val/mse', which the fit does not log at its validations; use one of "
            "val/loss, val/mae, val/rmse, val/mape, val/mase, val/naive_mase, train/loss."
        )
        assert validate_config(make_cfg(f"{key}=val/rmse", config_name=config_name))
    # The latest state's checkpoint follows no metric; a misspelt argument is named.
    assert validate_config(make_cfg("callbacks.model_checkpoint.monitor=null"))
    with pytest.raises(ConfigError, match=r"did you mean callbacks.model_checkpoint.monitor\?"):
        validate_config(make_cfg("+callbacks.model_checkpoint.monitr=val/mae"))


def test_the_trainers_limits_keep_a_share_apart_from_a_count(make_cfg) -> None:
    """`1.0` is all the batches and `1` is one: the whole-number reading must not make one of
    the other; Lightning's precisions are the schema's."""
    from typing import get_args

    from lightning.fabric.connector import _PRECISION_INPUT

    from stockcast.fields import PRECISIONS

    cfg = validate_config(
        make_cfg("+trainer.limit_val_batches=1.0", "+trainer.limit_test_batches=1")
    )
    assert type(cfg.trainer.limit_val_batches) is float
    assert type(cfg.trainer.limit_test_batches) is int
    lightnings = {value for member in get_args(_PRECISION_INPUT) for value in get_args(member)}
    assert set(PRECISIONS) == lightnings


def test_lightning_arguments_added_callbacks_and_a_tasks_own_section_are_accepted(
    make_cfg,
) -> None:
    cfg = make_cfg(
        "+trainer.precision=bf16-mixed",
        "+callbacks.lr_monitor._target_=lightning.pytorch.callbacks.LearningRateMonitor",
        "+callbacks.early_stopping.verbose=true",
        "+publish.output_dir=out",
        config_name="pipeline",
    )
    with pytest.raises(ConfigError, match=r"^publish is not a setting of the pipeline config; "):
        validate_config(cfg)
    assert validate_config(cfg, sections=("publish",)) is cfg


@pytest.mark.parametrize(
    "overrides",
    [
        ["+trainer.num_sanity_val_steps=-1", "trainer.log_every_n_steps=0"],
        ["trainer.min_epochs=null", "+trainer.min_steps=0", "+trainer.num_sanity_val_steps=0"],
    ],
)
def test_lightnings_own_all_and_none_of_the_trainers_counts_are_accepted(
    make_cfg, overrides: list[str]
) -> None:
    """-1 sanity batches is Lightning's "all of them", 0 logging steps its "none"."""
    cfg = make_cfg(*overrides)
    assert validate_config(cfg) is cfg


@pytest.mark.parametrize(
    ("max_time", "argument"),
    [
        ({"days": 1, "hours": 0.5}, {"max_time": timedelta(days=1, minutes=30)}),
        ({"weeks": 1, "milliseconds": 2}, {"max_time": timedelta(weeks=1, milliseconds=2)}),
        # Lightning reads its own duration text: it is left to the Trainer's config.
        ("01:00:30:00", {}),
        (None, {}),
    ],
)
def test_a_max_time_mapping_reaches_the_trainer_as_the_duration_the_schema_read(
    max_time: object, argument: dict[str, timedelta]
) -> None:
    """The schema's reading of trainer.max_time and the fit's are one function: a mapping the
    schema accepts is handed to Lightning's Timer as the very duration it checked."""
    from stockcast.config.trainer_section import duration
    from stockcast.training.build import max_time_argument

    assert max_time_argument(OmegaConf.create({"max_time": max_time})) == argument
    if isinstance(max_time, dict):
        assert argument["max_time"] == duration(max_time)
