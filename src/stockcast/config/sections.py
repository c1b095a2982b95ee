"""The schema of the train config, section by section, which the pipeline's and the replay's
extend (`pipeline_sections`); the `data` and `model` sections have schemas of their own, and
predict's and serve's are in `client_sections`."""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BeforeValidator, Field, field_validator

from stockcast.config.data_schema import DataConfig
from stockcast.config.trainer_section import TrainerConfig
from stockcast.fields import (
    EARLY_STOPPING_ARGUMENTS,
    EXPERIMENT_NAME_RULE,
    MLFLOW_LOGGER_ARGUMENTS,
    MODEL_CHECKPOINT_ARGUMENTS,
    Above0,
    AsWhole,
    AtLeast0,
    ExperimentName,
    Number,
    Section,
    Seed,
    WholeAbove0,
    WholeAtLeast0,
)
from stockcast.forecasting.metrics import ERROR_METRICS
from stockcast.models.settings import ModelSettings
from stockcast.registry.versions import (
    ALIAS_TAG_PREFIX,
    MLFLOW_ALIAS_MAX_LENGTH,
    MLFLOW_TAG_KEY_MAX_LENGTH,
)

# A registered model's name: what MLflow stores and resolves (no '/' or ':', not a path such as
# '..x'; a '?' cuts its models:/ URI short), what the store's search filters take (no quotes),
# and what a cloud step's shell passes as one word (no spaces); MLflow refused the first only at
# registration, after the whole run's work, and a space broke the Azure step after training.
MODEL_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")
# What the MLflow store takes as a registered model's alias, and the names it reserves (the
# champion alias's own length limit is ALIAS_MAX_LENGTH below).
ALIAS_PATTERN = re.compile(r"[\w\-]+")
# The longest champion alias: a store without aliases keeps one as a tag key after
# ALIAS_TAG_PREFIX, which MLflow holds to fewer characters than an alias.
ALIAS_MAX_LENGTH = min(MLFLOW_ALIAS_MAX_LENGTH, MLFLOW_TAG_KEY_MAX_LENGTH - len(ALIAS_TAG_PREFIX))
RESERVED_VERSION_ALIAS = re.compile(r"[vV]\d+")
# A run label (an item of `tags`) is an MLflow tag key on the run: what MLflow takes as one on
# every system (letters, digits, '_', '.', '-', spaces), and not a name it reads as another path
# ('..x'); MLflow refused the others only as the run started, with a traceback.
RUN_LABEL = re.compile(r"[^\W_][\w. -]*")


# What a fit measures on its validation windows (val/<name>; training/module.py logs the loss,
# the forecast's errors and naive's MASE): what a sweep can rank trials by. Here, not in fields:
# the served model ships fields, and it measures nothing.
VALIDATION_METRICS = ("loss", *ERROR_METRICS, "naive_mase")
# What the fit logs at each of its validations (the validation metrics and the mean training
# loss since the one before): all that early stopping, the checkpoint and the learning-rate
# schedule can follow.
MONITORED_METRICS = (*(f"val/{name}" for name in VALIDATION_METRICS), "train/loss")
# The validation metric a refusal of an unusable optimized_metric offers.
EXAMPLE_METRIC = "val/mase"


def optimized_metric_problem(metric: str | None) -> str | None:
    """What is wrong with `optimized_metric` as a sweep ranks by it (the words after
    `optimized_metric`); None for a validation metric a fit computes, or null. The schema and
    the Optuna sweeper (before its study is opened or a trial runs) refuse with it alike."""
    if metric is not None and not metric.startswith("val/"):
        return (
            f"is {metric!r}; a sweep chooses its trials by it, so it must be a validation "
            f"metric such as {EXAMPLE_METRIC} (the test split only scores what was chosen)"
        )
    if metric is not None and metric.removeprefix("val/") not in VALIDATION_METRICS:
        names = ", ".join(f"val/{name}" for name in VALIDATION_METRICS)
        return f"is {metric!r}, which no fit computes; use one of {names}"
    return None


def _a_monitored_metric(metric: str) -> str:
    """A name the fit never logs failed the fit at its first validation (early stopping, the
    checkpoint) or, for the schedule, left the learning rate where it started without a word."""
    if metric not in MONITORED_METRICS:
        raise ValueError(
            f"is {metric!r}, which the fit does not log at its validations; use one of "
            f"{', '.join(MONITORED_METRICS)}"
        )
    return metric


MonitoredMetric = Annotated[str, AfterValidator(_a_monitored_metric)]


class FitConfig(Section):
    min_batches_per_epoch: WholeAbove0
    val_every_steps: WholeAbove0
    naive_fallback: bool
    min_gain_over_naive: Annotated[Number, Field(ge=0, lt=1, description="in [0, 1)")]
    max_p_value_vs_naive: Annotated[Number, Field(gt=0, le=1, description="in (0, 1]")] | None = (
        None
    )
    level_members_max_outside: (
        Annotated[Number, Field(ge=0, le=1, description="in [0, 1]")] | None
    ) = None
    folds: WholeAtLeast0 = 0
    folds_below_windows: WholeAbove0 = 30
    fold_min_train_share: Annotated[Number, Field(gt=0, le=1, description="in (0, 1]")] = 0.5
    folds_beside: bool = True


class OptimConfig(Section):
    unjudged = frozenset({"optimizer", "scheduler"})

    lr: Above0
    weight_decay: AtLeast0
    method_lr_scale: Above0
    # What the learning-rate schedule (ReduceLROnPlateau) follows.
    monitor: MonitoredMetric = "val/mase"


class EarlyStoppingConfig(Section):
    unjudged = frozenset({"_target_", *EARLY_STOPPING_ARGUMENTS})

    patience: WholeAtLeast0
    min_delta: AtLeast0
    monitor: MonitoredMetric = "val/mase"
    # Lightning refused another word with a traceback once the data was prepared.
    mode: Literal["min", "max"] = "min"


class ModelCheckpointConfig(Section):
    unjudged = frozenset({"_target_", *MODEL_CHECKPOINT_ARGUMENTS})

    # The best checkpoint's metric: the one the fit's model is restored from.
    monitor: MonitoredMetric | None = None
    mode: Literal["min", "max"] = "min"


class CallbacksConfig(Section):
    targets = True

    early_stopping: EarlyStoppingConfig | None = None
    model_checkpoint: ModelCheckpointConfig | None = None


class TrainSettings(Section):
    unjudged = frozenset({"prepared_dir", "output_dir", "model_dir"})

    resume: Annotated[
        str | None, Field(min_length=1, description="a run directory or a .ckpt file")
    ] = None
    init_from: Annotated[
        Annotated[int, Field(strict=True, ge=1), AsWhole]
        | Annotated[str, Field(min_length=1)]
        | None,
        Field(description="a version number (1 or more) or an alias"),
    ] = None
    warm_max_steps: WholeAbove0 = 200
    warm_lr_scale: Annotated[Number, Field(gt=0, le=1, description="in (0, 1]")] = 0.1
    compare_cold: bool = False


def _registered_model_name(value: str) -> str:
    if not MODEL_NAME.fullmatch(value):
        raise ValueError(
            f"is {value!r}; a registered model name is letters, digits, '.', '_' and '-', "
            "starting with a letter or digit"
        )
    return value


RegisteredModelName = Annotated[
    str,
    Field(min_length=1, description="a registered model name"),
    AfterValidator(_registered_model_name),
]

KeySetting = Annotated[
    str | None, Field(min_length=1, description="a PEM key file, the PEM text itself, or null")
]


def _an_alias_the_store_takes(value: str) -> str:
    """MLflow's rules, checked before training rather than after registering: it reserves
    `latest` and version names (`v9`); and the length a store without aliases can keep as a tag
    (`ALIAS_MAX_LENGTH`)."""
    if not ALIAS_PATTERN.fullmatch(value) or len(value) > ALIAS_MAX_LENGTH:
        raise ValueError(
            f"is {value!r}; an alias is letters, digits, _ and - (at most {ALIAS_MAX_LENGTH})"
        )
    if value.lower() == "latest" or RESERVED_VERSION_ALIAS.fullmatch(value):
        raise ValueError(f"is {value!r}, a name the store reserves; choose another alias")
    return value


ChampionAlias = Annotated[
    str, Field(description="a registered model alias"), AfterValidator(_an_alias_the_store_takes)
]


def _digits(value: Any) -> Any:
    """A whole number as a label reads as its digits (`tags=[2024]`)."""
    return str(value) if isinstance(value, int) and not isinstance(value, bool) else value


def _a_run_label(value: str) -> str:
    if not RUN_LABEL.fullmatch(value) or len(value) > MLFLOW_TAG_KEY_MAX_LENGTH:
        raise ValueError(
            f"is {value!r}; a label is letters, digits, '_', '.', '-' and spaces, starting with a "
            f"letter or digit (at most {MLFLOW_TAG_KEY_MAX_LENGTH})"
        )
    return value


RunLabel = Annotated[
    str,
    Field(description="a run label"),
    BeforeValidator(_digits),
    AfterValidator(_a_run_label),
]


class SigningSettings(Section):
    """Signing keys, kept outside the store: the register step signs with the private key,
    every client verifies against the public key (null: only the hash in the store's tags)."""

    private_key: KeySetting = None
    public_key: KeySetting = None


class RegistrySettings(Section):
    unjudged = frozenset({"registry_uri", "artifact_location"})

    tracking_uri: Annotated[str, Field(min_length=1, description="an MLflow tracking URI")]
    model_name: RegisteredModelName
    champion_alias: ChampionAlias
    # Where the register step's runs go (null: `ModelRegistry`'s default).
    experiment_name: Annotated[
        ExperimentName | None, Field(description=f"{EXPERIMENT_NAME_RULE}, or null")
    ] = None
    signing: SigningSettings = SigningSettings()


class MlflowLoggerConfig(Section):
    unjudged = frozenset({"_target_", *MLFLOW_LOGGER_ARGUMENTS})

    experiment_name: ExperimentName


class LoggerConfig(Section):
    targets = True

    mlflow: MlflowLoggerConfig | None = None


class PathsConfig(Section):
    unjudged = frozenset({"root_dir", "log_dir", "output_dir"})


class TrainConfig(Section):
    # hydra: present when composed with Hydra's own config; azureml: the Azure ML settings
    # (`+azureml=default`), judged by the Azure ML builders.
    unjudged = frozenset({"hydra", "azureml"})

    task_name: str
    # Labels the MLflow runs carry as tags (`tags.<label> = 'true'`).
    tags: list[RunLabel] | None = None
    # What a sweep ranks and chooses its trials by (null: nothing to rank).
    optimized_metric: str | None = None
    test: bool = True
    paths: PathsConfig
    logger: LoggerConfig | None = None
    seed: Seed
    num_threads: WholeAbove0
    data: DataConfig
    # Each kind brings its own keys: validated against the settings of the kind model.kind names.
    model: ModelSettings
    optim: OptimConfig
    trainer: TrainerConfig
    fit: FitConfig
    train: TrainSettings = TrainSettings()
    callbacks: CallbacksConfig | None = None
    registry: RegistrySettings

    @field_validator("optimized_metric")
    @classmethod
    def _a_validation_metric(cls, metric: str | None) -> str | None:
        problem = optimized_metric_problem(metric)
        if problem is not None:
            raise ValueError(problem)
        return metric
