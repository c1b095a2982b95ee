"""The data a benchmark fit reads: its config (the pipeline's, reading a CSV) and its prepared
folder, prepared once per series before any fit (where one too short for the run's windows is
refused) and read by each of its fits."""

from __future__ import annotations

import tempfile
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from benchmarks.accuracy.protocol import Cut, cut
from stockcast.errors import DataError

if TYPE_CHECKING:
    from omegaconf import DictConfig

    from stockcast.data.prepared import PreparedData

# The share of the fitted first 80% that stockcast validates on: its last fifth.
VALIDATION_SHARE = 0.2


def csv_config(
    folder: Path, csv: Path, experiment: str, columns: Sequence[str], overrides: Sequence[str]
) -> DictConfig:
    """The pipeline's config of `experiment` (its refit settings apply too) reading `csv`
    (`columns`: which columns and how it is split), its store, logs and run folder in `folder`,
    validated."""
    from omegaconf import open_dict

    from stockcast.config.compose import compose_config, local_store_overrides
    from stockcast.config.data_schema import CsvData
    from stockcast.config.schema import validate_config
    from stockcast.fields import config_fields

    cfg = compose_config(
        "pipeline",
        [
            f"experiment={experiment}",
            "data=csv",
            f"data.path={csv}",
            *columns,
            "++data.allow_non_positive=true",
            "logger=none",
            "test=false",
            *local_store_overrides(folder),
            *overrides,
        ],
    )
    with open_dict(cfg):
        cfg.paths.output_dir = str(folder / "run")
        # An experiment's own data keys for its market (mlp_w10's length) mean nothing to a
        # file: keep the keys a CSV source reads.
        for key in set(cfg.data) - set(config_fields(CsvData)):
            del cfg.data[key]
    validate_config(cfg)
    return cfg


def validation_start(split: Cut) -> int:
    """Where stockcast's validation split starts in a cut series (`VALIDATION_SHARE`)."""
    return split.start - round(split.start * VALIDATION_SHARE)


def cut_config(folder: Path, split: Cut, experiment: str, overrides: Sequence[str]) -> DictConfig:
    """`csv_config` of the cut series, written into `folder`: train and validation are the
    first 80% (validation its last fifth); the test split is exactly the held-out 20%, which
    training never reads."""
    csv = folder / "series.csv"
    csv.write_text("value\n" + "\n".join(repr(float(v)) for v in split.values))
    n, val_points = len(split.values), split.start - validation_start(split)
    columns = [
        "data.date_column=null",
        "data.value_column=value",
        f"data.split.train={(split.start - val_points) / n!r}",
        f"data.split.val={val_points / n!r}",
        f"data.split.test={(n - split.start) / n!r}",
    ]
    return csv_config(folder, csv, experiment, columns, overrides)


@dataclass(frozen=True)
class PreparedCsv:
    """A CSV's data prepared before any fit: the CSV, its prepared folder and the seconds
    preparing it took (a fit's own seconds count its prepare)."""

    csv: Path
    folder: Path
    seconds: float


def prepare_csv(cfg: DictConfig, folder: Path, name: str) -> PreparedCsv:
    """`cfg`'s data prepared into `folder` as a fit prepares it; a refusal names `name`."""
    from stockcast.orchestration.steps.prepare import run_prepare

    begin = time.perf_counter()
    try:
        prepared = run_prepare(cfg, folder / "prepared")
    except DataError as err:
        raise DataError(f"{name}: {err}") from None
    return PreparedCsv(Path(cfg.data.path), prepared, time.perf_counter() - begin)


@contextmanager
def prepared_cuts(
    named: Sequence[tuple[str, np.ndarray]], experiment: str, overrides: Sequence[str]
) -> Iterator[dict[str, PreparedCsv]]:
    """Each (name, values) cut and prepared as its fit would prepare it, before any fit, kept
    while the context lasts: a series too short for the run's windows
    (data.previous_time_window=100 on a walk of 150) stopped the run at its turn, after minutes
    of fits, and lost every series scored before it."""
    with tempfile.TemporaryDirectory(prefix="stockcast-bench-") as tmp:
        prepared = {}
        for index, (name, values) in enumerate(named):
            folder = Path(tmp) / str(index)
            folder.mkdir()
            prepared[name] = prepare_csv(
                cut_config(folder, cut(values), experiment, overrides), folder, name
            )
        yield prepared


def fit_data(cfg: DictConfig, folder: Path, prepared: PreparedCsv | None = None) -> PreparedData:
    """The data a fit of `cfg` reads: `prepared`'s where given (made before any fit; its data
    settings checked against `cfg`'s, as the train step checks a prepared folder's), else
    prepared into `folder` now."""
    from stockcast.config.compose import plain
    from stockcast.data.prepared import PreparedData, check_prepared_settings
    from stockcast.orchestration.steps.prepare import run_prepare

    if prepared is None:
        return PreparedData.load(run_prepare(cfg, folder))
    data = PreparedData.load(prepared.folder)
    check_prepared_settings(plain(cfg.data), data.meta, prepared.folder)
    return data
