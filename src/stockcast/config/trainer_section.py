"""The trainer section: the Lightning Trainer the fit builds, and the arguments the fit sets or
applies itself (the validation schedule, gradient clipping) refused or kept in bounds."""

from __future__ import annotations

import math
import re
from datetime import timedelta
from typing import Annotated, Any, Literal

from pydantic import Field, ValidationInfo, field_validator

from stockcast.fields import (
    ACCELERATORS,
    PRECISIONS,
    TRAINER_ARGUMENTS,
    AsWhole,
    Number,
    Section,
    WholeAbove0,
)

# What trainer.devices takes, in every sentence that refuses a value of it.
DEVICES = "a number of devices (1 or more, or -1 for all), 'auto' or a list of device ids"

# A Lightning switch: a boolean, a yes or no word read as the one it says (null: Lightning's own).
Switch = Annotated[bool | None, Field(description="true or false")]

# What trainer.min_epochs and trainer.min_steps take (null: no minimum).
MINIMUM = "null or a whole number, 0 or more"

# How many batches a Lightning loop runs (trainer.limit_*_batches, trainer.overfit_batches): a
# count, or a share of them. 1.0 is all of them and 1 is one batch: neither is read as the other.
BatchesLimit = Annotated[
    Annotated[int, Field(strict=True, ge=0)] | Annotated[Number, Field(ge=0, le=1)] | None,
    Field(
        description=(
            "a number of batches (0 or more, without a decimal point) or a share of them from 0.0 "
            "to 1.0"
        )
    ),
]


# What trainer.max_time takes: Lightning's duration text, or a mapping of timedelta's units.
DURATION_UNITS = ("weeks", "days", "hours", "minutes", "seconds", "milliseconds", "microseconds")
DURATION_TEXT = re.compile(r"(\d+):(\d\d):(\d\d):(\d\d)")  # Lightning's Timer's own pattern
MAX_TIME = (
    "null, a duration above 0 written 'DD:HH:MM:SS' (quoted in a YAML file) or a mapping of "
    f"numbers of {', '.join(DURATION_UNITS)} such as {{days: 1, hours: 12}}"
)


def duration(value: Any) -> timedelta | None:
    """The time `value` says in one of the forms Lightning's Timer reads, or None if it says
    none: the schema's check of trainer.max_time, and the mapping a fit hands the Timer."""
    if isinstance(value, str):
        found = DURATION_TEXT.fullmatch(value.strip())
        if found is None:
            return None
        days, hours, minutes, seconds = (int(part) for part in found.groups())
        return timedelta(days=days, hours=hours, minutes=minutes, seconds=seconds)
    if not isinstance(value, dict) or not value or not set(value) <= set(DURATION_UNITS):
        return None
    numbers = value.values()
    if any(isinstance(n, bool) or not isinstance(n, int | float) for n in numbers):
        return None
    if not all(math.isfinite(n) for n in numbers):
        return None
    try:
        return timedelta(**value)
    except OverflowError:
        return None


# The batch limits a fit cannot take at 0, and why.
ZERO_BATCHES_REFUSED = {
    "limit_val_batches": (
        "the fit keeps its best checkpoint and decides its naive fallback on the validation "
        "windows, so it must be above 0 (null: all of them)"
    ),
    "limit_train_batches": (
        "the fit would make no optimizer step, so it must be above 0 (null: all of them); to "
        "train less, lower trainer.max_steps"
    ),
}


class TrainerConfig(Section):
    # The trainer node builds a Lightning Trainer: any of its arguments may be set.
    unjudged = frozenset({"_target_", *TRAINER_ARGUMENTS})

    max_epochs: Annotated[
        int | None, Field(strict=True, ge=1, description="a whole number of at least 1"), AsWhole
    ] = None
    max_steps: Annotated[
        int,
        Field(strict=True, description="a whole number: -1 (no step limit) or at least 1"),
        AsWhole,
    ] = -1
    # Lightning ran a negative minimum or sanity count as none, and a negative logging interval
    # as its size: each without a word.
    min_epochs: Annotated[int | None, Field(strict=True, ge=0, description=MINIMUM), AsWhole] = None
    min_steps: Annotated[int | None, Field(strict=True, ge=0, description=MINIMUM), AsWhole] = None
    log_every_n_steps: Annotated[
        int | None,
        Field(strict=True, ge=0, description="null or a whole number of steps, 0 (none) or more"),
        AsWhole,
    ] = None
    num_sanity_val_steps: Annotated[
        int | None,
        Field(
            strict=True,
            ge=-1,
            description="null or a whole number of batches, 0 or more, or -1 for all of them",
        ),
        AsWhole,
    ] = None

    accelerator: Literal[ACCELERATORS] = "cpu"  # type: ignore[valid-type]
    devices: Annotated[int | str | list[int], Field(description=DEVICES), AsWhole] = 1
    # Machines of a distributed (trainer=ddp) fit; Azure ML sets it from azureml.job.instance_count.
    num_nodes: WholeAbove0 = 1
    # Clipped by the training module itself, which steps its optimizer by hand (Lightning
    # refuses both settings for such a module).
    gradient_clip_val: Annotated[
        Number | None, Field(ge=0, allow_inf_nan=False, description="null or a number, 0 or more")
    ] = None
    gradient_clip_algorithm: Literal["norm", "value"] | None = None
    accumulate_grad_batches: WholeAbove0 = 1
    # Lightning refused these only once the data was prepared, in a traceback; a word other than
    # warn for deterministic ran without deterministic algorithms.
    precision: Literal[PRECISIONS] | None = None  # type: ignore[valid-type]
    deterministic: Annotated[
        bool | Literal["warn"] | None, Field(description="true, false or 'warn'")
    ] = None
    # Torch's anomaly switch takes only a boolean: other text was a TypeError traceback once the
    # first batch ran; a yes or no word is the boolean it says.
    detect_anomaly: Switch = None
    # Lightning's other switches read any text as true (`enable_progress_bar=no` drew the bar)
    # or refused it with a traceback once the data was prepared (`benchmark=abc`).
    enable_progress_bar: Switch = None
    enable_model_summary: Switch = None
    enable_checkpointing: Switch = None
    inference_mode: Switch = None
    use_distributed_sampler: Switch = None
    sync_batchnorm: Switch = None
    benchmark: Switch = None
    barebones: Switch = None
    fast_dev_run: Annotated[
        bool | Annotated[int, Field(strict=True, ge=0)],
        Field(description="true, false or a number of batches (0 or more)"),
    ] = False
    # Lightning's Timer read a mapping only as a dict, not the DictConfig Hydra hands it: a
    # traceback once the data was prepared (training/build.py's `max_time_argument`).
    max_time: Any = None
    limit_train_batches: BatchesLimit = None
    limit_val_batches: BatchesLimit = None
    limit_test_batches: BatchesLimit = None
    limit_predict_batches: BatchesLimit = None
    overfit_batches: BatchesLimit = None
    # The fit validates about every fit.val_every_steps optimizer steps, whatever the epoch
    # length (training/build.py's validation_schedule): Lightning's own two settings are its.
    check_val_every_n_epoch: Any = None
    val_check_interval: Any = None

    @field_validator("check_val_every_n_epoch", "val_check_interval")
    @classmethod
    def _scheduled_by_the_fit(cls, value: Any) -> Any:
        if value is not None:
            raise ValueError(
                f"is {value!r}; the fit validates about every fit.val_every_steps optimizer "
                "steps whatever the epoch length, so set fit.val_every_steps instead"
            )
        return value

    @field_validator(*ZERO_BATCHES_REFUSED)
    @classmethod
    def _not_zero_batches(cls, value: int | float | None, info: ValidationInfo) -> Any:
        """No validation batches left a fit that trained and tested, then ended with "val/mase
        was not computed; use one of []", its model never judged; no training batches, one
        that made no step, whose untrained network fell back to the last price unsaid."""
        if value == 0:
            raise ValueError(f"is {value!r}; {ZERO_BATCHES_REFUSED[info.field_name]}")
        return value

    @field_validator("max_time")
    @classmethod
    def _a_duration(cls, value: Any) -> Any:
        if value is not None:
            said = duration(value)
            if said is None or said <= timedelta(0):
                raise ValueError(f"is {value!r}; it must be {MAX_TIME}")
        return value

    @field_validator("max_steps")
    @classmethod
    def _minus_one_or_positive(cls, value: int) -> int:
        if value != -1 and value < 1:
            raise ValueError(f"is {value}; it must be -1 (no step limit) or at least 1")
        return value

    @field_validator("accumulate_grad_batches")
    @classmethod
    def _no_accumulation(cls, value: int) -> int:
        if value != 1:
            raise ValueError(
                f"is {value}; the training module steps its optimizer once per batch of windows, "
                "so it must be 1 (raise data.batch_size for larger steps)"
            )
        return value

    @field_validator("devices", mode="before")
    @classmethod
    def _no_yes_or_no(cls, value: Any) -> Any:
        """`true` is no count of devices (pydantic's lax int read it as 1)."""
        if any(isinstance(item, bool) for item in (value if isinstance(value, list) else [value])):
            raise ValueError(f"is {value!r}; it must be {DEVICES}")
        return value

    @field_validator("devices")
    @classmethod
    def _device_count_or_ids(cls, value: int | str | list[int]) -> int | str | list[int]:
        valid = (
            value == "auto"
            or (isinstance(value, int) and (value >= 1 or value == -1))
            or (isinstance(value, list) and value and all(v >= 0 for v in value))
        )
        if not valid:
            raise ValueError(f"is {value!r}; it must be {DEVICES}")
        return value
