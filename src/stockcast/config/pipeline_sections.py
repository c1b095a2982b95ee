"""The schema of the sections the pipeline and the replay add to the train config: the steps
after training (evaluate, gate, refit, register, monitor) and the simulated days."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, ValidationInfo, field_validator

from stockcast.config.sections import TrainConfig
from stockcast.fields import (
    EXECUTORS,
    Above0,
    ExperimentName,
    Number,
    Section,
    WholeAbove0,
    WholeAtLeast0,
)


class GateConfig(Section):
    max_mase: Above0 | None
    max_mase_vs_naive: Above0 | None
    require_beat_champion: bool
    max_coverage_gap: Annotated[Number, Field(gt=0, lt=1, description="in (0, 1)")] | None = None
    champion_tolerance: Annotated[
        Number,
        Field(
            gt=-1,
            allow_inf_nan=False,
            description="a fraction above -1 (negative: the candidate must be that much better)",
        ),
    ]


class EvaluateConfig(Section):
    unjudged = frozenset({"model_dir", "prepared_dir", "output_dir"})

    season_length: WholeAbove0 | None = None
    plot_series: WholeAtLeast0


class PipelineSettings(Section):
    executor: Literal[EXECUTORS]  # type: ignore[valid-type]
    refit: bool
    refit_budget: Literal["epochs", "steps"] = "epochs"
    refit_check: bool = True
    refit_beside_check: bool = True
    refit_min_candidate_weight: Annotated[Number, Field(ge=0, lt=1, description="in [0, 1)")] = 0.01


# The longest wait for the ledger's lock: sqlite's busy timeout is a C int of milliseconds, and
# a longer one overflowed into no wait at all.
SQLITE_LONGEST_WAIT_S = (2**31 - 1) // 1000


class MonitorConfig(Section):
    unjudged = frozenset({"prepared_dir", "output_dir"})

    decision_dir: Annotated[str | None, Field(min_length=1, description="a folder or null")] = None
    ledger_dir: Annotated[str | None, Field(min_length=1, description="a folder or null")] = None
    ledger_timeout_s: Annotated[
        Number,
        Field(
            gt=0,
            le=SQLITE_LONGEST_WAIT_S,
            allow_inf_nan=False,
            description=f"a number of seconds above 0 and at most {SQLITE_LONGEST_WAIT_S} (the "
            "longest wait sqlite takes)",
        ),
    ]
    window: WholeAbove0
    max_ratio_vs_naive: Above0
    min_matured: WholeAbove0
    rollback: bool
    experiment_name: ExperimentName

    @field_validator("min_matured")
    @classmethod
    def _within_the_window(cls, value: int, info: ValidationInfo) -> int:
        """The champion is judged over its last `window` origins: more could never mature."""
        window = info.data.get("window")
        if window is not None and value > window:
            raise ValueError(
                f"is {value}, more origins than monitor.window={window} keeps, so the champion "
                "would never be judged; make it at most the window"
            )
        return value


class PrepareSettings(Section):
    unjudged = frozenset({"output_dir"})


class RefitSettings(Section):
    unjudged = frozenset(
        {"model_dir", "prepared_dir", "train_output_dir", "report_dir", "output_dir"}
    )


class RegisterSettings(Section):
    unjudged = frozenset({"model_dir", "report_dir", "output_dir"})


class PipelineConfig(TrainConfig):
    prepare: PrepareSettings
    refit: RefitSettings
    # `register` is a class method of every pydantic model: the field takes another name.
    register_: RegisterSettings = Field(alias="register")
    pipeline: PipelineSettings
    evaluate: EvaluateConfig
    gate: GateConfig
    monitor: MonitorConfig


class ReplaySettings(Section):
    end: Annotated[str | None, Field(min_length=1, description="a date YYYY-MM-DD or null")]
    store_dir: Annotated[str, Field(min_length=1, description="a folder")]
    warm_start: bool
    plot_history: WholeAbove0
    resume_from: Annotated[str | None, Field(min_length=1, description="a folder or null")]


class ReplayConfig(PipelineConfig):
    days: WholeAbove0
    replay: ReplaySettings
