"""What the reliability tests share: one trained and evaluated model, registering it into fresh
stores from subprocesses (crashes and concurrency need real processes), reading a store back."""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
import torch

from stockcast.config.compose import local_store_overrides
from stockcast.paths import PROJECT_ROOT
from stockcast.registry.faults import CRASH_ENV
from stockcast.registry.store import ModelRegistry
from tests.conftest import CLI_ENV
from tests.prewarmed import Forked, start_forked

MODEL = "pipeline_stock_predictor"
# A tiny, fast model; any trained model passes a gate with no thresholds.
FAST = (
    "data.length=400",
    "trainer.max_epochs=2",
    "data.batch_size=32",
    "data.steps_per_batch=2",
)
NO_THRESHOLDS = ("gate.max_mase=null", "gate.max_mase_vs_naive=null")
PROCESS_TIMEOUT_S = 300


@dataclass(frozen=True)
class PipelineRun:
    """One pipeline run's folders: the model and report every registration test reuses."""

    root: Path
    run_dir: Path

    @property
    def model_dir(self) -> Path:
        return self.run_dir / "train" / "model"

    @property
    def candidate_dir(self) -> Path:
        """What register registered: the refit, holding the evaluated model in `evaluated/`."""
        return self.run_dir / "refit" / "candidate"

    @property
    def report_dir(self) -> Path:
        return self.run_dir / "evaluate" / "report"

    @property
    def prepared_dir(self) -> Path:
        return self.run_dir / "prepare" / "prepared"


def shared_pipeline_run(
    tmp_path_factory: pytest.TempPathFactory, registered_store: Path
) -> PipelineRun:
    """The whole pipeline's run, once per test session: a copy of conftest's
    `registered_store` (its one pipeline run registered version 1) with the model, report and
    prepared folders every reliability module reuses. Tests must not write to this store: they
    register into stores of their own."""
    root = tmp_path_factory.getbasetemp() / "reliability_source"
    done = root / "ready"
    if not done.is_file():
        # Artifacts are store-relative: the copy is a store of its own.
        shutil.copytree(registered_store, root, dirs_exist_ok=True)
        done.write_text("1")
    # The store's first run (and only one: no test runs a pipeline into it).
    run_dir = sorted((root / "logs" / "pipeline" / "runs").iterdir())[0]
    return PipelineRun(root, run_dir)


def register_command(
    store: Path, model_dir: Path, report_dir: Path, run_dir: Path, *extra: str
) -> list[str]:
    """The register step's arguments (after `python`)."""
    return [
        "-m",
        "stockcast.orchestration.steps.register",
        *local_store_overrides(store),
        *NO_THRESHOLDS,
        f"register.model_dir={model_dir}",
        f"register.report_dir={report_dir}",
        f"hydra.run.dir={run_dir}",
        *extra,
    ]


def environment(crash_at: str | None = None) -> dict[str, str]:
    env = os.environ | CLI_ENV
    env.pop(CRASH_ENV, None)
    if crash_at is not None:
        env[CRASH_ENV] = crash_at
    return env


def start(args: Sequence[str], crash_at: str | None = None) -> Forked:
    """`python <args>` as a process of its own."""
    return start_forked(args, PROJECT_ROOT, environment(crash_at))


def finish(process: Forked) -> subprocess.CompletedProcess[str]:
    return process.result(timeout=PROCESS_TIMEOUT_S)


def run(args: Sequence[str], crash_at: str | None = None) -> subprocess.CompletedProcess[str]:
    return finish(start(args, crash_at))


def registry(store: Path, create: bool = False) -> ModelRegistry:
    return ModelRegistry(
        f"sqlite:///{store}/mlruns.db",
        MODEL,
        artifact_location=str(store / "mlartifacts"),
        create=create,
    )


def error_lines(result: subprocess.CompletedProcess[str]) -> list[str]:
    """The `error: ...` lines a refused command printed (the contract: exactly one)."""
    return [line for line in result.stderr.splitlines() if line.startswith("error: ")]


def assert_one_sentence_refusal(result: subprocess.CompletedProcess[str], *phrases: str) -> str:
    """Exit 2, one `error:` line holding every phrase, and no traceback anywhere."""
    lines = error_lines(result)
    output = result.stdout + result.stderr
    assert result.returncode == 2, output[-3000:]
    assert len(lines) == 1, output[-3000:]
    assert "Traceback" not in output, output[-3000:]
    for phrase in phrases:
        assert phrase in lines[0], lines[0]
    return lines[0]


def variant(source: PipelineRun, folder: Path, offset: float) -> Path:
    """The trained model with its output bias shifted: a different model, worse as it grows."""
    from safetensors.numpy import load_file, save_file

    shutil.copytree(source.model_dir, folder)
    weights = folder / "artifacts" / "weights.safetensors"
    tensors = load_file(str(weights))
    # The output layer's biases (every member's): the highest-numbered core.biases.<layer>.
    bias = max((n for n in tensors if n.startswith("core.biases.")), key=lambda n: int(n[12:]))
    tensors[bias] = (tensors[bias] + np.float32(offset)).astype(np.float32)
    save_file(tensors, str(weights))
    return folder


def evaluate(source: PipelineRun, model_dir: Path, report_dir: Path) -> float:
    from stockcast.config.compose import compose_config, local_store_overrides
    from stockcast.orchestration.steps.evaluate import run_evaluate

    cfg = compose_config(
        "pipeline",
        [
            *FAST,
            *local_store_overrides(source.root),
            "gate.max_mase=null",
            "gate.max_mase_vs_naive=null",
            f"evaluate.model_dir={model_dir}",
            f"evaluate.prepared_dir={source.prepared_dir}",
            f"evaluate.output_dir={report_dir}",
            f"paths.output_dir={report_dir.parent}",
        ],
    )
    return float(run_evaluate(cfg)["gate"]["test_mase"])


def global_step(run_dir: Path) -> int:
    """The optimizer step of a run's latest resume checkpoint."""
    checkpoint = torch.load(run_dir / "checkpoints" / "resume.ckpt", weights_only=False)
    return int(checkpoint["global_step"])
