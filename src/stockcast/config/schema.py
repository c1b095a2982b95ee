"""The typed schema every composed config is validated against, once, when a task starts.

Pydantic rather than Hydra structured configs: the checks here are ranges, choices and
cross-field rules (split fractions summing to 1, `max_steps` of -1 or at least 1) with a sentence
a user can act on, which dataclass type checks cannot express. Hydra still composes the YAML and
refuses unknown keys; this module judges the values, before any data is read.

Each constrained field says in words what it must be (`description`); an error becomes
`<key> is <value>; it must be <description>.`
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from datetime import date
from typing import Annotated, Any, Literal, get_args

from omegaconf import DictConfig, OmegaConf
from omegaconf.errors import InterpolationResolutionError
from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
)

from stockcast.data.calendar import canonical_day
from stockcast.errors import ConfigError

SPLIT_NAMES = ("train", "val", "test")
ACTIVATION_NAMES = ("relu", "gelu", "tanh", "silu")
ANCHORS = ("last", "none")
LOSS_NAMES = ("mse", "mae", "huber")
NORMALIZATIONS = ("per_window", "per_window_level", "standard", "minmax", "none")
EXECUTORS = ("inprocess", "subprocess")
PREDICT_MODES = ("forecast", "backtest")
# Lightning's accelerator names; whether one is present on this machine is Lightning's to say.
ACCELERATORS = ("cpu", "gpu", "cuda", "mps", "tpu", "auto")
INPUT_KINDS = ("values", "synthetic", "csv", "test_split")
TABLE_FORMATS = ("csv", "parquet")
SPLIT_SUM_TOLERANCE = 1e-6

WholeAbove0 = Annotated[int, Field(strict=True, gt=0, description="a whole number above 0")]
WholeAtLeast0 = Annotated[int, Field(strict=True, ge=0, description="a whole number, 0 or more")]
Whole = Annotated[int, Field(strict=True, description="a whole number")]
Above0 = Annotated[float, Field(gt=0, allow_inf_nan=False, description="a number above 0")]
AtLeast0 = Annotated[float, Field(ge=0, allow_inf_nan=False, description="a number, 0 or more")]
Fraction = Annotated[
    float, Field(gt=0, lt=1, description="a fraction in (0, 1): each split needs some data")
]


class Section(BaseModel):
    """Keys the schema does not name are left to Hydra (which refuses unknown ones)."""

    model_config = ConfigDict(extra="allow")


def _iso_date(value: Any) -> str:
    text = value.isoformat() if isinstance(value, date) else str(value)
    try:
        canonical_day(text)
    except ValueError:
        raise ValueError(f"is {text!r}; it must be a date written YYYY-MM-DD") from None
    return text


IsoDate = Annotated[Any, AfterValidator(_iso_date)]
TrailingLength = Annotated[
    int | None,
    Field(strict=True, ge=2, description="a whole number of at least 2 points, or null (all)"),
]
Range = Annotated[
    tuple[float, float], Field(description="two numbers [low, high], low at most high")
]


def _ordered_positive(bounds: tuple[float, float]) -> tuple[float, float]:
    if not 0 < bounds[0] <= bounds[1]:
        raise ValueError(f"is {list(bounds)}; it must be [low, high] with 0 < low <= high")
    return bounds


def _distinct(kinds: list[str]) -> list[str]:
    if len(set(kinds)) != len(kinds):
        raise ValueError(
            f"is {kinds}; name each kind at most once (a repeated kind adds an identical member)"
        )
    return kinds


def _ordered(bounds: tuple[float, float]) -> tuple[float, float]:
    if bounds[0] > bounds[1]:
        raise ValueError(f"is {list(bounds)}; it must be [low, high] with low <= high")
    return bounds


PositiveRange = Annotated[Range, AfterValidator(_ordered_positive)]
OrderedRange = Annotated[Range, AfterValidator(_ordered)]


class DataCommon(Section):
    source: str
    previous_time_window: WholeAbove0
    next_time_window: WholeAbove0
    split: Annotated[dict[str, Fraction], Field(description="in (0, 1): each split needs data")]
    # One kind, or a list: one ensemble member per kind (each kind at most once).
    normalization: Annotated[
        list[Literal[NORMALIZATIONS]],  # type: ignore[valid-type]
        BeforeValidator(lambda value: [value] if isinstance(value, str) else value),
        Field(min_length=1, description="a kind or a non-empty list of kinds"),
        AfterValidator(_distinct),
    ]
    min_relative_scale: Annotated[
        float, Field(gt=0, description="above 0 so flat windows stay finite")
    ]
    batch_size: WholeAbove0
    steps_per_batch: WholeAbove0
    eval_batch_size: WholeAbove0
    allow_non_positive: bool = False
    as_of: IsoDate
    require_new_data: bool = False

    @field_validator("split")
    @classmethod
    def _three_splits_summing_to_one(cls, split: dict[str, float]) -> dict[str, float]:
        if set(split) != set(SPLIT_NAMES):
            raise ValueError(f"must give exactly {list(SPLIT_NAMES)}; got {sorted(split)}")
        total = sum(split.values())
        if abs(total - 1.0) > SPLIT_SUM_TOLERANCE:
            raise ValueError(f"fractions sum to {total:g}; make them sum to 1")
        return split


SeriesLength = Annotated[
    int, Field(strict=True, ge=2, description="a whole number of at least 2 points")
]


class MarketCommon(DataCommon):
    start_date: IsoDate
    length: TrailingLength
    seed: Whole


class GbmData(MarketCommon):
    source: Literal["gbm"]
    start_price: Above0
    drift: float
    volatility: AtLeast0


class SeasonalData(MarketCommon):
    source: Literal["seasonal"]
    start_price: float
    trend: float
    season_length: WholeAbove0
    amplitude: float
    noise_std: AtLeast0


class MultiTickerData(MarketCommon):
    source: Literal["market"]
    num_series: WholeAbove0
    drift: float
    volatility_range: PositiveRange
    start_price_range: PositiveRange
    beta_range: OrderedRange
    market_drift: float
    market_volatility: AtLeast0


class TableData(DataCommon):
    path: str
    date_column: str | None
    value_column: str
    id_column: str | None
    format: Literal[TABLE_FORMATS] | None = None  # type: ignore[valid-type]


class CsvData(TableData):
    source: Literal["csv"]


class ParquetData(TableData):
    source: Literal["parquet"]


DataConfig = Annotated[
    GbmData | SeasonalData | MultiTickerData | CsvData | ParquetData,
    Field(discriminator="source"),
]
# Pydantic names the chosen member of the union in an error's location: map it back.
DATA_SOURCES: dict[str, type[DataCommon]] = {
    "gbm": GbmData,
    "seasonal": SeasonalData,
    "market": MultiTickerData,
    "csv": CsvData,
    "parquet": ParquetData,
}


def _quantiles_with_a_median(quantiles: list[float]) -> list[float]:
    if quantiles and 0.5 not in quantiles:
        raise ValueError(f"is {quantiles}; it must include 0.5 (the point forecast) or be []")
    return quantiles


Quantiles = Annotated[
    list[Annotated[float, Field(gt=0, lt=1)]],
    Field(description="a list of quantiles in (0, 1), e.g. [0.1, 0.5, 0.9]"),
    AfterValidator(_quantiles_with_a_median),
]


class ModelConfig(Section):
    hidden_sizes: Annotated[
        list[Annotated[int, Field(strict=True, gt=0)]],
        Field(description="a list of whole numbers above 0 ([] is a linear model)"),
    ]
    activation: Literal[ACTIVATION_NAMES]  # type: ignore[valid-type]
    dropout: Annotated[float, Field(ge=0, lt=1, description="in [0, 1)")]
    loss: Literal[LOSS_NAMES]  # type: ignore[valid-type]
    huber_delta: Above0
    window_scale_power: Annotated[float, Field(ge=0, le=1, description="in [0, 1]")]
    combination: Literal["mean", "inverse_mse"]
    combination_power: Annotated[float, Field(gt=0, le=8, description="above 0 and at most 8")]
    anchor: Literal[ANCHORS]  # type: ignore[valid-type]
    interval_levels: Annotated[
        list[Annotated[int, Field(strict=True, gt=0, lt=100)]],
        Field(description="a list of whole percentages between 0 and 100, e.g. [80, 95]"),
    ]
    quantiles: Quantiles


class FitConfig(Section):
    min_batches_per_epoch: WholeAbove0
    val_every_steps: WholeAbove0
    naive_fallback: bool
    min_gain_over_naive: Annotated[float, Field(ge=0, lt=1, description="in [0, 1)")]
    max_p_value_vs_naive: Annotated[float, Field(gt=0, le=1, description="in (0, 1]")] | None = None


class OptimConfig(Section):
    lr: Above0
    weight_decay: AtLeast0


class TrainerConfig(Section):
    max_epochs: Annotated[int | None, Field(strict=True, ge=1, description="at least 1")] = None
    max_steps: Annotated[
        int, Field(strict=True, description="-1 (no step limit) or at least 1")
    ] = -1

    accelerator: Literal[ACCELERATORS] = "cpu"  # type: ignore[valid-type]
    devices: Annotated[
        int | str | list[int], Field(description="a number of devices, -1, 'auto' or a list of ids")
    ] = 1
    # Machines of a distributed (trainer=ddp) fit; Azure ML sets it from azureml.job.instance_count.
    num_nodes: WholeAbove0 = 1
    gradient_clip_val: Annotated[
        float | None, Field(ge=0, allow_inf_nan=False, description="null or a number, 0 or more")
    ] = None

    @field_validator("max_steps")
    @classmethod
    def _minus_one_or_positive(cls, value: int) -> int:
        if value != -1 and value < 1:
            raise ValueError(f"is {value}; it must be -1 (no step limit) or at least 1")
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
            raise ValueError(f"is {value!r}; it must be at least 1, -1 (all), 'auto' or [ids]")
        return value


class EarlyStoppingConfig(Section):
    patience: WholeAtLeast0
    min_delta: AtLeast0


class CallbacksConfig(Section):
    early_stopping: EarlyStoppingConfig | None = None


class TrainSettings(Section):
    resume: Annotated[
        str | None, Field(min_length=1, description="a run directory or a .ckpt file")
    ] = None
    init_from: (
        Annotated[int, Field(strict=True, ge=1, description="a version number or an alias")]
        | Annotated[str, Field(min_length=1, description="a version number or an alias")]
        | None
    ) = None
    warm_max_steps: WholeAbove0 = 200
    warm_lr_scale: Annotated[float, Field(gt=0, le=1, description="in (0, 1]")] = 0.1
    compare_cold: bool = False


class RegistrySettings(Section):
    tracking_uri: Annotated[str, Field(min_length=1, description="an MLflow tracking URI")]
    model_name: Annotated[str, Field(min_length=1, description="a registered model name")]


class TrainConfig(Section):
    seed: Whole
    num_threads: WholeAbove0
    data: DataConfig
    model: ModelConfig
    optim: OptimConfig
    trainer: TrainerConfig
    fit: FitConfig
    train: TrainSettings = TrainSettings()
    callbacks: CallbacksConfig | None = None
    registry: RegistrySettings


class GateConfig(Section):
    max_mase: Above0 | None
    max_mase_vs_naive: Above0 | None
    require_beat_champion: bool
    max_coverage_gap: Annotated[float, Field(gt=0, lt=1, description="in (0, 1)")] | None = None
    champion_tolerance: Annotated[
        float,
        Field(
            gt=-1,
            allow_inf_nan=False,
            description="a fraction above -1 (negative: the candidate must be that much better)",
        ),
    ]


class EvaluateConfig(Section):
    season_length: Whole
    plot_series: WholeAtLeast0


class PipelineSettings(Section):
    executor: Literal[EXECUTORS]  # type: ignore[valid-type]
    refit: bool
    refit_budget: Literal["epochs", "steps"] = "epochs"


class MonitorConfig(Section):
    decision_dir: Annotated[str | None, Field(min_length=1, description="a folder or null")] = None
    ledger_dir: Annotated[str | None, Field(min_length=1, description="a folder or null")] = None
    ledger_timeout_s: Above0
    window: WholeAbove0
    max_ratio_vs_naive: Above0
    min_matured: WholeAbove0
    rollback: bool
    experiment_name: Annotated[str, Field(min_length=1, description="an MLflow experiment name")]


class PipelineConfig(TrainConfig):
    pipeline: PipelineSettings
    evaluate: EvaluateConfig
    gate: GateConfig
    monitor: MonitorConfig


class ReplaySettings(Section):
    end: Annotated[str | None, Field(min_length=1, description="a date YYYY-MM-DD or null")]
    store_dir: Annotated[str, Field(min_length=1, description="a folder")]
    warm_start: bool
    plot_history: WholeAbove0


class ReplayConfig(PipelineConfig):
    days: WholeAbove0
    replay: ReplaySettings


class PredictModel(Section):
    version: Annotated[int | None, Field(strict=True, ge=1, description="a version number")]
    alias: str | None


class PredictInput(Section):
    kind: Literal[INPUT_KINDS]  # type: ignore[valid-type]
    seed: Whole | None = None
    length: SeriesLength | None = None


class BacktestConfig(Section):
    span: WholeAbove0


class PlotConfig(Section):
    history: WholeAbove0


class PredictConfig(Section):
    model: PredictModel
    previous_time_window: WholeAbove0 | None
    next_time_window: WholeAbove0 | None
    mode: Literal[PREDICT_MODES]  # type: ignore[valid-type]
    backtest: BacktestConfig
    input: PredictInput
    plot: PlotConfig
    print_decimals: WholeAtLeast0
    print_series: WholeAbove0
    registry: RegistrySettings


class ServeSettings(Section):
    host: Annotated[str, Field(min_length=1, description="a host name or address")]
    port: Annotated[int, Field(strict=True, ge=1, le=65535, description="a port in 1..65535")]


class ServeConfig(Section):
    model: PredictModel
    serve: ServeSettings
    registry: RegistrySettings


# Which schema a composed config answers to, by a key only that config has.
SCHEMAS: tuple[tuple[str, type[Section]], ...] = (
    ("serve", ServeConfig),
    ("input", PredictConfig),
    ("replay", ReplayConfig),
    ("gate", PipelineConfig),
    ("trainer", TrainConfig),
)


def schema_for(cfg: DictConfig | Mapping[str, Any]) -> type[Section]:
    for key, schema in SCHEMAS:
        if key in cfg:
            return schema
    raise ConfigError("the config is neither a train, pipeline, replay, predict nor serve config.")


def validate_config(cfg: DictConfig) -> DictConfig:
    """Refuse the first invalid value with one sentence; returns the config unchanged."""
    schema = schema_for(cfg)
    try:
        schema.model_validate(_named_values(schema, cfg))
    except ValidationError as err:
        raise ConfigError(_sentence(schema, err.errors()[0])) from None
    except InterpolationResolutionError as err:
        # e.g. registry=azureml reads ${oc.env:MLFLOW_TRACKING_URI}, unset on a laptop
        detail = str(err).splitlines()[0].split(": ", 1)[-1].strip('"')
        raise ConfigError(
            f"{err.full_key} cannot be resolved ({detail}); set it, or what it refers to."
        ) from None
    return cfg


def _named_values(model: type[BaseModel], node: DictConfig) -> dict[str, Any]:
    """Only the values the schema names, resolved one by one: other keys may interpolate things
    that exist only inside a running Hydra app (`${hydra:runtime.output_dir}`)."""
    values: dict[str, Any] = {}
    for name, field in model.model_fields.items():
        if name not in node:  # also a mandatory `???` value: pydantic reports it as missing
            continue
        value = node[name]
        held = _model_of(field.annotation)
        if name == "data" and isinstance(value, DictConfig):
            held = DATA_SOURCES.get(str(value.get("source")), DataCommon)
        if isinstance(value, DictConfig) and held is not None:
            values[name] = _named_values(held, value)
        elif isinstance(value, DictConfig) or OmegaConf.is_list(value):
            values[name] = OmegaConf.to_container(value, resolve=True)
        else:
            values[name] = value
    return values


def _sentence(schema: type[BaseModel], error: Mapping[str, Any]) -> str:
    """`optim.lr is -1; it must be a number above 0.` from one pydantic error."""
    loc = [part for part in error["loc"] if part not in DATA_SOURCES]
    key = ".".join(str(part) for part in loc if not isinstance(part, int))
    kind = error["type"]
    if kind == "missing":
        return f"{key} is not set; give it in the config or as an override ({key}=...)."
    if kind == "union_tag_invalid":
        expected = error["ctx"]["expected_tags"]
        return f"{key}.source is {error['ctx']['tag']!r}; choose one of {expected}."
    if kind == "literal_error":
        return f"{key} is {error['input']!r}; choose one of {error['ctx']['expected']}."
    if kind == "value_error":
        return f"{key} {error['ctx']['error']}."
    requirement = _description(schema, error["loc"]) or error["msg"].removeprefix(
        "Input should be "
    )
    return f"{key} is {_display(error['input'])}; it must be {requirement}."


def _display(value: Any) -> str:
    if isinstance(value, float) and math.isfinite(value) and value == int(value):
        return f"{value:g}"
    return repr(value) if isinstance(value, str) else str(value)


def _description(schema: type[BaseModel], loc: tuple[Any, ...]) -> str | None:
    """The `description` of the field a location points into (a list item uses its list's)."""
    model: Any = schema
    description = None
    for part in loc:
        if part in DATA_SOURCES:
            model = DATA_SOURCES[part]
            continue
        if isinstance(part, int):
            continue
        fields = getattr(model, "model_fields", {})
        if part not in fields:
            return description
        field = fields[part]
        description = field.description
        model = _model_of(field.annotation)
    return description


def _model_of(held: Any) -> type[BaseModel] | None:
    """The schema class a field holds, also inside `Section | None`."""
    for candidate in (held, *get_args(held)):
        if isinstance(candidate, type) and issubclass(candidate, BaseModel):
            return candidate
    return None
