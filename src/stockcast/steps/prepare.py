"""Prepare step: data config -> prepared folder (split series, scaler, meta.json)."""

from __future__ import annotations

from pathlib import Path

from omegaconf import DictConfig

from stockcast.cli import hydra_task
from stockcast.data.prepared import prepare_data
from stockcast.steps.common import log, plain


def run_prepare(cfg: DictConfig, output_dir: str | Path | None = None) -> Path:
    prepared = prepare_data(plain(cfg.data))
    folder = prepared.save(output_dir or cfg.prepare.output_dir)
    log.info(
        "prepared %s windows (train/val/test) from %d points, data hash %s -> %s",
        "/".join(str(prepared.meta["n_windows"][s]) for s in ("train", "val", "test")),
        prepared.meta["n_points"],
        prepared.meta["data_hash"],
        folder,
    )
    return folder


main = hydra_task(run_prepare)

if __name__ == "__main__":
    main()
