"""The schema of the configs of the commands that use a registered model, predict and serve:
which model, where its registry is, what they read and what they refuse to answer."""

from __future__ import annotations

from typing import Annotated, Any, ClassVar, Literal

from pydantic import AfterValidator, Field

from stockcast.config.data_schema import SeriesLength
from stockcast.config.sections import PathsConfig, RegisteredModelName, RegistrySettings
from stockcast.fields import (
    INPUT_KINDS,
    PREDICT_MODES,
    Above0,
    AsWhole,
    CsvForm,
    Section,
    SeedOrNone,
    WholeAbove0,
    WholeAtLeast0,
)


def _an_alias_to_open(value: str) -> str:
    """An empty alias (`model.alias=`) names no version: the store's own answer, that it has
    no alias '', says nothing of what to give."""
    if not value.strip():
        raise ValueError(
            "is empty; give an alias the model's versions hold, e.g. model.alias=champion, or "
            "leave it out (null) for the version holding model.default_alias"
        )
    return value


def _a_default_alias(value: str) -> str:
    """An empty default alias (`model.default_alias=`) names no version: it was taken as null,
    the latest version, without a word."""
    if not value.strip():
        raise ValueError(
            "is empty; give the alias of the version to open when neither model.version nor "
            "model.alias is set, e.g. model.default_alias=champion, or null for the latest "
            "version"
        )
    return value


class PredictModel(Section):
    name: RegisteredModelName
    version: Annotated[
        int | None, Field(strict=True, ge=1, description="a version number"), AsWhole
    ]
    alias: Annotated[
        Annotated[str, AfterValidator(_an_alias_to_open)] | None,
        Field(description="a registered model alias"),
    ]
    # Neither version nor alias: the version holding this alias (the champion), else the latest.
    default_alias: Annotated[str, AfterValidator(_a_default_alias)] | None = None


class PredictInput(CsvForm):
    # What the input kinds read; prediction/inputs.py and input_tables.py judge them, naming the
    # file or value.
    unjudged = frozenset({"path", "format", "series_id", "values"})

    kind: Literal[INPUT_KINDS]  # type: ignore[valid-type]
    # Column names, as data's: one Hydra read as a number (2024) is refused saying to quote it,
    # where the file's lookup named the column '2024' as the one to set.
    date_column: str | None = None
    value_column: str | None = None
    id_column: str | None = None
    seed: SeedOrNone = None
    length: SeriesLength | None = None
    # A batch only: leave out the ids the guards refuse instead of refusing the file.
    skip_refused: bool = False


class BacktestConfig(Section):
    span: WholeAbove0


class PlotConfig(Section):
    history: WholeAbove0


class RegistryConnection(Section):
    unjudged = frozenset({"timeout_s", "max_retries"})


class GuardConfig(Section):
    max_range_multiple: Above0


def _checks_the_model(size: str, use: str) -> Any:
    """A window size the registered model records in its metadata, which the command uses
    whatever the config says: its key only checks the model's (prediction.forecast refuses one
    that differs)."""
    return Field(
        description=f"a whole number matching the {size} the registered model records in its "
        f"metadata ({use}; this setting only checks it), or left out"
    )


class ClientConfig(Section):
    """What predict and serve share: the model, where its registry is, the command's paths,
    what the output guard refuses."""

    unjudged = frozenset({"hydra"})
    # Its top-level keys that check what the registered model records: the same name under a
    # section (the train config's data.previous_time_window) is refused with their description.
    checks_the_model: ClassVar[frozenset[str]] = frozenset()

    task_name: str
    model: PredictModel
    registry: RegistrySettings
    registry_connection: RegistryConnection
    check_model_requirements: bool
    paths: PathsConfig
    guard: GuardConfig


class PredictConfig(ClientConfig):
    checks_the_model = frozenset({"previous_time_window", "next_time_window"})

    vis: bool
    previous_time_window: Annotated[
        WholeAbove0 | None,
        _checks_the_model("window", "predict feeds the model exactly that many values"),
    ]
    next_time_window: Annotated[
        WholeAbove0 | None,
        _checks_the_model("horizon", "predict forecasts exactly that many steps"),
    ]
    mode: Literal[PREDICT_MODES]  # type: ignore[valid-type]
    backtest: BacktestConfig
    input: PredictInput
    plot: PlotConfig
    print_decimals: WholeAtLeast0
    print_series: WholeAbove0


class ServeSettings(Section):
    host: Annotated[str, Field(min_length=1, description="a host name or address")]
    port: Annotated[int, Field(strict=True, ge=1, le=65535, description="a port in 1..65535")]
    max_rows: WholeAbove0
    max_bytes: WholeAbove0
    max_concurrent_requests: WholeAbove0
    read_timeout_s: WholeAbove0
    shutdown_timeout_s: WholeAbove0


class ServeConfig(ClientConfig):
    serve: ServeSettings
