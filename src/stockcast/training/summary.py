"""What a fit reports: the files beside its model folder, and the few lines a training run ends
with (how good, against what, and where everything is)."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf

from stockcast.config.compose import flatten, plain
from stockcast.paths import PROJECT_ROOT, portable, portable_path
from stockcast.redaction import redacted, redacted_uri
from stockcast.registry.lock import sqlite_file

# Beside the model folder: the fit's scores and the budget a refit repeats, and its config.
METRICS_FILE = "metrics.json"
RESOLVED_CONFIG_FILE = "config_resolved.yaml"


def log_roots(cfg: DictConfig) -> tuple[Path, ...]:
    """The folders a run's logged paths are named relative to, first match first: the run's
    own, the local store's, the root folder, the project (never this machine's absolute paths)."""
    store = sqlite_file(str(OmegaConf.select(cfg, "registry.tracking_uri") or ""))
    run, root = (OmegaConf.select(cfg, key) for key in ("paths.output_dir", "paths.root_dir"))
    found = (run, store.parent if store else None, root, PROJECT_ROOT)
    return tuple(Path(folder) for folder in found if folder)


def logged_params(cfg: DictConfig) -> dict[str, Any]:
    """The config as flat MLflow params, its paths relative to `log_roots` and its secrets
    `redacted`."""
    return flatten(portable(redacted(plain(cfg)), *log_roots(cfg)))


def run_relative(path: str | Path | None, run_folder: Path) -> str | None:
    """A path inside the run as metrics.json records it (`model`, `checkpoints/epoch=1.ckpt`)."""
    return portable_path(str(path), run_folder) if path else None


def _mase(stage: Mapping[str, Any] | None) -> str | None:
    if not stage or stage.get("mase") is None:
        return None
    naive = stage.get("naive_mase")
    versus = f" (naive {naive:.4f}, ratio {stage['mase'] / naive:.3f})" if naive else ""
    return f"MASE {stage['mase']:.4f}{versus}"


def training_summary(
    metrics: Mapping[str, Any], model_dir: Path, run_id: str | None, tracking_uri: str | None
) -> str:
    """`val MASE 1.64 (naive 1.64, ratio 1.000); test ...` + model folder + MLflow run."""
    scores = [f"{name} {text}" for name in ("val", "test") if (text := _mase(metrics.get(name)))]
    lines = ["result: " + ("; ".join(scores) if scores else "no validation metrics")]
    lines.append(f"model folder: {model_dir}")
    if run_id:
        lines.append(
            f"MLflow run: {run_id}" + (f" in {redacted_uri(tracking_uri)}" if tracking_uri else "")
        )
    return "\n".join(lines)
