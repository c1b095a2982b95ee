"""The field types and the base section every config schema section is built from (the config
sections and each model kind's settings): each constrained type says in words what it must be
(`description`), which becomes the error sentence."""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any, ClassVar, Literal, get_args

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    Strict,
    ValidationInfo,
    field_validator,
)

from stockcast.data.calendar import canonical_day

SPLIT_NAMES = ("train", "val", "test")
NORMALIZATIONS = ("per_window", "per_window_level", "standard", "minmax", "none")
EXECUTORS = ("inprocess", "subprocess")
PREDICT_MODES = ("forecast", "backtest")
# Lightning's accelerator names; whether one is present on this machine is Lightning's to say.
ACCELERATORS = ("cpu", "gpu", "cuda", "mps", "tpu", "auto")
# Lightning's precisions (2.6; a test compares them with its own): its names, its older ones,
# and the whole numbers `+trainer.precision=16` is read as.
PRECISIONS = (
    "16-true", "16-mixed", "bf16-true", "bf16-mixed", "32-true", "64-true", "transformer-engine",
    "transformer-engine-float16", "16", "32", "64", "bf16", 16, 32, 64,
)  # fmt: skip
INPUT_KINDS = ("values", "synthetic", "csv", "test_split")
TABLE_FORMATS = ("csv", "parquet")
SPLIT_SUM_TOLERANCE = 1e-6

# Arguments of lightning.pytorch.Trainer and of its EarlyStopping callback (2.6): the trainer and
# callbacks.early_stopping nodes may set any of them (tests compare these with Lightning's own).
TRAINER_ARGUMENTS = (
    "accelerator", "strategy", "devices", "num_nodes", "precision", "logger", "callbacks",
    "fast_dev_run", "max_epochs", "min_epochs", "max_steps", "min_steps", "max_time",
    "limit_train_batches", "limit_val_batches", "limit_test_batches", "limit_predict_batches",
    "overfit_batches", "val_check_interval", "check_val_every_n_epoch", "num_sanity_val_steps",
    "log_every_n_steps", "enable_checkpointing", "enable_progress_bar", "enable_model_summary",
    "accumulate_grad_batches", "gradient_clip_val", "gradient_clip_algorithm", "deterministic",
    "benchmark", "inference_mode", "use_distributed_sampler", "profiler", "detect_anomaly",
    "barebones", "plugins", "sync_batchnorm", "reload_dataloaders_every_n_epochs",
    "default_root_dir", "enable_autolog_hparams", "model_registry",
)  # fmt: skip
EARLY_STOPPING_ARGUMENTS = (
    "monitor", "min_delta", "patience", "verbose", "mode", "strict", "check_finite",
    "stopping_threshold", "divergence_threshold", "check_on_train_epoch_end", "log_rank_zero_only",
)  # fmt: skip
# Arguments of its ModelCheckpoint callback (2.6): callbacks.model_checkpoint may set any of them.
MODEL_CHECKPOINT_ARGUMENTS = (
    "dirpath", "filename", "monitor", "verbose", "save_last", "save_top_k", "save_on_exception",
    "save_weights_only", "mode", "auto_insert_metric_name", "every_n_train_steps",
    "train_time_interval", "every_n_epochs", "save_on_train_epoch_end", "enable_version_counter",
)  # fmt: skip

MLFLOW_LOGGER_ARGUMENTS = (
    "experiment_name", "run_name", "tracking_uri", "tags", "save_dir", "log_model", "prefix",
    "artifact_location", "run_id", "synchronous",
)  # fmt: skip

# Floats up to here hold every whole number exactly: 1e300 is not read as an integer.
EXACT_WHOLE_FLOATS = 2**53


def config_fields(model: type[BaseModel]) -> dict[str, Any]:
    """A schema's fields by the config key each reads (its alias, where it has one)."""
    return {field.alias or name: field for name, field in model.model_fields.items()}


def model_of(held: Any) -> type[BaseModel] | None:
    """The schema class a field holds, also inside `Section | None`."""
    for candidate in (held, *get_args(held)):
        if isinstance(candidate, type) and issubclass(candidate, BaseModel):
            return candidate
    return None


def _whole_float_as_int(value: Any) -> Any:
    """`2.0` and `1e3` (Hydra reads both as floats) are the whole numbers they write; 2.5, text
    and booleans stay what they are, for the strict check to refuse."""
    if isinstance(value, float) and value.is_integer() and abs(value) <= EXACT_WHOLE_FLOATS:
        return int(value)
    return value


AsWhole = BeforeValidator(_whole_float_as_int)
WholeAbove0 = Annotated[
    int, Field(strict=True, gt=0, description="a whole number above 0"), AsWhole
]
WholeAtLeast0 = Annotated[
    int, Field(strict=True, ge=0, description="a whole number, 0 or more"), AsWhole
]
Whole = Annotated[int, Field(strict=True, description="a whole number"), AsWhole]
# Seeds reach numpy (and Lightning's seed_everything), which take 0 to 2**32 - 1 only.
LARGEST_SEED = 2**32 - 1
SEED_RANGE = Field(
    strict=True,
    ge=0,
    le=LARGEST_SEED,
    description=f"a whole number from 0 to {LARGEST_SEED} (numpy's seeds)",
)
Seed = Annotated[int, SEED_RANGE, AsWhole]
# A seed that may be left unset (None: the task picks one).
SeedOrNone = Annotated[int | None, SEED_RANGE, AsWhole]


# What a window's size must be.
WINDOW_RULE = "a whole number of at least 2 (a band's unit is the window's one-step changes)"


def _window(value: Any, or_else: str = "") -> Any:
    value = _whole_float_as_int(value)
    if isinstance(value, bool) or not isinstance(value, int) or value < 2:
        raise ValueError(f"is {value!r}; it must be {WINDOW_RULE}{or_else}")
    return value


def _window_or_auto(value: Any) -> Any:
    return value if _whole_float_as_int(value) == "auto" else _window(value, ", or auto")


# A window size of at least 2 values (an automatic window's floor too).
Window = Annotated[Any, BeforeValidator(_window)]
# A window size of at least 2 values, or `auto` (chosen from the data's season when it is
# prepared).
WindowOrAuto = Annotated[Any, BeforeValidator(_window_or_auto)]
# A number, never true or false: pydantic's lax float reads True as 1.0, so `gate.max_mase=true`
# was a gate of 1 and `gate.max_coverage_gap=true` was told it must be below 1. Whole numbers
# (YAML's 1) are still numbers.
Number = Annotated[float, Strict()]
Above0 = Annotated[Number, Field(gt=0, allow_inf_nan=False, description="a number above 0")]
AtLeast0 = Annotated[Number, Field(ge=0, allow_inf_nan=False, description="a number, 0 or more")]
Finite = Annotated[Number, Field(allow_inf_nan=False, description="a finite number")]
# A daily log-volatility: at 1 (100% a day) a walk's prices already underflow within months.
DailyVolatility = Annotated[
    Number, Field(ge=0, le=1, allow_inf_nan=False, description="a daily volatility from 0 to 1")
]
Fraction = Annotated[
    Number, Field(gt=0, lt=1, description="a fraction in (0, 1): each split needs some data")
]


class Section(BaseModel):
    """A config section: every key it may hold is named here, so a misspelt or invented key is
    refused (Hydra refuses `key=...` for a key the config lacks; `+key=...` adds it, and only
    this schema can then say that nothing reads it)."""

    model_config = ConfigDict(extra="forbid")
    # Keys the section holds that the schema does not judge, accepted as they are and never
    # resolved here: folders the step table binds (some interpolate `${hydra:...}`), arguments of
    # the object a `_target_` builds.
    unjudged: ClassVar[frozenset[str]] = frozenset()
    # Whether its other keys name objects Hydra builds (callbacks, loggers): a user may add one,
    # as a mapping with a `_target_`.
    targets: ClassVar[bool] = False


# The days a nanosecond clock (numpy's and pandas' dates) holds whole: 1500-01-01 wrapped round
# to 2182 without a word.
FIRST_DAY, LAST_DAY = "1678-01-01", "2261-12-31"


def _iso_date(value: Any) -> str:
    if value is None:
        # str(None) read as a date written 'None'.
        raise ValueError("is null; it must be a date written YYYY-MM-DD")
    text = value.isoformat() if isinstance(value, date) else str(value)
    try:
        day = canonical_day(text)
    except ValueError:
        raise ValueError(f"is {text!r}; it must be a date written YYYY-MM-DD") from None
    if not FIRST_DAY <= str(day) <= LAST_DAY:
        raise ValueError(f"is {text!r}; it must be a date from {FIRST_DAY} to {LAST_DAY}")
    return text


IsoDate = Annotated[Any, AfterValidator(_iso_date)]
# Blank or padded, MLflow keeps a name no one can find by typing it (and refuses an empty one
# only once a run has done its work).
EXPERIMENT_NAME_RULE = "an MLflow experiment name on one line, without spaces at either end"
ExperimentName = Annotated[str, Field(pattern=r"^\S(.*\S)?$", description=EXPERIMENT_NAME_RULE)]
TrailingLength = Annotated[
    int | None,
    Field(strict=True, ge=2, description="a whole number of at least 2 points, or null (all)"),
    AsWhole,
]
Range = Annotated[
    tuple[Finite, Finite], Field(description="two finite numbers [low, high], low at most high")
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

# A CSV file's field separator and decimal mark (data.separator, input.separator): a spreadsheet
# where the comma is the decimal mark writes `;` between fields and `1,5` for one and a half.
# A tab as a setting writes it ('\t' on a command line): the file readers read it as a tab.
WRITTEN_TAB = "\\t"


def _one_separator(text: str) -> str:
    if text == WRITTEN_TAB:
        return text
    if len(text) != 1 or text.isalnum() or text in "\"'\r\n":
        raise ValueError(
            f"is {text!r}; it must be one character other than a letter, a digit, a quote or a "
            "line end (';', '|' or '\\t' for a tab)"
        )
    return text


CsvSeparator = Annotated[str, AfterValidator(_one_separator)]


class CsvForm(Section):
    """The settings of a section that reads a CSV file (data, predict's input): its field
    separator and decimal mark (a Parquet file keeps numbers as numbers)."""

    separator: CsvSeparator = ","
    decimal: Literal[".", ","] = "."

    @field_validator("decimal")
    @classmethod
    def _decimal_apart(cls, decimal: str, info: ValidationInfo) -> str:
        """The decimal mark cannot also separate the fields."""
        if decimal == info.data.get("separator"):
            other = "," if decimal == "." else "."
            raise ValueError(
                f"is {decimal!r}, the separator too; separate the fields with another character "
                f"(';' where the comma is the decimal mark), or set the decimal mark to {other!r}"
            )
        return decimal
