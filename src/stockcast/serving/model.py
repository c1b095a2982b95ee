"""Open a model and forecast with it: the one way evaluate, register, monitor, predict, serve and
the benchmarks use a trained model.

`open_model(cfg, workdir)` resolves a registered version (`model.version` / `model.alias` /
latest), verifies its files against the hash its registration recorded and, with
`registry.signing.public_key`, against its signature, and loads the verified copy;
`open_model_dir` does the same for a model folder on disk (hash only: a folder of this run is
signed when it is registered). `OpenModel.forecast(windows)` passes the windows through the
input guard (`stockcast.forecasting.guard`), the model, then the output guard
(`stockcast.forecasting.output_guard`), and returns the point forecast and the bands.
"""

from __future__ import annotations

import logging
import shutil
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from functools import cached_property, partial
from pathlib import Path
from typing import Any

import numpy as np

from stockcast.errors import DamagedFiles, DataError, UnloadableVersion
from stockcast.forecasting.frame import forecast_frame, forecast_records, split_forecast_frame
from stockcast.forecasting.guard import allows_non_positive, price_rows
from stockcast.forecasting.intervals import Bands
from stockcast.forecasting.output_guard import check_range, guarded_forecast, range_refusals
from stockcast.forecasting.windows import WindowSizes
from stockcast.registry.connection import configure_client
from stockcast.registry.integrity import Expected, verified_copy
from stockcast.registry.store import ModelRegistry, VersionInfo
from stockcast.serving.loading import check_model_files, load_checked_copy

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class OpenModel:
    """A loaded model, the private verified copy it was loaded from, and what it is."""

    pyfunc: Any
    folder: Path
    digest: str
    metadata: dict[str, Any]
    name: str | None = None
    version: int | None = None
    aliases: tuple[str, ...] = ()
    # The output guard's refusal of absurd forecasts (`guard.max_range_multiple` of predict and
    # serve); None for evaluation, which scores whatever the model does.
    max_range_multiple: float | None = None

    @property
    def sizes(self) -> WindowSizes:
        return WindowSizes.of(self.metadata)

    @property
    def previous_time_window(self) -> int:
        return self.sizes.previous_time_window

    @property
    def next_time_window(self) -> int:
        return self.sizes.next_time_window

    @property
    def uri(self) -> str:
        """`models:/<name>/<version>` for a registered version, else its folder."""
        return str(self.folder) if self.version is None else f"models:/{self.name}/{self.version}"

    @property
    def label(self) -> str:
        if self.version is None:
            return f"the model in {self.folder}"
        aliases = f" ({', '.join(self.aliases)})" if self.aliases else ""
        return f"{self.name} version {self.version}{aliases}"

    @property
    def allow_non_positive(self) -> bool:
        """Whether the model was trained on values <= 0 (older models: no, a price model)."""
        return allows_non_positive(self.metadata)

    def forecast(
        self, windows: Any, row_names: Sequence[str] | None = None
    ) -> tuple[np.ndarray, Bands]:
        """Rows of previous_time_window prices -> (rows of next_time_window point forecasts,
        {level: (lower rows, upper rows)}), through the input and output guards: one sentence
        refuses what is not a window of prices, or (with `max_range_multiple`) an absurd
        forecast, naming the row as `row_names` does (`series 'AAA'`); a price model's
        negative numbers are floored at 0."""
        rows, point, bands = self._answer(windows)
        if self.max_range_multiple is not None:
            typical = self.metadata.get("mase_scale")
            check_range(rows, point, self.max_range_multiple, typical, row_names)
        return self._floor(rows, point, bands)

    def forecast_each(
        self, windows: Any, row_names: Sequence[str]
    ) -> tuple[np.ndarray, Bands, dict[int, str]]:
        """`forecast`, but an absurd forecast refuses only its own row: (point, bands, {row:
        the sentence `forecast` would refuse it in}), every row still answered."""
        rows, point, bands = self._answer(windows)
        refusals = {}
        if self.max_range_multiple is not None:
            typical = self.metadata.get("mase_scale")
            refusals = range_refusals(rows, point, self.max_range_multiple, typical, row_names)
        point, bands = self._floor(rows, point, bands)
        return point, bands, refusals

    def _answer(self, windows: Any) -> tuple[np.ndarray, np.ndarray, Bands]:
        """(the rows the input guard passed, the model's point forecasts, its bands)."""
        from mlflow.exceptions import MlflowException

        rows = price_rows(windows, self.previous_time_window, self.allow_non_positive)
        try:
            if self._array_forecast is not None:
                point, bands = self._array_forecast(rows)
            else:  # a model saved before its class answered arrays: through its DataFrame
                point, bands = split_forecast_frame(self.pyfunc.predict(rows))
        except (ValueError, MlflowException) as err:
            lines = [line.strip() for line in str(err).splitlines() if line.strip()]
            reason = (lines[-1] if lines else type(err).__name__).rstrip(".")
            raise DataError(f"the model refused this input: {reason}.") from None
        return rows, point, bands

    @cached_property
    def _python_model(self) -> Any:
        """The loaded model's own object (None where it is not a python_function model)."""
        from mlflow.exceptions import MlflowException

        try:
            return self.pyfunc.unwrap_python_model()
        except (MlflowException, AttributeError):
            return None

    @cached_property
    def _array_forecast(self) -> Any:
        """The loaded model's own `unfloored_forecast(rows) -> (point, bands)` (its `forecast`
        for a model saved before it had one: floored already), or None for a model saved before
        its class had either: what `predict` answers, without MLflow's wrapper and the DataFrame
        it builds and `forecast` would split again (most of a one-window call)."""
        unfloored = getattr(self._python_model, "unfloored_forecast", None)
        return unfloored or getattr(self._python_model, "forecast", None)

    @cached_property
    def _floor(self) -> Callable[[np.ndarray, np.ndarray, Bands], tuple[np.ndarray, Bands]]:
        """The loaded model's own `floor`, run by its own code as `mlflow models serve` would;
        today's for a model saved before its class had one (which floored the same way)."""
        own = getattr(self._python_model, "floor", None)
        if own is not None:
            return own
        return partial(_floor_today, allow_non_positive=self.allow_non_positive)

    def frame(self, windows: Any) -> Any:
        """The served answer: a DataFrame, one row per window (see `forecast`)."""
        return forecast_frame(*self.forecast(windows))

    def records(self, windows: Any) -> list[dict[str, float]]:
        """`frame`'s rows as the server answers them, one `{column: value}` per window."""
        return forecast_records(*self.forecast(windows))


def _floor_today(
    rows: np.ndarray, point: np.ndarray, bands: Bands, allow_non_positive: bool
) -> tuple[np.ndarray, Bands]:
    return guarded_forecast(rows, point, bands, allow_non_positive, None)


def open_model_dir(
    model_dir: str | Path, expected: Expected | None = None, check_requirements: bool = False
) -> OpenModel:
    """A model folder, copied privately, hashed (with `expected`: verified), checked, loaded."""
    copy, digest = verified_copy(model_dir, expected)
    pyfunc, metadata = load_checked_copy(copy, Path(model_dir), check_requirements)
    return OpenModel(pyfunc, copy, digest, metadata)


def open_version(
    registry: ModelRegistry,
    info: VersionInfo,
    workdir: str | Path,
    check_requirements: bool = False,
) -> OpenModel:
    """A registered version, loaded from a private copy verified against its registered hash."""
    copy, digest = registry.verified_folder(info, workdir)
    label = registry.label(info)
    try:
        check_model_files(copy, shown=label)
    except DamagedFiles as err:
        # The files are those registered; a package or a key cannot make them load.
        raise UnloadableVersion(str(err), err.detail) from None
    pyfunc, metadata = load_checked_copy(copy, label, check_requirements, files_checked=True)
    return OpenModel(
        pyfunc, copy, digest, metadata, registry.model_name, info.version, info.aliases
    )


def check_version_opens(registry: ModelRegistry, info: VersionInfo, workdir: Path) -> None:
    """Open a registered version as predict, serve and the monitor open it, raising what
    `open_version` raises, and remove the copy: a check that it opens (before a rollback moves
    the alias onto it; the preflight's of the champion)."""
    try:
        open_version(registry, info, workdir)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


def open_model(cfg: Any, workdir: str | Path) -> OpenModel:
    """The version a predict or serve config names (`model.name`, `model.version` or
    `model.alias`; neither: the one holding `model.default_alias`, the champion, else the
    latest), resolved, verified and loaded, refusing absurd forecasts as the config's `guard`
    says. The champion, not the latest, by default: the latest may be a version the gate
    registered without promoting it, or one a monitor rolled back."""
    from omegaconf import OmegaConf

    configure_client(cfg.registry_connection)
    registry_cfg = OmegaConf.to_container(cfg.registry, resolve=True)
    registry = ModelRegistry.from_config(registry_cfg | {"model_name": cfg.model.name})
    version, alias = cfg.model.version, cfg.model.alias
    default = OmegaConf.select(cfg, "model.default_alias")
    info = registry.resolve(version=version, alias=alias, fallback_alias=default)
    if version is None and alias is None and default and default not in info.aliases:
        log.warning(
            "no version of %s holds the %s alias (model.default_alias): the latest is used",
            registry.model_name,
            default,
        )
    model = open_version(registry, info, workdir, bool(cfg.check_model_requirements))
    return replace(model, max_range_multiple=float(cfg.guard.max_range_multiple))
