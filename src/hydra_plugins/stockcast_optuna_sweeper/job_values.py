"""The value a sweep tells the study for one trial's job: its returned metric, the metric it
wrote before its batch's launch raised, and a metric that was not finite ranked last."""

from __future__ import annotations

import json
import logging
import math
from pathlib import Path
from typing import TYPE_CHECKING

from omegaconf import DictConfig, OmegaConf

from stockcast.orchestration.sweeps.metric import optimized_value

if TYPE_CHECKING:
    from hydra.core.utils import JobReturn

log = logging.getLogger(__name__)


def job_value(ret: JobReturn) -> float | None:
    """The job's metric, or None if the job failed or returned nothing usable."""
    try:
        value = ret.return_value
    except Exception as err:  # the task's own exception, re-raised by JobReturn
        log.warning("job %s failed: %s", ret.overrides, err)
        return None
    if value is None:
        log.warning("job %s returned no metric (is optimized_metric set?)", ret.overrides)
        return None
    return float(value)


def ranked(value: float, direction: str) -> float:
    """A job's metric as the study ranks it: one that was not finite (the train task returns
    inf for it) is the worst value in the study's direction, never its best."""
    if math.isfinite(value):
        return value
    return float("-inf") if direction == "maximize" else float("inf")


def written_value(
    config: DictConfig, job_dir: Path, overrides: tuple[str, ...], since: float
) -> float | None:
    """The optimised metric a job of this launch wrote to its folder's metrics.json before
    the launch raised, as its return value would have been; None if it wrote none (failed,
    never started, killed while writing, or a folder an earlier sweep left with other
    overrides)."""
    # Imported here: training.summary brings the config schema, and Hydra imports this plugin
    # on every start, where only a launch that raised reads these files.
    from stockcast.orchestration.sweeps.jobs import OVERRIDES_FILE
    from stockcast.training.summary import METRICS_FILE

    metric = OmegaConf.select(config, "optimized_metric")
    metrics_file, overrides_file = job_dir / METRICS_FILE, job_dir / OVERRIDES_FILE
    try:
        if metrics_file.stat().st_mtime < since:
            return None
        if OmegaConf.to_container(OmegaConf.load(overrides_file)) != list(overrides):
            return None
        return optimized_value(json.loads(metrics_file.read_text()), metric)
    except Exception:  # a file missing or cut off by the interruption: nothing to read
        return None
