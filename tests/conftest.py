"""Shared fixtures: configs composed with Hydra's compose API, every path inside tmp_path."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

import pytest
from hydra.core.global_hydra import GlobalHydra
from omegaconf import DictConfig, open_dict

from stockcast.config import PROJECT_ROOT, local_store_overrides
from stockcast.config import compose_config as compose

# A fast, small run: enough windows per split, few epochs.
FAST_OVERRIDES = (
    "data.length=400",
    "trainer.max_epochs=2",
    "data.steps_per_batch=2",
    "data.batch_size=32",
)


def isolated_overrides(tmp: Path) -> list[str]:
    """Send logs and the MLflow store into tmp so tests never touch the project folder."""
    return local_store_overrides(tmp)


def compose_config(config_name: str, overrides: Sequence[str], tmp: Path) -> DictConfig:
    GlobalHydra.instance().clear()
    cfg = compose(config_name, [*isolated_overrides(tmp), *overrides])
    with open_dict(cfg):
        cfg.paths.output_dir = str(tmp / "run")
    return cfg


@pytest.fixture
def make_cfg(tmp_path: Path) -> Callable[..., DictConfig]:
    def factory(*overrides: str, config_name: str = "train") -> DictConfig:
        return compose_config(config_name, overrides, tmp_path)

    yield factory
    GlobalHydra.instance().clear()


def run_cli(
    args: Sequence[str], tmp: Path, *, check: bool = True, timeout: float = 600
) -> subprocess.CompletedProcess[str]:
    """Run a project command in a subprocess, the way a user types it, isolated in tmp."""
    env = os.environ | {"MPLBACKEND": "Agg", "PYTHONWARNINGS": "ignore"}
    result = subprocess.run(
        [sys.executable, *args],
        cwd=PROJECT_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    if check and result.returncode != 0:
        raise AssertionError(
            f"{args} exited {result.returncode}\nstdout:\n{result.stdout[-3000:]}\n"
            f"stderr:\n{result.stderr[-5000:]}"
        )
    return result


@pytest.fixture(scope="session")
def trained_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One real `python src/train.py` run shared by the tests that inspect its outputs."""
    tmp = tmp_path_factory.mktemp("trained")
    run_dir = tmp / "run"
    run_cli(
        [
            "src/train.py",
            *FAST_OVERRIDES,
            *isolated_overrides(tmp),
            f"hydra.run.dir={run_dir}",
        ],
        tmp,
    )
    return run_dir
